"""The divergence question and the error report, driven by clicks the way a user would."""
from __future__ import annotations

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog

from distill_desktop.dialogs import KEEP, ROLLBACK, STOP, DivergenceDialog, ErrorDialog, show_error
from distill_desktop.dialogs import error_dialog
from distill_engine.training.events import DivergenceWarning

LOSSES = (0.412, 0.425, 0.44, 0.461, 0.49, 0.538)


def warning(**overrides):
    fields = dict(epoch=17, step=1700, monitored="val_loss", patience=5,
                  streak_epochs=(12, 13, 14, 15, 16, 17), streak_losses=LOSSES)
    fields.update(overrides)
    return DivergenceWarning(**fields)


@pytest.fixture
def dialog(qtbot):
    d = DivergenceDialog(warning())
    qtbot.addWidget(d)
    return d


def test_the_streak_is_shown_as_a_sentence_and_a_table(dialog):
    assert dialog.sentence_label.text() == (
        "The validation loss has risen for 5 consecutive epochs (epoch 12 → 17), from 0.412 to 0.538.")
    rows = dialog.table_rows()
    assert [r[0] for r in rows] == ["12", "13", "14", "15", "16", "17"]
    assert [r[1] for r in rows] == ["0.412", "0.425", "0.44", "0.461", "0.49", "0.538"]
    assert rows[0][2] == "—"
    assert rows[1][2].startswith("+0.013") and rows[5][2].startswith("+0.048")
    assert dialog.table.horizontalHeaderItem(1).text() == "Validation loss"


def test_epochs_listing_only_the_rises_get_the_epoch_before_the_streak(qtbot):
    d = DivergenceDialog(warning(monitored="train_loss", patience=2, streak_epochs=(8, 9),
                                 streak_losses=(1.0, 1.5, 3.0)))
    qtbot.addWidget(d)
    assert d.sentence_label.text().startswith("The training loss has risen for 2 consecutive epochs (epoch 7 → 9)")
    assert [r[:2] for r in d.table_rows()] == [("7", "1"), ("8", "1.5"), ("9", "3")]
    assert d.table_rows()[2][2] == "+1.5 (+100.0%)"


@pytest.mark.parametrize("button, expected", [("keep_button", KEEP), ("stop_button", STOP),
                                              ("rollback_button", ROLLBACK)])
def test_each_button_closes_the_dialog_with_its_choice(qtbot, dialog, button, expected):
    dialog.open()
    with qtbot.waitSignals([dialog.finished, dialog.choice_made]) as blocker:
        qtbot.mouseClick(getattr(dialog, button), Qt.MouseButton.LeftButton)
    assert dialog.choice() == expected and dialog.result() == QDialog.DialogCode.Accepted
    assert not dialog.isVisible()
    assert "Roll back (restart from the best checkpoint with half the learning rate)" == dialog.rollback_button.text()
    assert "Stop (keep the best checkpoint)" == dialog.stop_button.text()
    assert blocker.signal_triggered


def test_escape_means_keep_training(qtbot, dialog):
    dialog.open()
    with qtbot.waitSignal(dialog.choice_made) as blocker:
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert blocker.args == [KEEP] and dialog.choice() == KEEP
    assert dialog.result() == QDialog.DialogCode.Rejected


def test_modal_exec_returns_the_choice(qtbot, dialog):
    QTimer.singleShot(0, dialog.stop_button.click)
    QTimer.singleShot(5000, dialog.reject)  # a safety net: never leave the test blocked
    dialog.exec()
    assert dialog.choice() == STOP


TRACEBACK = ('Traceback (most recent call last):\n  File "trainer.py", line 88, in step\n'
             "FloatingPointError: loss is NaN at step 412\n")


def test_error_details_are_hidden_until_toggled(qtbot):
    d = show_error(None, "Training failed", "The loss became NaN 20 steps in a row.", TRACEBACK)
    assert d.isVisible() and not d.isModal() and d in error_dialog._OPEN
    assert d.windowTitle() == "Training failed"
    assert d.message_label.text() == "The loss became NaN 20 steps in a row."
    assert not d.details_edit.isVisible()
    qtbot.mouseClick(d.details_button, Qt.MouseButton.LeftButton)
    assert d.details_edit.isVisible() and d.details_edit.toPlainText() == TRACEBACK
    assert d.details_edit.isReadOnly() and d.details_edit.font().fixedPitch()
    assert d.details_button.text() == "Hide details"
    qtbot.mouseClick(d.copy_button, Qt.MouseButton.LeftButton)
    assert "FloatingPointError: loss is NaN at step 412" in QGuiApplication.clipboard().text()
    qtbot.mouseClick(d.details_button, Qt.MouseButton.LeftButton)
    assert not d.details_edit.isVisible() and d.details_button.text() == "Details…"
    with qtbot.waitSignal(d.finished):
        qtbot.mouseClick(d.close_button, Qt.MouseButton.LeftButton)
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not error_dialog._OPEN and not shiboken6.isValid(d)  # closed and deleted itself


def test_an_error_without_details_offers_no_details_button(qtbot):
    d = ErrorDialog("Cannot open run", "runs/x is not a run folder.")
    qtbot.addWidget(d)
    d.show()
    assert not d.details_button.isVisible() and not d.copy_button.isVisible()
    assert d.close_button.isVisible()


# -- spikes and non-finite failures ----------------------------------------------------------------
def spike(**overrides):
    fields = dict(epoch=1, step=2, monitored="train_loss", patience=5, streak_epochs=(1,),
                  streak_losses=(4.66, 1.7e6), rule="spike", per="step", reference_loss=4.66, factor=10.0,
                  began_epoch=1, began_step=2)
    fields.update(overrides)
    return DivergenceWarning(**fields)


def test_a_spike_names_the_jump_and_that_no_checkpoint_precedes_it(qtbot):
    d = DivergenceDialog(spike())
    qtbot.addWidget(d)
    assert d.sentence_label.text() == ("The training loss jumped to 1.7e+06 at step 2 (epoch 1): "
                                       "3.65e+05× its recent median of 4.66.")
    assert [r[:2] for r in d.table_rows()] == [("median of recent steps", "4.66"), ("step 2", "1.7e+06")]
    assert "no checkpoint from before the blow-up" in d.rollback_text()
    assert d.rollback_button.text() == "Roll back (restart from the beginning with a tenth of the learning rate)"


def test_the_rollback_checkpoint_is_named_and_flagged_when_it_is_after_the_blow_up(qtbot):
    before = DivergenceDialog(spike(epoch=4, step=40, began_epoch=4, began_step=38, best_epoch=3, best_step=30,
                                    best_loss=3.91))
    qtbot.addWidget(before)
    assert "from the best checkpoint: epoch 3 (loss 3.91)" in before.rollback_text()
    assert "⚠" not in before.rollback_text()
    after = DivergenceDialog(warning(began_epoch=1, began_step=12, best_epoch=1, best_step=20, best_loss=1.7e7))
    qtbot.addWidget(after)
    text = after.rollback_text()
    assert "epoch 1 (validation loss 1.7e+07)" in text
    assert "⚠ That checkpoint is from after the blow-up began (epoch 1, step 12)" in text


def test_a_non_finite_failure_offers_roll_back_or_close_but_not_keep(qtbot):
    d = DivergenceDialog(spike(rule="non-finite", step=9, streak_epochs=(), streak_losses=(), best_epoch=2,
                               best_step=8, best_loss=3.5, monitored="train_loss"))
    qtbot.addWidget(d)
    d.show()
    assert "not finite" in d.sentence_label.text() and not d.table.isVisible()
    assert not d.keep_button.isVisible() and d.stop_button.text() == "Close"
    assert "epoch 2 (loss 3.5)" in d.rollback_text() and "a tenth of the learning rate" in d.rollback_text()
