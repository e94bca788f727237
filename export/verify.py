#!/usr/bin/env python3
"""Thin wrapper: verify every model file of an export directory (same as `edge-ecg verify`).

    python export/verify.py dist/rpi-tflite-int8 --limit 5000
    python export/verify.py dist/x86-onnx-int8 --checkpoint runs/beat --qat runs/beat_qat

The options are passed to `edge-ecg verify` for each file. Exit status: the worst of the files'
statuses, worst first 2 (refused), 1 (a threshold missed), 3 (parity not run), 0 (passed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_ecg.cli import main as edge_ecg

SEVERITY = (2, 1, 3, 0)  # edge-ecg verify exit statuses, most serious first


def worst_status(codes) -> int:
    """The most serious of ``codes`` in :data:`SEVERITY` order (an unknown code counts as worst)."""
    return min(codes, key=lambda c: SEVERITY.index(c) if c in SEVERITY else -1, default=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", help="a directory written by `edge-ecg export` (model.json + files)")
    ap.add_argument("--limit", type=int, help="DS2 windows (0 or default: all)")
    ap.add_argument("--checkpoint", help="float checkpoint (default: the one the manifest records)")
    ap.add_argument("--qat", help="quantization directory (default: the one the manifest records)")
    ap.add_argument("--target", help="recipe whose thresholds apply (default: the manifest's)")
    ap.add_argument("--records", help="comma-separated DS2 records (default: all 22)")
    ap.add_argument("--threads", type=int, help="runtime threads (default: the recipe's)")
    ap.add_argument("--allow-no-parity", action="store_true", help="exit 0 rather than 3 when parity could not run")
    ap.add_argument("--json", action="store_true", help="print each summary as JSON")
    args = ap.parse_args(argv)
    if args.limit is not None and args.limit < 0:
        ap.error(f"--limit {args.limit}: expected a number of DS2 windows >= 0 (0: all windows)")
    d = Path(args.directory)
    if not d.is_dir():
        print(f"error: {d} is not a directory (expected one written by `edge-ecg export`)", file=sys.stderr)
        return 2
    files = sorted(p for p in d.iterdir() if p.suffix in (".onnx", ".tflite"))
    if not files:
        print(f"no .onnx / .tflite files in {args.directory}", file=sys.stderr)
        return 2
    passed = []
    for name in ("limit", "checkpoint", "qat", "target", "records", "threads"):
        if getattr(args, name) is not None:
            passed += [f"--{name}", str(getattr(args, name))]
    passed += [flag for flag, on in (("--allow-no-parity", args.allow_no_parity), ("--json", args.json)) if on]
    return worst_status([edge_ecg(["verify", str(f), *passed]) for f in files])


if __name__ == "__main__":
    sys.exit(main())
