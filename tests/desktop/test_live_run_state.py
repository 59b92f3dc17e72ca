"""The views of a live run show the run's own state: the Contributions chart weights each term with
the run's loss config (carried by RunStarted), not the editor's; the toolbar's pause state is the
trainer's, also when the run paused itself on a divergence warning."""
import pytest
from PySide6.QtCore import Qt

from distill_desktop.bridge.worker import RunRequest
from distill_engine.runs.reader import open_run

from test_main_window import TIMEOUT, divergence_dialog, ready_window, train_and_wait  # noqa: F401


def shares_from_the_store(run_dir) -> dict:
    """Each weighted term's share of the total at the run's last step, computed here from the
    stored terms and the run's own config.toml (an oracle independent of the window)."""
    with open_run(run_dir) as run:
        loss = run.config.loss
        last = {n: run.metric(n, per="step")[1][-1]
                for n in ("stft_loss", "mag_recon_loss", "if_recon_loss", "level_loss", "kl_loss", "kl_weight")}
    rec = loss.reconstruction
    terms = {"stft": loss.stft.weight * last["stft_loss"],
             "magnitude": rec.weight * rec.magnitude_weight * last["mag_recon_loss"],
             "if": rec.weight * rec.if_weight * last["if_recon_loss"],
             "level": loss.level.weight * last["level_loss"],
             "kl": last["kl_weight"] * last["kl_loss"]}
    total = sum(terms.values())
    return {term: value / total for term, value in terms.items()}


def edit_loss_weights(window, stft: str, reconstruction: str) -> None:
    window.config_editor.field_widget("loss.stft.weight").setText(stft)
    window.config_editor.field_widget("loss.reconstruction.weight").setText(reconstruction)
    assert window.config_editor.config().loss.stft.weight == float(stft)


def test_editing_the_loss_weights_does_not_reweight_the_runs_chart(ready_window, qtbot):
    window = ready_window(epochs=2)
    result = train_and_wait(window, qtbot)
    shown = window.contribution_panel.latest_shares()
    assert shown == pytest.approx(shares_from_the_store(result.run_dir), rel=1e-6)
    edit_loss_weights(window, "40", "3")
    assert window.contribution_panel.latest_shares() == pytest.approx(shown, rel=1e-9)


def test_a_continued_run_is_weighted_with_its_own_config_not_the_editors(ready_window, qtbot):
    window = ready_window(epochs=2)
    first = train_and_wait(window, qtbot)
    edit_loss_weights(window, "40", "3")       # the editor now holds other weights than the run
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        window.start_request(RunRequest(resume_run=first.run_dir, epochs=3))
    assert finished.args[0].status == "completed"
    expected = shares_from_the_store(first.run_dir)
    assert window.contribution_panel.latest_shares() == pytest.approx(expected, rel=1e-6)


def test_the_pause_state_after_a_divergence_warning_is_the_trainers(ready_window, qtbot, rising_loss):
    window = ready_window(epochs=5, divergence_patience=2)
    dialog = divergence_dialog(window, qtbot)          # the bridge paused the trainer itself
    trainer = window.controller.session.worker.trainer
    assert window.controller.session.paused
    assert "Resume" in window.pause_action.text()
    with qtbot.waitSignal(window.controller.run_finished, timeout=TIMEOUT) as finished:
        window.pause_action.trigger()                  # the toolbar resumes it, with one press
        qtbot.waitUntil(lambda: not trainer.paused, timeout=TIMEOUT)
        assert "Pause" in window.pause_action.text()
    assert finished.args[0].status == "completed" and not window.controller.session.paused
    qtbot.mouseClick(dialog.keep_button, Qt.LeftButton)   # the question is still open: answer it
    assert not dialog.isVisible()
