"""DivergenceDetector: one warning per streak of `patience` rises; SpikeDetector: one warning per
blow-up far above the running median; both states survive a round trip."""
import json
import math

import numpy as np
import pytest

from distill_engine.training.divergence import DivergenceDetector, SpikeDetector


def feed(detector, losses, start=1):
    return [detector.update(epoch, loss) for epoch, loss in enumerate(losses, start)]


def test_warns_after_patience_consecutive_rises_once_per_streak():
    detector = DivergenceDetector(patience=3)
    reports = feed(detector, [1.0, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4])
    fired = [r for r in reports if r]
    assert len(fired) == 1
    epochs, losses = fired[0]
    assert epochs == (2, 3, 4, 5) and losses == (0.9, 1.0, 1.1, 1.2)
    assert reports.index(fired[0]) == 4  # at epoch 5, the third rise


def test_a_fall_resets_the_streak_and_allows_a_new_warning():
    detector = DivergenceDetector(patience=2)
    reports = feed(detector, [1.0, 1.1, 1.2, 1.0, 1.1, 1.2])
    assert [bool(r) for r in reports] == [False, False, True, False, False, True]


def test_equal_loss_is_not_a_rise_and_nan_is():
    detector = DivergenceDetector(patience=2)
    assert not any(feed(detector, [1.0, 1.0, 1.0, 1.0]))
    assert feed(DivergenceDetector(patience=2), [1.0, 1.1, float("nan")])[-1] is not None


def test_patience_zero_disables():
    assert not any(feed(DivergenceDetector(patience=0), [1, 2, 3, 4, 5, 6]))


def test_state_round_trip_continues_the_streak():
    first = DivergenceDetector(patience=3)
    feed(first, [1.0, 1.1, 1.2])
    second = DivergenceDetector(patience=3)
    second.load_state_dict(first.state_dict())
    assert second.update(4, 1.3) == ((1, 2, 3, 4), (1.0, 1.1, 1.2, 1.3))


# -- the spike rule ------------------------------------------------------------------------------

def feed_steps(detector, losses, epoch=1):
    return [detector.update_step(epoch, step, loss) for step, loss in enumerate(losses, 1)]


def test_a_step_far_above_its_running_median_warns_at_once_and_once():
    detector = SpikeDetector(factor=5.0, window=10)
    noisy = [4.0, 3.6, 4.4, 3.2, 3.9, 3.0, 3.5, 2.9, 3.1, 2.8]  # a healthy, noisy descent
    reports = feed_steps(detector, noisy + [1.7e7, 3e8, 2e8, 1e9])
    fired = [r for r in reports if r]
    assert len(fired) == 1 and reports.index(fired[0]) == 10  # the jump itself, step 11
    spike = fired[0]
    assert spike.step == 11 and spike.loss == 1.7e7 and spike.per == "step"
    assert spike.reference == pytest.approx(3.35) and spike.history == 10
    assert detector.began == (1, 11)


def test_the_second_step_is_judged_against_the_first():
    reports = feed_steps(SpikeDetector(factor=5.0, window=10), [4.66, 1.7e6, 5e6])  # measured at lr 0.03
    assert [bool(r) for r in reports] == [False, True, False] and reports[1].reference == 4.66


def test_healthy_noise_below_the_factor_never_warns():
    rng = np.random.default_rng(0)
    losses = list(3 + rng.gamma(2.0, 0.5, 500))  # long-tailed noise, at most ~3.5x its median
    assert not any(feed_steps(SpikeDetector(factor=5.0, window=50), losses))


def test_recovery_ends_the_episode_and_a_second_blow_up_warns_again():
    detector = SpikeDetector(factor=5.0, window=4)
    reports = feed_steps(detector, [2.0, 2.0, 2.0, 2.0, 50.0, 60.0, 2.1, 2.0, 40.0])
    assert [i for i, r in enumerate(reports) if r] == [4, 8]
    assert detector.began == (1, 9)


def test_non_finite_losses_are_left_to_the_non_finite_rule():
    detector = SpikeDetector(factor=5.0, window=4)
    assert not any(feed_steps(detector, [2.0, 2.0, 2.0, math.nan, math.inf, 2.0]))


def test_an_epoch_spike_needs_one_earlier_epoch_and_a_step_spike_suppresses_it():
    detector = SpikeDetector(factor=5.0, window=10)
    assert detector.update_epoch(1, 10, 4.0) is None
    spike = detector.update_epoch(2, 20, 400.0)
    assert spike is not None and spike.per == "epoch" and spike.reference == 4.0
    other = SpikeDetector(factor=5.0, window=4)
    feed_steps(other, [2.0, 2.0, 2.0, 2.0, 90.0])           # the step rule saw the blow-up first
    other.update_epoch(1, 5, 2.0)
    assert other.update_epoch(2, 10, 90.0) is None and other.began == (1, 5)


def test_factor_zero_disables_and_state_survives_a_round_trip():
    assert not any(feed_steps(SpikeDetector(factor=0.0, window=4), [1.0] * 5 + [1e9]))
    first = SpikeDetector(factor=5.0, window=4)
    feed_steps(first, [2.0, 2.0, 2.0, 2.0, 90.0])
    second = SpikeDetector(factor=5.0, window=4)
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))
    assert second.began == (1, 5) and second.update_step(1, 6, 95.0) is None  # same episode: no repeat
    assert second.update_step(1, 7, 2.0) is None and second.update_step(1, 8, 90.0) is not None
