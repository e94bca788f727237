"""``edge-ecg verify MODEL``: checksum/manifest gate, parity on held-out DS2 beats against the
torch float and fake-quant models, per-layer SQNR (int8 ONNX) and op check of an exported file.

    edge-ecg verify dist/rpi/model_int8.tflite --limit 5000
    edge-ecg verify dist/x86/model_int8.onnx --target x86-onnx-int8 --checkpoint runs/beat --qat runs/beat_qat

Exit status: 0 all checks passed, 1 a threshold was missed, 2 the file was refused (checksum or
manifest mismatch) or could not be checked.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (.onnx / .tflite) with model.json beside it")
    p.add_argument("--target", help="recipe whose thresholds and op rules apply (default: the one in the manifest)")
    p.add_argument("--checkpoint", help="float checkpoint (default: the path recorded in the manifest)")
    p.add_argument("--qat", help="quantization directory (default: the path recorded in the manifest)")
    p.add_argument("--limit", type=int, help="number of DS2 windows (seeded random subset; default all)")
    p.add_argument("--records", help="comma-separated DS2 records (default: all 22)")
    p.add_argument("--threads", type=int, help="runtime threads (default: the recipe's)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from edge_ecg.deploy.parity import verify_model

    report = verify_model(
        args.model, recipe=args.target, checkpoint_dir=args.checkpoint, qat_dir=args.qat, limit=args.limit,
        records=tuple(r for r in args.records.split(",") if r) if args.records else None, threads=args.threads,
    )
    if args.json:
        print(json.dumps(report.summary(), indent=2, default=str))
    else:
        print(report.format_text())
    return 0 if report.passed else 1
