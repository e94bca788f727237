"""Rhythm/diagnosis datasets: CinC 2017 (single lead, AF), CinC 2020/2021 and CPSC 2018
(12 lead, multi-label), and the PTB-XL folder layout.

Signals come out channels-first in microvolts, float32: ``(n_leads, n_samples)`` per record, the
way the models take them. Variable-length datasets keep a tuple of arrays; PTB-XL (all 10 s)
stacks them into one ``(N, 12, L)`` array.
"""

from __future__ import annotations

import ast
import csv
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_ecg.data._common import dataset_dir, resample_poly_uv
from edge_ecg.data.labels import DX_VOCABULARY, map_dx, multi_hot
from edge_ecg.data.leads import STANDARD_12_LEADS, select_leads
from edge_ecg.data.records import Record, read_record
from edge_ecg.errors import ConfigError, LabelError, RecordError

__all__ = [
    "CINC2017_CLASSES",
    "Cinc2017Set",
    "TwelveLeadSet",
    "PtbxlSet",
    "PTBXL_SUPERCLASSES",
    "load_cinc2017",
    "load_12lead",
    "load_ptbxl",
    "read_cinc2017_reference",
]

CINC2017_CLASSES: tuple[str, ...] = ("N", "A", "O", "~")
_CINC2017_REFERENCES = ("REFERENCE-v3_full_training.csv", "REFERENCE-v3.csv")

PTBXL_SUPERCLASSES: tuple[str, ...] = ("NORM", "MI", "STTC", "CD", "HYP")
PTBXL_SPLITS: dict[str, tuple[int, ...]] = {
    "train": (1, 2, 3, 4, 5, 6, 7, 8),
    "val": (9,),
    "test": (10,),
}


def _channels_first_uv(
    rec: Record, leads: Sequence[str] | None, fs_hz_out: float | None
) -> tuple[np.ndarray, float]:
    x = rec.signal_uv()
    if leads is not None:
        x = select_leads(x, rec.lead_names, leads, derive=True)
    x = np.nan_to_num(x, nan=0.0)
    fs = rec.fs_hz
    if fs_hz_out is not None and fs_hz_out != fs:
        x = resample_poly_uv(x, fs, fs_hz_out)
        fs = float(fs_hz_out)
    return np.ascontiguousarray(x.T, dtype=np.float32), fs


def _record_names(directory: Path) -> list[str]:
    listing = directory / "RECORDS"
    if listing.is_file():
        return [ln.strip() for ln in listing.read_text().splitlines() if ln.strip()]
    return sorted(p.stem for p in directory.glob("*.hea"))


# ------------------------------------------------------------------------------------------
# CinC 2017


@dataclass(frozen=True)
class Cinc2017Set:
    """CinC 2017 records: ``signals`` float32 ``(1, L_i)`` µV, ``y`` int64 index into
    ``classes`` (N normal, A AF, O other rhythm, ~ noisy)."""

    names: tuple[str, ...]
    signals: tuple[np.ndarray, ...]
    y: np.ndarray
    fs_hz: float
    classes: tuple[str, ...] = CINC2017_CLASSES
    reference: str = ""

    def __len__(self) -> int:
        return len(self.names)

    def counts(self) -> dict[str, int]:
        c = np.bincount(self.y, minlength=len(self.classes))
        return {name: int(c[i]) for i, name in enumerate(self.classes)}


def read_cinc2017_reference(path: str | Path) -> dict[str, str]:
    """``record -> label`` from a CinC 2017 reference CSV (``A00001,N`` rows)."""
    p = Path(path)
    if not p.is_file():
        raise RecordError(f"{p}: CinC 2017 reference file not found")
    out: dict[str, str] = {}
    with p.open(newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            if not row or not row[0].strip():
                continue
            if len(row) < 2:
                raise RecordError(f"{p}:{lineno}: expected 'record,label', got {row!r}")
            name, label = row[0].strip(), row[1].strip()
            if label not in CINC2017_CLASSES:
                raise LabelError(
                    f"{p}:{lineno}: record {name} has label {label!r}; expected one of {CINC2017_CLASSES}"
                )
            out[name] = label
    return out


def load_cinc2017(
    data_dir: str | Path,
    *,
    reference: str | Path | None = None,
    records: Iterable[str] | None = None,
    fs_hz_out: float | None = None,
) -> Cinc2017Set:
    """CinC 2017 records of ``data_dir`` (the ``cinc2017`` folder or the shared data root) with
    labels from the authoritative ``REFERENCE-v3_full_training.csv`` (not the sample's own
    ``REFERENCE.csv``, 16 of whose 300 labels were revised). ``reference`` overrides the file."""
    d = dataset_dir(data_dir, "cinc2017", "RECORDS")
    if reference is None:
        found = [d / n for n in _CINC2017_REFERENCES if (d / n).is_file()]
        if not found:
            raise RecordError(
                f"{d}: none of {list(_CINC2017_REFERENCES)} found (REFERENCE.csv is not used: its "
                f"labels predate the final v3 revision)"
            )
        ref_path = found[0]
    else:
        ref_path = Path(reference)
    labels = read_cinc2017_reference(ref_path)
    names = list(records) if records is not None else _record_names(d)
    signals, ys = [], []
    fs_out: float | None = None
    for name in names:
        if name not in labels:
            raise LabelError(f"record {name} has no label in {ref_path}")
        x, fs = _channels_first_uv(read_record(d / name, annotator=None), None, fs_hz_out)
        if fs_out is not None and fs != fs_out:
            raise ConfigError(f"records have different rates ({fs_out} Hz, {fs} Hz); set fs_hz_out")
        fs_out = fs
        signals.append(x)
        ys.append(CINC2017_CLASSES.index(labels[name]))
    return Cinc2017Set(
        names=tuple(names),
        signals=tuple(signals),
        y=np.array(ys, dtype=np.int64),
        fs_hz=float(fs_out if fs_out is not None else (fs_hz_out or 300.0)),
        reference=ref_path.name,
    )


# ------------------------------------------------------------------------------------------
# CinC 2020/2021 and CPSC 2018


@dataclass(frozen=True)
class TwelveLeadSet:
    """12-lead records with demographics and multi-hot diagnoses.

    ``signals`` float32 ``(n_leads, L_i)`` µV in the order of ``lead_names``; ``fs_hz`` per record
    (equal everywhere when ``fs_hz_out`` was set); ``age_years`` float32 (NaN unknown); ``sex``
    str array (``'M'``, ``'F'``, ``''`` unknown); ``y`` float32 ``(N, len(vocabulary))``;
    ``dx`` the raw header codes; ``unknown_codes`` counts codes no label table knows (they were
    put in ``OTHER``).
    """

    names: tuple[str, ...]
    signals: tuple[np.ndarray, ...]
    fs_hz: np.ndarray
    lead_names: tuple[str, ...]
    age_years: np.ndarray
    sex: np.ndarray
    y: np.ndarray
    vocabulary: tuple[str, ...]
    dx: tuple[tuple[str, ...], ...]
    unknown_codes: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def counts(self) -> dict[str, int]:
        return {v: int(self.y[:, i].sum()) for i, v in enumerate(self.vocabulary)}


def load_12lead(
    dirs: str | Path | Iterable[str | Path],
    *,
    vocabulary: Sequence[str] = DX_VOCABULARY,
    leads: Sequence[str] = STANDARD_12_LEADS,
    fs_hz_out: float | None = None,
) -> TwelveLeadSet:
    """Every record (``*.hea``) of the CinC 2020/2021 or CPSC 2018 folders ``dirs``.

    ``# Age``, ``# Sex`` and ``# Dx`` header lines give demographics and labels; Dx entries may be
    SNOMED-CT codes (CinC) or CPSC abbreviations, all mapped into ``vocabulary``. ``leads``
    selects/reorders by name (limb leads derived when missing).
    """
    if isinstance(dirs, (str, Path)):
        dirs = [dirs]
    vocab = tuple(vocabulary)
    names, signals, fss, ages, sexes, ys, dxs = [], [], [], [], [], [], []
    unknown: Counter[str] = Counter()
    for directory in dirs:
        d = Path(directory)
        if not d.is_dir():
            raise RecordError(f"{d}: dataset folder not found")
        for hea in sorted(d.glob("*.hea")):
            rec = read_record(hea, annotator=None)
            x, fs = _channels_first_uv(rec, leads, fs_hz_out)
            mapped = map_dx(rec.dx, vocabulary=vocab)
            unknown.update(mapped.unknown)
            names.append(rec.name)
            signals.append(x)
            fss.append(fs)
            ages.append(np.nan if rec.age is None else rec.age)
            sexes.append(rec.sex or "")
            ys.append(multi_hot(mapped.labels, vocab))
            dxs.append(rec.dx)
    return TwelveLeadSet(
        names=tuple(names),
        signals=tuple(signals),
        fs_hz=np.array(fss, dtype=np.float64),
        lead_names=tuple(leads),
        age_years=np.array(ages, dtype=np.float32),
        sex=np.array(sexes, dtype="<U1"),
        y=np.stack(ys) if ys else np.zeros((0, len(vocab)), np.float32),
        vocabulary=vocab,
        dx=tuple(dxs),
        unknown_codes=dict(unknown),
    )


# ------------------------------------------------------------------------------------------
# PTB-XL


@dataclass(frozen=True)
class PtbxlSet:
    """PTB-XL records: ``x`` float32 ``(N, 12, L)`` µV; ``y`` float32 multi-hot over ``classes``
    (diagnostic superclasses); ``fold`` the ``strat_fold`` (1-8 train, 9 val, 10 test)."""

    ecg_id: np.ndarray
    patient_id: np.ndarray
    x: np.ndarray
    y: np.ndarray
    fold: np.ndarray
    age_years: np.ndarray
    sex: np.ndarray
    fs_hz: float
    lead_names: tuple[str, ...]
    classes: tuple[str, ...] = PTBXL_SUPERCLASSES

    def __len__(self) -> int:
        return int(self.ecg_id.shape[0])

    def split_mask(self, split: str) -> np.ndarray:
        """Rows of ``split`` (``'train'``: folds 1-8, ``'val'``: 9, ``'test'``: 10)."""
        if split not in PTBXL_SPLITS:
            raise ConfigError(f"split must be one of {list(PTBXL_SPLITS)}, got {split!r}")
        return np.isin(self.fold, PTBXL_SPLITS[split])


def read_scp_statements(path: str | Path) -> dict[str, str]:
    """``scp code -> diagnostic superclass`` for the diagnostic statements of
    ``scp_statements.csv`` (first column the code, ``diagnostic_class`` column)."""
    p = Path(path)
    if not p.is_file():
        raise RecordError(f"{p}: PTB-XL scp_statements.csv not found")
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration as exc:
            raise RecordError(f"{p}: empty file") from exc
        if "diagnostic_class" not in header:
            raise RecordError(f"{p}: no 'diagnostic_class' column (columns: {header})")
        col = header.index("diagnostic_class")
        out = {}
        for row in reader:
            if len(row) > col and row[col].strip():
                out[row[0].strip()] = row[col].strip()
    return out


def load_ptbxl(
    root: str | Path,
    sampling_rate: int = 100,
    *,
    split: str | None = None,
    min_likelihood: float = 0.0,
    drop_unlabelled: bool = True,
    leads: Sequence[str] = STANDARD_12_LEADS,
) -> PtbxlSet:
    """PTB-XL from its published folder layout (``ptbxl_database.csv``, ``scp_statements.csv``,
    ``records100/``, ``records500/``).

    Labels are the diagnostic superclasses (NORM, MI, STTC, CD, HYP) of the ``scp_codes``
    statements whose likelihood (%) is at least ``min_likelihood`` (0 keeps every statement, as
    the PTB-XL benchmark does). ``drop_unlabelled`` skips records with no superclass. ``split``
    keeps one of ``'train'`` (strat_fold 1-8), ``'val'`` (9), ``'test'`` (10). Sex 0 is male, 1
    female (PTB-XL's coding); ages over 89 are stored as 300 by PTB-XL and read as 90.
    """
    if sampling_rate not in (100, 500):
        raise ConfigError(f"sampling_rate must be 100 or 500 Hz, got {sampling_rate!r}")
    if split is not None and split not in PTBXL_SPLITS:
        raise ConfigError(f"split must be one of {list(PTBXL_SPLITS)} or None, got {split!r}")
    r = Path(root)
    db_path = r / "ptbxl_database.csv"
    if not db_path.is_file():
        raise RecordError(f"{db_path}: PTB-XL database file not found")
    superclass_of = read_scp_statements(r / "scp_statements.csv")
    file_col = "filename_lr" if sampling_rate == 100 else "filename_hr"
    ids, pids, xs, ys, folds, ages, sexes = [], [], [], [], [], [], []
    with db_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        need = {"ecg_id", "patient_id", "age", "sex", "scp_codes", "strat_fold", file_col}
        missing = need - set(reader.fieldnames or ())
        if missing:
            raise RecordError(f"{db_path}: missing columns {sorted(missing)}")
        for row in reader:
            ecg_id = int(float(row["ecg_id"]))
            fold = int(float(row["strat_fold"]))
            if split is not None and fold not in PTBXL_SPLITS[split]:
                continue
            try:
                codes = ast.literal_eval(row["scp_codes"])
            except (ValueError, SyntaxError) as exc:
                raise LabelError(
                    f"{db_path}: ecg_id {ecg_id}: scp_codes is not a dict literal: {row['scp_codes']!r}"
                ) from exc
            if not isinstance(codes, dict):
                raise LabelError(
                    f"{db_path}: ecg_id {ecg_id}: scp_codes is not a dict: {row['scp_codes']!r}"
                )
            labels = {
                superclass_of[c]
                for c, likelihood in codes.items()
                if c in superclass_of and float(likelihood) >= min_likelihood
            }
            unknown = labels - set(PTBXL_SUPERCLASSES)
            if unknown:
                raise LabelError(
                    f"{db_path}: ecg_id {ecg_id}: unknown diagnostic class(es) {sorted(unknown)}"
                )
            if drop_unlabelled and not labels:
                continue
            rec = read_record(r / row[file_col], annotator=None)
            if rec.fs_hz != sampling_rate:
                raise RecordError(
                    f"{r / row[file_col]}: sampled at {rec.fs_hz} Hz, expected {sampling_rate} Hz"
                )
            x = select_leads(rec.signal_uv(), rec.lead_names, leads, derive=True)
            xs.append(np.ascontiguousarray(np.nan_to_num(x).T, dtype=np.float32))
            ys.append(multi_hot(sorted(labels), PTBXL_SUPERCLASSES))
            ids.append(ecg_id)
            pids.append(int(float(row["patient_id"])))
            folds.append(fold)
            ages.append(_ptbxl_age(row["age"]))
            sexes.append({"0": "M", "1": "F"}.get(row["sex"].strip().split(".")[0], ""))
    lengths = {x.shape[1] for x in xs}
    if len(lengths) > 1:
        raise RecordError(f"{r}: PTB-XL records differ in length ({sorted(lengths)} samples)")
    n_samples = lengths.pop() if lengths else int(10 * sampling_rate)
    return PtbxlSet(
        ecg_id=np.array(ids, dtype=np.int64),
        patient_id=np.array(pids, dtype=np.int64),
        x=np.stack(xs) if xs else np.zeros((0, len(leads), n_samples), np.float32),
        y=np.stack(ys) if ys else np.zeros((0, len(PTBXL_SUPERCLASSES)), np.float32),
        fold=np.array(folds, dtype=np.int64),
        age_years=np.array(ages, dtype=np.float32),
        sex=np.array(sexes, dtype="<U1"),
        fs_hz=float(sampling_rate),
        lead_names=tuple(leads),
    )


def _ptbxl_age(value: str) -> float:
    try:
        age = float(value)
    except ValueError:
        return math.nan
    if not math.isfinite(age) or age < 0:
        return math.nan
    return 90.0 if age >= 300 else age
