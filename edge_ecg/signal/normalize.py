"""Per-window normalisation of model input (each lead of each window on its own).

``zscore``      (x - mean) / (std + eps)
``median_iqr``  (x - median) / (IQR + eps)  — robust to a single tall artefact
``none``        unchanged

``eps`` (1 µV) keeps a flat window finite; the quality gate refuses flat windows before they get
here, so it only guards against division by zero.
"""

from __future__ import annotations

import numpy as np

from edge_ecg.errors import ConfigError

NORM_METHODS = ("zscore", "median_iqr", "none")
EPS = 1.0


def normalize_window(x: np.ndarray, method: str = "zscore") -> np.ndarray:
    """Normalise along the last axis (samples); any leading axes (batch, leads) are kept."""
    x = np.asarray(x, dtype=np.float64)
    if method == "zscore":
        return (x - x.mean(axis=-1, keepdims=True)) / (x.std(axis=-1, keepdims=True) + EPS)
    if method == "median_iqr":
        q25, q50, q75 = np.percentile(x, [25, 50, 75], axis=-1, keepdims=True)
        return (x - q50) / (q75 - q25 + EPS)
    if method == "none":
        return x
    raise ConfigError(f"normalisation {method!r}: expected one of {NORM_METHODS}")
