"""``edge-ecg train``: train from a JSON config and/or flags; evaluates on the held-out split."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

from edge_ecg.train.config import TrainConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="JSON file of TrainConfig fields (flags override it)")
    p.add_argument("--out", required=True, help="checkpoint directory (model.safetensors + config.json)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "train_records":
            p.add_argument(flag, help="comma-separated record names (default: the task's training split)")
        elif f.type in ("bool",):
            p.add_argument(flag, type=_bool, metavar="true|false", help=f"default {f.default}")
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            if "float | None" in str(f.type):
                kind = _float_or_none
            p.add_argument(flag, type=kind, help=f"default {f.default}")
    p.add_argument("--no-eval", action="store_true", help="skip the held-out (DS2) evaluation")
    p.add_argument("--force", action="store_true", help="overwrite a checkpoint already in --out")


def _float_or_none(s: str):
    return None if s.lower() in ("none", "off", "") else float(s)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    base = TrainConfig.from_file(args.config).to_dict() if args.config else {}
    for f in dataclasses.fields(TrainConfig):
        v = getattr(args, f.name, None)
        if v is None:
            continue
        base[f.name] = tuple(r for r in v.split(",") if r) if f.name == "train_records" else v
    if base.get("data_dir"):  # stored in the checkpoint: qat and export may run from another directory
        base["data_dir"] = str(Path(base["data_dir"]).resolve())
    return TrainConfig.from_dict(base)


def run(args: argparse.Namespace) -> int:
    from edge_ecg.train.checkpoint import check_out_dir

    cfg = config_from_args(args)
    check_out_dir(args.out, force=args.force)  # before any data is read or epoch is run
    from edge_ecg.train.trainer import fit

    command = "edge-ecg train " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    result = fit(cfg, args.out, command=command)
    if cfg.task == "mitdb_beats" and not args.no_eval and result["world_size"] == 1:
        from edge_ecg.data.mitdb import shared_mitdb
        from edge_ecg.paths import shared_data_dir
        from edge_ecg.train.evaluate import evaluate_checkpoint_ds2

        if shared_mitdb() is None:  # the model is saved: a missing test set is a note, not a failure
            print(f"note: MIT-BIH DS2 evaluation skipped: no MIT-BIH records at {shared_data_dir() / 'mitdb'} (set "
                  "EDGE_ECG_DATA to the folder holding mitdb/, or pass --no-eval)", file=sys.stderr)
        else:
            evaluate_checkpoint_ds2(args.out, model=result["model"], print_table=True)
    return 0


def _bool(text: str) -> bool:
    """A boolean flag's value; anything but these words is an argparse error naming it."""
    v = text.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
