"""The corpus report's player on a folder of real recordings (CPython's plucks, stereo 11 kHz) plus a
tone written by the test and a text file: every file listed, each one's spectrogram measured,
the skipped one shown as unreadable, play disabled with the reason when there is no output."""
import glob
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from distill_desktop.models.audio_clips import UNREADABLE
from distill_desktop.panels.corpus_panel import CorpusPanel
from distill_desktop.widgets.audio_player import AudioPlayer
from distill_engine.config.schema import TrainingConfig

PLUCKS = sorted(glob.glob("/root/.pyenv/versions/3.11*/lib/python3.*/test/audiodata/pluck-pcm*.wav"))[:2]
NO_DEVICE = "No audio output device was found, so clips cannot be played here."


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "sounds"
    root.mkdir()
    for path in PLUCKS:
        shutil.copy(path, root)
    t = np.arange(16000) / 16000
    sf.write(root / "tone-2k.wav", (0.25 * np.sin(2 * np.pi * 2000 * t)).astype(np.float32), 16000)
    (root / "readme.wav").write_text("not audio")
    return root


@pytest.fixture
def panel(qtbot):
    panel = CorpusPanel(TrainingConfig(chunk_duration=0.5), player=AudioPlayer(output_check=lambda: (None, NO_DEVICE)))
    qtbot.addWidget(panel)
    yield panel
    assert panel.shutdown()


def test_every_corpus_file_can_be_seen_and_the_tone_peaks_at_2_khz(qtbot, panel, folder):
    assert not panel.listen_button.isEnabled()
    with qtbot.waitSignal(panel.report_ready, timeout=20_000):
        panel.set_folder(folder)
    assert panel.listen_button.isEnabled()
    player = panel.show_corpus_player()
    qtbot.waitUntil(lambda: player.clip_view.clip is not None, timeout=10_000)
    rows = [player.files.item(i).text() for i in range(player.files.count())]
    assert len(rows) == len(PLUCKS) + 2
    assert any(r.startswith("readme.wav") and "skipped" in r for r in rows)
    tone_row = next(i for i, r in enumerate(rows) if r.startswith("tone-2k.wav"))
    with qtbot.waitSignal(player.shown, timeout=10_000) as blocker:
        player.files.setCurrentRow(tone_row)
    assert blocker.args[0] == str(folder / "tone-2k.wav")
    spec = player.clip_view.clip.spectrogram
    assert int(np.argmax(spec.db.mean(axis=0))) * spec.hz_per_bin == pytest.approx(2000, abs=spec.hz_per_bin)
    assert "16000 Hz · 1.00 s" in player.clip_view.figures.text()
    assert not player.clip_view.play_button.isEnabled() and player.clip_view.play_button.toolTip() == NO_DEVICE
    readme_row = next(i for i, r in enumerate(rows) if r.startswith("readme.wav"))
    with qtbot.waitSignal(player.shown, timeout=10_000):
        player.files.setCurrentRow(readme_row)
    assert player.clip_view.problem.state == UNREADABLE and player.clip_view.state.isVisible()


@pytest.mark.skipif(not PLUCKS, reason="CPython's test audio is not installed")
def test_a_real_recording_shows_its_own_rate_and_length(qtbot, panel, folder):
    with qtbot.waitSignal(panel.report_ready, timeout=20_000):
        panel.set_folder(folder)
    player = panel.show_corpus_player()
    pluck = Path(PLUCKS[0]).name
    row = next(i for i in range(player.files.count()) if player.files.item(i).text().startswith(pluck))
    player.files.setCurrentRow(row)
    qtbot.waitUntil(lambda: player.clip_view.clip is not None and player.clip_view.clip.path.name == pluck,
                    timeout=10_000)
    info = sf.info(PLUCKS[0])
    clip = player.clip_view.clip
    assert clip.sample_rate == info.samplerate and clip.duration_s == pytest.approx(info.duration)
    assert clip.spectrogram.duration_s == pytest.approx(info.duration, abs=0.05)
    assert f"{info.samplerate} Hz" in player.clip_view.figures.text()
