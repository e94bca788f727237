"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_ecg.paths import shared_data_dir


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared real-data folder (``$EDGE_ECG_DATA`` or ``../shared/data``); tests that need
    it are skipped, with the path in the reason, when it is absent."""
    d = shared_data_dir()
    if not (d / "mitdb" / "RECORDS").is_file():
        pytest.skip(
            f"real ECG data not found at {d} (set EDGE_ECG_DATA to the folder holding mitdb/, "
            f"cinc2017/, cinc2021_12lead/, cpsc2018/, bitalino/)"
        )
    return d
