"""Side inputs of the fusion models: one float vector per example, numpy only (no torch).

The runtime and the datasets import this module to turn RR intervals, age and sex into the
``side`` tensor that a fused model takes next to the ECG window. It must stay torch-free:
``edge_ecg.models`` imports its torch modules lazily, so ``from edge_ecg.models.side import
encode_side`` works in the light runtime install.

Layout
------
A :class:`SideSpec` names the groups in order; the vector is their concatenation.

``rr`` (7 floats), from the four RR features of :mod:`edge_ecg.signal.rr`
(``pre_rr_s, post_rr_s, local_rr_s, avg_rr_s``), each first clipped to
[``RR_MIN_S``, ``RR_MAX_S``] = [0.1 s, 4.0 s] so that a missed or spurious detection cannot blow
up a feature::

    0 rr.ln_pre        ln(pre_rr_s / 1 s)
    1 rr.ln_post       ln(post_rr_s / 1 s)
    2 rr.ln_local      ln(local_rr_s / 1 s)
    3 rr.ln_avg        ln(avg_rr_s / 1 s)
    4 rr.pre_ratio     pre_rr_s / avg_rr_s - 1
    5 rr.post_ratio    post_rr_s / avg_rr_s - 1
    6 rr.local_ratio   local_rr_s / avg_rr_s - 1

The logarithms keep absolute rate information on a scale that is roughly zero-mean (ln 1 s = 0,
60-150 bpm spans -0.9 … 0); the ratios to the patient's own average are what make
inter-patient S/V detection work (a premature beat has ``pre_ratio`` well below 0 and a
compensatory pause ``post_ratio`` above 0 whatever the patient's resting rate). They are not
redundant with the logarithms for the model: a linear layer cannot form a ratio from logs.

``age`` (2 floats): ``[age_years / 100, known]``; unknown age is ``[0, 0]`` and the model
replaces the age token by a learned "unknown" embedding (it never sees a fake age of 0 years).

``sex`` (3 floats, one-hot): ``[unknown, male, female]``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_ecg.errors import ConfigError

RR_MIN_S = 0.1
RR_MAX_S = 4.0
AGE_MAX_YEARS = 130.0

GROUP_FEATURES: dict[str, tuple[str, ...]] = {
    "rr": (
        "ln_pre",
        "ln_post",
        "ln_local",
        "ln_avg",
        "pre_ratio",
        "post_ratio",
        "local_ratio",
    ),
    "age": ("years_div_100", "known"),
    "sex": ("unknown", "male", "female"),
}

_MALE = {"m", "male"}
_FEMALE = {"f", "female"}
_UNKNOWN_SEX = {"", "u", "unknown", "nan", "none"}


@dataclass(frozen=True)
class SideSpec:
    """Which side groups a model takes, in order; travels in the model manifest.

    ``groups`` is a tuple of names from ``GROUP_FEATURES`` (``'rr'``, ``'age'``, ``'sex'``),
    each at most once.
    """

    groups: tuple[str, ...]

    def __post_init__(self):
        groups = self.groups
        if isinstance(groups, str) or not isinstance(groups, Sequence):
            raise ConfigError(f"SideSpec.groups must be a tuple of group names, got {groups!r}")
        object.__setattr__(self, "groups", tuple(groups))
        if not self.groups:
            raise ConfigError("SideSpec.groups is empty; a model without side inputs has no spec")
        for g in self.groups:
            if g not in GROUP_FEATURES:
                raise ConfigError(
                    f"unknown side group {g!r}; expected one of {sorted(GROUP_FEATURES)}"
                )
        if len(set(self.groups)) != len(self.groups):
            raise ConfigError(f"side groups must be unique, got {self.groups!r}")

    @property
    def dim(self) -> int:
        """Length of the side vector."""
        return sum(len(GROUP_FEATURES[g]) for g in self.groups)

    def slice(self, group: str) -> slice:
        """Columns of ``group`` in the side vector."""
        start = 0
        for g in self.groups:
            n = len(GROUP_FEATURES[g])
            if g == group:
                return slice(start, start + n)
            start += n
        raise ConfigError(f"side group {group!r} is not in this spec {self.groups!r}")

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Column names, ``'group.feature'``."""
        return tuple(f"{g}.{f}" for g in self.groups for f in GROUP_FEATURES[g])

    def to_dict(self) -> dict:
        """JSON-ready description for the manifest."""
        return {"groups": list(self.groups), "dim": self.dim, "features": list(self.feature_names)}

    @classmethod
    def from_dict(cls, d: dict) -> SideSpec:
        """Inverse of :meth:`to_dict`; checks that the stored feature names still match."""
        try:
            spec = cls(tuple(d["groups"]))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"side spec needs a 'groups' list, got {d!r}") from exc
        if "features" in d and tuple(d["features"]) != spec.feature_names:
            raise ConfigError(
                f"side spec features {d['features']!r} do not match this version's "
                f"encoding {list(spec.feature_names)!r}"
            )
        return spec


RR_SPEC = SideSpec(("rr",))
AGE_SEX_SPEC = SideSpec(("age", "sex"))


def _encode_rr(rr) -> tuple[np.ndarray, bool]:
    a = np.asarray(rr, dtype=np.float64)
    batched = a.ndim == 2
    if a.ndim not in (1, 2) or a.shape[-1] != 4:
        raise ConfigError(
            f"rr must have shape (4,) or (n, 4) (pre, post, local, avg in seconds), got {a.shape}"
        )
    a = np.atleast_2d(a)
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ConfigError("rr intervals must be finite and > 0 s")
    a = np.clip(a, RR_MIN_S, RR_MAX_S)
    ratios = a[:, :3] / a[:, 3:4] - 1.0
    return np.concatenate([np.log(a), ratios], axis=1), batched


def _encode_age(age) -> tuple[np.ndarray, bool]:
    if age is None:
        return np.zeros((1, 2)), False
    try:
        a = np.asarray(age, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"age {age!r}: expected years as a number (or None for unknown)") from None
    if np.asarray(age).dtype.kind == "b":  # True is not 1 year
        raise ConfigError(f"age {age!r}: expected years as a number (or None for unknown)")
    if a.ndim > 1:
        raise ConfigError(f"age must be a number or a 1-D array (years), got shape {a.shape}")
    batched = a.ndim == 1
    a = np.atleast_1d(a)
    known = np.isfinite(a)
    bad = known & ((a < 0) | (a > AGE_MAX_YEARS))
    if np.any(bad):
        raise ConfigError(
            f"age {float(a[bad][0]):g} years is outside [0, {AGE_MAX_YEARS:g}]; pass None or NaN for "
            "unknown (map dataset placeholders such as PTB-XL's 300 or -1 before encoding)"
        )
    out = np.zeros((a.size, 2))
    out[known, 0] = a[known] / 100.0
    out[known, 1] = 1.0
    return out, batched


def _sex_index(value) -> int:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0
    if not isinstance(value, str):
        raise ConfigError(f"sex must be 'male', 'female', 'M', 'F' or None, got {value!r}")
    v = value.strip().lower()
    if v in _MALE:
        return 1
    if v in _FEMALE:
        return 2
    if v in _UNKNOWN_SEX:
        return 0
    raise ConfigError(f"sex must be 'male', 'female', 'M', 'F' or None, got {value!r}")


def _encode_sex(sex) -> tuple[np.ndarray, bool]:
    batched = isinstance(sex, (list, tuple, np.ndarray))
    values = list(sex) if batched else [sex]
    out = np.zeros((len(values), 3))
    out[np.arange(len(values)), [_sex_index(v) for v in values]] = 1.0
    return out, batched


def check_age_sex(age=None, sex=None) -> None:
    """:class:`ConfigError` naming the value unless ``age`` (years: a number, or ``None``) and
    ``sex`` (a string :func:`encode_side` knows, or ``None``) describe one patient, so a bad
    value is refused before a stream starts rather than at its first window."""
    if age is not None and (isinstance(age, bool) or not isinstance(age, numbers.Real)):
        raise ConfigError(f"age {age!r}: expected one patient's age in years (a number) or None for unknown")
    if sex is not None and not isinstance(sex, str):
        raise ConfigError(f"sex {sex!r}: expected 'male', 'female', 'M', 'F' or None for one patient")
    _encode_age(age)
    _encode_sex(sex)


def encode_side(rr=None, age=None, sex=None, *, spec: SideSpec) -> np.ndarray:
    """Encode side inputs into the float32 vector(s) ``spec`` describes (see module doc).

    ``rr``: the 4 RR features in seconds, shape ``(4,)`` or ``(n, 4)`` (required when the spec
    has ``'rr'``). ``age``: years, a number / ``None`` / NaN (unknown) or a 1-D array.
    ``sex``: ``'male'``/``'M'``, ``'female'``/``'F'``, ``None`` (unknown) or a sequence of those.
    Returns shape ``(spec.dim,)``, or ``(n, spec.dim)`` when any input is batched.
    """
    if not isinstance(spec, SideSpec):
        raise ConfigError(f"spec must be a SideSpec, got {spec!r}")
    given = {"rr": rr is not None, "age": age is not None, "sex": sex is not None}
    for g, is_given in given.items():
        if is_given and g not in spec.groups:
            raise ConfigError(f"{g} was given but the side spec {spec.groups!r} has no {g!r} group")
    parts: list[np.ndarray] = []
    batched = False
    for g in spec.groups:
        if g == "rr":
            if rr is None:
                raise ConfigError("the side spec has an 'rr' group but rr=None was given")
            p, b = _encode_rr(rr)
        elif g == "age":
            p, b = _encode_age(age)
        else:
            p, b = _encode_sex(sex)
        parts.append(p)
        batched = batched or b
    n = max(p.shape[0] for p in parts)
    for g, p in zip(spec.groups, parts, strict=True):
        if p.shape[0] not in (1, n):
            raise ConfigError(f"side group {g!r} has {p.shape[0]} rows, others have {n}")
    out = np.concatenate([np.broadcast_to(p, (n, p.shape[1])) for p in parts], axis=1)
    out = out.astype(np.float32)
    return out if batched else out[0]
