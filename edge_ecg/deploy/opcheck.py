"""Op check: list every op a model file runs and flag what the target runtime would run in float
or cannot run at all.

* ONNX: the graph checked is onnxruntime's *optimised* graph (what it executes), not the QDQ
  file: a ``DequantizeLinear → Conv → QuantizeLinear`` group only counts as integer once
  onnxruntime has fused it into ``QLinearConv``.
* TFLite: every operator of the main subgraph with its tensor dtypes. A Flex / custom op is an
  error (tflite-runtime and ai-edge-litert have no TensorFlow kernels); for a full-integer
  target any op with a float tensor inside the body is an error (only the boundary QUANTIZE /
  DEQUANTIZE of a float-I/O file may touch float).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from edge_ecg.errors import ConfigError

SEVERITIES = ("error", "warning", "info")

# onnxruntime kernels that do the multiply-accumulates (or the whole op) in integers
ONNX_INTEGER_OPS = frozenset({
    "QLinearConv", "QLinearMatMul", "QGemm", "ConvInteger", "MatMulInteger", "MatMulIntegerToFloat",
    "DynamicQuantizeMatMul", "DynamicQuantizeLSTM", "QLinearAdd", "QLinearMul", "QLinearSigmoid",
    "QLinearSoftmax", "QLinearConcat", "QLinearGlobalAveragePool", "QLinearAveragePool",
    "QLinearLeakyRelu", "QLinearReduceMean", "QLinearWhere", "QAttention", "QEmbedLayerNormalization",
    "DynamicQuantizeLinear",
})
# ops that only move or convert data: neither float compute nor integer compute
ONNX_DATA_OPS = frozenset({
    "QuantizeLinear", "DequantizeLinear", "Transpose", "Reshape", "Unsqueeze", "Squeeze", "Flatten",
    "Identity", "Shape", "Gather", "Slice", "Concat", "Split", "Cast", "Constant", "ReorderInput",
    "ReorderOutput", "Expand", "ConstantOfShape", "Range", "Size",
})


@dataclass(frozen=True)
class OpFinding:
    severity: str
    op: str
    message: str


@dataclass
class OpReport:
    """What a file runs. ``ops``: op counts of the executed graph (onnxruntime-optimised for
    ONNX, the flatbuffer for TFLite); ``file_ops``: op counts of the file as written."""

    path: str
    format: str
    precision: str
    ops: Counter
    file_ops: Counter
    integer_ops: int = 0
    float_ops: int = 0
    findings: list[OpFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def errors(self) -> list[OpFinding]:
        return [f for f in self.findings if f.severity == "error"]

    def to_dict(self) -> dict:
        return {
            "path": self.path, "format": self.format, "precision": self.precision,
            "ops": dict(sorted(self.ops.items())), "file_ops": dict(sorted(self.file_ops.items())),
            "integer_ops": self.integer_ops, "float_ops": self.float_ops,
            "findings": [f.__dict__ for f in self.findings], "ok": self.ok,
        }

    def format_text(self) -> str:
        lines = [f"{self.format} {self.precision}: {Path(self.path).name} — "
                 f"{self.integer_ops} integer-kernel ops, {self.float_ops} float compute ops"]
        lines.append("  ops run: " + ", ".join(f"{k}×{v}" for k, v in sorted(self.ops.items(), key=lambda kv: (-kv[1], kv[0]))))
        for f in self.findings:
            lines.append(f"  [{f.severity}] {f.op}: {f.message}")
        return "\n".join(lines)


def check_onnx(path: str | Path, *, precision: str = "int8", allow_float_ops: bool = True, threads: int = 1) -> OpReport:
    """Op report of an ONNX file as onnxruntime (CPU) runs it."""
    import onnx

    from edge_ecg.deploy.onnx_export import optimized_ops

    file_ops = Counter(n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node)
    ops = optimized_ops(path, threads=threads)
    integer = sum(v for k, v in ops.items() if k in ONNX_INTEGER_OPS)
    floats = {k: v for k, v in ops.items() if k not in ONNX_INTEGER_OPS and k not in ONNX_DATA_OPS}
    report = OpReport(str(path), "onnx", precision, ops, file_ops, integer, sum(floats.values()))
    if precision != "fp32":
        if integer == 0:
            report.findings.append(OpFinding("error", "-", "no integer kernel in the optimised graph: the int8 file runs in float"))
        sev = "warning" if allow_float_ops else "error"
        for k, v in sorted(floats.items()):
            report.findings.append(OpFinding(sev, k, f"{v}× runs in float in onnxruntime (dequantize → {k} → quantize)"))
    return report


def check_tflite(path: str | Path, *, precision: str = "int8", allow_float_ops: bool = False) -> OpReport:
    """Op report of a TFLite file: Flex/custom ops are always errors; for int8 any float tensor
    in the body is a warning, or an error when ``allow_float_ops`` is false (full integer)."""
    from edge_ecg.deploy.tflite_export import tflite_ops

    ops = tflite_ops(path)
    counts = Counter(o.name for o in ops)
    report = OpReport(str(path), "tflite", precision, counts, counts)
    for o in ops:
        if o.custom:
            kind = "a Flex (TensorFlow) op" if o.is_flex else "a custom op"
            report.findings.append(OpFinding("error", o.name, f"op #{o.index} is {kind}: no TFLite runtime here can run it"))
            continue
        touches_float = "float32" in o.input_dtypes or "float32" in o.output_dtypes or "float16" in o.input_dtypes
        boundary = (o.name == "QUANTIZE" and o.reads_graph_input) or (o.name == "DEQUANTIZE" and o.writes_graph_output)
        if precision == "fp32":
            report.float_ops += 1
            continue
        if touches_float and not boundary:
            report.float_ops += 1
            sev = "warning" if allow_float_ops else "error"
            report.findings.append(OpFinding(sev, o.name, f"op #{o.index} has float tensors {o.input_dtypes} -> {o.output_dtypes} inside the int8 body"))
        elif not boundary:
            report.integer_ops += 1
    return report


def check_file(path: str | Path, *, precision: str, allow_float_ops: bool, threads: int = 1) -> OpReport:
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        return check_onnx(path, precision=precision, allow_float_ops=allow_float_ops, threads=threads)
    if suffix == ".tflite":
        return check_tflite(path, precision=precision, allow_float_ops=allow_float_ops)
    raise ConfigError(f"cannot check {Path(path).name!r}: expected a .onnx or .tflite file")
