"""The real window, driven as a person would: train, watch, stop, be warned, fail, close."""
import gc
import math
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QEvent, Qt

from distill_desktop.dialogs import DivergenceDialog, ErrorDialog
from distill_desktop.bridge.worker import RunRequest
from distill_engine import load_checkpoint
from distill_engine.training import trainer as trainer_module
from distill_engine.runs.reader import list_runs, open_run
from support import make_preview_run

TIMEOUT = 60_000


@pytest.fixture
def ready_window(make_main_window, corpus_dir, make_config, qtbot):
    """A window pointed at a generated corpus with a tiny config, corpus report loaded."""
    def make(**config_overrides):
        window = make_main_window()
        window.config_editor.set_config(make_config(**config_overrides))
        with qtbot.waitSignal(window.corpus_panel.report_ready, timeout=TIMEOUT):
            window.corpus_panel.set_folder(str(corpus_dir))
        qtbot.waitUntil(lambda: window.train_action.isEnabled(), timeout=TIMEOUT)
        return window
    return make


def train_and_wait(window, qtbot):
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        window.train_action.trigger()
    return finished.args[0]


def test_a_short_run_reaches_its_end_and_every_component_curve_has_points(ready_window, qtbot):
    window = ready_window(epochs=3)
    result = train_and_wait(window, qtbot)
    assert result.status == "completed"
    plot = window.plot_panel
    plot.redraw_now()
    for name in ("train_loss", "stft_loss", "mag_recon_loss", "if_recon_loss", "kl_loss"):
        x, y = plot.curve_data(name)
        assert len(x) == result.step and all(math.isfinite(v) for v in y), name
    for name in ("val_loss", "val_stft_loss", "val_mag_recon_loss", "val_if_recon_loss", "val_kl_loss"):
        assert len(plot.curve_data(name)[0]) == 3, name
    assert len(plot.curve_data("kl_weight")[0]) == result.step
    assert len(plot.curve_data("learning_rate")[0]) == result.step
    log = window.log_panel.text()
    assert "STFT weight" in log and log.count("epoch ") >= 3
    assert "epoch 3/3" in window.status.text() and "cpu" in window.status.text()
    shares = window.contribution_panel.latest_shares()
    assert sum(shares.values()) == pytest.approx(1.0)
    assert open_run(result.run_dir).status == "completed"


def test_an_invalid_field_disables_train_and_shows_its_message(ready_window, qtbot):
    window = ready_window()
    hop = window.config_editor.field_widget("loss.stft.hop_sizes[1]")
    hop.setText("3000")
    assert not window.train_action.isEnabled()
    assert "must not exceed" in window.config_editor.field_error("loss.stft.hop_sizes[1]")
    hop.setText("256")
    assert window.train_action.isEnabled()


def test_stop_mid_run_writes_a_checkpoint(ready_window, qtbot):
    window = ready_window(epochs=10_000, checkpoint_interval_s=3600.0)
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        window.train_action.trigger()
        qtbot.waitUntil(lambda: len(window.plot_panel.curve_data("train_loss")[0]) >= 3, timeout=TIMEOUT)
        assert window.stop_action.isEnabled()
        window.stop_action.trigger()
    result = finished.args[0]
    assert result.status == "stopped"
    stops = [e for e in open_run(result.run_dir).events("checkpoint") if e.payload["reason"] == "stop"]
    assert len(stops) == 1 and load_checkpoint(stops[0].payload["path"]).step == result.step
    assert window.train_action.isEnabled()


def divergence_dialog(window, qtbot) -> DivergenceDialog:
    window.train_action.trigger()
    qtbot.waitUntil(lambda: window.controller.divergence_dialog is not None, timeout=TIMEOUT)
    dialog = window.controller.divergence_dialog
    assert dialog.isVisible() and "3" in dialog.table_rows()[-1][0]
    qtbot.waitUntil(lambda: window.controller.session.worker.trainer.paused, timeout=TIMEOUT)
    return dialog


def test_divergence_keep_training_resumes_the_run(ready_window, qtbot, rising_loss):
    window = ready_window(epochs=5, divergence_patience=2)
    dialog = divergence_dialog(window, qtbot)
    assert len(window.plot_panel.curve_data("val_loss")[0]) == 3  # paused at the end of epoch 3
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        qtbot.mouseClick(dialog.keep_button, Qt.LeftButton)
    assert finished.args[0].status == "completed" and finished.args[0].epochs_done == 5


def test_divergence_stop_ends_the_run_as_diverged_keeping_the_best(ready_window, qtbot, rising_loss):
    window = ready_window(epochs=50, divergence_patience=2)
    dialog = divergence_dialog(window, qtbot)
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        qtbot.mouseClick(dialog.stop_button, Qt.LeftButton)
    result = finished.args[0]
    assert result.status == "diverged-stopped" and result.epochs_done == 3
    assert load_checkpoint(result.best_checkpoint).epoch == 1  # the rising loss was best at epoch 1
    assert open_run(result.run_dir).status == "diverged-stopped"


def test_divergence_roll_back_starts_a_linked_run_from_the_best_with_half_the_rate(ready_window, qtbot, rising_loss, tmp_path):
    window = ready_window(epochs=4, divergence_patience=2, learning_rate=0.002)
    dialog = divergence_dialog(window, qtbot)
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as first:
        qtbot.mouseClick(dialog.rollback_button, Qt.LeftButton)
    assert first.args[0].status == "diverged-stopped"
    qtbot.waitUntil(lambda: window.controller.is_running(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.controller.divergence_dialog is not None or not window.controller.is_running(),
                    timeout=TIMEOUT)
    if window.controller.divergence_dialog is not None:  # the rising loss diverges again: stop there
        with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT):
            qtbot.mouseClick(window.controller.divergence_dialog.stop_button, Qt.LeftButton)
    runs = {r.run_dir.name: open_run(r.run_dir) for r in list_runs(tmp_path / "runs")}
    assert len(runs) == 2
    child = next(r for r in runs.values() if r.parent_run)
    assert child.parent_run.endswith(first.args[0].run_dir.split("/")[-1])
    assert child.config.learning_rate == pytest.approx(0.001)
    _, lr = child.metric("learning_rate")
    assert lr[0] == pytest.approx(0.001)
    assert child.metric("train_loss")[0][0] == load_checkpoint(first.args[0].best_checkpoint).step + 1


def test_an_engine_exception_reaches_the_error_dialog_and_the_window_still_responds(ready_window, qtbot, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated engine bug")

    monkeypatch.setattr(trainer_module, "compute_combined_loss", broken)
    window = ready_window(epochs=2)
    result = train_and_wait(window, qtbot)
    assert result is None or result.status == "failed"
    dialog = window.controller.error_dialog
    assert isinstance(dialog, ErrorDialog) and dialog.isVisible()
    assert "simulated engine bug" in dialog.details()
    dialog.close()
    monkeypatch.undo()
    assert window.train_action.isEnabled()
    assert train_and_wait(window, qtbot).status == "completed"


def test_closing_mid_run_stops_it_with_a_checkpoint(ready_window, qtbot, capfd):
    window = ready_window(epochs=10_000, checkpoint_interval_s=3600.0)
    window.train_action.trigger()
    qtbot.waitUntil(lambda: len(window.plot_panel.curve_data("train_loss")[0]) >= 2, timeout=TIMEOUT)
    run_dir = window.controller.session.worker.trainer.run_dir
    window.close()
    assert not window.controller.is_running()
    run = open_run(run_dir)
    assert run.status == "stopped"
    assert any(not c.is_best for c in run.checkpoints())
    assert "Destroyed while thread" not in capfd.readouterr().err


def test_corpus_config_and_geometry_persist(make_main_window, corpus_dir, make_config, qtbot, tmp_path):
    window = make_main_window()
    window.config_editor.set_config(make_config(epochs=7))
    with qtbot.waitSignal(window.corpus_panel.report_ready, timeout=TIMEOUT):
        window.corpus_panel.set_folder(str(corpus_dir))
    window.resize(1250, 760)
    window.close()
    again = make_main_window()
    qtbot.waitUntil(lambda: again.corpus_panel.folder() == str(corpus_dir), timeout=TIMEOUT)
    assert again.config_editor.config().epochs == 7
    assert again.size().height() == 760  # the default is 820; the offscreen screen clamps widths


def test_a_new_user_gets_the_demo_corpus(make_main_window, qtbot):
    window = make_main_window()
    qtbot.waitUntil(lambda: window.corpus_panel.folder().endswith("demo_corpus"), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.corpus_panel.report() is not None, timeout=TIMEOUT)
    assert window.train_action.isEnabled()


@pytest.mark.parametrize("mode", ["continue", "new"])
def test_resume_from_a_checkpoint_in_the_runs_tab(ready_window, qtbot, mode):
    window = ready_window(epochs=2)
    first = train_and_wait(window, qtbot)
    window.tabs.setCurrentWidget(window.history_tab)
    browser = window.history_tab.browser
    qtbot.waitUntil(lambda: browser.runs.model.rowCount() == 1, timeout=TIMEOUT)  # the run just trained
    window.history_tab.ask_total_epochs = lambda done, planned: 4
    latest = max((c for c in open_run(first.run_dir).checkpoints() if not c.is_best), key=lambda c: c.step)
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        browser.checkpoints.resume_requested.emit(first.run_dir, str(latest.path), mode)
    result = finished.args[0]
    assert result.status == "completed" and result.epochs_done == 4
    if mode == "continue":
        assert result.run_dir == first.run_dir
        assert len(open_run(first.run_dir).metric("val_loss")[0]) == 4
    else:
        assert result.run_dir != first.run_dir
        child = open_run(result.run_dir)
        assert child.parent_run and child.parent_run.rstrip("/").endswith(first.run_dir.split("/")[-1])
        assert child.metric("val_loss")[0].tolist() == [3, 4]


def test_torch_is_kept_out_of_the_collector_but_a_finished_runs_model_is_freed(ready_window, qtbot):
    """gc_pauses: torch's objects are frozen (full collections stay short while training); a run's
    own objects are not, so its model and optimizer are freed once it has ended."""
    window = ready_window(epochs=2)
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT):
        window.train_action.trigger()
        qtbot.waitUntil(lambda: len(window.plot_panel.curve_data("train_loss")[0]) >= 1, timeout=TIMEOUT)
        live_model = window.controller.session.worker.trainer.model
        assert any(o is live_model for o in gc.get_objects())    # not in the frozen generation
        model, live_model = weakref.ref(live_model), None
    assert "torch._dynamo" in sys.modules and gc.get_freeze_count() > 100_000 and gc.isenabled()
    qtbot.waitUntil(lambda: window.controller.session.worker is None)
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)   # the finished worker's deleteLater
    gc.collect()
    assert model() is None


def test_continuing_a_run_shows_its_earlier_steps_under_the_new_ones(ready_window, qtbot):
    window = ready_window(epochs=2)
    first = train_and_wait(window, qtbot)
    assert first.status == "completed"
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        window.start_request(RunRequest(resume_run=first.run_dir, epochs=4))
    result = finished.args[0]
    assert result.status == "completed" and result.step == 2 * first.step
    plot = window.plot_panel
    for name in ("train_loss", "stft_loss", "kl_weight"):
        x, y = plot.curve_data(name)
        assert list(x) == list(range(1, result.step + 1)), name     # every step once, in order
    assert list(plot.curve_data("val_loss")[0]) == [first.step // 2 * e for e in (1, 2, 3, 4)]
    with open_run(first.run_dir) as run:                            # the earlier steps as stored
        steps, stored = run.metric("train_loss", per="step")
    np.testing.assert_array_equal(plot.curve_data("train_loss")[1][:first.step], stored[:first.step])
    assert len(window.contribution_panel.band_data()[0]) == result.step
    assert f"its {first.step:,} earlier steps are shown" in window.log_panel.text()


# -- the Listen tab --------------------------------------------------------------------------
def test_each_new_preview_appears_while_training_without_a_click(ready_window, qtbot):
    window = ready_window(epochs=2, preview_interval_s=1e-6)     # a preview at every epoch end
    listen = window.listen_panel
    window.tabs.setCurrentWidget(listen)
    shown_epochs = []
    listen.shown.connect(lambda read: shown_epochs.append(read.shown.epoch if read.shown else None))
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        window.train_action.trigger()
    result = finished.args[0]
    assert result.status == "completed"
    with open_run(result.run_dir) as run:
        stored = sorted(run.preview_epochs(), reverse=True)
    assert stored == [2, 1]
    qtbot.waitUntil(lambda: listen.epochs() == stored and listen.shown_epoch() == 2, timeout=TIMEOUT)
    assert listen.run_dir == Path(result.run_dir)
    assert [e for e in shown_epochs if e is not None] == sorted(set(e for e in shown_epochs if e is not None))
    rows = [row for row in listen.clip_rows if not row[0].isHidden()]   # the tab itself is behind the plots
    assert rows and all(o.clip is not None and r.clip is not None for o, r, _ in rows)
    assert all(r.figures.text().startswith("distance ") for _, r, _ in rows)
    for view in listen._views():
        if not view.isHidden() and not view.player.available:
            assert not view.play_button.isEnabled() and view.play_button.toolTip() == view.player.unavailable_reason


def test_a_run_opened_from_the_runs_tab_shows_its_previews(make_main_window, qtbot, tmp_path):
    window = make_main_window()
    run_dir, _ = make_preview_run(tmp_path / "runs", [1, 2, 5])
    with qtbot.waitSignal(window.listen_panel.shown, timeout=TIMEOUT):
        window.history_tab.browser.runs.run_opened.emit(str(run_dir))
    assert window.listen_panel.run_dir == run_dir and window.listen_panel.epochs() == [5, 2, 1]
    assert "(training)" not in window.listen_panel.title.text()
