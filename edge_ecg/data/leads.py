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


def derive_limb_leads(lead_i: np.ndarray, lead_ii: np.ndarray) -> dict[str, np.ndarray]:
    """III, aVR, aVL, aVF from leads I and II (same units in, same units out)."""
    i = np.asarray(lead_i, dtype=np.float64)
    ii = np.asarray(lead_ii, dtype=np.float64)
    return {
        "III": ii - i,
        "aVR": -(i + ii) / 2.0,
        "aVL": i - ii / 2.0,
        "aVF": ii - i / 2.0,
    }


def select_leads(
    signal: np.ndarray,
    lead_names: Sequence[str],
    wanted: Sequence[str],
    *,
    derive: bool = False,
) -> np.ndarray:
    """Columns of ``signal`` (``(n_samples, n_leads)``) in the order of ``wanted``.

    With ``derive=True`` a missing limb lead (I, II, III, aVR, aVL, aVF) is computed from two of
    I, II, III that are present. Returns float64 ``(n_samples, len(wanted))``.
    """
    x = np.asarray(signal)
    if x.ndim != 2 or x.shape[1] != len(lead_names):
        raise SignalError(
            f"signal of shape {x.shape} does not match {len(lead_names)} lead names {list(lead_names)}"
        )
    keys = {canonical_lead(n): k for k, n in enumerate(lead_names)}
    columns: list[np.ndarray] = []
    derived: dict[str, np.ndarray] | None = None
    for name in wanted:
        key = canonical_lead(name)
        if key in keys:
            columns.append(x[:, keys[key]].astype(np.float64))
            continue
        if derive and key in ("i", "ii", "iii", "avr", "avl", "avf"):
            if derived is None:
                derived = _limb_leads(x, keys, lead_names, name)
            columns.append(derived[key])
            continue
        how = " (nor derivable: needs two of I, II, III)" if derive else ""
        raise DeviceMismatchError(
            f"lead {name!r} not found{how}; available leads: {list(lead_names)}"
        )
    return np.stack(columns, axis=1) if columns else np.empty((x.shape[0], 0))


def _limb_leads(x, keys, lead_names, name) -> dict[str, np.ndarray]:
    col = {k: x[:, keys[k]].astype(np.float64) for k in ("i", "ii", "iii") if k in keys}
    if "i" in col and "ii" in col:
        i, ii = col["i"], col["ii"]
    elif "i" in col and "iii" in col:
        i, ii = col["i"], col["i"] + col["iii"]
    elif "ii" in col and "iii" in col:
        i, ii = col["ii"] - col["iii"], col["ii"]
    else:
        raise DeviceMismatchError(
            f"lead {name!r} not found nor derivable (needs two of I, II, III); "
            f"available leads: {list(lead_names)}"
        )
    out = {k.lower(): v for k, v in derive_limb_leads(i, ii).items()}
    out["i"], out["ii"] = i, ii
    return out


def reduce_to_8(signal: np.ndarray, lead_names: Sequence[str]) -> np.ndarray:
    """The eight independent leads (I, II, V1-V6) of a 12-lead signal, in that order."""
    return select_leads(signal, lead_names, EIGHT_LEADS, derive=True)


def expand_to_12(signal: np.ndarray, lead_names: Sequence[str]) -> np.ndarray:
    """The standard 12 leads, deriving III/aVR/aVL/aVF from I and II where absent."""
    return select_leads(signal, lead_names, STANDARD_12_LEADS, derive=True)
