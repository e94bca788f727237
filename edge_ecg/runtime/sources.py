"""Where decoded samples come from: a serial port (or any pyserial URL) or a recorded byte file.

:class:`SerialSource` owns the port in a daemon reader thread (the pattern of pyserial's
``threaded.ReaderThread``): the thread signals start-up with an ``Event``, feeds every chunk it
reads to a decoder (:class:`~edge_ecg.protocol.FrameDecoder` or
:class:`~edge_ecg.protocol.TextDecoder`) and puts the events into a bounded queue. The consumer
takes them with :meth:`SerialSource.get` / iteration, with a timeout.

- **Overflow policy: drop-oldest.** The reader never blocks on a slow consumer. When the queue
  is full the oldest event is dropped and counted; the consumer's next event is then an
  :class:`Overflow` naming the sample ranges it will never see, so its account stays exact.
- **Unplug.** A read that fails (``SerialException``/``OSError``) or a port path that vanishes
  ends the link: a :class:`Disconnected` event, then re-opens of the same path with exponential
  back-off, then :class:`Reconnected`. The decoder keeps its sample counter across the gap, so
  the first frame after the replug yields a :class:`~edge_ecg.protocol.Gap` of exactly the
  samples produced while unplugged.
- ``serial_for_url`` is used to open, so ``loop://`` works in tests and ``/dev/ttyUSB0`` (or the
  simulator's pty) in production; ``exclusive=True`` locks the port against a second reader.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edge_ecg.errors import ConfigError, DeviceError, PortBusyError, PortNotFoundError, RecordError
from edge_ecg.protocol.decoder import FrameDecoder
from edge_ecg.protocol.events import DataBlock, Gap

_NOT_FOUND = {errno.ENOENT, errno.ENODEV, errno.ENXIO}
_BUSY = {errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK}


# --- events a source adds to the decoder's --------------------------------------------------------


@dataclass(frozen=True)
class Disconnected:
    """The port failed (unplugged, vanished). ``next_sample``: the counter expected next."""

    port: str
    reason: str
    next_sample: int | None


@dataclass(frozen=True)
class Reconnected:
    """The port is back after ``attempts`` re-opens and ``down_s`` seconds."""

    port: str
    attempts: int
    down_s: float


@dataclass(frozen=True)
class Overflow:
    """The consumer was too slow: ``n_events`` events were dropped from the queue, among them
    ``n_samples`` decoded samples. ``ranges`` are the half-open sample ranges of the dropped data
    blocks and gaps, so the consumer can account for them."""

    n_events: int
    n_samples: int
    ranges: tuple[tuple[int, int], ...]


REPLAY_WAIT_S = 30.0
"""``overflow_wait_s`` of a replay (``ec57``, ``stream --no-drop``): a sender that can wait is
made to wait this long for room before the oldest events are dropped after all."""


@dataclass(frozen=True)
class SourceConfig:
    """Settings of a :class:`SerialSource`.

    ``read_timeout_s`` bounds each blocking read (and so how fast ``close()`` and a vanished port
    are noticed). ``max_queued_events`` bounds the queue: when it is full the reader waits up to
    ``overflow_wait_s`` for the consumer (0, the default for live devices: never wait), then drops
    the oldest events and reports them in an ``Overflow``. A replay that must lose nothing (the
    simulator at full speed) sets a wait, so the port's own flow control slows the sender. Back-off between
    re-open attempts starts at ``backoff_initial_s`` and is multiplied by ``backoff_factor`` up to
    ``backoff_max_s``. ``exclusive`` locks the port (a second reader gets ``PortBusyError``).
    """

    baudrate: int = 921600
    # idle wake-ups cost a lone stream more than its work (benchmarks/bench_realtime.py): a blocking
    # read wakes on data, close() cancels it, so the timeout only paces the vanished-path check
    read_timeout_s: float = 0.5
    max_queued_events: int = 4096
    overflow_wait_s: float = 0.0
    reconnect: bool = True
    backoff_initial_s: float = 0.05
    backoff_max_s: float = 2.0
    backoff_factor: float = 2.0
    exclusive: bool = True
    start_timeout_s: float = 5.0

    def __post_init__(self):
        if not (isinstance(self.baudrate, int) and self.baudrate > 0):
            raise ConfigError(f"baudrate must be a positive int, got {self.baudrate!r}")
        for name in ("read_timeout_s", "backoff_initial_s", "backoff_max_s", "start_timeout_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0):
                raise ConfigError(f"{name} must be > 0 s, got {v!r}")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ConfigError(
                f"backoff_max_s ({self.backoff_max_s}) must be >= backoff_initial_s ({self.backoff_initial_s})"
            )
        if not (isinstance(self.backoff_factor, (int, float)) and self.backoff_factor >= 1):
            raise ConfigError(f"backoff_factor must be >= 1, got {self.backoff_factor!r}")
        if not (isinstance(self.overflow_wait_s, (int, float)) and self.overflow_wait_s >= 0):
            raise ConfigError(f"overflow_wait_s must be >= 0 s, got {self.overflow_wait_s!r}")
        if not (isinstance(self.max_queued_events, int) and self.max_queued_events >= 1):
            raise ConfigError(
                f"max_queued_events must be an int >= 1, got {self.max_queued_events!r}"
            )


@dataclass
class SourceStats:
    """Counters of a source; ``decoder`` is a snapshot of its decoder's counters."""

    bytes_read: int = 0
    events_dropped: int = 0
    samples_dropped: int = 0
    disconnects: int = 0
    reconnects: int = 0
    decoder: object = field(default=None)


# --- opening a port ------------------------------------------------------------------------------


def open_serial(
    port: str, *, baudrate: int = 921600, timeout_s: float = 0.05, exclusive: bool = True
):
    """Open ``port`` (a device path or a pyserial URL such as ``loop://``).

    Raises :class:`PortNotFoundError` (no such port), :class:`PortBusyError` (held by another
    process), :class:`DeviceError` (anything else, e.g. permissions), each naming the port.
    """
    import serial  # pyserial is a runtime dependency; imported here to keep import light

    try:
        return serial.serial_for_url(
            port, baudrate=baudrate, timeout=timeout_s, exclusive=exclusive
        )
    except ValueError as exc:  # unknown URL scheme or bad setting
        raise ConfigError(f"cannot open serial port {port!r}: {exc}") from exc
    except (serial.SerialException, OSError) as exc:
        code = getattr(exc, "errno", None)
        if code in _NOT_FOUND:
            raise PortNotFoundError(f"serial port {port!r} does not exist ({exc})") from exc
        if code in _BUSY:
            raise PortBusyError(
                f"serial port {port!r} is busy: another process holds it ({exc})"
            ) from exc
        if code == errno.EACCES:
            raise DeviceError(
                f"permission denied opening serial port {port!r}: add the user to the group owning "
                f"it (often 'dialout') ({exc})"
            ) from exc
        raise DeviceError(f"cannot open serial port {port!r}: {exc}") from exc


# --- the queue both sources share ----------------------------------------------------------------


class _EventQueue:
    """Bounded FIFO with drop-oldest and an :class:`Overflow` marker at the head."""

    def __init__(self, maxlen: int, stats: SourceStats, wait_s: float = 0.0) -> None:
        self._q: deque = deque()
        self._maxlen = maxlen
        self._wait_s = wait_s
        self._stats = stats
        self._cond = threading.Condition()
        self._ov_events = 0
        self._ov_samples = 0
        self._ov_ranges: list[tuple[int, int]] = []
        self.finished = False

    def put_many(self, events) -> None:
        with self._cond:
            for ev in events:
                if len(self._q) >= self._maxlen and self._wait_s > 0:
                    deadline = time.monotonic() + self._wait_s
                    while len(self._q) >= self._maxlen and (left := deadline - time.monotonic()) > 0:
                        self._cond.wait(left)
                if len(self._q) >= self._maxlen:
                    old = self._q.popleft()
                    self._ov_events += 1
                    self._stats.events_dropped += 1
                    if isinstance(old, DataBlock):
                        self._ov_samples += old.n_samples
                        self._stats.samples_dropped += old.n_samples
                        self._ov_ranges.append((old.first_sample, old.end_sample))
                    elif isinstance(old, Gap):
                        self._ov_ranges.append((old.first_sample, old.end_sample))
                self._q.append(ev)
            self._cond.notify_all()

    def finish(self) -> None:
        with self._cond:
            self.finished = True
            self._cond.notify_all()

    def _pop(self):
        if self._ov_events:
            ev = Overflow(self._ov_events, self._ov_samples, tuple(self._ov_ranges))
            self._ov_events, self._ov_samples, self._ov_ranges = 0, 0, []
            return ev
        self._cond.notify_all()  # a reader waiting for room may go on
        return self._q.popleft()

    def get(self, timeout_s: float | None):
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while not (self._q or self._ov_events):
                if self.finished:
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            return self._pop()

    def drain(self) -> list:
        with self._cond:
            out = []
            while self._q or self._ov_events:
                out.append(self._pop())
            return out


class EventSource:
    """What :meth:`StreamSession.run <edge_ecg.runtime.session.StreamSession.run>` consumes:
    ``get(timeout_s)`` (the next event or ``None``), ``drain()`` (every event queued now),
    ``ended`` (nothing more will come), ``close()``; optionally ``stats`` and ``reader_cpu_s()``.
    Events are what :class:`~edge_ecg.protocol.FrameDecoder` emits (``Descriptor``,
    ``DataBlock``, ``Gap``, …). The sources here (serial port, byte file, :class:`PushSource`)
    share this implementation over a bounded queue. For data of your own, feed a
    :class:`PushSource`; a source class of your own provides the same four members (subclassing
    this one means setting up its queue, counters and lock as the sources here do)."""

    _queue: _EventQueue
    _stats: SourceStats
    _lock: threading.Lock  # guards the decoder (and, in a serial source, the port)

    @property
    def stats(self) -> SourceStats:
        """The source's counters so far, with a snapshot of its decoder's."""
        with self._lock:
            return dataclasses.replace(self._stats, decoder=self.decoder.stats)

    def get(self, timeout_s: float | None = None):
        """The next event, or ``None`` after ``timeout_s`` s without one or once the source has
        ended and everything was taken. ``timeout_s=None`` waits as long as the source lives."""
        return self._queue.get(timeout_s)

    def iter_events(self, timeout_s: float | None = None) -> Iterator:
        """Yield events until none arrives for ``timeout_s`` s (or the source ends)."""
        while True:
            ev = self.get(timeout_s)
            if ev is None:
                return
            yield ev

    def __iter__(self) -> Iterator:
        return self.iter_events(None)

    def drain(self) -> list:
        """Every event queued now, without waiting."""
        return self._queue.drain()

    def reader_cpu_s(self) -> float:
        """CPU seconds used so far by the reader thread (read + decode); 0 without one."""
        t = getattr(self, "_thread", None)
        if t is None or t.ident is None or not t.is_alive():
            return getattr(self, "_reader_cpu_final", 0.0)
        try:
            return time.clock_gettime(time.pthread_getcpuclockid(t.ident))
        except (OSError, AttributeError):  # pragma: no cover - platforms without per-thread clocks
            return 0.0

    @property
    def ended(self) -> bool:
        """The source has stopped producing (closed, file finished) and nothing is queued."""
        q = self._queue
        with q._cond:
            return q.finished and not q._q and not q._ov_events

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


# --- serial ---------------------------------------------------------------------------------------


class SerialSource(EventSource):
    """Decoded events from a serial port, read by a daemon thread (see module docstring).

    ``port`` is a device path (``/dev/ttyUSB0``, the simulator's link) or a pyserial URL
    (``loop://``). ``decoder`` defaults to a binary :class:`FrameDecoder`; pass a
    :class:`~edge_ecg.protocol.TextDecoder` for text-mode boards. Opening errors are raised here,
    in the caller's thread: :class:`PortNotFoundError`, :class:`PortBusyError`.
    """

    def __init__(
        self, port: str | os.PathLike, decoder=None, config: SourceConfig | None = None
    ) -> None:
        self.port_name = os.fspath(port)
        self.config = config or SourceConfig()
        self.decoder = decoder if decoder is not None else FrameDecoder()
        self._stats = SourceStats()
        self._queue = _EventQueue(self.config.max_queued_events, self._stats, self.config.overflow_wait_s)
        self._lock = threading.Lock()  # decoder + stats, against snapshots from other threads
        self._stop = threading.Event()
        self._started = threading.Event()
        self._is_path = "://" not in self.port_name
        self._serial = self._open()
        self._thread = threading.Thread(
            target=self._main, name=f"edge-ecg-reader {self.port_name}", daemon=True
        )
        self._thread.start()
        if not self._started.wait(self.config.start_timeout_s):  # pragma: no cover - defensive
            self.close()
            raise DeviceError(f"reader thread for {self.port_name!r} did not start")

    def _open(self):
        c = self.config
        return open_serial(
            self.port_name, baudrate=c.baudrate, timeout_s=c.read_timeout_s, exclusive=c.exclusive
        )

    @property
    def serial(self):
        """The pyserial object currently open (``None`` while disconnected). Writing to it is
        fine (pyserial allows one reader and one writer thread); reading is the thread's job."""
        return self._serial

    @property
    def is_alive(self) -> bool:
        return self._thread.is_alive()

    # -- reader thread ------------------------------------------------------------------------

    def _main(self) -> None:
        self._started.set()
        ser = self._serial
        try:
            while not self._stop.is_set():
                try:
                    data = ser.read(ser.in_waiting or 1)
                    if data and ser.in_waiting:
                        # the rest of what woke the blocking 1-byte read: one decode per arrival
                        data += ser.read(ser.in_waiting)
                except Exception as exc:  # noqa: BLE001 - SerialException, OSError, EIO as TypeError
                    if self._stop.is_set():
                        break
                    ser = self._link_lost(ser, f"read failed: {exc}")
                    if ser is None:
                        break
                    continue
                if data:
                    with self._lock:
                        self._stats.bytes_read += len(data)
                        events = self.decoder.feed(data)
                    self._queue.put_many(events)
                elif (
                    self._is_path and not os.path.exists(self.port_name) and not self._stop.is_set()
                ):
                    ser = self._link_lost(ser, "port path vanished")
                    if ser is None:
                        break
        finally:
            if ser is not None:
                _quiet_close(ser)
            self._serial = None
            self._reader_cpu_final = time.thread_time()
            self._queue.finish()

    def _link_lost(self, ser, reason: str):
        """Report the loss, then re-open with back-off. Returns the new port or None (stopped)."""
        _quiet_close(ser)
        self._serial = None
        with self._lock:
            self.decoder.reset_link()
            self._stats.disconnects += 1
            next_sample = self.decoder.next_sample
        self._queue.put_many([Disconnected(self.port_name, reason, next_sample)])
        if not self.config.reconnect:
            return None
        c = self.config
        delay = c.backoff_initial_s
        t0 = time.monotonic()
        attempts = 0
        while not self._stop.wait(delay):
            attempts += 1
            try:
                ser = self._open()
            except (DeviceError, ConfigError):
                delay = min(delay * c.backoff_factor, c.backoff_max_s)
                continue
            self._serial = ser
            with self._lock:
                self._stats.reconnects += 1
            self._queue.put_many([Reconnected(self.port_name, attempts, time.monotonic() - t0)])
            return ser
        return None

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the reader and close the port. Events already queued stay available
        (:meth:`drain`). Idempotent."""
        self._stop.set()
        ser = self._serial
        if ser is not None:
            try:
                ser.cancel_read()
            except Exception:  # noqa: BLE001 - the port may be half-closed already
                pass
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)


def _quiet_close(ser) -> None:
    try:
        ser.close()
    except Exception:  # noqa: BLE001 - closing a port that already failed
        pass


# --- file replay ----------------------------------------------------------------------------------


class FileReplaySource(EventSource):
    """Events decoded from a byte file (e.g. a capture of a device's serial output), read in
    ``chunk_bytes`` pieces through the same decoder as a live port. Synchronous: events are
    decoded as they are asked for; the source ends at the end of the file."""

    def __init__(self, path: str | os.PathLike, decoder=None, *, chunk_bytes: int = 4096) -> None:
        if not (isinstance(chunk_bytes, int) and chunk_bytes >= 1):
            raise ConfigError(f"chunk_bytes must be an int >= 1, got {chunk_bytes!r}")
        self.path = Path(path)
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            raise RecordError(f"{self.path}: byte file to replay not found") from None
        except OSError as exc:
            raise RecordError(f"{self.path}: cannot read ({exc})") from exc
        self.decoder = decoder if decoder is not None else FrameDecoder()
        self.chunk_bytes = chunk_bytes
        self._lock = threading.Lock()
        self._stats = SourceStats()
        self._queue = _EventQueue(2**62, self._stats)  # unbounded: the consumer sets the pace

    def _fill(self) -> bool:
        """Decode chunks until some event is queued; False at end of file."""
        while self._file is not None:
            chunk = self._file.read(self.chunk_bytes)
            if not chunk:
                self.close()
                return False
            self._stats.bytes_read += len(chunk)
            events = self.decoder.feed(chunk)
            if events:
                self._queue.put_many(events)
                return True
        return False

    def get(self, timeout_s: float | None = None):
        ev = self._queue.get(0)
        if ev is None and self._fill():
            ev = self._queue.get(0)
        return ev

    def drain(self) -> list:
        while self._fill():
            pass
        return self._queue.drain()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._queue.finish()


class PushSource(EventSource):
    """A source your own code feeds: bytes from a BLE notification, a socket, a vendor driver.

    ``feed(data)`` decodes protocol bytes (binary frames, or text lines with a
    :class:`~edge_ecg.protocol.text.TextDecoder` as ``decoder``) and queues the events;
    ``put(event)`` queues a decoded event as is (a ``Descriptor``, ``DataBlock``, …);
    ``close()`` ends the stream once the queue is consumed. Thread-safe: feed from the
    callback thread while :meth:`StreamSession.run <edge_ecg.runtime.session.StreamSession.run>`
    consumes in another. When more than ``queue_events`` events wait, the oldest are dropped
    and counted, as a serial port's reader does (the stream then reports them lost)."""

    def __init__(self, decoder=None, *, queue_events: int = 4096) -> None:
        if isinstance(queue_events, bool) or not (isinstance(queue_events, int) and queue_events >= 1):
            raise ConfigError(f"queue_events must be an int >= 1, got {queue_events!r}")
        self.decoder = decoder if decoder is not None else FrameDecoder()
        self._stats = SourceStats()
        self._queue = _EventQueue(queue_events, self._stats)
        self._lock = threading.Lock()  # decoders keep state: one feed at a time

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ConfigError(f"feed() takes bytes, got {type(data).__name__}: decoded events go to put()")
        if self._queue.finished:
            raise ConfigError("feed() after close(): this source has ended")
        with self._lock:  # decode and queue in one step: two feeding threads keep their order
            self._stats.bytes_read += len(data)
            self._queue.put_many(self.decoder.feed(data))

    def put(self, event) -> None:
        if self._queue.finished:
            raise ConfigError("put() after close(): this source has ended")
        with self._lock:
            self._queue.put_many([event])

    def close(self) -> None:
        self._queue.finish()
