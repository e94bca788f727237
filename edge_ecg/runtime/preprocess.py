"""The one function that turns filtered µV windows into model input, shared by training and the
runtime so that the model sees on the device exactly what it saw in training."""

from __future__ import annotations

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
