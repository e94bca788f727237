"""Helpers for the typed, frozen config dataclasses read from JSON (manifests, recipes, training
configs, filter specs)."""

from __future__ import annotations

import dataclasses
import json
import numbers
from pathlib import Path
from typing import Any

from edge_ecg.errors import ConfigError, EdgeECGError


def known_fields_only(d: Any, cls: type, where: str, error: type[EdgeECGError] = ConfigError) -> dict[str, Any]:
    """Return ``d`` if it is a dict whose keys are all fields of dataclass ``cls``; otherwise raise
    ``error`` naming the unknown keys (a typo in a hand-edited file must not pass silently)."""
    if not isinstance(d, dict):
        raise error(f"{where} must be a JSON object, got {type(d).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise error(f"{where} has unknown key(s) {unknown}; expected a subset of {sorted(known)}")
    return d


def read_json_object(path: str | Path, what: str, error: type[EdgeECGError] = ConfigError) -> dict[str, Any]:
    """The JSON object stored in ``path``. A missing or unreadable file, invalid JSON, or JSON that
    is not an object raises ``error`` naming ``what`` (e.g. "training config") and the path."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError as exc:
        raise error(f"{what} {p} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what} {p}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise error(f"{what} {p} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"{what} {p} must hold a JSON object, got {type(data).__name__}")
    return data


_EXPECTED = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string",
             "tuple[str, ...]": "a list of strings"}


def _type_ok(value: Any, kind: str) -> bool:
    if value is None:
        return kind.endswith("| None")
    base = kind.removesuffix(" | None")
    if base == "bool":
        return isinstance(value, bool)
    if base == "int":
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if base == "float":
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if base == "str":
        return isinstance(value, str)
    if base.startswith("tuple[str"):
        return isinstance(value, tuple) and all(isinstance(v, str) for v in value)
    return True  # other annotations are checked by the dataclass itself


def check_field_types(obj: Any, where: str = "", error: type[EdgeECGError] = ConfigError) -> None:
    """Raise ``error`` naming the field, its value and the type expected when a field of dataclass
    ``obj`` (annotated as a string: ``from __future__ import annotations``) holds a value of
    another basic type — JSON gives strings where numbers were meant (``"epochs": "3"``), and
    the comparison that follows would otherwise fail with a bare TypeError. ``where`` prefixes
    the message (e.g. ``"recipe 'x': "``)."""
    for f in dataclasses.fields(obj):
        kind = str(f.type)
        value = getattr(obj, f.name)
        if not _type_ok(value, kind):
            base = kind.removesuffix(" | None")
            expected = _EXPECTED.get(base, base) + (" or null" if kind.endswith("| None") else "")
            raise error(f"{where}{f.name}: expected {expected}, got {type(value).__name__} {value!r}")
