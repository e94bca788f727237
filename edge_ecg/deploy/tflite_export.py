"""TFLite export without TensorFlow: litert-torch converts the torch graph, and the int8 file
is built from the *same* converted PT2E graph as the ONNX one.

int8 route (the QAT/PTQ scales go into the file as they are): the frozen graph is converted
for the ``tflite`` target (:func:`edge_ecg.quant.graph.convert`: weights as float → quantize →
dequantize, biases snapped to their int32 grid, BN folded, unit-height 2-D convs), and
``litert_torch.convert`` runs with its static QDQ mode, in which the LiteRT converter folds every
dequantize → op → quantize into the int8 op. No calibration happens on this side, so the
file's integers are the torch reference's: its outputs equal ``QuantizedModel.converted``'s
(``tests/test_export.py`` and ``edge-ecg verify`` check it on real beats).

The converter gives int8 input/output tensors (the graph starts with a quantize);
:func:`to_float_io` adds a QUANTIZE / DEQUANTIZE at the boundary for float I/O. Batch is fixed
at 1 (the streaming case): litert-torch cannot lower the flatten of a symbolic batch.

The fp32 file (for comparison) is the float model with BN folded and Conv1d as (1, k) Conv2d.
The manifest (without its files table) rides in the flatbuffer's ``metadata`` under the same
key as in ONNX.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from edge_ecg.errors import ConfigError, ModelError

IO_DTYPES = ("int8", "float32")


@dataclass(frozen=True)
class TFLiteOp:
    """One operator of a TFLite subgraph: name (``CONV_2D``, ``FlexConv2D`` for a Flex op …),
    the dtypes of its input and output tensors, and whether it is a custom op."""

    index: int
    name: str
    input_dtypes: tuple[str, ...]
    output_dtypes: tuple[str, ...]
    custom: bool = False
    reads_graph_input: bool = False
    writes_graph_output: bool = False

    @property
    def is_flex(self) -> bool:
        return self.custom and self.name.startswith("Flex")


def _litert_quant_config():
    # litert-torch only reads ``global_config.is_dynamic`` off the quantizer to pick the static
    # QDQ conversion mode; the graph is already quantized by edge_ecg.quant.
    from litert_torch.quantize.pt2e_quantizer import (
        PT2EQuantizer,
        get_symmetric_quantization_config,
    )
    from litert_torch.quantize.quant_config import QuantConfig

    return QuantConfig(pt2e_quantizer=PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True)))


def _convert(module, spec, *, quantized: bool) -> bytes:
    import torch

    from edge_ecg.errors import require

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the converter's C++ INFO lines
    litert_torch = require("litert_torch", "export")
    show = litert_torch.config.show_progress
    litert_torch.config.show_progress = False  # its per-stage progress lines go to stdout
    for m in module.modules():  # the graph has no train/eval-dependent ops left; silence the warning
        m.training = False
    example = spec.example(batch=1)
    kwargs = dict(zip(spec.input_names, example, strict=True))
    try:
        with torch.no_grad():
            edge = litert_torch.convert(module, sample_kwargs=kwargs, quant_config=_litert_quant_config() if quantized else None)
        return bytes(edge.model_content())
    finally:
        litert_torch.config.show_progress = show


def _named(module, spec):
    """``forward(ecg[, side])`` around a converted graph: litert-torch names the TFLite inputs
    after the keyword arguments (``serving_default_ecg``, ``serving_default_side``)."""
    from edge_ecg.quant.graph import EcgOnly, EcgSide

    return EcgSide(module) if spec.side_dim else EcgOnly(module)


def export_tflite_int8(quantized, path: str | Path, *, io_dtype: str = "int8", manifest_json: str | None = None,
                       metadata_key: str = "edge_ecg.manifest") -> Path:
    """Write the full-integer TFLite file of a :class:`~edge_ecg.quant.QuantizedModel`.

    ``io_dtype``: ``int8`` (the runtime quantizes with the input tensor's own scale/zero-point)
    or ``float32`` (QUANTIZE/DEQUANTIZE ops at the boundary)."""
    if io_dtype not in IO_DTYPES:
        raise ConfigError(f"io_dtype {io_dtype!r}: expected one of {IO_DTYPES}")
    spec = quantized.spec
    if spec.layout != "conv2d":
        raise ConfigError(
            "the int8 TFLite export needs a graph quantized in the conv2d layout (a Conv1d reaches "
            "TFLite as reshape/transpose around CONV_2D); re-run `edge-ecg qat` with --layout conv2d"
        )
    converted = quantized.converted("tflite")
    content = _convert(_named(converted, spec), spec, quantized=True)
    if io_dtype == "float32":
        content = to_float_io(content)
    if manifest_json is not None:
        content = embed_metadata(content, metadata_key, manifest_json)
    return _write(path, content)


def export_tflite_fp32(model, spec, path: str | Path, *, manifest_json: str | None = None,
                       metadata_key: str = "edge_ecg.manifest") -> Path:
    """Write the float TFLite file of ``model`` (BN folded, unit-height 2-D convs when the model
    supports them). ``spec`` is the model's :class:`~edge_ecg.quant.graph.GraphSpec`."""
    from edge_ecg.models import fold_bn
    from edge_ecg.quant.graph import wrap

    module = wrap(fold_bn(model), spec).eval()
    content = _convert(module, spec, quantized=False)
    if manifest_json is not None:
        content = embed_metadata(content, metadata_key, manifest_json)
    return _write(path, content)


def _write(path: str | Path, content: bytes) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(content)
    return p


# ---- flatbuffer edits -------------------------------------------------------------------------
def _read(content: bytes):
    from ai_edge_litert.tools import flatbuffer_utils

    try:
        return flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    except Exception as exc:  # flatbuffers raises plain struct/IndexErrors on garbage
        raise ModelError(f"not a TFLite flatbuffer: {exc}") from exc


def _pack(model) -> bytes:
    from ai_edge_litert.tools import flatbuffer_utils

    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _opcode_index(model, builtin: int, version: int) -> int:
    from ai_edge_litert import schema_py_generated as schema

    for i, oc in enumerate(model.operatorCodes):
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == builtin:
            oc.version = max(oc.version, version)
            return i
    model.operatorCodes.append(
        schema.OperatorCodeT(deprecatedBuiltinCode=min(builtin, 127), builtinCode=builtin, version=version)
    )
    return len(model.operatorCodes) - 1


def to_float_io(content: bytes) -> bytes:
    """Give an int8-I/O model float32 inputs and outputs: a QUANTIZE op after each integer
    input and a DEQUANTIZE op before each integer output, on the tensors' own scale and
    zero-point (the int8 body is untouched). Signature names follow the new tensors."""
    import copy

    from ai_edge_litert import schema_py_generated as schema

    model = _read(content)
    sg = model.subgraphs[0]
    q_idx = _opcode_index(model, schema.BuiltinOperator.QUANTIZE, 2)
    dq_idx = _opcode_index(model, schema.BuiltinOperator.DEQUANTIZE, 2)
    int_types = (schema.TensorType.INT8, schema.TensorType.UINT8)
    remap: dict[int, int] = {}

    def float_twin(i: int) -> int:
        t = sg.tensors[i]
        twin = copy.deepcopy(t)
        twin.type = schema.TensorType.FLOAT32
        twin.quantization = None
        twin.buffer = 0
        t.name = (t.name.decode() if isinstance(t.name, bytes) else t.name) + "_int8"
        sg.tensors.append(twin)
        return len(sg.tensors) - 1

    new_ops_front = []
    for k, i in enumerate(list(sg.inputs)):
        if sg.tensors[i].type in int_types:
            f = float_twin(i)
            new_ops_front.append(schema.OperatorT(opcodeIndex=q_idx, inputs=[f], outputs=[i]))
            sg.inputs[k] = f
            remap[i] = f
    new_ops_back = []
    for k, i in enumerate(list(sg.outputs)):
        if sg.tensors[i].type in int_types:
            f = float_twin(i)
            new_ops_back.append(schema.OperatorT(opcodeIndex=dq_idx, inputs=[i], outputs=[f]))
            sg.outputs[k] = f
            remap[i] = f
    sg.operators = new_ops_front + list(sg.operators) + new_ops_back
    for sig in model.signatureDefs or []:
        for tm in list(sig.inputs or []) + list(sig.outputs or []):
            if tm.tensorIndex in remap:
                tm.tensorIndex = remap[tm.tensorIndex]
    return _pack(model)


def embed_metadata(content: bytes, key: str, text: str) -> bytes:
    """Store ``text`` (UTF-8) under ``key`` in the flatbuffer's metadata table (replacing it)."""
    from ai_edge_litert import schema_py_generated as schema

    model = _read(content)
    model.metadata = [m for m in (model.metadata or []) if _name(m.name) != key]
    model.buffers.append(schema.BufferT(data=list(text.encode("utf-8"))))
    model.metadata.append(schema.MetadataT(name=key, buffer=len(model.buffers) - 1))
    return _pack(model)


def read_metadata(path: str | Path, key: str) -> str | None:
    """The text stored under ``key`` in a TFLite file's metadata, or ``None``."""
    from edge_ecg.runtime.backends import tflite_metadata

    return tflite_metadata(Path(path).read_bytes(), key)


def _name(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def tflite_ops(path_or_bytes) -> list[TFLiteOp]:
    """Every operator of the main subgraph, in execution order, with tensor dtypes."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    content = Path(path_or_bytes).read_bytes() if isinstance(path_or_bytes, (str, Path)) else path_or_bytes
    model = _read(content)
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    ops = []
    sg = model.subgraphs[0]
    for k, op in enumerate(sg.operators):
        oc = model.operatorCodes[op.opcodeIndex]
        builtin = max(oc.builtinCode, oc.deprecatedBuiltinCode)
        custom = builtin == schema.BuiltinOperator.CUSTOM
        name = _name(oc.customCode) if custom else flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
        ins = tuple(type_names.get(sg.tensors[i].type, "?") for i in (op.inputs or []) if i >= 0)
        outs = tuple(type_names.get(sg.tensors[i].type, "?") for i in (op.outputs or []) if i >= 0)
        reads = any(i in (sg.inputs or []) for i in (op.inputs or []))
        writes = any(i in (sg.outputs or []) for i in (op.outputs or []))
        ops.append(TFLiteOp(k, str(name), ins, outs, custom, reads, writes))
    return ops


def op_counts(ops: list[TFLiteOp]) -> Counter:
    return Counter(o.name for o in ops)
