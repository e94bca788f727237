"""Where stream results go: JSON lines (file or stdout), a callback, a live plot."""

from __future__ import annotations

import json
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from edge_ecg.errors import ConfigError
from edge_ecg.runtime.stream import StreamResult


class Sink:
    def write(self, result: StreamResult) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def samples(self, first_sample: int, uv) -> None:
        """Raw µV of the classified leads (only the plot wants them)."""

    def close(self) -> None:
        pass


class JsonlSink(Sink):
    """One JSON object per line. Files are opened for *append* (a restart never truncates what
    an earlier run wrote) and line-buffered with a flush after every line, so a killed process
    loses at most the line being written."""

    def __init__(self, target: str | Path | TextIO):
        if isinstance(target, (str, Path)):
            path = Path(target)
            if path.is_dir():
                raise ConfigError(f"--jsonl {path} is a directory; expected a file path")
            self._f = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed in close()
            self._own = True
        else:
            self._f, self._own = target, False

    def write(self, result: StreamResult) -> None:
        self._f.write(json.dumps(result.to_json_dict(), separators=(",", ":")) + "\n")
        self._f.flush()

    def close(self) -> None:
        if self._own:
            self._f.close()


class CallbackSink(Sink):
    def __init__(self, fn: Callable[[StreamResult], None]):
        self.fn = fn

    def write(self, result: StreamResult) -> None:
        self.fn(result)


class PlotSink(Sink):
    """Live matplotlib view of the last ``seconds`` of the first classified lead, with labels."""

    def __init__(self, fs_hz: float, seconds: float = 8.0, refresh_s: float = 0.25):
        from edge_ecg.errors import require

        self.plt = require("matplotlib.pyplot", "plot")
        self.fs = fs_hz
        self.n = int(seconds * fs_hz)
        self.sig: deque[float] = deque(maxlen=self.n)
        self.end = 0
        self.labels: deque[StreamResult] = deque(maxlen=64)
        self.refresh_s = refresh_s
        self._last = 0.0
        self.plt.ion()
        self.fig, self.ax = self.plt.subplots(figsize=(10, 3))
        (self.line,) = self.ax.plot([], [], lw=0.8)
        self.ax.set_xlabel("device time (s)")
        self.ax.set_ylabel("µV")

    def samples(self, first_sample: int, uv) -> None:
        self.sig.extend(float(v) for v in uv[:, 0])
        self.end = first_sample + len(uv)
        self._redraw()

    def write(self, result: StreamResult) -> None:
        self.labels.append(result)

    def _redraw(self) -> None:
        import time

        now = time.monotonic()
        if now - self._last < self.refresh_s:
            return
        self._last = now
        import numpy as np

        y = np.asarray(self.sig)
        t = (self.end - len(y) + np.arange(len(y))) / self.fs
        self.line.set_data(t, y)
        for txt in list(self.ax.texts):
            txt.remove()
        if len(y):
            self.ax.set_xlim(t[0], t[-1] + 1e-9)
            lo, hi = float(y.min()), float(y.max())
            self.ax.set_ylim(lo - 50, hi + 150)
            for r in self.labels:
                if t[0] <= r.time_s <= t[-1]:
                    self.ax.text(r.time_s, hi + 50, r.label if r.quality == "ok" else "?", ha="center",
                                 color="red" if r.label not in ("N", "?") else "black")
        self.fig.canvas.draw_idle()
        self.plt.pause(0.001)

    def close(self) -> None:
        self.plt.close(self.fig)


def stdout_sink() -> JsonlSink:
    return JsonlSink(sys.stdout)
