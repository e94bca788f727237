"""Failure behaviour of the whole stream runtime, checked against the simulator's truth.

A MIT-BIH record is replayed by the device simulator on a real pseudo-terminal with one fault at a
time; a ``SerialSource`` reads it through pyserial and a ``StreamSession`` runs the bundled model,
exactly the product path of ``edge-ecg stream``. For every fault the run must show:

- the runtime stays up to the end of the record (and reconnects after an unplug);
- the samples it reports lost equal, sample for sample, what the simulator destroyed as far as any
  receiver can see it (the simulator's frame log; the fault log agrees with it);
- no beat whose window (the manifest's ``before_s``/``after_s`` around its R peak) touches a lost
  sample carries a label: it is ``unreadable`` or not emitted at all;
- labels resume after the fault.

Random byte loss and bit flips are applied to one stretch of the record (:class:`NoisyStretch`), so
that "after the fault" exists. ``benchmarks/fault_matrix.py`` runs the same cases (this module's
:func:`run_case`) on five minutes of record 100 and prints the table.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from edge_ecg.sim.faults import BurstDrop, FaultPlan, Stall, Unplug
from edge_ecg.sim.simulator import SimConfig, Simulator
from edge_ecg.sim.truth import expected_account, faulted_ranges, merge_ranges, subtract

ROOT = Path(__file__).resolve().parents[1]


# --- the harness (shared with benchmarks/fault_matrix.py) ---------------------------------------


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
    ok = [r for r in results if r.quality == "ok"]
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


def check_run(run: FaultRun, *, resume_within_s: float = 6.0) -> None:
    """What every row of the matrix must show."""
    assert run.reached_end, f"{run.case.name}: the runtime did not follow the device to the end"
    assert run.lost_reported == run.lost_truth, (run.case.name, run.lost_reported, run.lost_truth)
    assert run.accounted + run.lost_invisible == run.sent  # every sample sent is accounted for
    assert run.overlapping == [], f"{run.case.name}: labelled beats overlapping a gap"
    assert run.resumed and run.resume_after_s <= resume_within_s, (
        run.case.name,
        run.resume_after_s,
    )


# --- the fast matrix ----------------------------------------------------------------------------

NOISE = (12.0, 24.0)  # the noisy stretch of the 40 s excerpt
FAST_MATRIX = {
    "none": FaultCase("none"),
    "byte loss 1e-3": FaultCase("byte loss 1e-3", FaultPlan(byte_loss_rate=1e-3, seed=11), NOISE),
    "byte loss 1e-2": FaultCase("byte loss 1e-2", FaultPlan(byte_loss_rate=1e-2, seed=12), NOISE),
    "bit flips 1e-3": FaultCase("bit flips 1e-3", FaultPlan(bit_flip_rate=1e-3, seed=13), NOISE),
    "burst loss": FaultCase("burst loss", FaultPlan(bursts=(BurstDrop(15.0, 40),))),
    "stall 0.5 s": FaultCase("stall 0.5 s", FaultPlan(stalls=(Stall(15.0, 0.5),))),
    "unplug/replug": FaultCase("unplug/replug", FaultPlan(unplugs=(Unplug(15.0, 0.5),))),
    "clock drift +1 %": FaultCase("clock drift +1 %", FaultPlan(clock_drift_pct=1.0), speed=20.0),
    "clock drift -1 %": FaultCase("clock drift -1 %", FaultPlan(clock_drift_pct=-1.0), speed=20.0),
}


@pytest.fixture(scope="module")
def record_100(data_dir):
    from edge_ecg.data.records import read_record

    return read_record(data_dir / "mitdb" / "100", annotator=None)


@pytest.fixture(scope="module")
def clf():
    from edge_ecg.runtime.classifier import Classifier, default_model_path

    return Classifier(default_model_path("onnxruntime"))


@pytest.fixture(scope="module")
def baseline(record_100, clf, tmp_path_factory):
    return run_case(record_100, clf, FAST_MATRIX["none"], tmp_path_factory.mktemp("pty") / "tty")


@pytest.mark.parametrize("name", [n for n in FAST_MATRIX if n != "none"])
def test_fault_matrix_through_the_stream_runtime(record_100, clf, baseline, tmp_path, name):
    run = run_case(record_100, clf, FAST_MATRIX[name], tmp_path / "ttyECG")
    check_run(run)
    s = run.summary
    if name.startswith(("byte loss", "bit flips")):
        assert run.lost_truth > 0 and run.unreadable > 0
        # the noise is over: from then on the runtime labels as much as without any fault
        clean = [
            r for r in baseline.results if r.quality == "ok" and r.sample >= run.fault_end + 3 * 360
        ]
        now = [r for r in run.results if r.quality == "ok" and r.sample >= run.fault_end + 3 * 360]
        assert [r.sample for r in now] == [r.sample for r in clean]
        assert [r.label for r in now] == [r.label for r in clean]
    if name == "burst loss":  # 40 frames of 10 samples, whole frames, known exactly
        assert run.lost_ranges == [(5400, 5800)] and run.lost_reported == 400
        assert (
            s["unreadable_reasons"].get("gap", 0)
            + s["unreadable_reasons"].get("settling after start or gap", 0)
            >= 1
        )
    if name == "stall 0.5 s":  # a silent link loses nothing, and is not an unplug
        assert run.lost_truth == 0 and run.disconnects_before_end == 0
        assert run.elapsed_s >= 0.5
        assert [r.label for r in run.results] == [r.label for r in baseline.results]
    if name == "unplug/replug":
        assert run.reconnects == 1 and run.disconnects_before_end == 1
        assert run.lost_truth == 180  # 0.5 s at 360 Hz, in whole frames
    if name.startswith("clock drift"):  # the pace changes, the counter does not: nothing lost
        assert run.lost_truth == 0 and s["samples_in"] == run.sent
        assert [(r.sample, r.label) for r in run.results] == [
            (r.sample, r.label) for r in baseline.results
        ]


def test_no_fault_baseline_labels_everything(baseline):
    check_run(baseline)
    assert baseline.lost_truth == 0 and baseline.summary["samples_in"] == baseline.sent
    assert baseline.labelled >= 45  # record 100: ~75 bpm, 40 s, less the first seconds


@pytest.mark.slow
def test_five_second_stall(record_100, clf, baseline, tmp_path):
    run = run_case(
        record_100,
        clf,
        FaultCase("stall 5 s", FaultPlan(stalls=(Stall(15.0, 5.0),))),
        tmp_path / "ttyECG",
    )
    check_run(run)
    assert run.elapsed_s >= 5.0 and run.lost_truth == 0 and run.disconnects_before_end == 0
    assert [r.label for r in run.results] == [r.label for r in baseline.results]


# --- the CLI: `edge-ecg stream` against `edge-ecg simulate`, with an unplug ------------------------


def _wait(pred, timeout_s: float) -> bool:
    ev = threading.Event()
    end = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > end:
            return False
        ev.wait(0.05)
    return True


def test_stream_cli_survives_an_unplug_and_reports_the_exact_gap(data_dir, tmp_path):
    """Two processes, as a user would run them: the stream process stays up across the unplug,
    reconnects, reports exactly the samples the simulator's fault log says it destroyed, never
    labels a beat overlapping them, and labels again afterwards."""
    link, out, flog = tmp_path / "ttyECG", tmp_path / "beats.jsonl", tmp_path / "faults.jsonl"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge_ecg.cli",
            "simulate",
            "--record",
            str(data_dir / "mitdb" / "100"),
            "--duration-s",
            "30",
            "--speed",
            "10",
            "--link",
            str(link),
            "--unplug",
            "12:1.5",
            "--fault-log",
            str(flog),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stream = None
    try:
        assert _wait(link.exists, 20), "simulator did not create its port"
        stream = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edge_ecg.cli",
                "stream",
                "--port",
                str(link),
                "--jsonl",
                str(out),
                "--quiet",
                "--backend",
                "onnxruntime",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        sim.communicate(timeout=60)
        assert sim.returncode == 0
        # the simulator is done (30 s of device time); the stream process is still up
        assert _wait(lambda: out.exists() and out.read_text().count("\n") >= 25, 20)
        assert stream.poll() is None
        os.kill(stream.pid, signal.SIGINT)
        _, stderr = stream.communicate(timeout=30)
    finally:
        for p in (sim, stream):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate()
    assert stream.returncode == 0, stderr
    assert "Traceback" not in stderr
    summary = json.loads(stderr.strip().splitlines()[-1])["summary"]
    unplug = [json.loads(line) for line in flog.read_text().splitlines()]
    unplug = [r for r in unplug if r["kind"] == "unplug"]
    assert len(unplug) == 1 and unplug[0]["n_samples"] == 540  # 1.5 s at 360 Hz
    lost = (unplug[0]["first_sample"], unplug[0]["first_sample"] + unplug[0]["n_samples"])
    assert summary["samples_lost"] == lost[1] - lost[0]
    assert summary["reconnects"] == 1 and summary["disconnects"] >= 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == summary["results"]
    before, after = 0.25 * 360, 0.45 * 360
    ok = [r for r in rows if r["quality"] == "ok"]
    assert not [r for r in ok if lost[0] < r["sample"] + after and r["sample"] - before < lost[1]]
    assert any(r["quality"] == "unreadable" for r in rows)
    resumed = [r for r in ok if r["sample"] > lost[1]]
    assert resumed and (resumed[0]["sample"] - lost[1]) / 360 < 6.0
    assert all(r["time_s"] == pytest.approx(r["sample"] / 360, abs=1e-4) for r in rows)
    assert np.all(np.diff([r["sample"] for r in rows]) > 0)  # beats in device order, no repeats


# --- output durability: a killed stream process leaves whole lines, a restart appends ------------


def _start_stream(port: str, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge_ecg.cli",
            "stream",
            "--port",
            port,
            "--jsonl",
            str(out),
            "--quiet",
            "--backend",
            "onnxruntime",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _whole_lines(path: Path) -> list[dict]:
    """Every line of ``path`` parses as JSON and the file ends at a line end (no partial line)."""
    text = path.read_text()
    assert text.endswith("\n"), f"partial last line: {text[-80:]!r}"
    return [json.loads(line) for line in text.splitlines()]


def test_jsonl_survives_sigkill_and_a_restart_appends(tmp_path):
    from edge_ecg.data.records import read_record
    from edge_ecg.runtime.demo import DEMO_RECORD

    sim = Simulator.from_record(read_record(DEMO_RECORD), config=SimConfig(speed=8.0))
    handle = sim.start(tmp_path / "ttyECG")
    port = str(tmp_path / "ttyECG")
    handle.wait_ready()
    out = tmp_path / "beats.jsonl"
    seen: list[str] = []
    procs = []
    try:
        for stop in (signal.SIGKILL, signal.SIGKILL, signal.SIGINT):
            before = out.read_text() if out.exists() else ""
            proc = _start_stream(port, out)
            procs.append(proc)
            n0 = before.count("\n")

            # kill it while it is writing: once it has added lines of its own
            def grew(n0=n0):
                return out.exists() and out.read_text().count("\n") >= n0 + 15

            assert _wait(grew, 60), proc.stderr.read() if proc.poll() is not None else "no output"
            proc.send_signal(stop)
            _, stderr = proc.communicate(timeout=30)
            rows = _whole_lines(out)
            text = out.read_text()
            assert text.startswith(before)  # appended, never truncated or rewritten
            seen.append(text)
            if stop == signal.SIGKILL:
                assert proc.returncode == -signal.SIGKILL
            else:
                assert proc.returncode == 0 and "Traceback" not in stderr
                summary = json.loads(stderr.strip().splitlines()[-1])["summary"]
                assert len(rows) - n0 == summary["results"]  # every result it counted is on disk
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
        handle.stop()
        handle.join(10.0)
    assert len(seen) == 3 and all(len(a) < len(b) for a, b in zip(seen, seen[1:], strict=False))
    rows = _whole_lines(out)
    assert {"sample", "time_s", "label", "quality"} <= set(rows[0])


def test_jsonl_sink_puts_each_line_on_disk_as_it_is_written(tmp_path):
    """The mechanism behind the test above, without timing: append mode, and each line flushed
    whole to the OS before ``write`` returns (readable by another handle, sink still open)."""
    from edge_ecg.runtime.sinks import JsonlSink
    from edge_ecg.runtime.stream import StreamResult

    path = tmp_path / "out.jsonl"
    path.write_text('{"earlier": "run"}\n')
    sink = JsonlSink(path)
    try:
        for k in range(3):
            sink.write(StreamResult(100 * k, k / 3.6, "N", 0.9, "ok"))
            rows = _whole_lines(path)
            assert (
                len(rows) == k + 2
                and rows[0] == {"earlier": "run"}
                and rows[-1]["sample"] == 100 * k
            )
    finally:
        sink.close()
