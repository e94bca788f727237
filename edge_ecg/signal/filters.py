"""Causal IIR front-end filters with state carried across chunks, and their offline twin.

The device half and the training half must see the same filter. :class:`FilterSpec` (it travels
in the model manifest) describes it in Hz; :func:`design_sos` turns it into second-order sections
for one sampling rate. Two ways to apply it:

* :class:`CausalFilter` / :func:`filter_causal` — causal (``scipy.signal.sosfilt``), state kept
  between chunks, so feeding a record chunk by chunk gives the one-shot output (to rounding).
  Its initial state is the steady state for the first sample, so a DC offset (a few mV on most
  front ends) does not ring the high-pass at start-up.
* :func:`filter_zero_phase` — ``sosfiltfilt``: zero phase, needs the whole record, offline only.
  It has a different name on purpose: a model trained on zero-phase beats sees slightly
  different morphology than the causal runtime delivers, so choose knowingly.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import signal as sps

from edge_ecg.errors import ConfigError, SignalError
from edge_ecg.typed import known_fields_only


@dataclass(frozen=True)
class FilterSpec:
    """A Butterworth band-pass (either edge may be disabled) plus an optional mains notch.

    ``highpass_hz``  high-pass cut-off (-3 dB) in Hz, ``None`` disables it (baseline wander)
    ``lowpass_hz``   low-pass cut-off (-3 dB) in Hz, ``None`` disables it (EMG, aliasing)
    ``notch_hz``     mains frequency to notch (typically 50 or 60 Hz), ``None`` disables it
    ``notch_q``      notch quality factor (centre frequency / -3 dB bandwidth)
    ``order``        Butterworth order of each edge (a band-pass has twice as many poles)

    The manifest stores it as-is (``to_dict`` / ``from_dict``). Limits that depend on the sampling rate
    (every frequency below Nyquist) are checked by :meth:`check_fs`, which :func:`design_sos` calls.
    """

    highpass_hz: float | None = 0.5
    lowpass_hz: float | None = 40.0
    notch_hz: float | None = None
    notch_q: float = 30.0
    order: int = 2

    def __post_init__(self):
        for name in ("highpass_hz", "lowpass_hz", "notch_hz"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive frequency in Hz or None, got {value!r}")
        if (
            self.highpass_hz is not None
            and self.lowpass_hz is not None
            and not self.highpass_hz < self.lowpass_hz
        ):
            raise ConfigError(
                f"highpass_hz ({self.highpass_hz!r}) must be below lowpass_hz ({self.lowpass_hz!r})"
            )
        if not (isinstance(self.notch_q, (int, float)) and math.isfinite(self.notch_q) and self.notch_q > 0):
            raise ConfigError(f"notch_q must be > 0, got {self.notch_q!r}")
        if isinstance(self.order, bool) or not isinstance(self.order, int) or not 1 <= self.order <= 8:
            raise ConfigError(f"order must be an integer in 1..8, got {self.order!r}")

    def check_fs(self, fs_hz: float) -> None:
        """Raise :class:`ConfigError` unless every frequency of the spec is below Nyquist."""
        _check_fs(fs_hz)
        nyquist = fs_hz / 2.0
        for name in ("highpass_hz", "lowpass_hz", "notch_hz"):
            value = getattr(self, name)
            if value is not None and not value < nyquist:
                raise ConfigError(
                    f"{name}={value!r} Hz is not below the Nyquist frequency {nyquist!r} Hz "
                    f"of fs_hz={fs_hz!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FilterSpec:
        """Build from a manifest dict; unknown keys are an error (a typo must not pass silently)."""
        return cls(**known_fields_only(d, cls, "filter spec"))


def _check_fs(fs_hz: float, name: str = "fs_hz") -> None:
    if isinstance(fs_hz, bool) or not isinstance(fs_hz, (int, float, np.integer, np.floating)) or not (
        math.isfinite(fs_hz) and fs_hz > 0
    ):
        raise ConfigError(f"{name} must be a positive finite sampling rate in Hz, got {fs_hz!r}")


_IDENTITY_SOS = np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])


def design_sos(spec: FilterSpec, fs_hz: float) -> np.ndarray:
    """Second-order sections ``(n_sections, 6)`` of ``spec`` at ``fs_hz`` (identity if all off)."""
    spec.check_fs(fs_hz)
    sections = []
    hp, lp = spec.highpass_hz, spec.lowpass_hz
    if hp is not None and lp is not None:
        sections.append(sps.butter(spec.order, [hp, lp], btype="bandpass", fs=fs_hz, output="sos"))
    elif hp is not None:
        sections.append(sps.butter(spec.order, hp, btype="highpass", fs=fs_hz, output="sos"))
    elif lp is not None:
        sections.append(sps.butter(spec.order, lp, btype="lowpass", fs=fs_hz, output="sos"))
    if spec.notch_hz is not None:
        b, a = sps.iirnotch(spec.notch_hz, spec.notch_q, fs=fs_hz)
        sections.append(sps.tf2sos(b, a))
    if not sections:
        return _IDENTITY_SOS.copy()
    return np.ascontiguousarray(np.concatenate(sections, axis=0))


# Mains (power-line) frequencies notched by the runtime's front end by default, and the notch Q
# (-3 dB width 1.7 Hz at 50 Hz, 2 Hz at 60 Hz). A device setting, not part of a model: a model's
# own band-pass passes about half of 50 Hz, and no training record carries mains hum.
MAINS_HZ: tuple[float, ...] = (50.0, 60.0)
MAINS_Q = 30.0


def check_mains(mains_hz) -> tuple[float, ...]:
    """``mains_hz`` (one frequency or several) as a tuple of floats; :class:`ConfigError` naming
    it unless every one is a positive, finite frequency in Hz."""
    if isinstance(mains_hz, numbers.Real) and not isinstance(mains_hz, bool):
        mains_hz = (mains_hz,)
    try:
        freqs = tuple(float(f) for f in mains_hz)
    except (TypeError, ValueError):
        raise ConfigError(f"mains_hz must be frequencies in Hz, got {mains_hz!r}") from None
    if not all(math.isfinite(f) and f > 0 for f in freqs):
        raise ConfigError(f"mains_hz must be positive frequencies in Hz, got {mains_hz!r}")
    return freqs


def notchable(fs_hz: float, mains_hz: tuple[float, ...] = MAINS_HZ) -> tuple[float, ...]:
    """The frequencies of ``mains_hz`` a device at ``fs_hz`` can notch: those below 0.95 x its
    Nyquist (a device that slow cannot carry the hum but aliased)."""
    _check_fs(fs_hz)
    return tuple(f for f in check_mains(mains_hz) if f < 0.95 * fs_hz / 2)


def mains_sos(fs_hz: float, mains_hz: tuple[float, ...] = MAINS_HZ) -> np.ndarray:
    """Notch sections ``(n, 6)`` for each frequency :func:`notchable` at ``fs_hz`` (``(0, 6)``
    when none is)."""
    sections = [sps.tf2sos(*sps.iirnotch(f, MAINS_Q, fs=fs_hz)) for f in notchable(fs_hz, mains_hz)]
    return np.concatenate(sections, axis=0) if sections else np.zeros((0, 6))


def sos_lfilter(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)`` as one ``lfilter`` call per section.

    ``zi`` has sosfilt's layout for axis 0: ``(n_sections, 2, *x.shape[1:])``. Same numbers to
    rounding, at a fraction of sosfilt's per-call overhead, which dominates when a stream
    arrives in chunks of a few samples.
    """
    y = x
    zf = np.empty_like(zi)
    for k in range(sos.shape[0]):
        y, zf[k] = sps.lfilter(sos[k, :3], sos[k, 3:], y, axis=0, zi=zi[k])
    return y, zf


def as_samples(x: np.ndarray, n_channels: int | None = None, *, name: str = "x") -> np.ndarray:
    """``x`` as a float64 ``(n, C)`` array, checked finite; ``(n,)`` is one channel."""
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise SignalError(f"{name} must have shape (n,) or (n, channels), got {np.shape(x)}")
    if n_channels is not None and arr.shape[1] != n_channels:
        raise SignalError(f"{name} has {arr.shape[1]} channel(s), expected {n_channels}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise SignalError(f"{name} holds NaN/inf (first at sample {bad}); filters need finite samples")
    return arr


class CausalFilter:
    """Streaming causal filter of ``n_channels`` channels at ``fs_hz``; state survives chunks.

    ``process(x)`` takes ``(n, n_channels)`` (or ``(n,)`` when ``n_channels == 1``) samples in any
    unit and returns the filtered samples, same shape, float64, same unit. The state starts as
    the steady state for the first sample seen (no start-up step from a DC offset).
    ``mains_hz``: notches (:func:`mains_sos`) applied before ``spec``.
    """

    def __init__(self, spec: FilterSpec, fs_hz: float, n_channels: int = 1, *, mains_hz: tuple[float, ...] = ()):
        if isinstance(n_channels, bool) or not isinstance(n_channels, int) or n_channels < 1:
            raise ConfigError(f"n_channels must be an integer >= 1, got {n_channels!r}")
        self.spec = spec
        self.fs_hz = float(fs_hz)
        self.n_channels = n_channels
        # a mains frequency the spec already notches is not notched twice
        self.mains_hz = tuple(f for f in check_mains(mains_hz) if f != spec.notch_hz)
        self.sos = np.ascontiguousarray(np.concatenate([mains_sos(fs_hz, self.mains_hz), design_sos(spec, fs_hz)]))
        self._zi_unit = sps.sosfilt_zi(self.sos)  # (n_sections, 2): steady state for input 1
        self._zi: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the state; the next sample re-initialises it."""
        self._zi = None

    def process(self, x: np.ndarray) -> np.ndarray:
        arr = as_samples(x, self.n_channels)
        if arr.shape[0] == 0:
            return np.zeros(np.shape(x), dtype=np.float64)
        if self._zi is None:
            self._zi = self._zi_unit[:, :, None] * arr[0][None, None, :]  # (sections, 2, C)
        y, self._zi = sos_lfilter(self.sos, arr, self._zi)
        return y.reshape(np.shape(x))


def filter_causal(x: np.ndarray, spec: FilterSpec, fs_hz: float, *, mains_hz: tuple[float, ...] = ()) -> np.ndarray:
    """One-shot causal filtering of ``(n,)`` or ``(n, C)`` samples; equals chunked :class:`CausalFilter`."""
    arr = np.asarray(x)
    n_channels = 1 if arr.ndim == 1 else (arr.shape[1] if arr.ndim == 2 else -1)
    if n_channels < 1:
        raise SignalError(f"x must have shape (n,) or (n, channels), got {arr.shape}")
    return CausalFilter(spec, fs_hz, n_channels, mains_hz=mains_hz).process(arr)


def filter_zero_phase(x: np.ndarray, spec: FilterSpec, fs_hz: float) -> np.ndarray:
    """Offline zero-phase filtering (``sosfiltfilt`` along time) of ``(n,)`` or ``(n, C)`` samples.

    Needs the whole record (it runs backwards), so it cannot be used in a stream.
    """
    arr = as_samples(x)
    sos = design_sos(spec, fs_hz)
    try:
        y = sps.sosfiltfilt(sos, arr, axis=0)
    except ValueError as exc:  # too short for the edge padding sosfiltfilt needs
        raise SignalError(f"x has {arr.shape[0]} samples, too short for zero-phase filtering: {exc}") from exc
    return y.reshape(np.shape(x))
