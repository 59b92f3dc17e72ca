"""Where the desktop app keeps things: the only module that asks platformdirs."""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "distill"


def data_dir() -> Path:
    """$DISTILL_DATA_DIR, else the per-user data directory."""
    override = os.environ.get("DISTILL_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP))


def runs_dir() -> Path:
    """Where training runs are written (the engine's default)."""
    return data_dir() / "runs"


def settings_file() -> Path:
    """The INI file behind QSettings (window geometry, last corpus, last config)."""
    override = os.environ.get("DISTILL_DATA_DIR")
    base = Path(override) if override else Path(platformdirs.user_config_dir(APP))
    return base / "desktop-settings.ini"


def demo_corpus_dir() -> Path:
    """The bundled demo corpus (resources/demo_corpus in the source tree)."""
    return Path(__file__).resolve().parents[1] / "resources" / "demo_corpus"
