"""Where stream results go: JSON lines (file or stdout), a callback, a live plot.

Also the two helpers every command that writes a results file uses (``stream --jsonl``,
``ec57 --json``, ``simulate --fault-log``): :func:`prepare_output_file` (checked before any work
starts, missing parent folders created, as ``bench --json`` does) and :func:`dumps_strict`
(standard JSON: a NaN/inf score is written as ``null``, never as the bare ``NaN`` that strict
parsers reject). This module imports nothing heavy, so the simulator can use them too.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from edge_ecg.errors import ConfigError

if TYPE_CHECKING:  # annotations only: keeps this module importable without the classifier
    from edge_ecg.runtime.stream import StreamResult


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±inf; Python or numpy) replaced by ``None``,
    numpy scalars and arrays turned into Python numbers and lists, tuples into lists. Dicts and
    lists are copied, never changed in place."""
    if isinstance(obj, float):  # also numpy.float64, a float subclass
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy scalar or array, without importing numpy
        return json_safe(obj.tolist())
    return obj


def dumps_strict(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`json_safe` ``(obj)`` with ``allow_nan=False``: the text is standard
    JSON (non-finite numbers become ``null``), and a value the sanitiser missed raises
    ``ValueError`` instead of writing ``NaN``. ``kwargs`` go to ``json.dumps`` (``indent``, ...)."""
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


def prepare_output_file(path: str | Path, option: str) -> Path:
    """Check, before any work is done, that a results file can be written at ``path``; return it.

    Missing parent folders are created (like ``bench --json``). An existing file is left as it
    is (neither truncated nor appended to); a file that did not exist is not left behind.
    Raises :class:`ConfigError` naming ``option`` (e.g. ``"--json"``) and the path when it is a
    folder, when a parent is a file, or when the file cannot be created or written."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{option} {p} is a directory; expected a file path")
    blocker = next((a for a in p.parents if a.exists() or a.is_symlink()), None)
    if blocker is not None and not blocker.is_dir():
        raise ConfigError(f"{option} {p}: {blocker} exists and is not a folder")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {p}: cannot create its folder {p.parent}: {exc.strerror or exc}") from exc
    if p.exists() and not p.is_file():
        # /dev/stdout, a FIFO...: opening one to probe it could block until a reader comes
        if not os.access(p, os.W_OK):
            raise ConfigError(f"{option} {p}: cannot write there: permission denied")
        return p
    existed = p.exists() or p.is_symlink()  # a dangling link is not ours to remove
    try:
        with open(p, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ConfigError(f"{option} {p}: cannot write there: {exc.strerror or exc}") from exc
    if not existed:
        p.unlink(missing_ok=True)
    return p


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
            path = prepare_output_file(target, "--jsonl")
            try:
                self._f = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed in close()
            except OSError as exc:  # lost a race with prepare_output_file's check
                raise ConfigError(f"--jsonl {path}: cannot write there: {exc.strerror or exc}") from exc
            self._own = True
        else:
            self._f, self._own = target, False

    def write(self, result: StreamResult) -> None:
        self._f.write(dumps_strict(result.to_json_dict(), separators=(",", ":")) + "\n")
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
