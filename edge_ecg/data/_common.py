"""Small helpers shared by the dataset modules."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from edge_ecg.errors import ConfigError


def dataset_dir(data_dir: str | Path, folder: str, probe: str) -> Path:
    """``data_dir`` itself when it holds ``probe``, else ``data_dir/folder`` when that does:
    callers may pass a dataset's folder or the shared data root holding it."""
    d = Path(data_dir)
    if not (d / probe).exists() and (d / folder / probe).exists():
        return d / folder
    return d


def resample_ratio(fs_in_hz: float, fs_out_hz: float) -> tuple[int, int]:
    """(up, down) with ``fs_in * up / down == fs_out``; small integers only."""
    if not (fs_in_hz > 0 and fs_out_hz > 0):
        raise ConfigError(f"sampling rates must be > 0 Hz, got {fs_in_hz!r} -> {fs_out_hz!r}")
    ratio = Fraction(fs_out_hz / fs_in_hz).limit_denominator(1000)
    if abs(float(ratio) * fs_in_hz - fs_out_hz) > 1e-6 * fs_out_hz:
        raise ConfigError(
            f"cannot resample {fs_in_hz} Hz to {fs_out_hz} Hz with a ratio of small integers"
        )
    return ratio.numerator, ratio.denominator


def resample_poly_uv(x: np.ndarray, fs_in_hz: float, fs_out_hz: float) -> np.ndarray:
    """Whole-record polyphase resampling along axis 0 (scipy ``resample_poly``: linear phase,
    no delay). Output length ``ceil(n * up / down)``."""
    from scipy.signal import resample_poly

    if fs_in_hz == fs_out_hz:
        return np.asarray(x, dtype=np.float64)
    up, down = resample_ratio(fs_in_hz, fs_out_hz)
    return resample_poly(np.asarray(x, dtype=np.float64), up, down, axis=0)
