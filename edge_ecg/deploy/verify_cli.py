"""``edge-ecg verify MODEL``: checksum/manifest gate, parity on held-out DS2 beats against the
torch float and fake-quant models, per-layer SQNR (int8 ONNX) and op check of an exported file.

    edge-ecg verify dist/rpi/model_int8.tflite --limit 5000
    edge-ecg verify dist/x86/model_int8.onnx --target x86-onnx-int8 --checkpoint runs/beat --qat runs/beat_qat
"""

from __future__ import annotations

import argparse
import json

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2  # the CLI's code for any EdgeECGError (edge_ecg.cli.main)
EXIT_NO_PARITY = 3

EPILOG = f"""\
exit status:
  {EXIT_PASSED}  every check passed and parity ran (against at least one torch reference, normally
     the float checkpoint). A fake-quant / int8-reference comparison that could not run (no
     quantization directory here) is named in the verdict and in the JSON "references_missing"
     but does not change the status.
  {EXIT_FAILED}  a threshold was missed
  {EXIT_REFUSED}  the file was refused (checksum or manifest mismatch) or could not be checked
  {EXIT_NO_PARITY}  the checks that ran passed, but parity did NOT run (no float checkpoint found,
     torch not installed, or not a beat model): the verdict reads "PASSED (op check only: parity
     NOT run ...)" and the JSON has "parity_run": false. --allow-no-parity turns this into {EXIT_PASSED}.

The float checkpoint is --checkpoint, else the path recorded in the manifest (relative to where
the export ran), else a bundled checkpoint whose weights hash to the manifest's weights_sha256.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("model", help="model file (.onnx / .tflite) with model.json beside it")
    p.add_argument("--target", help="recipe whose thresholds and op rules apply (default: the one in the manifest)")
    p.add_argument("--checkpoint", help="float checkpoint (default: the path recorded in the manifest, else the "
                                        "bundled checkpoint with the same weights hash)")
    p.add_argument("--qat", help="quantization directory (default: the path recorded in the manifest)")
    p.add_argument("--limit", type=int, help="number of DS2 windows (seeded random subset; 0 or default: all)")
    p.add_argument("--records", help="comma-separated DS2 records (default: all 22)")
    p.add_argument("--threads", type=int, help="runtime threads (default: the recipe's)")
    p.add_argument("--allow-no-parity", action="store_true",
                   help=f"exit {EXIT_PASSED} rather than {EXIT_NO_PARITY} when parity could not run (op check only)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (with parity_run and verdict)")


def run(args: argparse.Namespace) -> int:
    from edge_ecg.deploy.parity import check_limit, verify_model

    check_limit(args.limit)
    report = verify_model(
        args.model, recipe=args.target, checkpoint_dir=args.checkpoint, qat_dir=args.qat, limit=args.limit,
        records=tuple(r for r in args.records.split(",") if r) if args.records else None, threads=args.threads,
    )
    if args.json:
        print(json.dumps(report.summary(), indent=2, default=str))
    else:
        print(report.format_text())
    return exit_status(report.passed, report.parity_run, args.allow_no_parity)


def exit_status(passed: bool, parity_run: bool, allow_no_parity: bool) -> int:
    """The exit status of ``verify`` and ``export`` (see :data:`EPILOG`) for checks that ran."""
    if not passed:
        return EXIT_FAILED
    if not parity_run and not allow_no_parity:
        return EXIT_NO_PARITY
    return EXIT_PASSED
