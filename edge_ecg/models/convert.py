"""Export-time rewrites: Conv1d → unit-height Conv2d, and BatchNorm folded into its conv.

TFLite has no 1-D convolution: a Conv1d reaches it as reshape → transpose → CONV_2D →
transpose, and an unfolded BatchNorm stays as a MUL and an ADD. Rewriting every Conv1d(k) as a
Conv2d with kernel ``(1, k)`` on ``(B, C, 1, L)`` tensors and folding BN before conversion left
2 transposes instead of 20 on the probe model and made fp32 ~1.7× faster (TOOLCHAIN.md).

Both functions return a new model (the argument is not modified) whose outputs equal the
original's (to float rounding) in eval mode.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from edge_ecg.errors import ModelError


class Conv1dAs2d(nn.Module):
    """A Conv1d computed by a (1, k) Conv2d, for models whose own forward is 1-D only
    (IMLE-Net, ResLSTM): ``(B, C, L) → unsqueeze → conv2d → squeeze → (B, C', L')``."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.unsqueeze(2)).squeeze(2)


def _conv1d_to_2d(c: nn.Conv1d) -> nn.Conv2d:
    if c.padding_mode != "zeros":
        raise ModelError(f"cannot rewrite a Conv1d with padding_mode={c.padding_mode!r}")
    padding = c.padding if isinstance(c.padding, str) else (0, c.padding[0])
    new = nn.Conv2d(c.in_channels, c.out_channels, (1, c.kernel_size[0]),
                    stride=(1, c.stride[0]), padding=padding, dilation=(1, c.dilation[0]),
                    groups=c.groups, bias=c.bias is not None,
                    device=c.weight.device, dtype=c.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(c.weight.unsqueeze(2))
        if c.bias is not None:
            new.bias.copy_(c.bias)
    new.train(c.training)
    return new


def _bn1d_to_2d(b: nn.BatchNorm1d) -> nn.BatchNorm2d:
    ref = b.running_mean if b.running_mean is not None else b.weight
    kw = {} if ref is None else {"device": ref.device, "dtype": ref.dtype}
    new = nn.BatchNorm2d(b.num_features, eps=b.eps, momentum=b.momentum, affine=b.affine,
                         track_running_stats=b.track_running_stats, **kw)
    new.load_state_dict(b.state_dict())
    new.train(b.training)
    return new


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, attr, module)


def _inside(name: str, prefixes: list[str]) -> bool:
    return any(p == "" or name == p or name.startswith(p + ".") for p in prefixes)


def to_conv2d(model: nn.Module) -> nn.Module:
    """Copy of ``model`` with every Conv1d(k) as a Conv2d with kernel (1, k), weights copied.

    Modules that declare a ``conv2d_layout`` flag (the EfficientECG family) switch to a 2-D
    layout end to end: their BatchNorm1d become BatchNorm2d and the input gets a unit height
    axis once, at the stem. Convs elsewhere (IMLE-Net, ResLSTM) are wrapped one by one in
    :class:`Conv1dAs2d`: correct, but each keeps its own reshape pair. The call signature and
    output shape are unchanged.
    """
    model = copy.deepcopy(model)
    native = [n for n, m in model.named_modules() if hasattr(m, "conv2d_layout")]
    for name, m in list(model.named_modules()):
        if isinstance(m, nn.Conv1d):
            conv = _conv1d_to_2d(m)
            _set_submodule(model, name, conv if _inside(name, native) else Conv1dAs2d(conv))
        elif isinstance(m, nn.BatchNorm1d) and _inside(name, native):
            _set_submodule(model, name, _bn1d_to_2d(m))
    for n in native:
        model.get_submodule(n).conv2d_layout = True
    return model


def _fold(conv: nn.Module, bn: _BatchNorm) -> None:
    # see through wrappers that hold the conv as ``.conv`` (Conv1dAs2d, IMLE-Net's PaddedConv)
    while not isinstance(conv, (nn.Conv1d, nn.Conv2d)) and isinstance(
        getattr(conv, "conv", None), nn.Module
    ):
        conv = conv.conv
    if not isinstance(conv, (nn.Conv1d, nn.Conv2d)):
        raise ModelError(f"cannot fold BatchNorm into a {type(conv).__name__}")
    if not bn.track_running_stats or bn.running_var is None:
        raise ModelError("cannot fold a BatchNorm without running statistics")
    with torch.no_grad():
        # fold in float64, round once to the conv's dtype
        f64 = torch.float64
        std = torch.sqrt(bn.running_var.to(f64) + bn.eps)
        gamma = bn.weight.to(f64) if bn.affine else torch.ones_like(std)
        beta = bn.bias.to(f64) if bn.affine else torch.zeros_like(std)
        scale = gamma / std
        bias = conv.bias.to(f64) if conv.bias is not None else torch.zeros_like(std)
        w = conv.weight.to(f64) * scale.reshape(-1, *([1] * (conv.weight.ndim - 1)))
        new_bias = (bias - bn.running_mean.to(f64)) * scale + beta
        conv.weight.copy_(w.to(conv.weight.dtype))
        conv.bias = nn.Parameter(new_bias.to(conv.weight.dtype))


def fold_bn(model: nn.Module) -> nn.Module:
    """Eval-mode copy of ``model`` with each BatchNorm folded into the conv before it.

    Pairs come from each module's ``conv_bn_pairs`` (attribute names of a conv and the BN that
    directly follows it); a folded BN is replaced by ``nn.Identity``. Folding uses the running
    statistics, i.e. what the model computes in eval mode. Works before or after
    :func:`to_conv2d`.
    """
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        for conv_name, bn_name in getattr(module, "conv_bn_pairs", ()):
            bn = getattr(module, bn_name)
            if isinstance(bn, nn.Identity):
                continue
            if not isinstance(bn, _BatchNorm):
                raise ModelError(
                    f"{type(module).__name__}.{bn_name} is a {type(bn).__name__}, not a BatchNorm"
                )
            _fold(getattr(module, conv_name), bn)
            setattr(module, bn_name, nn.Identity())
    return model
