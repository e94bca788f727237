"""ONNX export: fp32 graphs and the int8 QDQ graph of a converted PT2E model.

The int8 file is ``torch.onnx.export(converted, dynamo=True)`` of the graph
:func:`edge_ecg.quant.qat.convert` produced (the QAT or PTQ scales, BN folded, int32 biases),
then three rewrites on the ONNX graph:

* :func:`activations_to_uint8`: every activation QuantizeLinear/DequantizeLinear pair moves from
  int8 to uint8 by adding 128 to its zero-point. The real values on the grid are identical
  (``(q - zp) * s`` with ``q`` and ``zp`` both shifted), weights stay int8 symmetric, so
  onnxruntime runs its U8S8 kernels, the ones x86 fuses (:mod:`benchmarks.bench_quant`
  measures both).
* :func:`strip_metadata`: drop the dynamo exporter's per-node metadata (stack traces, FX node
  text: most of a small model's file size).
* :func:`mean_to_global_pool`: a ``ReduceMean`` over the last axis of a ``(B, C, 1, L)`` tensor
  (SE squeeze) becomes ``GlobalAveragePool``, which onnxruntime runs as
  ``QLinearGlobalAveragePool`` instead of dequantize → float ReduceMean → quantize;
* :func:`embed_manifest`: the manifest (without its ``files`` table) in ``metadata_props``.

:func:`optimized_ops` asks onnxruntime for the graph it actually runs
(``SessionOptions.optimized_model_filepath``), where the QDQ groups have become QLinearConv,
QLinearMul, QGemm …: that, not the QDQ file, shows what runs in integer arithmetic.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edge_ecg.errors import ConfigError, ModelError

MIN_OPSET = 20
DEFAULT_OPSET = 21
ACTIVATION_DTYPES = ("uint8", "int8")


def _save(model, path: str | Path) -> Path:
    import onnx

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(p))
    return p


def _dynamo_export(module, spec, opset: int):
    """``torch.onnx.export(dynamo=True)`` of ``module`` (``forward(ecg[, side])``), dynamic batch."""
    import contextlib
    import io

    import torch

    from edge_ecg.quant.graph import export_program

    ep = export_program(module, spec)
    # the exporter reports progress on stdout; keep the CLI output to our own lines
    with contextlib.redirect_stdout(io.StringIO()):
        program = torch.onnx.export(
            ep, spec.example(), dynamo=True, opset_version=check_opset(opset),
            dynamic_shapes=spec.dynamic_shapes(), input_names=list(spec.input_names), output_names=["logits"],
        )
    return program.model_proto


def export_onnx_int8(quantized, path: str | Path, *, activations: str = "uint8", opset: int = DEFAULT_OPSET,
                     global_pool: bool = True, manifest_json: str | None = None,
                     metadata_key: str = "edge_ecg.manifest") -> Path:
    """Write the int8 QDQ ONNX file of a :class:`~edge_ecg.quant.QuantizedModel`.

    ``activations``: ``uint8`` (int8 grid + 128: what onnxruntime's x86 kernels fuse) or
    ``int8`` (the grid as trained). ``global_pool``: rewrite SE/global means for
    QLinearGlobalAveragePool."""
    if activations not in ACTIVATION_DTYPES:
        raise ConfigError(f"activations {activations!r}: expected one of {ACTIVATION_DTYPES}")
    model = _dynamo_export(quantized.converted("onnx"), quantized.spec, opset)
    if activations == "uint8":
        activations_to_uint8(model)
    if global_pool:
        mean_to_global_pool(model)
    strip_metadata(model)
    compact(model)
    if manifest_json is not None:
        embed_manifest(model, manifest_json, metadata_key)
    return _save(model, path)


def export_onnx_fp32(model, spec, path: str | Path, *, opset: int = DEFAULT_OPSET, manifest_json: str | None = None,
                     metadata_key: str = "edge_ecg.manifest") -> Path:
    """Write the float ONNX file of ``model`` (eval mode; onnxruntime folds BN itself)."""
    from edge_ecg.quant.graph import wrap

    module = wrap(model, spec).eval()
    proto = _dynamo_export(module, spec, opset)
    strip_metadata(proto)
    compact(proto)
    if manifest_json is not None:
        embed_manifest(proto, manifest_json, metadata_key)
    return _save(proto, path)


def export_onnx_dynamic_int8(fp32_path: str | Path, path: str | Path, *, manifest_json: str | None = None,
                             metadata_key: str = "edge_ecg.manifest") -> Path:
    """onnxruntime's dynamic quantization of a float ONNX file (int8 weights of MatMul/Gemm/
    LSTM/Conv, activations quantized at run time): the int8 route for recurrent models (ResLSTM)
    that PT2E static quantization does not cover."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # the dynamo exporter feeds LSTM weights through Unsqueeze/Concat; onnxruntime's basic
        # (hardware-independent) constant folding turns them into the initializers that
        # quantize_dynamic needs to make a DynamicQuantizeLSTM
        folded = Path(tmp) / "folded.onnx"
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        opts.optimized_model_filepath = str(folded)
        opts.log_severity_level = 3
        ort.InferenceSession(str(fp32_path), opts, providers=["CPUExecutionProvider"])
        quantize_dynamic(str(folded), str(p), weight_type=QuantType.QInt8, per_channel=True)
    model = onnx.load(str(p))
    strip_metadata(model)
    if manifest_json is not None:
        embed_manifest(model, manifest_json, metadata_key)
    return _save(model, p)


def ort_quantize_static(fp32_path: str | Path, path: str | Path, feeds: list[dict[str, np.ndarray]]) -> Path:
    """onnxruntime's out-of-the-box static quantization of a float ONNX file (QDQ, per-channel
    int8 weights, uint8 activations, MinMax calibration on ``feeds``): the baseline our PTQ/QAT
    are measured against."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(feeds)

        def get_next(self):
            return next(self._it, None)

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # quantize_static wants a shape-inferred model; its preprocessing writes beside the input
        src = Path(tmp) / "float.onnx"
        src.write_bytes(Path(fp32_path).read_bytes())
        quantize_static(str(src), str(p), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return p


def optimized_ops(path: str | Path, *, threads: int = 1) -> Counter:
    """Op types of the graph onnxruntime actually executes (CPU provider, all optimisations)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "optimized.onnx"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.optimized_model_filepath = str(out)
        opts.log_severity_level = 3  # the "hardware specific optimizations" warning is expected
        try:
            ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own exception types
            raise ModelError(f"onnxruntime cannot load {path}: {exc}") from exc
        model = onnx.load(str(out))
    return Counter(n.op_type for n in model.graph.node)


def mean_to_global_pool(model) -> int:
    """Replace ``ReduceMean(x, axes=[-1], keepdims=1)`` on 4-D ``(B, C, 1, L)`` tensors by
    ``GlobalAveragePool`` (same values: the height is 1). Returns how many were replaced."""
    import onnx
    from onnx import helper

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    nodes = []
    done = 0
    for node in model.graph.node:
        if node.op_type == "ReduceMean":
            axes = _const_value(model, node.input[1]) if len(node.input) > 1 else None
            keep = next((a.i for a in node.attribute if a.name == "keepdims"), 1)
            shape = shapes.get(node.input[0])
            if (axes is not None and list(np.atleast_1d(axes)) in ([-1], [3]) and keep == 1
                    and shape is not None and len(shape) == 4 and shape[2] == 1):
                nodes.append(helper.make_node("GlobalAveragePool", [node.input[0]], [node.output[0]], name=node.name + "_gap"))
                done += 1
                continue
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    _drop_unused_initializers(model)
    return done


def _const_value(model, name: str):
    import onnx
    from onnx import numpy_helper

    for t in model.graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    for n in model.graph.node:
        if n.op_type == "Constant" and n.output[0] == name:
            return numpy_helper.to_array(onnx.helper.get_attribute_value(n.attribute[0]))
    return None


def _initializers(model) -> dict[str, Any]:
    return {t.name: t for t in model.graph.initializer}


def activations_to_uint8(model) -> int:
    """Shift every int8 activation quantizer of ``model`` (an ``onnx.ModelProto``) to uint8 in
    place; returns how many Q/DQ nodes changed. Constant int8 inputs of DequantizeLinear
    (weights) are left alone."""
    import onnx
    from onnx import TensorProto, numpy_helper

    inits = _initializers(model)
    const_outputs = {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    const_values = {n.output[0]: n for n in model.graph.node if n.op_type == "Constant"}

    def int8_value(name: str) -> np.ndarray | None:
        if name in inits:
            arr = numpy_helper.to_array(inits[name])
        elif name in const_values:
            arr = numpy_helper.to_array(onnx.helper.get_attribute_value(const_values[name].attribute[0]))
        else:
            return None
        return arr if arr.dtype == np.int8 else None

    changed = 0
    shifted_tensors: set[str] = set()
    new_inits = []
    shifted_zp: dict[str, str] = {}
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(node.input) < 3:
            continue
        data = node.input[0]
        if node.op_type == "DequantizeLinear" and (data in inits or data in const_outputs):
            continue  # a weight: stays int8 symmetric
        zp = int8_value(node.input[2])
        if zp is None:
            continue
        name = shifted_zp.get(node.input[2])
        if name is None:
            name = shifted_zp[node.input[2]] = f"{node.input[2]}_u8"
            new_inits.append(numpy_helper.from_array((zp.astype(np.int16) + 128).astype(np.uint8), name))
        node.input[2] = name
        if node.op_type == "QuantizeLinear":
            shifted_tensors.add(node.output[0])
        changed += 1
    model.graph.initializer.extend(new_inits)
    # stale int8 type annotations of the shifted tensors would fail the checker
    for vi in list(model.graph.value_info):
        if vi.name in shifted_tensors and vi.type.tensor_type.elem_type == TensorProto.INT8:
            vi.type.tensor_type.elem_type = TensorProto.UINT8
    _drop_unused_initializers(model)
    return changed


def _drop_unused_initializers(model) -> None:
    used = {i for n in model.graph.node for i in n.input} | {o.name for o in model.graph.output}
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)


def strip_metadata(model) -> None:
    """Remove per-node / per-value metadata and doc strings the dynamo exporter writes."""
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    for coll in (model.graph.input, model.graph.output, model.graph.value_info):
        for vi in coll:
            del vi.metadata_props[:]
            vi.doc_string = ""
    for t in model.graph.initializer:
        del t.metadata_props[:]
        t.doc_string = ""
    del model.graph.metadata_props[:]
    model.graph.doc_string = ""
    model.doc_string = ""


def compact(model) -> None:
    """Drop what onnxruntime recomputes or ignores (intermediate ``value_info``, node names) and
    give intermediate tensors short names (``t0``, ``t1`` …; graph inputs/outputs keep theirs).
    On a small int8 model the QDQ bookkeeping outweighs the int8 weights; this is ~30 % of the
    file."""
    del model.graph.value_info[:]
    keep = {v.name for v in model.graph.input} | {v.name for v in model.graph.output} | {""}
    names: dict[str, str] = {}

    def short(x: str) -> str:
        if x in keep:
            return x
        if x not in names:
            names[x] = f"t{len(names)}"
        return names[x]

    for node in model.graph.node:
        node.name = ""
        for i, x in enumerate(node.input):
            node.input[i] = short(x)
        for i, x in enumerate(node.output):
            node.output[i] = short(x)
    for t in model.graph.initializer:
        t.name = short(t.name)


def embed_manifest(model, manifest_json: str, key: str) -> None:
    """Set ``metadata_props[key] = manifest_json`` (replacing an older value)."""
    props = [p for p in model.metadata_props if p.key != key]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    entry = model.metadata_props.add()
    entry.key, entry.value = key, manifest_json


def read_embedded_manifest(path: str | Path, key: str) -> str | None:
    """The manifest JSON embedded in an ONNX file, or ``None``."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends
        raise ModelError(f"{path} is not a readable ONNX file: {exc}") from exc
    for p in model.metadata_props:
        if p.key == key:
            return p.value
    return None


def check_opset(opset: int) -> int:
    if opset < MIN_OPSET:
        raise ConfigError(f"opset {opset!r}: the int8 QDQ export needs opset >= {MIN_OPSET}")
    return opset
