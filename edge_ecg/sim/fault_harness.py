"""Fault-injection harness: replay a record through the simulator on a pseudo-terminal with one
fault plan, run the product path (``SerialSource`` → ``StreamSession`` → bundled model) and
compare what the runtime reports with the simulator's truth. Used by ``tests/test_faults.py``
and ``benchmarks/fault_matrix.py``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_ecg.sim.faults import FaultPlan
from edge_ecg.sim.simulator import SimConfig, Simulator
from edge_ecg.sim.truth import expected_account, faulted_ranges, merge_ranges, subtract


class NoisyStretch(Simulator):
    """A device whose link suffers ``noise`` (random byte loss / bit flips) only from device time
    ``from_s`` to ``to_s``: the record is played as three consecutive parts (clean, noisy, clean)
    by three simulators whose byte streams are joined; the sample counter runs on across them.
    Each part opens with a descriptor (a device re-announces itself every 100 frames anyway); the
    frame sequence numbers restart per part, which only the decoder's ``frames_lost`` notices."""

    def __init__(
        self,
        counts,
        fs_hz,
        uv_per_count,
        lead_names,
        *,
        baseline_counts,
        config,
        noise: FaultPlan,
        from_s: float,
        to_s: float,
    ):
        super().__init__(
            counts, fs_hz, uv_per_count, lead_names, baseline_counts=baseline_counts, config=config
        )
        cuts = [0, int(round(from_s * fs_hz)), int(round(to_s * fs_hz)), len(counts)]
        self.parts = []
        for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
            if b <= a:
                continue
            cfg = dataclasses.replace(
                config, first_sample=a, final_heartbeats=config.final_heartbeats if k == 2 else 0
            )
            self.parts.append(
                Simulator(
                    counts[a:b],
                    fs_hz,
                    uv_per_count,
                    lead_names,
                    baseline_counts=baseline_counts,
                    config=cfg,
                    faults=noise if k == 1 else None,
                )
            )

    def steps(self):
        self.fault_log, self.frame_log, self.samples_produced = [], [], 0
        for part in self.parts:
            yield from part.steps()
            self.fault_log.extend(part.fault_log)
            self.frame_log.extend(part.frame_log)
            self.samples_produced += part.samples_produced


@dataclass(frozen=True)
class FaultCase:
    """One row of the matrix: ``faults`` over the whole run, or, with ``noisy_s=(from, to)``,
    random faults inside that stretch only. ``speed``: simulator pace (None: as fast as read)."""

    name: str
    faults: FaultPlan = FaultPlan()
    noisy_s: tuple[float, float] | None = None
    speed: float | None = None


@dataclass
class FaultRun:
    """What one case did, next to the truth."""

    case: FaultCase
    fs_hz: float
    sent: int  # samples the device produced
    lost_truth: int  # destroyed and visible to a receiver (between its first and last counter)
    lost_invisible: int  # destroyed before the first / after the last intact counter
    lost_reported: int  # the session's samples_lost
    accounted: int  # samples_in + samples_before_descriptor + samples_lost
    labelled: int
    unreadable: int
    overlapping: list  # labelled results whose window touches a lost sample (must be empty)
    fault_end: int  # device sample at which the fault is over
    resume_after_s: float | None  # first label after fault_end, in s after it (None: never)
    reconnects: int
    disconnects_before_end: int
    reached_end: bool  # the session followed the device counter to the end of the record
    elapsed_s: float
    lost_ranges: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    results: list = field(default_factory=list)

    @property
    def resumed(self) -> bool:
        return self.resume_after_s is not None

    def row(self) -> tuple:
        return (
            self.case.name,
            self.sent,
            self.lost_truth,
            self.lost_reported,
            self.labelled,
            self.unreadable,
            len(self.overlapping),
            "yes" if self.resumed else "no",
            self.reconnects,
        )


def make_simulator(record, case: FaultCase, *, start_s: float, duration_s: float) -> Simulator:
    config = SimConfig(speed=case.speed, keep_frame_log=True)
    if case.noisy_s is None:
        return Simulator.from_record(
            record, start_s=start_s, duration_s=duration_s, config=config, faults=case.faults
        )
    plain = Simulator.from_record(record, start_s=start_s, duration_s=duration_s, config=config)
    d = plain.descriptor
    return NoisyStretch(
        plain.counts,
        plain.fs_hz,
        d.uv_per_count,
        d.channel_names,
        baseline_counts=d.baseline_counts,
        config=config,
        noise=case.faults,
        from_s=case.noisy_s[0],
        to_s=case.noisy_s[1],
    )


def _fault_end(sim, case: FaultCase) -> int:
    if case.noisy_s is not None:
        return int(round(case.noisy_s[1] * sim.fs_hz))
    ends = [
        r.first_sample if r.kind == "stall" else r.end_sample
        for r in sim.fault_log
        if r.kind in ("stall", "burst_drop", "unplug", "byte_loss", "bit_flip")
    ]
    return max(ends, default=0)


def run_case(
    record, clf, case: FaultCase, link: Path, *, start_s: float = 0.0, duration_s: float = 40.0
) -> FaultRun:
    """Replay ``record`` with ``case``'s faults over a pty (at ``link``) through a
    ``SerialSource`` into a ``StreamSession`` running ``clf``; audit the results."""
    from edge_ecg.runtime.session import StreamSession
    from edge_ecg.runtime.sources import Disconnected, Reconnected, SerialSource, SourceConfig

    sim = make_simulator(record, case, start_s=start_s, duration_s=duration_s)
    session = StreamSession(clf)
    session.keep_results = True
    events_seen: list = []
    handle_event = session.handle

    def handle(ev):  # remember link events and when they came (device counter at the time)
        if isinstance(ev, (Disconnected, Reconnected)):
            events_seen.append((ev, session.sc.dev_next if session.sc else 0))
        return handle_event(ev)

    session.handle = handle
    t0 = time.monotonic()
    h = sim.start(link)
    h.wait_ready()
    # overflow_wait_s: the reader waits for the runtime instead of dropping (the pty then
    # throttles the simulator), as replay_record does; quick re-opens after an unplug
    cfg = SourceConfig(overflow_wait_s=30.0, backoff_initial_s=0.02, backoff_max_s=0.2)
    src = SerialSource(link, config=cfg)
    try:
        session.run(src, until_sample=sim.n_samples, idle_timeout_s=15.0)
    finally:
        src.close()
        h.stop()
        h.join(10.0)
    elapsed = time.monotonic() - t0

    fs = sim.fs_hz
    want, invisible = expected_account(sim)
    bad = merge_ranges(
        (f.first_sample, f.first_sample + f.n_samples)
        for f in sim.frame_log
        if f.frame_type == "data" and f.fate in ("faulted", "dropped")
    )
    # the fault log says the same as the frame log: faulted data ranges, less frames that a
    # neighbouring byte stood in for (recovered: on the wire intact)
    recovered = [
        (f.first_sample, f.first_sample + f.n_samples)
        for f in sim.frame_log
        if f.fate == "recovered" and f.n_samples
    ]
    from_log = merge_ranges(
        r for x in faulted_ranges(sim.fault_log) for r in subtract(x, recovered)
    )
    assert from_log == bad, "fault log and frame log disagree"

    beat = clf.manifest.input.beat
    before, after = int(round(beat.before_s * fs)), int(round(beat.after_s * fs))
    results = session.results
    ok = [r for r in results if r.quality == "ok" and r.kind != "no_beat"]  # labelled beats/windows
    overlapping = [
        r for r in ok if any(lo < r.sample + after and r.sample - before < hi for lo, hi in bad)
    ]
    end = _fault_end(sim, case)
    after_fault = [r.sample for r in ok if r.sample >= end]
    s = session.summary()
    return FaultRun(
        case=case,
        fs_hz=fs,
        sent=sim.samples_produced,
        lost_truth=want.n_lost,
        lost_invisible=sum(hi - lo for lo, hi in invisible),
        lost_reported=s["samples_lost"],
        accounted=s["samples_in"] + s["samples_before_descriptor"] + s["samples_lost"],
        labelled=len(ok),
        unreadable=s["unreadable"],
        overlapping=overlapping,
        fault_end=end,
        resume_after_s=(min(after_fault) - end) / fs if after_fault else None,
        reconnects=s["reconnects"],
        disconnects_before_end=sum(
            1 for ev, at in events_seen if isinstance(ev, Disconnected) and at < sim.n_samples
        ),
        reached_end=session.sc is not None and session.sc.dev_next >= sim.n_samples,
        elapsed_s=elapsed,
        lost_ranges=bad,
        summary=s,
        results=results,
    )


def failures(run: FaultRun, *, resume_within_s: float = 6.0) -> list[str]:
    """What every row of the fault matrix must show; the list of what it did not (empty: pass)."""
    name = run.case.name
    out = []
    if not run.reached_end:
        out.append(f"{name}: the runtime did not follow the device to the end")
    if run.lost_reported != run.lost_truth:
        out.append(f"{name}: reported {run.lost_reported} samples lost, the simulator destroyed {run.lost_truth}")
    if run.accounted + run.lost_invisible != run.sent:
        out.append(f"{name}: {run.accounted} accounted + {run.lost_invisible} invisible != {run.sent} sent")
    if run.overlapping:
        out.append(f"{name}: {len(run.overlapping)} labelled beats overlap a gap")
    if not (run.resumed and run.resume_after_s <= resume_within_s):
        out.append(f"{name}: labels resumed {run.resume_after_s} s after the fault (limit {resume_within_s} s)")
    return out
