"""Size of every registered model: parameters, MACs per example at its default input, and
(optionally) torch eager CPU latency, each relative to a baseline model measured in the same run.

    python benchmarks/model_zoo.py                       # sizes, baseline efficientecg_b0
    python benchmarks/model_zoo.py --latency --baseline efficientecg_beat

MACs count convolutions, linear layers, LSTMs and explicit attention matmuls
(:func:`edge_ecg.models.model_info`); BN, activations and elementwise ops are not counted.
Latency: batch 1, one thread, after warm-up; median and p99 over ``--runs`` calls. It is torch
eager fp32 — the int8 runtimes are benchmarked by ``edge-ecg bench``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from edge_ecg.models import create_model, list_models, model_info


def _latency_ms(model, runs: int, warmup: int) -> tuple[float, float]:
    x = torch.randn(1, *model.default_input_shape)
    side = torch.randn(1, model.side_dim) if model.side_dim else None
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            t0 = time.perf_counter()
            model(x, side)
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times)), float(np.percentile(times, 99))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", default="efficientecg_b0", help="model the ratios refer to")
    p.add_argument("--latency", action="store_true", help="also time torch eager fp32")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--only", nargs="*", help="restrict to these model names")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)

    names = args.only or list_models()
    if args.baseline not in names:
        names = [args.baseline, *names]
    rows = {}
    for name in names:
        model = create_model(name).eval()
        info = model_info(model)
        lat = _latency_ms(model, args.runs, args.warmup) if args.latency else None
        rows[name] = (info, lat)

    base_info, base_lat = rows[args.baseline]
    head = f"{'model':26s} {'input':>10s} {'side':>4s} {'params':>10s} {'x base':>7s} " \
           f"{'MMACs':>9s} {'x base':>7s}"
    if args.latency:
        head += f" {'median ms':>10s} {'p99 ms':>8s} {'x base':>7s}"
    print(f"baseline: {args.baseline}")
    print(head)
    print("-" * len(head))
    for name, (info, lat) in rows.items():
        shape = f"{info.input_shape[0]}x{info.input_shape[1]}"
        line = (f"{name:26s} {shape:>10s} {info.side_dim:>4d} {info.params:>10,d} "
                f"{info.params / base_info.params:>7.2f} {info.macs / 1e6:>9.2f} "
                f"{info.macs / base_info.macs:>7.2f}")
        if lat is not None:
            line += f" {lat[0]:>10.2f} {lat[1]:>8.2f} {lat[0] / base_lat[0]:>7.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
