"""Corpus loading on real folders of sound files written by each test (never the repository tree)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from distill_engine.config.schema import RepresentationConfig, TrainingConfig
from distill_engine.audio.corpus import CorpusReport, load_corpus, split_files
from distill_engine.errors import CorpusError

REPO = Path(__file__).resolve().parents[2]
SR = 16000


def sine(freq=440.0, seconds=1.0, sr=SR, amp=0.5, channels=1):
    t = np.arange(int(seconds * sr)) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def config(**overrides):
    return TrainingConfig(chunk_duration=0.5, **overrides)


def write(path: Path, audio, sr=SR, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, sr, **kwargs)
    return path


def reasons(corpus_or_report) -> dict[str, str]:
    report = getattr(corpus_or_report, "report", corpus_or_report)
    return {Path(s.path).name: s.reason for s in report.skipped}


def test_stereo_22k_is_mixed_to_mono_and_resampled_keeping_pitch(tmp_path):
    stereo = sine(440.0, 1.0, sr=22050, channels=2)
    stereo[:, 1] *= 0.5  # the mix is the mean of both channels: 0.75 of the left amplitude
    write(tmp_path / "a.wav", stereo, sr=22050)
    corpus = load_corpus(tmp_path, config(validation_fraction=0.0))
    assert corpus.sample_rate == SR and corpus.chunk_samples == 8000
    assert corpus.train_audio.dtype == torch.float32 and corpus.train_audio.shape == (2, 8000)
    first = corpus.train_audio[0].numpy()
    peak_hz = np.argmax(np.abs(np.fft.rfft(first))) * SR / len(first)
    assert abs(peak_hz - 440.0) <= 2.0
    assert abs(np.abs(first[1000:7000]).max() - 0.375) < 0.01
    freq, frames = 1024 // 2 + 1, 1 + 8000 // 256
    assert corpus.train_raw.shape == (2, 2, freq, frames) and corpus.train_raw.dtype == torch.float32
    assert corpus.report.used[0].duration_s == pytest.approx(1.0)


def test_tail_is_zero_padded_and_chunk_count_rounds_up(tmp_path):
    write(tmp_path / "x.flac", sine(300.0, 1.2), subtype="PCM_16")
    corpus = load_corpus(tmp_path, config(validation_fraction=0.0))
    assert corpus.train_audio.shape == (3, 8000)  # 0.5 + 0.5 + 0.2 s padded to 0.5 s
    tail = corpus.train_audio[2]
    assert tail[3200:].abs().max() == 0 and tail[:3000].abs().max() > 0.4
    assert corpus.report.used[0].n_chunks == 3 and corpus.report.n_train_chunks == 3


def test_silent_chunk_inside_a_sounding_file_is_dropped(tmp_path):
    audio = np.concatenate([sine(440, 0.5), np.zeros(8000, np.float32), sine(880, 0.5)])
    write(tmp_path / "gap.flac", audio)
    corpus = load_corpus(tmp_path, config(validation_fraction=0.0))
    assert corpus.train_audio.shape[0] == 2
    assert all(float(c.pow(2).mean().sqrt()) > 0.1 for c in corpus.train_audio)


def test_a_soft_sound_is_used_and_only_an_inaudible_one_is_silent(tmp_path):
    """Silence means inaudible: a soft ride-like tick peaking at -31 dBFS (its 0.5 s chunk's RMS is
    about -63 dBFS) is kept; a file peaking at -70 dBFS is skipped and the reason says its level."""
    rng = np.random.default_rng(3)
    t = np.arange(SR) / SR
    tick = (rng.standard_normal(SR) * np.exp(-t / 0.002)).astype(np.float32)
    write(tmp_path / "soft ride.wav", tick / np.abs(tick).max() * 10 ** (-31 / 20), subtype="FLOAT")
    write(tmp_path / "hiss.wav", (rng.standard_normal(SR) * 10 ** (-76 / 20)).clip(-10 ** (-70 / 20), 10 ** (-70 / 20))
          .astype(np.float32), subtype="FLOAT")
    corpus = load_corpus(tmp_path, config(validation_fraction=0.0))
    assert [Path(u.path).name for u in corpus.report.used] == ["soft ride.wav"]
    assert corpus.train_audio.shape[0] == 1
    why = reasons(corpus)["hiss.wav"]
    assert why.startswith("silent: peak level -70.0 dBFS") and "-60 dBFS" in why


def test_bad_files_are_skipped_with_reasons_and_good_ones_used(tmp_path):
    good = write(tmp_path / "good.wav", sine(440, 1.0))
    write(tmp_path / "sub" / "good2.wav", sine(220, 0.7, sr=44100), sr=44100)
    write(tmp_path / "sub" / "good3.ogg", sine(330, 0.7), format="OGG", subtype="VORBIS")
    whole = (tmp_path / "good.wav").read_bytes()
    (tmp_path / "corrupt.wav").write_bytes(whole[:30])  # header cut before the data chunk
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("this is not a sound\n" * 20)
    (tmp_path / "README.txt").write_text("my sounds")
    write(tmp_path / "silent.wav", np.zeros(SR, np.float32))
    write(tmp_path / "short.wav", sine(440, 0.01))
    (tmp_path / ".hidden.wav").write_bytes(b"junk")
    before = good.read_bytes()
    seen = []
    corpus = load_corpus(tmp_path, config(), progress=lambda done, total, path: seen.append((done, total)))

    assert sorted(Path(u.path).name for u in corpus.report.used) == ["good.wav", "good2.wav", "good3.ogg"]
    why = reasons(corpus)
    assert set(why) == {"corrupt.wav", "empty.wav", "notes.wav", "README.txt", "silent.wav", "short.wav"}
    assert why["corrupt.wav"].startswith("not an audio file (libsndfile: ") and "data" in why["corrupt.wav"]
    assert why["empty.wav"] == "empty file (0 bytes)"
    assert why["notes.wav"].startswith("not an audio file") and why["README.txt"].startswith("not an audio file")
    assert why["silent.wav"] == "silent: peak level -inf dBFS, below the -60 dBFS silence threshold"
    assert why["short.wav"] == "too short (0.01 s; needs at least 0.064 s)"
    assert all(Path(s.path).is_absolute() for s in corpus.report.skipped)
    assert seen[-1] == (9, 9) and [d for d, _ in seen] == list(range(1, 10))
    assert good.read_bytes() == before  # the user's files are never modified

    text = corpus.report.render()
    assert "3 files used" in text and "Skipped (6):" in text and "sub/good2.wav" not in text
    assert "  short.wav: too short" in text
    again = CorpusReport.from_dict(json.loads(json.dumps(corpus.report.to_dict())))
    assert again == corpus.report and again.render() == text


def test_nan_samples_are_reported(tmp_path):
    write(tmp_path / "ok.wav", sine(440, 1.0))
    bad = sine(440, 1.0)
    bad[100] = np.nan
    write(tmp_path / "nan.wav", bad, subtype="FLOAT")
    assert reasons(load_corpus(tmp_path, config()))["nan.wav"] == "contains NaN/inf samples"


def test_folder_with_only_bad_files_raises_one_error_listing_each(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("hello")
    write(tmp_path / "quiet.wav", np.full(SR, 1e-5, np.float32), subtype="FLOAT")
    with pytest.raises(CorpusError) as info:
        load_corpus(tmp_path, config())
    message = str(info.value)
    assert str(tmp_path.resolve()) in message
    assert "empty.wav: empty file" in message and "notes.txt: not an audio file" in message
    assert "quiet.wav: silent: peak level -100.0 dBFS, below the -60 dBFS silence threshold" in message
    assert "WAV, FLAC" in message and "non-silent" in message


def test_missing_empty_and_non_folder_paths_raise(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope", config())
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(CorpusError, match="is empty"):
        load_corpus(tmp_path / "empty", config())
    file = write(tmp_path / "a.wav", sine())
    with pytest.raises(CorpusError, match="not a folder"):
        load_corpus(file, config())


def test_split_is_by_file_and_deterministic_for_the_seed(tmp_path):
    for i in range(10):
        write(tmp_path / f"s{i}.wav", sine(200 + 50 * i, 1.0))
    a = load_corpus(tmp_path, config(seed=1, validation_fraction=0.2))
    b = load_corpus(tmp_path, config(seed=1, validation_fraction=0.2))
    assert a.val_files == b.val_files and len(a.val_files) == 2 and len(a.train_files) == 8
    assert not set(a.val_files) & set(a.train_files)
    assert a.val_audio.shape == (4, 8000) and torch.equal(a.val_audio, b.val_audio)
    assert {u.split for u in a.report.used if u.path in a.val_files} == {"val"}
    other_seed = load_corpus(tmp_path, config(seed=2, validation_fraction=0.2))
    assert other_seed.val_files != a.val_files  # these two seeds happen to differ
    files = [f"f{i}" for i in range(10)]
    assert split_files(files, 0.2, 3) == split_files(list(reversed(files)), 0.2, 3)
    assert len({tuple(split_files(files, 0.2, seed)[1]) for seed in range(6)}) > 1


def test_two_files_give_one_validation_file_and_one_file_gives_none(tmp_path):
    write(tmp_path / "a.wav", sine(440))
    only = load_corpus(tmp_path, config(validation_fraction=0.15))
    assert only.val_files == [] and only.val_audio.shape == (0, 8000) and only.val_raw.shape[0] == 0
    assert only.val_raw.shape[1:] == only.train_raw.shape[1:]
    write(tmp_path / "b.wav", sine(660))
    two = load_corpus(tmp_path, config(validation_fraction=0.15))
    assert len(two.val_files) == 1 and len(two.train_files) == 1
    assert split_files(["a", "b", "c"], 0.99, 0)[0] != []  # always at least one training file
    assert split_files(["a", "b"], 0.0, 0) == (["a", "b"], [])


def test_second_load_comes_from_cache_and_changes_are_noticed(tmp_path):
    folder, cache = tmp_path / "sounds", tmp_path / "cache"
    write(folder / "a.wav", sine(440, 1.0))
    write(folder / "b.wav", sine(330, 1.3, sr=22050), sr=22050)
    first = load_corpus(folder, config(), cache_dir=cache)
    assert (first.cache_hits, first.cache_misses) == (0, 2)
    assert len(list(cache.glob("*.npz"))) == 2 and not list(cache.glob("*.tmp"))
    second = load_corpus(folder, config(), cache_dir=cache)
    assert (second.cache_hits, second.cache_misses) == (2, 0)
    assert all(u.from_cache for u in second.report.used)
    for name in ("train_audio", "val_audio", "train_raw", "val_raw"):
        assert torch.equal(getattr(first, name), getattr(second, name))
    assert second.report.used[0].duration_s == first.report.used[0].duration_s

    write(folder / "a.wav", sine(550, 1.0))
    third = load_corpus(folder, config(), cache_dir=cache)
    assert (third.cache_hits, third.cache_misses) == (1, 1)
    other = load_corpus(folder, TrainingConfig(chunk_duration=0.25), cache_dir=cache)
    assert other.cache_misses == 2 and other.chunk_samples == 4000


def test_default_cache_dir_is_used(tmp_path, isolated_dirs):
    write(tmp_path / "s" / "a.wav", sine())
    load_corpus(tmp_path / "s", config())
    assert load_corpus(tmp_path / "s", config()).cache_hits == 1
    assert list(Path(os.environ["DISTILL_CACHE_DIR"]).rglob("*.npz"))


def test_corrupt_cache_is_rewritten_and_unwritable_cache_is_ignored(tmp_path):
    folder, cache = tmp_path / "sounds", tmp_path / "cache"
    write(folder / "a.wav", sine(440, 1.0))
    reference = load_corpus(folder, config(), cache_dir=cache)
    (entry,) = cache.glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:200])
    recovered = load_corpus(folder, config(), cache_dir=cache)
    assert recovered.cache_misses == 1 and torch.equal(recovered.train_raw, reference.train_raw)
    assert load_corpus(folder, config(), cache_dir=cache).cache_hits == 1

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    loaded = load_corpus(folder, config(), cache_dir=blocked / "corpus")
    assert loaded.cache_misses == 1 and torch.equal(loaded.train_audio, reference.train_audio)


def test_demo_corpus_script_makes_a_usable_corpus(tmp_path):
    out = tmp_path / "demo"
    subprocess.run([sys.executable, str(REPO / "resources" / "make_demo_corpus.py"), str(out)],
                   check=True, capture_output=True)
    files = sorted(out.iterdir())
    assert 8 <= len(files) <= 12
    assert sum(f.stat().st_size for f in files) < 2_000_000
    for f in files:
        info = sf.info(f)
        assert info.samplerate == SR and info.channels == 1 and 1.0 <= info.duration <= 3.0
    corpus = load_corpus(out, TrainingConfig())
    assert corpus.report.skipped == [] and len(corpus.report.used) == len(files)


def _band_limited_noise(rate, low, high, seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / rate)
    noise = np.fft.irfft(spectrum * ((freqs >= low) & (freqs <= high)), n)
    return (0.5 * noise / np.max(np.abs(noise)) * np.exp(-4 * np.arange(n) / rate)).astype(np.float32)


def test_the_report_gives_each_files_rate_and_warns_when_resampling_removes_audible_content(tmp_path):
    from distill_engine.audio.band_loss import AUDIBLE_LOSS_DB, loss_warning
    folder = tmp_path / "kit"
    folder.mkdir()
    sf.write(folder / "hat.wav", _band_limited_noise(44100, 7000, 18000), 44100)     # most energy above 8 kHz
    t = np.arange(44100) / 44100
    sf.write(folder / "kick.wav", (0.8 * np.sin(2 * np.pi * 60 * t) * np.exp(-5 * t)).astype(np.float32), 44100)
    sf.write(folder / "tom.wav", (0.5 * np.sin(2 * np.pi * 150 * t[:16000]) * np.exp(-5 * t[:16000])).astype(np.float32),
             16000)
    config = TrainingConfig(representation=RepresentationConfig(sample_rate=16000), validation_fraction=0.0)
    report = load_corpus(folder, config, cache_dir=tmp_path / "cache").report
    used = {Path(u.path).name: u for u in report.used}
    assert {name: u.source_rate for name, u in used.items()} == {"hat.wav": 44100, "kick.wav": 44100, "tom.wav": 16000}
    assert used["hat.wav"].removed_db > AUDIBLE_LOSS_DB            # measured, not guessed from the rate
    assert used["kick.wav"].removed_db is None or used["kick.wav"].removed_db < -60
    assert used["tom.wav"].removed_db is None                       # not resampled
    warning = loss_warning(report)
    assert "hat.wav" in warning and "kick.wav" not in warning and "above 8000 Hz" in warning
    text = report.render()
    assert "files at 44100 Hz (2 files), 16000 Hz (1 file); trained at 16000 Hz" in text and "warning:" in text

    again = load_corpus(folder, config, cache_dir=tmp_path / "cache").report   # from the cache: same figures
    assert all(u.from_cache for u in again.used)
    assert [(u.source_rate, u.removed_db) for u in again.used] == [(u.source_rate, u.removed_db) for u in report.used]
    restored = CorpusReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert restored.used == report.used


def test_a_report_saved_before_file_rates_were_recorded_still_reads(tmp_path):
    old = {"folder": str(tmp_path), "sample_rate": 16000, "chunk_samples": 16000,
           "used": [{"path": str(tmp_path / "a.wav"), "duration_s": 1.0, "n_chunks": 1, "from_cache": False,
                     "split": "train"}], "skipped": []}
    report = CorpusReport.from_dict(old)
    assert report.used[0].source_rate == 0 and "files at" not in report.render()


@pytest.mark.parametrize("name, warned", [("camera-shutter.oga", True), ("dialog-error.oga", False)])
def test_on_real_recordings_a_bright_shutter_is_warned_and_a_soft_chime_is_not(tmp_path, name, warned):
    from distill_engine.audio.band_loss import audible_losses
    source = Path("/work/corpora/freedesktop") / name
    if not source.exists():
        pytest.skip("the shared recordings are not on this machine")
    folder = tmp_path / "real"
    folder.mkdir()
    (folder / name).write_bytes(source.read_bytes())
    config = TrainingConfig(representation=RepresentationConfig(sample_rate=16000), validation_fraction=0.0)
    report = load_corpus(folder, config, cache_dir=tmp_path / "cache").report
    assert bool(audible_losses(report)) is warned
