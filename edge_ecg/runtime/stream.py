"""``StreamClassifier``: device samples in, labels out, configured from the model manifest.

Chain (all causal, state carried across chunks)::

    counts ─▶ lead selection ─▶ µV ─▶ causal band-pass/notch ─▶ resample to the model rate
        ─▶ ring buffer ─▶ (beat models) streaming QRS ─▶ RR features ─▶ beat-centred window
                      ─▶ (window models) fixed window + hop
        ─▶ quality gate ─▶ per-window normalisation ─▶ model ─▶ label + probabilities

Every emitted result carries the *device sample index* and the sample-clock time of its beat or
window, never arrival time. A window that overlaps lost samples (a gap), a lead-off flag,
saturated counts, a flat line, or the settling time of the filters after a (re)start is not
classified: it is emitted with ``quality='unreadable'`` and the reason.
"""

from __future__ import annotations

import math
import numbers
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edge_ecg.data.leads import lead_index, lead_weights
from edge_ecg.deploy.manifest import InputSpec
from edge_ecg.errors import ConfigError, DeviceMismatchError, SignalError
from edge_ecg.models.side import SideSpec, check_age_sex, encode_side
from edge_ecg.runtime.classifier import Classifier, check_classifier
from edge_ecg.runtime.preprocess import model_inputs
from edge_ecg.signal.filters import MAINS_HZ, CausalFilter, check_mains, notchable
from edge_ecg.signal.qrs import StreamingQRSDetector
from edge_ecg.signal.quality import (
    MAX_NOISY_LEAD_FRACTION,
    assess_leads,
    check_noisy_fraction,
    failing_leads,
)
from edge_ecg.signal.resample import StreamingResampler
from edge_ecg.signal.rr import RRConfig, RRTracker
from edge_ecg.signal.template import BeatTemplate, Polarity
from edge_ecg.typed import check_field_types

UNREADABLE = "unreadable"
DEFAULT_BUFFER_S = 12.0  # signal kept for windows in flight (longer when a model's window needs it)
GATE_TEMPLATE_BEATS = 8  # beats in the template GateConfig.beat_context_corr compares a beat with
NO_BEAT = "no beat"
NO_BEAT_S = 4.0
"""A beat stream that detects no QRS for this long emits a ``kind="no_beat"`` result for the
stretch (and one more for every further ``NO_BEAT_S``): ``unreadable`` with the reason when
the signal could not be read (lead off, saturation, flat line), else label ``"no beat"`` (a
pause or asystole, or beats too small to detect). A monitor never goes silent without saying
why; monitors commonly alarm on asystole after about 4 s."""
NO_BEAT_MARGIN_S = 1.0  # a QRS is decided up to this long after its R (hold + look-ahead)


class LatencyWindow:
    """The latest ``maxlen`` latencies (ms) in a ring allocated up front: a monitor runs for
    days, and its memory must not creep with every beat (not even by a bounded deque's floats).
    ``append``, ``len``, iteration (oldest first) and ``np.asarray`` work as on a deque."""

    def __init__(self, maxlen: int = 10_000):
        self.maxlen = int(maxlen)
        self._buf = np.zeros(self.maxlen)
        self._n = 0

    def append(self, value_ms: float) -> None:
        self._buf[self._n % self.maxlen] = value_ms
        self._n += 1

    def __len__(self) -> int:
        return min(self._n, self.maxlen)

    def values(self) -> np.ndarray:
        """The kept latencies in ms, oldest first (a copy)."""
        if self._n <= self.maxlen:
            return self._buf[: self._n].copy()
        k = self._n % self.maxlen
        return np.concatenate([self._buf[k:], self._buf[:k]])

    def __iter__(self):
        return iter(self.values().tolist())

    def __array__(self, dtype=None, copy=None):
        v = self.values()
        return v if dtype is None else v.astype(dtype)


@dataclass(frozen=True)
class StreamResult:
    """One classified (or refused) beat or window."""

    sample: int  # device sample index of the R peak (beat) or of the window start
    time_s: float  # sample / device fs: the device clock, never arrival time
    label: str  # a class name, or "unreadable"
    prob: float  # probability of ``label`` (0 for unreadable)
    quality: str  # "ok" | "unreadable"
    reason: str | None = None  # why unreadable
    latency_ms: float = 0.0  # from the arrival of the last sample it needed to this result
    probs: dict[str, float] = field(default_factory=dict)
    kind: str = "beat"  # "beat", "window", or "no_beat" (a stretch without a QRS: see NO_BEAT_S)

    def to_json_dict(self) -> dict:
        d = {
            "kind": self.kind, "sample": self.sample, "time_s": round(self.time_s, 4),
            "label": self.label, "prob": round(self.prob, 4), "quality": self.quality,
            "latency_ms": round(self.latency_ms, 3),
        }
        if self.reason:
            d["reason"] = self.reason
        if self.probs:
            d["probs"] = {k: round(v, 4) for k, v in self.probs.items()}
        return d


@dataclass(frozen=True)
class GateConfig:
    """Quality gate of a window, in physical units.

    ``flat_uv``: a window whose filtered standard deviation is below this is a flat line (a
    disconnected electrode on an amplifier without lead-off detection). ``saturation_margin``:
    counts within this many counts of the ADC rails are saturated. ``settle_s``: after a start or
    a restart (gap) the filters and the QRS detector need this long before windows are trusted.
    ``beat_context_s``: a beat is classified only if the signal quality indices
    (:func:`edge_ecg.signal.quality.assess`) of the last ``beat_context_s`` seconds up to the end
    of its window pass: a 0.7 s beat window is too short to tell electrode-motion noise from ECG,
    a few seconds around it are not (``None``: beats are not quality-checked).
    ``beat_context_corr`` (with ``beat_context_s``): a beat whose context fails is labelled all
    the same when its window correlates at least this much (Pearson) with the median of the
    last :data:`GATE_TEMPLATE_BEATS` beat windows: a run of ectopic beats is alike beat to beat
    (and fails the indices much as noise does), noise artefacts are not.
    ``max_noisy_lead_fraction``: a multi-lead window fails the quality indices when a lead has a
    fault, or when more than this share of its leads fail the noise indices
    (:func:`edge_ecg.signal.quality.failing_leads`; 0: any lead, as for 1- and 2-lead windows).
    """

    flat_uv: float = 10.0
    saturation_margin: int = 2
    settle_s: float = 2.0
    beat_context_s: float | None = None
    beat_context_corr: float | None = None
    max_noisy_lead_fraction: float = MAX_NOISY_LEAD_FRACTION

    def __post_init__(self):
        check_field_types(self, "GateConfig.")
        if not (math.isfinite(self.flat_uv) and self.flat_uv >= 0):
            raise ConfigError(f"flat_uv must be a finite level >= 0 µV (0: no flat-line check), got {self.flat_uv!r}")
        if self.saturation_margin < 0:
            raise ConfigError(f"saturation_margin must be >= 0 counts, got {self.saturation_margin!r}")
        if not (math.isfinite(self.settle_s) and self.settle_s >= 0):
            raise ConfigError(f"settle_s must be a finite time >= 0 s, got {self.settle_s!r}")
        check_noisy_fraction(self.max_noisy_lead_fraction, "max_noisy_lead_fraction")
        if self.beat_context_s is not None and not (math.isfinite(self.beat_context_s) and self.beat_context_s >= 1.0):
            raise ConfigError(f"beat_context_s must be >= 1 s (or None), got {self.beat_context_s!r}")
        if self.beat_context_corr is not None:
            if self.beat_context_s is None:
                raise ConfigError("beat_context_corr needs beat_context_s: it rescues beats the context gate rejects")
            if not -1.0 <= self.beat_context_corr <= 1.0:
                raise ConfigError(f"beat_context_corr must be a correlation in [-1, 1], got {self.beat_context_corr!r}")


# A beat stream whose R deflection (first model lead) is negative in at least this share of its
# classified beats looks inverted. No DS1 MLII record reaches it (the most: 207, 81 %, long runs of
# wide ventricular complexes); 34 of the 148 normal-rhythm CinC 2017 records do (a hand-held
# device held the other way round), and flipping them takes their V calls from 18.7 % to 2.5 %.
INVERTED_R_SHARE = 0.9
INVERTED_MIN_BEATS = 20


def match_leads(wanted: tuple[str, ...], available: tuple[str, ...],
                channels: tuple[str, ...] | None = None) -> tuple[list[int], np.ndarray | None]:
    """The device channels that make the manifest's leads, and the weights that mix them
    (``None``: each lead is one channel as it is). Matched as
    :func:`edge_ecg.data.leads.lead_weights` does (case-insensitive, MLII ≈ II, an unnamed "ECG"
    channel taken as II, a missing limb lead derived from two of I, II, III: an 8-channel front
    end sends I, II, V1-V6) — or, when ``channels`` is given, those device channels, one per
    manifest lead in its order (a device whose channel names say nothing or the wrong thing)."""
    if channels is not None and len(channels) != len(wanted):
        raise ConfigError(f"channels {list(channels)}: the model takes {len(wanted)} lead(s) {list(wanted)}; "
                          "give one device channel per lead")
    if channels is None:
        try:
            columns, weights = lead_weights(available, wanted, derive=True)
        except DeviceMismatchError as exc:
            raise DeviceMismatchError(
                f"the device cannot feed the model: {exc}; it cannot be classified without it. If one of its channels "
                "carries that lead under another name, name it: --channels NAME (stream), --channel NAME (ec57), "
                "channels=(NAME,) (Python)"
            ) from None
        direct = weights.shape[0] == weights.shape[1] and np.array_equal(weights, np.eye(len(wanted)))
        return columns, None if direct else weights
    out = []
    for w, name in zip(wanted, channels, strict=True):
        try:
            out.append(lead_index(available, name))
        except DeviceMismatchError:
            raise DeviceMismatchError(
                f"the model needs channel {name!r} for its lead {w!r} but the device sends {list(available)}; "
                "it cannot be classified without it"
            ) from None
    return out, None


def check_names(names, what: str) -> tuple[str, ...]:
    """``names`` as a tuple of channel names, or :class:`ConfigError` naming ``what`` (a plain
    string would be read letter by letter)."""
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{what} {names!r}: expected a non-empty sequence of channel names, e.g. ('MLII', 'V1')")
    return tuple(names)


def _per_channel(value, n: int, what: str) -> np.ndarray:
    """``value`` (one number, or one per channel) as ``n`` finite float64s, or ConfigError."""
    try:
        a = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} {value!r}: expected a number or one per channel ({n})") from None
    if a.size not in (1, n) or not np.all(np.isfinite(a)):
        shown = a.tolist() if isinstance(value, np.ndarray) else value
        raise ConfigError(f"{what} {shown!r}: expected one finite number or {n} (one per channel)")
    return np.broadcast_to(a, (n,)).copy()


class StreamClassifier:
    """Feed decoded device data; get :class:`StreamResult` objects back.

    ``fs_hz``, ``lead_names`` and ``uv_per_count`` describe the device (from its descriptor
    frame, or from the command line in text mode); ``rail_counts`` is the ADC's largest
    magnitude (saturation check); ``age``/``sex`` feed fusion models that take them;
    ``channels`` names the device channels that feed the model's leads (default: matched by
    lead name, see :func:`match_leads`); ``mains_hz``: power-line frequencies notched before the
    model's filter (:data:`~edge_ecg.signal.filters.MAINS_HZ`; ``()`` for none); ``invert``:
    flip the sign of the model's leads (see :data:`INVERTED_R_SHARE`); ``buffer_s``: signal
    kept for windows in flight (default :data:`DEFAULT_BUFFER_S`, or more when the model's
    window needs it; a shorter one than the window needs is refused).

    :meth:`push` takes blocks of ``(samples, channels)`` counts, one column per device channel
    in ``lead_names`` order, with the device's sample counter of the first row; any block size
    gives the same results. Every argument is checked when given: a wrong one raises
    :class:`~edge_ecg.errors.ConfigError` / :class:`~edge_ecg.errors.SignalError` naming it.
    """

    def __init__(
        self,
        classifier: Classifier,
        *,
        fs_hz: float,
        lead_names: tuple[str, ...],
        uv_per_count,
        baseline_counts=0,
        rail_counts: int | None = None,
        gate: GateConfig = GateConfig(),
        age: float | None = None,
        sex: str | None = None,
        buffer_s: float | None = None,
        channels: tuple[str, ...] | None = None,
        mains_hz: tuple[float, ...] = MAINS_HZ,
        invert: bool = False,
    ):
        check_classifier(classifier)
        self.clf = classifier
        spec: InputSpec = classifier.manifest.input
        self.spec = spec
        if isinstance(fs_hz, bool) or not (isinstance(fs_hz, numbers.Real) and math.isfinite(fs_hz) and fs_hz > 0):
            raise DeviceMismatchError(f"device sampling rate {fs_hz!r} Hz is not usable: expected a finite number > 0")
        lead_names = check_names(lead_names, "lead_names")
        channels = None if channels is None else check_names(channels, "channels")
        if not isinstance(gate, GateConfig):
            raise ConfigError(f"gate {gate!r}: expected a GateConfig")
        if not isinstance(invert, bool):
            raise ConfigError(f"invert {invert!r}: expected True or False")
        check_age_sex(age, sex)
        # the device must carry the whole band the model was trained on (up to its low-pass, or to
        # its Nyquist without one); it is then resampled to the model's rate
        min_fs_hz = min(2 * spec.filter.lowpass_hz, spec.fs_hz) if spec.filter.lowpass_hz else spec.fs_hz
        if fs_hz < min_fs_hz:
            raise DeviceMismatchError(
                f"device sampling rate {fs_hz} Hz is too low for a model trained at {spec.fs_hz} Hz "
                f"with a {spec.filter.lowpass_hz} Hz band (need >= {min_fs_hz} Hz)"
            )
        self.fs_dev = float(fs_hz)
        self.fs = float(spec.fs_hz)
        self.mains_hz = check_mains(mains_hz)
        # device channels read (lead_idx) and, for derived limb leads, how they mix into the model's leads
        self.lead_idx, self.mix = match_leads(spec.leads, tuple(lead_names), channels)
        if invert:  # electrodes swapped, or a hand-held device held the other way round
            self.mix = -(np.eye(len(spec.leads)) if self.mix is None else self.mix)
        self.device_lead_names = tuple(lead_names)
        self.r_beats = self.r_negative = 0  # classified beats, and those whose R deflection is negative
        upc = _per_channel(uv_per_count, len(lead_names), "uv_per_count")
        if not np.all(upc > 0):
            raise ConfigError(f"uv_per_count {upc.tolist()!r}: expected µV per count > 0 for every channel "
                              "(an inverted input stage: invert=True)")
        self.uv_per_count = upc[self.lead_idx]
        self.baseline = _per_channel(baseline_counts, len(lead_names), "baseline_counts")[self.lead_idx]
        if rail_counts is not None and (isinstance(rail_counts, bool) or not isinstance(rail_counts, numbers.Integral) or rail_counts < 1):
            raise ConfigError(f"rail_counts {rail_counts!r}: expected the ADC's largest magnitude in counts (an int >= 1) or None")
        self.rail = rail_counts
        self.gate = gate
        self.classes = classifier.classes
        self.n_leads = len(spec.leads)
        # what must still be in the buffer when it is decided (a beat window or a no-beat stretch,
        # plus the QRS detector's search-back delay; a fixed window plus 1 s) must fit beside a
        # quarter-buffer chunk
        window_s = spec.length / spec.fs_hz
        if spec.kind == "beat":
            qrs_delay_s = StreamingQRSDetector(float(spec.fs_hz)).latency_samples / spec.fs_hz
            min_buffer_s = (max(window_s, NO_BEAT_S + NO_BEAT_MARGIN_S) + qrs_delay_s) / 0.75
        else:
            min_buffer_s = (window_s + 1.0) / 0.75
        if buffer_s is None:
            buffer_s = max(DEFAULT_BUFFER_S, min_buffer_s)
        if isinstance(buffer_s, bool) or not (isinstance(buffer_s, numbers.Real) and math.isfinite(buffer_s) and buffer_s >= min_buffer_s):
            raise ConfigError(f"buffer_s {buffer_s!r}: expected >= {min_buffer_s:.2f} s for this model "
                              f"({window_s:g} s windows)")
        self.cap = int(round(buffer_s * self.fs))
        self.side_spec = SideSpec(spec.side_groups) if spec.side_groups else None
        self.static_side = None
        if self.side_spec is not None and "rr" not in self.side_spec.groups:
            self.static_side = encode_side(age=age, sex=sex, spec=self.side_spec)[None, :]
        self.rr_config = RRConfig(**spec.rr) if spec.rr else RRConfig()
        self._before = int(round(spec.beat.before_s * self.fs)) if spec.kind == "beat" else 0
        self.stats = {"samples_in": 0, "samples_lost": 0, "results": 0, "unreadable": 0, "restarts": 0}
        self._started = False
        self.dev_next = 0  # next expected device sample (set by the first data block)

    # -- segment handling ---------------------------------------------------------------
    def _start_segment(self, device_sample: int) -> None:
        """(Re)start every stateful stage at ``device_sample`` (stream start, or after a gap)."""
        self.stats["restarts"] += int(self._started)
        self._started = True
        self.filter = CausalFilter(self.spec.filter, self.fs_dev, self.n_leads, mains_hz=self.mains_hz)
        self.resampler = None if self.fs_dev == self.fs else StreamingResampler(self.fs_dev, self.fs, self.n_leads)
        self.delay = 0 if self.resampler is None else int(round(self.resampler.delay_out_samples))
        self.seg_dev0 = device_sample
        # model-clock indices count from the segment start: device counters are uint64 on the
        # wire, and absolute ones past 2**63 would overflow numpy's int64 index arithmetic
        self.seg_m0 = 0
        self.m_end = self.seg_m0  # model-clock index one past the newest buffered sample
        self.buf = np.zeros((self.cap, self.n_leads))
        self.bad = np.zeros(self.cap, dtype=np.uint8)  # bit 1 lead-off, 2 saturation
        self.settle_until = self.seg_m0 + self.delay + int(round(self.gate.settle_s * self.fs))
        self.dev_next = device_sample
        if self.spec.kind == "beat":
            self.qrs = StreamingQRSDetector(self.fs)
            self.rr = RRTracker(self.fs, self.rr_config)
            self.template = BeatTemplate(self.spec.template_beats) if self.spec.template_beats else None
            self.polarity = Polarity(self.spec.polarity_beats) if self.spec.polarity_beats else None
            self.gate_template = BeatTemplate(GATE_TEMPLATE_BEATS) if self.gate.beat_context_corr is not None else None
            self.pending: deque[tuple[int, list[float] | None]] = deque()  # (R model index, rr)
            self.waiting_r: int | None = None
            self.quiet_from = self.settle_until  # model index since which no QRS was detected
        else:
            hop = int(round(self.spec.window.hop_s * self.fs))
            self.next_window = self.seg_m0 + self.delay + int(round(self.gate.settle_s * self.fs))
            self.hop = max(1, hop)

    def _m_to_dev(self, m: int) -> int:
        return self.seg_dev0 + int(round((m - self.seg_m0 - self.delay) * self.fs_dev / self.fs))

    # -- input ----------------------------------------------------------------------------
    def push(self, first_sample: int, counts: np.ndarray, lead_off=None, *, arrival: float | None = None) -> list[StreamResult]:
        """Feed samples ``first_sample …`` (device clock) of all device channels, in counts.

        A jump of ``first_sample`` past the expected next sample is treated as a gap (the
        missing samples are counted as lost and the chain restarts after them).
        """
        t_arr = time.perf_counter() if arrival is None else arrival
        if isinstance(first_sample, bool) or not isinstance(first_sample, numbers.Integral) or first_sample < 0:
            raise SignalError(f"first_sample {first_sample!r}: expected the device sample counter, an int >= 0")
        counts = np.asarray(counts)
        n_dev = len(self.device_lead_names)
        if counts.ndim != 2 or counts.shape[1] != n_dev:
            raise SignalError(f"counts of shape {counts.shape}: expected (samples, {n_dev}), one column per device "
                              f"channel {list(self.device_lead_names)}")
        if counts.dtype.kind not in "iuf":
            raise SignalError(f"counts of dtype {counts.dtype}: expected integer or float ADC counts")
        if lead_off is not None:
            lo_shape = np.shape(lead_off)
            if lo_shape not in ((n_dev,), (counts.shape[0], n_dev)):
                raise SignalError(f"lead_off of shape {lo_shape}: expected ({n_dev},) for the whole block or "
                                  f"({counts.shape[0]}, {n_dev}) per sample")
        step = max(1, int(self.cap * self.fs_dev / self.fs) // 4)
        if counts.shape[0] > step:
            # a backlog (coalesced blocks, a low-rate device resampled up) in pieces of a quarter
            # of the ring buffer, so no window is overwritten before its beat is classified
            lo2 = lead_off is not None and np.ndim(lead_off) == 2
            out = []
            for a in range(0, counts.shape[0], step):
                lo = lead_off[a : a + step] if lo2 else lead_off
                out += self.push(first_sample + a, counts[a : a + step], lo, arrival=t_arr)
            return out
        out: list[StreamResult] = []
        if not self._started:
            self._start_segment(first_sample)
        elif first_sample != self.dev_next:
            if first_sample < self.dev_next:
                raise SignalError(f"samples went back in time: {first_sample} after {self.dev_next}")
            out += self.gap(self.dev_next, first_sample - self.dev_next, arrival=t_arr)
        n = counts.shape[0]
        if n == 0:
            return out
        sel = counts[:, self.lead_idx].astype(np.float64)
        if not np.all(np.isfinite(sel)):
            raise SignalError("device samples hold NaN or inf values")
        self.stats["samples_in"] += n
        self.dev_next = first_sample + n
        flags = np.zeros(n, dtype=np.uint8)
        if lead_off is not None:
            lo = np.asarray(lead_off, dtype=bool)
            lo = lo[:, self.lead_idx].any(axis=1) if lo.ndim == 2 else np.full(n, bool(lo[self.lead_idx].any()))
            flags |= lo.astype(np.uint8)
        if self.rail is not None:
            flags |= (np.abs(sel) >= self.rail - self.gate.saturation_margin).any(axis=1).astype(np.uint8) << 1
        y = self.filter.process(self._mix((sel - self.baseline) * self.uv_per_count))
        if self.resampler is not None:
            y = self.resampler.process(y)
            # flags follow the nearest device sample of each output sample
            m_idx = self.m_end + np.arange(y.shape[0])
            src = np.clip(np.round((m_idx - self.seg_m0 - self.delay) * self.fs_dev / self.fs).astype(np.int64) + (self.seg_dev0 - first_sample), 0, n - 1)
            flags = flags[src] if y.shape[0] else flags[:0]
        self._append(y, flags)
        if self.spec.kind == "beat":
            out += self._beats(t_arr, new=y[:, 0])
        else:
            out += self._windows(t_arr)
        return out

    def front_end(self) -> dict:
        """What the front end does with this device: each model lead and the device channels it
        is made of, the device and model rates, the mains frequencies actually notched, and whether
        the lead looks inverted (:data:`INVERTED_R_SHARE`)."""
        names = self.device_lead_names
        share = self.r_negative / self.r_beats if self.r_beats else None
        leads = {}
        for j, lead in enumerate(self.spec.leads):
            if self.mix is None:
                leads[lead] = names[self.lead_idx[j]]
                continue
            terms = sorted(((w, names[c]) for c, w in zip(self.lead_idx, self.mix[:, j], strict=True) if w != 0),
                           key=lambda t: t[0] < 0)  # "II - I", not "- I + II"
            leads[lead] = " ".join(f"{'-' if w < 0 else '+'} {'' if abs(w) == 1 else f'{abs(w):g} '}{n}"
                                   for w, n in terms).lstrip("+ ")
        return {"leads": leads, "device_hz": self.fs_dev, "model_hz": self.fs,
                "mains_notched_hz": list(notchable(self.fs_dev, self.mains_hz)),
                "beats": self.r_beats, "negative_r_share": share,
                "looks_inverted": share is not None and share >= INVERTED_R_SHARE and self.r_beats >= INVERTED_MIN_BEATS}

    def _mix(self, x: np.ndarray) -> np.ndarray:
        return x if self.mix is None else x @ self.mix

    def model_leads(self, uv: np.ndarray) -> np.ndarray:
        """The model's leads (``(n, leads)``, µV) from all device channels in µV ``(n, channels)``."""
        return self._mix(np.asarray(uv)[:, self.lead_idx])

    def _append(self, y: np.ndarray, flags: np.ndarray) -> None:
        k = y.shape[0]
        if k == 0:
            return
        if k > self.cap:
            raise SignalError(f"chunk of {k} samples exceeds the {self.cap}-sample buffer")
        pos = (self.m_end + np.arange(k)) % self.cap
        self.buf[pos] = y
        self.bad[pos] = flags
        self.m_end += k

    def gap(self, first_sample: int, n_samples: int, *, arrival: float | None = None) -> list[StreamResult]:
        """``n_samples`` device samples from ``first_sample`` were lost: everything in flight
        that needs them becomes unreadable, and the chain restarts after the gap."""
        t_arr = time.perf_counter() if arrival is None else arrival
        lost = int(n_samples)
        if self._started and first_sample > self.dev_next:
            lost += first_sample - self.dev_next  # never seen either (dropped on queue overflow)
        self.stats["samples_lost"] += lost
        out = self.finish(arrival=t_arr, reason="gap") if self._started else []
        self._start_segment(first_sample + n_samples)
        return out

    def restart(self, first_sample: int, *, arrival: float | None = None, reason: str = "counter reset") -> list[StreamResult]:
        """The device restarted its sample counter: close the segment, start anew at ``first_sample``."""
        out = self.finish(arrival=arrival, reason=reason)
        self._start_segment(first_sample)
        return out

    def finish(self, *, arrival: float | None = None, reason: str = "end of stream") -> list[StreamResult]:
        """End of stream (or of a segment): decide what can still be decided."""
        t_arr = time.perf_counter() if arrival is None else arrival
        if not self._started:
            return []
        if self.spec.kind == "beat":
            return self._beats(t_arr, final=True, reason=reason)
        # windows that began but cannot complete are reported, so every scheduled window is accounted for
        out = []
        while self.next_window < self.m_end:
            out.append(self._unreadable(self.next_window, reason or "incomplete window", t_arr, kind="window"))
            self.next_window += self.hop
        return out

    # -- beats ------------------------------------------------------------------------------
    def _beats(self, t_arr: float, *, new: np.ndarray | None = None, final: bool = False, reason: str = "") -> list[StreamResult]:
        peaks = self.qrs.flush() if final else self.qrs.process(new)
        out = []
        for r in peaks:
            m = self.seg_m0 + int(r)
            out += self._no_beats(t_arr, until=m)
            self.quiet_from = max(self.quiet_from, m)
            rows = self.rr.push(m)
            self._queue(m, rows)
        if final:
            self._queue(None, self.rr.flush())
        else:
            out += self._no_beats(t_arr, until=self.m_end - int(round(NO_BEAT_MARGIN_S * self.fs)))
        L = self.spec.length
        while self.pending and self.pending[0][1] is not None:
            m, rr = self.pending[0]
            start = m - self._before
            if start + L > self.m_end and not final:
                break
            self.pending.popleft()
            if start + L > self.m_end:
                out.append(self._unreadable(m, reason or "incomplete window", t_arr))
                continue
            out.append(self._classify(m, start, np.asarray(rr), t_arr))
        if final:
            while self.pending:
                m, _ = self.pending.popleft()
                out.append(self._unreadable(m, reason or "incomplete window", t_arr))
        return out

    def _no_beats(self, t_arr: float, *, until: int) -> list[StreamResult]:
        """A ``no_beat`` result for every :data:`NO_BEAT_S` stretch without a QRS that ends by
        model index ``until`` (see :data:`NO_BEAT_S`)."""
        span = int(round(NO_BEAT_S * self.fs))
        out = []
        while self.quiet_from + span <= until:
            start = self.quiet_from
            self.quiet_from += span
            reason = self._window_reason(start, start + span)
            if reason is None:  # flat for the second half: the stretch begins with the last beat's tail
                reason = self._flat_reason(self.buf[np.arange(start + span // 2, start + span) % self.cap].T)
            if reason is not None:
                out.append(self._unreadable(start, reason, t_arr, kind="no_beat"))
                continue
            dev = self._m_to_dev(start)
            res = StreamResult(dev, dev / self.fs_dev, NO_BEAT, 0.0, "ok", f"no QRS detected in the {NO_BEAT_S:g} s from here",
                               (time.perf_counter() - t_arr) * 1e3, {}, "no_beat")
            self._count(res)
            out.append(res)
        return out

    def _queue(self, m: int | None, rows: list[list[float]]) -> None:
        # RRTracker emits the features of the previous beat when the next one arrives
        if rows:
            for i in range(len(self.pending)):
                if self.pending[i][1] is None:
                    self.pending[i] = (self.pending[i][0], rows[0])
                    break
        if m is not None:
            self.pending.append((m, None))

    def _window_reason(self, start: int, stop: int) -> str | None:
        if start < self.seg_m0 or start < self.m_end - self.cap:
            return "window starts before the available signal"
        if start < self.settle_until:
            return "settling after start or gap"
        pos = np.arange(start, stop) % self.cap
        flags = np.bitwise_or.reduce(self.bad[pos]) if stop > start else 0
        if flags & 1:
            return "lead off"
        if flags & 2:
            return "saturation"
        return None

    def _flat_reason(self, leads: np.ndarray) -> str | None:
        """"flat line on lead …" naming the leads (rows of ``leads``, µV) whose standard
        deviation is under the gate's ``flat_uv``; ``None`` when none is."""
        flat = np.flatnonzero(leads.std(axis=1) < self.gate.flat_uv)
        return ("flat line on " + ", ".join(f"lead {self.spec.leads[i]}" for i in flat)) if flat.size else None

    def _quality_reason(self, start: int, stop: int) -> str | None:
        pos = np.arange(start, stop) % self.cap
        reports = assess_leads(self.buf[pos], self.fs)
        bad = failing_leads(reports, self.gate.max_noisy_lead_fraction)
        if not bad:
            return None
        return "poor signal quality on " + ", ".join(
            f"lead {self.spec.leads[i]} ({', '.join(reports[i].reasons)})" for i in bad)

    def _cut(self, start: int) -> np.ndarray:
        pos = np.arange(start, start + self.spec.length) % self.cap
        return self.buf[pos].T[None]  # (1, leads, length)

    def _classify(self, m: int, start: int, rr: np.ndarray | None, t_arr: float, kind: str = "beat") -> StreamResult:
        template = sign = neighbours = cut = None
        if kind == "beat" and start >= self.m_end - self.cap and (
                self.template is not None or self.polarity is not None or self.gate_template is not None):
            # every detected beat joins the wearer's context, readable or not, as offline: before
            # the segment start the ring buffer holds the zeros an offline window is padded with
            cut = self._cut(start)
            raw = cut[0]
            if self.gate_template is not None:
                neighbours = self.gate_template.next(raw)
            if self.polarity is not None:
                sign = self.polarity.next(raw[:, self._before])[:, None]
                raw = raw * sign
            if self.template is not None:
                template = self.template.next(raw)
        reason = self._window_reason(start, start + self.spec.length)
        w = (self._cut(start) if cut is None else cut) if reason is None else None
        if w is not None:
            reason = self._flat_reason(w[0])
        if w is not None and reason is None:
            stop = start + self.spec.length
            if kind == "window":
                reason = self._quality_reason(start, stop)
            elif self.gate.beat_context_s:
                # a beat window is too short for the quality indices: judge the seconds before it
                ctx = max(stop - int(round(self.gate.beat_context_s * self.fs)), self.settle_until, self.m_end - self.cap)
                reason = self._quality_reason(ctx, stop)
                if reason is not None and neighbours is not None and _correlation(w[0], neighbours) >= self.gate.beat_context_corr:
                    reason = None
        if reason is not None:
            return self._unreadable(m, reason, t_arr, kind)
        if kind == "beat":
            self.r_beats += 1
            self.r_negative += bool(w[0, 0, self._before] < 0)
        if sign is not None:
            w = w * sign[None]
        if template is not None:
            w = np.concatenate([w, template[None]], axis=1)
        x = model_inputs(w, self.spec)
        side = None
        if self.side_spec is not None:
            side = self.static_side if rr is None else encode_side(rr=rr[None], spec=self.side_spec)
        p = self.clf.predict(x, side)[0]
        k = int(np.argmax(p))
        dev = self._m_to_dev(m)
        res = StreamResult(dev, dev / self.fs_dev, self.classes[k], float(p[k]), "ok", None,
                           (time.perf_counter() - t_arr) * 1e3, dict(zip(self.classes, map(float, p), strict=False)), kind)
        self._count(res)
        return res

    def _unreadable(self, m: int, reason: str, t_arr: float, kind: str = "beat") -> StreamResult:
        dev = self._m_to_dev(m)
        res = StreamResult(dev, dev / self.fs_dev, UNREADABLE, 0.0, UNREADABLE, reason, (time.perf_counter() - t_arr) * 1e3, {}, kind)
        self._count(res)
        return res

    def _count(self, res: StreamResult) -> None:
        # per-class counts and latencies are the session's (it outlives a re-described device)
        self.stats["results"] += 1
        self.stats["unreadable"] += res.quality == UNREADABLE

    # -- fixed windows ----------------------------------------------------------------------
    def _windows(self, t_arr: float) -> list[StreamResult]:
        out = []
        L = self.spec.length
        while self.next_window + L <= self.m_end:
            start = self.next_window
            self.next_window += self.hop
            out.append(self._classify(start, start, None, t_arr, kind="window"))
        return out


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two windows over all leads (0 when either is constant)."""
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    den = float(np.sqrt((a @ a) * (b @ b)))
    return float(a @ b) / den if den > 0 else 0.0


def record_counts(record) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(counts (n, C), uv_per_count (C,), baseline_counts (C,))`` of a record as a device would
    send it; a record with physical values only is passed as µV with 1 µV per count."""
    if record.d_signal is not None:
        return np.asarray(record.d_signal), record.uv_per_count(), np.asarray(record.baseline, dtype=np.float64)
    uv = np.nan_to_num(record.signal_uv(), nan=0.0)
    return uv, np.ones(record.n_leads), np.zeros(record.n_leads)


def stream_record(classifier: Classifier, record, *, chunk_s: float = 1.0, **kwargs) -> list[StreamResult]:
    """Every result of ``record`` pushed chunk by chunk (``chunk_s`` of signal each) through a
    fresh :class:`StreamClassifier` configured from the record's header (``kwargs``: its other
    arguments: ``gate``, ``channels``, ``age``, ...), without transport."""
    return streamed_record(classifier, record, chunk_s=chunk_s, **kwargs)[1]


def streamed_record(classifier: Classifier, record, *, chunk_s: float = 1.0,
                    **kwargs) -> tuple[StreamClassifier, list[StreamResult]]:
    """:func:`stream_record`, and the finished :class:`StreamClassifier` (its
    :meth:`~StreamClassifier.front_end` says what the front end saw)."""
    counts, uv_per_count, baseline = record_counts(record)
    sc = StreamClassifier(classifier, fs_hz=record.fs_hz, lead_names=record.lead_names, uv_per_count=uv_per_count,
                          baseline_counts=baseline, **kwargs)
    step = max(1, int(round(chunk_s * record.fs_hz)))
    out = []
    for i in range(0, len(counts), step):
        out += sc.push(i, counts[i : i + step])
    return sc, out + sc.finish()
