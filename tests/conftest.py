"""Shared fixtures. Every test runs with its data and cache directories in tmp_path, never in the
user's real data directory or the repository tree."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Point the run store and the corpus cache at fresh folders under tmp_path."""
    data = tmp_path / "distill-data"
    cache = tmp_path / "distill-cache"
    monkeypatch.setenv("DISTILL_DATA_DIR", str(data))
    monkeypatch.setenv("DISTILL_CACHE_DIR", str(cache))
    return data, cache
