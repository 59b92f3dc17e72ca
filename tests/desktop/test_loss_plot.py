"""The live loss plot and the loss-contribution chart, fed real StepMetrics/EpochMetrics events."""
import math
import time

import numpy as np
import pytest

from distill_desktop.panels.contributions import ContributionPanel
from distill_desktop.panels.loss_plot import RAW_ALPHA_WHEN_SMOOTHED, LossPlotPanel
from distill_desktop.widgets.redraw import DATA_REDRAW_CPU_SHARE, data_redraw_delay, machine_cores
from distill_desktop.models.run_series import rows_of
from distill_desktop.models.series import ema_debiased
from distill_engine.config.schema import LossConfig
from distill_engine.model.losses import term_weights
from distill_engine.training.events import EpochMetrics, StepMetrics

STEPS_PER_EPOCH = 100
T0 = 1_700_000_000.0
STEP_NAMES = ("train_loss", "stft_loss", "mag_recon_loss", "if_recon_loss", "kl_loss", "kl_weight",
              "learning_rate")
EPOCH_NAMES = ("train_loss", "train_stft_loss", "train_mag_recon_loss", "train_if_recon_loss",
               "train_kl_loss", "val_loss", "val_stft_loss", "val_mag_recon_loss", "val_if_recon_loss",
               "val_kl_loss")


def step_event(step, loss=None, **overrides):
    loss = 1.0 / math.sqrt(step) + 0.1 if loss is None else loss
    fields = dict(epoch=(step - 1) // STEPS_PER_EPOCH + 1, step=step, total_steps=10_000,
                  train_loss=loss, recon_loss=0.2 * loss, kl_loss=5.0, kl_weight=step / 1e6,
                  learning_rate=1e-3, step_time_s=0.01, stft_loss=0.7 * loss, mag_recon_loss=0.5 * loss,
                  if_recon_loss=0.4 * loss, level_loss=0.3 * loss, grad_norm=1.0, wall_time=T0 + 0.5 * step)
    fields.update(overrides)
    return StepMetrics(**fields)


def epoch_event(epoch):
    step = epoch * STEPS_PER_EPOCH
    values = {name: 0.3 + 0.001 * epoch for name in EpochMetrics.__dataclass_fields__}
    values.update(epoch=epoch, total_epochs=100, step=step, skipped_steps=0, wall_time=T0 + 0.5 * step + 1)
    return EpochMetrics(**values)


@pytest.fixture
def panel(qtbot):
    panel = LossPlotPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_log_y(False)        # (log y is the default; these tests read the drawn values)
    return panel


def add_steps(view, events):
    """Feed StepMetrics events as the window does: their rows into the view's series."""
    view.series.extend(steps=rows_of(events))


def add_epoch(view, event):
    view.series.extend(epochs=rows_of([event]))


def feed(panel, steps, epochs=0, burst=50, **overrides):
    events = [step_event(s, **overrides) for s in range(1, steps + 1)]
    for i in range(0, len(events), burst):
        add_steps(panel, events[i:i + burst])
    for epoch in range(1, epochs + 1):
        add_epoch(panel, epoch_event(epoch))


def test_every_curve_holds_every_point_fed(panel, qtbot):
    feed(panel, 10_000, epochs=100)
    for name in STEP_NAMES:
        x, y = panel.curve_data(f"step:{name}")
        assert len(x) == len(y) == 10_000
        np.testing.assert_array_equal(x, np.arange(1, 10_001))
    for name in EPOCH_NAMES:
        x, y = panel.curve_data(f"epoch:{name}")
        assert len(y) == 100
        np.testing.assert_array_equal(x, STEPS_PER_EPOCH * np.arange(1, 101))  # on the step axis
    qtbot.waitUntil(lambda: all(panel.plot_items(f"epoch:{n}")[0].getData()[0] is not None
                                for n in EPOCH_NAMES))
    for name in STEP_NAMES:
        x, y = panel.plot_items(f"step:{name}")[0].getData()
        assert (x[0], x[-1]) == (1, 10_000), name      # the drawing spans every step
        assert len(x) < 10_000                        # as a min/max envelope of them


def test_redraw_happens_on_the_timer_not_per_event(panel, qtbot):
    item = panel.plot_items("train_loss")[0]
    calls = []
    original = item.setData
    item.setData = lambda *a, **k: (calls.append(1), original(*a, **k))
    feed(panel, 500, burst=10)                        # 50 bursts, no event loop in between
    assert calls == [] and item.getData() == (None, None)
    qtbot.waitUntil(lambda: len(calls) > 0)
    assert len(calls) == 1                            # one redraw for all 50 bursts
    assert len(item.getData()[0]) == 500


def test_single_step_spike_survives_when_zoomed_out(panel, qtbot):
    events = [step_event(s, loss=50.0 if s == 6_789 else None) for s in range(1, 20_001)]
    add_steps(panel, events)
    panel.redraw_now()
    x, y = panel.plot_items("train_loss")[0].getData()
    assert len(x) <= 2 * max(panel.plot.vb.width(), 100) + 3    # about two points per pixel column
    assert y.max() == 50.0
    panel.set_x_range(1_000, 3_000)                   # zoomed in away from the spike
    panel.redraw_now()
    x, y = panel.plot_items("train_loss")[0].getData()
    assert y.max() < 50.0
    assert len(x) > 1_000                             # finer: about a column per pixel of the zoom
    panel.set_x_range(6_000, 8_000)
    panel.redraw_now()
    assert panel.plot_items("train_loss")[0].getData()[1].max() == 50.0
    panel.follow_data()
    panel.redraw_now()
    assert panel.plot.vb.viewRange()[0][1] >= 20_000  # back to the whole run
    panel.plot.vb.scaleBy(x=0.1)                      # a mouse-wheel zoom
    panel.plot.vb.sigRangeChangedManually.emit(panel.plot.vb.state["mouseEnabled"])
    qtbot.waitUntil(lambda: len(panel.plot_items("train_loss")[0].getData()[0]) > 1_000)
    assert panel.plot.vb.viewRange()[0][1] < 20_000   # the zoom stays: new steps no longer scroll it
    item = panel.plot_items("train_loss")[0]
    calls = []
    original = item.setData
    item.setData = lambda *a, **k: (calls.append(1), original(*a, **k))
    add_steps(panel, [step_event(s) for s in range(20_001, 20_021)])
    panel.redraw_now()
    assert calls == []                                # new steps far right of the zoom: no redraw
    assert len(panel.curve_data("train_loss")[1]) == 20_020


def test_x_range_follows_the_run_with_headroom(panel):
    feed(panel, 1_000)
    panel.redraw_now()
    left, right = panel.plot.vb.viewRange()[0]
    assert left == 1 and 1_000 < right <= 1_051
    add_steps(panel, [step_event(s) for s in range(1_001, 1_011)])
    panel.redraw_now()
    assert panel.plot.vb.viewRange()[0] == [left, right]     # a burst does not re-lay the axes
    add_steps(panel, [step_event(s) for s in range(1_011, 1_101)])
    panel.set_log_y(True)                                    # (pyqtgraph re-enables autorange here)
    panel.redraw_now()
    assert panel.plot.vb.viewRange()[0][1] >= 1_100 and not panel.plot.vb.autoRangeEnabled()[0]


def test_log_y_toggles_the_plot_log_mode(panel):
    feed(panel, 300)
    panel.redraw_now()
    item = panel.plot_items("train_loss")[0]
    panel.set_log_y(True)
    assert panel.plot.getAxis("left").logMode and panel.log_y_box.isChecked()
    np.testing.assert_allclose(item.getData()[1], np.log10(panel.curve_data("train_loss")[1]))
    panel.set_log_y(False)
    assert not panel.plot.getAxis("left").logMode
    np.testing.assert_allclose(item.getData()[1], panel.curve_data("train_loss")[1])


def test_smoothing_draws_the_ema_over_a_faint_raw_curve(panel):
    feed(panel, 1_000)
    panel.set_smoothing(0.9)
    panel.redraw_now()
    raw_item, smooth_item = panel.plot_items("train_loss")
    x, smoothed = panel.smoothed_data("train_loss")
    np.testing.assert_allclose(smoothed, ema_debiased(panel.curve_data("train_loss")[1], 0.9), atol=1e-12)
    np.testing.assert_allclose(smooth_item.getData()[1], smoothed[:len(smooth_item.getData()[1])])
    assert smooth_item.isVisible() and raw_item.isVisible()
    assert raw_item.opts["pen"].color().alpha() == RAW_ALPHA_WHEN_SMOOTHED
    feed_more = [step_event(s) for s in range(1_001, 1_101)]
    add_steps(panel, feed_more)                      # the smoothed tail extends incrementally
    panel.redraw_now()
    np.testing.assert_allclose(panel.smoothed_data("train_loss")[1],
                               ema_debiased(panel.curve_data("train_loss")[1], 0.9), atol=1e-12)
    panel.set_smoothing(0.0)
    assert not smooth_item.isVisible() and raw_item.opts["pen"].color().alpha() == 255


def test_x_modes_change_the_x_data(panel):
    feed(panel, 1_000, epochs=10)
    panel.set_x_mode("epoch")
    panel.redraw_now()
    x, _ = panel.curve_data("train_loss")
    np.testing.assert_allclose(x[[99, 499, 999]], [1.0, 5.0, 10.0])  # step 100k ends epoch k
    np.testing.assert_array_equal(panel.curve_data("val_loss")[0], np.arange(1, 11))
    assert panel.plot_items("train_loss")[0].getData()[0].max() == pytest.approx(10.0)
    panel.set_x_mode("wall time")
    panel.redraw_now()
    x, _ = panel.curve_data("train_loss")
    np.testing.assert_allclose(x[[0, -1]], [0.0, 499.5])              # seconds since the first point
    np.testing.assert_allclose(panel.curve_data("val_loss")[0][0], 50.5)
    assert panel.plot_items("train_loss")[0].getData()[0][0] == 0.0
    with pytest.raises(ValueError):
        panel.set_x_mode("minutes")


def test_hiding_a_curve_hides_its_item(panel):
    feed(panel, 100, epochs=1)
    panel.set_curve_visible("stft_loss", False)
    assert not panel.plot_items("stft_loss")[0].isVisible()
    assert panel.plot_items("train_stft_loss")[0].isVisible()
    panel.set_curve_visible("stft_loss", True)
    panel.set_component_visible("stft", False)        # a whole component: step, epoch and val
    assert not any(panel.plot_items(n)[0].isVisible()
                   for n in ("stft_loss", "train_stft_loss", "val_stft_loss"))
    panel.set_series_visible("val", False)
    assert not panel.plot_items("val_loss")[0].isVisible()
    assert panel.plot_items("epoch:train_loss")[0].isVisible()


def test_ignore_outliers_fits_the_range_without_a_spike(panel):
    events = [step_event(s, loss=1e6 if s == 500 else None) for s in range(1, 1_001)]
    add_steps(panel, events)
    panel.redraw_now()
    panel.plot.vb.autoRange()
    assert panel.plot.vb.viewRange()[1][1] >= 1e6
    panel.set_ignore_outliers(True)
    panel.redraw_now()
    assert panel.plot.vb.viewRange()[1][1] < 10
    panel.set_ignore_outliers(False)
    panel.redraw_now()
    panel.plot.vb.updateAutoRange()
    assert panel.plot.vb.viewRange()[1][1] >= 1e6


def test_hover_readout_names_the_visible_values(panel, qtbot):
    feed(panel, 200, epochs=2)
    panel.redraw_now()
    centre = panel.plot.vb.sceneBoundingRect().center()
    panel._graphics.scene().sigMouseMoved.emit(centre)      # what a mouse move over the plot sends
    qtbot.waitUntil(lambda: panel.readout.text().startswith("step "))
    assert panel.readout.text_at("step", "total")
    title, cells = panel.readout_at(150.2)
    assert title == "step 150"       # the step whose values are shown, not the mouse's fraction of one
    assert cells[("step", "total")] == f"{step_event(150).train_loss:.4g}" and ("val", "total") in cells
    assert cells[("step", "kl")] == "5" and ("step", "kl_weight") in cells
    panel.set_x_mode("epoch")
    assert panel.readout_at(1.5)[0] == "epoch 1.50"
    panel.set_x_mode("step")
    panel.set_component_visible("kl", False)
    _, cells = panel.readout_at(150.2)
    assert ("step", "kl") not in cells and ("val", "kl") not in cells and ("step", "kl_weight") in cells


def test_stored_rows_feed_the_same_series_and_overlays_get_a_legend_entry(panel):
    steps = np.arange(1, 5_001)
    panel.series.extend(steps={"step": steps, "wall_time": T0 + steps,
                               **{name: np.full(len(steps), 0.5) for name in STEP_NAMES}},
                        epochs={"epoch": [1, 2], "step": [2_500, 5_000], "val_loss": [0.4, 0.3]})
    assert len(panel.series.steps) == 5_000 and len(panel.series.epochs) == 2
    for name in STEP_NAMES:                                   # one x array for every step column
        assert np.shares_memory(panel.data.x(panel.data.curve(name), "step"), panel.series.steps["step"])
    np.testing.assert_array_equal(panel.curve_data("val_loss")[0], [2_500, 5_000])
    assert np.isnan(panel.curve_data("val_stft_loss")[1]).all()     # a column the rows lack: NaN
    panel.add_run_overlay("run-b", "train_loss", steps, np.full(len(steps), 0.7), "#ff0000")
    labels = [label.text for _, label in panel.legend.items]
    assert "run-b · train_loss" in labels
    panel.clear_overlays()
    assert "run-b · train_loss" not in [label.text for _, label in panel.legend.items]
    panel.clear()
    assert len(panel.curve_data("train_loss")[1]) == 0


# -- contributions ------------------------------------------------------------------------------

def test_contribution_shares_sum_to_one_and_match_hand_computed(qtbot):
    config = LossConfig()
    config.stft.weight, config.reconstruction.weight = 1.0, 0.1
    config.reconstruction.magnitude_weight, config.reconstruction.if_weight = 1.0, 0.5
    config.level.weight = 0.5
    chart = ContributionPanel()
    chart.set_run_weights(term_weights(config))
    qtbot.addWidget(chart)
    chart.show()
    # weighted terms: STFT 1*2 = 2, magnitude 0.1*1*3 = 0.3, IF 0.1*0.5*4 = 0.2, level 0.5*0.8 = 0.4,
    # KL 0.01*10 = 0.1
    add_steps(chart, [step_event(s, stft_loss=2.0, mag_recon_loss=3.0, if_recon_loss=4.0, level_loss=0.8,
                                 kl_loss=10.0, kl_weight=0.01) for s in range(1, 101)])
    shares = chart.latest_shares()
    assert sum(shares.values()) == pytest.approx(1.0)
    expected = {"stft": 2 / 3.0, "magnitude": 0.3 / 3.0, "if": 0.2 / 3.0, "level": 0.4 / 3.0, "kl": 0.1 / 3.0}
    assert shares == pytest.approx(expected)
    qtbot.waitUntil(lambda: chart.label.text() != "no steps yet")
    assert chart.label.text() == "STFT 67% · magnitude 10% · IF 7% · level 13% · KL 3%"
    x, bands = chart.band_data()
    np.testing.assert_allclose(bands.sum(axis=0), 100.0)
    np.testing.assert_allclose(bands[:, 0], [100 * v for v in expected.values()])
    config.stft.weight = 0.0                           # new weights: shares recomputed from raw terms
    chart.set_run_weights(term_weights(config))
    assert chart.latest_shares()["stft"] == 0.0
    assert chart.latest_shares()["kl"] == pytest.approx(0.1 / 1.0)
    older = {t: w for t, w in term_weights(config).items() if t != "level"}  # a run from before the term
    chart.set_run_weights(older)
    assert chart.latest_shares()["level"] == 0.0 and chart.latest_shares()["kl"] == pytest.approx(0.1 / 0.6)


def test_steps_before_the_runs_weights_are_weighted_once_they_arrive(qtbot):
    chart = ContributionPanel()
    qtbot.addWidget(chart)
    add_steps(chart, [step_event(s, stft_loss=2.0, mag_recon_loss=3.0, if_recon_loss=4.0, kl_loss=10.0,
                                kl_weight=0.01) for s in range(1, 11)])
    assert chart.latest_shares() == {} and len(chart.band_data()[0]) == 0
    chart.set_run_weights({"stft": 1.0, "magnitude": 0.0, "if": 0.0, "level": 0.0, "kl": 123.0})   # kl: per step
    assert chart.latest_shares() == pytest.approx({"stft": 2 / 2.1, "magnitude": 0.0, "if": 0.0, "level": 0.0,
                                                   "kl": 0.1 / 2.1})
    assert len(chart.band_data()[0]) == 10


def test_contribution_chart_draws_block_means_of_a_long_run(qtbot):
    chart = ContributionPanel()
    chart.set_run_weights(term_weights(LossConfig()))
    qtbot.addWidget(chart)
    add_steps(chart, [step_event(s, kl_weight=0.0 if s <= 5_000 else 0.01) for s in range(1, 10_001)])
    add_steps(chart, [step_event(10_001, stft_loss=math.nan)])     # an unusable step is skipped
    chart.redraw_now()
    x, bands = chart.band_data()
    assert len(x) <= ContributionPanel.COLUMNS
    assert bands[4, 0] == 0.0 and bands[4, -1] > 0.0               # KL share appears after warm-up
    np.testing.assert_allclose(bands.sum(axis=0), 100.0)
    top = chart._bounds[-1].getData()[1]
    np.testing.assert_allclose(top, 100.0)


def test_a_hidden_panel_does_not_redraw_until_it_is_shown(qtbot):
    chart = ContributionPanel()
    chart.set_run_weights(term_weights(LossConfig()))
    qtbot.addWidget(chart)
    add_steps(chart, [step_event(s, stft_loss=2.0, mag_recon_loss=3.0, if_recon_loss=4.0, kl_loss=10.0,
                                kl_weight=0.01) for s in range(1, 11)])
    qtbot.wait(400)  # longer than the redraw interval
    assert chart.label.text() == "no steps yet"
    chart.show()
    qtbot.waitUntil(lambda: chart.label.text().startswith("STFT"))


def test_data_redraws_keep_to_a_cpu_budget_but_a_zoom_redraws_at_once(panel, qtbot):
    feed(panel, 2_000)
    qtbot.waitUntil(lambda: panel.plot_items("train_loss")[0].getData()[0] is not None)
    original = panel.redraw_now

    def costly_redraw():            # a frame that costs 40 ms of GUI-thread CPU, as on a slow machine
        end = time.thread_time() + 0.04
        while time.thread_time() < end:
            pass
        original()

    panel.redraw_now = costly_redraw
    add_steps(panel, [step_event(2_001)])
    panel.follow_data()              # a person's action: drawn after the short interval, timed
    qtbot.waitUntil(lambda: panel.frame_cpu_seconds() >= 0.04, timeout=2_000)
    qtbot.waitUntil(lambda: not panel._timer.isActive(), timeout=2_000)   # no layout redraw pending
    add_steps(panel, [step_event(2_002)])
    # 40 ms at 0.25 % of the machine's CPU: the next redraw for new data waits 16 s / cores
    expected_ms = 1e3 * 0.04 / (DATA_REDRAW_CPU_SHARE * machine_cores())
    assert panel._timer.isActive() and panel._timer.remainingTime() > 0.5 * min(expected_ms, 8_000)
    panel.set_x_range(100, 1_500)    # what a person does is drawn after the short interval
    assert panel._timer.remainingTime() <= 1.5 * panel.REDRAW_INTERVAL_MS   # a coarse timer: +5 %
    qtbot.waitUntil(lambda: panel.plot_items("train_loss")[0].getData()[0][-1] <= 1_500, timeout=1_000)


def test_data_redraw_delay_spreads_frames_to_the_budget():
    assert data_redraw_delay(0.02, since_last_s=0.0, min_interval_s=0.1, cores=2, share=0.005) == 2.0
    assert data_redraw_delay(0.02, since_last_s=1.5, min_interval_s=0.1, cores=2, share=0.005) == 0.5
    assert data_redraw_delay(0.02, since_last_s=5.0, min_interval_s=0.1, cores=2, share=0.005) == 0.1
    assert data_redraw_delay(0.002, since_last_s=0.0, min_interval_s=0.1, cores=16, share=0.005) == 0.1
