"""Shape checks shared by every model's ``forward``.

They branch on tensor *shapes* that are static under ``torch.export`` (leads, side width) and
never on values, so they cost nothing in an exported graph; with a dynamic batch dimension only
dimension 0 is symbolic and it is never inspected here.
"""

from __future__ import annotations

import torch

from edge_ecg.errors import SignalError


def check_ecg(x: torch.Tensor, in_leads: int) -> None:
    """``x`` must be ``(batch, in_leads, samples)``."""
    if x.ndim != 3 or x.shape[1] != in_leads:
        raise SignalError(
            f"ECG input must have shape (batch, {in_leads} leads, samples), got {tuple(x.shape)}"
        )


def check_side(side: torch.Tensor | None, side_dim: int) -> None:
    """``side`` must be ``(batch, side_dim)``; models without side inputs take ``None``."""
    if side_dim == 0:
        if side is not None and not (side.ndim == 2 and side.shape[1] == 0):
            raise SignalError(
                f"this model takes no side input (side_dim=0), got side of shape "
                f"{tuple(side.shape)}; pass side=None"
            )
        return
    if side is None:
        raise SignalError(
            f"this model needs a side input of shape (batch, {side_dim}) "
            "(build it with edge_ecg.models.side.encode_side), got None"
        )
    if side.ndim != 2 or side.shape[1] != side_dim:
        raise SignalError(
            f"side input must have shape (batch, {side_dim}), got {tuple(side.shape)}"
        )
