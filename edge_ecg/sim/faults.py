"""Faults the simulator injects, and the log of what each one destroyed.

Configuration is in physical units (seconds of device time, rates per byte); the log is in sample
counters so a receiver's account can be checked against the truth exactly.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

from edge_ecg.errors import ConfigError


def _check_time(name: str, value: float, *, positive: bool = False) -> None:
    ok = (
        isinstance(value, (int, float))
        and math.isfinite(value)
        and (value > 0 if positive else value >= 0)
    )
    if not ok:
        raise ConfigError(
            f"{name} must be a finite number of seconds {'> 0' if positive else '>= 0'}, got {value!r}"
        )


@dataclass(frozen=True)
class BurstDrop:
    """From device time ``at_s`` on, ``n_frames`` consecutive data frames (and any descriptor or
    heartbeat between them) never reach the wire."""

    at_s: float
    n_frames: int

    def __post_init__(self):
        _check_time("BurstDrop.at_s", self.at_s)
        if not (isinstance(self.n_frames, int) and self.n_frames >= 1):
            raise ConfigError(f"BurstDrop.n_frames must be an int >= 1, got {self.n_frames!r}")


@dataclass(frozen=True)
class Stall:
    """At device time ``at_s`` the link stops for ``duration_s`` wall seconds; the device buffers,
    nothing is lost, and pacing catches up afterwards."""

    at_s: float
    duration_s: float

    def __post_init__(self):
        _check_time("Stall.at_s", self.at_s)
        _check_time("Stall.duration_s", self.duration_s, positive=True)


@dataclass(frozen=True)
class Unplug:
    """At device time ``at_s`` the cable is pulled for ``down_s`` seconds of device time.

    The device keeps sampling: the samples of the down time are lost. The pty is closed (its
    symlink removed) and a new one appears at the same link after ``down_s / speed`` wall seconds
    (``down_s`` at maximum speed).
    """

    at_s: float
    down_s: float

    def __post_init__(self):
        _check_time("Unplug.at_s", self.at_s)
        _check_time("Unplug.down_s", self.down_s, positive=True)


@dataclass(frozen=True)
class FaultPlan:
    """Every fault of one simulation run.

    ``byte_loss_rate``: probability that each byte on the wire is dropped. ``bit_flip_rate``:
    probability that one random bit of each byte is inverted. ``clock_drift_pct``: the device's
    sample clock runs this many percent fast (+) or slow (-) against nominal: the pace changes,
    the sample counter and the announced rate do not. ``seed`` makes the random faults repeatable.
    """

    byte_loss_rate: float = 0.0
    bit_flip_rate: float = 0.0
    bursts: tuple[BurstDrop, ...] = ()
    stalls: tuple[Stall, ...] = ()
    unplugs: tuple[Unplug, ...] = ()
    clock_drift_pct: float = 0.0
    seed: int = 0

    def __post_init__(self):
        for name in ("byte_loss_rate", "bit_flip_rate"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0.0 <= v < 1.0):
                raise ConfigError(f"{name} must be a probability per byte in [0, 1), got {v!r}")
        if not (
            isinstance(self.clock_drift_pct, (int, float)) and -50.0 < self.clock_drift_pct < 50.0
        ):
            raise ConfigError(
                f"clock_drift_pct must be within (-50, 50) %, got {self.clock_drift_pct!r}"
            )
        for name, kind in (("bursts", BurstDrop), ("stalls", Stall), ("unplugs", Unplug)):
            items = tuple(getattr(self, name))
            if not all(isinstance(x, kind) for x in items):
                raise ConfigError(f"{name} must hold {kind.__name__} items, got {items!r}")
            object.__setattr__(self, name, items)

    @property
    def any(self) -> bool:
        return bool(
            self.byte_loss_rate
            or self.bit_flip_rate
            or self.bursts
            or self.stalls
            or self.unplugs
            or self.clock_drift_pct
        )


@dataclass(frozen=True)
class FaultRecord:
    """One injected fault and the samples it affected.

    ``kind``: ``byte_loss``, ``bit_flip`` (one record per frame hit, ``n_bytes`` bytes of it),
    ``burst_drop``, ``unplug``, ``stall``, ``clock_drift``, ``reader_detached``,
    ``undrained`` (bytes still queued in the pty when it was closed). ``first_sample`` and
    ``n_samples`` are device sample counters (a descriptor or heartbeat hit has ``n_samples=0``
    and its ``next_sample`` as ``first_sample``). ``byte_offset`` is the position of the first
    affected byte in the fault-free byte stream (-1 when not byte-level). ``frame_seq`` and
    ``frame_type`` name the frame hit (-1 / ``""`` when not one frame); ``n_frames`` counts the
    data frames a burst or unplug swallowed; ``value`` is a duration in s or the drift in %.
    """

    kind: str
    first_sample: int
    n_samples: int
    byte_offset: int = -1
    n_bytes: int = 0
    frame_seq: int = -1
    frame_type: str = ""
    n_frames: int = 0
    value: float = 0.0

    @property
    def end_sample(self) -> int:
        return self.first_sample + self.n_samples

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class FrameRecord:
    """What happened to one frame the device produced (kept when ``SimConfig.keep_frame_log``).

    ``fate``: ``sent`` (intact), ``faulted`` (bytes lost or flipped on the way), ``dropped``
    (never on the wire: burst or unplug), ``recovered`` (a byte lost at either end was stood in
    for by an equal neighbouring byte on the wire, e.g. a lost first sync byte right after a
    frame ending in 0xEC: the exact frame is still on the wire and decodes intact). For descriptor/heartbeat frames ``first_sample`` is
    their ``next_sample`` and ``n_samples`` 0.
    """

    seq: int
    frame_type: str
    first_sample: int
    n_samples: int
    byte_offset: int
    n_bytes: int
    fate: str
