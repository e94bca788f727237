"""Streaming capacity: concurrent real-time streams one core sustains through the whole runtime
pipeline (FrameDecoder → StreamSession → StreamClassifier → model), per model, against the
pipeline without a model (the front end alone) measured in the same run.

    python benchmarks/bench_capacity.py [--beat-model F ...] [--window-model F ...]
                                        [--seconds 60] [--verify paced|backtoback|none]
                                        [--verify-seconds 10] [--json FILE]

Defaults: the bundled beat model files (int8 and fp32 ONNX, and the TFLite ones when an
interpreter is installed) on the 2-lead 360 Hz MIT-BIH excerpt; a 12-lead 500 Hz CinC 2021
record for window models (only those given with ``--window-model``, e.g. the bundled
``edge_ecg/assets/models/twelve_lead/model_fp32.onnx``; ``--beat-model`` with no file skips the
beat rows). The CPU cost
is ``time.process_time`` per second of stream (see ``edge_ecg/bench/capacity.py``); K is
verified by running K streams paced at real time and searching for the largest K whose lag
stays bounded. The first model of each stream kind is the baseline of the ratio column.
Same measurement as ``edge-ecg bench --capacity``; this script adds the model comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_ecg.bench.capacity import CapacityConfig, beat_source, stream_capacity, twelve_lead_source  # noqa: E402
from edge_ecg.bench.machine import machine_info  # noqa: E402
from edge_ecg.bench.report import labelled_share, machine_line, runtimes_line, text_table  # noqa: E402
from edge_ecg.runtime.classifier import DEFAULT_MODEL_DIR, Classifier  # noqa: E402


def default_beat_models() -> list[Path]:
    from edge_ecg.runtime.backends import load_tflite_interpreter_class

    names = ["model_int8.onnx", "model_fp32.onnx"]
    try:
        load_tflite_interpreter_class()
        names += ["model_int8.tflite", "model_fp32.tflite"]
    except ImportError:
        pass
    return [DEFAULT_MODEL_DIR / n for n in names if (DEFAULT_MODEL_DIR / n).is_file()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--beat-model", nargs="*", type=Path, help="beat model files (default: the bundled ones; none given: no beat rows)")
    p.add_argument("--window-model", nargs="+", type=Path, default=[], help="12-lead window model files")
    p.add_argument("--beat-record", help="2-lead record (default: the bundled MIT-BIH 200 excerpt)")
    p.add_argument("--window-record", help="12-lead record (default: the first CinC 2021 record of the shared data)")
    p.add_argument("--seconds", type=float, default=60.0, help="seconds of stream per CPU measurement")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--verify", choices=("paced", "backtoback", "none"), default="paced")
    p.add_argument("--verify-seconds", type=float, default=10.0)
    p.add_argument("--json", help="also write the rows as JSON")
    args = p.parse_args(argv)

    config = CapacityConfig(stream_s=args.seconds, repeats=args.repeats, verify=args.verify, verify_s=args.verify_seconds)
    beat_models = default_beat_models() if args.beat_model is None else args.beat_model
    if not beat_models and not args.window_model:
        p.error(f"no models: none bundled in {DEFAULT_MODEL_DIR}; pass --beat-model / --window-model")
    m = machine_info()
    print(f"machine   {machine_line(m)}\nruntimes  {runtimes_line(m)}")

    def log(msg: str) -> None:
        print(f"[capacity] {msg}", file=sys.stderr, flush=True)

    entries = []
    for kind, models, make_source, record in (("beat", beat_models, beat_source, args.beat_record),
                                               ("window", args.window_model, twelve_lead_source, args.window_record)):
        if not models:
            continue
        source = make_source(record)
        for path in models:
            entries.append(stream_capacity(kind, Classifier(path, threads=1), source, config, log=log))

    rows = []
    for kind in ("beat", "window"):
        mine = [e for e in entries if e["name"] == kind]
        ok = [e for e in mine if e["status"] == "ok"]
        if not mine:
            continue
        if ok:
            fe = ok[0]["cpu_ms_per_stream_s"]
            front = fe["decode"] + fe["frontend"]
            rows.append([kind, "(front end only, no model)", f"{front:.2f}", "—", str(int(1000 // front)) if front else "—", "—", "—"])
        base = ok[0]["cpu_s_per_stream_s"] if ok else None
        for e in mine:
            if e["status"] != "ok":
                rows.append([kind, e.get("model") or "—", "n/a", "", "", "", e["reason"] or ""])
                continue
            v = e["verify"] or {}
            rows.append([kind, f"{e['model']} ({e['backend'].split(' (')[0]})", f"{e['cpu_ms_per_stream_s']['total']:.2f}",
                         labelled_share(e), str(e["k_estimate"]), "—" if v.get("k") is None else str(v["k"]),
                         f"{e['cpu_s_per_stream_s'] / base:.2f}"])
    print()
    print(text_table(["stream", "model", "CPU ms/s", "labelled", "K est.", f"K {config.verify}", "CPU ×base"], rows))
    print("CPU ms per second of stream on one core (decode + filters + QRS + windows + model, one frame per read); "
          "labelled: the share of emitted beats/windows the quality gate let through to the model, per stream-second; "
          "K: concurrent real-time streams per core")
    for e in entries:
        reason = (e.get("verify") or {}).get("reason")
        if reason:
            print(f"{e['name']} {e['model']}: {reason}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": m, "config": asdict(config), "streams": entries}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
