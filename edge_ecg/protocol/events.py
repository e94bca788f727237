"""What the decoders emit: one small typed record per thing that happened on the wire.

A runtime consumes ``decoder.feed(chunk) -> list[event]`` and dispatches on the type:
:class:`Descriptor`, :class:`DataBlock`, :class:`Gap`, :class:`DeviceEvent`, :class:`Heartbeat`,
:class:`CounterReset`. Sample positions are absolute device sample counters; a timestamp is
``sample / fs_hz`` with the descriptor's rate, never the arrival time.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

import numpy as np

from edge_ecg.errors import ConfigError, ProtocolError


def _arrays_equal(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(a, b))


@dataclass(frozen=True, eq=False)
class Descriptor:
    """The device announces itself: rate, channels and their scale.

    ``uv_per_count`` (float64, per channel) and ``baseline_counts`` (int32, per channel) turn counts
    into microvolts: ``uv = (counts - baseline_counts) * uv_per_count``. ``next_sample`` is the
    sample counter of the next data sample the device sends. ``seq`` is the frame sequence number
    (ignored when encoding).
    """

    fs_hz: float
    channel_names: tuple[str, ...]
    uv_per_count: np.ndarray
    baseline_counts: np.ndarray
    sample_format: str = "int16"
    samples_per_frame: int = 10
    device_id: int = 0
    firmware_version: tuple[int, int, int] = (0, 0, 0)
    next_sample: int = 0
    seq: int = 0

    def __post_init__(self):
        # built by the decoder from a frame, or by hand by an integrator: a hand-built one is
        # checked for shape and type here (whether its rate suits a model is the stream's call)
        names = self.channel_names
        if isinstance(names, str) or not names or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"channel_names {names!r}: expected a non-empty sequence of names, e.g. ('MLII', 'V1')")
        if isinstance(self.fs_hz, bool) or not isinstance(self.fs_hz, numbers.Real):
            raise ConfigError(f"fs_hz {self.fs_hz!r}: expected a number (Hz)")
        object.__setattr__(self, "fs_hz", float(self.fs_hz))
        try:
            uv = np.asarray(self.uv_per_count, dtype=np.float64).reshape(-1)
            base = np.asarray(self.baseline_counts, dtype=np.int64).reshape(-1)
        except (TypeError, ValueError):
            raise ConfigError(f"uv_per_count {self.uv_per_count!r} / baseline_counts {self.baseline_counts!r}: "
                              "expected numbers, one or one per channel") from None
        if base.size == 1 and len(names) > 1:
            base = np.repeat(base, len(names))
        if uv.size == 1 and len(names) > 1:
            uv = np.repeat(uv, len(names))
        if uv.size != len(names) or base.size != len(names):
            raise ConfigError(f"uv_per_count has {uv.size} and baseline_counts {base.size} values for "
                              f"{len(names)} channels {list(names)}: expected one, or one per channel")
        object.__setattr__(self, "uv_per_count", uv)
        object.__setattr__(self, "baseline_counts", base.astype(np.int32))
        object.__setattr__(self, "channel_names", tuple(self.channel_names))
        object.__setattr__(self, "firmware_version", tuple(int(v) for v in self.firmware_version))

    @property
    def n_channels(self) -> int:
        return len(self.channel_names)

    def __eq__(self, other):
        if not isinstance(other, Descriptor):
            return NotImplemented
        return (
            self.fs_hz == other.fs_hz
            and self.channel_names == other.channel_names
            and _arrays_equal(self.uv_per_count, other.uv_per_count)
            and _arrays_equal(self.baseline_counts, other.baseline_counts)
            and self.sample_format == other.sample_format
            and self.samples_per_frame == other.samples_per_frame
            and self.device_id == other.device_id
            and self.firmware_version == other.firmware_version
            and self.next_sample == other.next_sample
            and self.seq == other.seq
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, eq=False)
class DataBlock:
    """``n`` consecutive samples of ``C`` channels, in ADC counts.

    ``counts`` is int32 ``(n, C)``; ``lead_off`` bool ``(C,)`` (electrode off at any time in the
    block; a read-only array the decoder shares between blocks with the same flags).
    ``fs_hz``, ``uv_per_count`` and ``baseline_counts`` come from the latest descriptor with a
    matching channel count and sample format (``None`` before one has arrived, or when the frame
    does not match it). ``sample_format``: the frame's wire format (``None`` for a block built by
    hand); a frame whose format differs from the descriptor's is not the layout described.
    """

    first_sample: int
    counts: np.ndarray
    lead_off: np.ndarray
    seq: int = 0
    fs_hz: float | None = None
    uv_per_count: np.ndarray | None = None
    baseline_counts: np.ndarray | None = None
    sample_format: str | None = None

    @property
    def n_samples(self) -> int:
        return int(self.counts.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.counts.shape[1])

    @property
    def end_sample(self) -> int:
        """One past the last sample counter of this block."""
        return self.first_sample + self.n_samples

    @property
    def t_s(self) -> float:
        """Device time of the first sample in seconds (sample counter / descriptor rate)."""
        if self.fs_hz is None:
            raise ProtocolError(
                "no descriptor received yet: the sampling rate of this block is unknown"
            )
        return self.first_sample / self.fs_hz

    def times_s(self) -> np.ndarray:
        """Device time of every sample in seconds, float64 ``(n,)``."""
        if self.fs_hz is None:
            raise ProtocolError(
                "no descriptor received yet: the sampling rate of this block is unknown"
            )
        return (self.first_sample + np.arange(self.n_samples, dtype=np.float64)) / self.fs_hz

    def uv(self) -> np.ndarray:
        """The block in microvolts, float64 ``(n, C)``."""
        if self.uv_per_count is None or self.baseline_counts is None:
            raise ProtocolError(
                "no descriptor with a matching channel count received yet: µV per count unknown"
            )
        return (self.counts - self.baseline_counts).astype(np.float64) * self.uv_per_count

    def __eq__(self, other):
        if not isinstance(other, DataBlock):
            return NotImplemented
        return (
            self.first_sample == other.first_sample
            and self.seq == other.seq
            and self.fs_hz == other.fs_hz
            and _arrays_equal(self.counts, other.counts)
            and _arrays_equal(self.lead_off, other.lead_off)
            and _arrays_equal(self.uv_per_count, other.uv_per_count)
            and _arrays_equal(self.baseline_counts, other.baseline_counts)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Gap:
    """Samples ``[first_sample, first_sample + n_samples)`` were sent but never decoded."""

    first_sample: int
    n_samples: int

    @property
    def end_sample(self) -> int:
        return self.first_sample + self.n_samples


@dataclass(frozen=True)
class DeviceEvent:
    """Button press, marker or battery reading (``kind`` is its name, see ``spec.EVENT_KINDS``)."""

    kind: str
    value: int
    sample: int
    seq: int = 0


@dataclass(frozen=True)
class Heartbeat:
    """The device is alive; ``next_sample`` is the counter of its next data sample."""

    next_sample: int
    uptime_ms: int
    seq: int = 0


@dataclass(frozen=True)
class CounterReset:
    """A data frame started before the expected sample: the device restarted its counter."""

    expected_sample: int
    first_sample: int
    seq: int = 0


Event = Descriptor | DataBlock | Gap | DeviceEvent | Heartbeat | CounterReset


@dataclass
class _ByteSampleStats:
    bytes_in: int = 0
    bytes_in_frames: int = 0
    bytes_discarded: int = 0
    bytes_buffered: int = 0
    samples_ok: int = 0
    samples_lost: int = 0
    gaps: int = 0

    def balanced(self) -> bool:
        """Every byte fed is in a good frame, discarded, or still buffered."""
        return self.bytes_in == self.bytes_in_frames + self.bytes_discarded + self.bytes_buffered

    def copy(self):
        return dataclasses.replace(self)


@dataclass
class DecoderStats(_ByteSampleStats):
    """Counters of a :class:`~edge_ecg.protocol.decoder.FrameDecoder`.

    ``bytes_in == bytes_in_frames + bytes_discarded + bytes_buffered`` always holds.
    ``frames_bad_*`` count rejected frame *candidates* (a sync pattern whose header, length or CRC
    failed): in random garbage, false candidates count too. ``frames_lost`` comes from sequence
    numbers, ``samples_lost`` from sample counters (exact). ``frames_stale``/``samples_stale``:
    data frames dropped as a repeat of one already decoded or as late for a gap already reported
    (their samples are not counted again).
    """

    frames_ok: int = 0
    frames_data: int = 0
    frames_descriptor: int = 0
    frames_event: int = 0
    frames_heartbeat: int = 0
    frames_bad_type: int = 0
    frames_bad_crc: int = 0
    frames_bad_length: int = 0
    frames_bad_version: int = 0
    frames_lost: int = 0
    seq_gaps: int = 0
    counter_resets: int = 0
    frames_stale: int = 0
    samples_stale: int = 0


@dataclass
class TextDecoderStats(_ByteSampleStats):
    """Counters of a :class:`~edge_ecg.protocol.text.TextDecoder` (one line = one sample)."""

    lines_ok: int = 0
    lines_bad_columns: int = 0
    columns: int = 0  # the column count expected (0 until known)
    last_bad_columns: int = 0  # the column count of the latest line refused for it
    lines_bad_value: int = 0
    lines_overlong: int = 0
    lines_empty: int = 0
    lines_text: int = 0  # lines without a digit (headers, banners): not samples
