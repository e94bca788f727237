"""Signal-quality indices (SQI) of one ECG window, and the accept/reject decision built on them.

A classifier fed electrode motion or muscle noise still outputs a label; the quality gate is what
turns such windows into "unreadable" instead. :func:`assess` computes, on one window of one lead
in µV (raw, or after the causal front-end filter):

``ptp_uv``          peak-to-peak after a 1 Hz high-pass (zero phase within the window): a flat
                    line (no electrode, no ECG) is below ``flat_ptp_uv``; an implausibly large
                    swing (a cable tug, a defibrillation-like transient) above ``max_ptp_uv``
``std_uv``          standard deviation after the same high-pass (flat if below ``flat_std_uv``)
``kurtosis``        median over ``kurtosis_segment_s`` segments of the (Pearson) kurtosis of the
                    1-40 Hz band. ECG is a train of sharp QRS spikes on a quiet baseline (kurtosis
                    ~ 8-30); electrode motion, muscle and baseline noise are Gaussian-like (~ 3-5).
                    The median over short segments ignores a single noise burst in a clean window
                    and a single spike in a noisy one, which a whole-window kurtosis does not.
``hf_ratio``        power above ``hf_cutoff_hz`` over power above 0.5 Hz (Welch): muscle artefact.
                    Only meaningful on windows not already low-passed below ``hf_cutoff_hz`` (the
                    runtime's 40 Hz front end removes this band; ``kurtosis`` still sees muscle)
``qrs_band_ratio``  power in 5-15 Hz over power in 5-40 Hz (Welch): the QRS band against muscle
                    noise, which spreads to 40 Hz and beyond (clean ECG ~0.75, muscle ~0.15)
``saturation``      fraction of samples at the ADC rails (``counts`` and ``rails_counts`` given),
                    and the longest run of samples stuck at the window's extreme count
``lead_off``        the device's lead-off flag, passed through

Measured on real recordings, 10 s windows, raw or after the runtime's causal 0.5-40 Hz filter
(``tests/test_signal.py::test_quality_on_real_recordings`` has the table and asserts bounds):
MIT-BIH DS1 accepted 97.6-98.7 % (the rejects are mostly real: 207's ventricular flutter, 108's
noisy minutes, runs of wide PVCs), DS2 99.1-99.4 %; NSTDB noise-only recordings rejected: ``ma``
97.5-98.9 %, ``bw`` 98.6-99.2 %, ``em`` 83.1-85.6 %; the 0 dB record ``118e00``: its noisy
segments rejected 87.5-91.7 %, its clean segments all accepted.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import signal as sps

from edge_ecg.errors import ConfigError, SignalError
from edge_ecg.signal.filters import _check_fs

REASONS = ("lead_off", "saturation", "flat", "amplitude", "low_kurtosis", "qrs_band", "hf_noise")
# The indices that measure noise (statistics of the waveform) rather than a fault of the lead. One
# lead of a 12-lead ECG can fail them with no noise at all: a lead whose axis sees a small or
# biphasic QRS (often III, aVL, V3) has a low kurtosis.
NOISE_REASONS = ("low_kurtosis", "qrs_band", "hf_noise")
# A multi-lead window is noisy when more than this share of its leads fail the noise indices.
# Chosen on the shared CinC 2021 12-lead records with NSTDB noise (clean windows accepted 66 % ->
# 92 %, noise-only windows still rejected >= 97.5 %), checked on the CPSC 2018 records with noise
# no choice saw (72.7 % -> 90.9 %; noise-only 100 %). With 1 or 2 leads any failing lead counts.
MAX_NOISY_LEAD_FRACTION = 1 / 3


@dataclass(frozen=True)
class QualityThresholds:
    """Limits of :func:`assess` (µV, seconds, Hz, ratios). ``None`` disables a check.

    Defaults were set on MIT-BIH (clean) against the MIT-BIH Noise Stress Test recordings:
    ``kurtosis_min = 5`` sits below the 3rd percentile of clean 10 s windows (5.5; median 11)
    and above the medians of the noise recordings (electrode motion 3.5, muscle 4.8, baseline
    wander 3.0); 0.1 mV is the smallest QRS a classifier can
    use; 10 mV peak-to-peak exceeds any surface ECG; ``hf_ratio_max = 0.08`` is ~5x the 95th
    percentile of clean MIT-BIH (0.017) and below the median of muscle noise (0.11);
    ``qrs_band_ratio_min = 0.3`` is below the 5th percentile of clean windows (0.45) and above the
    95th of muscle noise (0.26).
    """

    flat_ptp_uv: float | None = 100.0
    flat_std_uv: float | None = 10.0
    max_ptp_uv: float | None = 10_000.0
    kurtosis_min: float | None = 5.0
    kurtosis_segment_s: float = 2.0
    qrs_band_ratio_min: float | None = 0.3
    hf_cutoff_hz: float = 40.0
    hf_ratio_max: float | None = 0.08
    saturation_fraction_max: float | None = 0.01
    saturation_run_s: float | None = 0.05

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                if f.name in ("kurtosis_segment_s", "hf_cutoff_hz"):
                    raise ConfigError(f"{f.name} cannot be None")
                continue
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{f.name} must be > 0 (or None to disable), got {value!r}")
        if self.hf_ratio_max is not None and not self.hf_ratio_max < 1:
            raise ConfigError(f"hf_ratio_max must be < 1, got {self.hf_ratio_max!r}")
        if self.saturation_fraction_max is not None and not self.saturation_fraction_max < 1:
            raise ConfigError(f"saturation_fraction_max must be < 1, got {self.saturation_fraction_max!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class QualityReport:
    """``ok`` unless some check failed; ``reasons`` name the failed checks (see :data:`REASONS`);
    ``sqi`` holds every index computed (NaN where it could not be)."""

    ok: bool
    reasons: tuple[str, ...]
    sqi: dict[str, float] = field(default_factory=dict)


@functools.lru_cache(maxsize=32)
def _butter(band: tuple[float, ...], btype: str, fs_hz: float) -> np.ndarray:
    return sps.butter(2, band if len(band) > 1 else band[0], btype=btype, fs=fs_hz, output="sos")


def _highpass(x: np.ndarray, fs_hz: float, cutoff_hz: float) -> np.ndarray:
    return sps.sosfiltfilt(_butter((cutoff_hz,), "highpass", fs_hz), x, axis=0, padlen=min(x.shape[0] - 1, 3 * 5))


def _kurtosis(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Pearson kurtosis along ``axis`` (NaN where the variance is 0)."""
    c2 = x - x.mean(axis=axis, keepdims=True)
    c2 *= c2
    v = c2.mean(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(v > 0, (c2 * c2).mean(axis=axis) / (v * v), np.nan)


def _longest_run_at(values: np.ndarray, level: float) -> int:
    hit = np.concatenate([[False], values == level, [False]])
    edges = np.flatnonzero(np.diff(hit.astype(np.int8)))
    return int(np.max(edges[1::2] - edges[::2])) if edges.size else 0


def assess(
    window_uv: np.ndarray,
    fs_hz: float,
    *,
    lead_off: bool | np.ndarray | None = None,
    counts: np.ndarray | None = None,
    rails_counts: tuple[int, int] | None = None,
    thresholds: QualityThresholds = QualityThresholds(),
) -> QualityReport:
    """Quality of one window of one lead (``(n,)`` µV at ``fs_hz``; see module doc).

    ``lead_off``: the device's lead-off flag(s) for the window (any true → ``lead_off``).
    ``counts``: the same window in raw ADC counts, for the saturation checks; with
    ``rails_counts = (min_count, max_count)`` the fraction at the rails is measured too.
    """
    x = np.asarray(window_uv)
    if x.ndim != 1:
        raise SignalError(f"window_uv must be one lead, shape (n,), got {x.shape}")
    if counts is not None and np.shape(counts) != x.shape:
        raise SignalError(f"counts shape {np.shape(counts)} differs from window_uv shape {x.shape}")
    off = None if lead_off is None else np.array([bool(np.any(lead_off))])
    return assess_leads(x[:, None], fs_hz, lead_off=off, counts=None if counts is None else np.asarray(counts)[:, None],
                        rails_counts=rails_counts, thresholds=thresholds)[0]


def assess_leads(
    window_uv: np.ndarray,
    fs_hz: float,
    *,
    lead_off: np.ndarray | None = None,
    counts: np.ndarray | None = None,
    rails_counts: tuple[int, int] | None = None,
    thresholds: QualityThresholds = QualityThresholds(),
) -> list[QualityReport]:
    """:func:`assess` of every lead of a ``(n, leads)`` window at once (one filter and one Welch
    call over all the leads): one report per lead. ``lead_off`` is ``(n, leads)`` or
    ``(leads,)`` flags or one flag for all, ``counts`` ``(n, leads)``."""
    _check_fs(fs_hz)
    th = thresholds
    x = np.asarray(window_uv, dtype=np.float64)
    if x.ndim != 2:
        raise SignalError(f"window_uv must be (n, leads), got {x.shape}")
    n, n_leads = x.shape
    if n < 8:
        raise SignalError(f"window_uv has {n} samples; quality needs at least 8")
    if not np.all(np.isfinite(x)):
        raise SignalError("window_uv holds NaN/inf samples")
    sqi: dict[str, np.ndarray] = {}

    off = np.zeros(n_leads, dtype=bool)
    if lead_off is not None:
        flags = np.asarray(lead_off, dtype=bool)
        if flags.shape == (n, n_leads):
            off = flags.any(axis=0)
        elif flags.shape in ((n_leads,), ()):
            off = np.broadcast_to(flags, (n_leads,)).copy()
        else:
            raise SignalError(f"lead_off shape {flags.shape}: expected ({n}, {n_leads}), ({n_leads},) or a scalar")
    sqi["lead_off"] = off.astype(np.float64)

    sat_frac, run_s = np.full(n_leads, np.nan), np.full(n_leads, np.nan)
    saturated = np.zeros(n_leads, dtype=bool)
    if counts is not None:
        c = np.asarray(counts)
        if c.shape != x.shape:
            raise SignalError(f"counts shape {c.shape} differs from window_uv shape {x.shape}")
        run_s = np.array([max(_longest_run_at(c[:, k], c[:, k].max()), _longest_run_at(c[:, k], c[:, k].min()))
                          for k in range(n_leads)]) / fs_hz
        if rails_counts is not None:
            lo, hi = rails_counts
            if not lo < hi:
                raise ConfigError(f"rails_counts must be (min, max) with min < max, got {rails_counts!r}")
            sat_frac = np.mean((c <= lo) | (c >= hi), axis=0)
        if th.saturation_run_s is not None:
            saturated |= run_s >= th.saturation_run_s
        if th.saturation_fraction_max is not None:
            saturated |= sat_frac > th.saturation_fraction_max
    sqi["saturation_fraction"], sqi["saturation_run_s"] = sat_frac, run_s

    hp = _highpass(x, fs_hz, 1.0) if fs_hz > 2.5 else x - x.mean(axis=0)
    ptp, std = np.ptp(hp, axis=0), np.std(hp, axis=0)
    sqi["ptp_uv"], sqi["std_uv"] = ptp, std
    flat = np.zeros(n_leads, dtype=bool)
    if th.flat_ptp_uv is not None:
        flat |= ptp < th.flat_ptp_uv
    if th.flat_std_uv is not None:
        flat |= std < th.flat_std_uv
    amplitude = ptp > th.max_ptp_uv if th.max_ptp_uv is not None else np.zeros(n_leads, dtype=bool)

    # kurtosis of the 1-40 Hz band (clipped to below Nyquist for low rates)
    top = min(40.0, 0.45 * fs_hz)
    band = sps.sosfiltfilt(_butter((1.0, top), "bandpass", fs_hz), x, axis=0, padlen=min(n - 1, 3 * 9)) if top > 1.0 else hp
    seg = max(8, int(round(th.kurtosis_segment_s * fs_hz)))
    n_seg = n // seg
    if n_seg >= 2:
        kurt = np.median(_kurtosis(band[: n_seg * seg].reshape(n_seg, seg, n_leads), axis=1), axis=0)
    else:
        kurt = _kurtosis(band)
    sqi["kurtosis"] = kurt
    low_kurt = ~flat & ~(kurt >= th.kurtosis_min) if th.kurtosis_min is not None else np.zeros(n_leads, dtype=bool)

    nper = min(n, max(16, int(2 ** round(math.log2(1.4 * fs_hz)))))
    f, p = sps.welch(x - x.mean(axis=0), fs=fs_hz, nperseg=nper, axis=0)
    qrs_band = np.full(n_leads, np.nan)
    low_qrs = np.zeros(n_leads, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        if fs_hz / 2 > 40.0:
            wide = p[(f >= 5.0) & (f < 40.0)].sum(axis=0)
            qrs_band = np.where(wide > 0, p[(f >= 5.0) & (f < 15.0)].sum(axis=0) / wide, np.nan)
            if th.qrs_band_ratio_min is not None:
                low_qrs = ~flat & ~(qrs_band >= th.qrs_band_ratio_min)
        hf = np.full(n_leads, np.nan)
        hf_noise = np.zeros(n_leads, dtype=bool)
        if th.hf_cutoff_hz < fs_hz / 2:
            total = p[f >= 0.5].sum(axis=0)
            hf = np.where(total > 0, p[f >= th.hf_cutoff_hz].sum(axis=0) / total, np.nan)
            if th.hf_ratio_max is not None:
                hf_noise = hf > th.hf_ratio_max
    sqi["qrs_band_ratio"], sqi["hf_ratio"] = qrs_band, hf

    checks = (("lead_off", off), ("saturation", saturated), ("flat", flat), ("amplitude", amplitude),
              ("low_kurtosis", low_kurt), ("qrs_band", low_qrs), ("hf_noise", hf_noise))
    reports = []
    for k in range(n_leads):
        why = tuple(name for name, failed in checks if failed[k])
        reports.append(QualityReport(ok=not why, reasons=why, sqi={key: float(v[k]) for key, v in sqi.items()}))
    return reports


def check_noisy_fraction(value: float, name: str = "max_noisy_fraction") -> None:
    """:class:`ConfigError` unless ``value`` is a share of leads in [0, 1)."""
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{name} must be a share of the leads in [0, 1), got {value!r}")


def failing_leads(reports: Sequence[QualityReport], max_noisy_fraction: float = MAX_NOISY_LEAD_FRACTION) -> list[int]:
    """Indices of the leads that make a multi-lead window unreadable (empty: it is readable).

    A lead with a fault (lead off, saturation, flat, amplitude) always does. The noise indices
    (:data:`NOISE_REASONS`) do only when more than ``floor(max_noisy_fraction * len(reports))``
    leads fail them: noise reaches most leads, a lead's own morphology only that lead."""
    check_noisy_fraction(max_noisy_fraction)
    faults = [i for i, r in enumerate(reports) if set(r.reasons) - set(NOISE_REASONS)]
    if faults:
        return faults
    noisy = [i for i, r in enumerate(reports) if not r.ok]
    return noisy if len(noisy) > math.floor(max_noisy_fraction * len(reports) + 1e-9) else []
