#!/usr/bin/env python3
"""Thin wrapper: build one or more recipes from a checkpoint (same as `edge-ecg export`).

    python export/export.py --checkpoint runs/beat_fusion --qat runs/beat_qat --out dist \
        rpi-tflite-int8 x86-onnx-int8 jetson-onnx

Each target goes to ``<out>/<target>/``. Exit status 1 if any target misses a threshold.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_ecg.cli import main as edge_ecg


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("targets", nargs="+", help="recipe names (export/recipes/*.json)")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--qat", help="directory from `edge-ecg qat` (int8 targets)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, help="verify on this many DS2 windows")
    args = ap.parse_args(argv)
    worst = 0
    for target in args.targets:
        cmd = ["export", "--target", target, "--checkpoint", args.checkpoint, "--out", str(Path(args.out) / target)]
        if args.qat:
            cmd += ["--qat", args.qat]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        worst = max(worst, edge_ecg(cmd))
    return worst


if __name__ == "__main__":
    sys.exit(main())
