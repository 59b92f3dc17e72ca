"""The Listen tab's Qt-free models: one epoch's rows from its preview records, decoded clips with
their spectrograms (measured: a tone's peak lands at its frequency and level), the shared colour
scale, and the reasons a file cannot be shown."""
import glob
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from distill_desktop.models.audio_clips import (DYNAMIC_RANGE_DB, MAX_FRAMES, MISSING, UNREADABLE, AudioClip,
                                                ClipProblem, log_spectrogram, read_clip, shared_levels)
from distill_desktop.models.previews import (ORIGINAL, RECONSTRUCTION, SAMPLE, arrange_epoch,
                                             epochs_newest_first, format_figures)

PLUCKS = sorted(glob.glob("/root/.pyenv/versions/*/lib/python3.*/test/audiodata/pluck-pcm16.wav"))


from distill_engine.runs.preview_rows import PreviewRecord as Record  # the reader's own record


def test_one_epoch_becomes_clip_rows_then_samples(tmp_path):
    records = [Record(0, 0, ORIGINAL, 1, tmp_path / "o1.flac", math.nan, 0.1),
               Record(0, 0, ORIGINAL, 0, tmp_path / "o0.flac", math.nan, 0.1),
               Record(7, 70, RECONSTRUCTION, 1, tmp_path / "r1.flac", 1.5, 0.1),
               Record(7, 70, RECONSTRUCTION, 0, tmp_path / "r0.flac", 1.25, 0.1),
               Record(7, 70, SAMPLE, 0, tmp_path / "s0.flac", 3.0, 0.05),
               Record(8, 80, SAMPLE, 0, tmp_path / "other-epoch.flac", 9.0, 0.05)]
    shown = arrange_epoch(7, records)
    assert shown.epoch == 7 and shown.step == 70
    assert [r.clip for r in shown.clips] == [0, 1]
    assert shown.clips[0].original.path.name == "o0.flac" and shown.clips[0].original.distance is None
    assert shown.clips[1].reconstruction.distance == 1.5
    assert [s.path.name for s in shown.samples] == ["s0.flac"]
    assert [c.title for c in shown.cells()] == ["Clip 1 · original", "Clip 1 · reconstruction",
                                               "Clip 2 · original", "Clip 2 · reconstruction", "Sample 1"]
    assert format_figures(shown.clips[0].reconstruction) == "distance 1.25 · -20.0 dBFS"
    assert format_figures(shown.clips[0].original) == "RMS -20.0 dBFS"


def test_a_reconstruction_without_its_original_still_gets_a_row(tmp_path):
    shown = arrange_epoch(3, [Record(3, 30, RECONSTRUCTION, 2, tmp_path / "r.flac", 1.0, 0.1)])
    assert shown.clips[0].original.path is None
    assert read_clip(shown.clips[0].original.path).state == MISSING


def test_epochs_are_listed_newest_first_once():
    assert epochs_newest_first([1, 3, 2, 3]) == [3, 2, 1]


def test_a_tone_peaks_at_its_frequency_and_level(tmp_path):
    rate = 16000
    t = np.arange(rate) / rate
    path = tmp_path / "tone.flac"
    sf.write(path, 0.5 * np.sin(2 * np.pi * 1000 * t), rate)
    clip = read_clip(path)
    assert isinstance(clip, AudioClip) and clip.sample_rate == rate
    spec = clip.spectrogram
    assert spec.duration_s == pytest.approx(1.0, abs=0.05)
    assert spec.top_hz == pytest.approx(rate / 2, rel=0.01)
    peak_bin = int(np.argmax(spec.db.mean(axis=0)))
    assert peak_bin * spec.hz_per_bin == pytest.approx(1000, abs=spec.hz_per_bin)
    assert spec.peak_db() == pytest.approx(20 * math.log10(0.5), abs=1.5)   # -6 dBFS
    assert clip.rms == pytest.approx(0.5 / math.sqrt(2), rel=0.01)


def test_long_files_keep_a_bounded_number_of_frames():
    spec = log_spectrogram(np.zeros(48000 * 600, np.float32), 48000)
    assert spec.db.shape[0] <= MAX_FRAMES
    assert spec.duration_s == pytest.approx(600, rel=0.01)


@pytest.mark.skipif(not PLUCKS, reason="CPython's test audio is not installed")
def test_a_real_recording_reads_as_stereo_mixed_to_mono():
    clip = read_clip(PLUCKS[0])
    info = sf.info(PLUCKS[0])
    assert isinstance(clip, AudioClip)
    assert clip.sample_rate == info.samplerate and len(clip.samples) == info.frames
    assert clip.samples.ndim == 1 and 0.01 < clip.rms < 1


def test_bad_files_say_missing_or_unreadable(tmp_path):
    (tmp_path / "notes.flac").write_text("not audio at all")
    good = tmp_path / "good.flac"
    sf.write(good, np.zeros(8000, np.float32), 8000)
    truncated = tmp_path / "truncated.flac"
    truncated.write_bytes(good.read_bytes()[:30])
    missing = read_clip(tmp_path / "gone.flac")
    assert isinstance(missing, ClipProblem) and missing.state == MISSING and "gone.flac" in missing.reason
    for name in ("notes.flac", "truncated.flac"):
        problem = read_clip(tmp_path / name)
        assert isinstance(problem, ClipProblem) and problem.state == UNREADABLE, name
        assert name in problem.reason


def test_one_colour_scale_anchored_at_the_loudest_original():
    loud = log_spectrogram(0.9 * np.sin(np.arange(8000) * 0.3).astype(np.float32), 8000)
    quiet = log_spectrogram(0.01 * np.sin(np.arange(8000) * 0.3).astype(np.float32), 8000)
    low, high = shared_levels([loud, quiet], anchors=[quiet])
    assert high == 10 * math.ceil(quiet.peak_db() / 10) and high - low == DYNAMIC_RANGE_DB
    assert shared_levels([loud, quiet])[1] == 10 * math.ceil(loud.peak_db() / 10)
