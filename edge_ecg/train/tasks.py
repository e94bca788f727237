"""Tasks: turn a dataset into the arrays a model trains on, plus the manifest input spec that
tells the runtime how to make the same arrays from a live stream.

Training windows are cut from records filtered with the same causal filter the runtime runs, so
the model never sees a signal the device cannot produce. Beat windows are stored with a margin of
``jitter_s`` on each side; training crops them at a random offset (the streaming QRS detector
does not land exactly on the annotated R peak), validation crops the centre.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_ecg.deploy.manifest import BeatInput, InputSpec, WindowInput
from edge_ecg.errors import ConfigError
from edge_ecg.models.side import RR_SPEC
from edge_ecg.signal.filters import FilterSpec
from edge_ecg.train.config import TrainConfig

BEAT_CLASSES = ("N", "S", "V", "F")


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # (n, C, L + 2 * margin) float32, µV after the causal filter
    side: np.ndarray  # (n, S) float32 side vector, encoded by edge_ecg.models.side.encode_side
    y: np.ndarray  # (n,) int64 or (n, K) multi-hot
    meta: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskData:
    name: str
    classes: tuple[str, ...]
    multi_label: bool
    input_spec: InputSpec
    margin: int  # samples of jitter margin on each side of the stored windows
    train: Split
    val: Split
    provenance: dict[str, Any]
    noise: np.ndarray | None = None  # (traces, samples) filtered µV noise for augmentation


def filter_config(cfg: TrainConfig) -> FilterSpec:
    return FilterSpec(highpass_hz=cfg.highpass_hz, lowpass_hz=cfg.lowpass_hz, notch_hz=cfg.notch_hz)


def _stratified_val(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a validation subset holding ``fraction`` of every class."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = max(1, int(round(fraction * idx.size))) if idx.size > 1 else 0
        mask[rng.choice(idx, size=k, replace=False)] = True
    return mask


def _record_val(records: np.ndarray, y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask holding out whole records, about ``fraction`` of them, drawn with ``seed``.

    Draws are repeated (deterministically) until every class found in two or more records has
    some but at most half of its examples in validation, so that neither side loses a class; the
    draw with the fewest violations is kept if none is clean.
    """
    names = np.unique(records)
    if names.size < 2:
        raise ConfigError(
            f"record-wise validation needs >= 2 training records, got {names.tolist()}; "
            "use val_split='beats'"
        )
    k = min(names.size - 1, max(1, int(round(fraction * names.size))))
    shared = [c for c in np.unique(y) if np.unique(records[y == c]).size >= 2]
    rng = np.random.default_rng(seed)
    best, best_bad = None, None
    for _ in range(1000):
        mask = np.isin(records, rng.choice(names, size=k, replace=False))
        shares = [np.mean(mask[y == c]) for c in shared]
        bad = sum(s == 0 or s > 0.5 for s in shares)
        if best_bad is None or bad < best_bad:
            best, best_bad = mask, bad
        if bad == 0:
            break
    return best


def record_folds(records: tuple[str, ...], k: int, seed: int) -> list[tuple[str, ...]]:
    """``records`` shuffled with ``seed`` and cut into ``k`` groups of near-equal size (record-wise
    k-fold cross-validation: each record is held out exactly once)."""
    if not (isinstance(k, int) and 2 <= k <= len(records)):
        raise ConfigError(f"folds must be an integer in [2, {len(records)}], got {k!r}")
    order = np.random.default_rng(seed).permutation(len(records))
    return [tuple(sorted(records[i] for i in part)) for part in np.array_split(order, k)]


def _noise_traces(spec: InputSpec, noise_dir: str | None = None, *, names=("bw", "em", "ma"),
                  fraction: float = 1.0) -> np.ndarray:
    """The NSTDB noise records ``names`` (baseline wander, electrode motion, muscle) in
    ``noise_dir`` (default: ``nstdb_noise`` in the shared data folder), every channel, resampled to
    the model rate and passed through the model's causal filter; the filter's settling time is cut
    off. Only the first ``fraction`` of each record is kept (the rest is test noise)."""
    from edge_ecg.data.records import read_record
    from edge_ecg.paths import shared_data_dir
    from edge_ecg.signal.filters import filter_causal
    from edge_ecg.signal.resample import resample_stream

    folder = Path(noise_dir) if noise_dir else shared_data_dir() / "nstdb_noise"
    traces = []
    for name in names:
        rec = read_record(folder / name, annotator=None)
        x = rec.signal_uv()
        if rec.fs_hz != spec.fs_hz:
            x = resample_stream(x, rec.fs_hz, spec.fs_hz)
        x = filter_causal(x, spec.filter, spec.fs_hz)
        traces.extend(x[int(2 * spec.fs_hz) : int(round(fraction * len(x)))].T.astype(np.float32))
    return np.stack(traces)


def beat_split(beats, side: np.ndarray) -> Split:
    """The N/S/V/F beats of a :class:`~edge_ecg.data.mitdb.BeatSet` as a split (Q dropped)."""
    names = np.asarray(beats.classes)[beats.y]
    keep = np.isin(names, BEAT_CLASSES)
    y = np.array([BEAT_CLASSES.index(c) for c in names[keep]], dtype=np.int64)
    meta = {"record": np.asarray(beats.record)[keep], "sample": np.asarray(beats.sample)[keep]}
    return Split(beats.x[keep].astype(np.float32), side[keep], y, meta)


def is_shared_mitdb(data_dir: str | Path) -> bool:
    """Is ``data_dir`` the shared MIT-BIH folder (whose DS1/DS2 split the tables refer to)?"""
    from edge_ecg.data.mitdb import shared_mitdb

    mitdb = shared_mitdb()
    return mitdb is not None and Path(data_dir).resolve() == mitdb.resolve()


def _default_records(data_dir: str) -> tuple[str, ...]:
    """DS1 for the shared MIT-BIH folder; for a folder of one's own, every record there with a
    ``.hea`` header and ``.atr`` beat annotations (as ``ec57 --data`` scores them)."""
    from edge_ecg.data.mitdb import DS1
    from edge_ecg.data.records import annotated_records

    if is_shared_mitdb(data_dir) or (Path(data_dir) / f"{DS1[0]}.hea").is_file():
        return DS1
    found = annotated_records(data_dir)
    if not found:
        raise ConfigError(f"--data-dir {data_dir}: no record there has both a .hea header and .atr annotations; "
                          "name the records with --train-records")
    return found


def mitdb_beats(cfg: TrainConfig) -> TaskData:
    """AAMI N/S/V/F beats of MIT-BIH DS1 (Q beats, 8 in DS1, are left out: too few to learn)."""
    from edge_ecg.data.mitdb import DS1, DS2, BeatWindowConfig
    from edge_ecg.paths import shared_data_dir
    from edge_ecg.runtime.preprocess import load_beats_for
    from edge_ecg.signal.rr import RRConfig

    data_dir = cfg.data_dir or str(shared_data_dir() / "mitdb")
    records = cfg.train_records or _default_records(data_dir)
    mitdb = is_shared_mitdb(data_dir)
    if mitdb and set(records) & set(DS2):
        raise ConfigError(
            f"--train-records {sorted(set(records) & set(DS2))} are MIT-BIH DS2 records: DS2 is the held-out test set "
            "every table here reports; train on DS1 (the default), or copy records to your own folder for other studies"
        )
    margin = int(round(cfg.jitter_s * cfg.fs_hz))
    spec = InputSpec(
        kind="beat",
        fs_hz=cfg.fs_hz,
        leads=("MLII",),
        length=BeatWindowConfig(cfg.before_s, cfg.after_s).length(cfg.fs_hz),
        filter=filter_config(cfg),
        norm=cfg.norm,
        beat=BeatInput(before_s=cfg.before_s, after_s=cfg.after_s, template_beats=cfg.template_beats,
                       polarity_beats=cfg.polarity_beats),
        side_groups=RR_SPEC.groups,
        rr=RRConfig().__dict__,
        side_tensor="side",
    )
    beats, side = load_beats_for(spec, records, data_dir, margin_s=margin / cfg.fs_hz)
    split = beat_split(beats, side)
    x, rr, y, meta = split.x, split.side, split.y, split.meta
    if cfg.max_train:
        rng = np.random.default_rng(cfg.seed)
        sel = np.sort(rng.choice(len(y), size=min(cfg.max_train, len(y)), replace=False))
        x, rr, y, meta = x[sel], rr[sel], y[sel], {k: v[sel] for k, v in meta.items()}
    if cfg.val_split == "records":
        val = _record_val(meta["record"], y, cfg.val_fraction, cfg.seed)
        val_desc = f"records {sorted(set(meta['record'][val].tolist()))} (whole records held out)"
    else:
        val = _stratified_val(y, cfg.val_fraction, cfg.seed)
        val_desc = f"stratified {cfg.val_fraction:.0%} of the beats"
    train = Split(x[~val], rr[~val], y[~val], {k: v[~val] for k, v in meta.items()})
    classes = BEAT_CLASSES
    if cfg.artifact_passes:
        from edge_ecg.train.artifacts import ARTIFACT, NOISE_RECORDS, detector_examples

        classes = BEAT_CLASSES + (ARTIFACT,)
        hard = detector_examples(
            spec, sorted(set(train.meta["record"].tolist())), data_dir,
            _noise_traces(spec, cfg.noise_dir, names=NOISE_RECORDS, fraction=cfg.noise_train_fraction),
            classes, passes=cfg.artifact_passes, seed=cfg.seed, margin=margin,
        )
        train = Split(np.concatenate([train.x, hard.x]), np.concatenate([train.side, hard.side]),
                      np.concatenate([train.y, hard.y]),
                      {k: np.concatenate([v, hard.meta[k]]) for k, v in train.meta.items()})
    return TaskData(
        name="mitdb_beats",
        classes=classes,
        multi_label=False,
        input_spec=spec,
        margin=margin,
        train=train,
        val=Split(x[val], rr[val], y[val], {k: v[val] for k, v in meta.items()}),
        provenance={
            **({"dataset": "MIT-BIH Arrhythmia Database 1.0.0 (PhysioNet, ODC-By 1.0)",
                "split": f"de Chazal inter-patient: trained on DS1 only; validation = DS1 {val_desc}; "
                "DS2 never seen in training or tuning",
                "lead": "MLII (by name; first channel in every DS1 record but 114)"}
               if mitdb and set(records) <= set(DS1) else
               {"dataset": f"WFDB records in {Path(data_dir).resolve()}" + (" (MIT-BIH)" if mitdb else ""),
                "split": f"trained on the records listed; validation = {val_desc}",
                "lead": "MLII, matched per record by name as the runtime matches it (II; else the first unnamed "
                        "ECG/ECG1 channel; else derived from two of I, II, III)"}),
            "train_records": list(records),
            **({"augmentation": "NSTDB bw/em/ma noise records 1.0.0 (PhysioNet, ODC-By 1.0)"
                + (f", first {cfg.noise_train_fraction:.0%} of each" if cfg.noise_train_fraction < 1 else "")}
               if cfg.noise_prob or cfg.artifact_passes else {}),
            **({"hard_negatives": f"class 'artifact': QRS detector false detections on the training records "
                f"with NSTDB em/ma noise, {cfg.artifact_passes} pass(es) per record"} if cfg.artifact_passes else {}),
        },
        noise=_noise_traces(spec, cfg.noise_dir, fraction=cfg.noise_train_fraction) if cfg.noise_prob else None,
    )


def build_task(cfg: TrainConfig) -> TaskData:
    if cfg.task == "mitdb_beats":
        return mitdb_beats(cfg)
    if cfg.task == "cinc_12lead":
        from edge_ecg.train.tasks_12lead import cinc_12lead

        return cinc_12lead(cfg)
    raise ConfigError(f"task {cfg.task!r} has no builder")


def window_input_spec(cfg: TrainConfig, leads: tuple[str, ...], length_s: float, hop_s: float, side_groups) -> InputSpec:
    return InputSpec(
        kind="window",
        fs_hz=cfg.fs_hz,
        leads=leads,
        length=int(round(length_s * cfg.fs_hz)),
        filter=filter_config(cfg),
        norm=cfg.norm,
        window=WindowInput(length_s=length_s, hop_s=hop_s),
        side_groups=tuple(side_groups),
        side_tensor="side" if side_groups else None,
    )
