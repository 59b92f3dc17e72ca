"""One series model in the window: the same steps fed live (the worker's events), as a stored
history (a run read back from its SQLite store) and as a followed run (RunFollower polling the
folder while it is written) give identical arrays and identical fractional epochs."""
import math
from dataclasses import asdict

import numpy as np
import pytest

from distill_desktop.bridge.run_follower import RunFollower
from distill_desktop.browser.history_tab import HistoryTab
from distill_desktop.browser.run_browser import overlay_xy
from distill_desktop.models.loss_data import PLOT_EPOCH_NAMES, PLOT_STEP_NAMES, plot_series
from distill_desktop.models.run_curves import read_run_rows
from distill_desktop.models.run_series import RunSeries, rows_of
from distill_engine.runs.reader import open_run
from distill_engine.runs.writer import create_run
from distill_engine.training.events import EpochMetrics, StepMetrics

T0 = 1_700_000_000.0
SPE = 20             # steps per epoch of the linked run: it starts at step 50 (its parent's epoch 5)


def linked_run_events():
    """StepMetrics of steps 51..130 (one skipped as non-finite) and EpochMetrics of epochs 6..9."""
    steps, epochs = [], []
    for step in range(51, 131):
        loss = math.nan if step == 77 else 1.0 / math.sqrt(step) + 0.05 * math.sin(step)
        steps.append(StepMetrics(
            epoch=6 + (step - 51) // SPE, step=step, total_steps=130, train_loss=loss,
            recon_loss=0.3 * loss, kl_loss=20.0 + step % 7, kl_weight=min(step / 200, 0.5),
            learning_rate=1e-3 * 0.99 ** step, step_time_s=0.02, stft_loss=0.6 * loss,
            mag_recon_loss=0.2 * loss, if_recon_loss=0.1 * loss, level_loss=0.15 * loss, grad_norm=1.5,
            wall_time=T0 + 0.25 * step))
        if (step - 50) % SPE == 0:
            epoch = 5 + (step - 50) // SPE
            values = {f: 0.5 / epoch for f in EpochMetrics.__dataclass_fields__}
            values.update(epoch=epoch, total_epochs=9, step=step, skipped_steps=0,
                          wall_time=T0 + 0.25 * step + 1.5)
            epochs.append(EpochMetrics(**values))
    return steps, epochs


def feed_live(series, steps, epochs, burst=7):
    """As the training controller does: RunStarted's pace, step bursts, each epoch after its steps."""
    series.extend(steps_per_epoch=SPE)
    pending = list(epochs)
    for i in range(0, len(steps), burst):
        series.extend(steps=rows_of(steps[i:i + burst]))
        while pending and pending[0].step <= steps[min(i + burst, len(steps)) - 1].step:
            series.extend(epochs=rows_of([pending.pop(0)]))


def assert_same_series(a: RunSeries, b: RunSeries):
    for per, names in (("step", PLOT_STEP_NAMES), ("epoch", PLOT_EPOCH_NAMES)):
        table_a, table_b = a.table(per), b.table(per)
        assert len(table_a) == len(table_b) > 0
        for name in (*names, "step", "epoch", "wall_time"):
            if name in table_a.columns:
                np.testing.assert_array_equal(table_a[name], table_b[name], err_msg=f"{per}:{name}")
    np.testing.assert_array_equal(a.step_epochs(), b.step_epochs())
    for mode in ("step", "epoch", "wall time"):
        for per in ("step", "epoch"):
            np.testing.assert_array_equal(a.x(per, mode) - a.offset(mode), b.x(per, mode) - b.offset(mode))


def test_live_stored_and_followed_feeds_give_the_same_series(qtbot, tmp_path):
    steps, epochs = linked_run_events()
    live = plot_series()
    feed_live(live, steps, epochs)

    writer = create_run(tmp_path / "runs", "linked", "/corpus", 9)
    writer.log_event("run_started", {"steps_per_epoch": SPE, "start_step": 50, "start_epoch": 5},
                     step=50, epoch=5)
    followed = plot_series()
    follower = RunFollower(interval_ms=20)
    follower.steps_added.connect(lambda rows: followed.extend(steps=rows))
    follower.epochs_added.connect(lambda rows: followed.extend(epochs=rows))
    follower.events_added.connect(lambda events: [followed.extend(steps_per_epoch=e.payload["steps_per_epoch"])
                                                  for e in events if e.kind == "run_started"])
    follower.start(writer.run_dir)
    try:
        pending = list(epochs)
        for i in range(0, len(steps), 13):            # the run is written while it is followed
            for event in steps[i:i + 13]:
                writer.log_step(asdict(event))
                if pending and pending[0].step == event.step:
                    writer.log_epoch(asdict(pending.pop(0)))
            writer.flush()
            last = steps[min(i + 13, len(steps)) - 1].step
            qtbot.waitUntil(lambda: len(followed.steps) and followed.steps["step"][-1] == last, timeout=10_000)
        writer.close("completed")
        qtbot.waitUntil(lambda: len(followed.epochs) == len(epochs), timeout=10_000)
    finally:
        follower.stop()
    assert_same_series(live, followed)

    with open_run(writer.run_dir) as run:
        stored = plot_series()
        stored.extend(**read_run_rows(run))
        assert_same_series(live, stored)
        # an overlay builds the same model from the stored run: the same x as the live curve
        x, y = overlay_xy(run, "train_loss", "step", "epoch")
    np.testing.assert_array_equal(x, live.step_epochs())
    np.testing.assert_array_equal(y, live.steps["train_loss"])
    assert live.step_epochs()[[0, 19, 79]].tolist() == pytest.approx([5.05, 6.0, 9.0])
    assert np.isnan(live.steps["train_loss"][26])          # the skipped step stays a gap, in place


def test_a_continued_runs_history_then_its_live_steps_equal_the_whole_run_stored(qtbot, tmp_path):
    """Continuing a run: its stored rows up to the checkpoint, then live steps, through the same
    entry point, equal the finished run read back (and the Runs tab's plot shows that series)."""
    steps, epochs = linked_run_events()
    writer = create_run(tmp_path / "runs", "linked", "/corpus", 9)
    writer.log_event("run_started", {"steps_per_epoch": SPE, "start_step": 50, "start_epoch": 5},
                     step=50, epoch=5)
    for event in steps:
        writer.log_step(asdict(event))
        for epoch in epochs:
            if epoch.step == event.step:
                writer.log_epoch(asdict(epoch))
    writer.close("completed")
    with open_run(writer.run_dir) as run:
        history = read_run_rows(run, until_step=90, until_epoch=7)     # the checkpoint at epoch 7
        whole = plot_series()
        whole.extend(**read_run_rows(run))
    continued = plot_series()
    continued.extend(**history)
    feed_live(continued, [s for s in steps if s.step > 90], [e for e in epochs if e.epoch > 7])
    assert_same_series(whole, continued)

    tab = HistoryTab([tmp_path / "runs"])
    qtbot.addWidget(tab)
    with qtbot.waitSignal(tab.browser.run_loaded, timeout=10_000):
        tab.browser.open_run_dir(writer.run_dir)
    assert_same_series(whole, tab.plot_panel.series)
    tab.shutdown()


def test_rows_without_their_key_or_of_unequal_length_are_refused():
    series = RunSeries(("train_loss",))
    with pytest.raises(KeyError, match="'step'"):
        series.extend(steps={"train_loss": [1.0]})
    with pytest.raises(ValueError, match="train_loss"):
        series.extend(steps={"step": [1, 2], "train_loss": [1.0]})
    series.extend(steps={"step": [1, 2], "grad_norm": [3.0, 4.0]})   # a column not kept: ignored
    assert len(series.steps) == 2 and np.isnan(series.steps["train_loss"]).all()
