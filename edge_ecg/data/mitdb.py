"""MIT-BIH Arrhythmia Database: beat windows with AAMI labels and RR features, rhythm windows.

Splits follow de Chazal et al. (2004), inter-patient, paced records (102, 104, 107, 217) excluded:
:data:`DS1` trains, :data:`DS2` tests. A beat is every reference annotation whose symbol is in the
AAMI map (:data:`edge_ecg.data.labels.AAMI_MAP`); with the shared data this gives exactly

======  ======  ======  =====  =====  ===  ===
split   beats   N       S      V      F    Q
======  ======  ======  =====  =====  ===  ===
DS1     51,021  45,866    944  3,788  415    8
DS2     49,712  44,259  1,837  3,221  388    7
======  ======  ======  =====  =====  ===  ===

Windows near the record edges are zero-padded rather than dropped so those counts hold.

Signal path of :func:`load_beats`, per record and in the runtime's order (a device replaying the
record at its own rate): the chosen lead in µV -> ``filter_fn(signal_uv, fs_hz)`` over the whole
record at the record's rate (so a causal filter behaves exactly as it does on the stream) ->
resampled to ``fs_hz_out`` (``resample_fn``, default whole-record polyphase) -> windows of
``before_s`` + ``after_s`` around each R peak.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_ecg.data._common import dataset_dir, resample_poly_uv
from edge_ecg.data.labels import AAMI_CLASSES, aami_indices
from edge_ecg.data.leads import lead_index, select_leads
from edge_ecg.data.records import Record, read_record
from edge_ecg.errors import ConfigError, DeviceMismatchError, RecordError, SignalError
from edge_ecg.signal.rr import RRConfig, rr_features

__all__ = [
    "DS1",
    "DS2",
    "PACED_RECORDS",
    "BeatWindowConfig",
    "BeatSet",
    "RhythmSet",
    "load_beats",
    "load_rhythm_windows",
    "load_mitdb_record",
    "clear_cache",
    "beat_counts",
    "resample_poly_uv",
    "rhythm_intervals",
]

DS1: tuple[str, ...] = (
    "101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122",
    "124", "201", "203", "205", "207", "208", "209", "215", "220", "223", "230",
)  # fmt: skip
DS2: tuple[str, ...] = (
    "100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210",
    "212", "213", "214", "219", "221", "222", "228", "231", "232", "233", "234",
)  # fmt: skip
PACED_RECORDS: tuple[str, ...] = ("102", "104", "107", "217")
SPLITS: dict[str, tuple[str, ...]] = {"DS1": DS1, "DS2": DS2}

_DEFAULT_RR = RRConfig()

FilterFn = Callable[[np.ndarray, float], np.ndarray]  # (signal_uv, fs_hz) -> same length
ResampleFn = Callable[[np.ndarray, float, float], np.ndarray]  # (signal, fs_in_hz, fs_out_hz)


@dataclass(frozen=True)
class BeatWindowConfig:
    """Beat window around the R peak: ``before_s`` seconds before it, ``after_s`` after.

    At ``fs_hz`` the window holds ``round(before_s*fs_hz) + round(after_s*fs_hz)`` samples, the
    R peak at index ``round(before_s*fs_hz)``. Travels in the model manifest.
    """

    before_s: float = 0.25
    after_s: float = 0.45

    def __post_init__(self):
        for name in ("before_s", "after_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"{name} must be a finite number of seconds >= 0, got {v!r}")
        if self.before_s + self.after_s <= 0:
            raise ConfigError(
                f"beat window must be longer than 0 s, got before_s={self.before_s}, after_s={self.after_s}"
            )

    def offsets(self, fs_hz: float) -> tuple[int, int]:
        """(samples before the R peak, samples from the R peak on) at ``fs_hz``."""
        if not fs_hz > 0:
            raise ConfigError(f"fs_hz must be > 0, got {fs_hz!r}")
        return int(round(self.before_s * fs_hz)), int(round(self.after_s * fs_hz))

    def length(self, fs_hz: float) -> int:
        before, after = self.offsets(fs_hz)
        return before + after


@dataclass(frozen=True)
class BeatSet:
    """Beats of one or more records, row-aligned arrays.

    ``x`` float32 ``(N, 1, L)`` windows in µV; ``y`` int64 index into ``classes``; ``rr``
    float32 ``(N, 4)`` RR features in seconds (:data:`edge_ecg.signal.rr.RR_FEATURE_NAMES`);
    ``record`` and ``symbol`` str arrays; ``sample`` int64 R-peak sample at ``fs_hz``.
    ``dropped_invalid``: annotated beats left out because their window touches samples the
    record marks invalid on the lead used (a placeholder value is no ECG to learn or score on).
    """

    x: np.ndarray
    y: np.ndarray
    rr: np.ndarray
    record: np.ndarray
    sample: np.ndarray
    symbol: np.ndarray
    fs_hz: float
    classes: tuple[str, ...] = AAMI_CLASSES
    dropped_invalid: int = 0

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def counts(self) -> dict[str, int]:
        """Beats per class, every class listed (zeros included)."""
        c = np.bincount(self.y, minlength=len(self.classes))
        return {name: int(c[i]) for i, name in enumerate(self.classes)}

    def subset(self, mask: np.ndarray) -> BeatSet:
        """Rows selected by a boolean mask or an index array."""
        return BeatSet(
            x=self.x[mask], y=self.y[mask], rr=self.rr[mask], record=self.record[mask],
            sample=self.sample[mask], symbol=self.symbol[mask], fs_hz=self.fs_hz,
            classes=self.classes,
        )  # fmt: skip


@dataclass(frozen=True)
class RhythmSet:
    """Fixed windows labelled by the rhythm in force.

    ``x`` float32 ``(N, 1, L)`` in µV; ``y`` int64 index into ``classes`` (rhythm names without
    the leading ``'('``, e.g. ``'AFIB'``); ``record`` str array; ``start`` int64 first sample at
    ``fs_hz``.
    """

    x: np.ndarray
    y: np.ndarray
    record: np.ndarray
    start: np.ndarray
    fs_hz: float
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def counts(self) -> dict[str, int]:
        c = np.bincount(self.y, minlength=len(self.classes))
        return {name: int(c[i]) for i, name in enumerate(self.classes)}


# ------------------------------------------------------------------------------------------
# Record access


def _record_path(data_dir: str | Path, name: str) -> Path:
    return (dataset_dir(data_dir, "mitdb", f"{name}.hea") / name).resolve()


@functools.lru_cache(maxsize=64)
def _cached_record(path: str, stamp: tuple[int, ...]) -> Record:
    del stamp  # part of the cache key only: a rewritten file is read again
    return read_record(path, annotator="atr")


def _stamp(base: Path) -> tuple[int, ...]:
    out: list[int] = []
    for ext in ("hea", "dat", "atr"):
        p = base.parent / f"{base.name}.{ext}"
        st = p.stat() if p.exists() else None
        out += [st.st_mtime_ns, st.st_size] if st else [-1, -1]
    return tuple(out)


def shared_mitdb() -> Path | None:
    """The shared MIT-BIH folder (under :func:`edge_ecg.paths.shared_data_dir`), or ``None`` on a
    machine without it (then DS2 evaluations cannot run)."""
    from edge_ecg.paths import shared_data_dir

    d = shared_data_dir() / "mitdb"
    return d if (d / "RECORDS").is_file() else None


def load_mitdb_record(name: str, data_dir: str | Path) -> Record:
    """One MIT-BIH record with its ``atr`` annotations, decoded once per process (cached on
    the path; ~16 MB per 30-min record, :func:`clear_cache` frees them)."""
    base = _record_path(data_dir, name)
    rec = _cached_record(str(base), _stamp(base))
    if rec.annotations is None:
        others = sorted(p.suffix for p in base.parent.glob(f"{base.name}.*")
                        if p.suffix not in (".hea", ".dat", ".atr", ".mat", ".edf"))
        hint = (f" (there are {', '.join(others)}: if one holds the reference beat labels, link or copy it as "
                f"{base.name}.atr)") if others else ""
        raise RecordError(f"{base}.atr: no reference annotations for record {name}{hint}")
    return rec


def clear_cache() -> None:
    """Forget the decoded records (frees their memory)."""
    _cached_record.cache_clear()


def prepared_lead(
    rec: Record,
    lead: str | int,
    fs_hz_out: float | None,
    filter_fn: FilterFn | None,
    resample_fn: ResampleFn | None,
) -> tuple[np.ndarray, float]:
    """One lead in µV (a missing limb lead derived from two of I, II, III, as the runtime does),
    filtered over the whole record at its own rate, then resampled."""
    x = _lead_uv(rec, lead)
    fs = rec.fs_hz
    if np.isnan(x).any():
        # missing samples (WFDB invalid value) would spread NaN through any filter
        x = np.nan_to_num(x, nan=0.0)
    if filter_fn is not None:
        y = np.asarray(filter_fn(x, fs), dtype=np.float64)
        if y.shape != x.shape:
            raise SignalError(
                f"filter_fn returned shape {y.shape} for an input of shape {x.shape}; it must keep "
                f"the length"
            )
        x = y
    if fs_hz_out is not None and fs_hz_out != fs:
        x = np.asarray((resample_fn or resample_poly_uv)(x, fs, float(fs_hz_out)), dtype=np.float64)
        fs = float(fs_hz_out)
    return x, fs


def _lead_uv(rec: Record, lead: str | int) -> np.ndarray:
    """One lead in µV, NaN where the record marks a sample invalid (a lead derived from two
    channels is invalid where either is)."""
    if isinstance(lead, (int, np.integer)):
        col = lead_index(rec.lead_names, lead)
        return rec.p_signal[:, col] * rec.uv_per_unit()[col]
    return select_leads(rec.signal_uv(), rec.lead_names, [lead], derive=True)[:, 0]


def cut_windows(x: np.ndarray, centres: np.ndarray, before: int, after: int) -> np.ndarray:
    """Windows ``x[c-before : c+after]``, zero-padded past either end; float32 ``(n, 1, L)``."""
    padded = np.concatenate([np.zeros(before), x, np.zeros(after)])
    idx = centres[:, None] + np.arange(before + after)[None, :]  # shifted by the left padding
    return padded[idx].astype(np.float32)[:, None, :]


def _names(records: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(records, str):
        return SPLITS[records] if records in SPLITS else (records,)
    return tuple(str(r) for r in records)


# ------------------------------------------------------------------------------------------
# Beats


def load_beats(
    records: str | Iterable[str],
    data_dir: str | Path,
    *,
    fs_hz_out: float | None = None,
    lead: str | int = "MLII",
    window: BeatWindowConfig = BeatWindowConfig(),
    filter_fn: FilterFn | None = None,
    resample_fn: ResampleFn | None = None,
    streaming_rr: bool = True,
    rr_config: RRConfig = _DEFAULT_RR,
    include_q: bool = True,
) -> BeatSet:
    """Beat windows, AAMI labels and RR features of MIT-BIH ``records``.

    ``records`` is an iterable of record names or a split name (``'DS1'``, ``'DS2'``).
    ``data_dir`` is the folder with the records (or the shared data root holding ``mitdb/``).
    ``lead`` is a name (``'MLII'``, the default, is lead 0 in every record except 114) or a
    column index. ``filter_fn(signal_uv, fs_hz)`` runs over the whole record at its own rate, then
    ``resample_fn(signal, fs_in_hz, fs_out_hz)`` (default :func:`resample_poly_uv`) brings it to
    ``fs_hz_out`` (default: the record's 360 Hz); R peaks map to ``round(r * fs_out / fs_in)``. RR features come from every beat annotation of the record at
    the record's own rate (Q beats included even when ``include_q=False`` drops them from the
    output), causally when ``streaming_rr`` (identical to :class:`edge_ecg.signal.rr.RRTracker`).
    """
    xs, ys, rrs, recs, samples, symbols = [], [], [], [], [], []
    dropped_invalid = 0
    fs_out: float | None = None
    q_index = AAMI_CLASSES.index("Q")
    for name in _names(records):
        rec = load_mitdb_record(name, data_dir)
        ann = rec.annotations
        cls = aami_indices(ann.symbol, record=name)
        is_beat = cls >= 0
        r_in = ann.sample[is_beat]
        y = cls[is_beat]
        sym = np.asarray(ann.symbol, dtype=object)[is_beat]
        if r_in.size and (np.any(np.diff(r_in) <= 0) or r_in[0] < 0 or r_in[-1] >= rec.n_samples):
            raise RecordError(
                f"record {name}: beat annotations are not increasing sample indices inside the record"
            )
        rr = rr_features(r_in, rec.fs_hz, streaming=streaming_rr, config=rr_config)

        try:
            x, fs = prepared_lead(rec, lead, fs_hz_out, filter_fn, resample_fn)
        except DeviceMismatchError as exc:
            raise DeviceMismatchError(f"record {name}: {exc}") from None
        if fs_out is not None and fs != fs_out:
            raise ConfigError(f"records have different rates ({fs_out} Hz, {fs} Hz); set fs_hz_out")
        fs_out = fs
        r_out = np.rint(r_in * (fs / rec.fs_hz)).astype(np.int64)
        r_out = np.clip(r_out, 0, x.shape[0] - 1)
        before, after = window.offsets(fs)
        keep = np.ones(y.shape[0], dtype=bool) if include_q else (y != q_index)
        touches = _touches_invalid(np.isnan(_lead_uv(rec, lead)), r_in, *window.offsets(rec.fs_hz))
        dropped_invalid += int((keep & touches).sum())
        keep &= ~touches
        xs.append(cut_windows(x, r_out[keep], before, after))
        ys.append(y[keep])
        rrs.append(rr[keep].astype(np.float32))
        recs.append(np.full(int(keep.sum()), name))
        samples.append(r_out[keep])
        symbols.append(sym[keep].astype(str))

    if fs_out is None:
        raise ConfigError("no records given")
    length = window.length(fs_out)
    return BeatSet(
        x=np.concatenate(xs) if xs else np.empty((0, 1, length), np.float32),
        y=np.concatenate(ys).astype(np.int64),
        rr=np.concatenate(rrs).astype(np.float32).reshape(-1, 4),
        record=np.concatenate(recs).astype(str),
        sample=np.concatenate(samples).astype(np.int64),
        symbol=np.concatenate(symbols).astype(str),
        fs_hz=fs_out,
        classes=AAMI_CLASSES,
        dropped_invalid=dropped_invalid,
    )


def _touches_invalid(invalid: np.ndarray, r: np.ndarray, before: int, after: int) -> np.ndarray:
    """Which beats (R at samples ``r``) have a window ``[r - before, r + after)`` holding a
    sample that ``invalid`` (bool per sample of the lead used) marks."""
    if not invalid.any():
        return np.zeros(r.shape[0], dtype=bool)
    n_invalid = np.concatenate([[0], np.cumsum(invalid)])
    lo = np.clip(r - before, 0, invalid.shape[0])
    hi = np.clip(r + after, 0, invalid.shape[0])
    return n_invalid[hi] > n_invalid[lo]


def beat_counts(records: str | Iterable[str], data_dir: str | Path) -> dict[str, int]:
    """AAMI class counts from the annotations alone (no signal processing)."""
    total = np.zeros(len(AAMI_CLASSES), dtype=np.int64)
    for name in _names(records):
        cls = aami_indices(load_mitdb_record(name, data_dir).annotations.symbol, record=name)
        total += np.bincount(cls[cls >= 0], minlength=len(AAMI_CLASSES))
    return {c: int(total[i]) for i, c in enumerate(AAMI_CLASSES)}


# ------------------------------------------------------------------------------------------
# Rhythms


def rhythm_intervals(rec: Record) -> list[tuple[int, int, str]]:
    """``(start, end, rhythm)`` sample intervals (end exclusive) from the ``'(XXX'`` aux notes
    of the annotations; samples before the first rhythm annotation have no rhythm."""
    ann = rec.annotations
    if ann is None:
        return []
    changes = [
        (int(s), note.strip().lstrip("(").strip())
        for s, note in zip(ann.sample, ann.aux_note, strict=True)
        if note.strip().startswith("(")
    ]
    out = []
    for k, (start, rhythm) in enumerate(changes):
        end = changes[k + 1][0] if k + 1 < len(changes) else rec.n_samples
        if end > start:
            out.append((start, end, rhythm))
    return out


def load_rhythm_windows(
    records: str | Iterable[str],
    data_dir: str | Path,
    *,
    window_s: float = 10.0,
    hop_s: float | None = None,
    fs_hz_out: float | None = None,
    lead: str | int = "MLII",
    filter_fn: FilterFn | None = None,
    resample_fn: ResampleFn | None = None,
    rhythms: Sequence[str] | None = None,
    require_uniform: bool = True,
) -> RhythmSet:
    """Fixed ``window_s`` windows every ``hop_s`` (default: no overlap) labelled by the rhythm in
    force (from the ``'(AFIB'``, ``'(VT'``, ``'(N'`` ... aux notes).

    With ``require_uniform`` a window that spans a rhythm change is skipped; otherwise it takes
    the rhythm covering most of it. Windows before the first rhythm annotation are skipped.
    ``rhythms`` fixes the classes (others skipped); by default every rhythm seen, sorted.
    """
    if not (math.isfinite(window_s) and window_s > 0):
        raise ConfigError(f"window_s must be > 0 s, got {window_s!r}")
    hop = window_s if hop_s is None else hop_s
    if not (math.isfinite(hop) and hop > 0):
        raise ConfigError(f"hop_s must be > 0 s, got {hop_s!r}")
    xs, labels, recs, starts = [], [], [], []
    fs_out: float | None = None
    for name in _names(records):
        rec = load_mitdb_record(name, data_dir)
        try:
            x, fs = prepared_lead(rec, lead, fs_hz_out, filter_fn, resample_fn)
        except DeviceMismatchError as exc:
            raise DeviceMismatchError(f"record {name}: {exc}") from None
        if fs_out is not None and fs != fs_out:
            raise ConfigError(f"records have different rates ({fs_out} Hz, {fs} Hz); set fs_hz_out")
        fs_out = fs
        scale = fs / rec.fs_hz
        spans = [(round(a * scale), round(b * scale), r) for a, b, r in rhythm_intervals(rec)]
        if not spans:
            continue
        length = int(round(window_s * fs))
        step = int(round(hop * fs))
        # per-sample rhythm id, -1 before the first rhythm annotation
        names = sorted({r for _, _, r in spans})
        lab = np.full(x.shape[0], -1, dtype=np.int64)
        for a, b, r in spans:
            lab[a:b] = names.index(r)
        for start in range(0, x.shape[0] - length + 1, step):
            seg = lab[start : start + length]
            if seg[0] < 0 or seg.min() < 0:
                continue
            if require_uniform:
                if seg.min() != seg.max():
                    continue
                chosen = int(seg[0])
            else:
                chosen = int(np.bincount(seg).argmax())
            rhythm = names[chosen]
            if rhythms is not None and rhythm not in rhythms:
                continue
            xs.append(x[start : start + length].astype(np.float32))
            labels.append(rhythm)
            recs.append(name)
            starts.append(start)
    if fs_out is None:
        raise ConfigError("no records given")
    classes = tuple(rhythms) if rhythms is not None else tuple(sorted(set(labels)))
    index = {c: i for i, c in enumerate(classes)}
    length = int(round(window_s * fs_out))
    return RhythmSet(
        x=np.stack(xs)[:, None, :] if xs else np.empty((0, 1, length), np.float32),
        y=np.array([index[r] for r in labels], dtype=np.int64),
        record=np.array(recs, dtype=str),
        start=np.array(starts, dtype=np.int64),
        fs_hz=fs_out,
        classes=classes,
    )
