"""The audio player and the clip view on both paths: no audio output (play disabled, the reason in
the tooltip, everything else works) and an output (play enabled; with a real device, a clip plays
to its end without blocking the GUI thread). The device check is injected for the paths this
machine does not have."""
import numpy as np
import pytest
import soundfile as sf

from distill_desktop.widgets.audio_player import AudioPlayer, default_output_check, pcm16
from distill_desktop.widgets.clip_view import PLAY, STOP, ClipView
from distill_desktop.models.audio_clips import read_clip

NO_DEVICE = "No audio output device was found, so clips cannot be played here."


def no_output():
    return None, NO_DEVICE


def real_output_or_skip():
    device, reason = default_output_check()
    if device is None:
        pytest.skip(f"no audio output here: {reason}")
    return device


@pytest.fixture
def tone_file(tmp_path):
    rate = 8000
    t = np.arange(rate // 2) / rate
    path = tmp_path / "tone.flac"
    sf.write(path, 0.5 * np.sin(2 * np.pi * 440 * t), rate)
    return path


def test_pcm16_is_clipped_full_scale_little_endian():
    data = np.frombuffer(pcm16(np.array([0.0, 1.0, -1.0, 2.0, -0.5], np.float32)), "<i2")
    assert data.tolist() == [0, 32767, -32767, 32767, -16383]


def test_without_an_output_play_is_disabled_with_the_reason_and_export_still_works(qtbot, tone_file, tmp_path):
    player = AudioPlayer(output_check=no_output)
    view = ClipView(player)
    qtbot.addWidget(view)
    view.set_clip(read_clip(tone_file), key="tone")
    assert not player.available
    assert not view.play_button.isEnabled() and view.play_button.toolTip() == NO_DEVICE
    assert view.view.spectrogram is not None and view.export_button.isEnabled()
    assert player.play("tone", view.clip.samples, view.clip.sample_rate) is False
    view.ask_export_path = lambda: str(tmp_path / "copy.wav")
    with qtbot.waitSignal(view.exported) as blocker:
        view.export_as()
    data, rate = sf.read(blocker.args[0])
    assert rate == 8000 and np.allclose(data, view.clip.samples, atol=1e-4)


def test_with_an_output_play_is_enabled_and_a_refused_clip_is_reported(qtbot, tone_file):
    from PySide6.QtMultimedia import QAudioDevice

    player = AudioPlayer(output_check=lambda: (QAudioDevice(), ""))   # "a device" that plays nothing
    view = ClipView(player)
    qtbot.addWidget(view)
    view.set_clip(read_clip(tone_file), key="tone")
    assert player.available and view.play_button.isEnabled()
    assert "tone.flac" in view.play_button.toolTip()
    failures = []
    player.failed.connect(lambda key, reason: failures.append((key, reason)))
    assert view.play() is False            # the null device takes no format: refused, with the reason
    assert failures == [("tone", "the audio output cannot play 8000 Hz audio")]
    assert view.play_button.text() == PLAY and player.playing_key is None and view.play_button.isEnabled()


def test_a_clip_plays_to_its_end_on_a_real_output_without_blocking(qtbot, tone_file):
    real_output_or_skip()
    player = AudioPlayer()
    view = ClipView(player)
    qtbot.addWidget(view)
    view.set_clip(read_clip(tone_file), key="tone")
    with qtbot.waitSignal(player.started):
        view.toggle_play()                 # returns at once: the sink pulls the clip on its own
    assert view.play_button.text() == STOP and view.is_playing()
    qtbot.waitUntil(lambda: player.position_s() > 0.05, timeout=3000)
    with qtbot.waitSignal(player.stopped, timeout=10_000):
        pass
    assert view.play_button.text() == PLAY and not view.view.playhead.isVisible()


def test_ab_position_start_offset_on_a_real_output(qtbot, tone_file):
    real_output_or_skip()
    player = AudioPlayer()
    clip = read_clip(tone_file)
    with qtbot.waitSignal(player.started):
        player.play("b", clip.samples, clip.sample_rate, start_s=0.3)
    assert player.position_s() >= 0.3
    player.stop()
    assert player.playing_key is None and player.position_s() == 0.0
