"""Choose a beat-model architecture by k-fold record-wise cross-validation on MIT-BIH DS1 only.

    python benchmarks/kfold_select.py --model lite=efficientecg_beat_lite_fusion \\
        --model se=efficientecg_beat_fusion [--train-args se="--template-beats 8"] [--folds 3] [--jobs 2] \
        --out runs/kfold

The 22 DS1 records are shuffled with ``--seed`` and cut into ``--folds`` groups. For each fold and
each model, ``edge-ecg train`` runs with the bundled model's recipe on the other folds' records
(its own record-wise early-stopping validation inside them), and the checkpoint labels the held-out
fold's beats. Confusion matrices are pooled over the folds, so every DS1 patient is scored exactly
once, by a model that never saw them. DS2 plays no part. ``--jobs`` trainings run side by side
(one torch thread each). Prints per-fold macro-F1 and the pooled per-class table.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_ecg.data.mitdb import DS1  # noqa: E402
from edge_ecg.train.tasks import record_folds  # noqa: E402

# the bundled beat model's recipe (README, "Reproduce"); --model picks the architecture
RECIPE = ["--epochs", "20", "--majority-fraction", "0.3", "--noise-prob", "0.5", "--noise-snr-min-db", "6",
          "--num-threads", "1", "--progress", "false"]


def _train(name: str, arch: str, fold: int, held_out: tuple[str, ...], out: Path, seed: int,
           extra: tuple[str, ...] = ()) -> Path:
    ckpt = out / name / f"fold{fold}"
    if (ckpt / "model.safetensors").is_file():
        return ckpt  # resumable: a finished fold is not trained again
    train = [r for r in DS1 if r not in held_out]
    cmd = [sys.executable, "-m", "edge_ecg.cli", "train", "--out", str(ckpt), "--model", arch,
           "--train-records", ",".join(train), "--seed", str(seed), "--no-eval", *RECIPE, *extra]
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    with open(ckpt.parent / f"fold{fold}.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    return ckpt


def _held_out_predictions(ckpt: Path, records: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    from edge_ecg.train.checkpoint import load_checkpoint
    from edge_ecg.train.evaluate import ds2_task, input_spec_from_dict
    from edge_ecg.train.trainer import predict

    model, config = load_checkpoint(ckpt)
    task = ds2_task(input_spec_from_dict(config["input_spec"]), records=records, classes=tuple(config["classes"]))
    return task.val.y, predict(model, task, task.val), task.classes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", required=True, help="NAME=ARCHITECTURE (repeatable)")
    p.add_argument("--train-args", action="append", default=[], metavar="NAME=ARGS",
                   help="extra `edge-ecg train` flags for model NAME, e.g. se=\"--template-beats 8\" (repeatable)")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="trainings run side by side (one thread each)")
    p.add_argument("--out", required=True, help="folder for the fold checkpoints")
    p.add_argument("--json", help="write the pooled reports here")
    args = p.parse_args(argv)

    import torch

    from edge_ecg.train.metrics import classification_report, format_beat_table

    torch.set_num_threads(1)
    models = dict(m.split("=", 1) for m in args.model)
    extra = {name: tuple(shlex.split(a)) for name, a in (t.split("=", 1) for t in args.train_args)}
    unknown = sorted(set(extra) - set(models))
    if unknown:
        p.error(f"--train-args for {unknown}: no such --model name (have {sorted(models)})")
    folds = record_folds(DS1, args.folds, args.seed)
    out = Path(args.out)
    for i, f in enumerate(folds):
        print(f"fold {i}: {', '.join(f)}", file=sys.stderr)
    jobs = [(name, arch, i, f) for name, arch in models.items() for i, f in enumerate(folds)]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        ckpts = list(pool.map(lambda j: _train(*j, out, args.seed, extra.get(j[0], ())), jobs))

    reports, lines = {}, []
    for name in models:
        ys, ps, per_fold = [], [], []
        for (n, _, _fold, f), ckpt in zip(jobs, ckpts, strict=True):
            if n != name:
                continue
            y, prob, classes = _held_out_predictions(ckpt, f)
            ys.append(y)
            ps.append(prob)
            per_fold.append(classification_report(y, prob, classes)["macro_f1"])
        pooled = classification_report(np.concatenate(ys), np.concatenate(ps), classes)
        reports[name] = {"architecture": models[name], "train_args": list(extra.get(name, ())),
                         "per_fold_macro_f1": per_fold, "pooled": pooled}
        lines.append(f"{name:<8} {models[name]:<32} pooled macro-F1 {pooled['macro_f1']:.4f}   per fold "
                     + " ".join(f"{v:.3f}" for v in per_fold))
        print(f"\n{name} ({models[name]}), out-of-fold, pooled over {len(folds)} folds of DS1:")
        print(format_beat_table(pooled))
    print(f"\n{len(folds)}-fold record-wise cross-validation on DS1 (seed {args.seed}):")
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps({"folds": folds, "models": reports}, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
