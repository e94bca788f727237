"""Helpers for the typed, frozen config dataclasses read from JSON (manifests, recipes, training
configs, filter specs)."""

from __future__ import annotations

import dataclasses
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
