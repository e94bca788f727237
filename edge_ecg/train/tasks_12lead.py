"""12-lead window classification with age/sex fusion on the CinC 2021 + CPSC 2018 sample records.

There are 60 records in the shared sample: this task demonstrates the pipeline (multi-label
windows, demographics through the fusion module, the same manifest-driven front end as the beat
model), not clinical accuracy. Records are split by record (no window of a validation record is
trained on); every 10 s window of a record carries the record's labels.
"""

from __future__ import annotations

import numpy as np

from edge_ecg.models.side import AGE_SEX_SPEC, encode_side
from edge_ecg.train.config import TrainConfig
from edge_ecg.train.tasks import Split, TaskData, filter_config, window_input_spec

LABELS_12LEAD = ("NSR", "AF", "PAC", "PVC", "RBBB", "SB", "STach", "TAb", "OTHER")
WINDOW_S = 10.0
HOP_S = 5.0


def cinc_12lead(cfg: TrainConfig) -> TaskData:
    from edge_ecg.data.cinc import STANDARD_12_LEADS, load_12lead
    from edge_ecg.paths import shared_data_dir
    from edge_ecg.signal.filters import filter_causal
    from edge_ecg.signal.resample import resample_stream

    root = shared_data_dir() if cfg.data_dir is None else __import__("pathlib").Path(cfg.data_dir)
    data = load_12lead([root / "cinc2021_12lead", root / "cpsc2018"], vocabulary=LABELS_12LEAD)
    fspec = filter_config(cfg)
    length = int(round(WINDOW_S * cfg.fs_hz))
    hop = int(round(HOP_S * cfg.fs_hz))
    xs, ys, sides, recs = [], [], [], []
    for i, name in enumerate(data.names):
        fs = float(data.fs_hz[i])
        sig = filter_causal(data.signals[i].T.astype(np.float64), fspec, fs)  # (n, leads)
        sig = resample_stream(sig, fs, cfg.fs_hz).T  # (leads, n) at the model rate
        side = encode_side(age=float(data.age_years[i]), sex=data.sex[i] or None, spec=AGE_SEX_SPEC)
        for start in range(0, sig.shape[1] - length + 1, hop):
            xs.append(sig[:, start : start + length].astype(np.float32))
            ys.append(data.y[i])
            sides.append(side)
            recs.append(name)
    x, y, side, rec = np.stack(xs), np.stack(ys).astype(np.float32), np.stack(sides), np.asarray(recs)
    rng = np.random.default_rng(cfg.seed)
    names = np.asarray(data.names)
    val_names = set(rng.choice(names, size=max(1, int(round(0.2 * len(names)))), replace=False))
    val = np.isin(rec, list(val_names))
    spec = window_input_spec(cfg, tuple(STANDARD_12_LEADS), WINDOW_S, HOP_S, AGE_SEX_SPEC.groups)
    return TaskData(
        name="cinc_12lead",
        classes=LABELS_12LEAD,
        multi_label=True,
        input_spec=spec,
        margin=0,
        train=Split(x[~val], side[~val], y[~val], {"record": rec[~val]}),
        val=Split(x[val], side[val], y[val], {"record": rec[val]}),
        provenance={
            "dataset": "PhysioNet/CinC Challenge 2021 sample (Georgia, PTB-XL, Chapman-Shaoxing; CC BY 4.0) "
            "+ CPSC 2018 A0001-A0010",
            "split": f"by record, seed {cfg.seed}: {len(val_names)} validation records",
            "note": "60 records: demonstrates the pipeline, not clinical accuracy",
        },
    )
