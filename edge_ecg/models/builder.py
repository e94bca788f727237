"""Architecture strings → block configs → modules (the timm EfficientNet builder, in 1-D).

A network body is a list of *stages*; each stage is one block string (or a list of them). A
block string is ``<type>_<option>_<option>…``::

    type      ds   depthwise-separable (depthwise k → SE → pointwise), no expansion
              ir   inverted residual / MBConv (1×1 expand → depthwise k → SE → 1×1 project)
              cn   plain conv k → BN → act
    r<int>    repeats, ≥ 1 (required). The first repeat carries the stride, the rest stride 1.
    k<int>    kernel size in samples, odd, ≥ 1 (required)
    s<int>    stride, 1 or 2 (required)
    e<float>  expansion ratio, ≥ 1 (``ir`` only; default 1)
    c<int>    output channels, ≥ 1 (required)
    se<float> squeeze-excitation ratio of the block's input channels, 0 ≤ se ≤ 1
              (``ds``/``ir`` only; default 0 = no SE)
    n<act>    activation override for this block: ``nre`` ReLU, ``nr6`` ReLU6, ``nsw`` SiLU
              (default: the model's activation)
    noskip    no residual even when stride is 1 and the width is unchanged

Examples: ``'ds_r1_k3_s1_c16_se0.25'``, ``'ir_r2_k5_s2_e6_c24_se0.25'``,
``'ir_r1_k3_s1_e4_c32_nre'``. Options may come in any order; :func:`encode_block` writes the
canonical order ``r k s e c se n noskip`` and ``decode_block(encode_block(a)) == a``.

Compound scaling (:func:`scale_stages`): output channels × ``width_mult`` rounded to a multiple of
``divisor`` (8) never more than 10 % below the product; repeats × ``depth_mult`` rounded up.

Any illegal value raises :class:`~edge_ecg.errors.ConfigError` naming the token and the block
string, e.g. ``illegal stride value 3 in token 's3' of block 'ir_r2_k5_s3_e6_c24': expected 1
or 2``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from torch import nn

from edge_ecg.errors import ConfigError
from edge_ecg.models.blocks import ConvBnAct, DepthwiseSeparable, MBConv, make_divisible

BLOCK_TYPES = ("ds", "ir", "cn")
_ACT_CODES = {"re": "relu", "r6": "relu6", "sw": "silu"}
_ACT_NAMES = {v: k for k, v in _ACT_CODES.items()}
_INT = re.compile(r"^\d+$")
_FLOAT = re.compile(r"^\d+(\.\d+)?$")

# field → (token key, name in messages, legal?, what is expected)
_RULES = {
    "repeats": ("r", "repeats", lambda v: v >= 1, "an integer >= 1"),
    "kernel": ("k", "kernel", lambda v: v >= 1 and v % 2 == 1, "an odd integer >= 1"),
    "stride": ("s", "stride", lambda v: v in (1, 2), "1 or 2"),
    "out_chs": ("c", "channel", lambda v: v >= 1, "an integer >= 1"),
    "exp_ratio": ("e", "expansion", lambda v: v >= 1.0, "a number >= 1"),
    "se_ratio": ("se", "se ratio", lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]"),
}
_KEY_TO_FIELD = {rule[0]: field for field, rule in _RULES.items()}


def _illegal(field: str, value, where: str = "") -> ConfigError:
    _, name, _, expected = _RULES[field]
    return ConfigError(f"illegal {name} value {value!r}{where}: expected {expected}")


@dataclass(frozen=True)
class BlockArgs:
    """One decoded block string (see the module docstring for the grammar)."""

    block_type: str
    repeats: int
    kernel: int
    stride: int
    out_chs: int
    exp_ratio: float = 1.0
    se_ratio: float = 0.0
    act: str | None = None
    noskip: bool = False

    def __post_init__(self):
        if self.block_type not in BLOCK_TYPES:
            raise ConfigError(
                f"illegal block type {self.block_type!r}: expected one of {BLOCK_TYPES}"
            )
        for field in _RULES:
            value = getattr(self, field)
            if not _RULES[field][2](value):
                raise _illegal(field, value)
        if self.block_type != "ir" and self.exp_ratio != 1.0:
            raise ConfigError(
                f"illegal expansion value {self.exp_ratio!r} for a {self.block_type!r} block: "
                "only 'ir' blocks expand"
            )
        if self.block_type == "cn" and self.se_ratio > 0:
            raise ConfigError(f"illegal se ratio value {self.se_ratio!r}: 'cn' blocks have no SE")
        if self.act is not None and self.act not in _ACT_NAMES:
            raise ConfigError(
                f"illegal activation {self.act!r}: expected one of {sorted(_ACT_NAMES)} or None"
            )


def decode_block(block_str: str) -> BlockArgs:
    """Parse one block string (grammar in the module docstring)."""
    if not isinstance(block_str, str) or not block_str:
        raise ConfigError(f"a block string must be a non-empty str, got {block_str!r}")
    tokens = block_str.split("_")
    block_type, options = tokens[0], tokens[1:]
    if block_type not in BLOCK_TYPES:
        raise ConfigError(
            f"illegal block type {block_type!r} in block {block_str!r}: expected one of "
            f"{BLOCK_TYPES}"
        )
    kw: dict = {}
    for tok in options:
        where = f" in token {tok!r} of block {block_str!r}"
        if tok == "noskip":
            field, value = "noskip", True
        elif tok.startswith("se"):
            field, raw = "se_ratio", tok[2:]
            if not _FLOAT.match(raw):
                raise _illegal(field, raw, where)
            value = float(raw)
        elif tok.startswith("n") and len(tok) > 1:
            field = "act"
            if tok[1:] not in _ACT_CODES:
                raise ConfigError(
                    f"illegal activation {tok[1:]!r}{where}: expected one of "
                    f"{['n' + c for c in _ACT_CODES]}"
                )
            value = _ACT_CODES[tok[1:]]
        elif tok[:1] in _KEY_TO_FIELD:
            field, raw = _KEY_TO_FIELD[tok[:1]], tok[1:]
            if field == "exp_ratio":
                if not _FLOAT.match(raw):
                    raise _illegal(field, raw, where)
                value = float(raw)
            else:
                if not _INT.match(raw):
                    raise _illegal(field, raw, where)
                value = int(raw)
        else:
            raise ConfigError(f"unknown option {tok!r} in block {block_str!r}")
        if field in kw:
            raise ConfigError(f"option {tok!r} repeats an earlier one in block {block_str!r}")
        if field in _RULES and not _RULES[field][2](value):
            raise _illegal(field, value, where)
        kw[field] = value
    for field, key in (("repeats", "r"), ("kernel", "k"), ("stride", "s"), ("out_chs", "c")):
        if field not in kw:
            raise ConfigError(f"block {block_str!r} lacks the required option '{key}<int>'")
    try:
        return BlockArgs(block_type=block_type, **kw)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (block {block_str!r})") from None


def encode_block(args: BlockArgs) -> str:
    """Canonical block string of ``args``; ``decode_block(encode_block(a)) == a``."""
    parts = [args.block_type, f"r{args.repeats}", f"k{args.kernel}", f"s{args.stride}"]
    if args.block_type == "ir":
        parts.append(f"e{args.exp_ratio:g}")
    parts.append(f"c{args.out_chs}")
    if args.se_ratio > 0:
        parts.append(f"se{args.se_ratio:g}")
    if args.act is not None:
        parts.append("n" + _ACT_NAMES[args.act])
    if args.noskip:
        parts.append("noskip")
    return "_".join(parts)


def round_channels(chs: int, width_mult: float = 1.0, divisor: int = 8) -> int:
    """Width scaling: ``chs × width_mult`` rounded to a multiple of ``divisor`` (≥ 90 %)."""
    if not width_mult > 0:
        raise ConfigError(f"width multiplier must be > 0, got {width_mult!r}")
    return make_divisible(chs * width_mult, divisor)


def scale_repeats(repeats: int, depth_mult: float = 1.0) -> int:
    """Depth scaling: ``ceil(repeats × depth_mult)``."""
    if not depth_mult > 0:
        raise ConfigError(f"depth multiplier must be > 0, got {depth_mult!r}")
    return int(math.ceil(repeats * depth_mult))


def scale_stages(arch: Sequence[str | Sequence[str]], width_mult: float = 1.0,
                 depth_mult: float = 1.0, divisor: int = 8) -> list[list[BlockArgs]]:
    """Decode an architecture (list of stages of block strings) and apply compound scaling."""
    if isinstance(arch, str) or not arch:
        raise ConfigError(f"an architecture is a non-empty list of stages, got {arch!r}")
    stages = []
    for stage in arch:
        strs = [stage] if isinstance(stage, str) else list(stage)
        stages.append([
            replace(a, out_chs=round_channels(a.out_chs, width_mult, divisor),
                    repeats=scale_repeats(a.repeats, depth_mult))
            for a in map(decode_block, strs)
        ])
    return stages


def build_block(args: BlockArgs, in_chs: int, stride: int, *, act: str, se_gate: str,
                drop_path: float) -> nn.Module:
    """One module for one repeat of ``args`` (``stride`` overrides the first-repeat stride)."""
    act = args.act or act
    if args.block_type == "ds":
        return DepthwiseSeparable(in_chs, args.out_chs, args.kernel, stride, act=act,
                                  se_ratio=args.se_ratio, se_gate=se_gate, noskip=args.noskip,
                                  drop_path=drop_path)
    if args.block_type == "ir":
        return MBConv(in_chs, args.out_chs, args.kernel, stride, exp_ratio=args.exp_ratio,
                      act=act, se_ratio=args.se_ratio, se_gate=se_gate, noskip=args.noskip,
                      drop_path=drop_path)
    return ConvBnAct(in_chs, args.out_chs, args.kernel, stride, act=act,
                     skip=not args.noskip, drop_path=drop_path)


def build_stages(stages: Sequence[Sequence[BlockArgs]], in_chs: int, *, act: str,
                 se_gate: str = "sigmoid", drop_path_rate: float = 0.0
                 ) -> tuple[nn.Sequential, int]:
    """Modules for decoded stages: ``(Sequential of stage Sequentials, output channels)``.

    Drop-path grows linearly with block index from 0 to ``drop_path_rate`` (timm's rule).
    """
    total = sum(a.repeats for stage in stages for a in stage)
    idx = 0
    out = []
    for stage in stages:
        blocks = []
        for args in stage:
            for rep in range(args.repeats):
                dp = drop_path_rate * idx / max(total - 1, 1)
                blocks.append(build_block(args, in_chs, args.stride if rep == 0 else 1,
                                          act=act, se_gate=se_gate, drop_path=dp))
                in_chs = args.out_chs
                idx += 1
        out.append(nn.Sequential(*blocks))
    return nn.Sequential(*out), in_chs
