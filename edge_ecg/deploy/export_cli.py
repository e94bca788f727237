"""``edge-ecg export``: build a deployment recipe from a checkpoint (and its QAT directory).

    edge-ecg export --target rpi-tflite-int8 --checkpoint runs/beat --qat runs/beat_qat --out dist/rpi
    edge-ecg export --list

Writes the model file(s), ``model.json`` and ``MODEL_CARD.md`` into ``--out``, then verifies each
file on held-out MIT-BIH DS2 beats (``--limit`` windows; ``--no-verify`` to skip). Exit status 1
when a recipe threshold is missed.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", help="recipe name (export/recipes/<name>.json) or path to a recipe file")
    p.add_argument("--checkpoint", help="float checkpoint directory")
    p.add_argument("--qat", help="directory written by `edge-ecg qat` (int8 recipes; without it a PTQ calibration runs)")
    p.add_argument("--out", help="output directory")
    p.add_argument("--limit", type=int, help="verify on this many DS2 windows (seeded random subset; default all)")
    p.add_argument("--records", help="comma-separated DS2 records to verify on (default: all 22)")
    p.add_argument("--no-verify", action="store_true", help="skip the DS2 parity / op check")
    p.add_argument("--list", action="store_true", help="list the known recipes and exit")
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from edge_ecg.deploy.recipes import command_line, export_target, list_recipes, load_recipe
    from edge_ecg.errors import ConfigError

    if args.list:
        for name in list_recipes():
            r = load_recipe(name)
            print(f"{name:<20} {'+'.join(r.formats):<12} {r.precision:<13} {r.description}")
        return 0
    missing = [f"--{k}" for k in ("target", "checkpoint", "out") if not getattr(args, k)]
    if missing:
        raise ConfigError(f"edge-ecg export needs {', '.join(missing)}")
    result = export_target(
        args.target, args.checkpoint, args.out, qat_dir=args.qat, verify=not args.no_verify, limit=args.limit,
        records=tuple(r for r in args.records.split(",") if r) if args.records else None,
        command=command_line(sys.argv[1:]), progress=not args.quiet,
    )
    for path in result.files.values():
        print(f"{path}  {path.stat().st_size / 1024:.1f} KiB")
    print(result.out_dir / "model.json")
    if args.no_verify:
        return 0
    print("verify:", "PASSED" if result.passed else "FAILED (see the report above / MODEL_CARD.md)")
    return 0 if result.passed else 1
