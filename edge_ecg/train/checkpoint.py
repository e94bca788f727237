"""Checkpoints as ``model.safetensors`` + ``config.json``: tensors and plain JSON, never a pickle.

Loading a checkpoint never unpickles anything, so a checkpoint from an untrusted source cannot
run code. A file that is not a safetensors file (a ``torch.save`` pickle, say) is refused with
:class:`CheckpointError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_ecg.errors import CheckpointError
from edge_ecg.typed import read_json_object

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def save_checkpoint(directory: str | Path, model, config: dict[str, Any]) -> Path:
    """Write ``model``'s state dict and ``config`` (must hold ``model_name`` and ``model_kwargs``)."""
    from safetensors.torch import save_file

    for key in ("model_name", "model_kwargs"):
        if key not in config:
            raise CheckpointError(f"checkpoint config needs {key!r}; got keys {sorted(config)}")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(d / WEIGHTS_NAME), metadata={"format": "pt", "producer": "edge-ecg"})
    (d / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True, default=json_default) + "\n")
    return d


def json_default(obj):
    import numpy as np

    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint config")


def read_config(directory: str | Path) -> dict[str, Any]:
    d = Path(directory)
    path = d / CONFIG_NAME if d.is_dir() else d.with_name(CONFIG_NAME)
    return read_json_object(path, "checkpoint config", CheckpointError)


def load_checkpoint(directory: str | Path):
    """Rebuild the model from ``config.json`` and load ``model.safetensors`` into it.

    Returns ``(model, config)``; the model is in eval mode. Never unpickles.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from edge_ecg.models import create_model

    d = Path(directory)
    weights = d / WEIGHTS_NAME if d.is_dir() else d
    if not weights.is_file():
        raise CheckpointError(f"checkpoint weights {weights} do not exist")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{weights} is not a safetensors file ({exc}); edge-ecg never unpickles checkpoints "
            "(a torch.save pickle can run arbitrary code on load)"
        ) from exc
    config = read_config(weights.parent)
    model = create_model(config["model_name"], **config["model_kwargs"])
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {weights} does not fit model {config['model_name']!r}: "
            f"missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}"
        )
    model.eval()
    return model, config
