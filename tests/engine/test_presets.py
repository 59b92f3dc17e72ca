"""The built-in presets "fast (16 kHz)" and "full band (44.1 kHz)": files that load, a CLI that takes
their names, and an apply that changes only the sample-rate fields."""
from __future__ import annotations

import dataclasses

import pytest

from distill_engine.cli import _config_from_args, build_parser
from distill_engine.config.presets import PRESETS, apply_preset, find_preset, load_preset, preset_for
from distill_engine.config.schema import TrainingConfig
from distill_engine.config.validation import ConfigError, validate


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_every_preset_file_loads_as_a_valid_config(preset):
    config = load_preset(preset.name)
    assert validate(config) == []
    assert preset_for(config) == preset
    assert load_preset(preset.label) == config  # the window's label names it too


def test_the_two_presets_differ_in_rate_and_scale_their_windows_with_it():
    fast, full = load_preset("fast-16khz"), load_preset("full-band-44khz")
    assert fast.representation.sample_rate == 16000 and full.representation.sample_rate == 44100
    assert fast == TrainingConfig()  # the engine's defaults are the fast preset
    window_ms = lambda c: 1000 * c.representation.n_fft / c.representation.sample_rate
    assert 40 < window_ms(full) < window_ms(fast) <= 64  # comparable time resolution
    assert full.loss.stft.fft_sizes == (1024, 2048, 4096)


def test_apply_keeps_every_field_the_preset_does_not_set():
    edited = dataclasses.replace(TrainingConfig(), learning_rate=3e-4, epochs=7, batch_size=8)
    full = apply_preset(edited, "full band (44.1 kHz)")
    assert (full.learning_rate, full.epochs, full.batch_size) == (3e-4, 7, 8)
    assert full.representation.sample_rate == 44100 and validate(full) == []
    back = apply_preset(full, "fast-16khz")
    assert back == edited


def test_edited_rate_matches_no_preset():
    config = TrainingConfig()
    config.representation.sample_rate = 22050
    assert preset_for(config) is None


def test_distill_train_config_takes_a_preset_name(tmp_path):
    args = build_parser().parse_args([str(tmp_path), "--config", "full-band-44khz", "--epochs", "2"])
    config = _config_from_args(args, None)
    assert config.representation.sample_rate == 44100 and config.epochs == 2


def test_an_unknown_preset_name_is_a_config_error_listing_the_presets(tmp_path):
    args = build_parser().parse_args([str(tmp_path), "--config", "full-band"])
    with pytest.raises(ConfigError, match="file not found"):
        _config_from_args(args, None)
    with pytest.raises(ConfigError, match="fast-16khz, full-band-44khz"):
        apply_preset(TrainingConfig(), "full-band")
    assert find_preset("full-band") is None
