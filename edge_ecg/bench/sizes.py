"""Where the bytes of a model file go: weights, biases, quantisation parameters, embedded
manifest, and the graph itself. Explains why an int8 file of a small network is not 0.25× of its
fp32 file (per-channel scales, zero-points and int32 biases do not shrink)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_ecg.errors import ModelError, require

CATEGORIES = ("weights", "biases", "quant_params", "other_constants", "metadata", "graph")


def size_breakdown(path: str | Path) -> dict[str, int]:
    """Bytes per category (``CATEGORIES``; they sum to the file size) of a ``.onnx`` or
    ``.tflite`` file. ``weights``: multi-element constants feeding a conv / matmul (int8 or
    float); ``biases``: 1-D int32 (or bias-position float) constants; ``quant_params``: scales and
    zero-points; ``metadata``: embedded manifest and other metadata; ``graph``: the rest."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"model file {p} does not exist")
    if p.suffix == ".onnx":
        out = _onnx(p)
    elif p.suffix == ".tflite":
        out = _tflite(p)
    else:
        raise ModelError(f"size breakdown needs a .onnx or .tflite file, got {p.name!r}")
    out["graph"] = p.stat().st_size - sum(out.values())
    return {k: int(out.get(k, 0)) for k in CATEGORIES}


def _onnx(p: Path) -> dict[str, int]:
    onnx = require("onnx", "export")
    from onnx import numpy_helper

    model = onnx.load(str(p))
    init = {t.name: t for t in model.graph.initializer}
    role: dict[str, str] = {}
    for node in model.graph.node:
        if node.op_type in ("DequantizeLinear", "QuantizeLinear"):
            for name in node.input[1:]:
                role[name] = "quant_params"
            if node.op_type == "DequantizeLinear" and node.input[0] in init:
                t = init[node.input[0]]
                role.setdefault(node.input[0], "biases" if t.data_type == onnx.TensorProto.INT32 else "weights")
        elif node.op_type in ("Conv", "Gemm", "MatMul", "ConvInteger", "QLinearConv"):
            for i, name in enumerate(node.input[1:], start=1):
                if name in init and role.get(name) is None:
                    role[name] = "biases" if (node.op_type in ("Conv", "Gemm") and i == 2) else "weights"
    out = dict.fromkeys(CATEGORIES, 0)
    for name, t in init.items():
        out[role.get(name, "other_constants")] += numpy_helper.to_array(t).nbytes
    out["metadata"] = sum(len(m.key) + len(m.value) for m in model.metadata_props)
    return out


def _tflite(p: Path) -> dict[str, int]:
    require("ai_edge_litert", "tflite")
    from edge_ecg.deploy.tflite_export import _read

    model = _read(p.read_bytes())
    out = dict.fromkeys(CATEGORIES, 0)
    seen: set[int] = set()
    meta_buffers = {m.buffer for m in (model.metadata or [])}
    for b in meta_buffers:
        data = model.buffers[b].data
        out["metadata"] += 0 if data is None else len(data)
    for sg in model.subgraphs:
        for t in sg.tensors:
            q = t.quantization
            if q is not None:
                out["quant_params"] += 4 * _len(q.scale) + 8 * _len(q.zeroPoint) + 4 * (_len(q.min) + _len(q.max))
            if t.buffer in seen or t.buffer in meta_buffers:
                continue
            data = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
            if data is None or len(data) == 0:
                continue
            seen.add(t.buffer)
            n = int(np.prod(t.shape)) if t.shape is not None and len(t.shape) else 1
            kind = "other_constants" if n <= 1 else ("biases" if len(t.shape) == 1 else "weights")
            out[kind] += len(data)
    return out


def _len(a) -> int:
    return 0 if a is None else len(a)
