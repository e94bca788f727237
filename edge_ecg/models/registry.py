"""Model catalogue: register factories by name, build by name, count parameters and MACs.

Every registered model exposes ``default_input_shape`` (leads, samples), ``side_dim`` (0 for
models without side inputs), ``side_spec`` (a :class:`~edge_ecg.models.side.SideSpec` or
``None``) and ``num_classes``, and has the signature ``forward(x[B, C, L], side[B, S] | None)``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from edge_ecg.errors import ConfigError

_MODEL_MODULES = (
    "edge_ecg.models.efficientecg",
    "edge_ecg.models.fusion",
    "edge_ecg.models.imlenet",
    "edge_ecg.models.reslstm",
)
_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: register a factory ``fn(**kwargs) -> nn.Module`` under ``fn.__name__``."""
    name = fn.__name__
    if name in _REGISTRY and _REGISTRY[name] is not fn:
        raise ConfigError(f"a model named {name!r} is already registered")
    _REGISTRY[name] = fn
    return fn


def _load_all() -> None:
    for mod in _MODEL_MODULES:
        importlib.import_module(mod)


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def model_factory(name: str) -> Callable[..., nn.Module]:
    """The registered factory of ``name`` (its signature lists the arguments it takes)."""
    _load_all()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model by name.

    Common keyword arguments (each factory's signature lists the ones it takes): ``in_leads``,
    ``num_classes``, ``input_len`` (samples; sets ``default_input_shape``), ``drop_rate``, and
    for fused models ``side_spec``. An unknown name or argument raises ``ConfigError``.
    """
    fn = model_factory(name)
    sig = inspect.signature(fn)
    try:
        sig.bind(**kwargs)
    except TypeError:
        unknown = sorted(set(kwargs) - set(sig.parameters))
        raise ConfigError(
            f"model {name!r} does not take {unknown or list(kwargs)}; it takes "
            f"{list(sig.parameters)}"
        ) from None
    model = fn(**kwargs)
    model.variant = name
    return model


@dataclass(frozen=True)
class ModelInfo:
    """Size of a model for one example: ``params`` (all parameters), ``macs`` (multiply-
    accumulates of convolutions, linear layers, LSTMs and explicit attention matmuls; BN,
    activations and elementwise ops are not counted), ``input_shape`` (leads, samples)."""

    name: str
    params: int
    macs: int
    input_shape: tuple[int, int]
    side_dim: int


def _conv_macs(m: nn.Module, inputs, output) -> int:
    k = 1
    for s in m.kernel_size:
        k *= s
    return output.numel() * (m.in_channels // m.groups) * k


def _linear_macs(m: nn.Linear, inputs, output) -> int:
    return output.numel() * m.in_features


def _lstm_macs(m: nn.LSTM, inputs, output) -> int:
    x = inputs[0]
    if x.ndim == 2:  # unbatched (T, I)
        steps = x.shape[0]
    else:
        steps = x.shape[0] * x.shape[1]  # batch × time, either layout
    dirs = 2 if m.bidirectional else 1
    macs = 0
    for layer in range(m.num_layers):
        in_size = m.input_size if layer == 0 else m.hidden_size * dirs
        macs += dirs * 4 * m.hidden_size * (in_size + m.hidden_size) * steps
    return macs


def count_macs(model: nn.Module, x: torch.Tensor, side: torch.Tensor | None = None) -> int:
    """MACs of one forward pass on ``x`` (all of its batch), counted with forward hooks."""
    total = 0

    def hook(m, inputs, output):
        nonlocal total
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            total += _conv_macs(m, inputs, output)
        elif isinstance(m, nn.Linear):
            total += _linear_macs(m, inputs, output)
        elif isinstance(m, nn.LSTM):
            total += _lstm_macs(m, inputs, output)
        elif hasattr(m, "extra_macs"):
            total += int(m.extra_macs(inputs, output))

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear, nn.LSTM)) or hasattr(m, "extra_macs")
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x, side)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def model_info(name_or_model: str | nn.Module, input_shape: tuple[int, int] | None = None
               ) -> ModelInfo:
    """Parameters and MACs per example at ``input_shape`` (default: the model's own)."""
    model = create_model(name_or_model) if isinstance(name_or_model, str) else name_or_model
    shape = tuple(input_shape or model.default_input_shape)
    if len(shape) != 2:
        raise ConfigError(f"input_shape must be (leads, samples), got {shape!r}")
    x = torch.zeros((1, *shape))
    side = torch.zeros((1, model.side_dim)) if model.side_dim else None
    return ModelInfo(
        name=getattr(model, "variant", type(model).__name__),
        params=sum(p.numel() for p in model.parameters()),
        macs=count_macs(model, x, side),
        input_shape=shape,
        side_dim=model.side_dim,
    )

