"""DS2 (inter-patient, held out) per-class Se / +P / F1 of the bundled float beat checkpoint.

    python benchmarks/bench_ds2.py [--checkpoint DIR]

The checkpoint was trained on DS1 only (see the README for the command); DS2 is never used for
training or tuning. The same table is what ``edge-ecg train`` prints at the end of a run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_ecg.paths import ASSETS_DIR

DEFAULT = ASSETS_DIR / "checkpoints" / "beat"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=str(DEFAULT))
    args = p.parse_args(argv)
    import torch

    from edge_ecg.models import model_info
    from edge_ecg.train.checkpoint import load_checkpoint
    from edge_ecg.train.evaluate import ds2_task, input_spec_from_dict
    from edge_ecg.train.metrics import classification_report, format_beat_table
    from edge_ecg.train.trainer import predict

    torch.set_num_threads(2)
    model, config = load_checkpoint(args.checkpoint)
    spec = input_spec_from_dict(config["input_spec"])
    task = ds2_task(spec, classes=tuple(config["classes"]))
    report = classification_report(task.val.y, predict(model, task, task.val), task.classes)
    info = model_info(model, (spec.channels, spec.length))
    print(f"checkpoint {Path(args.checkpoint).name}: {config['model_name']}, {info.params:,} parameters, "
          f"{info.macs / 1e6:.2f} M MACs per beat; trained on {', '.join(config['provenance']['train_records'][:3])}… "
          f"(DS1), best epoch {config['best_epoch']}")
    print(f"MIT-BIH DS2, {len(task.val.y):,} beats (N/S/V/F; Q excluded):")
    print(format_beat_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
