#!/usr/bin/env python3
"""Thin wrapper: verify every model file of an export directory (same as `edge-ecg verify`).

    python export/verify.py dist/rpi-tflite-int8 --limit 5000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_ecg.cli import main as edge_ecg


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", help="a directory written by `edge-ecg export` (model.json + files)")
    ap.add_argument("--limit", type=int, help="DS2 windows (default: all)")
    args, rest = ap.parse_known_args(argv)
    files = sorted(p for p in Path(args.directory).iterdir() if p.suffix in (".onnx", ".tflite"))
    if not files:
        print(f"no .onnx / .tflite files in {args.directory}", file=sys.stderr)
        return 2
    worst = 0
    for f in files:
        cmd = ["verify", str(f), *rest] + (["--limit", str(args.limit)] if args.limit else [])
        worst = max(worst, edge_ecg(cmd))
    return worst


if __name__ == "__main__":
    sys.exit(main())
