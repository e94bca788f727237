"""Device simulator: replays a recording as protocol frames on a pseudo-terminal, with faults.

Two layers:

- :meth:`Simulator.steps` is pure: it turns the samples into the exact byte stream a device
  would put on the wire (frames, faults applied) interleaved with link actions (stall, unplug),
  and fills :attr:`Simulator.fault_log` (and :attr:`Simulator.frame_log`) with the truth.
- :meth:`Simulator.run` plays the steps onto a :class:`~edge_ecg.sim.pty.PtyPort` at the
  requested pace; :meth:`Simulator.start` does it in a background thread.

Pacing uses a monotonic clock and absolute deadlines (the frame ending at sample ``e`` is due at
``t0 + (e - s0) / rate``), so a late write is followed by catch-up writes and lateness never
accumulates. ``rate = fs_hz * (1 + clock_drift_pct / 100) * speed``. At maximum speed nothing is
paced: the pty's buffer (a few KB) blocks the writer until the reader catches up.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_ecg.errors import ConfigError, DeviceError
from edge_ecg.protocol import spec
from edge_ecg.protocol.encoder import FrameEncoder, encode_descriptor, format_code
from edge_ecg.protocol.events import Descriptor
from edge_ecg.protocol.text import encode_text_lines
from edge_ecg.sim.faults import BurstDrop, FaultPlan, FaultRecord, FrameRecord, Stall, Unplug
from edge_ecg.sim.pty import PtyPort

_MAX_SPEED_BATCH_BYTES = 4096


@dataclass(frozen=True)
class SimConfig:
    """How the simulated device speaks.

    ``speed``: 1.0 real time, 10.0 ten times faster, ``None`` as fast as the reader reads.
    ``samples_per_frame``: samples per channel in each data frame (binary mode; text mode writes
    one line per sample). ``descriptor_every_frames``: a descriptor precedes data frame 0 and
    every N-th data frame (0: only at start and after a replug). ``heartbeat_every_frames``: a
    heartbeat after every N-th data frame (0: never); ``final_heartbeats`` are sent at the end so
    the receiver can account for lost trailing frames. ``loop``: replay the record forever, the
    sample counter running on. ``wait_for_reader``: start (and resume after a replug) only once a
    reader has the port open (see :mod:`edge_ecg.sim.pty`); otherwise bytes written before the
    reader opens are lost to its input flush. ``keep_frame_log``: record every frame's fate.
    """

    speed: float | None = 1.0
    samples_per_frame: int = 10
    sample_format: str = "auto"  # "int16", "int24", or "auto": int16 when the counts fit, else int24
    text_mode: bool = False
    descriptor_every_frames: int = 100
    heartbeat_every_frames: int = 50
    final_heartbeats: int = 3
    loop: bool = False
    device_id: int = 0
    firmware_version: tuple[int, int, int] = (0, 1, 0)
    wait_for_reader: bool = True
    reader_settle_s: float = 0.5
    drain_timeout_s: float = 5.0
    keep_frame_log: bool = False
    first_sample: int = 0

    def __post_init__(self):
        if self.speed is not None and not (
            isinstance(self.speed, (int, float)) and 0 < self.speed < 1e6
        ):
            raise ConfigError(
                f"speed must be a factor > 0 (1 = real time) or None for max, got {self.speed!r}"
            )
        if not (isinstance(self.samples_per_frame, int) and self.samples_per_frame >= 1):
            raise ConfigError(
                f"samples_per_frame must be an int >= 1, got {self.samples_per_frame!r}"
            )
        if self.sample_format != "auto":
            format_code(self.sample_format)  # raises ProtocolError naming the value
        for name in (
            "descriptor_every_frames",
            "heartbeat_every_frames",
            "final_heartbeats",
            "first_sample",
        ):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 0):
                raise ConfigError(f"{name} must be an int >= 0, got {v!r}")
        for name in ("reader_settle_s", "drain_timeout_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v >= 0):
                raise ConfigError(f"{name} must be >= 0 s, got {v!r}")


# --- steps ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """Bytes to put on the wire once device sample ``end_sample`` has been acquired."""

    data: bytes
    end_sample: int


@dataclass(frozen=True)
class Pause:
    """The link stalls for ``duration_s`` wall seconds."""

    duration_s: float


@dataclass(frozen=True)
class Replug:
    """Unplug (drain, remove the link, close), wait ``wall_delay_s``, plug a new pty back in;
    the device resumes at ``next_sample``."""

    wall_delay_s: float
    next_sample: int


Step = Write | Pause | Replug


class Pacer:
    """Absolute-deadline pacing on a monotonic clock.

    After :meth:`anchor` at sample ``s0``, sample ``e`` is due at ``t0 + (e - s0) / rate_hz``.
    Deadlines never move when a write is late, so the schedule catches up instead of drifting.
    ``rate_hz=None`` means no pacing (every delay is 0).
    """

    def __init__(self, rate_hz: float | None, clock=time.monotonic) -> None:
        if rate_hz is not None and not rate_hz > 0:
            raise ConfigError(f"rate_hz must be > 0 samples per second or None, got {rate_hz!r}")
        self.rate_hz = rate_hz
        self._clock = clock
        self._t0 = clock()
        self._s0 = 0

    def anchor(self, sample: int) -> None:
        """Sample ``sample`` is 'now'."""
        self._t0 = self._clock()
        self._s0 = sample

    def due_s(self, sample: int) -> float:
        """Clock time (s) at which ``sample`` is due."""
        if self.rate_hz is None:
            return self._t0
        return self._t0 + (sample - self._s0) / self.rate_hz

    def delay_s(self, sample: int) -> float:
        """Seconds to wait before ``sample`` is due (0 when late: catch up)."""
        return max(0.0, self.due_s(sample) - self._clock())


class _ByteFaulter:
    """Byte loss and bit flips at random positions of the fault-free byte stream.

    Positions are drawn as geometric gaps, so the cost is per fault, not per byte.
    """

    def __init__(self, rng: np.random.Generator, loss_rate: float, flip_rate: float) -> None:
        self._rng = rng
        self._loss = loss_rate
        self._flip = flip_rate
        self._next_loss = self._gap(loss_rate, 0)
        self._next_flip = self._gap(flip_rate, 0)

    def _gap(self, rate: float, start: int) -> float:
        return start + int(self._rng.geometric(rate)) - 1 if rate > 0 else float("inf")

    def apply(self, data: bytes, offset: int) -> tuple[bytes, list[int], list[int]]:
        """Fault the bytes at stream positions ``[offset, offset + len(data))``.
        Returns the bytes that reach the wire, and the stream positions lost and flipped."""
        end = offset + len(data)
        # bytes of dropped frames never reach the wire: faults drawn there do not happen
        if self._next_loss < offset:
            self._next_loss = self._gap(self._loss, offset)
        if self._next_flip < offset:
            self._next_flip = self._gap(self._flip, offset)
        if self._next_loss >= end and self._next_flip >= end:
            return data, [], []
        out = bytearray(data)
        flipped: list[int] = []
        while self._next_flip < end:
            pos = int(self._next_flip)
            out[pos - offset] ^= 1 << int(self._rng.integers(8))
            flipped.append(pos)
            self._next_flip = self._gap(self._flip, pos + 1)
        lost: list[int] = []
        while self._next_loss < end:
            pos = int(self._next_loss)
            lost.append(pos)
            self._next_loss = self._gap(self._loss, pos + 1)
        for pos in reversed(lost):
            del out[pos - offset]
        return bytes(out), lost, flipped


# --- the simulator --------------------------------------------------------------------------------


class Simulator:
    """A simulated wearable replaying ``counts`` (int ``(n, C)`` ADC counts) sampled at ``fs_hz``.

    ``uv_per_count`` (scalar or per lead) and ``baseline_counts`` (count of 0 µV) go into the
    descriptor; ``lead_names`` are ASCII, at most 8 characters; ``lead_off`` is an optional bool
    ``(n, C)`` array of electrode-off flags. ``fault_log_path`` appends every fault as a JSON line.
    """

    def __init__(
        self,
        counts: np.ndarray,
        fs_hz: float,
        uv_per_count,
        lead_names,
        *,
        baseline_counts=0,
        lead_off: np.ndarray | None = None,
        config: SimConfig | None = None,
        faults: FaultPlan | None = None,
        fault_log_path: str | Path | None = None,
    ) -> None:
        self.config = config or SimConfig()
        self.faults = faults or FaultPlan()
        arr = np.asarray(counts)
        if arr.ndim != 2 or arr.shape[0] < 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ConfigError(
                f"counts must be integer ADC counts of shape (n_samples >= 1, n_leads), got {arr.dtype} {arr.shape}"
            )
        if not (isinstance(fs_hz, (int, float)) and fs_hz > 0):
            raise ConfigError(f"fs_hz must be a sampling rate > 0 Hz, got {fs_hz!r}")
        lead_names = tuple(lead_names)
        if len(lead_names) != arr.shape[1]:
            raise ConfigError(f"{len(lead_names)} lead names for {arr.shape[1]} leads")
        if lead_off is not None:
            lead_off = np.asarray(lead_off, dtype=bool)
            if lead_off.shape != arr.shape:
                raise ConfigError(
                    f"lead_off must have the shape of counts {arr.shape}, got {lead_off.shape}"
                )
        self.counts = arr.astype(np.int32, copy=False)
        self.fs_hz = float(fs_hz)
        self.lead_off = lead_off
        if self.config.sample_format == "auto":  # a record of a 24-bit ADC (e.g. format 32) needs int24
            _n, _w, lo16, hi16 = spec.SAMPLE_FORMATS[format_code("int16")]
            fits = lo16 <= arr.min() and arr.max() <= hi16
            self.config = dataclasses.replace(self.config, sample_format="int16" if fits else "int24")
        name, _w, lo, hi = spec.SAMPLE_FORMATS[format_code(self.config.sample_format)]
        if not self.config.text_mode and (arr.min() < lo or arr.max() > hi):
            raise ConfigError(
                f"counts span {int(arr.min())}..{int(arr.max())}, outside {name} ({lo}..{hi}); "
                "send them as int24 (simulate --format int24 or auto; SimConfig(sample_format='int24'))"
            )
        self._descriptor = Descriptor(
            fs_hz=self.fs_hz,
            channel_names=lead_names,
            uv_per_count=uv_per_count,
            baseline_counts=baseline_counts,
            sample_format=self.config.sample_format,
            samples_per_frame=self.config.samples_per_frame,
            device_id=self.config.device_id,
            firmware_version=self.config.firmware_version,
        )
        encode_descriptor(0, self._descriptor)  # validate names, scales and sizes now, not mid-run
        if not self.config.text_mode and self.config.samples_per_frame > spec.max_samples_per_frame(
            arr.shape[1], format_code(self.config.sample_format)
        ):
            raise ConfigError(
                f"samples_per_frame={self.config.samples_per_frame} does not fit one frame of "
                f"{arr.shape[1]} leads (max {spec.max_samples_per_frame(arr.shape[1], format_code(self.config.sample_format))})"
            )
        # checked now, not when the run opens it: a bad path must fail before anything is replayed
        self.fault_log_path = None
        if fault_log_path is not None:
            from edge_ecg.runtime.sinks import prepare_output_file

            self.fault_log_path = prepare_output_file(fault_log_path, "--fault-log")
        self.fault_log: list[FaultRecord] = []
        self.frame_log: list[FrameRecord] = []
        self.samples_produced = 0
        self.bytes_written = 0
        self._log_file = None
        self._descriptor_requested = False  # set by run() when a new reader attaches

    @classmethod
    def from_record(
        cls,
        record,
        *,
        start_s: float = 0.0,
        duration_s: float | None = None,
        config: SimConfig | None = None,
        faults: FaultPlan | None = None,
        fault_log_path: str | Path | None = None,
    ) -> Simulator:
        """A simulator replaying ``record`` (an :class:`edge_ecg.data.records.Record`) from
        ``start_s`` for ``duration_s`` seconds (to the end when ``None``).

        Samples the record marks invalid (NaN in ``p_signal``: WFDB's "no sample" value, a
        dropout) are sent as a device sends an electrode it cannot read: at the baseline, with
        the channel's lead-off flag set. The stream then reports the beats on them unreadable
        instead of classifying the placeholder value (:attr:`lead_off` marks them)."""
        fs = float(record.fs_hz)
        a = int(round(start_s * fs))
        b = (
            record.n_samples
            if duration_s is None
            else min(record.n_samples, a + int(round(duration_s * fs)))
        )
        if not 0 <= a < b:
            raise ConfigError(
                f"start_s={start_s} / duration_s={duration_s} select no samples of record "
                f"{record.name!r} ({record.duration_s:.1f} s)"
            )
        baseline = np.asarray(record.baseline, dtype=np.int64)
        invalid = np.isnan(np.asarray(record.p_signal[a:b], dtype=np.float64))
        if record.d_signal is not None:
            counts = np.array(record.d_signal[a:b], dtype=np.int32)
        else:  # physical values only: quantise with the record's own gain and baseline
            p = np.nan_to_num(np.asarray(record.p_signal[a:b], dtype=np.float64), nan=0.0)
            counts = np.rint(p * np.asarray(record.adc_gain) + baseline).astype(np.int32)
        counts[invalid] = np.broadcast_to(baseline, counts.shape)[invalid]
        names = tuple(
            n.encode("ascii", "replace").decode()[: spec.CHANNEL_NAME_BYTES]
            for n in record.lead_names
        )
        return cls(
            counts,
            fs,
            record.uv_per_count(),
            names,
            baseline_counts=baseline,
            lead_off=invalid if invalid.any() else None,
            config=config,
            faults=faults,
            fault_log_path=fault_log_path,
        )

    @property
    def descriptor(self) -> Descriptor:
        return self._descriptor

    @property
    def n_samples(self) -> int:
        return int(self.counts.shape[0])

    # -- truth ---------------------------------------------------------------------------------

    def _log(self, rec: FaultRecord) -> None:
        self.fault_log.append(rec)
        if self._log_file is not None:
            self._log_file.write(rec.to_json() + "\n")
            self._log_file.flush()

    def _frame(self, rec: FrameRecord) -> None:
        if self.config.keep_frame_log:
            self.frame_log.append(rec)

    # -- the byte stream ---------------------------------------------------------------------------

    def steps(self) -> Iterator[Step]:
        """The device's output, step by step (resets the logs). Infinite when ``config.loop``."""
        cfg, plan = self.config, self.faults
        self.fault_log = []
        self.frame_log = []
        self.samples_produced = 0
        fs = self.fs_hz
        rng = np.random.default_rng(plan.seed)
        faulter = _ByteFaulter(rng, plan.byte_loss_rate, plan.bit_flip_rate)
        enc = FrameEncoder()
        text = cfg.text_mode
        unit = 1 if text else cfg.samples_per_frame
        n_rec = self.n_samples
        s = cfg.first_sample
        timed = sorted(
            [
                (cfg.first_sample + int(round(f.at_s * fs)), i, f)
                for i, f in enumerate((*plan.bursts, *plan.stalls, *plan.unplugs))
            ],
            key=lambda t: (t[0], t[1]),
        )
        ti = 0
        offset = 0  # position in the fault-free byte stream
        burst_left = 0
        burst: dict | None = None
        down_until: int | None = None
        unplug: dict | None = None
        descriptor_due = not text
        k = 0  # data frames (or lines) produced
        pending: list = []  # faulted frames whose fate waits for the next wire byte
        last_wire_byte: list[int | None] = [None]
        if plan.clock_drift_pct:
            self._log(FaultRecord("clock_drift", s, 0, value=float(plan.clock_drift_pct)))

        def put(
            ftype: str, data: bytes, first: int, ns: int, seq: int, swallowed_by: dict | None
        ) -> bytes:
            nonlocal offset
            at = offset
            offset += len(data)
            if swallowed_by is not None:
                if ftype in ("data", "text"):
                    swallowed_by["n_samples"] += ns
                    swallowed_by["n_frames"] += 1
                self._frame(FrameRecord(seq, ftype, first, ns, at, len(data), "dropped"))
                return b""
            out, lost, flipped = faulter.apply(data, at)
            for kind, hits in (("byte_loss", lost), ("bit_flip", flipped)):
                if hits:
                    self._log(
                        FaultRecord(
                            kind,
                            first,
                            ns,
                            byte_offset=hits[0],
                            n_bytes=len(hits),
                            frame_seq=seq,
                            frame_type=ftype,
                        )
                    )
            faulted = bool(lost or flipped)
            rec = FrameRecord(
                seq, ftype, first, ns, at, len(data), "faulted" if faulted else "sent"
            )
            if out:
                resolve_pending(out[0])
            if faulted and out and not text:
                # A byte lost at either end of a frame can be stood in for by the neighbouring
                # wire byte when the two are equal (a lost first sync byte after a frame ending
                # in 0xEC, a lost final CRC byte before a 0xEC): the exact frame is then still
                # on the wire and decodes intact. Decided once the next wire byte is known.
                pending.append((rec, data, out, last_wire_byte[0]))
            else:
                self._frame(rec)
            if out:
                last_wire_byte[0] = out[-1]
            return out

        def resolve_pending(next_byte: int | None) -> None:
            while pending:
                rec, data, out, prev = pending.pop(0)
                wire = (
                    (b"" if prev is None else bytes([prev]))
                    + out
                    + (b"" if next_byte is None else bytes([next_byte]))
                )
                fate = "recovered" if data in wire else "faulted"
                self._frame(
                    FrameRecord(
                        rec.seq,
                        rec.frame_type,
                        rec.first_sample,
                        rec.n_samples,
                        rec.byte_offset,
                        rec.n_bytes,
                        fate,
                    )
                )

        def close_burst() -> None:
            nonlocal burst
            if burst is not None:
                self._log(
                    FaultRecord(
                        "burst_drop", burst["first"], burst["n_samples"], n_frames=burst["n_frames"]
                    )
                )
                burst = None

        def close_unplug() -> None:
            nonlocal unplug
            if unplug is not None:
                self._log(
                    FaultRecord(
                        "unplug",
                        unplug["first"],
                        unplug["n_samples"],
                        n_frames=unplug["n_frames"],
                        value=unplug["down_s"],
                    )
                )
                unplug = None

        while True:
            for a in range(0, n_rec, unit):
                b = min(a + unit, n_rec)
                n = b - a
                while ti < len(timed) and timed[ti][0] <= s:
                    fault = timed[ti][2]
                    ti += 1
                    if isinstance(fault, Stall):
                        self._log(FaultRecord("stall", s, 0, value=float(fault.duration_s)))
                        yield Pause(float(fault.duration_s))
                    elif isinstance(fault, BurstDrop):
                        burst_left += fault.n_frames
                        if burst is None:
                            burst = {"first": s, "n_samples": 0, "n_frames": 0}
                    elif isinstance(fault, Unplug) and down_until is None:
                        down_until = s + int(round(fault.down_s * fs))
                        unplug = {
                            "first": s,
                            "n_samples": 0,
                            "n_frames": 0,
                            "down_s": float(fault.down_s),
                        }
                if down_until is not None and s >= down_until:
                    down_s = unplug["down_s"]
                    close_unplug()
                    down_until = None
                    # no byte stands in for another across a link break
                    resolve_pending(None)
                    last_wire_byte[0] = None
                    yield Replug(unplug_wall_delay_s(down_s, cfg.speed), s)
                    descriptor_due = not text
                swallowed = None
                if down_until is not None:
                    swallowed = unplug
                elif burst_left > 0:
                    swallowed = burst
                    burst_left -= 1
                if self._descriptor_requested:
                    self._descriptor_requested = False
                    descriptor_due = not text
                out = bytearray()
                if text:
                    line = encode_text_lines(self.counts[a:b])
                    out += put("text", line, s, n, -1, swallowed)
                else:
                    every = cfg.descriptor_every_frames
                    if descriptor_due or (every and k % every == 0):
                        seq = enc.seq
                        d = self._descriptor_at(s)
                        out += put("descriptor", enc.descriptor(d), s, 0, seq, swallowed)
                        descriptor_due = False
                    seq = enc.seq
                    lo = None if self.lead_off is None else self.lead_off[a:b]
                    frame = enc.data(s, self.counts[a:b], cfg.sample_format, lo)
                    out += put("data", frame, s, n, seq, swallowed)
                    hb = cfg.heartbeat_every_frames
                    if hb and (k + 1) % hb == 0:
                        seq = enc.seq
                        out += put(
                            "heartbeat",
                            enc.heartbeat(s + n, self._uptime_ms(s + n)),
                            s + n,
                            0,
                            seq,
                            swallowed,
                        )
                k += 1
                s += n
                self.samples_produced += n
                if swallowed is burst and burst is not None and burst_left == 0:
                    close_burst()
                if out:
                    yield Write(bytes(out), s)
            if not cfg.loop:
                break
        close_burst()
        close_unplug()
        if not text:
            for _ in range(cfg.final_heartbeats):
                seq = enc.seq
                out = put("heartbeat", enc.heartbeat(s, self._uptime_ms(s)), s, 0, seq, None)
                if out:
                    yield Write(out, s)
        resolve_pending(None)

    def _descriptor_at(self, next_sample: int) -> Descriptor:
        d = self._descriptor
        return Descriptor(
            d.fs_hz,
            d.channel_names,
            d.uv_per_count,
            d.baseline_counts,
            d.sample_format,
            d.samples_per_frame,
            d.device_id,
            d.firmware_version,
            next_sample,
        )

    def _uptime_ms(self, sample: int) -> int:
        return int(sample * 1000 / self.fs_hz)

    def byte_stream(self) -> bytes:
        """The whole wire stream of a non-looping run, without a port (faults applied)."""
        if self.config.loop:
            raise ConfigError("byte_stream() needs a finite run; loop=True never ends")
        return b"".join(st.data for st in self.steps() if isinstance(st, Write))

    # -- playing it onto a port --------------------------------------------------------------------

    def run(self, port: PtyPort, stop: threading.Event | None = None, on_open=None) -> None:
        """Play :meth:`steps` onto ``port`` (opened here, closed at the end) until the record
        ends (never with ``loop``) or ``stop`` is set. ``on_open(slave_path)`` is called each
        time a pty is created (at start and after every replug)."""
        stop = stop or threading.Event()
        cfg = self.config
        rate = (
            None
            if cfg.speed is None
            else self.fs_hz * (1 + self.faults.clock_drift_pct / 100.0) * cfg.speed
        )
        pacer = Pacer(rate)
        pending = bytearray()
        self.bytes_written = 0
        if self.fault_log_path is not None:
            self._log_file = open(self.fault_log_path, "a", encoding="utf-8")  # noqa: SIM115
        next_sample = cfg.first_sample

        def opened() -> bool:
            path = port.open()
            if on_open is not None:
                on_open(path)
            return not cfg.wait_for_reader or port.wait_for_reader(stop, cfg.reader_settle_s)

        def write(data: bytes | bytearray) -> bool:
            if cfg.wait_for_reader and (port.reader_lost or not port.has_reader()):
                # The reader closed the port: what it had not read is flushed when the next one
                # opens (not exactly known here). Wait for it, and greet it with a descriptor.
                port.reader_lost = False
                self._log(
                    FaultRecord("reader_detached", next_sample, 0, byte_offset=self.bytes_written)
                )
                if not port.wait_for_reader(stop, cfg.reader_settle_s):
                    return False
                pacer.anchor(next_sample)
                self._descriptor_requested = True
            if not port.write(data, stop):
                return False
            self.bytes_written += len(data)
            return True

        def drain() -> None:
            left = port.drain(stop, cfg.drain_timeout_s)
            if left:
                self._log(
                    FaultRecord(
                        "undrained",
                        next_sample,
                        0,
                        byte_offset=self.bytes_written - left,
                        n_bytes=left,
                    )
                )

        try:
            if not opened():
                return
            pacer.anchor(cfg.first_sample)
            for step in self.steps():
                if stop.is_set():
                    return
                if isinstance(step, Write):
                    if rate is None:
                        pending += step.data
                        next_sample = step.end_sample
                        if len(pending) >= _MAX_SPEED_BATCH_BYTES:
                            if not write(pending):
                                return
                            pending.clear()
                        continue
                    if stop.wait(pacer.delay_s(step.end_sample)):
                        return
                    next_sample = step.end_sample
                    if not write(step.data):
                        return
                    continue
                if pending:
                    if not write(pending):
                        return
                    pending.clear()
                if isinstance(step, Pause):
                    if stop.wait(step.duration_s):
                        return
                elif isinstance(step, Replug):
                    drain()
                    port.close()
                    if stop.wait(step.wall_delay_s) or not opened():
                        return
                    next_sample = step.next_sample
                    pacer.anchor(step.next_sample)
            if pending and not write(pending):
                return
            drain()
        finally:
            port.close()
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def start(self, link: str | Path | None = None) -> SimHandle:
        """Run on a new pty in a daemon thread; ``link`` keeps a symlink to the slave."""
        return SimHandle(self, link)


def unplug_wall_delay_s(down_s: float, speed: float | None) -> float:
    """Wall seconds between unplug and replug: the down time at the run's pace (``down_s`` at
    maximum speed, where a person would still need that long to plug the cable back)."""
    return down_s if speed is None else down_s / speed


class SimHandle:
    """A simulator running in a background thread.

    ``ready`` is set once the first pty exists (``slave_path`` valid); ``done`` when the run has
    ended (``error`` holds what stopped it, if anything). ``stop()`` ends it early.
    """

    def __init__(self, sim: Simulator, link: str | Path | None) -> None:
        self.sim = sim
        self.port = PtyPort(link)
        self.ready = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.slave_paths: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="edge-ecg-sim", daemon=True)
        self._thread.start()

    @property
    def slave_path(self) -> str | None:
        return self.slave_paths[-1] if self.slave_paths else None

    def _opened(self, path: str) -> None:
        self.slave_paths.append(path)
        self.ready.set()

    def _main(self) -> None:
        try:
            self.sim.run(self.port, self._stop, on_open=self._opened)
        except BaseException as exc:  # handed to the owner, like pyserial's ReaderThread
            self.error = exc
        finally:
            self.ready.set()
            self.done.set()

    def wait_ready(self, timeout_s: float = 5.0) -> str:
        """Wait for the first pty; return its slave path (raises DeviceError on failure)."""
        if not self.ready.wait(timeout_s) or self.slave_path is None:
            raise DeviceError(
                f"simulator did not open its pty within {timeout_s} s: {self.error!r}"
            )
        return self.slave_path

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the run to end; True if it did. Re-raises an error that ended it."""
        self._thread.join(timeout_s)
        if self.error is not None:
            raise self.error
        return not self._thread.is_alive()
