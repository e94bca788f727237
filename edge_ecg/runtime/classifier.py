"""``Classifier``: a model file + its manifest, checksum-verified, behind one ``predict``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_ecg.deploy.manifest import (
    ONNX_METADATA_KEY,
    Manifest,
    check_embedded,
    load_manifest,
    verify_file,
)
from edge_ecg.errors import ConfigError, ManifestError, SignalError
from edge_ecg.paths import ASSETS_DIR
from edge_ecg.runtime.backends import (
    Backend,
    check_backend_name,
    check_model_file,
    gpu_providers,
    open_backend,
    resolve_backend,
)

DEFAULT_MODEL_DIR = ASSETS_DIR / "models" / "beat"


def default_model_path(backend: str = "auto", providers: tuple[str, ...] = ("cpu",)) -> Path:
    """The bundled beat model: int8 TFLite when a TFLite interpreter is installed (and the
    backend allows it), else int8 ONNX; the fp32 ONNX build only if no int8 file is bundled.

    With ``backend="auto"`` and non-CPU execution ``providers`` (``cuda``, ``tensorrt``) the ONNX
    build is chosen, so that the providers apply and a missing one is an error rather than a
    quiet run on the TFLite interpreter."""
    names = {"tflite": ("model_int8.tflite",), "onnxruntime": ("model_int8.onnx", "model_fp32.onnx")}
    if check_backend_name(backend) == "auto":
        from edge_ecg.runtime.backends import load_tflite_interpreter_class

        if gpu_providers(providers):
            order = names["onnxruntime"]
        else:
            try:
                load_tflite_interpreter_class()
                order = names["tflite"] + names["onnxruntime"]
            except ImportError:
                order = names["onnxruntime"]
    else:
        order = names[backend]
    for name in order:
        if (DEFAULT_MODEL_DIR / name).is_file():
            return DEFAULT_MODEL_DIR / name
    raise ManifestError(f"no bundled model for backend {backend!r} in {DEFAULT_MODEL_DIR} (looked for {list(order)})")


def check_classifier(obj) -> None:
    """:class:`ConfigError` unless ``obj`` is a loaded model: a :class:`Classifier`, or an object
    with its ``manifest``, ``classes`` and ``predict`` (a wrapper that times or records calls)."""
    if not all(hasattr(obj, a) for a in ("manifest", "classes", "predict")):
        raise ConfigError(f"classifier {obj!r}: expected an edge_ecg.runtime.classifier.Classifier (a loaded model)")


class Classifier:
    """Load ``model_path`` (``.onnx`` / ``.tflite``) with ``model.json`` beside it.

    ``providers`` (onnxruntime execution providers, e.g. ``("cuda", "cpu")``) apply to ONNX files
    only: non-CPU providers with the default model pick its ONNX build, and with a ``.tflite``
    file they are a :class:`~edge_ecg.errors.ConfigError`.

    The file's SHA-256 is checked against the manifest *before* any runtime parses it; after
    loading, the manifest embedded in the file (which that SHA-256 covers) must equal
    ``model.json`` (files table aside), and the model's tensors must match its input spec.

    One instance may serve several threads (sessions): onnxruntime runs their calls
    concurrently, the TFLite interpreter one at a time.
    """

    def __init__(self, model_path: str | Path | None = None, *, backend: str = "auto", threads: int = 1, providers: tuple[str, ...] = ("cpu",)):
        if model_path is not None and not isinstance(model_path, (str, Path)):
            raise ConfigError(f"model_path {model_path!r}: expected a path to a .onnx or .tflite file (or None: the bundled model)")
        path = Path(model_path) if model_path is not None else default_model_path(backend, providers)
        # path and settings first: a mistyped path or a wrong --backend/--providers is named as
        # such, not reported as a missing manifest or as a file the runtime cannot parse
        check_backend_name(backend)
        check_model_file(path)
        resolve_backend(path, backend, providers)
        self.path = path
        self.manifest: Manifest = load_manifest(path)
        self.file = verify_file(path, self.manifest)
        self.backend: Backend = open_backend(path, backend=backend, threads=threads, providers=providers)
        self.classes = self.manifest.classes
        embedded = self.backend.metadata(ONNX_METADATA_KEY)
        if embedded is not None:  # a file from another exporter may carry none: model.json + SHA-256 rule
            check_embedded(embedded, self.manifest, path.name)
        self._check_tensors()

    def _check_tensors(self) -> None:
        spec = self.manifest.input
        want = {spec.ecg_tensor: (spec.channels, spec.length)}
        if spec.side_tensor:
            want[spec.side_tensor] = None  # width checked by the model; the runtime encodes it
        by_name = {}
        for t in self.backend.inputs:
            key = next((k for k in want if k == t.name or k in t.name), None)
            if key is None:
                raise ManifestError(f"model input {t.name!r} is not described by the manifest (expects {sorted(want)})")
            by_name[key] = t
        missing = sorted(set(want) - set(by_name))
        if missing:
            raise ManifestError(f"manifest names input(s) {missing} that model {self.path.name} does not have")
        ecg = by_name[spec.ecg_tensor]
        tail = tuple(ecg.shape[-2:])
        if tail != want[spec.ecg_tensor]:
            raise ManifestError(
                f"model input {ecg.name!r} has shape {ecg.shape}, manifest says (batch, {spec.channels} channels, "
                f"{spec.length} samples)"
            )
        out = self.backend.outputs[0]
        if isinstance(out.shape[-1], int) and out.shape[-1] != len(self.classes):
            raise ManifestError(f"model output {out.name!r} has {out.shape[-1]} classes, manifest lists {len(self.classes)}")
        self.side_dim = int(by_name[spec.side_tensor].shape[-1]) if spec.side_tensor else 0

    def logits(self, x: np.ndarray, side: np.ndarray | None = None) -> np.ndarray:
        """Raw model outputs, shape (batch, classes), for ``x`` of shape (batch >= 1, channels,
        length) and, for a fused model, ``side`` of shape (batch, side width); both real-valued
        and finite."""
        spec = self.manifest.input
        x = _real_array(x, "input")
        if x.ndim != 3 or x.shape[1:] != (spec.channels, spec.length) or x.shape[0] < 1:
            raise SignalError(f"input shape {x.shape}: expected (batch >= 1, {spec.channels}, {spec.length})")
        feeds = {spec.ecg_tensor: x}
        if spec.side_tensor:
            side = None if side is None else _real_array(side, "side input")
            if side is None or side.shape != (x.shape[0], self.side_dim):
                raise SignalError(f"side input shape {None if side is None else side.shape}: expected ({x.shape[0]}, {self.side_dim})")
            feeds[spec.side_tensor] = side
        elif side is not None:
            raise SignalError(f"side input given, but model {self.path.name} takes none (its manifest names no side tensor)")
        return self.backend.run(feeds)

    def predict(self, x: np.ndarray, side: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (softmax; sigmoid for multi-label models), shape (batch, classes)."""
        z = self.logits(x, side)
        if self.manifest.multi_label:
            return 1.0 / (1.0 + np.exp(-z))
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


def _real_array(a, what: str) -> np.ndarray:
    """``a`` as finite float32, or :class:`SignalError` naming ``what`` (strings, objects,
    complex numbers, NaN and inf are refused rather than cast or passed to the model)."""
    arr = np.asarray(a)
    if arr.dtype.kind not in "iuf":
        raise SignalError(f"{what} has dtype {arr.dtype}: expected real numbers (int or float)")
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise SignalError(f"{what} holds NaN or inf")
    return arr
