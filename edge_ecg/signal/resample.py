"""Streaming rational-rate resampling (polyphase FIR) with state carried across chunks.

A device may sample at 250, 500 or 1000 Hz while the model was trained at 360 Hz (MIT-BIH).
:class:`StreamingResampler` converts between any two rates whose ratio is (close to) a fraction
``up / down``: conceptually it inserts ``up - 1`` zeros between input samples, low-pass filters at
the lower of the two Nyquist frequencies with a Kaiser-windowed FIR (``scipy.signal.firwin``),
and keeps every ``down``-th sample. It computes only the kept samples, each from the ``taps``
input samples its filter phase touches, and keeps the last input samples between chunks, so the
output of a chunked stream equals the one-shot :func:`resample_stream` output.

The FIR is linear-phase, so the output is late by a constant ``delay_s`` (the FIR's group
delay); output sample ``k`` sits at input sample :meth:`StreamingResampler.output_to_input_index`
``(k)`` on the input clock. The filter length is chosen so that the delay is a whole number of
output samples (``delay_out_samples``). Before the first sample the input is taken to have been
constant at that first sample (no start-up step from a DC offset).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy import signal as sps

from edge_ecg.errors import ConfigError
from edge_ecg.signal.filters import _check_fs, as_samples

_BLOCK = 4096  # outputs per vectorised step (bounds the temporary (block, taps, C) array)


def rational_ratio(fs_in_hz: float, fs_out_hz: float, max_denominator: int = 1000) -> tuple[int, int]:
    """``(up, down)`` with ``fs_out / fs_in ≈ up / down`` in lowest terms."""
    _check_fs(fs_in_hz, "fs_in_hz")
    _check_fs(fs_out_hz, "fs_out_hz")
    frac = Fraction(float(fs_out_hz) / float(fs_in_hz)).limit_denominator(max_denominator)
    if frac.numerator == 0:
        raise ConfigError(
            f"fs_out_hz={fs_out_hz!r} / fs_in_hz={fs_in_hz!r} is too small a ratio to represent "
            f"with denominator <= {max_denominator}"
        )
    return frac.numerator, frac.denominator


class StreamingResampler:
    """Resample ``n_channels`` channels from ``fs_in_hz`` to ``fs_out_hz`` chunk by chunk.

    ``process(x)`` takes ``(n, C)`` (or ``(n,)`` for one channel) samples in any unit and returns
    every output sample that the input seen so far determines, float64, same unit, shape
    ``(m, C)`` or ``(m,)``. Equal rates pass samples through unchanged (no delay).

    ``half_width`` sets the FIR half-length in units of ``max(up, down)`` (longer: sharper
    anti-alias transition, more delay); ``kaiser_beta`` its stop-band attenuation.
    """

    def __init__(
        self,
        fs_in_hz: float,
        fs_out_hz: float,
        n_channels: int = 1,
        *,
        max_denominator: int = 1000,
        half_width: int = 10,
        kaiser_beta: float = 5.0,
    ):
        if isinstance(n_channels, bool) or not isinstance(n_channels, int) or n_channels < 1:
            raise ConfigError(f"n_channels must be an integer >= 1, got {n_channels!r}")
        if half_width < 1:
            raise ConfigError(f"half_width must be >= 1, got {half_width!r}")
        self.up, self.down = rational_ratio(fs_in_hz, fs_out_hz, max_denominator)
        self.fs_in_hz = float(fs_in_hz)
        #: the rate actually produced (``fs_in * up / down``; equals fs_out_hz for rational ratios)
        self.fs_out_hz = self.fs_in_hz * self.up / self.down
        self.n_channels = n_channels
        self.identity = self.up == self.down
        if self.identity:
            self._half = 0
            self.taps = 1
            self._h = np.ones((1, 1))
        else:
            up, down = self.up, self.down
            rate = max(up, down)
            # whole number of output samples of delay: half is a multiple of down
            self._half = int(math.ceil(half_width * rate / down)) * down
            h = sps.firwin(2 * self._half + 1, 1.0 / rate, window=("kaiser", kaiser_beta)) * up
            self.taps = int(math.ceil(h.size / up))
            padded = np.zeros(self.taps * up)
            padded[: h.size] = h
            # row p: the taps of phase p, t-th tap multiplies x[i0 - t]
            self._h = padded.reshape(self.taps, up).T.copy()
        self.reset()

    @property
    def delay_s(self) -> float:
        """Group delay of the anti-alias FIR, in seconds."""
        return self._half / (self.fs_in_hz * self.up)

    @property
    def delay_out_samples(self) -> int:
        """Group delay in output samples (a whole number by construction)."""
        return self._half // self.down

    def output_to_input_index(self, k: np.ndarray | int) -> np.ndarray | float:
        """Position on the input sample clock (fractional) of output sample(s) ``k``."""
        k_arr = np.asarray(k, dtype=np.float64)
        pos = (k_arr * self.down - self._half) / self.up
        return float(pos) if np.ndim(k) == 0 else pos

    def input_to_output_index(self, i: np.ndarray | float) -> np.ndarray | float:
        """Output sample position (fractional) at which input sample(s) ``i`` appear."""
        i_arr = np.asarray(i, dtype=np.float64)
        pos = (i_arr * self.up + self._half) / self.down
        return float(pos) if np.ndim(i) == 0 else pos

    def reset(self) -> None:
        """Forget the stream; the next sample is input sample 0 again."""
        self._n_in = 0
        self._k_next = 0
        self._buf: np.ndarray | None = None  # last input samples, buf[0] is sample _buf_start
        self._buf_start = 0

    def process(self, x: np.ndarray) -> np.ndarray:
        arr = as_samples(x, self.n_channels)
        one_d = np.ndim(x) == 1
        if self.identity:
            out = arr.copy()
        else:
            out = self._process(arr)
        return out[:, 0] if one_d else out

    def _process(self, arr: np.ndarray) -> np.ndarray:
        n = arr.shape[0]
        if n == 0:
            return np.zeros((0, self.n_channels))
        if self._buf is None:
            # the stream is taken to have been constant at its first sample
            self._buf = np.repeat(arr[:1], self.taps - 1, axis=0)
            self._buf_start = -(self.taps - 1)
        buf = np.concatenate([self._buf, arr], axis=0)
        self._n_in += n
        k_last = (self._n_in * self.up - 1) // self.down  # last k with floor(k*down/up) <= n_in-1
        outs = []
        t = np.arange(self.taps)
        for k0 in range(self._k_next, k_last + 1, _BLOCK):
            ks = np.arange(k0, min(k0 + _BLOCK, k_last + 1), dtype=np.int64)
            pos = ks * self.down
            i0 = pos // self.up
            phase = pos - i0 * self.up
            idx = (i0 - self._buf_start)[:, None] - t[None, :]
            outs.append(np.einsum("kt,ktc->kc", self._h[phase], buf[idx]))
        self._k_next = k_last + 1
        # keep the inputs the next output still needs
        keep_from = min((self._k_next * self.down) // self.up - (self.taps - 1), self._n_in)
        self._buf = buf[keep_from - self._buf_start :]
        self._buf_start = keep_from
        if not outs:
            return np.zeros((0, self.n_channels))
        return np.concatenate(outs, axis=0)


def resample_stream(x: np.ndarray, fs_in_hz: float, fs_out_hz: float, **kwargs) -> np.ndarray:
    """One-shot causal resampling of ``(n,)`` or ``(n, C)`` samples; equals a chunked
    :class:`StreamingResampler` (same delay, see there)."""
    arr = np.asarray(x)
    n_channels = 1 if arr.ndim == 1 else arr.shape[-1]
    return StreamingResampler(fs_in_hz, fs_out_hz, n_channels, **kwargs).process(arr)
