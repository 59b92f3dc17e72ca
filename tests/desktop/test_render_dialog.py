"""Render… from the checkpoint browser, on a run trained by the real Trainer: reconstructions of the
files a person picks and N samples written to their folder (read back with soundfile), progress,
cancel, a file that is not audio skipped with its reason, a checkpoint the engine refuses."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt

from distill_desktop.browser.checkpoints_panel import CheckpointsPanel
from distill_desktop.browser.render_dialog import RenderDialog
from distill_engine.checkpoints.format import BEST_NAME
from support import train_tiny_runs, write_corpus


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("render")
    [result] = train_tiny_runs(root, {"run_name": "kit", "epochs": 2})
    assert result.status == "completed"
    return Path(result.run_dir)


@pytest.fixture
def panel(qtbot, trained, tmp_path):
    run_dir = Path(shutil.copytree(trained, tmp_path / "runs" / trained.name))
    panel = CheckpointsPanel()
    qtbot.addWidget(panel)
    panel.set_run(run_dir)
    yield panel
    panel.shutdown()


def open_dialog(qtbot, panel) -> RenderDialog:
    panel.select_checkpoint(panel.run_dir / "checkpoints" / BEST_NAME)
    assert panel.buttons["Render…"].isEnabled()
    dialog = panel.render_selected()
    qtbot.addWidget(dialog)
    return dialog


def test_render_writes_reconstructions_and_samples_and_skips_what_is_not_audio(qtbot, panel, tmp_path):
    inputs = write_corpus(tmp_path / "mine", n_files=2, seconds=1.0)
    (inputs / "notes.wav").write_text("not audio")
    dialog = open_dialog(qtbot, panel)
    assert str(panel.run_dir / "renders") in dialog.output.text()
    dialog.ask_input_files = lambda: [str(p) for p in sorted(inputs.iterdir())]
    dialog.add_inputs()
    dialog.samples.setValue(3)
    out = tmp_path / "out"
    dialog.ask_output_folder = lambda: str(out)
    dialog.choose_output()
    progress = []
    dialog.job_starting.connect(lambda job: job.progress.connect(lambda done, total: progress.append((done, total))))
    dialog.start()
    assert dialog.is_running() and dialog.cancel_button.text() == "Cancel" and not dialog.samples.isEnabled()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=60_000)
    result = dialog.result
    assert result is not None and not result.cancelled
    assert len(result.written) == 2 + 3
    for path in result.written:
        data, rate = sf.read(path)
        assert Path(path).parent == out and rate == 8000 and len(data) > 0 and np.all(np.isfinite(data))
    assert [Path(p).name for p, _ in result.skipped] == ["notes.wav"]
    assert "notes.wav" in dialog.report.toPlainText() and dialog.report.isVisible()
    assert dialog.status.text().startswith("Done: 5 files written") and "1 skipped" in dialog.status.text()
    assert progress[-1] == (6, 6) and [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert dialog.progress.value() == dialog.progress.maximum() == 6
    assert dialog.cancel_button.text() == "Close" and dialog.render_button.isEnabled()


def test_cancel_stops_between_files_and_keeps_what_was_written(qtbot, panel, tmp_path):
    dialog = open_dialog(qtbot, panel)
    dialog.samples.setValue(400)
    dialog.output.setText(str(tmp_path / "many"))
    def cancel_after_the_first_file(job):     # on the render thread, so no file more is written
        job.progress.connect(lambda done, _total: done >= 1 and job.cancel(), Qt.ConnectionType.DirectConnection)

    dialog.job_starting.connect(cancel_after_the_first_file)
    dialog.start()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=60_000)
    result = dialog.result
    assert result.cancelled and len(result.written) == 1
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == sorted(Path(p).name for p in result.written)
    assert dialog.status.text().startswith("Cancelled")


def test_nothing_to_render_keeps_render_disabled(qtbot, panel):
    dialog = open_dialog(qtbot, panel)
    dialog.samples.setValue(0)
    assert not dialog.render_button.isEnabled() and "Add files" in dialog.render_button.toolTip()


def test_a_file_that_is_not_a_checkpoint_is_refused_with_the_reason(qtbot, tmp_path):
    bogus = tmp_path / "weights.safetensors"
    bogus.write_bytes(b"these are my notes")
    dialog = RenderDialog(bogus)
    qtbot.addWidget(dialog)
    dialog.output.setText(str(tmp_path / "out"))
    dialog.start()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=60_000)
    assert dialog.result is None and dialog.status.text().startswith("Cannot render:")
    assert "weights.safetensors" in dialog.status.text()
