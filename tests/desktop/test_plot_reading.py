"""Reading the loss plot (issue 10 §5): every component legible in the first view, a legend that
names the line styles and sits off the curves, distinct schedule colours, a hover readout that
never resizes the plot and clears, and overlays labelled by the runs' names."""
import colorsys
import math

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

from distill_desktop.browser.run_browser import RunBrowser, overlay_labels
from distill_desktop.models.loss_data import FIELDS, KL_SCHEDULE, SCHEDULES
from distill_desktop.models.run_series import rows_of
from distill_desktop.panels.loss_plot import LossPlotPanel
from distill_desktop.panels.loss_plot_widgets import COLORS
from distill_engine.runs.writer import create_run
from distill_engine.training.events import EpochMetrics, StepMetrics


def realistic_steps(n=300, start=1):
    """Raw terms as a real run logs them: KL 15-50, STFT ~2, level ~0.9, magnitude ~0.3, IF ~0.6."""
    rng = np.random.default_rng(1)
    events = []
    for step in range(start, start + n):
        decay = 1 + 2 / math.sqrt(step)
        stft, mag, if_, level = 2.0 * decay, 0.3 * decay, 0.6 * decay, 0.9 * decay
        kl = 15 + 35 * math.exp(-step / 100) + rng.random()
        events.append(StepMetrics(
            epoch=(step - 1) // 30 + 1, step=step, total_steps=n, train_loss=stft + mag + if_ + level + 0.001 * kl,
            recon_loss=mag + if_, kl_loss=kl, kl_weight=min(step / 300, 1) * 1e-3, learning_rate=1e-3,
            step_time_s=0.1, stft_loss=stft, mag_recon_loss=mag, if_recon_loss=if_, level_loss=level,
            grad_norm=1.0,
            wall_time=1000.0 + step))
    return events


def epoch_event(epoch, step):
    values = {name: 0.5 for name in EpochMetrics.__dataclass_fields__}
    values.update(epoch=epoch, total_epochs=10, step=step, skipped_steps=0, wall_time=1000.0 + step)
    return EpochMetrics(**values)


@pytest.fixture
def panel(qtbot):
    panel = LossPlotPanel()            # as the window makes it: the defaults are under test
    qtbot.addWidget(panel)
    panel.resize(880, 560)
    panel.show()
    qtbot.waitExposed(panel)
    panel.series.extend(steps_per_epoch=30)
    panel.series.extend(steps=rows_of(realistic_steps()))
    for epoch in range(1, 11):
        panel.series.extend(epochs=rows_of([epoch_event(epoch, 30 * epoch)]))
    panel.redraw_now()
    QApplication.processEvents()
    return panel


def screen_y(panel, name):
    """The on-screen y (scene pixels) of a curve's median drawn value."""
    _, y = panel.plot_items(name)[0].getData()
    return panel.plot.vb.mapViewToScene(pg.Point(0, float(np.median(y)))).y()


def test_the_first_view_is_log_y_and_shows_every_component_apart(panel):
    assert panel.log_y_box.isChecked() and panel.plot.getAxis("left").logMode
    panel.plot.vb.autoRange()
    positions = {key: screen_y(panel, f"step:{field}") for key, field in FIELDS["step"].items()}
    top, bottom = panel.plot.vb.sceneBoundingRect().top(), panel.plot.vb.sceneBoundingRect().bottom()
    for key, y in positions.items():
        assert top <= y <= bottom, key
    medians = {key: np.median(panel.curve_data(f"step:{field}")[1]) for key, field in FIELDS["step"].items()}
    keys, checked = list(positions), 0
    for i, a in enumerate(keys):     # terms that differ 2x or more are at least 15 px apart
        for b in keys[i + 1:]:
            if max(medians[a], medians[b]) >= 2 * min(medians[a], medians[b]):
                checked += 1
                assert abs(positions[a] - positions[b]) >= 15, (a, b, positions)
    assert checked >= 6          # (magnitude and IF are 2x apart, STFT 3x IF, KL 10x the rest)


def test_the_legend_names_the_line_styles_and_sits_off_the_curves(panel):
    labels = panel.legend_strip.labels()
    for label in ("total", "STFT", "magnitude", "IF", "KL", "per step", "per epoch", "validation",
                  "KL weight", "learning rate"):
        assert label in labels
    legend = panel.legend.sceneBoundingRect()
    assert legend.height() > 0
    for view in (panel.plot.vb, panel.schedule_plot.vb):
        assert not legend.intersects(view.sceneBoundingRect())
    styles = {label.text: sample.item for sample, label in panel.legend.items}
    assert styles["per step"].opts["pen"].style() != styles["validation"].opts["pen"].style()
    assert styles["per epoch"].opts["symbol"] and styles["validation"].opts["symbol"]
    panel.set_smoothing(0.9)                     # the raw curves turn faint; the legend does not
    panel.redraw_now()
    for sample, label in panel.legend.items:
        assert pg.mkPen(sample.item.opts["pen"]).color().alpha() == 255, label.text


def test_kl_weight_and_learning_rate_have_clearly_different_colours():
    (lr,) = [name for name in SCHEDULES if name != KL_SCHEDULE]
    hues = [colorsys.rgb_to_hsv(*pg.mkColor(COLORS[n]).getRgbF()[:3])[0] * 360 for n in (KL_SCHEDULE, lr)]
    distance = abs(hues[0] - hues[1])
    assert min(distance, 360 - distance) >= 90, hues


def test_the_hover_readout_never_resizes_the_plot_and_clears(panel, qtbot):
    plot_height, readout_height = panel._graphics.height(), panel.readout.height()
    assert panel.readout.is_empty()
    panel._graphics.scene().sigMouseMoved.emit(panel.plot.vb.sceneBoundingRect().center())
    qtbot.waitUntil(lambda: not panel.readout.is_empty())
    QApplication.processEvents()
    assert (panel._graphics.height(), panel.readout.height()) == (plot_height, readout_height)
    # one value a cell: a row per series, a column per component and schedule
    for key in ("total", "stft", "magnitude", "if", "kl", *SCHEDULES):
        float(panel.readout.text_at("step", key))
    for key in ("total", "stft", "kl"):
        float(panel.readout.text_at("val", key))
    QApplication.sendEvent(panel._graphics.viewport(), QEvent(QEvent.Type.Leave))   # the mouse leaves
    assert panel.readout.is_empty()
    panel._graphics.scene().sigMouseMoved.emit(panel.plot.vb.sceneBoundingRect().center())
    qtbot.waitUntil(lambda: not panel.readout.is_empty())
    panel.clear()                                # what the window does when a new run starts
    assert panel.readout.is_empty()
    assert (panel._graphics.height(), panel.readout.height()) == (plot_height, readout_height)


def write_named_run(runs_dir, name, loss):
    writer = create_run(runs_dir, name, "/corpus", 1)
    for step in range(1, 21):
        writer.log_step({"step": step, "epoch": 1, "train_loss": loss / step, "wall_time": 100.0 + step})
    writer.log_epoch({"epoch": 1, "step": 20, "val_loss": loss, "wall_time": 121.0})
    writer.close("completed")
    return writer.run_dir


def test_overlays_are_labelled_by_the_runs_names_with_ids_where_names_repeat(qtbot, tmp_path):
    runs = tmp_path / "runs"
    dirs = [write_named_run(runs, "kick lr 0.001", 1.0), write_named_run(runs, "kick lr 0.001", 2.0),
            write_named_run(runs, "snare", 3.0)]
    plot = LossPlotPanel()
    browser = RunBrowser(plot, [runs])
    qtbot.addWidget(plot)
    qtbot.addWidget(browser)
    try:
        browser.overlay([str(d) for d in dirs])
        labels = plot.legend_strip.labels()
        ids = [d.name for d in dirs]
        assert labels == [f"kick lr 0.001 ({ids[0]}) · train_loss", f"kick lr 0.001 ({ids[1]}) · train_loss",
                          "snare · train_loss"]          # only the overlaid runs: no empty components
    finally:
        browser.shutdown()
    assert overlay_labels([("a", "1"), ("", "2"), ("a", "3")]) == ["a (1)", "2", "a (3)"]


def test_in_the_window_the_plot_starts_log_y_and_a_new_run_clears_the_readout(
        make_main_window, corpus_dir, make_config, qtbot):
    window = make_main_window()
    window.config_editor.set_config(make_config(epochs=1))
    with qtbot.waitSignal(window.corpus_panel.report_ready, timeout=60_000):
        window.corpus_panel.set_folder(str(corpus_dir))
    qtbot.waitUntil(lambda: window.train_action.isEnabled(), timeout=60_000)
    plot = window.plot_panel
    assert plot.log_y_box.isChecked() and plot.plot.getAxis("left").logMode
    with qtbot.waitSignal(window.controller.run_finished, timeout=60_000):
        window.train_action.trigger()
    plot.redraw_now()
    plot._graphics.scene().sigMouseMoved.emit(plot.plot.vb.sceneBoundingRect().center())
    qtbot.waitUntil(lambda: not plot.readout.is_empty())
    with qtbot.waitSignal(window.controller.run_finished, timeout=60_000):
        window.train_action.trigger()                  # the next run: nothing of the last one stays
        assert plot.readout.is_empty() and len(plot.series.steps) == 0
