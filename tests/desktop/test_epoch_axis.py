"""One step -> fractional-epoch mapping in the window: a stored run drawn in the plot and the same
run overlaid agree on every step's epoch, also for a linked run that starts at step 50 with another
batch size (20 steps an epoch where its parent had 10)."""
import numpy as np

from distill_desktop.browser.run_browser import overlay_xy
from distill_desktop.models.run_series import fractional_epochs
from distill_desktop.models.run_curves import load_run_into_plot
from distill_desktop.panels.loss_plot import LossPlotPanel
from distill_engine.runs.reader import open_run
from distill_engine.runs.writer import create_run


def write_linked_run(runs_dir):
    """Steps 51..110 at 20 steps an epoch: epochs 6, 7, 8 end at steps 70, 90, 110."""
    writer = create_run(runs_dir, "linked", "/corpus", 8)
    writer.log_event("run_started", {"steps_per_epoch": 20, "start_step": 50, "start_epoch": 5}, step=50, epoch=5)
    for step in range(51, 111):
        writer.log_step({"step": step, "epoch": 6 + (step - 51) // 20, "train_loss": 1.0 / step,
                         "wall_time": 1000.0 + step})
    for epoch, step in ((6, 70), (7, 90), (8, 110)):
        writer.log_epoch({"epoch": epoch, "step": step, "val_loss": 1.0 / epoch, "wall_time": 1000.0 + step})
    writer.close("completed")
    return writer.run_dir


def test_the_plot_and_an_overlay_put_each_step_at_the_same_epoch(qtbot, tmp_path):
    run_dir = write_linked_run(tmp_path / "runs")
    panel = LossPlotPanel()
    qtbot.addWidget(panel)
    with open_run(run_dir) as run:
        load_run_into_plot(run, panel)
        overlay_x, _ = overlay_xy(run, "train_loss", "step", "epoch")
    panel.set_x_mode("epoch")
    plot_x, _ = panel.curve_data("train_loss")
    np.testing.assert_allclose(plot_x, overlay_x)
    assert plot_x[0] == 5.05 and plot_x[19] == 6.0 and plot_x[-1] == 8.0   # step 51, 70, 110


def test_fractional_epochs_between_and_beyond_the_anchors():
    anchors = {6: 70, 7: 90}
    np.testing.assert_allclose(fractional_epochs([51, 70, 80, 90, 100], anchors, 20), [5.05, 6, 6.5, 7, 7.5])
    np.testing.assert_allclose(fractional_epochs([5, 10], {1: 10}), [0.5, 1.0])   # pace from one anchor
    assert np.isnan(fractional_epochs([5], {})).all()                           # nothing gives a pace
