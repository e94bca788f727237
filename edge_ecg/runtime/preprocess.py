"""The one function that turns filtered µV windows into model input, shared by training and the
runtime so that the model sees on the device exactly what it saw in training."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from edge_ecg.deploy.manifest import InputSpec
from edge_ecg.signal.filters import FilterSpec, filter_causal
from edge_ecg.signal.normalize import normalize_window


def causal_filter_fn(spec: FilterSpec) -> Callable[[np.ndarray, float], np.ndarray]:
    """``f(signal, fs_hz)``: the runtime's causal filter applied to a whole record at once
    (equal to the streaming filter fed chunk by chunk)."""

    def apply(x: np.ndarray, fs_hz: float) -> np.ndarray:
        return filter_causal(x, spec, fs_hz)

    return apply


def model_inputs(windows_uv: np.ndarray, spec: InputSpec) -> np.ndarray:
    """``(batch, leads, length)`` filtered µV windows → float32 model input (per-window
    normalisation of each lead, as the manifest says)."""
    w = np.asarray(windows_uv, dtype=np.float64)
    return normalize_window(w, spec.norm).astype(np.float32)


def load_beats_for(spec: InputSpec, records, data_dir, *, margin_s: float = 0.0, lead: str | None = None):
    """MIT-BIH beats cut the way the runtime cuts them for ``spec``: its lead, rate, causal
    filter (run over each whole record), beat window — widened by ``margin_s`` on each side for
    training-time jitter — and causal RR features. Returns ``(beats, side)``: the
    :class:`~edge_ecg.data.mitdb.BeatSet` (all AAMI beats) and its encoded side input
    (shape ``(n, 0)`` for a model without one). ``lead``: the records' channel to use (default:
    the manifest's lead). Needs wfdb (the ``train`` extra)."""
    from edge_ecg.data.mitdb import BeatWindowConfig, load_beats
    from edge_ecg.models.side import SideSpec, encode_side

    beats = load_beats(
        records, data_dir, fs_hz_out=spec.fs_hz, lead=lead or spec.leads[0],
        window=BeatWindowConfig(before_s=spec.beat.before_s + margin_s, after_s=spec.beat.after_s + margin_s),
        filter_fn=causal_filter_fn(spec.filter), streaming_rr=True,
    )
    side = (encode_side(rr=beats.rr, spec=SideSpec(spec.side_groups)) if spec.side_groups
            else np.zeros((len(beats), 0), np.float32))
    if spec.template_beats:
        beats = dataclasses.replace(beats, x=with_templates(beats.x, spec, beats.record))
    return beats, side


def with_templates(windows_uv: np.ndarray, spec: InputSpec, segment: np.ndarray | None = None) -> np.ndarray:
    """``(n, leads, length)`` beat windows in time order → ``(n, 2 * leads, length)``: each
    lead's running template (:func:`edge_ecg.signal.template.template_windows`, restarted where
    ``segment`` changes) appended after the leads, when ``spec`` asks for templates."""
    if not spec.template_beats:
        return windows_uv
    from edge_ecg.signal.template import template_windows

    return np.concatenate([windows_uv, template_windows(windows_uv, spec.template_beats, segment)], axis=1)
