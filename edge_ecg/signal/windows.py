"""Streaming windowing with absolute sample indices: fixed windows and beat-centred windows.

Every index here counts samples since the start of the stream (sample 0 is the first sample
ever pushed), so a window, an R peak and a device timestamp can be related without drift:
``time_s = index / fs_hz``.

* :class:`RingBuffer` — the last ``capacity`` samples of ``n_channels`` channels, addressed by
  absolute index.
* :class:`FixedWindower` — windows of ``window_len`` samples every ``hop`` samples
  (``[0, L), [hop, hop + L), …``), emitted as soon as their last sample arrives.
* :class:`BeatWindower` — ``[r - before, r + after)`` around each R peak, cut from a
  :class:`RingBuffer` once the buffer holds the window's last sample.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from edge_ecg.errors import ConfigError, SignalError
from edge_ecg.signal.filters import as_samples


def _positive_int(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class RingBuffer:
    """Fixed-capacity sample store with absolute indexing (float64, ``(capacity, n_channels)``).

    ``start`` is the oldest index still held, ``end`` one past the newest; ``get(a, b)`` returns
    samples ``[a, b)`` as a ``(b - a, n_channels)`` copy.
    """

    def __init__(self, capacity: int, n_channels: int = 1):
        self.capacity = _positive_int("capacity", capacity)
        self.n_channels = _positive_int("n_channels", n_channels)
        self._data = np.zeros((self.capacity, self.n_channels))
        self.end = 0

    @property
    def start(self) -> int:
        return max(0, self.end - self.capacity)

    def __len__(self) -> int:
        return self.end - self.start

    def append(self, x: np.ndarray) -> None:
        """Append ``(n, C)`` (or ``(n,)`` for one channel) samples; the oldest fall out."""
        arr = as_samples(x, self.n_channels)
        n = arr.shape[0]
        if n == 0:
            return
        if n >= self.capacity:
            arr = arr[-self.capacity :]
            self.end += n - self.capacity
            n = self.capacity
        pos = (self.end + np.arange(n)) % self.capacity
        self._data[pos] = arr
        self.end += n

    def get(self, a: int, b: int) -> np.ndarray:
        """Samples ``[a, b)`` (absolute indices); :class:`SignalError` if not all are held."""
        if not self.start <= a <= b <= self.end:
            raise SignalError(
                f"samples [{a}, {b}) are not in the buffer, which holds [{self.start}, {self.end})"
            )
        return self._data[np.arange(a, b) % self.capacity]

    def has(self, a: int, b: int) -> bool:
        return self.start <= a <= b <= self.end


class FixedWindower:
    """Cut ``window_len``-sample windows every ``hop`` samples from a stream of chunks.

    ``push(x)`` returns ``[(start_sample, window), …]`` for every window completed by ``x``,
    ``window`` being ``(window_len, n_channels)`` float64. ``hop > window_len`` skips samples.
    """

    def __init__(self, window_len: int, hop: int, n_channels: int = 1):
        self.window_len = _positive_int("window_len", window_len)
        self.hop = _positive_int("hop", hop)
        self.n_channels = _positive_int("n_channels", n_channels)
        self.reset()

    @classmethod
    def from_seconds(cls, length_s: float, hop_s: float, fs_hz: float, n_channels: int = 1) -> FixedWindower:
        """Windows of ``length_s`` every ``hop_s`` at ``fs_hz`` (rounded to whole samples)."""
        if not (math.isfinite(fs_hz) and fs_hz > 0):
            raise ConfigError(f"fs_hz must be > 0, got {fs_hz!r}")
        return cls(int(round(length_s * fs_hz)), int(round(hop_s * fs_hz)), n_channels)

    def reset(self) -> None:
        self._n = 0  # samples pushed so far
        self._next = 0  # start of the next window
        self._buf = np.zeros((0, self.n_channels))  # samples [_buf_start, _n)
        self._buf_start = 0

    def push(self, x: np.ndarray) -> list[tuple[int, np.ndarray]]:
        arr = as_samples(x, self.n_channels)
        self._buf = np.concatenate([self._buf, arr], axis=0)
        self._n += arr.shape[0]
        out = []
        while self._next + self.window_len <= self._n:
            a = self._next - self._buf_start
            out.append((self._next, self._buf[a : a + self.window_len].copy()))
            self._next += self.hop
        keep = min(self._next, self._n)
        self._buf = self._buf[keep - self._buf_start :]
        self._buf_start = keep
        return out


@dataclass(frozen=True)
class BeatWindows:
    """Windows cut by :meth:`BeatWindower.pop_ready`: ``peaks`` (absolute R indices, int64),
    ``windows`` ``(len(peaks), before + after, n_channels)``; ``dropped`` are R peaks whose window
    can never be cut (it starts before the stream or before the oldest buffered sample, or the
    stream ended first)."""

    peaks: np.ndarray
    windows: np.ndarray
    dropped: np.ndarray


class BeatWindower:
    """Beat-centred windows ``[r - before, r + after)`` cut from a :class:`RingBuffer`.

    Push R peaks (absolute sample indices, increasing) with :meth:`push_peaks`; each call to
    :meth:`pop_ready` returns the windows whose last sample the buffer now holds, in order.
    """

    def __init__(self, before: int, after: int):
        self.before = _positive_int("before", before, minimum=0)
        self.after = _positive_int("after", after)
        self._pending: deque[int] = deque()
        self._last = -1

    @classmethod
    def from_seconds(cls, before_s: float, after_s: float, fs_hz: float) -> BeatWindower:
        if not (math.isfinite(fs_hz) and fs_hz > 0):
            raise ConfigError(f"fs_hz must be > 0, got {fs_hz!r}")
        return cls(int(round(before_s * fs_hz)), int(round(after_s * fs_hz)))

    @property
    def length(self) -> int:
        return self.before + self.after

    @property
    def pending(self) -> int:
        return len(self._pending)

    def push_peaks(self, peaks: np.ndarray | list[int]) -> None:
        for r in np.asarray(peaks, dtype=np.int64).reshape(-1).tolist():
            if r <= self._last:
                raise SignalError(f"R peaks must increase: {r} after {self._last}")
            self._pending.append(r)
            self._last = r

    def pop_ready(self, ring: RingBuffer, *, final: bool = False) -> BeatWindows:
        """Cut every pending window the buffer can serve; ``final`` drops the rest."""
        ready, wins, dropped = [], [], []
        while self._pending:
            r = self._pending[0]
            a, b = r - self.before, r + self.after
            if a < ring.start:
                dropped.append(self._pending.popleft())
                continue
            if b > ring.end:
                break
            self._pending.popleft()
            ready.append(r)
            wins.append(ring.get(a, b))
        if final:
            dropped.extend(self._pending)
            self._pending.clear()
        windows = np.stack(wins) if wins else np.zeros((0, self.length, ring.n_channels))
        return BeatWindows(
            peaks=np.asarray(ready, dtype=np.int64),
            windows=windows,
            dropped=np.asarray(dropped, dtype=np.int64),
        )
