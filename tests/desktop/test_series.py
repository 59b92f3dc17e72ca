"""Growing arrays, debiased EMA, robust ranges and min/max envelopes behind the live plots."""
import math

import numpy as np
import pytest

from distill_desktop.models.series import (
    EmaState, GrowingArray, GrowingSeries, MinMaxPyramid, ema_debiased, envelope, robust_range,
)


def reference_ema(values, smoothing):
    """TensorBoard's debiased EMA as a plain loop; non-finite points carry the last smoothed value."""
    out, last, accumulator, count = [], math.nan, 0.0, 0
    for v in values:
        if math.isfinite(v):
            accumulator = smoothing * accumulator + (1 - smoothing) * v
            count += 1
            last = accumulator / (1 - smoothing ** count)
        out.append(last)
    return np.array(out)


def test_growing_series_keeps_every_point_past_its_capacity():
    series = GrowingSeries(capacity=4)
    for i in range(10):
        series.append(i, 10 * i)
    series.extend(np.arange(10, 1000), 10 * np.arange(10, 1000))
    assert len(series) == 1000
    np.testing.assert_array_equal(series.x, np.arange(1000))
    np.testing.assert_array_equal(series.y, 10 * np.arange(1000))
    with pytest.raises(ValueError):
        series.extend([1, 2], [3])
    series.clear()
    assert len(series) == 0 and len(series.x) == 0


def test_growing_array_view_survives_growth():
    array = GrowingArray(capacity=2)
    array.extend([1.0, 2.0])
    view = array.data
    array.extend(np.arange(100.0))
    np.testing.assert_array_equal(view, [1.0, 2.0])      # an old view still reads the old values
    assert len(array) == 102


@pytest.mark.parametrize("smoothing", [0.0, 0.01, 0.3, 0.6, 0.9, 0.99, 0.999])
def test_ema_matches_reference_loop_with_nans(smoothing):
    rng = np.random.default_rng(1)
    values = rng.normal(2.0, 1.5, 20_000)
    values[rng.random(len(values)) < 0.1] = np.nan
    values[:3] = np.nan
    values[500] = np.inf
    expected = reference_ema(values, smoothing)
    got = ema_debiased(values, smoothing)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    state = EmaState(smoothing)   # fed in uneven bursts, as a live run feeds it
    pieces = [state.extend(part) for part in np.array_split(values, [1, 2, 700, 701, 9000])]
    np.testing.assert_allclose(np.concatenate(pieces), expected, rtol=0, atol=1e-9)


def test_ema_rejects_smoothing_of_one():
    with pytest.raises(ValueError):
        EmaState(1.0)


def test_robust_range_ignores_an_outlier_and_non_finite_values():
    values = np.concatenate([np.linspace(1.0, 2.0, 1000), [1e6, np.nan, np.inf, -np.inf]])
    low, high = robust_range(values)
    assert 1.0 <= low < 1.1 and 1.9 < high <= 2.0
    assert robust_range([np.nan, np.inf]) is None


def test_envelope_keeps_extremes_and_is_cheap_in_points():
    rng = np.random.default_rng(2)
    y = rng.random(200_003)
    y[123_457], y[77] = 50.0, -3.0
    x = np.arange(len(y), dtype=float)
    pyramid = MinMaxPyramid()
    pyramid.update(y[:100_000])      # incremental update == one update
    pyramid.update(y)
    whole = MinMaxPyramid()
    whole.update(y)
    for (a_min, a_max), (b_min, b_max) in zip(pyramid.levels, whole.levels):
        np.testing.assert_array_equal(a_min.data, b_min.data)
        np.testing.assert_array_equal(a_max.data, b_max.data)
    for start, stop in [(0, len(y)), (5, len(y) - 3), (123_000, 124_000), (1000, 2000)]:
        ex, ey = envelope(x, y, pyramid, start, stop, 300)
        assert len(ex) <= 2 * 300 + 5
        assert ey.max() == y[start:stop].max() and ey.min() == y[start:stop].min()
        assert ex[0] == start and np.all(np.diff(ex) >= 0)
    ex, ey = envelope(x, y, pyramid, 10, 400, 300)        # few points: drawn as they are
    np.testing.assert_array_equal(ey, y[10:400])
