"""DivergenceDetector: one warning per streak of `patience` rises, state survives a round trip."""
from distill_engine.training.divergence import DivergenceDetector


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
