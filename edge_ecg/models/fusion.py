"""Cross-attention fusion of side inputs (RR intervals, age, sex) with the ECG feature sequence.

Each side group becomes one token of width ``embed_dim``:

* ``rr``  — MLP(7 → d → d) of the encoded RR features (:mod:`edge_ecg.models.side`);
* ``age`` — ``known · MLP(age/100) + (1 − known) · u`` where ``u`` is a learned "unknown age"
  embedding, so a missing age is neither a zero vector nor a fake age of 0 years;
* ``sex`` — a 3-row embedding table indexed by the one-hot ``[unknown, male, female]``.

The tokens are queries of an explicit multi-head attention (``q·kᵀ/√d_h`` → softmax →
``·v``; a fixed head count, plain matmuls, no data-dependent control flow, so it exports to
ONNX and TFLite as MatMul/Softmax) over the backbone's last feature map read as a sequence of
``L'`` tokens of width ``D``. Each token takes the attended ECG summary as a residual, then a
small residual MLP. The head sees ``[global-average-pooled ECG feature (D) ‖ fused tokens
(T·d)]`` → dropout → linear.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from edge_ecg.errors import ConfigError
from edge_ecg.models.checks import check_side
from edge_ecg.models.efficientecg import BEAT_CFG, BEAT_LITE_CFG, EfficientECG, EfficientECGConfig
from edge_ecg.models.registry import register_model
from edge_ecg.models.side import AGE_SEX_SPEC, GROUP_FEATURES, RR_SPEC, SideSpec


@dataclass(frozen=True)
class FusionConfig:
    """An EfficientECG backbone plus side-token fusion; ``num_classes`` is the backbone's."""

    backbone: EfficientECGConfig
    side_spec: SideSpec
    embed_dim: int = 32
    num_heads: int = 2
    mlp_ratio: float = 2.0

    def __post_init__(self):
        if not isinstance(self.side_spec, SideSpec):
            raise ConfigError(f"side_spec must be a SideSpec, got {self.side_spec!r}")
        if self.embed_dim < 1 or self.num_heads < 1 or self.embed_dim % self.num_heads:
            raise ConfigError(
                f"embed_dim ({self.embed_dim!r}) must be a positive multiple of num_heads "
                f"({self.num_heads!r})"
            )
        if not self.mlp_ratio > 0:
            raise ConfigError(f"mlp_ratio must be > 0, got {self.mlp_ratio!r}")


class SideTokens(nn.Module):
    """``side (B, S) → tokens (B, T, d)``, one token per group of the spec, in spec order."""

    def __init__(self, spec: SideSpec, dim: int):
        super().__init__()
        self.groups = spec.groups
        self.bounds = tuple((spec.slice(g).start, spec.slice(g).stop) for g in spec.groups)
        if "rr" in spec.groups:
            n = len(GROUP_FEATURES["rr"])
            self.rr_embed = nn.Sequential(nn.Linear(n, dim), nn.ReLU(), nn.Linear(dim, dim))
        if "age" in spec.groups:
            self.age_embed = nn.Sequential(nn.Linear(1, dim), nn.ReLU(), nn.Linear(dim, dim))
            self.age_unknown = nn.Parameter(torch.randn(dim) * 0.02)
        if "sex" in spec.groups:
            self.sex_embed = nn.Linear(len(GROUP_FEATURES["sex"]), dim, bias=False)

    def forward(self, side: torch.Tensor) -> torch.Tensor:
        tokens = []
        for group, (a, b) in zip(self.groups, self.bounds, strict=True):
            v = side[:, a:b]
            if group == "rr":
                tokens.append(self.rr_embed(v))
            elif group == "age":
                known = v[:, 1:2]
                tokens.append(known * self.age_embed(v[:, 0:1]) + (1.0 - known) * self.age_unknown)
            else:
                tokens.append(self.sex_embed(v))
        return torch.stack(tokens, dim=1)


class CrossAttention(nn.Module):
    """Multi-head attention of ``T`` query tokens (width ``dim``) over a sequence (width
    ``kv_dim``), written as explicit matmul + softmax for predictable export."""

    def __init__(self, dim: int, kv_dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"dim {dim} must be a multiple of num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(kv_dim, dim)
        self.v = nn.Linear(kv_dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, tokens: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
        b, t, d = tokens.shape[0], tokens.shape[1], self.num_heads * self.head_dim
        h, dh = self.num_heads, self.head_dim
        q = self.q(tokens).reshape(b, t, h, dh).transpose(1, 2)  # (B, h, T, dh)
        k = self.k(seq).reshape(b, -1, h, dh).transpose(1, 2)  # (B, h, L, dh)
        v = self.v(seq).reshape(b, -1, h, dh).transpose(1, 2)
        attn = torch.softmax(torch.matmul(q * self.scale, k.transpose(-2, -1)), dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, t, d)
        return self.proj(out)

    def extra_macs(self, inputs, output) -> int:
        """MACs of the two matmuls (the Linear layers count themselves)."""
        tokens, seq = inputs[0], inputs[1]
        b, t = tokens.shape[0], tokens.shape[1]
        return 2 * b * t * seq.shape[1] * self.num_heads * self.head_dim


class EfficientECGFusion(nn.Module):
    """EfficientECG with side-input tokens; ``forward(x[B, C, L], side[B, S]) -> logits``."""

    def __init__(self, cfg: FusionConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = EfficientECG(cfg.backbone)
        # the backbone's own head is replaced by the fused one
        self.backbone.dropout = nn.Identity()
        self.backbone.classifier = nn.Identity()
        feat_dim, d = self.backbone.num_features, cfg.embed_dim
        n_tokens = len(cfg.side_spec.groups)
        hidden = max(1, int(round(d * cfg.mlp_ratio)))
        self.side_embed = SideTokens(cfg.side_spec, d)
        self.attn = CrossAttention(d, feat_dim, cfg.num_heads)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, d))
        self.dropout = nn.Dropout(cfg.backbone.drop_rate)
        self.classifier = nn.Linear(feat_dim + n_tokens * d, cfg.backbone.num_classes)

        self.num_features = feat_dim + n_tokens * d
        self.num_classes = cfg.backbone.num_classes
        self.in_leads = cfg.backbone.in_leads
        self.default_input_shape = self.backbone.default_input_shape
        self.side_spec = cfg.side_spec
        self.side_dim = cfg.side_spec.dim

    def forward_fused(self, x: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        """Pre-logit features ``(B, D + T·d)``."""
        check_side(side, self.side_dim)
        feat = self.backbone.forward_features(x)
        seq = feat.flatten(2).transpose(1, 2)  # (B, L', D); flatten also drops the 2-D unit axis
        tokens = self.side_embed(side)
        tokens = tokens + self.attn(tokens, seq)
        tokens = tokens + self.mlp(tokens)
        return torch.cat([self.backbone.pool(feat), tokens.flatten(1)], dim=1)

    def forward(self, x: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        return self.classifier(self.dropout(self.forward_fused(x, side)))


def _spec(side_spec, default: SideSpec) -> SideSpec:
    if side_spec is None:
        return default
    if isinstance(side_spec, SideSpec):
        return side_spec
    return SideSpec(tuple(side_spec))


def _fusion(backbone: EfficientECGConfig, side_spec: SideSpec, embed_dim: int, num_heads: int,
            **overrides) -> EfficientECGFusion:
    backbone = replace(backbone, **{k: v for k, v in overrides.items() if v is not None})
    return EfficientECGFusion(FusionConfig(backbone, side_spec, embed_dim, num_heads))


@register_model
def efficientecg_beat_fusion(in_leads: int = 1, num_classes: int = 5,
                             input_len: int | None = None, drop_rate: float | None = None,
                             side_spec: SideSpec | tuple[str, ...] | None = None):
    """``efficientecg_beat`` + RR-interval token (side spec ``('rr',)``, 7 floats)."""
    return _fusion(BEAT_CFG, _spec(side_spec, RR_SPEC), 32, 2, in_leads=in_leads,
                   num_classes=num_classes, input_len=input_len, drop_rate=drop_rate)


@register_model
def efficientecg_beat_lite_fusion(in_leads: int = 1, num_classes: int = 5,
                                  input_len: int | None = None, drop_rate: float | None = None,
                                  side_spec: SideSpec | tuple[str, ...] | None = None):
    """``efficientecg_beat_lite`` (ReLU6, no squeeze-excitation: the int8-friendly form) + the
    RR-interval token of ``efficientecg_beat_fusion``."""
    return _fusion(BEAT_LITE_CFG, _spec(side_spec, RR_SPEC), 32, 2, in_leads=in_leads,
                   num_classes=num_classes, input_len=input_len, drop_rate=drop_rate)


@register_model
def efficientecg_b0_fusion(in_leads: int = 12, num_classes: int = 5,
                           input_len: int | None = None, drop_rate: float | None = None,
                           side_spec: SideSpec | tuple[str, ...] | None = None):
    """``efficientecg_b0`` + age and sex tokens (side spec ``('age', 'sex')``, 5 floats)."""
    return _fusion(EfficientECGConfig(), _spec(side_spec, AGE_SEX_SPEC), 64, 4,
                   in_leads=in_leads, num_classes=num_classes, input_len=input_len,
                   drop_rate=drop_rate)
