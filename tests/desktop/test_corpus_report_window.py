"""The corpus report in the window: each file's own rate, the training rate, a warning when
resampling removes audible content, and skipped files that never squeeze the config editor."""
import numpy as np
import soundfile as sf

from distill_engine.config.schema import RepresentationConfig, TrainingConfig

TIMEOUT = 60_000


def kit_folder(root, n_notes=0):
    """A 44.1 kHz hi-hat (bright noise), a 16 kHz tom and `n_notes` text files a person left there."""
    folder = root / "drum kit"
    folder.mkdir()
    rng = np.random.default_rng(1)
    n = 44100
    spectrum = np.fft.rfft(rng.standard_normal(n))
    hat = np.fft.irfft(spectrum * (np.fft.rfftfreq(n, 1 / 44100) > 7000), n) * np.exp(-6 * np.arange(n) / 44100)
    sf.write(folder / "closed hat.wav", (0.5 * hat / np.abs(hat).max()).astype(np.float32), 44100)
    t = np.arange(16000) / 16000
    sf.write(folder / "tom.wav", (0.6 * np.sin(2 * np.pi * 140 * t) * np.exp(-4 * t)).astype(np.float32), 16000)
    for i in range(n_notes):
        (folder / f"notes {i:02d}.txt").write_text("take list")
    return folder


def config_16k():
    return TrainingConfig(representation=RepresentationConfig(sample_rate=16000), validation_fraction=0.0,
                          chunk_duration=0.5)


def test_the_report_shows_file_rates_the_training_rate_and_the_resampling_warning(make_main_window, qtbot, tmp_path):
    window = make_main_window()
    window.config_editor.set_config(config_16k())
    panel = window.corpus_panel
    with qtbot.waitSignal(panel.report_ready, timeout=TIMEOUT):
        panel.set_folder(str(kit_folder(tmp_path)))
    assert "Files at 44100 Hz (1 file), 16000 Hz (1 file); trained at 16000 Hz" in panel.summary_label.text()
    assert panel.rate_warning.isVisible()
    assert "closed hat.wav" in panel.rate_warning.text() and "tom.wav" not in panel.rate_warning.text()
    assert "above 8000 Hz" in panel.rate_warning.text()

    assert not panel.used_table.isVisible()          # collapsed until asked for
    panel.used_toggle.click()
    assert panel.used_table.isVisible()
    rows = {panel.used_table.item(r, 0).text(): [panel.used_table.item(r, c).text() for c in range(1, 4)]
            for r in range(panel.used_table.rowCount())}
    assert rows["closed hat.wav"][0] == "44100 Hz" and rows["closed hat.wav"][2].endswith("% removed")
    assert rows["tom.wav"] == ["16000 Hz", "train", "nothing removed"]

    window.config_editor.apply_builtin_preset("full band (44.1 kHz)")   # keeps the hats' top octave
    qtbot.waitUntil(lambda: panel.report() is not None and panel.report().sample_rate == 44100, timeout=TIMEOUT)
    assert not panel.rate_warning.isVisible()


def test_many_skipped_files_do_not_squeeze_the_config_editor(make_main_window, qtbot, tmp_path):
    window = make_main_window()
    window.config_editor.set_config(config_16k())
    panel = window.corpus_panel
    (tmp_path / "clean").mkdir()
    clean = kit_folder(tmp_path / "clean")
    with qtbot.waitSignal(panel.report_ready, timeout=TIMEOUT):
        panel.set_folder(str(clean))
    qtbot.waitUntil(lambda: window.config_editor.height() > 0, timeout=TIMEOUT)
    editor_before = window.config_editor.height()

    (tmp_path / "messy").mkdir()
    with qtbot.waitSignal(panel.report_ready, timeout=TIMEOUT):
        panel.set_folder(str(kit_folder(tmp_path / "messy", n_notes=12)))
    assert panel.skipped_table.rowCount() == 12 and panel.skipped_table.isVisible()
    qtbot.waitUntil(lambda: window.config_editor.height() != editor_before, timeout=TIMEOUT)
    table = panel.skipped_table
    four_rows = table.horizontalHeader().height() + 5 * table.verticalHeader().defaultSectionSize()
    assert table.height() <= four_rows + table.horizontalScrollBar().sizeHint().height()  # bounded, scrolls
    assert window.config_editor.height() >= editor_before - table.height() - 40
    assert window.config_editor.height() >= 0.5 * editor_before
