"""RR-interval features of a beat, shared by the datasets (offline) and the runtime (streaming).

For beat ``i`` with R peak at sample ``r[i]`` (sampling rate ``fs_hz``) the four features, in
seconds, are:

``pre_rr_s``     r[i] - r[i-1]
``post_rr_s``    r[i+1] - r[i]          (needs the next beat: the runtime waits for it)
``local_rr_s``   mean of the last ``local_beats`` pre-RR intervals, this beat's included
``avg_rr_s``     mean of all pre-RR intervals in the last ``avg_window_s`` seconds (causal),
                 or of the whole record when ``streaming=False``

With ``streaming=True`` nothing but ``post_rr_s`` looks past beat ``i``, and ``post_rr_s`` looks
exactly one beat ahead, so :class:`RRTracker` (beat by beat) and :func:`rr_features` (a whole
record) give identical numbers. Where an interval does not exist yet (the first beat, the last
beat) the nearest defined interval stands in; with none at all, ``default_rr_s``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from edge_ecg.errors import ConfigError

RR_FEATURE_NAMES = ("pre_rr_s", "post_rr_s", "local_rr_s", "avg_rr_s")


@dataclass(frozen=True)
class RRConfig:
    """How the RR features are computed; travels in the model manifest."""

    local_beats: int = 10
    avg_window_s: float = 300.0
    default_rr_s: float = 0.8

    def __post_init__(self):
        if self.local_beats < 1:
            raise ConfigError(f"local_beats must be >= 1, got {self.local_beats!r}")
        if not self.avg_window_s > 0:
            raise ConfigError(f"avg_window_s must be > 0 s, got {self.avg_window_s!r}")
        if not self.default_rr_s > 0:
            raise ConfigError(f"default_rr_s must be > 0 s, got {self.default_rr_s!r}")


def rr_features(
    r_samples: np.ndarray, fs_hz: float, *, streaming: bool = True, config: RRConfig = RRConfig()
) -> np.ndarray:
    """RR features (seconds) of every beat of a record; shape ``(n_beats, 4)``, see module doc."""
    if not fs_hz > 0:
        raise ConfigError(f"fs_hz must be > 0, got {fs_hz!r}")
    r = np.asarray(r_samples, dtype=np.int64)
    n = r.size
    out = np.empty((n, 4), dtype=np.float64)
    if n == 0:
        return out
    if np.any(np.diff(r) <= 0):
        raise ConfigError("r_samples must be strictly increasing sample indices")
    if streaming:
        tracker = RRTracker(fs_hz, config)
        rows = [row for s in r for row in tracker.push(int(s))]
        rows.extend(tracker.flush())
        return np.asarray(rows, dtype=np.float64).reshape(n, 4)
    rr = np.diff(r) / fs_hz
    if rr.size == 0:
        out[:] = config.default_rr_s
        return out
    pre = np.concatenate([[rr[0]], rr])
    post = np.concatenate([rr, [rr[-1]]])
    k = config.local_beats
    c = np.concatenate([[0.0], np.cumsum(pre)])
    idx = np.arange(n)
    lo = np.maximum(0, idx - k + 1)
    local = (c[idx + 1] - c[lo]) / (idx + 1 - lo)
    out[:, 0], out[:, 1], out[:, 2] = pre, post, local
    out[:, 3] = rr.mean()
    return out


class RRTracker:
    """Streaming RR features: push R-peak sample indices in order, get each beat's features
    once the next beat has arrived (``flush`` emits the last one at end of stream)."""

    def __init__(self, fs_hz: float, config: RRConfig = RRConfig()):
        if not fs_hz > 0:
            raise ConfigError(f"fs_hz must be > 0, got {fs_hz!r}")
        self.fs_hz = float(fs_hz)
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._pending: int | None = None  # R sample of the beat waiting for its successor
        self._pending_pre: float | None = None
        self._local: deque[float] = deque(maxlen=self.config.local_beats)
        self._window: deque[tuple[int, float]] = deque()  # (r_sample, pre_rr_s) in avg window
        self._window_sum = 0.0
        self._last_rr: float | None = None

    def _avg(self, now: int) -> float:
        horizon = now - int(round(self.config.avg_window_s * self.fs_hz))
        while self._window and self._window[0][0] < horizon:
            self._window_sum -= self._window.popleft()[1]
        if not self._window:
            return self._last_rr if self._last_rr is not None else self.config.default_rr_s
        return self._window_sum / len(self._window)

    def _emit(self, post: float) -> list[float]:
        r = self._pending
        pre = self._pending_pre if self._pending_pre is not None else post
        if self._pending_pre is None:
            # first beat: its missing pre-RR is stood in by the post-RR (as offline does)
            self._local.append(pre)
        local = sum(self._local) / len(self._local)
        return [pre, post, local, self._avg(r)]

    def push(self, r_sample: int) -> list[list[float]]:
        """Add the next R peak; returns the features of the previous beat (0 or 1 rows)."""
        if self._pending is None:
            self._pending = r_sample
            return []
        if r_sample <= self._pending:
            raise ConfigError(
                f"R peaks must arrive in increasing order: {r_sample} after {self._pending}"
            )
        rr = (r_sample - self._pending) / self.fs_hz
        self._last_rr = rr
        if self._pending_pre is None:
            self._window.append((self._pending, rr))
            self._window_sum += rr
        row = self._emit(rr)
        # the new beat's pre-RR enters the causal statistics before it is emitted
        self._local.append(rr)
        self._window.append((r_sample, rr))
        self._window_sum += rr
        self._pending, self._pending_pre = r_sample, rr
        return [row]

    def flush(self) -> list[list[float]]:
        """Emit the last beat (its post-RR stood in by its pre-RR)."""
        if self._pending is None:
            return []
        if self._pending_pre is None:
            d = self.config.default_rr_s
            row = [d, d, d, d]
        else:
            row = self._emit(self._pending_pre)
        self._pending = None
        self._pending_pre = None
        return [row]
