"""Inference backends behind one interface: onnxruntime and the TFLite interpreter.

No torch and no TensorFlow on this path (``tensorflow.lite`` is only the last-resort fallback of
the TFLite loader, tried after ``ai_edge_litert`` and ``tflite_runtime``). Integer I/O tensors are
handled here from the model's own scale/zero-point, so callers always pass float32 and get float32
logits back.
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_ecg.errors import ConfigError, MissingDependencyError, ModelError

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
TFLITE_MODULES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple
    dtype: str
    scale: float = 0.0
    zero_point: int = 0


class Backend:
    """A loaded model: ``run({name: float32 array}) -> float32 logits (batch, classes)``."""

    kind = "abstract"
    inputs: tuple[TensorInfo, ...] = ()
    outputs: tuple[TensorInfo, ...] = ()
    version = ""

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def metadata(self, key: str) -> str | None:  # pragma: no cover - interface
        """The text the model file stores under ``key`` (the embedded manifest), or ``None``."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.kind} {self.version}"


class OnnxBackend(Backend):
    kind = "onnxruntime"

    def __init__(self, path: str | Path, *, threads: int = 1, providers: tuple[str, ...] = ("cpu",), optimized_model_path: str | None = None):
        import onnxruntime as ort

        self.version = ort.__version__
        names = []
        available = ort.get_available_providers()
        for p in providers:
            full = PROVIDERS.get(p.lower(), p)
            if full not in available:
                raise ConfigError(f"execution provider {p!r} is not available here; available: {available}")
            names.append(full)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if optimized_model_path:
            opts.optimized_model_filepath = optimized_model_path
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=names)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
            raise ModelError(f"onnxruntime cannot load {path}: {exc}") from exc
        self.providers = tuple(self.session.get_providers())
        self.inputs = tuple(TensorInfo(i.name, tuple(i.shape), i.type) for i in self.session.get_inputs())
        self.outputs = tuple(TensorInfo(o.name, tuple(o.shape), o.type) for o in self.session.get_outputs())
        self._out = [self.outputs[0].name]

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(self._out, feeds)[0].astype(np.float32, copy=False)

    def metadata(self, key: str) -> str | None:
        return self.session.get_modelmeta().custom_metadata_map.get(key)

    def describe(self) -> str:
        return f"onnxruntime {self.version} ({', '.join(self.providers)})"


def load_tflite_interpreter_class():
    """``Interpreter`` from the first TFLite runtime that imports; returns (class, module name)."""
    for name in TFLITE_MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        return mod.Interpreter, name
    raise MissingDependencyError(
        "no TFLite interpreter is installed; install one with: pip install 'edge-ecg[tflite]' "
        f"(tried {', '.join(TFLITE_MODULES)})"
    )


class TFLiteBackend(Backend):
    """One TFLite interpreter. Its tensors are state (set input, invoke, read output), so
    :meth:`run` holds a lock: sessions in several threads may share one backend; their calls
    take turns (onnxruntime sessions run concurrently by themselves)."""

    kind = "tflite"

    def __init__(self, path: str | Path, *, threads: int = 1, interpreter_module: str | None = None):
        if interpreter_module:
            Interpreter, self.module = importlib.import_module(interpreter_module).Interpreter, interpreter_module
        else:
            Interpreter, self.module = load_tflite_interpreter_class()
        pkg = importlib.import_module(self.module.split(".")[0])
        self.version = f"{self.module.split('.')[0]} {getattr(pkg, '__version__', '?')}"
        try:
            self.interp = Interpreter(model_path=str(path), num_threads=int(threads))
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"the TFLite interpreter cannot load {path}: {exc}") from exc
        self._in = self.interp.get_input_details()
        self._out = self.interp.get_output_details()
        self.inputs = tuple(_tfl_info(d) for d in self._in)
        self.outputs = tuple(_tfl_info(d) for d in self._out)
        self._batch = None
        self._lock = threading.RLock()  # re-entrant: a fixed-batch graph runs row by row through run()
        self._dynamic_batch = all(int(d.get("shape_signature", d["shape"])[0]) == -1 for d in self._in)
        self.interp.allocate_tensors()
        self.path = Path(path)

    def metadata(self, key: str) -> str | None:
        return tflite_metadata(self.path.read_bytes(), key)

    def _resize(self, batch: int, feeds: dict[str, np.ndarray]) -> None:
        if self._batch == batch:
            return
        for d in self._in:
            arr = feeds[_match_name(d["name"], feeds)]
            if tuple(d["shape"]) != arr.shape:
                self.interp.resize_tensor_input(d["index"], list(arr.shape), strict=False)
        self.interp.allocate_tensors()
        self._in = self.interp.get_input_details()
        self._out = self.interp.get_output_details()
        self._batch = batch

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        batch = next(iter(feeds.values())).shape[0]
        with self._lock:
            if batch != 1 and not self._dynamic_batch:
                # a graph exported with batch 1 cannot be re-planned by XNNPACK: run row by row
                return np.concatenate([self.run({k: v[i : i + 1] for k, v in feeds.items()}) for i in range(batch)])
            self._resize(batch, feeds)
            for d in self._in:
                x = feeds[_match_name(d["name"], feeds)]
                self.interp.set_tensor(d["index"], quantize(x, d))
            self.interp.invoke()
            d = self._out[0]
            return dequantize(self.interp.get_tensor(d["index"]), d)


def tflite_metadata(content: bytes, key: str) -> str | None:
    """The text stored under ``key`` in a TFLite flatbuffer's metadata table, or ``None`` (also
    when no TFLite schema is installed: ``tflite_runtime`` ships none). Reads the flatbuffer in
    place, without unpacking its tensors."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        return None
    try:
        model = schema.Model.GetRootAs(content, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if (entry.Name() or b"").decode() == key:
                return model.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode("utf-8")
    except (IndexError, ValueError, UnicodeDecodeError, AttributeError) as exc:
        raise ModelError(f"cannot read the metadata of this TFLite file: {exc}") from exc
    return None


def _tfl_info(d) -> TensorInfo:
    scale, zp = d.get("quantization", (0.0, 0))
    return TensorInfo(d["name"], tuple(int(s) for s in d["shape"]), np.dtype(d["dtype"]).name, float(scale), int(zp))


def _match_name(tfl_name: str, feeds: dict[str, np.ndarray]) -> str:
    """TFLite tensor names carry converter prefixes/suffixes (``serving_default_ecg:0``)."""
    if tfl_name in feeds:
        return tfl_name
    for k in feeds:
        if k in tfl_name:
            return k
    if len(feeds) == 1:
        return next(iter(feeds))
    raise ModelError(f"TFLite input {tfl_name!r} matches none of the inputs {sorted(feeds)}")


def quantize(x: np.ndarray, detail) -> np.ndarray:
    """float32 → the tensor's dtype with its own scale/zero-point (identity for float tensors)."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return x.astype(dtype, copy=False)
    scale, zp = detail["quantization"]
    if not scale:
        raise ModelError(f"integer input {detail['name']!r} has no quantization scale")
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zp, info.min, info.max).astype(dtype)


def dequantize(y: np.ndarray, detail) -> np.ndarray:
    if np.dtype(detail["dtype"]).kind == "f":
        return y.astype(np.float32, copy=False)
    scale, zp = detail["quantization"]
    return ((y.astype(np.float32) - zp) * scale).astype(np.float32)


BACKEND_NAMES = ("auto", "onnxruntime", "tflite")
MODEL_SUFFIXES = {".onnx": "onnxruntime", ".tflite": "tflite"}


def check_backend_name(backend: str) -> str:
    if backend not in BACKEND_NAMES:
        raise ConfigError(f"backend {backend!r}: expected one of {BACKEND_NAMES}")
    return backend


def gpu_providers(providers: tuple[str, ...]) -> tuple[str, ...]:
    """The requested onnxruntime providers other than the CPU one (``cuda``, ``tensorrt``, …)."""
    return tuple(p for p in providers if PROVIDERS.get(p.lower(), p) != PROVIDERS["cpu"])


def check_model_file(path: str | Path) -> Path:
    """``path`` as a :class:`Path` if it is an existing file; :class:`ModelError` naming what it
    is instead (missing, a directory) otherwise. Run before the manifest beside it is looked for,
    so that a mistyped path is reported as such and not as a missing manifest."""
    p = Path(path)
    if p.is_dir():
        raise ModelError(f"model path {p} is a directory: expected a .onnx or .tflite model file (with model.json beside it)")
    if not p.exists():
        raise ModelError(f"model file {p} does not exist (expected a .onnx or .tflite file with model.json beside it)")
    if not p.is_file():
        raise ModelError(f"model path {p} is not a regular file: expected a .onnx or .tflite model file")
    return p


def resolve_backend(path: str | Path, backend: str = "auto", providers: tuple[str, ...] = ("cpu",)) -> str:
    """The backend (``onnxruntime`` / ``tflite``) that will read ``path``, or :class:`ConfigError`
    before any file is parsed when the choice cannot work: an unknown backend name, a file type
    the named backend does not read (``--backend tflite`` with a ``.onnx`` file), or non-CPU
    execution providers for a file that runs on the TFLite interpreter — providers are an
    onnxruntime setting, and silently running on the CPU instead is what they must never do."""
    p = Path(path)
    check_backend_name(backend)
    by_suffix = MODEL_SUFFIXES.get(p.suffix.lower())
    if backend == "auto":
        if by_suffix is None:
            raise ConfigError(f"cannot tell the backend of {p.name!r}: expected a .onnx or .tflite file")
        kind = by_suffix
    else:
        kind = backend
        if by_suffix is not None and by_suffix != kind:
            want = next(s for s, k in MODEL_SUFFIXES.items() if k == kind)
            raise ConfigError(
                f"backend {kind!r} reads {want} files, but {p.name!r} is a {p.suffix} file: "
                f"pass a {want} model, or --backend {by_suffix} (or auto) for this one"
            )
    gpu = gpu_providers(providers)
    if kind == "tflite" and gpu:
        raise ConfigError(
            f"execution providers {list(gpu)} apply to the onnxruntime backend only, but {p.name!r} runs on the "
            "TFLite interpreter (CPU): pass a .onnx model (or leave --model unset to get the bundled ONNX build), "
            "or drop --providers"
        )
    return kind


def check_threads_providers(threads, providers) -> tuple[int, tuple[str, ...]]:
    """``threads`` (an int; 0 or less: all cores) and ``providers`` (a sequence of names) as
    given, or :class:`ConfigError` naming the value: ``providers="cpu"`` would otherwise be read
    letter by letter."""
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise ConfigError(f"threads {threads!r}: expected an integer (0 or less: all cores)")
    if isinstance(providers, str) or not all(isinstance(p, str) for p in providers):
        raise ConfigError(f"providers {providers!r}: expected a sequence of names such as ('cpu',) or ('cuda', 'cpu')")
    return int(threads), tuple(providers)


def open_backend(path: str | Path, *, backend: str = "auto", threads: int = 1, providers: tuple[str, ...] = ("cpu",)) -> Backend:
    """Pick the backend from the file type (``auto``) or by name (``onnxruntime``/``tflite``);
    see :func:`resolve_backend` for the combinations refused. ``threads`` 0 or less: all cores."""
    threads, providers = check_threads_providers(threads, providers)
    p = Path(path)
    kind = resolve_backend(p, backend, providers)
    if threads < 1:
        threads = os.cpu_count() or 1
    if kind == "onnxruntime":
        return OnnxBackend(p, threads=threads, providers=providers)
    return TFLiteBackend(p, threads=threads)
