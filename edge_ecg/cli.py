"""The ``edge-ecg`` command line.

Each sub-command lives beside the stage it drives, in a module that defines
``add_arguments(parser)`` and ``run(args) -> int``. Those modules import nothing heavy at module
level, so ``edge-ecg --help`` works on a runtime-only install; torch and the converters are imported
inside ``run`` by the commands that need them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from edge_ecg.errors import EdgeECGError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("edge_ecg.runtime.demo", "replay a bundled MIT-BIH excerpt over a pty through the bundled int8 model"),
    "stream": ("edge_ecg.runtime.stream_cli", "classify ECG arriving on a serial port in real time"),
    "simulate": ("edge_ecg.sim.cli", "replay a record as frames on a pseudo-terminal (a real serial device)"),
    "data": ("edge_ecg.data.cli", "summarise a dataset (class counts, splits)"),
    "train": ("edge_ecg.train.cli", "train a model from a config file or flags"),
    "qat": ("edge_ecg.quant.cli", "quantization-aware fine-tuning / post-training calibration"),
    "export": ("edge_ecg.deploy.export_cli", "export a checkpoint to ONNX / TFLite with its manifest"),
    "verify": ("edge_ecg.deploy.verify_cli", "parity and op check of an exported model"),
    "ec57": ("edge_ecg.bench.ec57_cli", "score a model through the stream the way AAMI EC57 does"),
    "bench": ("edge_ecg.bench.cli", "latency / capacity benchmark of model files on this machine"),
}


def _load(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:  # command not built in this checkout
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    from edge_ecg import __version__

    parser = argparse.ArgumentParser(prog="edge-ecg", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"edge-ecg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = _load(module_name)
        if module is None:
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except EdgeECGError as exc:
        print(f"edge-ecg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        # a command that saved something on the way out has said so already
        if not getattr(exc, "edge_ecg_reported", False):
            print(f"edge-ecg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
