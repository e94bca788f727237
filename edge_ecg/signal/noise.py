"""Recorded noise added to an ECG in blocks, the way the MIT-BIH Noise Stress Test Database is
made (noise switched on and off every two minutes), at a chosen signal-to-noise ratio. Used to
make the training set's hard negatives and by the noise benchmark; numpy only."""

from __future__ import annotations

import numpy as np

from edge_ecg.errors import ConfigError


def noise_block_mask(n: int, fs_hz: float, *, block_s: float = 120.0, start_s: float = 0.0) -> np.ndarray:
    """Boolean ``(n,)``: ``True`` on the noisy blocks. Clean until ``start_s``, then noisy and clean
    blocks of ``block_s`` alternate, starting noisy (the NSTDB layout is ``start_s=300``)."""
    if not (block_s > 0 and start_s >= 0 and fs_hz > 0):
        raise ConfigError(f"block_s must be > 0 s, start_s >= 0 s and fs_hz > 0 Hz, got {block_s!r}, "
                          f"{start_s!r} and {fs_hz!r}")
    t = np.arange(n) / fs_hz - start_s
    return (t >= 0) & (np.floor(t / block_s).astype(np.int64) % 2 == 0)


def noise_gain(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Per lead, the gain ``g`` that makes the power of ``x`` over the power of ``g * noise`` (each
    over all its samples) ``snr_db``. ``x`` is ``(n,)`` or ``(n, leads)``; ``noise`` has the same
    shape (callers cut and tile it). A silent lead of ``x`` or ``noise`` is an error: no gain
    gives the ratio."""
    x = np.asarray(x, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)
    if noise.shape != x.shape:
        raise ConfigError(f"noise shape {noise.shape} differs from the signal's {x.shape}")
    p_sig, p_noise = np.mean(x**2, axis=0), np.mean(noise**2, axis=0)
    if not (np.all(p_sig > 0) and np.all(p_noise > 0)):
        raise ConfigError(f"signal power {p_sig!r} and noise power {p_noise!r} must be > 0 on every lead")
    return np.sqrt(p_sig / (p_noise * 10 ** (snr_db / 10)))


def add_noise(x: np.ndarray, noise: np.ndarray, gain, mask: np.ndarray | None = None) -> np.ndarray:
    """``x + gain * noise`` on the samples where ``mask`` holds (everywhere when ``None``);
    ``gain`` per lead, from :func:`noise_gain`."""
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(gain, dtype=np.float64)
    if mask is None:
        return x + g * noise
    m = np.asarray(mask, dtype=bool).reshape((-1,) + (1,) * (x.ndim - 1))
    return x + np.where(m, g * noise, 0.0)
