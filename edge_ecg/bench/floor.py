"""Compute floor: how fast *could* this model run on this CPU, and how far from that is it?

Two numbers answer it:

* the **MAC rate** of the backend on this CPU, measured on large dense kernels built on the spot
  (:func:`measure_floor`): a MatMul ``M×K @ K×N`` and a 1-D convolution, each once in fp32 and
  once as a QDQ int8 graph (uint8 activations, int8 weights — the pattern the exporter writes,
  which onnxruntime fuses into ``QLinearMatMul`` / ``QLinearConv``). The peak of the two shapes
  per precision is the rate;
* the model's **multiply-accumulates** per window (:func:`model_complexity`): from the manifest
  when the exporter recorded them, else counted from the ONNX graph (``onnx`` shape inference:
  Conv/Gemm/MatMul and their integer forms) or from the TFLite interpreter's op list.

``floor_ms = MACs / rate`` is the time the model would take if every layer ran at the speed of a
large dense kernel; ``measured / floor`` says how much of the time goes elsewhere (small or
depthwise layers, float islands, per-op overhead, input quantisation). Values of 3–20× are
normal for small 1-D ECG models; a jump between two exports of the same network is the signal.

The floor models are written straight to ONNX protobuf bytes (:class:`_OnnxWriter`, a dozen
fields of ``onnx.proto``), so this module needs neither the ``onnx`` package nor torch: it runs
on a board with nothing but onnxruntime. For TFLite no model can be built without TensorFlow or
the converter, so the TFLite floor is skipped with that reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_ecg.errors import ConfigError

NA = "n/a"

# manifest keys the exporter may use for the counts (searched in training/metrics/quantization)
_PARAM_KEYS = ("params", "parameters", "n_params", "num_params", "param_count")
_MAC_KEYS = ("macs", "n_macs", "mac_count", "macs_per_window")

# ONNX ops whose inputs at these positions are quantisation parameters, not weights
_QPARAM_SLOTS = {
    "QuantizeLinear": {1, 2}, "DequantizeLinear": {1, 2},
    "QLinearConv": {1, 2, 4, 5, 6, 7}, "QLinearMatMul": {1, 2, 4, 5, 6, 7},
    "QLinearAdd": {1, 2, 4, 5, 6, 7}, "QLinearMul": {1, 2, 4, 5, 6, 7},
    "QGemm": {1, 2, 4, 5, 7, 8}, "QLinearSigmoid": {1, 2, 3, 4},
    "QLinearGlobalAveragePool": {1, 2, 3, 4}, "ConvInteger": {2, 3}, "MatMulInteger": {2, 3},
}  # fmt: skip
_INT8_OPS = {"QuantizeLinear", "DequantizeLinear", "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"}


# ---------------------------------------------------------------------------------------------
# model complexity (parameters, MACs, precision)


@dataclass(frozen=True)
class Complexity:
    """``params`` (weights + biases) and ``macs`` (multiply-accumulates per window, batch 1);
    ``None`` when unknown. ``source`` says where they came from; ``precision`` is
    ``'int8'``/``'fp32'``/``None``."""

    params: int | None
    macs: int | None
    source: str
    precision: str | None = None
    note: str | None = None

    def to_dict(self) -> dict:
        return {"params": self.params, "macs": self.macs, "source": self.source, "precision": self.precision, "note": self.note}


def _from_manifest(manifest) -> tuple[int | None, int | None]:
    params = macs = None
    for section in (manifest.training, manifest.metrics, manifest.quantization):
        if not isinstance(section, dict):
            continue
        for k in _PARAM_KEYS:
            if params is None and isinstance(section.get(k), (int, float)):
                params = int(section[k])
        for k in _MAC_KEYS:
            if macs is None and isinstance(section.get(k), (int, float)):
                macs = int(section[k])
    return params, macs


def model_complexity(path: str | Path, manifest=None) -> Complexity:
    """Parameters, MACs and precision of a model file (see module docstring for the sources)."""
    p = Path(path)
    precision = None
    if manifest is not None and p.name in manifest.files:
        precision = manifest.files[p.name].precision
    params = macs = None
    if manifest is not None:
        params, macs = _from_manifest(manifest)
    if params is not None and macs is not None:
        return Complexity(params, macs, "manifest", precision or _precision_from_name(p.name))
    if p.suffix.lower() == ".onnx":
        counted = _onnx_complexity(p)
    elif p.suffix.lower() == ".tflite":
        counted = _tflite_complexity(p)
    else:
        counted = Complexity(None, None, NA, None, f"unknown model format {p.suffix!r}")
    from_manifest = params is not None or macs is not None
    return Complexity(
        params if params is not None else counted.params,
        macs if macs is not None else counted.macs,
        f"manifest+{counted.source}" if from_manifest else counted.source,
        precision or counted.precision or _precision_from_name(p.name),
        counted.note,
    )


def _precision_from_name(name: str) -> str | None:
    n = name.lower()
    if "int8" in n or "uint8" in n or "quant" in n:
        return "int8"
    if "fp32" in n or "float" in n or "f32" in n:
        return "fp32"
    return None


def _onnx_complexity(path: Path) -> Complexity:
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:
        return Complexity(None, None, NA, None, "the onnx package is not installed (it is not part of the runtime install)")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError and friends
        return Complexity(None, None, NA, None, f"onnx cannot parse {path.name}: {exc}")
    g = model.graph
    ops = {n.op_type for n in g.node}
    precision = "int8" if ops & _INT8_OPS or any(o.startswith("QLinear") or o == "QGemm" for o in ops) else "fp32"

    # parameters: initializer elements, leaving out scales/zero points and int64 shape constants
    slots: dict[str, set[tuple[str, int]]] = {}
    for n in g.node:
        for i, name in enumerate(n.input):
            slots.setdefault(name, set()).add((n.op_type, i))
    params = 0
    for init in g.initializer:
        if init.data_type == onnx.TensorProto.INT64:
            continue
        uses = slots.get(init.name, set())
        if uses and all(i in _QPARAM_SLOTS.get(op, ()) for op, i in uses):
            continue
        params += int(np.prod(init.dims)) if len(init.dims) else 1

    # MACs: fix symbolic (batch) dimensions to 1, then infer every tensor's shape
    for vi in g.input:
        for d in vi.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                d.dim_value = 1
    try:
        inferred = shape_inference.infer_shapes(model).graph
    except Exception as exc:
        return Complexity(params, None, "onnx-graph", precision, f"shape inference failed: {exc}")
    shapes: dict[str, tuple[int, ...]] = {}
    for vi in (*inferred.input, *inferred.value_info, *inferred.output):
        dims = vi.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[vi.name] = tuple(int(d.dim_value) for d in dims)
    for init in inferred.initializer:
        shapes[init.name] = tuple(int(d) for d in init.dims)
    macs = 0
    unknown = []
    for n in inferred.node:
        op = n.op_type
        try:
            if op in ("Conv", "ConvInteger", "QLinearConv"):
                w = shapes[n.input[3 if op == "QLinearConv" else 1]]
                y = shapes[n.output[0]]
                macs += int(np.prod(y[2:])) * y[1] * int(np.prod(w[1:]))
            elif op in ("MatMul", "MatMulInteger", "QLinearMatMul"):
                a = shapes[n.input[0]]
                y = shapes[n.output[0]]
                macs += int(np.prod(y)) * a[-1]
            elif op in ("Gemm", "QGemm"):
                a = shapes[n.input[0]]
                y = shapes[n.output[0]]
                trans_a = next((at.i for at in n.attribute if at.name == "transA"), 0)
                macs += int(np.prod(y)) * (a[0] if trans_a else a[1])
        except KeyError:
            unknown.append(n.name or op)
    note = f"shapes unknown for {len(unknown)} compute node(s): {unknown[:3]}" if unknown else None
    return Complexity(params, macs if not unknown else None, "onnx-graph", precision, note)


def _tflite_complexity(path: Path) -> Complexity:
    """Counts from the TFLite interpreter's op list (private but stable ``_get_ops_details``)."""
    from edge_ecg.runtime.backends import load_tflite_interpreter_class

    try:
        Interpreter, _module = load_tflite_interpreter_class()
        it = Interpreter(model_path=str(path))
        ops = it._get_ops_details()
        tensors = {t["index"]: t for t in it.get_tensor_details()}
    except Exception as exc:  # missing interpreter, or an interpreter without the op listing
        return Complexity(None, None, NA, None, f"cannot list TFLite ops: {exc}")
    produced = {int(o) for op in ops for o in op["outputs"]}
    shape = {i: tuple(int(s) for s in t["shape"]) for i, t in tensors.items()}
    macs = params = 0
    int8 = False
    counted_weights: set[int] = set()
    for op in ops:
        name = op["op_name"]
        ins = [int(i) for i in op["inputs"]]
        outs = [int(o) for o in op["outputs"]]
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL"):
            continue
        y = shape.get(outs[0], ())
        if name == "CONV_2D":
            w = shape[ins[1]]  # (Cout, kh, kw, Cin)
            macs += int(np.prod(y[1:])) * int(np.prod(w[1:]))
        elif name == "DEPTHWISE_CONV_2D":
            w = shape[ins[1]]  # (1, kh, kw, Cout)
            macs += int(np.prod(y[1:])) * int(np.prod(w[1:3]))
        elif name == "FULLY_CONNECTED":
            w = shape[ins[1]]  # (units, in)
            macs += int(np.prod(y)) * w[-1]
        else:
            macs += int(np.prod(y)) * shape[ins[0]][-1]
        for i in ins[1:]:
            if i >= 0 and i not in produced and i not in counted_weights:
                counted_weights.add(i)
                params += int(np.prod(shape.get(i, (0,))))
                int8 |= np.dtype(tensors[i]["dtype"]) == np.int8
    return Complexity(params, macs, "tflite-ops", "int8" if int8 else "fp32",
                      "params counted from conv/fully-connected weights and biases")


# ---------------------------------------------------------------------------------------------
# ONNX protobuf bytes without the onnx package


class _OnnxWriter:
    """Just enough of ``onnx.proto`` (field numbers from onnx/onnx.proto3) to write a graph of
    a few nodes with initializers. Protobuf wire format: varint keys ``field << 3 | wire_type``."""

    FLOAT, UINT8, INT8, INT32, INT64 = 1, 2, 3, 6, 7
    _DTYPES = {np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int8): 3, np.dtype(np.int32): 6, np.dtype(np.int64): 7}

    @staticmethod
    def varint(n: int) -> bytes:
        n &= (1 << 64) - 1  # negative int64 as two's complement, ten bytes
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)

    @classmethod
    def vint(cls, field: int, value: int) -> bytes:
        return cls.varint(field << 3) + cls.varint(value)

    @classmethod
    def blob(cls, field: int, data: bytes | str) -> bytes:
        raw = data.encode() if isinstance(data, str) else data
        return cls.varint(field << 3 | 2) + cls.varint(len(raw)) + raw

    @classmethod
    def tensor(cls, name: str, array: np.ndarray) -> bytes:  # TensorProto
        a = np.ascontiguousarray(array)
        out = b"".join(cls.vint(1, d) for d in a.shape)
        out += cls.vint(2, cls._DTYPES[a.dtype]) + cls.blob(8, name)
        return out + cls.blob(9, a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())

    @classmethod
    def value_info(cls, name: str, elem_type: int, shape: tuple[int, ...]) -> bytes:
        dims = b"".join(cls.blob(1, cls.vint(1, d)) for d in shape)  # Dimension.dim_value
        tensor_type = cls.vint(1, elem_type) + cls.blob(2, dims)  # TypeProto.Tensor
        return cls.blob(1, name) + cls.blob(2, cls.blob(1, tensor_type))

    @classmethod
    def attr_int(cls, name: str, value: int) -> bytes:  # AttributeProto, type INT = 2
        return cls.blob(1, name) + cls.vint(3, value) + cls.vint(20, 2)

    @classmethod
    def attr_ints(cls, name: str, values: tuple[int, ...]) -> bytes:  # type INTS = 7
        return cls.blob(1, name) + b"".join(cls.vint(8, v) for v in values) + cls.vint(20, 7)

    @classmethod
    def node(cls, op: str, inputs: tuple[str, ...], outputs: tuple[str, ...], name: str, attrs: tuple[bytes, ...] = ()) -> bytes:
        out = b"".join(cls.blob(1, i) for i in inputs) + b"".join(cls.blob(2, o) for o in outputs)
        out += cls.blob(3, name) + cls.blob(4, op)
        return out + b"".join(cls.blob(5, a) for a in attrs)

    @classmethod
    def model(cls, name: str, nodes: list[bytes], inputs: list[bytes], outputs: list[bytes],
              initializers: list[bytes], opset: int = 17, ir_version: int = 8) -> bytes:
        graph = b"".join(cls.blob(1, n) for n in nodes) + cls.blob(2, name)
        graph += b"".join(cls.blob(5, t) for t in initializers)
        graph += b"".join(cls.blob(11, v) for v in inputs) + b"".join(cls.blob(12, v) for v in outputs)
        opset_id = cls.blob(1, "") + cls.vint(2, opset)
        return cls.vint(1, ir_version) + cls.blob(2, "edge-ecg bench floor") + cls.blob(7, graph) + cls.blob(8, opset_id)


@dataclass(frozen=True)
class FloorKernel:
    """One floor model: ``kind`` ``'matmul'`` (``M×K @ K×N``) or ``'conv1d'`` (``C→C``, kernel
    ``K``, ``L`` samples, 'same' padding), ``precision`` ``'fp32'`` or ``'int8'`` (QDQ)."""

    kind: str
    precision: str
    m: int = 256
    k: int = 256
    n: int = 256

    def __post_init__(self):
        if self.kind not in ("matmul", "conv1d"):
            raise ConfigError(f"floor kernel kind {self.kind!r}: expected 'matmul' or 'conv1d'")
        if self.precision not in ("fp32", "int8"):
            raise ConfigError(f"floor kernel precision {self.precision!r}: expected 'fp32' or 'int8'")
        if min(self.m, self.k, self.n) < 1:
            raise ConfigError(f"floor kernel sizes must be >= 1, got {self.m}, {self.k}, {self.n}")

    @property
    def label(self) -> str:
        dims = f"{self.m}x{self.k}x{self.n}" if self.kind == "matmul" else f"C{self.m} k{self.k} L{self.n}"
        return f"{self.kind} {dims} {self.precision}"

    @property
    def macs(self) -> int:
        if self.kind == "matmul":
            return self.m * self.k * self.n
        return self.m * self.m * self.k * self.n

    def input_shape(self) -> tuple[int, ...]:
        return (self.m, self.k) if self.kind == "matmul" else (1, self.m, self.n)

    def onnx_bytes(self, seed: int = 0) -> bytes:
        """The kernel as an ONNX model (opset 17), built without the onnx package."""
        w = _OnnxWriter
        rng = np.random.default_rng(seed)
        if self.kind == "matmul":
            w_shape, y_shape = (self.k, self.n), (self.m, self.n)
            op, attrs, w_axis = "MatMul", (), None
        else:
            w_shape, y_shape = (self.m, self.m, self.k), (1, self.m, self.n)
            op, w_axis = "Conv", 0
            attrs = (w.attr_ints("kernel_shape", (self.k,)), w.attr_ints("pads", (self.k // 2, (self.k - 1) // 2)))
        x_shape = self.input_shape()
        inputs = [w.value_info("x", w.FLOAT, x_shape)]
        outputs = [w.value_info("y", w.FLOAT, y_shape)]
        if self.precision == "fp32":
            weight = (rng.standard_normal(w_shape) * 0.05).astype(np.float32)
            return w.model(self.label, [w.node(op, ("x", "w"), ("y",), "op", attrs)], inputs, outputs, [w.tensor("w", weight)])
        # uint8 activations, int8 weights per output channel: what onnxruntime fuses into QLinear*
        wq = rng.integers(-127, 128, size=w_shape, dtype=np.int8)
        n_scale = w_shape[0] if w_axis == 0 else 1
        w_scale = np.full(n_scale, 0.002, np.float32)
        w_zp = np.zeros(n_scale, np.int8)
        if w_axis is None:
            w_scale, w_zp = w_scale.reshape(()), w_zp.reshape(())
        inits = [
            w.tensor("wq", wq), w.tensor("w_scale", w_scale), w.tensor("w_zp", w_zp),
            w.tensor("x_scale", np.array(8.0 / 255, np.float32)), w.tensor("x_zp", np.array(128, np.uint8)),
            w.tensor("y_scale", np.array(0.05, np.float32)), w.tensor("y_zp", np.array(128, np.uint8)),
        ]
        dq_w_attrs = (w.attr_int("axis", 0),) if w_axis == 0 else ()
        nodes = [
            w.node("QuantizeLinear", ("x", "x_scale", "x_zp"), ("xq",), "q_x"),
            w.node("DequantizeLinear", ("xq", "x_scale", "x_zp"), ("xd",), "dq_x"),
            w.node("DequantizeLinear", ("wq", "w_scale", "w_zp"), ("wd",), "dq_w", dq_w_attrs),
            w.node(op, ("xd", "wd"), ("yf",), "op", attrs),
            w.node("QuantizeLinear", ("yf", "y_scale", "y_zp"), ("yq",), "q_y"),
            w.node("DequantizeLinear", ("yq", "y_scale", "y_zp"), ("y",), "dq_y"),
        ]
        return w.model(self.label, nodes, inputs, outputs, inits)


# ~30-60 M MACs each: long enough that the per-call overhead (~10 µs) is noise on a desktop,
# short enough (a few ms) for a Raspberry Pi
DEFAULT_KERNELS = (
    FloorKernel("matmul", "fp32", m=512), FloorKernel("matmul", "int8", m=512),
    FloorKernel("conv1d", "fp32", m=128, k=7, n=512), FloorKernel("conv1d", "int8", m=128, k=7, n=512),
)  # fmt: skip


def _ort_session(model_bytes: bytes, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)  # as OnnxBackend configures the model's session
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model_bytes, sess_options=opts, providers=["CPUExecutionProvider"])


def measure_floor(threads: tuple[int, ...] = (1,), *, kernels: tuple[FloorKernel, ...] = DEFAULT_KERNELS,
                  rounds: int = 5, per_round: int = 6, warmup: int = 3, seed: int = 0) -> dict:
    """MAC rates of onnxruntime on this CPU, per thread count (JSON-ready).

    Per thread count, the kernels run interleaved round by round (``per_round`` runs each, the
    order shuffled per round); the rate of a kernel is ``macs / median time``. Returns
    ``{"backend": …, "threads": {"1": {"fp32_gmacs": …, "int8_gmacs": …, "kernels": [...]}}}``.
    """
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    out: dict = {"backend": f"onnxruntime {ort.__version__}", "threads": {}}
    for t in threads:
        sessions = []
        for kern in kernels:
            sess = _ort_session(kern.onnx_bytes(seed), t)
            x = {"x": rng.standard_normal(kern.input_shape()).astype(np.float32)}
            for _ in range(warmup):
                sess.run(None, x)
            sessions.append((kern, sess, x))
        times: dict[str, list[float]] = {k.label: [] for k in kernels}
        for _ in range(rounds):
            for i in rng.permutation(len(sessions)):
                kern, sess, x = sessions[i]
                for _ in range(per_round):
                    t0 = time.perf_counter()
                    sess.run(None, x)
                    times[kern.label].append(time.perf_counter() - t0)
        rows = []
        best: dict[str, float] = {}
        for kern in kernels:
            med = float(np.median(times[kern.label]))
            rate = kern.macs / med / 1e9
            rows.append({"kernel": kern.label, "precision": kern.precision, "macs": kern.macs,
                         "median_ms": round(med * 1e3, 4), "gmacs": round(rate, 3)})
            best[kern.precision] = max(best.get(kern.precision, 0.0), rate)
        out["threads"][str(t)] = {
            "fp32_gmacs": round(best["fp32"], 3) if "fp32" in best else None,
            "int8_gmacs": round(best["int8"], 3) if "int8" in best else None,
            "kernels": rows,
        }
    return out


def no_floor(note: str) -> dict:
    """The floor entry of a candidate whose floor cannot be known, and why."""
    return {"floor_ms": None, "over_floor": None, "over_floor_batch": None, "rate_gmacs": None, "note": note}


def floor_for(macs: int | None, precision: str | None, floor: dict | None, threads: int, median_ms: float,
              batch_window_ms: float | None = None) -> dict:
    """``floor_ms`` of a model (``macs`` at the measured peak rate of its precision), the measured
    median over it (``over_floor``) and, given the per-window time at the larger batch,
    ``over_floor_batch``: how much of the gap is per-call overhead that batching amortises.
    Every field is ``None`` with a ``note`` when it cannot be known."""
    if floor is None:
        return no_floor("floor not measured")
    if not macs:
        return no_floor("model MACs unknown")
    row = floor.get("threads", {}).get(str(threads))
    key = "int8_gmacs" if precision == "int8" else "fp32_gmacs" if precision == "fp32" else None
    if row is None or key is None or not row.get(key):
        return no_floor("precision unknown" if key is None else f"no floor measured at {threads} thread(s)")
    floor_ms = macs / (row[key] * 1e9) * 1e3
    return {"floor_ms": round(floor_ms, 5), "over_floor": round(median_ms / floor_ms, 2),
            "over_floor_batch": None if batch_window_ms is None else round(batch_window_ms / floor_ms, 2),
            "rate_gmacs": row[key], "note": None}
