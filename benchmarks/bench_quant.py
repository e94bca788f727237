"""Float vs QAT int8 vs our PTQ int8 vs onnxruntime's own ``quantize_static``, on MIT-BIH DS2.

One table: DS2 macro-F1, VEB and SVEB Se / +P, top-1 agreement with the torch float model,
file size (and its ratio to the fp32 file of the same format), latency (1 thread, batch 1,
median and p99 over ``--runs`` calls after a warm-up). The baseline of the same run is the
float model (accuracy) and the fp32 file of each runtime (size, speed).

    python benchmarks/bench_quant.py --checkpoint runs/beat --qat runs/beat_qat --out /tmp/bench_quant
    python benchmarks/bench_quant.py ... --ptq runs/beat_ptq --limit 10000 --tflite-runtime-python /tmp/tflrt/bin/python

Rows (each an actual file run in its own runtime, except the torch rows):

* ``torch float`` / ``torch QAT fake-quant`` — the references;
* ``ONNX fp32``, ``TFLite fp32`` — the float model exported;
* ``ONNX int8 QAT (uint8 act)`` — the shipped x86 file; ``(int8 act)`` — same graph, int8
  activations, to show why the shift to uint8 exists;
* ``TFLite int8 QAT`` — full-integer, ai-edge-litert / XNNPACK;
* ``ONNX int8 PTQ``, ``TFLite int8 PTQ`` — our quantizer, calibrated instead of trained;
* ``ONNX ort quantize_static`` — onnxruntime's out-of-the-box static quantization of the fp32
  ONNX file (QDQ, per-channel int8 weights, QUInt8 activations, MinMax calibration on DS1
  training windows): the baseline a user gets without edge-ecg;
* ``TFLite int8 QAT on tflite-runtime 2.14`` — when a python with tflite-runtime is given
  (``--tflite-runtime-python``; it needs numpy < 2, so it lives in its own venv).

Targets (TOOLCHAIN/issue): int8 vs float top-1 agreement ≥ 99 %, macro-F1 drop ≤ 0.01, int8
file ≤ 0.30× fp32, QAT ≥ PTQ ≥ ort quantize_static on macro-F1. Printed as measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

_TFLRT_SCRIPT = r"""
import sys, time, json, numpy as np
from tflite_runtime.interpreter import Interpreter
path, x_path, side_path, out_path, runs = sys.argv[1:6]
x = np.load(x_path); side = np.load(side_path) if side_path != "-" else None
it = Interpreter(model_path=path, num_threads=1); it.allocate_tensors()
ins = it.get_input_details(); out = it.get_output_details()[0]
def q(a, d):
    if np.dtype(d["dtype"]).kind == "f": return a.astype(d["dtype"])
    s, z = d["quantization"]; info = np.iinfo(d["dtype"])
    return np.clip(np.round(a / s) + z, info.min, info.max).astype(d["dtype"])
def run(i):
    for d in ins:
        a = side[i:i+1] if (side is not None and "side" in d["name"]) else x[i:i+1]
        it.set_tensor(d["index"], q(a, d))
    it.invoke()
    y = it.get_tensor(out["index"])
    if np.dtype(out["dtype"]).kind != "f":
        s, z = out["quantization"]; y = (y.astype(np.float32) - z) * s
    return y
ys = np.concatenate([run(i) for i in range(len(x))])
np.save(out_path, ys)
for _ in range(30): run(0)
ts = []
for k in range(int(runs)):
    t = time.perf_counter(); run(k % len(x)); ts.append(time.perf_counter() - t)
ops = [o["op_name"] for o in it._get_ops_details()]
print(json.dumps({"median_ms": float(np.median(ts) * 1e3), "p99_ms": float(np.percentile(ts, 99) * 1e3),
                  "delegated": "DELEGATE" in ops}))
"""


def latency(fn, n_runs: int, warmup: int = 50) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(n_runs):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts) * 1e3), float(np.percentile(ts, 99) * 1e3)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--qat", required=True, help="directory from `edge-ecg qat`")
    ap.add_argument("--ptq", help="directory from `edge-ecg qat --method ptq` (default: calibrated here)")
    ap.add_argument("--out", default=None, help="where the files go (default: a temporary directory)")
    ap.add_argument("--limit", type=int, default=0, help="DS2 windows (seeded subset; 0: all)")
    ap.add_argument("--records", default=None, help="comma-separated DS2 records (default: all 22)")
    ap.add_argument("--calib-windows", type=int, default=2048, help="DS1 windows for ort quantize_static")
    ap.add_argument("--runs", type=int, default=500, help="timed calls per file")
    ap.add_argument("--tflite-runtime-python", default=None, help="python of a venv with tflite-runtime 2.14")
    ap.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from edge_ecg.deploy import onnx_export as ox
    from edge_ecg.deploy import tflite_export as tx
    from edge_ecg.deploy.parity import ds2_windows, run_torch
    from edge_ecg.quant import QuantConfig, load_quantized, quantize_checkpoint
    from edge_ecg.quant.graph import graph_spec_for
    from edge_ecg.runtime.backends import OnnxBackend, TFLiteBackend
    from edge_ecg.train.checkpoint import load_checkpoint
    from edge_ecg.train.config import TrainConfig
    from edge_ecg.train.evaluate import input_spec_from_dict
    from edge_ecg.train.metrics import classification_report
    from edge_ecg.train.tasks import build_task
    from edge_ecg.train.torch_data import WindowDataset

    out = Path(args.out or tempfile.mkdtemp(prefix="bench_quant_"))
    out.mkdir(parents=True, exist_ok=True)
    model, cfg = load_checkpoint(args.checkpoint)
    spec_in = input_spec_from_dict(cfg["input_spec"])
    takes_side = bool(getattr(model, "side_dim", 0))
    qat = load_quantized(args.qat)
    ptq = load_quantized(args.ptq) if args.ptq else quantize_checkpoint(
        args.checkpoint, out / "ptq", QuantConfig(method="ptq", num_threads=1, progress=False), write_pt2=False)
    classes = tuple(cfg["classes"])

    t0 = time.perf_counter()
    records = tuple(r for r in args.records.split(",") if r) if args.records else None
    x, side, y, _ = ds2_windows(spec_in, limit=args.limit or None, records=records)
    if not takes_side:
        side = None
    print(f"DS2: {len(y)} windows ({time.perf_counter() - t0:.0f} s to cut); class counts "
          f"{dict(zip(classes, np.bincount(y, minlength=len(classes)).tolist(), strict=True))}", file=sys.stderr)

    # ---- files ----
    length = int(spec_in.length)
    files: dict[str, Path] = {}
    # the recipes' layout (unit-height 2-D convs) for both fp32 files: onnxruntime runs it ~2×
    # faster than Conv1d
    native = graph_spec_for(model, length)
    files["onnx_fp32"] = ox.export_onnx_fp32(model, native, out / "model_fp32.onnx")
    files["tflite_fp32"] = tx.export_tflite_fp32(model, native, out / "model_fp32.tflite")
    files["onnx_qat_u8"] = ox.export_onnx_int8(qat, out / "model_int8_qat.onnx", activations="uint8")
    files["onnx_qat_s8"] = ox.export_onnx_int8(qat, out / "model_int8_qat_s8act.onnx", activations="int8")
    files["tflite_qat"] = tx.export_tflite_int8(qat, out / "model_int8_qat.tflite")
    files["onnx_ptq"] = ox.export_onnx_int8(ptq, out / "model_int8_ptq.onnx")
    files["tflite_ptq"] = tx.export_tflite_int8(ptq, out / "model_int8_ptq.tflite")
    # onnxruntime's quantize_static, calibrated on DS1 training windows (centre crops)
    task = build_task(TrainConfig.from_dict({k: v for k, v in cfg["train_config"].items()
                                             if k in {f for f in TrainConfig.__dataclass_fields__}}))
    ds = WindowDataset(task.train, task.input_spec, task.margin, train=False)
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(ds), size=min(args.calib_windows, len(ds)), replace=False))
    feeds = []
    for s in range(0, len(idx), 256):
        cx, cs, _ = ds.batch(idx[s:s + 256])
        f = {"ecg": cx.numpy()}
        if takes_side:
            f["side"] = cs.numpy()
        feeds.append(f)
    files["onnx_ort_static"] = ox.ort_quantize_static(files["onnx_fp32"], out / "model_int8_ort_static.onnx", feeds)

    # ---- torch references ----
    fwd = (lambda e, s: model(e, s)) if takes_side else (lambda e: model(e))
    float_logits = run_torch(fwd, x, side, takes_side)
    qat_fq_logits = run_torch(qat.fake_quant, x, side, takes_side)

    def feeds_of(i0, i1):
        f = {"ecg": x[i0:i1]}
        if side is not None:
            f["side"] = side[i0:i1]
        return f

    def run_onnx(path):
        b = OnnxBackend(path, threads=1)
        logits = np.concatenate([b.run(feeds_of(i, i + 512)) for i in range(0, len(x), 512)])
        return logits, latency(lambda: b.run(feeds_of(0, 1)), args.runs)

    def run_tflite(path):
        b = TFLiteBackend(path, threads=1)
        logits = np.concatenate([b.run(feeds_of(i, i + 1)) for i in range(len(x))])
        return logits, latency(lambda: b.run(feeds_of(0, 1)), args.runs)

    rows = []

    def add(name, logits, path=None, lat=None, fp32_path=None, note=""):
        rep = classification_report(y, logits, classes)  # argmax-based metrics; softmax not needed
        pc = rep["per_class"]
        size = path.stat().st_size if path is not None else None
        ratio = size / fp32_path.stat().st_size if (path is not None and fp32_path is not None) else None
        rows.append({
            "name": name, "macro_f1": rep["macro_f1"],
            "veb_se": pc["V"]["se"], "veb_ppv": pc["V"]["ppv"], "sveb_se": pc["S"]["se"], "sveb_ppv": pc["S"]["ppv"],
            "agree_float": float(np.mean(logits.argmax(1) == float_logits.argmax(1))),
            "size_kib": size / 1024 if size else None, "size_ratio": ratio,
            "median_ms": lat[0] if lat else None, "p99_ms": lat[1] if lat else None, "note": note,
        })

    x1 = torch.from_numpy(np.ascontiguousarray(x[:1]))
    s1 = torch.from_numpy(np.ascontiguousarray(side[:1])) if side is not None else None
    with torch.no_grad():
        eager = latency((lambda: fwd(x1, s1)) if takes_side else (lambda: fwd(x1)), args.runs)
    add("torch float", float_logits, lat=eager, note="reference; latency = torch eager fp32")
    add("torch QAT fake-quant", qat_fq_logits)
    lg, lat = run_onnx(files["onnx_fp32"])
    add("ONNX fp32", lg, files["onnx_fp32"], lat, files["onnx_fp32"], "baseline (onnxruntime)")
    onnx_fp32_lat = lat
    lg, lat = run_tflite(files["tflite_fp32"])
    add("TFLite fp32", lg, files["tflite_fp32"], lat, files["tflite_fp32"], "baseline (ai-edge-litert)")
    lg, lat = run_onnx(files["onnx_qat_u8"])
    add("ONNX int8 QAT (uint8 act)", lg, files["onnx_qat_u8"], lat, files["onnx_fp32"],
        f"{onnx_fp32_lat[0] / lat[0]:.2f}x fp32 speed")
    lg, lat = run_onnx(files["onnx_qat_s8"])
    add("ONNX int8 QAT (int8 act)", lg, files["onnx_qat_s8"], lat, files["onnx_fp32"],
        f"{onnx_fp32_lat[0] / lat[0]:.2f}x fp32 speed")
    lg_tfl_qat, lat = run_tflite(files["tflite_qat"])
    add("TFLite int8 QAT", lg_tfl_qat, files["tflite_qat"], lat, files["tflite_fp32"],
        f"vs fake-quant top-1 {100 * np.mean(lg_tfl_qat.argmax(1) == qat_fq_logits.argmax(1)):.2f} %")
    lg, lat = run_onnx(files["onnx_ptq"])
    add("ONNX int8 PTQ (ours)", lg, files["onnx_ptq"], lat, files["onnx_fp32"])
    lg, lat = run_tflite(files["tflite_ptq"])
    add("TFLite int8 PTQ (ours)", lg, files["tflite_ptq"], lat, files["tflite_fp32"])
    lg, lat = run_onnx(files["onnx_ort_static"])
    add("ONNX ort quantize_static", lg, files["onnx_ort_static"], lat, files["onnx_fp32"], "onnxruntime out of the box")

    if args.tflite_runtime_python:
        np.save(out / "x.npy", x)
        if side is not None:
            np.save(out / "side.npy", side)
        script = out / "tflrt_run.py"
        script.write_text(_TFLRT_SCRIPT)
        for key, label in (("tflite_qat", "TFLite int8 QAT on tflite-runtime 2.14"), ("tflite_fp32", "TFLite fp32 on tflite-runtime 2.14")):
            res = subprocess.run([args.tflite_runtime_python, str(script), str(files[key]), str(out / "x.npy"),
                                  str(out / "side.npy") if side is not None else "-", str(out / f"{key}_tflrt.npy"),
                                  str(args.runs)], capture_output=True, text=True)
            if res.returncode != 0:
                print(f"tflite-runtime run failed: {res.stderr[-500:]}", file=sys.stderr)
                continue
            info = json.loads(res.stdout.strip().splitlines()[-1])
            lg = np.load(out / f"{key}_tflrt.npy")
            ref = lg_tfl_qat if key == "tflite_qat" else None
            same = "" if ref is None else (
                f"vs ai-edge-litert: identical {bool(np.array_equal(lg, ref))}, top-1 "
                f"{100 * np.mean(lg.argmax(1) == ref.argmax(1)):.2f} %, max |Δlogit| {np.abs(lg - ref).max():.3g}; ")
            add(label, lg, files[key], (info["median_ms"], info["p99_ms"]), files[key.replace("qat", "fp32")],
                same + f"XNNPACK delegate: {info['delegated']}")

    # ---- the table ----
    def num(v, fmt):
        return "–" if v is None else format(v, fmt)

    def pct(v):
        return "   –  " if v is None or (isinstance(v, float) and np.isnan(v)) else f"{100 * v:6.2f}"

    head = (f"{'model / file':<40}{'macro-F1':>9}{'VEB Se':>8}{'VEB +P':>8}{'SVEB Se':>8}{'SVEB +P':>8}"
            f"{'agree %':>9}{'KiB':>8}{'×fp32':>7}{'med ms':>8}{'p99 ms':>8}  note")
    print(f"\nMIT-BIH DS2, {len(y)} beats; latency: 1 thread, batch 1, {args.runs} calls; this machine")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['name']:<40}{r['macro_f1']:9.4f}{pct(r['veb_se']):>8}{pct(r['veb_ppv']):>8}{pct(r['sveb_se']):>8}"
              f"{pct(r['sveb_ppv']):>8}{pct(r['agree_float']):>9}"
              f"{num(r['size_kib'], '.1f'):>8}{num(r['size_ratio'], '.2f'):>7}"
              f"{num(r['median_ms'], '.3f'):>8}{num(r['p99_ms'], '.3f'):>8}  {r['note']}")
    by = {r["name"]: r for r in rows}
    f_float = by["torch float"]["macro_f1"]
    print("\ntargets:")
    for name in ("ONNX int8 QAT (uint8 act)", "TFLite int8 QAT"):
        r = by[name]
        print(f"  {name}: agreement {100 * r['agree_float']:.2f} % (>= 99), macro-F1 drop {f_float - r['macro_f1']:+.4f} "
              f"(<= 0.01), size {r['size_ratio']:.2f}x fp32 (<= 0.30)")
    q, p, o = by["ONNX int8 QAT (uint8 act)"]["macro_f1"], by["ONNX int8 PTQ (ours)"]["macro_f1"], by["ONNX ort quantize_static"]["macro_f1"]
    print(f"  QAT {q:.4f} >= PTQ {p:.4f} >= ort quantize_static {o:.4f}: {q >= p >= o}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    print(f"\nfiles in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
