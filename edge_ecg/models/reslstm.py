"""ResLSTM-TemporalSE: stacked LSTMs with residual skips and temporal squeeze-excitation.

    x (B, leads, L) → conv k7 s2 → BN → ReLU → conv k5 s2 → BN → ReLU     (B, H, L/4)
      → [ h = h + LSTM(h);  h = TemporalSE(h) ] × num_layers             (B, L/4, H)
      → temporal attention pooling → dropout → linear                    (B, classes)

The strided conv front end shortens the sequence four-fold so the recurrent layers run over
~250 steps for 10 s at 100 Hz instead of 1000. Every LSTM keeps the width ``H`` so each layer
is a residual update of the one before (deep LSTM stacks train poorly without the skip).

TemporalSE is a squeeze-excitation whose *squeeze* is an attention-weighted sum over time,
``s = Σ_t softmax_t(v·tanh(W h_t)) h_t``, instead of the plain mean: the channel gates are
computed from the moments the network finds informative (a few abnormal beats in a long
window would be averaged away by a mean). The excitation is the usual bottleneck
``sigmoid(W₂ ReLU(W₁ s))`` scaling every time step's channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from edge_ecg.errors import ConfigError
from edge_ecg.models.checks import check_ecg, check_side
from edge_ecg.models.registry import register_model


@dataclass(frozen=True)
class ResLSTMConfig:
    in_leads: int = 12
    input_len: int = 1000
    num_classes: int = 5
    hidden: int = 64
    num_layers: int = 3
    se_ratio: float = 0.25
    attention_dim: int = 32
    drop_rate: float = 0.2

    def __post_init__(self):
        for name in ("in_leads", "input_len", "num_classes", "hidden", "num_layers",
                     "attention_dim"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if not 0.0 < self.se_ratio <= 1.0:
            raise ConfigError(f"se_ratio must be in (0, 1], got {self.se_ratio!r}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ConfigError(f"drop_rate must be in [0, 1), got {self.drop_rate!r}")


class TemporalAttention(nn.Module):
    """``x (B, T, H) → (Σ_t a_t x_t (B, H), a (B, T))`` with ``a = softmax_t(v·tanh(W x_t))``."""

    def __init__(self, dim: int, attention_dim: int):
        super().__init__()
        self.proj = nn.Linear(dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.softmax(self.score(torch.tanh(self.proj(x))), dim=1)
        return (x * a).sum(dim=1), a.squeeze(-1)


class TemporalSE(nn.Module):
    """Squeeze-excitation with an attention-pooled squeeze (see the module docstring)."""

    def __init__(self, dim: int, rd_dim: int, attention_dim: int):
        super().__init__()
        self.squeeze = TemporalAttention(dim, attention_dim)
        self.fc1 = nn.Linear(dim, rd_dim)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(rd_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, _ = self.squeeze(x)
        g = torch.sigmoid(self.fc2(self.act(self.fc1(s))))
        return x * g.unsqueeze(1)


class ResLSTMBlock(nn.Module):
    """``h + LSTM(h)`` then TemporalSE."""

    def __init__(self, dim: int, rd_dim: int, attention_dim: int):
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, batch_first=True)
        self.tse = TemporalSE(dim, rd_dim, attention_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(x)
        return self.tse(x + y)


class ResLSTMTSE(nn.Module):
    """``forward(x[B, in_leads, L], side=None) -> logits[B, num_classes]``; any ``L`` ≥ 4."""

    conv_bn_pairs = (("conv1", "bn1"), ("conv2", "bn2"))

    def __init__(self, cfg: ResLSTMConfig = ResLSTMConfig()):
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.conv1 = nn.Conv1d(cfg.in_leads, h, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm1d(h)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv1d(h, h, 5, stride=2, padding=2, bias=False)
        self.bn2 = nn.BatchNorm1d(h)
        self.act2 = nn.ReLU()
        rd = max(1, int(round(h * cfg.se_ratio)))
        self.layers = nn.Sequential(
            *[ResLSTMBlock(h, rd, cfg.attention_dim) for _ in range(cfg.num_layers)]
        )
        self.pool = TemporalAttention(h, cfg.attention_dim)
        self.dropout = nn.Dropout(cfg.drop_rate)
        self.classifier = nn.Linear(h, cfg.num_classes)

        self.num_classes = cfg.num_classes
        self.in_leads = cfg.in_leads
        self.default_input_shape = (cfg.in_leads, cfg.input_len)
        self.side_dim = 0
        self.side_spec = None

    def forward(self, x: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        check_side(side, 0)
        check_ecg(x, self.in_leads)
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.layers(x.transpose(1, 2))
        pooled, _ = self.pool(x)
        return self.classifier(self.dropout(pooled))


@register_model
def reslstm_tse(in_leads: int = 12, num_classes: int = 5, input_len: int | None = None,
                drop_rate: float | None = None):
    """ResLSTM-TemporalSE: 3 residual LSTM layers of 64 units, 12 × 1000 (10 s at 100 Hz)."""
    kw = {k: v for k, v in {"input_len": input_len, "drop_rate": drop_rate}.items()
          if v is not None}
    return ResLSTMTSE(ResLSTMConfig(in_leads=in_leads, num_classes=num_classes, **kw))
