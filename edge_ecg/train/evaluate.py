"""Held-out evaluation of a beat checkpoint on MIT-BIH DS2 (never used for training or tuning)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from edge_ecg.deploy.manifest import InputSpec, Manifest
from edge_ecg.runtime.sinks import dumps_strict
from edge_ecg.train.metrics import classification_report, format_beat_table
from edge_ecg.train.tasks import BEAT_CLASSES, Split, TaskData, beat_split


def input_spec_from_dict(d: dict[str, Any]) -> InputSpec:
    """Rebuild an :class:`InputSpec` with the manifest's own validating parser."""
    stub = {"name": "x", "task": "x", "classes": ["x"], "input": d}
    return Manifest.from_dict(stub).input


def ds2_task(spec: InputSpec, data_dir: str | None = None, records=None,
             classes: tuple[str, ...] = BEAT_CLASSES) -> TaskData:
    """DS2 beats cut exactly as the training windows (same filter, window, RR rules), no margin.
    ``classes``: the model's (N/S/V/F first; a model with an ``artifact`` class has it last, and a
    beat it calls artifact counts as missed)."""
    from edge_ecg.data.mitdb import DS2
    from edge_ecg.paths import shared_data_dir
    from edge_ecg.runtime.preprocess import load_beats_for

    beats, side = load_beats_for(spec, records or DS2, data_dir or str(shared_data_dir() / "mitdb"))
    split = beat_split(beats, side)
    empty = Split(split.x[:0], split.side[:0], split.y[:0])
    return TaskData("mitdb_beats_ds2", tuple(classes), False, spec, 0, empty, split, {"records": list(records or DS2)})


def evaluate_checkpoint_ds2(ckpt_dir: str | Path, *, model=None, print_table: bool = True) -> dict:
    """DS2 per-class Se/+P/F1 of a checkpoint; stored in its config.json under ``test``."""
    from edge_ecg.train.checkpoint import CONFIG_NAME, load_checkpoint, read_config
    from edge_ecg.train.trainer import predict

    config = read_config(ckpt_dir)
    if model is None:
        model, config = load_checkpoint(ckpt_dir)
    task = ds2_task(input_spec_from_dict(config["input_spec"]), classes=tuple(config["classes"]))
    probs = predict(model, task, task.val)
    report = classification_report(task.val.y, probs, task.classes)
    own = not str((config.get("provenance") or {}).get("split", "")).startswith("de Chazal")
    split = ("MIT-BIH DS2, another database than the training records (a cross-database reference)" if own
             else "MIT-BIH DS2 (inter-patient, held out)")
    config["test"] = {"split": split, **report}
    Path(ckpt_dir, CONFIG_NAME).write_text(dumps_strict(config, indent=2, sort_keys=True) + "\n")
    if print_table:
        print(f"{split}:\n" + format_beat_table(report), file=sys.stdout)
    return report
