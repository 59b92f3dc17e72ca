"""The corpus panel on real folders written by each test: the engine's report, loaded off the GUI thread."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QCoreApplication, QEvent, Qt

from distill_desktop.bridge.background import all_jobs_ended
from distill_desktop.panels.corpus_panel import CorpusPanel
from distill_engine.config.schema import TrainingConfig
from distill_engine.audio.corpus import load_corpus
from distill_engine.errors import CorpusError

SR = 16000
TIMEOUT_MS = 20000


def sine(seconds=1.0, freq=440.0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def mixed_folder(root: Path) -> Path:
    """One good 16 kHz sine WAV, a text file renamed .wav and an empty file."""
    root.mkdir(parents=True, exist_ok=True)
    sf.write(root / "good.wav", sine(), SR)
    (root / "notes.wav").write_text("this is not audio, just text with a .wav name\n")
    (root / "empty.wav").write_bytes(b"")
    return root


@pytest.fixture
def panel(qtbot):
    p = CorpusPanel(TrainingConfig(chunk_duration=0.5))
    qtbot.addWidget(p)
    yield p
    assert p.shutdown(), "a corpus load thread did not stop"


def test_a_mixed_folder_shows_counts_and_every_skipped_file_with_its_reason(qtbot, panel, tmp_path):
    folder = mixed_folder(tmp_path / "sounds")
    with qtbot.waitSignals([panel.folder_changed, panel.report_ready], timeout=TIMEOUT_MS):
        panel.set_folder(folder)
    report = panel.report()
    assert panel.folder() == str(folder)
    assert [Path(u.path).name for u in report.used] == ["good.wav"]
    summary = panel.summary_label.text()
    assert "1 file used, 1.0 s in total" in summary
    assert "1 training file, 0 validation files" in summary and "2 training chunks" in summary
    rows = dict(panel.skipped_rows())
    assert set(rows) == {"notes.wav", "empty.wav"}
    assert rows["empty.wav"] == "empty file (0 bytes)"
    assert rows["notes.wav"] == "not an audio file"  # libsndfile's words only in the tooltip
    reason_cells = {panel.skipped_table.item(r, 0).text(): panel.skipped_table.item(r, 1)
                    for r in range(panel.skipped_table.rowCount())}
    assert reason_cells["notes.wav"].toolTip().startswith("not an audio file (libsndfile: ")
    assert {name: cell.toolTip() for name, cell in reason_cells.items()} == \
        {Path(s.path).name: s.reason for s in report.skipped}  # the engine's words, in the tooltip
    assert panel.skipped_label.text() == "2 files skipped:" and not panel.error_label.isVisibleTo(panel)


def test_a_folder_with_nothing_usable_reports_the_engine_error(qtbot, panel, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.wav").write_text("text")
    (folder / "b.flac").write_bytes(b"")
    with pytest.raises(CorpusError) as engine:
        load_corpus(folder, TrainingConfig(chunk_duration=0.5))
    with qtbot.waitSignal(panel.load_failed, timeout=TIMEOUT_MS) as blocker:
        panel.set_folder(folder)
    message = blocker.args[0]
    assert message == str(engine.value) and message.startswith("No usable audio in corpus folder")
    assert panel.error_label.text() == message and panel.error_label.isVisibleTo(panel)
    assert panel.report() is None and panel.skipped_rows() == [] and panel.error_details() == ""


def test_a_missing_folder_fails_with_the_engine_message(qtbot, panel, tmp_path):
    with qtbot.waitSignal(panel.load_failed, timeout=TIMEOUT_MS) as blocker:
        panel.set_folder(tmp_path / "nowhere")
    assert "does not exist" in blocker.args[0]


def test_the_demo_button_loads_the_demo_folder(qtbot, panel, tmp_path):
    assert not panel.demo_button.isEnabled()
    demo = mixed_folder(tmp_path / "demo")
    panel.set_demo_folder(demo)
    with qtbot.waitSignal(panel.report_ready, timeout=TIMEOUT_MS):
        qtbot.mouseClick(panel.demo_button, Qt.MouseButton.LeftButton)
    assert panel.folder() == str(demo)


def test_a_config_that_changes_the_chunking_reloads_the_report(qtbot, panel, tmp_path):
    folder = mixed_folder(tmp_path / "sounds")
    with qtbot.waitSignal(panel.report_ready, timeout=TIMEOUT_MS):
        panel.set_folder(folder)
    assert panel.report().chunk_samples == 8000
    with qtbot.waitSignal(panel.report_ready, timeout=TIMEOUT_MS) as blocker:
        panel.set_config(TrainingConfig(chunk_duration=0.25))
    assert blocker.args[0].chunk_samples == 4000 and "4 training chunks" in panel.summary_label.text()


def test_a_newer_load_supersedes_an_older_one(qtbot, panel, tmp_path):
    first = mixed_folder(tmp_path / "first")
    second = tmp_path / "second"
    second.mkdir()
    sf.write(second / "other.wav", sine(0.5, 220.0), SR)
    reports = []
    panel.report_ready.connect(reports.append)
    panel.set_folder(first)
    with qtbot.waitSignal(panel.report_ready, timeout=TIMEOUT_MS):
        panel.set_folder(second)
    assert panel.shutdown()
    QCoreApplication.processEvents()  # deliver any queued result of the abandoned load (it must be ignored)
    assert [r.folder for r in reports] == [str(second.resolve())]
    assert panel.skipped_rows() == []


def test_closing_during_a_load_abandons_it_and_waits_for_the_thread(qtbot, tmp_path, qtlog, monkeypatch):
    folder = mixed_folder(tmp_path / "sounds")
    started = threading.Event()

    def held_load(folder, config, progress):
        """The real engine load, held after its first file until the panel cancels it."""
        def hold(done, total, path):
            started.set()
            panel.jobs.current.sleep(10)     # until the panel cancels the load
            progress(done, total, path)
        return load_corpus(folder, config, progress=hold)

    monkeypatch.setattr("distill_engine.corpus.load_corpus", held_load)
    panel = CorpusPanel(TrainingConfig(chunk_duration=0.5))
    outcomes = []
    panel.report_ready.connect(outcomes.append)
    panel.load_failed.connect(outcomes.append)
    panel.show()
    panel.set_folder(folder)
    assert started.wait(10)
    job = panel.jobs.current
    assert panel.is_loading() and not job.done
    panel.close()  # closeEvent -> shutdown(): the load is abandoned and waited for
    assert job.done and job.cancelled
    assert not panel.is_loading() and all_jobs_ended(10_000)
    panel.deleteLater()
    QCoreApplication.processEvents()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert outcomes == []
    assert not [r for r in qtlog.records if "Destroyed while thread" in r.message]
