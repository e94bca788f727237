"""Per-wearer beat context: the running beat template, and the lead's polarity.

Template: the element-wise median of the previous beat windows.

A beat classifier trained on other patients judges a beat's shape against what it learnt a normal
beat looks like; a wearer whose normal beats look unusual (an inverted hand-held lead, a bundle
branch block, another electrode position) then gets false ventricular calls. Given next to each
beat the median of the same wearer's previous ``n_beats`` windows, the model can judge the beat
against that wearer's own usual beat instead. The median, not the mean, so that isolated ectopic
beats do not shape the template.

Causal and per segment: the template of a beat is built from beats before it only, and starts
empty (zeros) at the start of a record or after a gap, exactly as the runtime sees it.
:func:`template_windows` runs the same :class:`BeatTemplate` over a record's windows offline.

Polarity: a hand-held device or a chest strap may record the lead the other way round, and a beat
model trained on upright QRS complexes then calls every inverted normal beat ventricular.
:class:`Polarity` flips a lead when the median deflection at R of its last ``n_beats`` beats (the
current one included) is negative, so that the model sees the wearer's usual beats upright
whichever way the electrodes sit; ectopic beats of the other polarity stay the other polarity
relative to them. :func:`polarity_signs` is the same offline.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from edge_ecg.errors import ConfigError, SignalError


class _RecentBeats:
    """The last ``n_beats`` arrays pushed for one wearer's segment (``what`` names the option in
    errors)."""

    what = "recent-beats"

    def __init__(self, n_beats: int):
        if not (isinstance(n_beats, int) and n_beats >= 1):
            raise ConfigError(f"{self.what} n_beats must be an int >= 1, got {n_beats!r}")
        self._last: deque[np.ndarray] = deque(maxlen=n_beats)

    def reset(self) -> None:
        """Forget every beat (a new segment: record start, or after a gap)."""
        self._last.clear()


class BeatTemplate(_RecentBeats):
    """Median of the last ``n_beats`` windows pushed, per lead and sample."""

    what = "template"

    def next(self, window: np.ndarray) -> np.ndarray:
        """The template for ``window`` (``(leads, length)`` µV), built from the windows pushed
        before it (zeros when there are none); then ``window`` joins the history."""
        w = np.asarray(window, dtype=np.float64)
        if w.ndim != 2:
            raise SignalError(f"a beat window is (leads, length), got shape {w.shape}")
        if self._last and self._last[0].shape != w.shape:
            raise SignalError(f"beat window shape {w.shape} differs from the template's {self._last[0].shape}")
        out = np.median(np.stack(self._last), axis=0) if self._last else np.zeros_like(w)
        self._last.append(w.copy())
        return out


def template_windows(windows: np.ndarray, n_beats: int, segment: np.ndarray | None = None) -> np.ndarray:
    """Templates of ``windows`` (``(n, leads, length)``, in time order): row ``i`` is the median of
    the up to ``n_beats`` rows before it in the same ``segment`` (a label per row, e.g. the record
    name; default one segment). Same dtype and shape as ``windows``."""
    w = np.asarray(windows)
    if w.ndim != 3:
        raise SignalError(f"beat windows are (n, leads, length), got shape {w.shape}")
    return _per_segment(BeatTemplate(n_beats), w, segment)


class Polarity(_RecentBeats):
    """Sign (+1 / -1 per lead) that makes the median R deflection of the last ``n_beats`` beats
    positive."""

    what = "polarity"

    def next(self, r_uv: np.ndarray) -> np.ndarray:
        """Push this beat's value at R per lead (µV, filtered); returns the sign per lead."""
        self._last.append(np.atleast_1d(np.asarray(r_uv, dtype=np.float64)).copy())
        return np.where(np.median(np.stack(self._last), axis=0) < 0, -1.0, 1.0)


def polarity_signs(r_uv: np.ndarray, n_beats: int, segment: np.ndarray | None = None) -> np.ndarray:
    """Signs ``(n, leads)`` for beats whose values at R are ``r_uv`` ``(n, leads)``, in time
    order, restarted where ``segment`` changes (as :func:`template_windows`)."""
    r = np.asarray(r_uv, dtype=np.float64)
    if r.ndim != 2:
        raise SignalError(f"R values are (n, leads), got shape {r.shape}")
    return _per_segment(Polarity(n_beats), r, segment)


def _per_segment(tracker, rows: np.ndarray, segment: np.ndarray | None) -> np.ndarray:
    """``tracker.next`` over ``rows`` in order, reset where ``segment`` changes; the outputs
    stacked like ``rows``."""
    seg = np.zeros(len(rows), dtype=np.int64) if segment is None else np.asarray(segment)
    if seg.shape != (len(rows),):
        raise SignalError(f"segment has shape {seg.shape}, expected ({len(rows)},)")
    out = np.empty_like(rows)
    for i in range(len(rows)):
        if i == 0 or seg[i] != seg[i - 1]:
            tracker.reset()
        out[i] = tracker.next(rows[i])
    return out
