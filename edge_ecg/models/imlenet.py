"""IMLE-Net: interpretable multi-level, multi-channel ECG classifier (Reddy et al., IEEE SMC 2021).

Three levels of attention, each an additive (tanh) attention pooling:

1. **beat** — every lead is cut into beats of ``beat_len`` samples; each beat, as its own
   single-channel example, goes through a conv stem and residual blocks (shared by all leads);
   attention over the beat's time steps pools it to one vector;
2. **rhythm** — a BiLSTM runs over a lead's sequence of beat vectors; attention over beats
   pools it to one vector per lead;
3. **channel** — attention over the leads pools them to one vector → linear classifier
   (logits; multi-label training applies the sigmoid in the loss).

PTB-XL configuration (the defaults): 12 × 1000 samples (10 s at 100 Hz), beats of 50 samples,
kernel 8, residual blocks [2, 2, 2] with 32 → 64 → 128 filters (stride 2 at the first block of
stages 2 and 3), a 64-unit BiLSTM and attention width 64.

Deviations from the reference Keras code, for export: each BatchNorm sits between its conv
and the ReLU (the reference applies ReLU then BN), so every BN folds into a conv; padding is
TensorFlow-style 'same' computed once from the known lengths (explicit pads, no data-dependent
shapes). As in the reference, each attention has a learned bias per position (time step, beat
slot, lead), so the input length is fixed to ``input_len`` (a multiple of ``beat_len``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edge_ecg.errors import ConfigError, SignalError
from edge_ecg.models.checks import check_ecg, check_side
from edge_ecg.models.registry import register_model


def _same_pad(length: int, kernel: int, stride: int) -> tuple[tuple[int, int], int]:
    """TF 'same' padding ``(left, right)`` and output length for a conv on ``length`` samples."""
    out = -(-length // stride)
    total = max((out - 1) * stride + kernel - length, 0)
    return (total // 2, total - total // 2), out


@dataclass(frozen=True)
class IMLENetConfig:
    in_leads: int = 12
    input_len: int = 1000
    beat_len: int = 50
    kernel: int = 8
    blocks: tuple[int, ...] = (2, 2, 2)
    start_filters: int = 32
    lstm_units: int = 64
    attention_dim: int = 64
    num_classes: int = 5

    def __post_init__(self):
        object.__setattr__(self, "blocks", tuple(self.blocks))
        for name in ("in_leads", "input_len", "beat_len", "kernel", "start_filters",
                     "lstm_units", "attention_dim", "num_classes"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if self.input_len % self.beat_len:
            raise ConfigError(
                f"input_len {self.input_len} must be a multiple of beat_len {self.beat_len}"
            )
        if not self.blocks or any(not isinstance(b, int) or b < 1 for b in self.blocks):
            raise ConfigError(f"blocks must be a non-empty tuple of integers >= 1, got {self.blocks!r}")


class PaddedConv(nn.Module):
    """Explicit (left, right) zero padding then a conv with ``padding=0``."""

    def __init__(self, in_chs: int, out_chs: int, kernel: int, stride: int,
                 pad: tuple[int, int], bias: bool = False):
        super().__init__()
        self.pad = tuple(pad)
        self.conv = nn.Conv1d(in_chs, out_chs, kernel, stride=stride, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad != (0, 0):
            x = F.pad(x, self.pad)
        return self.conv(x)


class ResidualBlock(nn.Module):
    """conv(k, s) → BN → ReLU → conv(k) → BN, + shortcut (1×1 conv s → BN when the shape
    changes) → ReLU."""

    conv_bn_pairs = (("conv1", "bn1"), ("conv2", "bn2"), ("conv_sc", "bn_sc"))

    def __init__(self, in_chs: int, out_chs: int, kernel: int, stride: int, length: int):
        super().__init__()
        pad1, mid = _same_pad(length, kernel, stride)
        pad2, _ = _same_pad(mid, kernel, 1)
        self.out_len = mid
        self.conv1 = PaddedConv(in_chs, out_chs, kernel, stride, pad1)
        self.bn1 = nn.BatchNorm1d(out_chs)
        self.act1 = nn.ReLU()
        self.conv2 = PaddedConv(out_chs, out_chs, kernel, 1, pad2)
        self.bn2 = nn.BatchNorm1d(out_chs)
        if stride != 1 or in_chs != out_chs:
            self.conv_sc = nn.Conv1d(in_chs, out_chs, 1, stride=stride, bias=False)
            self.bn_sc = nn.BatchNorm1d(out_chs)
        else:
            self.conv_sc = nn.Identity()
            self.bn_sc = nn.Identity()
        self.act2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.act2(y + self.bn_sc(self.conv_sc(x)))


class AttentionPool(nn.Module):
    """Additive attention pooling over axis 1: ``a = softmax_t(v·tanh(W x_t + b_t))``,
    ``out = Σ_t a_t x_t``; ``b_t`` is a learned bias per position (``steps`` of them)."""

    def __init__(self, in_dim: int, dim: int, steps: int):
        super().__init__()
        self.proj = nn.Linear(in_dim, dim, bias=False)
        self.pos_bias = nn.Parameter(torch.zeros(steps, dim))
        self.score = nn.Linear(dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (N, T, F) → (pooled (N, F), weights (N, T))``."""
        e = self.score(torch.tanh(self.proj(x) + self.pos_bias))
        a = torch.softmax(e, dim=1)
        return (x * a).sum(dim=1), a.squeeze(-1)


class IMLENet(nn.Module):
    """``forward(x[B, in_leads, input_len], side=None) -> logits[B, num_classes]``."""

    conv_bn_pairs = (("conv_stem", "bn1"),)

    def __init__(self, cfg: IMLENetConfig = IMLENetConfig()):
        super().__init__()
        self.cfg = cfg
        self.n_beats = cfg.input_len // cfg.beat_len
        pad, length = _same_pad(cfg.beat_len, cfg.kernel, 1)
        self.conv_stem = PaddedConv(1, cfg.start_filters, cfg.kernel, 1, pad)
        self.bn1 = nn.BatchNorm1d(cfg.start_filters)
        self.act1 = nn.ReLU()
        blocks, chs = [], cfg.start_filters
        for i, n in enumerate(cfg.blocks):
            filters = cfg.start_filters * 2 ** i
            for j in range(n):
                block = ResidualBlock(chs, filters, cfg.kernel, 2 if (j == 0 and i > 0) else 1,
                                      length)
                blocks.append(block)
                chs, length = filters, block.out_len
        self.blocks = nn.Sequential(*blocks)
        self.beat_attention = AttentionPool(chs, cfg.attention_dim, length)
        self.lstm = nn.LSTM(chs, cfg.lstm_units, batch_first=True, bidirectional=True)
        self.rhythm_attention = AttentionPool(2 * cfg.lstm_units, cfg.attention_dim, self.n_beats)
        self.channel_attention = AttentionPool(2 * cfg.lstm_units, cfg.attention_dim, cfg.in_leads)
        self.classifier = nn.Linear(2 * cfg.lstm_units, cfg.num_classes)

        self.num_classes = cfg.num_classes
        self.in_leads = cfg.in_leads
        self.default_input_shape = (cfg.in_leads, cfg.input_len)
        self.side_dim = 0
        self.side_spec = None

    def _check(self, x: torch.Tensor) -> None:
        check_ecg(x, self.in_leads)
        if x.shape[-1] != self.cfg.input_len:
            raise SignalError(
                f"IMLE-Net takes exactly {self.cfg.input_len} samples per lead (its attention "
                f"has a bias per beat slot), got {x.shape[-1]}"
            )

    def forward_attention(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits and the three attention maps, for interpretation: ``beat`` (B, leads, beats,
        steps), ``rhythm`` (B, leads, beats), ``channel`` (B, leads)."""
        self._check(x)
        c, nb = self.in_leads, self.n_beats
        h = x.reshape(-1, 1, self.cfg.beat_len)  # every (example, lead, beat) is one sequence
        h = self.blocks(self.act1(self.bn1(self.conv_stem(h))))
        h, a_beat = self.beat_attention(h.transpose(1, 2))
        h, _ = self.lstm(h.reshape(-1, nb, h.shape[-1]))
        h, a_rhythm = self.rhythm_attention(h)
        h, a_channel = self.channel_attention(h.reshape(-1, c, h.shape[-1]))
        return {
            "logits": self.classifier(h),
            "beat": a_beat.reshape(-1, c, nb, a_beat.shape[-1]),
            "rhythm": a_rhythm.reshape(-1, c, nb),
            "channel": a_channel,
        }

    def forward(self, x: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        check_side(side, 0)
        return self.forward_attention(x)["logits"]


@register_model
def imlenet(in_leads: int = 12, num_classes: int = 5, input_len: int | None = None,
            beat_len: int | None = None):
    """IMLE-Net, PTB-XL configuration (12 × 1000 at 100 Hz, beats of 50 samples)."""
    kw = {k: v for k, v in {"input_len": input_len, "beat_len": beat_len}.items() if v is not None}
    return IMLENet(IMLENetConfig(in_leads=in_leads, num_classes=num_classes, **kw))
