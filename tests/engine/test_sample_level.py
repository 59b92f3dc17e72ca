"""The samples' output gain (previews/sample_level.py): the level gap measured on reconstructions
of real audio written here, its limits, the peak limit, and the checkpoint tensor."""
import math

import numpy as np
import pytest
import torch

from distill_engine.previews.sample_level import (GAIN_TENSOR, MAX_GAIN_DB, PEAK_LIMIT, calibration_indices,
                                                  gain_from_tensors, gain_tensors, level_gap_db, sample_gain_db,
                                                  with_gain)


def _tones(n=6, length=8000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 8000
    clips = [rng.uniform(0.05, 0.5) * np.sin(2 * np.pi * rng.uniform(80, 2000) * t) * np.exp(-t * rng.uniform(1, 8))
             for _ in range(n)]
    return torch.tensor(np.stack(clips), dtype=torch.float32)


def test_the_gap_is_the_median_of_each_reconstructions_level_against_its_original():
    originals = _tones()
    scales = torch.tensor([0.1, 0.2, 0.25, 0.5, 1.0, 2.0])[:, None]  # -20, -14, -12, -6, 0, +6 dB
    gap = level_gap_db(originals * scales, originals)
    assert gap == pytest.approx((20 * math.log10(0.25) + 20 * math.log10(0.5)) / 2, abs=1e-4)  # median of 6
    assert sample_gain_db(gap) == pytest.approx(-gap)


def test_silent_originals_say_nothing_and_a_silent_model_gets_at_most_the_limit():
    originals = _tones(4)
    originals[1] = 0.0  # digital silence: left out, whatever its reconstruction
    recon = originals * 10 ** (-7 / 20)
    recon[1] = 0.3
    assert level_gap_db(recon, originals) == pytest.approx(-7.0, abs=1e-3)
    assert sample_gain_db(level_gap_db(torch.zeros_like(originals), originals)) == MAX_GAIN_DB  # still -228 dB quiet
    assert sample_gain_db(level_gap_db(originals * 100, originals)) == -MAX_GAIN_DB
    assert math.isnan(level_gap_db(originals, torch.zeros_like(originals))) and sample_gain_db(math.nan) == 0.0


def test_the_gain_raises_each_clip_and_never_past_the_peak_limit():
    clips = _tones(3)
    clips[0] *= 0.9 / clips[0].abs().max()  # +6 dB would take this one to 1.8
    raised = with_gain(clips, 6.0)
    peaks = raised.abs().amax(dim=1)
    assert float(peaks[0]) == pytest.approx(PEAK_LIMIT)
    for i in (1, 2):
        expected = 10 ** (6 / 20) * float(clips[i].abs().max())
        assert float(peaks[i]) == pytest.approx(min(expected, PEAK_LIMIT), rel=1e-5)
    assert torch.allclose(with_gain(clips, 0.0)[1:], clips[1:])


def test_calibration_chunks_are_spread_over_the_split():
    assert calibration_indices(5).tolist() == [0, 1, 2, 3, 4]
    spread = calibration_indices(1000)
    assert len(spread) == 32 and spread[0] == 0 and spread[-1] == 999
    assert len(calibration_indices(0)) == 0


def test_the_gain_survives_a_checkpoint_round_trip_and_bad_values_are_ignored():
    assert gain_from_tensors(gain_tensors(7.5)) == pytest.approx(7.5)
    assert gain_from_tensors({}) is None
    assert gain_from_tensors({GAIN_TENSOR: torch.tensor([math.nan])}) is None
    assert gain_from_tensors({GAIN_TENSOR: torch.zeros(3)}) is None
    assert gain_from_tensors({GAIN_TENSOR: torch.tensor([90.0])}) == MAX_GAIN_DB
