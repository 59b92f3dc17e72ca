"""Shared fixtures. Every test runs with its data and cache directories in tmp_path, never in the
user's real data directory or the repository tree."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from support import tiny_config, write_corpus


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Point the run store and the corpus cache at fresh folders under tmp_path."""
    data = tmp_path / "distill-data"
    cache = tmp_path / "distill-cache"
    monkeypatch.setenv("DISTILL_DATA_DIR", str(data))
    monkeypatch.setenv("DISTILL_CACHE_DIR", str(cache))
    return data, cache


@pytest.fixture
def corpus_dir(tmp_path):
    return write_corpus(tmp_path / "corpus")


@pytest.fixture
def make_config():
    """Factory for tiny_config(**overrides)."""
    return tiny_config


@pytest.fixture
def make_corpus():
    """Factory for write_corpus(folder, ...)."""
    return write_corpus


@pytest.fixture
def rising_loss(monkeypatch):
    """Every loss evaluation (training steps and validation) is 10 higher than the last, so a run
    diverges on schedule."""
    from distill_engine.training import trainer as trainer_module
    from distill_engine.training import validation as validation_module

    real, calls = trainer_module.compute_combined_loss, {"n": 0}

    def rising(*args, **kwargs):
        out = real(*args, **kwargs)
        calls["n"] += 1
        out["total"] = out["total"] + 10.0 * calls["n"]
        return out

    monkeypatch.setattr(trainer_module, "compute_combined_loss", rising)
    monkeypatch.setattr(validation_module, "compute_combined_loss", rising)


def pytest_configure(config):
    config.addinivalue_line("markers", "fault(kind): a fault-suite case (benchmarks/fault_suite_tally.py): "
                                       "data_loss, traceback, unclear or code_execution")
