"""ECG classifiers (train side, torch): EfficientECG family, cross-attention fusion with side
inputs, IMLE-Net, ResLSTM-TemporalSE; a registry, and the conversions export needs.

    from edge_ecg.models import create_model, list_models, model_info
    model = create_model("efficientecg_beat_fusion", num_classes=5)
    logits = model(x, side)          # x: (B, leads, samples), side: (B, model.side_dim) or None

Names are resolved lazily so that the torch-free :mod:`edge_ecg.models.side` (side-input
encoding, used by the runtime) can be imported without importing torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    # registry
    "register_model": "registry",
    "create_model": "registry",
    "model_factory": "registry",
    "list_models": "registry",
    "model_info": "registry",
    "count_macs": "registry",
    "ModelInfo": "registry",
    # blocks / builder / conversions
    "ConvBnAct": "blocks",
    "DepthwiseSeparable": "blocks",
    "MBConv": "blocks",
    "SqueezeExcite": "blocks",
    "Swish": "blocks",
    "HardSigmoid": "blocks",
    "DropPath": "blocks",
    "BlockArgs": "builder",
    "decode_block": "builder",
    "encode_block": "builder",
    "scale_stages": "builder",
    "round_channels": "builder",
    "to_conv2d": "convert",
    "fold_bn": "convert",
    # models
    "EfficientECG": "efficientecg",
    "EfficientECGConfig": "efficientecg",
    "build_efficientecg": "efficientecg",
    "EfficientECGFusion": "fusion",
    "FusionConfig": "fusion",
    "CrossAttention": "fusion",
    "IMLENet": "imlenet",
    "IMLENetConfig": "imlenet",
    "ResLSTMTSE": "reslstm",
    "ResLSTMConfig": "reslstm",
    # side inputs (numpy only)
    "SideSpec": "side",
    "encode_side": "side",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
