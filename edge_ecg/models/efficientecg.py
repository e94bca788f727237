"""EfficientECG: EfficientNet scaled down to 1-D ECG, and its registered variants.

stem conv (stride 2) → stages from block strings (:mod:`edge_ecg.models.builder`) → 1×1 head
conv → global average pooling over time → dropout → linear classifier. Global pooling makes the
network take any input length; ``in_leads`` sets the stem's input channels.

Compound scaling (width, depth, recommended input length ``input_len``)::

    variant            width  depth  input (12 leads)   the window it is meant for
    efficientecg_b0    1.0    1.0    2500 samples       10 s at 250 Hz
    efficientecg_b1    1.0    1.1    2750               10 s at 275 Hz
    efficientecg_b2    1.1    1.2    3000               10 s at 300 Hz
    efficientecg_b3    1.2    1.4    3500               10 s at 350 Hz

The base (b0) keeps EfficientNet-B0's seven stages and strides (×32 overall) with channels cut
to 16…96 (head 384) and the depthwise kernels lengthened (7/5 instead of 3/5)
because a 1-D kernel is cheap and ECG waves span tens of samples. ``efficientecg_lite0`` is
the same body in the spirit of EfficientNet-Lite: ReLU6 everywhere, no SE (``se_gate=
'hard_sigmoid'`` with ``se=True`` is the quantizer-friendly middle ground), stem and head
widths never scaled.

Measured (``benchmarks/model_zoo.py``; MACs per example at the default input)::

    variant                    input     params   MMACs
    efficientecg_b0            12×2500   580 k    67.3
    efficientecg_b1            12×2750   881 k   107.0
    efficientecg_b2            12×3000   1.10 M  139.9
    efficientecg_b3            12×3500   1.48 M  229.5
    efficientecg_lite0         12×2500   481 k    67.2
    efficientecg_beat          1×256     75.5 k    1.83
    efficientecg_beat_lite     1×256     63.1 k    1.82
    efficientecg_tiny          12×256    2.0 k     0.14

The beat models classify one heartbeat: a single-lead window of about 0.7 s at 360 Hz
(``input_len=256``; any length works) with a four-stage body (×16 overall).
``efficientecg_tiny`` exists for fast tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

from edge_ecg.errors import ConfigError
from edge_ecg.models.blocks import ACTIVATIONS, GATES, conv1d, create_act
from edge_ecg.models.builder import build_stages, round_channels, scale_stages
from edge_ecg.models.checks import check_ecg, check_side
from edge_ecg.models.registry import register_model

ARCH_B0: tuple[tuple[str, ...], ...] = (
    ("ds_r1_k7_s1_c16_se0.25",),
    ("ir_r2_k7_s2_e6_c24_se0.25",),
    ("ir_r2_k7_s2_e6_c32_se0.25",),
    ("ir_r3_k5_s2_e6_c40_se0.25",),
    ("ir_r3_k5_s1_e6_c48_se0.25",),
    ("ir_r4_k5_s2_e6_c64_se0.25",),
    ("ir_r1_k3_s1_e6_c96_se0.25",),
)

ARCH_BEAT: tuple[tuple[str, ...], ...] = (
    ("ds_r1_k5_s1_c16_se0.25",),
    ("ir_r2_k5_s2_e4_c24_se0.25",),
    ("ir_r2_k5_s2_e4_c32_se0.25",),
    ("ir_r2_k3_s2_e4_c48_se0.25",),
)

ARCH_TINY: tuple[tuple[str, ...], ...] = (
    ("ds_r1_k3_s1_c8_se0.25",),
    ("ir_r1_k3_s2_e2_c16_se0.25",),
)


@dataclass(frozen=True)
class EfficientECGConfig:
    """Everything that defines an EfficientECG network (see the module docstring)."""

    arch: tuple[tuple[str, ...], ...] = ARCH_B0
    width_mult: float = 1.0
    depth_mult: float = 1.0
    in_leads: int = 12
    num_classes: int = 5
    input_len: int = 2500
    stem_chs: int = 32
    stem_kernel: int = 7
    head_chs: int = 384
    fix_stem_head: bool = False
    act: str = "silu"
    se: bool = True
    se_gate: str = "sigmoid"
    drop_rate: float = 0.2
    drop_path_rate: float = 0.0
    divisor: int = 8

    def __post_init__(self):
        if isinstance(self.arch, str):
            raise ConfigError(f"arch must be a list of stages of block strings, got {self.arch!r}")
        object.__setattr__(
            self, "arch",
            tuple((s,) if isinstance(s, str) else tuple(s) for s in self.arch),
        )
        for name in ("in_leads", "num_classes", "input_len", "stem_chs", "head_chs", "divisor"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if self.stem_kernel < 1 or self.stem_kernel % 2 == 0:
            raise ConfigError(f"stem_kernel must be an odd integer >= 1, got {self.stem_kernel!r}")
        if self.act not in ACTIVATIONS:
            raise ConfigError(f"act must be one of {ACTIVATIONS}, got {self.act!r}")
        if self.se_gate not in GATES:
            raise ConfigError(f"se_gate must be one of {GATES}, got {self.se_gate!r}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ConfigError(f"drop_rate must be in [0, 1), got {self.drop_rate!r}")
        if not 0.0 <= self.drop_path_rate < 1.0:
            raise ConfigError(f"drop_path_rate must be in [0, 1), got {self.drop_path_rate!r}")
        # decoding validates every block string now rather than at model build time
        scale_stages(self.arch, self.width_mult, self.depth_mult, self.divisor)


class EfficientECG(nn.Module):
    """1-D EfficientNet for ECG; ``forward(x[B, in_leads, L], side=None) -> logits[B, classes]``.

    ``forward_features`` returns the head feature map ``(B, num_features, L/stride)`` (in the
    2-D layout after :func:`~edge_ecg.models.convert.to_conv2d`: ``(B, num_features, 1, L')``).
    """

    conv_bn_pairs = (("conv_stem", "bn1"), ("conv_head", "bn2"))

    def __init__(self, cfg: EfficientECGConfig = EfficientECGConfig()):
        super().__init__()
        self.cfg = cfg
        stages = scale_stages(cfg.arch, cfg.width_mult, cfg.depth_mult, cfg.divisor)
        if not cfg.se:
            stages = [[replace(a, se_ratio=0.0) for a in stage] for stage in stages]
        scale = 1.0 if cfg.fix_stem_head else cfg.width_mult
        stem_chs = round_channels(cfg.stem_chs, scale, cfg.divisor)
        head_chs = round_channels(cfg.head_chs, scale, cfg.divisor)

        self.conv_stem = conv1d(cfg.in_leads, stem_chs, cfg.stem_kernel, stride=2)
        self.bn1 = nn.BatchNorm1d(stem_chs)
        self.act1 = create_act(cfg.act)
        self.blocks, chs = build_stages(stages, stem_chs, act=cfg.act, se_gate=cfg.se_gate,
                                        drop_path_rate=cfg.drop_path_rate)
        self.conv_head = conv1d(chs, head_chs, 1)
        self.bn2 = nn.BatchNorm1d(head_chs)
        self.act2 = create_act(cfg.act)
        self.dropout = nn.Dropout(cfg.drop_rate)
        self.classifier = nn.Linear(head_chs, cfg.num_classes)

        self.num_features = head_chs
        self.num_classes = cfg.num_classes
        self.in_leads = cfg.in_leads
        self.default_input_shape = (cfg.in_leads, cfg.input_len)
        self.side_dim = 0
        self.side_spec = None
        # set by to_conv2d: convs/BN are 2-D and the input gets a unit height axis
        self.conv2d_layout = False
        self._init_weights()

    def _init_weights(self) -> None:
        # timm's EfficientNet init: fan-out counts a depthwise conv's kernel only (torch's
        # kaiming counts every channel and shrinks activations block after block)
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                fan_out = m.kernel_size[0] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / m.out_features ** 0.5
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_ecg(x, self.in_leads)
        if self.conv2d_layout:
            x = x.unsqueeze(2)
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        return self.act2(self.bn2(self.conv_head(x)))

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """Global average over time: ``(B, D, [1,] L') -> (B, D)``."""
        return features.mean(dim=-1).flatten(1)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.dropout(self.pool(features))
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        check_side(side, 0)
        return self.forward_head(self.forward_features(x))


# ---- variants -------------------------------------------------------------------------------

B_SCALING: dict[str, tuple[float, float, int]] = {
    # name: (width, depth, recommended input length in samples)
    "b0": (1.0, 1.0, 2500),
    "b1": (1.0, 1.1, 2750),
    "b2": (1.1, 1.2, 3000),
    "b3": (1.2, 1.4, 3500),
}

BEAT_CFG = EfficientECGConfig(
    arch=ARCH_BEAT, in_leads=1, input_len=256, stem_chs=16, stem_kernel=7, head_chs=128,
    drop_rate=0.1,
)
BEAT_LITE_CFG = replace(BEAT_CFG, act="relu6", se=False, fix_stem_head=True)
LITE0_CFG = EfficientECGConfig(act="relu6", se=False, fix_stem_head=True)
TINY_CFG = EfficientECGConfig(
    arch=ARCH_TINY, in_leads=12, input_len=256, stem_chs=8, stem_kernel=5, head_chs=32,
    drop_rate=0.0,
)


def _make(cfg: EfficientECGConfig, **overrides) -> EfficientECG:
    return EfficientECG(replace(cfg, **{k: v for k, v in overrides.items() if v is not None}))


def _b(variant: str, in_leads, num_classes, input_len, drop_rate, drop_path_rate):
    width, depth, length = B_SCALING[variant]
    cfg = EfficientECGConfig(width_mult=width, depth_mult=depth, input_len=length,
                             drop_rate=0.2 + 0.05 * int(variant[1]))
    return _make(cfg, in_leads=in_leads, num_classes=num_classes, input_len=input_len,
                 drop_rate=drop_rate, drop_path_rate=drop_path_rate)


@register_model
def efficientecg_b0(in_leads: int = 12, num_classes: int = 5, input_len: int | None = None,
                    drop_rate: float | None = None, drop_path_rate: float | None = None):
    """EfficientECG-B0: 0.58 M parameters and 67 M MACs with 12 leads, 10 s at 250 Hz."""
    return _b("b0", in_leads, num_classes, input_len, drop_rate, drop_path_rate)


@register_model
def efficientecg_b1(in_leads: int = 12, num_classes: int = 5, input_len: int | None = None,
                    drop_rate: float | None = None, drop_path_rate: float | None = None):
    """EfficientECG-B1: depth ×1.1, 10 s at 275 Hz."""
    return _b("b1", in_leads, num_classes, input_len, drop_rate, drop_path_rate)


@register_model
def efficientecg_b2(in_leads: int = 12, num_classes: int = 5, input_len: int | None = None,
                    drop_rate: float | None = None, drop_path_rate: float | None = None):
    """EfficientECG-B2: width ×1.1, depth ×1.2, 10 s at 300 Hz."""
    return _b("b2", in_leads, num_classes, input_len, drop_rate, drop_path_rate)


@register_model
def efficientecg_b3(in_leads: int = 12, num_classes: int = 5, input_len: int | None = None,
                    drop_rate: float | None = None, drop_path_rate: float | None = None):
    """EfficientECG-B3: width ×1.2, depth ×1.4, 10 s at 350 Hz."""
    return _b("b3", in_leads, num_classes, input_len, drop_rate, drop_path_rate)


@register_model
def efficientecg_lite0(in_leads: int = 12, num_classes: int = 5, input_len: int | None = None,
                       drop_rate: float | None = None, se_gate: str | None = None):
    """EfficientECG-Lite0: B0 body with ReLU6, no SE, fixed stem/head. ``se_gate=
    'hard_sigmoid'`` puts back SE blocks with a ReLU6 squeeze and a hard-sigmoid gate."""
    se = {} if se_gate is None else {"se": True, "se_gate": se_gate}
    return _make(replace(LITE0_CFG, **se), in_leads=in_leads, num_classes=num_classes,
                 input_len=input_len, drop_rate=drop_rate)


@register_model
def efficientecg_beat(in_leads: int = 1, num_classes: int = 5, input_len: int | None = None,
                      drop_rate: float | None = None):
    """Beat classifier (SiLU + SE) for a single-lead ~0.7 s window at 360 Hz."""
    return _make(BEAT_CFG, in_leads=in_leads, num_classes=num_classes, input_len=input_len,
                 drop_rate=drop_rate)


@register_model
def efficientecg_beat_lite(in_leads: int = 1, num_classes: int = 5, input_len: int | None = None,
                           drop_rate: float | None = None, se_gate: str | None = None):
    """Beat classifier, Lite flavour (ReLU6, no SE unless ``se_gate='hard_sigmoid'``)."""
    se = {} if se_gate is None else {"se": True, "se_gate": se_gate}
    return _make(replace(BEAT_LITE_CFG, **se), in_leads=in_leads, num_classes=num_classes,
                 input_len=input_len, drop_rate=drop_rate)


@register_model
def efficientecg_tiny(in_leads: int = 12, num_classes: int = 5, input_len: int | None = None):
    """A few thousand parameters; for tests."""
    return _make(TINY_CFG, in_leads=in_leads, num_classes=num_classes, input_len=input_len)


def build_efficientecg(arch: Sequence[str | Sequence[str]], **cfg_fields) -> EfficientECG:
    """An unregistered EfficientECG from your own block strings, e.g.
    ``build_efficientecg(['ds_r1_k3_s1_c16', 'ir_r2_k5_s2_e6_c24_se0.25'], in_leads=1)``."""
    return EfficientECG(EfficientECGConfig(arch=tuple(arch), **cfg_fields))
