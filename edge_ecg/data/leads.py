"""Lead selection by name and derivation of the limb leads.

Names match case-insensitively; MIT-BIH's modified limb lead ``MLII`` is accepted as lead II.
Einthoven/Goldberger relations let four limb leads be derived from any two of I, II, III::

    III = II - I        aVR = -(I + II) / 2        aVL = I - II / 2        aVF = II - I / 2

so a device recording I, II and V1-V6 (eight independent channels) feeds a 12-lead model
(:func:`select_leads` with ``derive=True``), and :func:`reduce_to_8` drops the redundant four.
A lead that is neither present nor derivable raises :class:`~edge_ecg.errors.DeviceMismatchError`
naming it and the leads that are available.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from edge_ecg.errors import DeviceMismatchError, SignalError

STANDARD_12_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)  # fmt: skip
EIGHT_LEADS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
DERIVED_LIMB_LEADS: tuple[str, ...] = ("III", "aVR", "aVL", "aVF")

# lower-case alias -> lower-case canonical name
_ALIASES = {"mlii": "ii", "ml2": "ii", "lead ii": "ii", "mli": "i", "mliii": "iii"}
# A device or database that does not name its lead (BITalino's "ECG", a Holter's "ECG1"/"ECG2",
# hobby boards) is taken to record lead II on its first such channel: that is where rhythm-strip
# electrodes are placed. Only lead II is ever filled in this way.
_UNNAMED_CHANNEL = re.compile(r"(ecg|ekg)[ _-]?[01]?")


# EDF and many Holter exports prefix the lead with the signal type: "ECG II", "EKG V1", "ECG-aVR".
_TYPED_LEAD = re.compile(r"(?:ecg|ekg)[ _-]+(.+)")
_LEAD_KEYS = {name.lower() for name in STANDARD_12_LEADS} | set(_ALIASES)


def canonical_lead(name: str) -> str:
    """Lower-case canonical key of a lead name (``'MLII'`` -> ``'ii'``, ``'AVR'`` -> ``'avr'``,
    ``'ECG II'`` -> ``'ii'``; ``'ECG 1'`` stays a channel number, not lead I)."""
    key = name.strip().lower()
    typed = _TYPED_LEAD.fullmatch(key)
    if typed and typed.group(1) in _LEAD_KEYS:
        key = typed.group(1)
    return _ALIASES.get(key, key)


def lead_index(lead_names: Sequence[str], lead: str | int) -> int:
    """Column of ``lead`` (a name, or an index) among ``lead_names``."""
    if isinstance(lead, (int, np.integer)):
        if not -len(lead_names) <= int(lead) < len(lead_names):
            raise DeviceMismatchError(
                f"lead index {lead} is out of range; available leads: {list(lead_names)}"
            )
        return int(lead) % len(lead_names)
    keys = [canonical_lead(n) for n in lead_names]
    key = canonical_lead(lead)
    if key in keys:
        return keys.index(key)
    unnamed = [k for k, name in enumerate(keys) if _UNNAMED_CHANNEL.fullmatch(name)]
    if key == "ii" and unnamed:
        return unnamed[0]
    raise DeviceMismatchError(f"lead {lead!r} not found; available leads: {list(lead_names)}")


# each limb lead as weights on leads I and II (Einthoven: III = II - I; Goldberger: aVR, aVL, aVF)
_LIMB_ON_I_II = {"i": (1.0, 0.0), "ii": (0.0, 1.0), "iii": (-1.0, 1.0),
                 "avr": (-0.5, -0.5), "avl": (1.0, -0.5), "avf": (-0.5, 1.0)}  # fmt: skip


def lead_weights(
    lead_names: Sequence[str],
    wanted: Sequence[str],
    *,
    derive: bool = False,
) -> tuple[list[int], np.ndarray]:
    """How to make the ``wanted`` leads from a signal with ``lead_names``: the columns to read
    and the ``(len(columns), len(wanted))`` weights on them. A lead present by name (see
    :func:`lead_index`) is its own column with weight 1; with ``derive=True`` a missing limb lead
    (I, II, III, aVR, aVL, aVF) is a weighted sum of two of I, II, III that are present (an
    8-channel front end records I, II and V1-V6). :class:`DeviceMismatchError` names a lead that
    is neither present nor derivable, and the leads that are available."""
    terms: list[dict[int, float]] = []
    for name in wanted:
        try:
            terms.append({lead_index(lead_names, name): 1.0})
            continue
        except DeviceMismatchError:
            key = canonical_lead(name)
            if not (derive and key in _LIMB_ON_I_II):
                raise DeviceMismatchError(f"lead {name!r} not found; available leads: {list(lead_names)}") from None
        terms.append(_limb_terms(lead_names, key, name))
    columns = list(dict.fromkeys(c for t in terms for c in t))
    weights = np.zeros((len(columns), len(wanted)))
    for j, t in enumerate(terms):
        for c, w in t.items():
            weights[columns.index(c), j] += w
    return columns, weights


def _limb_terms(lead_names: Sequence[str], key: str, name: str) -> dict[int, float]:
    """``{column: weight}`` of limb lead ``key`` from two of I, II, III present in ``lead_names``."""
    col = {}
    for base in ("i", "ii", "iii"):
        try:
            col[base] = lead_index(lead_names, base.upper())
        except DeviceMismatchError:
            pass
    # leads I and II as weights on the columns present
    if "i" in col and "ii" in col:
        lead_i, lead_ii = {col["i"]: 1.0}, {col["ii"]: 1.0}
    elif "i" in col and "iii" in col:
        lead_i, lead_ii = {col["i"]: 1.0}, {col["i"]: 1.0, col["iii"]: 1.0}
    elif "ii" in col and "iii" in col:
        lead_i, lead_ii = {col["ii"]: 1.0, col["iii"]: -1.0}, {col["ii"]: 1.0}
    else:
        raise DeviceMismatchError(
            f"lead {name!r} not found nor derivable (needs two of I, II, III); available leads: {list(lead_names)}"
        )
    a, b = _LIMB_ON_I_II[key]
    out: dict[int, float] = {}
    for part, w in ((lead_i, a), (lead_ii, b)):
        for c, v in part.items():
            out[c] = out.get(c, 0.0) + w * v
    return {c: w for c, w in out.items() if w != 0.0}


def select_leads(
    signal: np.ndarray,
    lead_names: Sequence[str],
    wanted: Sequence[str],
    *,
    derive: bool = False,
) -> np.ndarray:
    """Columns of ``signal`` (``(n_samples, n_leads)``) in the order of ``wanted``.

    Leads are found as :func:`lead_index` finds them (so ``ECG II`` is lead II, and an unnamed
    ``ECG``/``ECG1`` channel counts as lead II; with duplicate names, the first). With
    ``derive=True`` a missing limb lead (I, II, III, aVR, aVL, aVF) is computed from two of I, II,
    III that are present (:func:`lead_weights`). Returns float64 ``(n_samples, len(wanted))``.
    """
    x = np.asarray(signal)
    if x.ndim != 2 or x.shape[1] != len(lead_names):
        raise SignalError(
            f"signal of shape {x.shape} does not match {len(lead_names)} lead names {list(lead_names)}"
        )
    columns, weights = lead_weights(lead_names, wanted, derive=derive)
    out = np.zeros((x.shape[0], len(wanted)))
    for j in range(len(wanted)):
        # only the columns a lead is made of: a NaN elsewhere must not reach it through a 0 weight
        for k in np.flatnonzero(weights[:, j]):
            w = weights[k, j]
            out[:, j] += x[:, columns[k]] if w == 1.0 else w * x[:, columns[k]]
    return out


def reduce_to_8(signal: np.ndarray, lead_names: Sequence[str]) -> np.ndarray:
    """The eight independent leads (I, II, V1-V6) of a 12-lead signal, in that order."""
    return select_leads(signal, lead_names, EIGHT_LEADS, derive=True)


def expand_to_12(signal: np.ndarray, lead_names: Sequence[str]) -> np.ndarray:
    """The standard 12 leads, deriving III/aVR/aVL/aVF from I and II where absent."""
    return select_leads(signal, lead_names, STANDARD_12_LEADS, derive=True)
