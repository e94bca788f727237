"""1-D EfficientNet building blocks (timm naming), written for clean int8 export.

Submodule names follow timm (``conv_pw``, ``bn1``, ``conv_dw``, ``bn2``, ``se``, ``conv_pwl``,
``bn3``) so ``forward`` reads like the paper and checkpoints stay legible. Tensors are
``(batch, channels, samples)``; after :func:`edge_ecg.models.convert.to_conv2d` the same modules
run on ``(batch, channels, 1, samples)`` (every op here is written so that it works on either
layout: pooling is over the last axis, drop-path broadcasts over all trailing axes).

Export choices:

* SiLU is :class:`Swish` = ``x * sigmoid(x)`` written out, so a PT2E quantizer sees (and can
  annotate) a Sigmoid and a Mul instead of an opaque ``silu`` that stays float.
* Every conv that is followed by a BatchNorm lists the pair in ``conv_bn_pairs`` so
  :func:`~edge_ecg.models.convert.fold_bn` can fold it without tracing.
* Nothing in a ``forward`` branches on tensor values; the only Python branches are on module
  configuration (fixed at construction) and ``self.training``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edge_ecg.errors import ConfigError

ACTIVATIONS = ("silu", "relu", "relu6")
GATES = ("sigmoid", "hard_sigmoid")


class Swish(nn.Module):
    """SiLU written as ``x * sigmoid(x)`` so the quantizer annotates Sigmoid + Mul."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


class Sigmoid(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)


class HardSigmoid(nn.Module):
    """``relu6(x + 3) / 6``: int8 kernels fuse it where they cannot fuse a sigmoid."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardsigmoid(x)


def create_act(name: str) -> nn.Module:
    """Activation module by name: ``'silu'`` (alias ``'swish'``), ``'relu'``, ``'relu6'``."""
    if name in ("silu", "swish"):
        return Swish()
    if name == "relu":
        return nn.ReLU()
    if name == "relu6":
        return nn.ReLU6()
    raise ConfigError(f"unknown activation {name!r}; expected one of {ACTIVATIONS}")


def create_gate(name: str) -> nn.Module:
    """SE gate by name: ``'sigmoid'`` or ``'hard_sigmoid'``."""
    if name == "sigmoid":
        return Sigmoid()
    if name == "hard_sigmoid":
        return HardSigmoid()
    raise ConfigError(f"unknown gate {name!r}; expected one of {GATES}")


def conv1d(in_chs: int, out_chs: int, kernel: int, stride: int = 1, groups: int = 1,
           bias: bool = False) -> nn.Conv1d:
    """Conv with symmetric 'same'-style padding ``kernel // 2`` (odd kernels)."""
    return nn.Conv1d(in_chs, out_chs, kernel, stride=stride, padding=kernel // 2,
                     groups=groups, bias=bias)


class DropPath(nn.Module):
    """Stochastic depth: drop the residual branch of a whole example with probability ``p``."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"drop-path probability must be in [0, 1), got {p!r}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class SqueezeExcite(nn.Module):
    """Channel attention: mean over time → reduce → act → expand → gate → scale.

    ``rd_chs`` is the bottleneck width (timm computes it from the block's *input* channels).
    """

    def __init__(self, chs: int, rd_chs: int, act: str = "silu", gate: str = "sigmoid"):
        super().__init__()
        self.conv_reduce = nn.Conv1d(chs, rd_chs, 1, bias=True)
        self.act1 = create_act(act)
        self.conv_expand = nn.Conv1d(rd_chs, chs, 1, bias=True)
        self.gate = create_gate(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=-1, keepdim=True)
        s = self.conv_expand(self.act1(self.conv_reduce(s)))
        return x * self.gate(s)


def _make_se(mid_chs: int, in_chs: int, se_ratio: float, act: str, gate: str) -> nn.Module:
    if se_ratio <= 0:
        return nn.Identity()
    return SqueezeExcite(mid_chs, max(1, int(round(in_chs * se_ratio))), act, gate)


class ConvBnAct(nn.Module):
    """conv(k, s) → BN → act, with an optional residual (stride 1, same width)."""

    conv_bn_pairs = (("conv", "bn1"),)

    def __init__(self, in_chs: int, out_chs: int, kernel: int, stride: int = 1,
                 act: str = "silu", skip: bool = False, drop_path: float = 0.0):
        super().__init__()
        self.has_skip = skip and stride == 1 and in_chs == out_chs
        self.conv = conv1d(in_chs, out_chs, kernel, stride)
        self.bn1 = nn.BatchNorm1d(out_chs)
        self.act1 = create_act(act)
        self.drop_path = DropPath(drop_path) if self.has_skip and drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.act1(self.bn1(self.conv(x)))
        if self.has_skip:
            x = self.drop_path(x) + shortcut
        return x


class DepthwiseSeparable(nn.Module):
    """depthwise conv(k, s) → BN → act → SE → pointwise conv → BN (+ residual)."""

    conv_bn_pairs = (("conv_dw", "bn1"), ("conv_pw", "bn2"))

    def __init__(self, in_chs: int, out_chs: int, kernel: int, stride: int = 1,
                 act: str = "silu", se_ratio: float = 0.0, se_gate: str = "sigmoid",
                 noskip: bool = False, drop_path: float = 0.0):
        super().__init__()
        self.has_skip = stride == 1 and in_chs == out_chs and not noskip
        self.conv_dw = conv1d(in_chs, in_chs, kernel, stride, groups=in_chs)
        self.bn1 = nn.BatchNorm1d(in_chs)
        self.act1 = create_act(act)
        self.se = _make_se(in_chs, in_chs, se_ratio, act, se_gate)
        self.conv_pw = conv1d(in_chs, out_chs, 1)
        self.bn2 = nn.BatchNorm1d(out_chs)
        self.drop_path = DropPath(drop_path) if self.has_skip and drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.act1(self.bn1(self.conv_dw(x)))
        x = self.se(x)
        x = self.bn2(self.conv_pw(x))
        if self.has_skip:
            x = self.drop_path(x) + shortcut
        return x


class MBConv(nn.Module):
    """Inverted residual: 1×1 expand → BN → act → depthwise k → BN → act → SE → 1×1 project → BN
    (+ residual when stride is 1 and the width is unchanged)."""

    conv_bn_pairs = (("conv_pw", "bn1"), ("conv_dw", "bn2"), ("conv_pwl", "bn3"))

    def __init__(self, in_chs: int, out_chs: int, kernel: int, stride: int = 1,
                 exp_ratio: float = 6.0, act: str = "silu", se_ratio: float = 0.0,
                 se_gate: str = "sigmoid", noskip: bool = False, drop_path: float = 0.0):
        super().__init__()
        mid_chs = make_divisible(in_chs * exp_ratio)
        self.has_skip = stride == 1 and in_chs == out_chs and not noskip
        self.conv_pw = conv1d(in_chs, mid_chs, 1)
        self.bn1 = nn.BatchNorm1d(mid_chs)
        self.act1 = create_act(act)
        self.conv_dw = conv1d(mid_chs, mid_chs, kernel, stride, groups=mid_chs)
        self.bn2 = nn.BatchNorm1d(mid_chs)
        self.act2 = create_act(act)
        self.se = _make_se(mid_chs, in_chs, se_ratio, act, se_gate)
        self.conv_pwl = conv1d(mid_chs, out_chs, 1)
        self.bn3 = nn.BatchNorm1d(out_chs)
        self.drop_path = DropPath(drop_path) if self.has_skip and drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.act1(self.bn1(self.conv_pw(x)))
        x = self.act2(self.bn2(self.conv_dw(x)))
        x = self.se(x)
        x = self.bn3(self.conv_pwl(x))
        if self.has_skip:
            x = self.drop_path(x) + shortcut
        return x


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``v`` to a multiple of ``divisor`` (at least ``min_value``), never going more than
    10 % below ``v`` — the rule EfficientNet and MobileNet use for channel counts."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v
