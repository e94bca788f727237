#!/usr/bin/env python3
"""Thin wrapper: build one or more recipes from a checkpoint (same as `edge-ecg export`).

    python export/export.py --checkpoint runs/beat_fusion --qat runs/beat_qat --out dist \
        rpi-tflite-int8 x86-onnx-int8 jetson-onnx

Each target goes to ``<out>/<target>/``. Every target name is checked before anything is built.
Exit status: the worst of the targets' `edge-ecg export` statuses, worst first 2 (refused),
1 (a threshold missed), 3 (parity not run), 0 (passed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_ecg.cli import main as edge_ecg

# edge-ecg export / verify exit statuses, most serious first
SEVERITY = (2, 1, 3, 0)


def worst_status(codes) -> int:
    """The most serious of ``codes`` in :data:`SEVERITY` order (an unknown code counts as worst)."""
    return min(codes, key=lambda c: SEVERITY.index(c) if c in SEVERITY else -1, default=0)


def main(argv: list[str] | None = None) -> int:
    from edge_ecg.deploy.recipes import load_recipe
    from edge_ecg.errors import ConfigError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("targets", nargs="+", help="recipe names (export/recipes/*.json)")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--qat", help="directory from `edge-ecg qat` (int8 targets)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, help="verify on this many DS2 windows (0 or default: all)")
    ap.add_argument("--records", help="comma-separated DS2 records to verify on (default: all 22)")
    ap.add_argument("--no-verify", action="store_true", help="skip the DS2 parity / op check")
    ap.add_argument("--allow-no-parity", action="store_true", help="exit 0 rather than 3 when parity could not run")
    ap.add_argument("--force", action="store_true", help="replace another export's files in a target folder")
    args = ap.parse_args(argv)
    if args.limit is not None and args.limit < 0:
        ap.error(f"--limit {args.limit}: expected a number of DS2 windows >= 0 (0: all windows)")
    bad = []
    for target in dict.fromkeys(args.targets):
        try:
            load_recipe(target)
        except ConfigError as exc:
            bad.append(str(exc))
    if bad:
        print("error: " + "\nerror: ".join(bad), file=sys.stderr)
        return 2
    codes = []
    for target in args.targets:
        cmd = ["export", "--target", target, "--checkpoint", args.checkpoint, "--out", str(Path(args.out) / Path(target).stem)]
        if args.qat:
            cmd += ["--qat", args.qat]
        if args.limit is not None:
            cmd += ["--limit", str(args.limit)]
        if args.records:
            cmd += ["--records", args.records]
        cmd += [flag for flag, on in (("--no-verify", args.no_verify), ("--allow-no-parity", args.allow_no_parity),
                                      ("--force", args.force)) if on]
        codes.append(edge_ecg(cmd))
    return worst_status(codes)


if __name__ == "__main__":
    sys.exit(main())
