"""``edge-ecg bench``: latency, memory, compute floor and streaming capacity of model files on
this machine, as a table, a JSON file and a Markdown report; ``--compare`` puts two runs side
by side (the workstation and the Pi).

Examples::

    edge-ecg bench                                   # the bundled model files, 1, 2 and all threads
    edge-ecg bench a/model_int8.onnx b/model_int8.onnx --threads 1 --baseline a/
    edge-ecg bench model_int8.tflite model_fp32.tflite --backend tflite --json pi5.json --report pi5/
    edge-ecg bench --capacity --window-model twelve/model_int8.onnx
    edge-ecg bench model_int8.onnx --profile --threads 1
    edge-ecg bench --compare workstation.json pi5.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help=".onnx / .tflite files, each with model.json beside it (default: the bundled model files)")
    p.add_argument("--backend", default=None,
                   help="comma-separated backends to use: onnxruntime, litert (ai-edge-litert), tflite-runtime, "
                        "tflite (every TFLite interpreter), tensorflow (default: every installed one except tensorflow)")
    p.add_argument("--threads", default="1,2,all", help="thread counts, e.g. 1,2,4; 'all' or 0: every usable core (default: 1,2,all)")
    p.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    p.add_argument("--per-round", type=int, default=30, help="single-window inferences per candidate per round (default 30)")
    p.add_argument("--warmup", type=int, default=20, help="untimed inferences per candidate first (default 20)")
    p.add_argument("--batch", type=int, default=32, help="batch size of the throughput figure (0: skip; default 32)")
    p.add_argument("--seed", type=int, default=0, help="seed of the round order")
    p.add_argument("--record", help="record to cut real windows from (default: the bundled MIT-BIH 200 excerpt)")
    p.add_argument("--baseline", help="candidate the ratios are against (its name or part of it; default: the first)")
    p.add_argument("--providers", default="cpu", help="onnxruntime execution providers in order, e.g. cuda,cpu")
    p.add_argument("--profile", action="store_true", help="onnxruntime profiler: per-op-type time shares of each candidate")
    p.add_argument("--no-rss", action="store_true", help="skip the memory probe (one fresh process per candidate)")
    p.add_argument("--no-floor", action="store_true", help="skip the compute-floor measurement")
    p.add_argument("--json", metavar="FILE", help="write the machine-readable result here (schema in edge_ecg/bench/report.py)")
    p.add_argument("--report", metavar="DIR", help="write report.md and PNG plots here")
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="print two runs side by side and exit")
    cap = p.add_argument_group("streaming capacity")
    cap.add_argument("--capacity", action="store_true", help="also measure how many real-time streams one core sustains")
    cap.add_argument("--no-latency", action="store_true", help="skip the latency part (with --capacity)")
    cap.add_argument("--beat-model", help="beat model of the 2-lead 360 Hz streams (default: the first beat model given, else the bundled one)")
    cap.add_argument("--window-model", help="window model of the 12-lead 500 Hz streams (default: the first window model given; none: n/a)")
    cap.add_argument("--capacity-seconds", type=float, default=60.0, help="seconds of stream per CPU measurement (default 60)")
    cap.add_argument("--verify", choices=("backtoback", "paced", "none"), default="backtoback",
                     help="check K by running K streams back to back (default), paced at real time, or not at all")
    cap.add_argument("--verify-seconds", type=float, default=10.0, help="seconds of stream per stream in a check (default 10)")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")


def default_models() -> list[Path]:
    from edge_ecg.errors import ConfigError
    from edge_ecg.runtime.classifier import DEFAULT_MODEL_DIR

    files = sorted(p for p in DEFAULT_MODEL_DIR.glob("*") if p.suffix in (".onnx", ".tflite")) if DEFAULT_MODEL_DIR.is_dir() else []
    if not files:
        raise ConfigError(f"no MODEL given and no bundled model files in {DEFAULT_MODEL_DIR}")
    # int8 first: the first candidate is the default baseline
    return sorted(files, key=lambda p: ("int8" not in p.name, p.suffix != ".onnx", p.name))


def _kind_of(path: Path) -> str | None:
    from edge_ecg.deploy.manifest import load_manifest
    from edge_ecg.errors import ManifestError

    try:
        return load_manifest(path).input.kind
    except ManifestError:
        return None


def run(args: argparse.Namespace) -> int:
    from edge_ecg.bench import report

    if args.compare:
        a, b = (report.load_json(p) for p in args.compare)
        print(report.compare(a, b, label_a="A", label_b="B"))
        print(f"A = {args.compare[0]}, B = {args.compare[1]}")
        return 0

    from edge_ecg.bench.latency import (
        BenchConfig,
        finish_document,
        make_candidates,
        new_document,
        run_latency,
    )
    from edge_ecg.errors import ConfigError
    from edge_ecg.runtime.sinks import prepare_output_file

    # the output paths first: a bad one must not cost a whole benchmark
    if args.json:
        prepare_output_file(args.json, "--json")
    if args.report:
        report.check_report_dir(args.report)
    log = None if args.quiet else (lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True))
    config = BenchConfig(
        rounds=args.rounds, per_round=args.per_round, warmup=args.warmup, batch=args.batch, seed=args.seed,
        record=args.record, baseline=args.baseline, providers=tuple(args.providers.split(",")),
        rss=not args.no_rss, floor=not args.no_floor, profile=args.profile,
    )
    if args.no_latency and not args.capacity:
        raise ConfigError("--no-latency leaves nothing to do without --capacity")
    paths = [Path(m) for m in args.models] if args.models else ([] if args.no_latency else default_models())
    if args.no_latency:
        doc = new_document(config)
    else:
        backends = args.backend.split(",") if args.backend else None
        candidates, notes = make_candidates(paths, backends=backends, threads=args.threads)
        doc = run_latency(candidates, config, log=log, notes=notes)
    if args.capacity:
        from edge_ecg.bench.capacity import CapacityConfig, measure_capacity

        beat = args.beat_model or next((p for p in paths if _kind_of(p) == "beat"), None)
        window = args.window_model or next((p for p in paths if _kind_of(p) == "window"), None)
        cap_config = CapacityConfig(stream_s=args.capacity_seconds, verify=args.verify, verify_s=args.verify_seconds,
                                    seed=args.seed)
        doc["capacity"] = measure_capacity(beat, window, config=cap_config, log=log)
    finish_document(doc)
    print(report.format_table(doc))
    if args.json:
        print(f"wrote {report.write_json(doc, args.json)}")
    if args.report:
        print(f"wrote {report.write_report(doc, args.report)}")
    return 0
