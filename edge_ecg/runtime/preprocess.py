"""The one function that turns filtered µV windows into model input, shared by training and the
runtime so that the model sees on the device what it saw in training. (The runtime also notches
the mains frequencies, :data:`~edge_ecg.signal.filters.MAINS_HZ`, which training data, free of
hum, does not need: the notched and unnotched labels of DS1 agree on 99.67 % of beats.)"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from edge_ecg.deploy.manifest import InputSpec
from edge_ecg.signal.filters import FilterSpec, filter_causal
from edge_ecg.signal.normalize import normalize_window


def causal_filter_fn(spec: FilterSpec, mains_hz: tuple[float, ...] = ()) -> Callable[[np.ndarray, float], np.ndarray]:
    """``f(signal, fs_hz)``: the runtime's causal filter applied to a whole record at once (equal
    to the streaming filter fed chunk by chunk). ``mains_hz``: mains notches before it; the default
    ``()`` is the training front end, the runtime's is :data:`~edge_ecg.signal.filters.MAINS_HZ`."""

    def apply(x: np.ndarray, fs_hz: float) -> np.ndarray:
        return filter_causal(x, spec, fs_hz, mains_hz=mains_hz)

    return apply


def model_inputs(windows_uv: np.ndarray, spec: InputSpec) -> np.ndarray:
    """``(batch, leads, length)`` filtered µV windows → float32 model input (per-window
    normalisation of each lead, as the manifest says)."""
    w = np.asarray(windows_uv, dtype=np.float64)
    return normalize_window(w, spec.norm).astype(np.float32)


def load_beats_for(spec: InputSpec, records, data_dir, *, margin_s: float = 0.0, lead: str | None = None):
    """MIT-BIH beats cut the way the runtime cuts them for ``spec``: its lead, rate, causal
    filter (run over each whole record; without the runtime's mains notches), beat window — widened by ``margin_s`` on each side for
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
    if spec.template_beats or spec.polarity_beats:
        r_index = int(round((spec.beat.before_s + margin_s) * spec.fs_hz))
        beats = dataclasses.replace(beats, x=with_beat_context(beats.x, spec, r_index, beats.record))
    return beats, side


def detected_beats(x_uv: np.ndarray, fs_hz: float, spec: InputSpec, *, margin: int = 0):
    """The runtime's beat front end over a whole filtered lead ``x_uv`` at the model rate: its QRS
    detector, the beat window around each detected R (``margin`` extra samples on each side, for
    training-time jitter) with the wearer's context the manifest asks for, and the causal RR
    features of the detected beats, encoded (shape ``(n, 0)`` for a model without side input).
    Returns ``(r, windows, side)``."""
    from edge_ecg.data.mitdb import cut_windows
    from edge_ecg.models.side import SideSpec, encode_side
    from edge_ecg.signal.qrs import detect_qrs
    from edge_ecg.signal.rr import RRConfig, rr_features

    r = detect_qrs(x_uv, fs_hz)
    before = int(round(spec.beat.before_s * fs_hz))
    windows = with_beat_context(cut_windows(x_uv, r, before + margin, spec.length - before + margin), spec,
                                before + margin)
    side = np.zeros((len(r), 0), np.float32)
    if spec.side_groups:
        rr = rr_features(r, fs_hz, config=RRConfig(**spec.rr) if spec.rr else RRConfig())
        side = encode_side(rr=rr.astype(np.float32), spec=SideSpec(spec.side_groups))
    return r, windows, side


def with_beat_context(windows_uv: np.ndarray, spec: InputSpec, r_index: int,
                      segment: np.ndarray | None = None) -> np.ndarray:
    """What ``spec`` asks of the wearer's previous beats (:mod:`edge_ecg.signal.template`), applied
    to ``(n, leads, length)`` beat windows in time order whose R is at column ``r_index``,
    restarted where ``segment`` changes: each lead flipped to its usual upright polarity, then
    its running template appended after the leads (``(n, 2 * leads, length)``)."""
    from edge_ecg.signal.template import polarity_signs, template_windows

    w = windows_uv
    if spec.polarity_beats:
        w = w * polarity_signs(w[:, :, r_index], spec.polarity_beats, segment)[:, :, None].astype(w.dtype)
    if spec.template_beats:
        w = np.concatenate([w, template_windows(w, spec.template_beats, segment)], axis=1)
    return w
