"""The Listen tab on real run folders with real preview files (FLAC written with soundfile in the
layout the engine writes): rows per clip and samples, epochs newest first, stepping through them,
A/B, export, the newest preview shown without a click, and files deleted or damaged afterwards."""
import numpy as np
import pytest
import soundfile as sf

from distill_desktop.models.audio_clips import MISSING, UNREADABLE
from distill_desktop.panels.listen_panel import ListenPanel
from distill_desktop.widgets.audio_player import AudioPlayer
from support import make_preview_run, write_preview_files


def no_output():
    return None, "No audio output device was found, so clips cannot be played here."


@pytest.fixture
def panel(qtbot):
    panel = ListenPanel(AudioPlayer(output_check=no_output))
    qtbot.addWidget(panel)
    panel.resize(1100, 800)
    panel.show()
    yield panel
    panel.shutdown()


def open_and_wait(qtbot, panel, run_dir, **kwargs):
    with qtbot.waitSignal(panel.shown, timeout=10_000) as blocker:
        panel.set_run(run_dir, **kwargs)
    return blocker.args[0]


def test_newest_epoch_rows_side_by_side_then_samples(qtbot, panel, tmp_path):
    run_dir, files = make_preview_run(tmp_path / "runs", [1, 2, 3], clips=2, samples=3)
    read = open_and_wait(qtbot, panel, run_dir)
    assert panel.epochs() == [3, 2, 1] and panel.shown_epoch() == 3
    (original, recon, ab), second = panel.clip_rows[0], panel.clip_rows[1]
    assert original.title.text() == "Clip 1 · original" and recon.title.text() == "Clip 1 · reconstruction"
    assert recon.figures.text().startswith("distance 0.333 · ") and recon.figures.text().endswith(" dBFS")
    assert original.clip.path == files[(0, "original", 0)] and recon.clip.path == files[(3, "reconstruction", 0)]
    assert original.y() == recon.y() and original.x() < recon.x()            # side by side
    samples = [v for v in panel.sample_views if v.isVisible()]
    assert [v.title.text() for v in samples] == ["Sample 1", "Sample 2", "Sample 3"]
    assert all(v.y() > second[0].y() for v in samples)                        # below the clip rows
    levels = {v.view.levels for v in panel._views() if v.isVisible()}
    assert len(levels) == 1                                                    # one colour scale
    low, high = levels.pop()
    assert high == 10 * np.ceil(max(v.clip.spectrogram.peak_db() for v in (original, second[0])) / 10)
    assert "2 clips, 3 samples" in panel.status.text() and read.name == "drums"
    assert original.view.left_axis.labelText == "Hz" and original.view.bottom_axis.labelText == "s"
    x0, x1 = original.view.box.viewRange()[0]
    y0, y1 = original.view.box.viewRange()[1]
    assert (x0, y0) == (0, 0) and x1 == pytest.approx(0.5, abs=0.02) and y1 == pytest.approx(4000)   # s, Hz


def test_stepping_to_an_older_epoch_shows_its_files_and_stops_following(qtbot, panel, tmp_path):
    run_dir, files = make_preview_run(tmp_path / "runs", [1, 2, 3])
    open_and_wait(qtbot, panel, run_dir)
    with qtbot.waitSignal(panel.shown):
        panel.epoch_list.setCurrentRow(2)          # epoch 1
    assert panel.shown_epoch() == 1 and not panel.follow_box.isChecked()
    assert panel.clip_rows[0][1].clip.path == files[(1, "reconstruction", 0)]
    assert panel.clip_rows[0][0].clip.path == files[(0, "original", 0)]   # the same original
    with qtbot.waitSignal(panel.shown):
        panel.follow_box.setChecked(True)
    assert panel.shown_epoch() == 3


def test_the_newest_preview_appears_while_training_without_a_click(qtbot, panel, tmp_path):
    run_dir, _ = make_preview_run(tmp_path / "runs", [1])
    open_and_wait(qtbot, panel, run_dir, live=True)
    assert panel.shown_epoch() == 1 and "(training)" in panel.title.text()
    write_preview_files(run_dir, [2])
    with qtbot.waitSignal(panel.shown):
        panel.preview_added()
    assert panel.epochs() == [2, 1] and panel.shown_epoch() == 2
    with qtbot.waitSignal(panel.shown):
        panel.epoch_list.setCurrentRow(1)          # the person looks at epoch 1 ...
    write_preview_files(run_dir, [3])
    with qtbot.waitSignal(panel.shown):
        panel.preview_added()                      # ... and stays there while epoch 3 is listed
    assert panel.epochs() == [3, 2, 1] and panel.shown_epoch() == 1


def test_deleted_and_damaged_files_say_so_and_the_rest_works(qtbot, panel, tmp_path):
    run_dir, files = make_preview_run(tmp_path / "runs", [1, 2])
    files[(2, "reconstruction", 0)].unlink()
    files[(2, "sample", 1)].write_bytes(b"\x00garbage" * 10)
    files[(0, "original", 1)].write_bytes(files[(0, "original", 1)].read_bytes()[:40])
    open_and_wait(qtbot, panel, run_dir)
    recon0, original1 = panel.clip_rows[0][1], panel.clip_rows[1][0]
    sample1 = panel.sample_views[1]
    assert recon0.problem.state == MISSING and recon0.state.text().startswith("missing")
    assert original1.problem.state == UNREADABLE and sample1.problem.state == UNREADABLE
    assert recon0.state.isVisible() and not recon0.view.isVisible()
    assert not recon0.export_button.isEnabled()
    working = [panel.clip_rows[0][0], panel.clip_rows[1][1], panel.sample_views[0]]
    assert all(v.clip is not None and v.view.spectrogram is not None for v in working)
    assert "3 files missing or unreadable" in panel.status.text()
    with qtbot.waitSignal(panel.shown):
        panel.epoch_list.setCurrentRow(1)          # epoch 1 is whole
    assert panel.clip_rows[0][1].clip is not None


def test_export_writes_the_clip_a_person_hears(qtbot, panel, tmp_path):
    run_dir, files = make_preview_run(tmp_path / "runs", [1])
    open_and_wait(qtbot, panel, run_dir)
    recon = panel.clip_rows[0][1]
    recon.ask_export_path = lambda: str(tmp_path / "out" / "keep.flac")
    (tmp_path / "out").mkdir()
    recon.export_as()
    assert (tmp_path / "out" / "keep.flac").read_bytes() == files[(1, "reconstruction", 0)].read_bytes()
    recon.ask_export_path = lambda: str(tmp_path / "out" / "keep.wav")
    recon.export_as()
    data, rate = sf.read(tmp_path / "out" / "keep.wav")
    assert rate == 8000 and np.allclose(data, recon.clip.samples, atol=1e-4)
    assert panel.status.text() == f"Exported {tmp_path / 'out' / 'keep.wav'}"
    recon.ask_export_path = lambda: str(tmp_path / "no-such-folder" / "x.wav")
    recon.export_as()
    assert "could not be written" in panel.status.text()


def test_without_a_device_every_play_button_is_disabled_with_the_reason(qtbot, panel, tmp_path):
    run_dir, _ = make_preview_run(tmp_path / "runs", [1])
    open_and_wait(qtbot, panel, run_dir)
    for view in panel._views():
        if view.isVisible():
            assert not view.play_button.isEnabled()
            assert view.play_button.toolTip() == no_output()[1]


def test_a_run_without_previews_and_a_folder_that_is_no_run(qtbot, panel, tmp_path):
    run_dir, _ = make_preview_run(tmp_path / "runs", [])
    open_and_wait(qtbot, panel, run_dir)
    assert panel.epochs() == [] and "no previews yet" in panel.empty_label.text()
    (tmp_path / "empty").mkdir()
    panel.set_run(tmp_path / "empty")
    qtbot.waitUntil(lambda: "cannot be read" in panel.title.text())
    assert "empty" in panel.status.text()


def test_ab_is_disabled_without_a_device_and_without_both_sides(qtbot, panel, tmp_path):
    run_dir, files = make_preview_run(tmp_path / "runs", [1])
    open_and_wait(qtbot, panel, run_dir)
    ab = panel.clip_rows[0][2]
    assert not ab.isEnabled() and ab.toolTip() == no_output()[1]


def test_ab_switches_to_the_other_side_at_the_same_position_on_a_real_output(qtbot, tmp_path):
    from distill_desktop.widgets.audio_player import default_output_check

    if default_output_check()[0] is None:
        pytest.skip("no audio output here")
    panel = ListenPanel(AudioPlayer())
    qtbot.addWidget(panel)
    try:
        run_dir, _ = make_preview_run(tmp_path / "runs", [1], seconds=2.0)
        open_and_wait(qtbot, panel, run_dir)
        original, recon, ab = panel.clip_rows[0]
        assert ab.isEnabled()
        with qtbot.waitSignal(panel.player.started):
            ab.click()                                  # nothing plays: A/B starts the original
        assert original.is_playing()
        qtbot.waitUntil(lambda: panel.player.position_s() > 0.2, timeout=5000)
        before = panel.player.position_s()
        with qtbot.waitSignal(panel.player.started) as started:
            ab.click()
        assert started.args[0] == recon.key and recon.is_playing() and not original.is_playing()
        assert panel.player.position_s() >= before       # it goes on from there, not from the start
        assert recon.play_button.text() == "■ Stop" and original.play_button.text() == "▶ Play"
        panel.player.stop()
    finally:
        panel.shutdown()


def test_a_run_followed_from_the_runs_tab_shows_new_previews_as_its_rows_come(qtbot, panel, tmp_path):
    run_dir, _ = make_preview_run(tmp_path / "runs", [1])
    other, _ = make_preview_run(tmp_path / "runs", [1], name="other")
    open_and_wait(qtbot, panel, run_dir, live=True)
    write_preview_files(run_dir, [2])
    job = panel.jobs.current
    panel.run_grew(other)                      # rows of another run: nothing to read
    assert panel.jobs.current is job
    with qtbot.waitSignal(panel.shown):
        panel.run_grew(run_dir)
    assert panel.epochs() == [2, 1] and panel.shown_epoch() == 2


def test_a_preview_announced_before_its_rows_are_committed_is_looked_for_again(qtbot, panel, tmp_path):
    from distill_engine.training.events import PreviewRendered

    run_dir, _ = make_preview_run(tmp_path / "runs", [1])
    open_and_wait(qtbot, panel, run_dir, live=True)
    panel.preview_added(PreviewRendered(epoch=2, step=20, files=()))    # rows not there yet
    qtbot.waitUntil(lambda: panel._retries >= 2, timeout=10_000)
    assert panel.shown_epoch() == 1
    write_preview_files(run_dir, [2])                                   # the writer commits them
    qtbot.waitUntil(lambda: panel.shown_epoch() == 2, timeout=10_000)
    assert panel._awaited is None and panel.epochs() == [2, 1]
