"""Quantization (train side, torch + torchao): QAT fine-tuning and PTQ calibration with one PT2E
quantizer, and the converted int8 graph both exporters consume.

    from edge_ecg.quant import QuantConfig, quantize_checkpoint, load_quantized

    qm = quantize_checkpoint("runs/beat", "runs/beat_qat", QuantConfig(method="qat", epochs=3))
    qm = load_quantized("runs/beat_qat")     # later, in another process
    onnx_graph = qm.converted("onnx")        # int8 weights / int32 biases, BN folded

Modules: :mod:`.quantizer` (``EdgeQuantizer``, ``QuantScheme``), :mod:`.graph` (capture,
prepare, train/eval switch, freeze, convert), :mod:`.convert` (int32 bias pass), :mod:`.qat`
(the runs and their saved form), :mod:`.cli` (``edge-ecg qat``). Names resolve lazily so that
importing the package does not import torch.
"""

from __future__ import annotations

import importlib
import os

# torchao tries to load CUDA-only kernels at import and logs each failure; they are not used here
os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

_EXPORTS = {
    "QuantConfig": "qat",
    "QuantizedModel": "qat",
    "quantize_checkpoint": "qat",
    "load_quantized": "qat",
    "calibrate": "qat",
    "QuantScheme": "quantizer",
    "EdgeQuantizer": "quantizer",
    "GraphSpec": "graph",
    "QATSwitch": "graph",
    "prepare": "graph",
    "set_mode": "graph",
    "freeze": "graph",
    "convert": "graph",
    "quantize_biases": "convert",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
