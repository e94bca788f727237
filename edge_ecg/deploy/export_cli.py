"""``edge-ecg export``: build a deployment recipe from a checkpoint (and its QAT directory).

    edge-ecg export --target rpi-tflite-int8 --checkpoint runs/beat --qat runs/beat_qat --out dist/rpi
    edge-ecg export --list

Writes the model file(s), ``model.json`` and ``MODEL_CARD.md`` into ``--out``, then verifies each
file as ``edge-ecg verify`` does (``--limit`` DS2 windows; ``--no-verify`` to skip), with the same
exit status (see :data:`EPILOG`).
"""

from __future__ import annotations

import argparse
import sys

from edge_ecg.deploy.verify_cli import (
    EXIT_FAILED,
    EXIT_NO_PARITY,
    EXIT_PASSED,
    EXIT_REFUSED,
    exit_status,
)

EPILOG = f"""\
exit status (as edge-ecg verify's):
  {EXIT_PASSED}  written; every file verified and passed with DS2 parity (or --no-verify: written, not verified)
  {EXIT_FAILED}  written, but a recipe threshold was missed (see the report / MODEL_CARD.md)
  {EXIT_REFUSED}  refused before anything was written: a bad option, a missing checkpoint, or --out
     holding another export's files (--force replaces them)
  {EXIT_NO_PARITY}  written and the checks that ran passed, but DS2 parity did NOT run (a 12-lead window
     model, no torch): "PASSED (op check only: parity NOT run ...)". --allow-no-parity turns this into {EXIT_PASSED}.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("--target", help="recipe name (export/recipes/<name>.json) or path to a recipe file")
    p.add_argument("--checkpoint", help="float checkpoint directory")
    p.add_argument("--qat", help="directory written by `edge-ecg qat` (int8 recipes; without it a PTQ calibration runs)")
    p.add_argument("--out", help="output directory (refused if it holds another export's files, unless --force)")
    p.add_argument("--force", action="store_true",
                   help="write into an --out holding another export: replace its model.json / MODEL_CARD.md and "
                        "remove its model files this export would leave unlisted")
    p.add_argument("--limit", type=int, help="verify on this many DS2 windows (seeded random subset; 0 or default: all)")
    p.add_argument("--records", help="comma-separated DS2 records to verify on (default: all 22)")
    p.add_argument("--no-verify", action="store_true", help="skip the DS2 parity / op check")
    p.add_argument("--allow-no-parity", action="store_true",
                   help=f"exit {EXIT_PASSED} rather than {EXIT_NO_PARITY} when parity could not run (op check only)")
    p.add_argument("--list", action="store_true", help="list the known recipes and exit")
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from edge_ecg.deploy.parity import check_limit
    from edge_ecg.deploy.recipes import command_line, export_target, list_recipes, load_recipe
    from edge_ecg.errors import ConfigError

    if args.list:
        for name in list_recipes():
            r = load_recipe(name)
            print(f"{name:<20} {'+'.join(r.formats):<12} {r.precision:<13} {r.description}")
        return EXIT_PASSED
    missing = [f"--{k}" for k in ("target", "checkpoint", "out") if not getattr(args, k)]
    if missing:
        raise ConfigError(f"edge-ecg export needs {', '.join(missing)}")
    check_limit(args.limit)
    result = export_target(
        args.target, args.checkpoint, args.out, qat_dir=args.qat, verify=not args.no_verify, limit=args.limit,
        records=tuple(r for r in args.records.split(",") if r) if args.records else None,
        command=command_line(sys.argv[1:]), progress=not args.quiet, force=args.force,
    )
    for path in result.files.values():
        print(f"{path}  {path.stat().st_size / 1024:.1f} KiB")
    print(result.out_dir / "model.json")
    print("verify:", result.status() + ("" if result.passed else " (see the report above / MODEL_CARD.md)"))
    if not result.verified:
        return EXIT_PASSED
    return exit_status(result.passed, result.parity_run, args.allow_no_parity)
