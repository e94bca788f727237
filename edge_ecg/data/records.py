"""One recording in memory, and the readers that produce it.

A :class:`Record` keeps the ADC counts (``d_signal``) and the physical values (``p_signal``) apart
by name, the way wfdb does, together with the calibration that links them::

    p_signal = (d_signal - baseline) / adc_gain        # physical units (see ``units``)

Readers:

* :func:`read_record` — WFDB records (``.hea`` + ``.dat``/``.mat``), through ``wfdb`` with
  ``physical=False`` so the counts are kept. It also reads the ``.npz`` files written by
  :func:`save_npz` (no wfdb needed) and OpenSignals ``.txt`` files.
* :func:`read_opensignals` — the text files BITalino's OpenSignals software saves.

Real-world quirks handled here, never by editing the data files:

* CinC 2017 headers end lines with CRLF and write the start date as ``YYYY-MM-DD`` *before* the
  time; wfdb 4.3 refuses both. The header text is normalised and read from a temporary directory
  that holds the cleaned header and a symlink (or copy) of the signal file.
* wfdb pads or crashes obscurely on a ``.dat`` shorter than its header declares, so the file size
  is checked against the header first.

Every problem with a file raises :class:`~edge_ecg.errors.RecordError` naming the file and what
was wrong; wfdb and numpy exceptions are chained, never leaked.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_ecg.errors import RecordError, SignalError, require

__all__ = [
    "Annotations",
    "Record",
    "read_record",
    "read_opensignals",
    "save_npz",
    "BITALINO_VCC_V",
    "BITALINO_ECG_GAIN",
]

# WFDB storage formats -> bits per stored sample (None: compressed, size cannot be checked).
_FORMAT_BITS: dict[str, float | None] = {
    "8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16, "212": 12,
    "310": 32 / 3, "311": 32 / 3, "508": None, "516": None, "524": None,
}  # fmt: skip

# Count value WFDB reserves for "no sample" in each format (format 8 has none: it is differential).
_INVALID_COUNT: dict[str, int | None] = {
    "8": None, "16": -(2**15), "24": -(2**23), "32": -(2**31), "61": -(2**15), "80": -(2**7),
    "160": -(2**15), "212": -(2**11), "310": -(2**9), "311": -(2**9), "508": -(2**7),
    "516": -(2**15), "524": -(2**23),
}  # fmt: skip

# Physical unit (lower case) -> microvolts per unit.
_UV_PER_UNIT = {"v": 1e6, "mv": 1e3, "uv": 1.0, "µv": 1.0, "μv": 1.0, "nv": 1e-3}

# BITalino ECG sensor transfer function (BITalino "ECG Sensor Data Sheet"):
#   ECG(mV) = ((ADC / 2**n - 0.5) * VCC) / G_ECG * 1000
BITALINO_VCC_V = 3.3
BITALINO_ECG_GAIN = 1100.0

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_META = re.compile(r"^\s*(age|sex|dx)\s*:\s*(.*?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Annotations:
    """Reference annotations of a record (as in a WFDB ``.atr`` file).

    ``sample`` are int64 sample indices; ``symbol`` the WFDB annotation codes (``'N'``, ``'V'``,
    ``'+'`` ...); ``aux_note`` the auxiliary text (rhythm changes such as ``'(AFIB'``).
    """

    sample: np.ndarray
    symbol: tuple[str, ...]
    aux_note: tuple[str, ...]

    def __post_init__(self):
        if np.ndim(self.sample) != 1:
            raise SignalError(f"annotation samples must be 1-D, got shape {np.shape(self.sample)}")
        n = len(self.sample)
        if len(self.symbol) != n or len(self.aux_note) != n:
            raise SignalError(
                f"annotations disagree in length: {n} samples, {len(self.symbol)} symbols, "
                f"{len(self.aux_note)} aux notes"
            )

    def __len__(self) -> int:
        return len(self.sample)


@dataclass(frozen=True)
class Record:
    """A multi-lead recording: counts, physical values, calibration and header metadata.

    ``p_signal`` is ``(n_samples, n_leads)`` float64 in ``units`` (NaN where the file marks a
    sample as missing); ``d_signal`` the same samples as int32 ADC counts (``None`` when the source
    holds physical values only). ``adc_gain`` is counts per physical unit and ``baseline`` the count
    of physical zero, per lead. ``age`` is in years.
    """

    name: str
    fs_hz: float
    lead_names: tuple[str, ...]
    p_signal: np.ndarray
    d_signal: np.ndarray | None
    adc_gain: tuple[float, ...]
    baseline: tuple[int, ...]
    units: tuple[str, ...]
    annotations: Annotations | None = None
    age: float | None = None
    sex: str | None = None
    dx: tuple[str, ...] = ()
    comments: tuple[str, ...] = ()

    def __post_init__(self):
        if not (
            isinstance(self.fs_hz, (int, float)) and math.isfinite(self.fs_hz) and self.fs_hz > 0
        ):
            raise SignalError(
                f"record {self.name!r}: fs_hz must be a finite rate > 0 Hz, got {self.fs_hz!r}"
            )
        if np.ndim(self.p_signal) != 2:
            raise SignalError(
                f"record {self.name!r}: p_signal must be (n_samples, n_leads), got shape "
                f"{np.shape(self.p_signal)}"
            )
        n_leads = self.p_signal.shape[1]
        for field_name in ("lead_names", "adc_gain", "baseline", "units"):
            if len(getattr(self, field_name)) != n_leads:
                raise SignalError(
                    f"record {self.name!r}: {field_name} has {len(getattr(self, field_name))} "
                    f"entries for {n_leads} leads"
                )
        if self.d_signal is not None and np.shape(self.d_signal) != self.p_signal.shape:
            raise SignalError(
                f"record {self.name!r}: d_signal shape {np.shape(self.d_signal)} differs from "
                f"p_signal shape {self.p_signal.shape}"
            )
        if self.sex not in (None, "M", "F"):
            raise SignalError(
                f"record {self.name!r}: sex must be 'M', 'F' or None, got {self.sex!r}"
            )

    @property
    def n_samples(self) -> int:
        return int(self.p_signal.shape[0])

    @property
    def n_leads(self) -> int:
        return int(self.p_signal.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs_hz

    def uv_per_unit(self) -> np.ndarray:
        """Microvolts per physical unit, per lead (1000 for mV). Non-voltage units raise."""
        out = np.empty(self.n_leads, dtype=np.float64)
        for i, unit in enumerate(self.units):
            scale = _UV_PER_UNIT.get(unit.strip().lower())
            if scale is None:
                raise SignalError(
                    f"record {self.name!r}: lead {self.lead_names[i]!r} is in {unit!r}, not a voltage "
                    f"unit (expected one of V, mV, uV, nV)"
                )
            out[i] = scale
        return out

    def uv_per_count(self) -> np.ndarray:
        """Microvolts per ADC count, per lead: ``uv_per_unit / adc_gain`` (5 µV for MIT-BIH)."""
        gain = np.asarray(self.adc_gain, dtype=np.float64)
        if np.any(gain <= 0):
            raise SignalError(
                f"record {self.name!r}: adc_gain must be > 0 counts/unit, got {self.adc_gain}"
            )
        return self.uv_per_unit() / gain

    def signal_uv(self) -> np.ndarray:
        """The signal in microvolts, float64 ``(n_samples, n_leads)``."""
        return self.p_signal * self.uv_per_unit()


# --------------------------------------------------------------------------------------------
# Header helpers


def _parse_meta(comments: tuple[str, ...]) -> tuple[float | None, str | None, tuple[str, ...]]:
    """Age (years), sex ('M'/'F') and Dx codes from header comments in either ``# Age: 53``
    or ``#Age: 53`` style (wfdb strips the ``#``)."""
    age: float | None = None
    sex: str | None = None
    dx: tuple[str, ...] = ()
    for line in comments:
        m = _META.match(line.lstrip("#"))
        if not m:
            continue
        key, value = m.group(1).lower(), m.group(2)
        if key == "age":
            age = _parse_age(value)
        elif key == "sex":
            sex = _parse_sex(value)
        else:
            dx = tuple(code.strip() for code in value.split(",") if code.strip())
    return age, sex, dx


def _parse_age(value: str) -> float | None:
    try:
        age = float(value)
    except ValueError:  # 'Unknown', '', ...
        return None
    if not math.isfinite(age) or age < 0:
        return None
    if age >= 300:
        # PTB-XL (and the CinC 2021 HR* records taken from it) anonymise ages over 89 as 300
        return 90.0
    return age if age <= 125 else None


def _parse_sex(value: str) -> str | None:
    v = value.strip().lower()
    if v in ("m", "male"):
        return "M"
    if v in ("f", "female"):
        return "F"
    return None


def _normalise_header(text: str) -> str:
    """Header text wfdb 4.3 accepts: LF line ends, no trailing blanks, and an ISO date
    (``YYYY-MM-DD``, CinC 2017) rewritten as WFDB's ``DD/MM/YYYY`` placed after the time."""
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    for i, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        tokens = line.split()
        head, extra = tokens[:4], tokens[4:]
        iso = [t for t in extra if _ISO_DATE.match(t)]
        if iso:
            rest = [t for t in extra if not _ISO_DATE.match(t)]
            y, mo, d = _ISO_DATE.match(iso[0]).groups()
            # WFDB allows a date only after a time; without a time the date is dropped
            extra = rest + ([f"{d}/{mo}/{y}"] if rest else [])
            lines[i] = " ".join(head + extra)
        break
    return "\n".join(lines).rstrip("\n") + "\n"


def _split_record_path(path: str | Path) -> tuple[Path, str]:
    p = Path(path)
    if p.suffix.lower() in (".hea", ".dat", ".mat"):
        p = p.with_suffix("")
    return p.parent, p.name


def _expected_bytes(fmt: str, n_samples_total: int, byte_offset: int) -> int | None:
    bits = _FORMAT_BITS[fmt]
    if bits is None:
        return None
    if fmt in ("310", "311"):
        # three samples packed in four bytes; only whole groups are certain to be present
        return byte_offset + (n_samples_total // 3) * 4
    return byte_offset + math.ceil(n_samples_total * bits / 8)


def _check_signal_files(header, hea_path: Path, directory: Path) -> None:
    """Every signal file exists, and holds at least the bytes the header declares."""
    if header.n_sig is None or header.n_sig < 1:
        raise RecordError(f"{hea_path}: header declares no signals")
    for i, fmt in enumerate(header.fmt):
        if fmt not in _FORMAT_BITS:
            raise RecordError(
                f"{hea_path}: signal {i} ({header.sig_name[i]!r}) has an unknown storage format "
                f"{fmt!r}; expected one of {sorted(_FORMAT_BITS, key=int)}"
            )
    if header.fs is None or not header.fs > 0:
        raise RecordError(f"{hea_path}: sampling frequency must be > 0 Hz, got {header.fs!r}")
    files: dict[str, list[int]] = {}
    for i, file_name in enumerate(header.file_name):
        files.setdefault(file_name, []).append(i)
    for file_name, idx in files.items():
        fpath = directory / file_name
        if not fpath.is_file():
            raise RecordError(f"{fpath}: signal file named in header {hea_path} not found")
        fmts = {header.fmt[i] for i in idx}
        if len(fmts) != 1:
            raise RecordError(
                f"{hea_path}: signals stored in {file_name} mix formats {sorted(fmts)}"
            )
        if header.sig_len is None:
            continue  # wfdb infers the length from the file size
        spf = sum(int(header.samps_per_frame[i] or 1) for i in idx)
        offset = int(header.byte_offset[idx[0]] or 0)
        fmt = fmts.pop()
        expected = _expected_bytes(fmt, header.sig_len * spf, offset)
        actual = fpath.stat().st_size
        if expected is not None and actual < expected:
            raise RecordError(
                f"{fpath}: signal file is truncated: {actual} bytes, but header {hea_path.name} "
                f"declares {header.sig_len} samples x {spf} channels in format {fmt} "
                f"(+{offset} byte offset) = {expected} bytes"
            )


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.symlink(src.resolve(), dst)
    except OSError:  # no symlink privilege (Windows): a copy is slower but equivalent
        shutil.copyfile(src, dst)


# --------------------------------------------------------------------------------------------
# Readers


def read_record(path: str | Path, *, annotator: str | None = "atr") -> Record:
    """Read one recording.

    ``path`` is a WFDB record path with or without extension (``.hea``, ``.dat``, ``.mat``), a
    ``.npz`` written by :func:`save_npz`, or an OpenSignals ``.txt`` file. For WFDB records the
    annotation file ``<record>.<annotator>`` is read too when it exists (``annotator=None``
    skips it). ``Age``/``Sex``/``Dx`` header comments fill ``age`` (years), ``sex`` and ``dx``.

    Raises :class:`RecordError` naming the file for anything missing, malformed or truncated.
    """
    p = Path(path)
    if p.suffix.lower() == ".npz":
        return _read_npz(p)
    if p.suffix.lower() == ".txt":
        return read_opensignals(p)
    directory, name = _split_record_path(p)
    hea_path = directory / f"{name}.hea"
    if not hea_path.is_file():
        raise RecordError(f"{hea_path}: WFDB header not found (record {str(directory / name)!r})")
    raw = hea_path.read_bytes()
    if b"\x00" in raw:
        raise RecordError(f"{hea_path}: not a text header (contains NUL bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # comments in old headers; the fields themselves are ASCII
    clean = _normalise_header(text)

    wfdb = require("wfdb", "train")
    with tempfile.TemporaryDirectory(prefix="edge_ecg_hea_") as tmp:
        read_dir = directory
        if clean != text:
            read_dir = Path(tmp)
            (read_dir / f"{name}.hea").write_text(clean, encoding="utf-8")
        try:
            header = wfdb.rdheader(str(read_dir / name))
        except Exception as exc:  # wfdb raises HeaderSyntaxError, ValueError, KeyError, ...
            raise RecordError(f"{hea_path}: cannot parse WFDB header: {exc}") from exc
        if not hasattr(header, "fmt") or getattr(header, "seg_name", None) is not None:
            raise RecordError(f"{hea_path}: multi-segment records are not supported")
        _check_signal_files(header, hea_path, directory)
        if read_dir != directory:
            for file_name in set(header.file_name):
                _link_or_copy(directory / file_name, read_dir / file_name)
        try:
            rec = wfdb.rdrecord(str(read_dir / name), physical=False)
        except Exception as exc:
            raise RecordError(
                f"{hea_path}: cannot read signals: {type(exc).__name__}: {exc}"
            ) from exc

    d64 = np.asarray(rec.d_signal)
    if d64.ndim != 2 or d64.shape[1] != rec.n_sig:
        raise RecordError(
            f"{hea_path}: wfdb returned signals of shape {d64.shape} for {rec.n_sig} leads"
        )
    if d64.size and (d64.min() < np.iinfo(np.int32).min or d64.max() > np.iinfo(np.int32).max):
        raise RecordError(f"{hea_path}: counts exceed the int32 range")
    d_signal = d64.astype(np.int32)
    gain = tuple(float(g) for g in rec.adc_gain)
    if any(not (math.isfinite(g) and g > 0) for g in gain):
        raise RecordError(f"{hea_path}: ADC gains must be > 0 counts/unit, got {gain}")
    baseline = tuple(int(b) for b in rec.baseline)
    p_signal = (d_signal - np.asarray(baseline, dtype=np.float64)) / np.asarray(gain)
    for i, fmt in enumerate(rec.fmt):
        invalid = _INVALID_COUNT.get(fmt)
        if invalid is not None:
            p_signal[d_signal[:, i] == invalid, i] = np.nan

    comments = tuple(rec.comments or ())
    age, sex, dx = _parse_meta(comments)
    annotations = None
    if annotator is not None and (directory / f"{name}.{annotator}").is_file():
        annotations = _read_annotations(directory / name, annotator)

    _freeze(d_signal, p_signal)
    return Record(
        name=name,
        fs_hz=float(rec.fs),
        lead_names=_lead_names(rec.sig_name, rec.n_sig),
        p_signal=p_signal,
        d_signal=d_signal,
        adc_gain=gain,
        baseline=baseline,
        units=tuple(str(u) for u in rec.units),
        annotations=annotations,
        age=age,
        sex=sex,
        dx=dx,
        comments=comments,
    )


def _read_annotations(base: Path, annotator: str) -> Annotations:
    wfdb = require("wfdb", "train")
    ann_path = base.parent / f"{base.name}.{annotator}"
    try:
        with warnings.catch_warnings():
            # wfdb 4.3 uses a pandas keyword pandas deprecates: not the user's concern
            warnings.filterwarnings("ignore", message=".*inplace.*")
            ann = wfdb.rdann(str(base), annotator)
    except Exception as exc:
        raise RecordError(
            f"{ann_path}: cannot read annotations: {type(exc).__name__}: {exc}"
        ) from exc
    sample = np.asarray(ann.sample, dtype=np.int64)
    symbol = tuple(str(s) for s in ann.symbol)
    aux = tuple((a or "").rstrip("\x00") for a in (ann.aux_note or [""] * len(symbol)))
    _freeze(sample)
    return Annotations(sample=sample, symbol=symbol, aux_note=aux)


def _freeze(*arrays: np.ndarray | None) -> None:
    # records are shared through caches: a write through one view must not corrupt the others
    for a in arrays:
        if a is not None:
            a.setflags(write=False)


def read_opensignals(path: str | Path, *, channel: str = "A2", lead_name: str = "ECG") -> Record:
    """Read a BITalino OpenSignals text file (JSON header line, then one row per sample).

    ``channel`` is the column holding the ECG sensor (``'A2'`` in the BITalino sample). Counts
    become millivolts with BITalino's ECG transfer function, for an ``n``-bit ADC::

        ECG(mV) = ((ADC / 2**n - 0.5) * VCC) / G_ECG * 1000,   VCC = 3.3 V, G_ECG = 1100

    i.e. ``adc_gain = 2**n * G_ECG / (VCC * 1000)`` counts/mV (341.33 for 10 bits) and
    ``baseline = 2**(n-1)`` counts. Gaps in the 4-bit ``nSeq`` counter (lost samples) are
    reported in ``comments``.
    """
    p = Path(path)
    if not p.is_file():
        raise RecordError(f"{p}: OpenSignals file not found")
    raw = p.read_bytes()
    if b"\x00" in raw:
        raise RecordError(f"{p}: not an OpenSignals text file (contains NUL bytes)")
    text = raw.decode("utf-8", errors="replace")
    header: dict | None = None
    body_lines: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            payload = s.lstrip("#").strip()
            if payload.startswith("{"):
                try:
                    header = json.loads(payload)
                except json.JSONDecodeError as exc:
                    raise RecordError(f"{p}: OpenSignals JSON header is malformed: {exc}") from exc
        elif s:
            body_lines.append(s)
    if not isinstance(header, dict) or not header:
        raise RecordError(f"{p}: no OpenSignals JSON header line ('# {{...}}') found")
    device_id, meta = next(iter(header.items()))
    try:
        fs_hz = float(meta["sampling rate"])
        columns = [str(c) for c in meta["column"]]
        resolution = [int(r) for r in meta["resolution"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"{p}: OpenSignals header lacks a usable {exc} entry") from exc
    if channel not in columns:
        raise RecordError(f"{p}: no column {channel!r}; the file has columns {columns}")
    col = columns.index(channel)
    if len(resolution) != len(columns):
        raise RecordError(
            f"{p}: header lists {len(columns)} columns but {len(resolution)} resolutions"
        )
    labels = [str(s) for s in meta.get("label", [])]
    sensors = [str(s) for s in meta.get("sensor", [])]
    if channel in labels and len(sensors) == len(labels):
        sensor = sensors[labels.index(channel)]
        if sensor.upper() != "ECG":
            raise RecordError(
                f"{p}: column {channel!r} holds a {sensor!r} sensor; only the ECG transfer "
                f"function is implemented"
            )
    n_bits = resolution[col]
    try:
        values = np.array(" ".join(body_lines).split(), dtype=np.int64)
    except ValueError as exc:
        raise RecordError(f"{p}: sample rows are not integers: {exc}") from exc
    if values.size == 0:
        raise RecordError(f"{p}: no samples after the header")
    if values.size % len(columns):
        raise RecordError(
            f"{p}: {values.size} values do not fill rows of {len(columns)} columns (truncated last row?)"
        )
    table = values.reshape(-1, len(columns))
    counts = table[:, col]
    if counts.min() < 0 or counts.max() >= 2**n_bits:
        raise RecordError(
            f"{p}: column {channel!r} has values outside the {n_bits}-bit ADC range "
            f"[0, {2**n_bits - 1}]: min {counts.min()}, max {counts.max()}"
        )
    comments = [f"OpenSignals device {device_id}", f"sensor ECG on {channel}, {n_bits}-bit ADC"]
    if columns[0] == "nSeq" and table.shape[0] > 1:
        steps = np.diff(table[:, 0]) % 16
        gaps = int(np.count_nonzero(steps != 1))
        comments.append(f"nSeq gaps: {gaps}")
    gain = 2.0**n_bits * BITALINO_ECG_GAIN / (BITALINO_VCC_V * 1000.0)
    baseline = 2 ** (n_bits - 1)
    d_signal = counts.astype(np.int32).reshape(-1, 1)
    p_signal = (d_signal - float(baseline)) / gain
    _freeze(d_signal, p_signal)
    return Record(
        name=p.stem,
        fs_hz=fs_hz,
        lead_names=(lead_name,),
        p_signal=p_signal,
        d_signal=d_signal,
        adc_gain=(gain,),
        baseline=(baseline,),
        units=("mV",),
        comments=tuple(comments),
    )


# --------------------------------------------------------------------------------------------
# WFDB out: a record as another device or database would have stored it


def write_wfdb(
    record: Record,
    directory: str | Path,
    *,
    fs_hz: float | None = None,
    lead_names: tuple[str, ...] | None = None,
    name: str | None = None,
    seconds: float | None = None,
) -> Path:
    """Write ``record`` (its first ``seconds``, default all) as a WFDB record (16-bit, 5 µV per
    count) with its beat annotations as ``.atr``, resampled to ``fs_hz`` (zero-phase polyphase
    anti-alias filter, annotations moved to the new clock) and its channels renamed to
    ``lead_names``: MIT-BIH data as a 128 Hz Holter or a 500 Hz monitor would deliver it, for
    checking that every rate and naming works from the header alone. Returns the record path
    (``directory/name``, no extension). Needs wfdb (the ``train`` extra)."""
    from edge_ecg.data._common import resample_poly_uv

    wfdb = require("wfdb", "train")
    fs_out = float(fs_hz or record.fs_hz)
    names = tuple(lead_names or record.lead_names)
    if len(names) != record.n_leads:
        raise SignalError(f"lead_names {list(names)}: record {record.name!r} has {record.n_leads} leads")
    n_in = record.n_samples if seconds is None else min(record.n_samples, int(round(seconds * record.fs_hz)))
    mv = resample_poly_uv(np.nan_to_num(record.signal_uv()[:n_in]), record.fs_hz, fs_out) / 1000.0
    name = name or record.name
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=fs_out, units=["mV"] * record.n_leads, sig_name=list(names), p_signal=mv,
                fmt=["16"] * record.n_leads, adc_gain=[200.0] * record.n_leads, baseline=[0] * record.n_leads,
                write_dir=str(directory))
    ann = record.annotations
    if ann is not None and len(ann):
        sample = np.rint(np.asarray(ann.sample) * (fs_out / record.fs_hz)).astype(np.int64)
        keep = (np.asarray(ann.sample) < n_in) & (sample < mv.shape[0])
        wfdb.wrann(name, "atr", sample[keep], np.asarray(ann.symbol)[keep],
                   aux_note=list(np.asarray(ann.aux_note)[keep]), write_dir=str(directory))
    return directory / name


# --------------------------------------------------------------------------------------------
# npz round trip

_NPZ_VERSION = 1


def save_npz(record: Record, path: str | Path) -> None:
    """Write ``record`` to a ``.npz`` that :func:`read_record` reads back without wfdb."""
    arrays: dict[str, np.ndarray] = {
        "edge_ecg_record_version": np.array(_NPZ_VERSION),
        "name": np.array(record.name),
        "fs_hz": np.array(record.fs_hz, dtype=np.float64),
        "lead_names": np.array(record.lead_names, dtype=str),
        "p_signal": np.asarray(record.p_signal, dtype=np.float64),
        "adc_gain": np.array(record.adc_gain, dtype=np.float64),
        "baseline": np.array(record.baseline, dtype=np.int64),
        "units": np.array(record.units, dtype=str),
        "age": np.array(np.nan if record.age is None else record.age, dtype=np.float64),
        "sex": np.array(record.sex or ""),
        "dx": np.array(record.dx, dtype=str),
        "comments": np.array(record.comments, dtype=str),
    }
    if record.d_signal is not None:
        arrays["d_signal"] = np.asarray(record.d_signal, dtype=np.int32)
    if record.annotations is not None:
        arrays["ann_sample"] = np.asarray(record.annotations.sample, dtype=np.int64)
        arrays["ann_symbol"] = np.array(record.annotations.symbol, dtype=str)
        arrays["ann_aux_note"] = np.array(record.annotations.aux_note, dtype=str)
    with open(path, "wb") as fh:  # an open file keeps numpy from appending a second .npz
        np.savez_compressed(fh, **arrays)


def _read_npz(path: Path) -> Record:
    if not path.is_file():
        raise RecordError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:  # BadZipFile, ValueError, OSError
        raise RecordError(f"{path}: not a readable .npz: {type(exc).__name__}: {exc}") from exc
    if "edge_ecg_record_version" not in data:
        raise RecordError(f"{path}: not an edge-ecg record (.npz written by save_npz)")
    try:
        strs = lambda k: tuple(str(s) for s in data[k].reshape(-1))  # noqa: E731
        annotations = None
        if "ann_sample" in data:
            annotations = Annotations(
                sample=data["ann_sample"].astype(np.int64),
                symbol=strs("ann_symbol"),
                aux_note=strs("ann_aux_note"),
            )
        age = float(data["age"])
        d_signal = data["d_signal"].astype(np.int32) if "d_signal" in data else None
        p_signal = data["p_signal"].astype(np.float64)
        _freeze(d_signal, p_signal)
        return Record(
            name=str(data["name"]),
            fs_hz=float(data["fs_hz"]),
            lead_names=strs("lead_names"),
            p_signal=p_signal,
            d_signal=d_signal,
            adc_gain=tuple(float(g) for g in data["adc_gain"]),
            baseline=tuple(int(b) for b in data["baseline"]),
            units=strs("units"),
            annotations=annotations,
            age=None if math.isnan(age) else age,
            sex=str(data["sex"]) or None,
            dx=strs("dx"),
            comments=strs("comments"),
        )
    except (KeyError, ValueError, TypeError, SignalError) as exc:
        raise RecordError(f"{path}: malformed edge-ecg record: {exc}") from exc


def _lead_names(sig_name, n_sig: int) -> tuple[str, ...]:
    """The header's channel names; a channel the header leaves unnamed becomes ``ECG`` (one
    channel) or ``ECG1``, ``ECG2``, … (its position), as Holter databases name them, so the
    unnamed-channel rule of lead matching applies instead of a lead called "None"."""
    names = list(sig_name or [None] * n_sig)
    return tuple(str(s).strip() if s is not None and str(s).strip() else ("ECG" if n_sig == 1 else f"ECG{i + 1}")
                 for i, s in enumerate(names))


def annotated_records(directory: str | Path, annotator: str = "atr") -> tuple[str, ...]:
    """Names of the WFDB records in ``directory`` that have a ``.hea`` header and
    ``.<annotator>`` annotations, sorted: what ``ec57 --data`` scores and ``train --data-dir``
    trains on by default."""
    return tuple(sorted(p.stem for p in Path(directory).glob(f"*.{annotator}") if p.with_suffix(".hea").is_file()))
