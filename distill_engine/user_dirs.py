"""The per-user folders Distill uses by default: the one module that asks platformdirs.

Each honours its environment override first (DISTILL_DATA_DIR, DISTILL_CACHE_DIR), so tests and
people who want another place never touch the user's real folders."""
from __future__ import annotations

import os
from pathlib import Path

APP = "distill"


def data_dir() -> Path:
    """$DISTILL_DATA_DIR, else the per-user data directory (runs go in its runs/)."""
    override = os.environ.get("DISTILL_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP))


def config_dir() -> Path:
    """$DISTILL_DATA_DIR, else the per-user config directory (the desktop app's settings)."""
    override = os.environ.get("DISTILL_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir(APP))


def cache_dir() -> Path:
    """$DISTILL_CACHE_DIR, else the per-user cache directory's corpus/ (decoded corpora)."""
    override = os.environ.get("DISTILL_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP)) / "corpus"
