"""Reconcile a receiver's account of a stream with the simulator's truth.

The receiver knows which samples it decoded (``DataBlock``) and which it was told were lost
(``Gap``, and a source's ``Overflow``). The simulator knows the fate of every frame it produced
(``Simulator.frame_log``, kept with ``SimConfig(keep_frame_log=True)``). A frame is lost as a
whole when any of its bytes is lost or flipped, so the comparison is at frame granularity.

The receiver can only see losses between the first and the last frame that reached it intact
and carries a sample counter (its *window*); frames faulted before or after that are invisible
to any receiver and are reported separately.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_ecg.protocol.events import DataBlock, Gap

Range = tuple[int, int]


def merge_ranges(ranges) -> list[Range]:
    """Sorted, merged half-open ranges; empty ranges dropped."""
    out: list[list[int]] = []
    for a, b in sorted((int(a), int(b)) for a, b in ranges if b > a):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def overlaps(ranges) -> bool:
    """Do any two of the half-open ``ranges`` share a sample?"""
    rs = sorted((int(a), int(b)) for a, b in ranges if b > a)
    return any(rs[i][1] > rs[i + 1][0] for i in range(len(rs) - 1))


def subtract(window: Range, ranges) -> list[Range]:
    """``window`` minus ``ranges``."""
    out, pos = [], window[0]
    for a, b in merge_ranges(ranges):
        a, b = max(a, window[0]), min(b, window[1])
        if b <= a:
            continue
        if a > pos:
            out.append((pos, a))
        pos = max(pos, b)
    if pos < window[1]:
        out.append((pos, window[1]))
    return out


def clip(ranges, window: Range) -> list[Range]:
    return merge_ranges((max(a, window[0]), min(b, window[1])) for a, b in ranges)


@dataclass(frozen=True)
class Account:
    """Sample ranges (half-open, merged) received and lost, within ``window``."""

    received: list[Range]
    lost: list[Range]
    window: Range

    @property
    def n_received(self) -> int:
        return sum(b - a for a, b in self.received)

    @property
    def n_lost(self) -> int:
        return sum(b - a for a, b in self.lost)


def receiver_account(events) -> Account:
    """What a receiver saw: ``DataBlock`` ranges received, ``Gap`` (and ``Overflow``) ranges lost.

    Raises ``ValueError`` if the receiver claims a sample twice (received twice, or both received
    and lost): that would be a decoder bug, not a fault.
    """
    got, lost = [], []
    for ev in events:
        if isinstance(ev, DataBlock):
            got.append((ev.first_sample, ev.end_sample))
        elif isinstance(ev, Gap):
            lost.append((ev.first_sample, ev.end_sample))
        elif type(ev).__name__ == "Overflow" and getattr(ev, "n_samples", 0):
            lost.extend(ev.ranges)
    if overlaps(got + lost):
        raise ValueError("the receiver accounted for some samples twice")
    both = merge_ranges(got + lost)
    window = (both[0][0], both[-1][1]) if both else (0, 0)
    return Account(merge_ranges(got), merge_ranges(lost), window)


def expected_account(sim) -> tuple[Account, list[Range]]:
    """What an ideal receiver of ``sim``'s last run sees, and the faulted data ranges it cannot
    see (before its first / after its last intact frame)."""
    frames = sim.frame_log
    if not frames and sim.samples_produced:
        raise ValueError(
            "the simulator kept no frame log: run it with SimConfig(keep_frame_log=True)"
        )
    marks, got, bad = [], [], []
    for f in frames:
        if f.frame_type in ("data", "text"):
            rng = (f.first_sample, f.first_sample + f.n_samples)
            if f.fate in ("sent", "recovered"):
                got.append(rng)
                marks += list(rng)
            else:
                bad.append(rng)
        elif f.fate in ("sent", "recovered"):  # descriptor / heartbeat: next_sample is visible
            marks.append(f.first_sample)
    window = (min(marks), max(marks)) if marks else (0, 0)
    lost = subtract(window, got)
    # clipped, not filtered: adjacent faulted frames merge into one range that can straddle the
    # window's edge, and only its outside part is invisible
    bad = merge_ranges(bad)
    lo, hi = (bad[0][0], bad[-1][1]) if bad else (0, 0)
    invisible = clip(bad, (lo, window[0])) + clip(bad, (window[1], hi))
    return Account(merge_ranges(got), lost, window), invisible


def faulted_ranges(fault_log) -> list[Range]:
    """Data samples the fault log says were destroyed (byte loss, bit flips, bursts, unplugs)."""
    kinds = {"byte_loss", "bit_flip", "burst_drop", "unplug"}
    return merge_ranges(
        (r.first_sample, r.end_sample) for r in fault_log if r.kind in kinds and r.n_samples > 0
    )
