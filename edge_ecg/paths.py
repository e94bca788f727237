"""Where bundled assets and the shared real-data folder live (never relative to the CWD)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"


def shared_data_dir() -> Path:
    """The real-data folder: ``$EDGE_ECG_DATA`` if set, else ``../shared/data`` beside the repo."""
    env = os.environ.get("EDGE_ECG_DATA")
    if env:
        return Path(env).resolve()
    return (PACKAGE_DIR.parent.parent / "shared" / "data").resolve()
