"""``Classifier``: a model file + its manifest, checksum-verified, behind one ``predict``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_ecg.deploy.manifest import Manifest, load_manifest, verify_file
from edge_ecg.errors import ManifestError, SignalError
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


class Classifier:
    """Load ``model_path`` (``.onnx`` / ``.tflite``) with ``model.json`` beside it.

    ``providers`` (onnxruntime execution providers, e.g. ``("cuda", "cpu")``) apply to ONNX files
    only: non-CPU providers with the default model pick its ONNX build, and with a ``.tflite``
    file they are a :class:`~edge_ecg.errors.ConfigError`.

    The file's SHA-256 is checked against the manifest *before* any runtime parses it, and the
    model's tensors are checked against the manifest's input spec after loading.
    """

    def __init__(self, model_path: str | Path | None = None, *, backend: str = "auto", threads: int = 1, providers: tuple[str, ...] = ("cpu",)):
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
        spec = self.manifest.input
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 3 or x.shape[1:] != (spec.channels, spec.length):
            raise SignalError(f"input shape {x.shape}: expected (batch, {spec.channels}, {spec.length})")
        if not np.all(np.isfinite(x)):
            raise SignalError("input holds NaN or inf samples")
        feeds = {spec.ecg_tensor: x}
        if spec.side_tensor:
            if side is None or np.asarray(side).shape != (x.shape[0], self.side_dim):
                raise SignalError(f"side input shape {None if side is None else np.shape(side)}: expected ({x.shape[0]}, {self.side_dim})")
            feeds[spec.side_tensor] = np.asarray(side, dtype=np.float32)
        return self.backend.run(feeds)

    def predict(self, x: np.ndarray, side: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (softmax; sigmoid for multi-label models), shape (batch, classes)."""
        z = self.logits(x, side)
        if self.manifest.multi_label:
            return 1.0 / (1.0 + np.exp(-z))
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
