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


def write_corpus(folder, n_files=6, seconds=1.0, sample_rate=8000, seed=0):
    """A real folder of decodable WAV files: decaying tones and noise bursts."""
    import numpy as np
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    for i in range(n_files):
        tone = np.sin(2 * np.pi * (110 * (i + 2)) * t) * np.exp(-3 * t)
        noise = 0.2 * rng.standard_normal(t.size) * np.exp(-6 * t)
        sf.write(folder / f"sound_{i:02d}.wav", (0.5 * tone + noise).astype(np.float32), sample_rate)
    return folder


def tiny_config(**overrides):
    """A config small enough that a few epochs train in about a second on a laptop CPU."""
    from distill_engine import TrainingConfig
    from distill_engine.config import RepresentationConfig

    config = TrainingConfig(epochs=3, batch_size=4, latent_dim=8, chunk_duration=0.5, device="cpu",
                            validation_fraction=0.3, checkpoint_interval_s=0.0,
                            representation=RepresentationConfig(sample_rate=8000, n_fft=256, hop_length=64))
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


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
