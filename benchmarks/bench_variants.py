"""torch eager fp32 vs ONNX fp32 / int8 vs TFLite fp32 / int8, for several models, in ONE run.

Every candidate (model × form) is timed round by round in a shuffled order
(``edge_ecg.bench.latency.interleaved_rounds``), so machine drift hits all of them alike; ratios
are against torch eager fp32 and against the fp32 file of the same runtime, both measured in the
same rounds. Inputs are real DS2 beat windows (with their RR side vectors) cut the way the stream
front end cuts them; for a window model (the 12-lead one), the validation windows of its own
training config, with their age/sex side inputs. The int8 files are the QAT (or PTQ) result
exported as the bundle recipe does (QDQ ONNX with uint8 activations; full-integer TFLite with int8
I/O); the fp32 files are the float checkpoint exported the way the recipes export it (same
unit-height 2-D layout). File sizes come with their breakdown (``edge_ecg.bench.sizes``).

    python benchmarks/bench_variants.py \\
        --model se=runs/beat_fusion:runs/beat_qat --model lite=runs/beat_lite_fusion:runs/beat_lite_qat

Targets (issue: bench): ONNX int8 ≥ 4× faster than torch eager fp32 and ≥ 1.5× faster than ONNX
fp32 (at least for the lite variant); TFLite int8 ≥ 1.5× faster than TFLite fp32; int8 files
≤ 0.30× fp32. Printed as measured, with the miss.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

FORMS = ("torch fp32", "ONNX fp32", "ONNX int8", "TFLite fp32", "TFLite int8")


def parse_model(text: str) -> tuple[str, Path, Path]:
    try:
        label, dirs = text.split("=", 1)
        ckpt, qat = dirs.split(":", 1)
    except ValueError:
        raise SystemExit(f"--model {text!r}: expected LABEL=CHECKPOINT_DIR:QAT_DIR") from None
    return label, Path(ckpt), Path(qat)


def held_out_windows(cfg: dict, limit: int):
    """A window model's inputs: the validation windows of the checkpoint's own training config
    (records it never trained on), preprocessed as in training."""
    from edge_ecg.train.config import TrainConfig
    from edge_ecg.train.tasks import build_task
    from edge_ecg.train.torch_data import WindowDataset

    task = build_task(TrainConfig.from_dict(cfg["train_config"]))
    ds = WindowDataset(task.val, task.input_spec, task.margin, train=False)
    x, side, _ = ds.batch(np.arange(min(limit, len(ds))))
    return x.numpy(), None if side is None else side.numpy()


def build(label: str, ckpt: Path, qat_dir: Path, out: Path, n_windows: int, batch: int):
    """The five batch-1 runners of one model, its batch-``batch`` runners (torch and ONNX) and the
    files behind them."""
    import torch

    from edge_ecg.deploy import onnx_export as ox
    from edge_ecg.deploy import tflite_export as tx
    from edge_ecg.deploy.parity import ds2_windows
    from edge_ecg.quant import load_quantized
    from edge_ecg.quant.graph import graph_spec_for
    from edge_ecg.runtime.backends import OnnxBackend, TFLiteBackend
    from edge_ecg.train.checkpoint import load_checkpoint
    from edge_ecg.train.evaluate import input_spec_from_dict

    model, cfg = load_checkpoint(ckpt)
    model.eval()
    qat = load_quantized(qat_dir)
    spec_in = input_spec_from_dict(cfg["input_spec"])
    takes_side = bool(getattr(model, "side_dim", 0))
    if spec_in.kind == "beat":
        x, side, _, _ = ds2_windows(spec_in, limit=n_windows)
    else:
        x, side = held_out_windows(cfg, n_windows)
    length = int(spec_in.length)
    d = out / label
    # the native layout (unit-height 2-D convs where the model has them), as the export recipes
    # write it: onnxruntime runs it ~2× faster than the Conv1d form, so it is the fair baseline
    native = graph_spec_for(model, length)
    files = {
        "ONNX fp32": ox.export_onnx_fp32(model, native, d / "model_fp32.onnx"),
        "ONNX int8": ox.export_onnx_int8(qat, d / "model_int8.onnx", activations="uint8"),
        "TFLite fp32": tx.export_tflite_fp32(model, native, d / "model_fp32.tflite"),
        "TFLite int8": tx.export_tflite_int8(qat, d / "model_int8.tflite"),
    }
    n = len(x)

    def feeds(i: int) -> dict[str, np.ndarray]:
        j = i % n
        f = {"ecg": x[j:j + 1]}
        if takes_side:
            f["side"] = side[j:j + 1]
        return f

    xt = [torch.from_numpy(np.ascontiguousarray(x[j:j + 1])) for j in range(n)]
    st = [torch.from_numpy(np.ascontiguousarray(side[j:j + 1])) for j in range(n)] if takes_side else None

    def torch_run(i: int):
        with torch.no_grad():
            return model(xt[i % n], st[i % n]) if takes_side else model(xt[i % n])

    runners = {f"{label} | torch fp32": torch_run}
    batch_runners = {}
    rows = np.arange(batch) % n
    fb = {"ecg": np.ascontiguousarray(x[rows])}
    if takes_side:
        fb["side"] = np.ascontiguousarray(side[rows])
    tb = {k: torch.from_numpy(v) for k, v in fb.items()}

    def torch_batch(_i: int):
        with torch.no_grad():
            return model(tb["ecg"], tb.get("side")) if takes_side else model(tb["ecg"])

    batch_runners[f"{label} | torch fp32"] = torch_batch
    for form, path in files.items():
        b = OnnxBackend(path, threads=1) if path.suffix == ".onnx" else TFLiteBackend(path, threads=1)
        runners[f"{label} | {form}"] = lambda i, b=b: b.run(feeds(i))
        # TFLite files are exported with batch 1: the backend runs a batch row by row, so only the
        # ONNX files (dynamic batch axis) say anything about batched kernels
        if batch > 1 and path.suffix == ".onnx":
            batch_runners[f"{label} | {form}"] = lambda i, b=b: b.run(fb)
    return runners, batch_runners, files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, help="LABEL=CHECKPOINT_DIR:QAT_DIR (repeat)")
    ap.add_argument("--windows", type=int, default=300, help="real held-out windows cycled through (default 300)")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--per-round", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64,
                    help="also time torch and ONNX at this batch size, per window (0 or 1: skip; default 64)")
    ap.add_argument("--batch-per-round", type=int, default=3)
    ap.add_argument("--out", default=None, help="where the files go (default: a temporary directory)")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)

    import torch

    from edge_ecg.bench.latency import interleaved_rounds, latency_stats
    from edge_ecg.bench.machine import machine_info
    from edge_ecg.bench.sizes import size_breakdown

    torch.set_num_threads(1)
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_variants_"))
    runners, batch_runners, files = {}, {}, {}
    for text in args.model:
        label, ckpt, qat = parse_model(text)
        r, rb, f = build(label, ckpt, qat, out, args.windows, args.batch)
        runners.update(r)
        batch_runners.update(rb)
        files[label] = f
    for run in runners.values():
        for i in range(args.warmup):
            run(i)
    for run in batch_runners.values():
        for i in range(3):
            run(i)
    times, _ = interleaved_rounds(runners, rounds=args.rounds, per_round=args.per_round,
                                  rng=np.random.default_rng(0))
    batch_times = {}
    if batch_runners:
        batch_times, _ = interleaved_rounds(batch_runners, rounds=args.rounds, per_round=args.batch_per_round,
                                            rng=np.random.default_rng(1))
    # per window, so that the batched column reads like the batch-1 one
    batch_med = {k: float(np.median(v)) / args.batch for k, v in batch_times.items()}
    stats = {k: latency_stats(v) for k, v in times.items()}
    med = {k: float(np.median(v)) for k, v in times.items()}

    m = machine_info()
    print(f"\n{m.get('cpu_model', '?')} · {m.get('cores_logical', '?')} cores · 1 thread, batch 1 · "
          f"{args.rounds} interleaved rounds × {args.per_round} calls · {args.windows} real held-out windows"
          + (f"\nbatch {args.batch}: {args.rounds} interleaved rounds × {args.batch_per_round} calls, "
             "ms per window (torch and ONNX; the TFLite files have a fixed batch of 1)" if batch_med else ""))
    bcol = f"b{args.batch} ms/win" if batch_med else ""
    head = (f"{'model':<8}{'form':<13}{'median ms':>10}{'p99 ms':>9}{'× torch':>9}{'× fp32 same rt':>16}"
            f"{bcol:>13}{'× fp32 at b' if batch_med else '':>12}{'KiB':>8}{'int8/fp32':>10}")
    print(head)
    print("-" * len(head))
    rows = []
    for label, f in files.items():
        base = med[f"{label} | torch fp32"]
        for form in FORMS:
            key = f"{label} | {form}"
            fp32 = f"{label} | {form.split()[0]} fp32" if form != "torch fp32" else key
            size = f[form].stat().st_size if form in f else None
            fp32_size = f[form.replace("int8", "fp32")].stat().st_size if form in f else None
            row = {"model": label, "form": form, **{k: stats[key][k] for k in ("median", "p90", "p99", "max")},
                   "speedup_vs_torch": base / med[key], "speedup_vs_fp32_same_runtime": med[fp32] / med[key],
                   "batch": args.batch if key in batch_med else None,
                   "batch_ms_per_window": batch_med.get(key),
                   "batch_speedup_vs_fp32_same_runtime": (batch_med[fp32] / batch_med[key]) if key in batch_med else None,
                   "file_bytes": size, "size_ratio": (size / fp32_size) if size else None,
                   "size_breakdown": size_breakdown(f[form]) if form in f else None}
            rows.append(row)
            print(f"{label:<8}{form:<13}{row['median']:10.4f}{row['p99']:9.4f}{row['speedup_vs_torch']:8.1f}×"
                  f"{row['speedup_vs_fp32_same_runtime']:15.2f}×"
                  + (f"{row['batch_ms_per_window']:13.4f}{row['batch_speedup_vs_fp32_same_runtime']:11.2f}×"
                     if key in batch_med else " " * 25 * bool(batch_med))
                  + f"{(size or 0) / 1024:8.1f}{row['size_ratio'] or 0:10.2f}")
    print("\nsize breakdown of the int8 files (bytes): " + ", ".join(("weights", "biases", "quant_params", "metadata", "graph")))
    for r in rows:
        if r["form"].endswith("int8"):
            b = r["size_breakdown"]
            floor = (b["weights"] + b["biases"] + b["quant_params"]) / (r["file_bytes"] / r["size_ratio"])
            print(f"  {r['model']:<8}{r['form']:<13}" + "  ".join(f"{k} {b[k]:,}" for k in
                  ("weights", "biases", "quant_params", "metadata", "graph"))
                  + f"  → tensors alone {floor:.2f}× fp32")
    print("\ntargets:")
    for label in files:
        by = {r["form"]: r for r in rows if r["model"] == label}
        checks = [
            ("ONNX int8 vs torch eager", by["ONNX int8"]["speedup_vs_torch"], 4.0),
            ("ONNX int8 vs ONNX fp32", by["ONNX int8"]["speedup_vs_fp32_same_runtime"], 1.5),
            ("TFLite int8 vs TFLite fp32", by["TFLite int8"]["speedup_vs_fp32_same_runtime"], 1.5),
        ]
        if by["ONNX int8"]["batch_speedup_vs_fp32_same_runtime"] is not None:
            checks.append((f"  same at batch {args.batch}", by["ONNX int8"]["batch_speedup_vs_fp32_same_runtime"], 1.5))
        for name, v, want in checks:
            print(f"  {label:<8}{name:<28}{v:6.2f}× (target ≥ {want}×) {'met' if v >= want else f'MISSED by {want / v:.2f}×'}")
        for form in ("ONNX int8", "TFLite int8"):
            v = by[form]["size_ratio"]
            print(f"  {label:<8}{form + ' size':<28}{v:6.2f}× (target ≤ 0.30×) {'met' if v <= 0.30 else f'MISSED by {v / 0.30:.2f}×'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": m, "rows": rows}, indent=2, default=str))
    print(f"\nfiles in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
