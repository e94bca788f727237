"""Held-out evaluation of a beat checkpoint on MIT-BIH DS2 (never used for training or tuning)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edge_ecg.deploy.manifest import InputSpec, Manifest
from edge_ecg.models.side import SideSpec, encode_side
from edge_ecg.train.metrics import classification_report, format_beat_table
from edge_ecg.train.tasks import BEAT_CLASSES, Split, TaskData


def input_spec_from_dict(d: dict[str, Any]) -> InputSpec:
    """Rebuild an :class:`InputSpec` with the manifest's own validating parser."""
    stub = {"name": "x", "task": "x", "classes": ["x"], "input": d}
    return Manifest.from_dict(stub).input


def ds2_task(spec: InputSpec, data_dir: str | None = None, records=None) -> TaskData:
    """DS2 beats cut exactly as the training windows (same filter, window, RR rules), no margin."""
    from edge_ecg.data.mitdb import DS2, BeatWindowConfig, load_beats
    from edge_ecg.paths import shared_data_dir
    from edge_ecg.runtime.preprocess import causal_filter_fn

    beats = load_beats(
        records or DS2,
        data_dir or str(shared_data_dir() / "mitdb"),
        fs_hz_out=spec.fs_hz,
        lead="MLII",
        window=BeatWindowConfig(before_s=spec.beat.before_s, after_s=spec.beat.after_s),
        filter_fn=causal_filter_fn(spec.filter),
        streaming_rr=True,
    )
    names = np.asarray(beats.classes)[beats.y]
    keep = np.isin(names, BEAT_CLASSES)
    y = np.array([BEAT_CLASSES.index(c) for c in names[keep]], dtype=np.int64)
    side = (encode_side(rr=beats.rr[keep], spec=SideSpec(spec.side_groups)) if spec.side_groups
            else np.zeros((int(keep.sum()), 0), np.float32))
    split = Split(beats.x[keep].astype(np.float32), side, y,
                  {"record": np.asarray(beats.record)[keep], "sample": np.asarray(beats.sample)[keep]})
    empty = Split(split.x[:0], split.side[:0], y[:0])
    return TaskData("mitdb_beats_ds2", BEAT_CLASSES, False, spec, 0, empty, split, {"records": list(records or DS2)})


def evaluate_checkpoint_ds2(ckpt_dir: str | Path, *, model=None, print_table: bool = True) -> dict:
    """DS2 per-class Se/+P/F1 of a checkpoint; stored in its config.json under ``test``."""
    from edge_ecg.train.checkpoint import CONFIG_NAME, load_checkpoint, read_config
    from edge_ecg.train.trainer import predict

    config = read_config(ckpt_dir)
    if model is None:
        model, config = load_checkpoint(ckpt_dir)
    task = ds2_task(input_spec_from_dict(config["input_spec"]))
    probs = predict(model, task, task.val)
    report = classification_report(task.val.y, probs, BEAT_CLASSES)
    config["test"] = {"split": "MIT-BIH DS2 (inter-patient, held out)", **report}
    Path(ckpt_dir, CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    if print_table:
        print("DS2 (held out, inter-patient):\n" + format_beat_table(report), file=sys.stdout)
    return report
