"""Per-window normalisation of model input (each lead of each window on its own).

Electrode contact, lead placement and amplifier gain change the ECG amplitude from one wearer
(and one hour) to the next; normalising each window on its own makes the model see shape, not
scale. The method is part of the model's contract and travels in the manifest
(``InputSpec.norm``, a method name; :class:`NormSpec` when the guard is not the default).

``zscore``      (x - mean) / (std + eps)
``median_iqr``  (x - median) / (IQR + eps)  — robust to a single tall artefact or pacing spike
``none``        unchanged

``eps`` (1 µV) keeps a flat window finite; the quality gate refuses flat windows before they get
here, so it only guards against division by zero.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_ecg.errors import ConfigError, SignalError

NORM_METHODS = ("zscore", "median_iqr", "none")
EPS = 1.0  # µV


@dataclass(frozen=True)
class NormSpec:
    """How windows are normalised: ``method`` from :data:`NORM_METHODS`, guard ``eps_uv`` (µV)."""

    method: str = "zscore"
    eps_uv: float = EPS

    def __post_init__(self):
        if self.method not in NORM_METHODS:
            raise ConfigError(f"normalisation {self.method!r}: expected one of {NORM_METHODS}")
        if not (isinstance(self.eps_uv, (int, float)) and math.isfinite(self.eps_uv) and self.eps_uv > 0):
            raise ConfigError(f"eps_uv must be > 0 µV, got {self.eps_uv!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | str) -> NormSpec:
        """From a manifest entry: the method name alone, or a dict of the fields."""
        if isinstance(d, str):
            return cls(method=d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown norm field(s) {unknown}; expected a subset of {sorted(known)}")
        return cls(**d)


def normalize_window(x: np.ndarray, method: str | NormSpec = "zscore") -> np.ndarray:
    """Normalise along the last axis (samples); any leading axes (batch, leads) are kept.

    ``x`` is in µV (``eps`` is in µV); returns float64 of the same shape, unitless except for
    ``none`` (µV, a copy).
    """
    spec = method if isinstance(method, NormSpec) else NormSpec.from_dict(method)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise SignalError(f"a window needs at least one sample along its last axis, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise SignalError("window holds NaN/inf samples")
    eps = spec.eps_uv
    if spec.method == "zscore":
        return (x - x.mean(axis=-1, keepdims=True)) / (x.std(axis=-1, keepdims=True) + eps)
    if spec.method == "median_iqr":
        q25, q50, q75 = np.percentile(x, [25, 50, 75], axis=-1, keepdims=True)
        return (x - q50) / (q75 - q25 + eps)
    return x.copy()
