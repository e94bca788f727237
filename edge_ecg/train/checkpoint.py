"""Checkpoints as ``model.safetensors`` + ``config.json``: tensors and plain JSON, never a pickle.

Loading a checkpoint never unpickles anything, so a checkpoint from an untrusted source cannot
run code. A file that is not a safetensors file (a ``torch.save`` pickle, say) is refused with
:class:`CheckpointError`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from edge_ecg.errors import CheckpointError, ConfigError
from edge_ecg.runtime.sinks import dumps_strict
from edge_ecg.typed import read_json_object

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
REQUIRED_KEYS = ("model_name", "model_kwargs")
# files whose presence means a directory already holds a run's output (float or quantized)
OUTPUT_FILES = (CONFIG_NAME, WEIGHTS_NAME, "quant.json", "quant_state.safetensors", "rank0.sha256")


def state_digest(model) -> str:
    """SHA-256 over the model's state dict (keys in sorted order, then each tensor's raw bytes).

    This is ``weights_sha256`` in a checkpoint's ``config.json``; it depends on the tensors, not
    on the safetensors file layout, so an exporter can recompute it from a loaded model."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def check_out_dir(out: str | Path, *, force: bool = False, flag: str = "--out", not_same_as: str | Path | None = None,
                  not_same_flag: str = "--checkpoint") -> Path:
    """Refuse an output path before any work is done: it must be a directory or not exist, must not
    be ``not_same_as``, and must not already hold a run's output unless ``force``."""
    d = Path(out)
    if d.exists() and not d.is_dir():
        raise ConfigError(f"{flag} {d} exists and is not a directory: give a directory (it is created if missing)")
    if not_same_as is not None and d.exists() and d.resolve() == Path(not_same_as).resolve():
        raise ConfigError(f"{flag} {d} is the {not_same_flag} directory: writing there would overwrite its files; "
                          "give another directory")
    if d.is_dir() and not force:
        present = [name for name in OUTPUT_FILES if (d / name).exists()]
        if present:
            raise ConfigError(f"{flag} {d} already holds {', '.join(present)}: give a new directory, "
                              "or --force to overwrite")
    return d


def save_checkpoint(directory: str | Path, model, config: dict[str, Any]) -> Path:
    """Write ``model``'s state dict and ``config`` (must hold ``model_name`` and ``model_kwargs``)."""
    from safetensors.torch import save_file

    for key in REQUIRED_KEYS:
        if key not in config:
            raise CheckpointError(f"checkpoint config needs {key!r}; got keys {sorted(config)}")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(d / WEIGHTS_NAME), metadata={"format": "pt", "producer": "edge-ecg"})
    # standard JSON: a score with nothing to score (a class never predicted) is null, not NaN
    (d / CONFIG_NAME).write_text(dumps_strict(config, indent=2, sort_keys=True) + "\n")
    return d


def read_config(directory: str | Path) -> dict[str, Any]:
    d = Path(directory)
    path = d / CONFIG_NAME if d.is_dir() else d.with_name(CONFIG_NAME)
    return read_json_object(path, "checkpoint config", CheckpointError)


def load_checkpoint(directory: str | Path):
    """Rebuild the model from ``config.json`` and load ``model.safetensors`` into it.

    Returns ``(model, config)``; the model is in eval mode. Never unpickles. When the config
    records ``weights_sha256`` (every checkpoint the trainer writes does), the digest of the
    loaded tensors (:func:`state_digest`) must equal it: a damaged weights file that still parses
    is refused with :class:`CheckpointError`. A config without it (hand-made or older checkpoints)
    is loaded unchecked.
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
    config_path = weights.parent / CONFIG_NAME
    for key in REQUIRED_KEYS:
        if key not in config:
            raise CheckpointError(f"checkpoint config {config_path} lacks the required key {key!r}; "
                                  f"has {sorted(config)}")
    if not isinstance(config["model_kwargs"], dict):
        raise CheckpointError(f"checkpoint config {config_path}: 'model_kwargs' must be a JSON object, "
                              f"got {type(config['model_kwargs']).__name__}")
    model = create_model(config["model_name"], **config["model_kwargs"])
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {weights} does not fit model {config['model_name']!r}: "
            f"missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}"
        )
    want = config.get("weights_sha256")
    if want is not None:
        have = state_digest(model)
        if have != want:
            raise CheckpointError(
                f"checkpoint weights {weights} do not match {config_path}: weights digest {have}, "
                f"expected weights_sha256 {want} (the file is damaged or belongs to another checkpoint)"
            )
    model.eval()
    return model, config
