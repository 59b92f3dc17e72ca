"""Where the desktop app keeps things. The per-user folders come from distill_engine.user_dirs,
the one module of the project that asks platformdirs, so the app and the engine agree."""
from __future__ import annotations

from pathlib import Path

from distill_engine.runs.writer import default_runs_dir
from distill_engine.user_dirs import config_dir, data_dir

__all__ = ["data_dir", "demo_corpus_dir", "runs_dir", "settings_file"]


def runs_dir() -> Path:
    """Where training runs are written (the engine's default)."""
    return default_runs_dir()


def settings_file() -> Path:
    """The INI file behind QSettings (window geometry, last corpus, last config)."""
    return config_dir() / "desktop-settings.ini"


def demo_corpus_dir() -> Path:
    """The bundled demo corpus (resources/demo_corpus in the source tree)."""
    return Path(__file__).resolve().parents[1] / "resources" / "demo_corpus"
