"""Typed training configuration, from a JSON file and/or command-line flags."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_ecg.errors import ConfigError
from edge_ecg.typed import check_field_types, known_fields_only, read_json_object

TASKS = ("mitdb_beats", "cinc_12lead")
IMBALANCE = ("weighted_loss", "sampler", "none")
VAL_SPLITS = ("records", "beats")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. Units in names; validated on construction.

    Class imbalance (``imbalance``): ``weighted_loss`` weights the cross-entropy by
    ``(n_total / (n_classes * n_class)) ** imbalance_power`` (power 0.5 by default: inverse square
    root of frequency, which keeps rare classes visible without flooding N with false alarms);
    ``sampler`` draws batches with the same weights as sampling probabilities; ``none`` is plain.
    ``majority_fraction`` < 1 also under-samples the most frequent class: each epoch draws that
    fraction of it afresh (all other examples every epoch), which shortens epochs on MIT-BIH
    (90 % N) without discarding N beats for good; loss weights follow the per-epoch counts.

    Validation (``val_split``): ``records`` holds out whole training records (about
    ``val_fraction`` of them, chosen by ``seed``), so that early stopping sees a patient the model
    has not trained on, as the held-out test split will; ``beats`` is a stratified sample of beats.

    Noise augmentation: each training window gets, with probability ``noise_prob``, a segment of
    real electrode-motion / muscle / baseline noise (the MIT-BIH Noise Stress Test noise records,
    through the same causal filter) at a signal-to-noise ratio drawn uniformly from
    [``noise_snr_min_db``, ``noise_snr_max_db``]. ``noise_dir`` is the folder holding the
    NSTDB ``bw``, ``em`` and ``ma`` records (default: ``nstdb_noise`` in the shared data folder).
    ``noise_train_fraction`` < 1 uses only the first part of every noise record in training
    (augmentation and hard negatives), leaving the rest as noise no model has seen for testing.

    Artifact class (``artifact_passes`` > 0, beat task): every training record (not the
    validation records) is passed that many times through the runtime's own filter and QRS
    detector with electrode-motion or muscle noise added in alternating two-minute blocks at an
    SNR from :data:`edge_ecg.train.artifacts.SNR_DB`; the detector's false detections (no
    reference beat within 150 ms) become examples of a fifth class, ``artifact``, and its true
    detections in the noisy blocks join training with their reference class. RR features come
    from the detected beats, as on the device. The runtime reports an ``artifact`` detection as
    not a heartbeat (:mod:`edge_ecg.train.artifacts`).

    Distillation (``distill_weight`` > 0, used when the trainer is given a teacher model, as QAT
    does with the float model): the loss is ``(1 - w) * CE + w * T^2 * KL(teacher_T || student_T)``
    with temperature ``T = distill_temperature``.

    Shift consistency (``consistency_weight`` > 0, single-label tasks): each training window is
    also cropped at a second random offset within ``jitter_s`` (with its own noise draw); both
    crops get the classification loss, and ``consistency_weight`` times the symmetric KL divergence
    between their predicted distributions is added. The runtime centres a window on its own QRS
    detector's R peak, which sits a few samples from where a database's annotator put it; this
    term teaches the model to give the same label wherever within that range the window starts.

    Patient template (``template_beats`` > 0, beat tasks): each beat window comes with the median
    of the same record's previous ``template_beats`` windows as an extra input channel
    (:mod:`edge_ecg.signal.template`), which the runtime keeps the same way; the model can then
    judge a beat against the wearer's own usual beat. Jitter moves the beat, not the template;
    noise is added to the beat only.

    Polarity (``polarity_beats`` > 0, beat tasks): each window is flipped when the median value
    at R of the record's last ``polarity_beats`` beats is negative, in training and at run time
    alike, so that a device recording the lead the other way round shows the model upright beats.
    """

    task: str = "mitdb_beats"
    model: str = "efficientecg_beat_lite_fusion"
    data_dir: str | None = None
    train_records: tuple[str, ...] = ()  # empty: the task's standard training split (DS1)
    val_fraction: float = 0.2
    val_split: str = "records"
    fs_hz: float = 360.0
    before_s: float = 0.25
    after_s: float = 0.45
    jitter_s: float = 0.015
    highpass_hz: float | None = 0.5
    lowpass_hz: float | None = 40.0
    notch_hz: float | None = None
    norm: str = "zscore"
    epochs: int = 30
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    patience: int = 6
    imbalance: str = "weighted_loss"
    imbalance_power: float = 0.5
    majority_fraction: float = 1.0
    label_smoothing: float = 0.0
    noise_prob: float = 0.0
    noise_snr_min_db: float = 0.0
    noise_snr_max_db: float = 24.0
    noise_dir: str | None = None
    noise_train_fraction: float = 1.0
    artifact_passes: int = 0
    distill_weight: float = 0.0
    distill_temperature: float = 2.0
    consistency_weight: float = 0.0
    template_beats: int = 0
    polarity_beats: int = 0
    seed: int = 0
    num_threads: int = 0  # 0: all cores
    max_train: int = 0  # 0: no cap (tests use a cap)
    progress: bool = True

    def __post_init__(self):
        check_field_types(self)
        if self.task not in TASKS:
            raise ConfigError(f"task {self.task!r}: expected one of {TASKS}")
        if self.imbalance not in IMBALANCE:
            raise ConfigError(f"imbalance {self.imbalance!r}: expected one of {IMBALANCE}")
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), got {self.val_fraction!r}")
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("lr", "fs_hz", "before_s", "after_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("lowpass_hz", "highpass_hz", "notch_hz"):
            f = getattr(self, name, None)
            if f is not None and not f < self.fs_hz / 2:
                raise ConfigError(f"{name} {f:g} Hz is not below the Nyquist frequency of fs_hz {self.fs_hz:g} Hz "
                                  f"({self.fs_hz / 2:g} Hz): raise --fs-hz or lower --{name.replace('_', '-')}")
        if not 0.0 < self.majority_fraction <= 1.0:
            raise ConfigError(f"majority_fraction must be in (0, 1], got {self.majority_fraction!r}")
        if self.val_split not in VAL_SPLITS:
            raise ConfigError(f"val_split {self.val_split!r}: expected one of {VAL_SPLITS}")
        for name in ("noise_prob", "distill_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if not self.noise_snr_min_db <= self.noise_snr_max_db:
            raise ConfigError(
                f"noise_snr_min_db ({self.noise_snr_min_db!r}) must be <= noise_snr_max_db ({self.noise_snr_max_db!r})"
            )
        if not self.distill_temperature > 0:
            raise ConfigError(f"distill_temperature must be > 0, got {self.distill_temperature!r}")
        if not (self.consistency_weight >= 0 and math.isfinite(self.consistency_weight)):
            raise ConfigError(f"consistency_weight must be a finite number >= 0, got {self.consistency_weight!r}")
        if not 0.0 < self.noise_train_fraction <= 1.0:
            raise ConfigError(f"noise_train_fraction must be in (0, 1], got {self.noise_train_fraction!r}")
        if self.artifact_passes and (self.task != "mitdb_beats" or self.template_beats or self.polarity_beats):
            raise ConfigError(
                f"artifact_passes={self.artifact_passes!r} needs task 'mitdb_beats' without template_beats "
                f"or polarity_beats, got task {self.task!r}, template_beats={self.template_beats!r}, "
                f"polarity_beats={self.polarity_beats!r}"
            )
        for name in ("template_beats", "polarity_beats", "artifact_passes"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (0: off), got {getattr(self, name)!r}")
        if self.jitter_s < 0:
            raise ConfigError(f"jitter_s must be >= 0 s, got {self.jitter_s!r}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ConfigError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.max_train < 0:
            raise ConfigError(f"max_train must be >= 0 (0: no cap), got {self.max_train!r}")
        if self.task == "cinc_12lead":
            # the 12-lead task always uses every sample record with its own by-record split
            if self.train_records:
                raise ConfigError(f"train_records={list(self.train_records)!r}: --train-records applies to the "
                                  "mitdb beat task, not cinc_12lead (which uses every sample record)")
            if self.max_train:
                raise ConfigError(f"max_train={self.max_train!r}: --max-train applies to the mitdb beat task, "
                                  "not cinc_12lead")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(known_fields_only(d, cls, "training config"))
        if "train_records" in d:
            recs = d["train_records"]
            if not isinstance(recs, (list, tuple)):
                raise ConfigError(f"train_records: expected a list of record names, got {type(recs).__name__} {recs!r}")
            d["train_records"] = tuple(str(r) for r in recs)
        return cls(**d)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(read_json_object(path, "config file"))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

