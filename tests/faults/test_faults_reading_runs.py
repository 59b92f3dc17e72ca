"""Fault suite, reading runs and small things (issue 11 items 10, 11, 13, 14, 15): folders another
user owns, read-only media, relative and moved corpora, stale temp files, odd file names."""
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from distill_engine import cli
from distill_engine.audio.corpus import load_corpus
from distill_engine.config.schema import save_config
from distill_engine.errors import RunStoreError
from distill_engine.runs.reader import list_runs, open_run
from distill_engine.runs.writer import RunWriter
from distill_engine.training.trainer import Trainer
from support import (as_another_user, finished_demo_run, shared_temp_folder, tiny_config,
                     train_tiny_runs)

@pytest.fixture
def shared_folder():
    with shared_temp_folder() as folder:
        yield folder


demo_run = finished_demo_run


@pytest.mark.fault("traceback")
def test_a_folder_without_permission_is_listed_with_its_reason_and_hides_no_other_run(shared_folder):
    runs = shared_folder / "runs"
    good, locked = demo_run(runs, "good"), demo_run(runs, "locked")
    locked.chmod(0)
    with as_another_user():
        summaries = {s.run_dir.name: s for s in list_runs(runs)}
        with pytest.raises(RunStoreError, match="cannot be read .*Permission denied.*permissions"):
            open_run(locked)
    assert summaries[good.name].status == "completed" and summaries[good.name].error is None
    assert summaries[locked.name].status == "unreadable"
    assert "Permission denied" in summaries[locked.name].error


@pytest.mark.fault("unclear")
def test_a_run_on_read_only_media_is_read_not_called_damaged_and_resume_says_it_cannot_write(shared_folder):
    runs = shared_folder / "runs"
    run_dir = demo_run(runs, "read only")
    before = sorted(os.listdir(run_dir))
    run_dir.chmod(0o555)
    with as_another_user():
        with open_run(run_dir) as run:
            assert run.status == "completed" and run.read_only
            assert len(run.metric("train_loss")[0]) == 30
        summary, = list_runs(runs)
        assert summary.error is None and summary.read_only and summary.best_val_loss == 0.5
        with pytest.raises(RunStoreError, match="cannot continue the run .*read-only here.*copy the run folder"):
            Trainer.resume(run_dir)
    assert sorted(os.listdir(run_dir)) == before          # no -shm or -wal left by the reader


@pytest.mark.fault("unclear")
def test_stale_temp_files_of_a_killed_save_are_removed_when_the_run_is_resumed(tmp_path):
    run_dir = demo_run(tmp_path / "runs", "temp")
    (run_dir / "checkpoints").mkdir()
    stale = [run_dir / "checkpoints" / ".epoch-00001-step-00000010.safetensors.4242.0badf00d.tmp",
             run_dir / "checkpoints" / ".best.safetensors.4242.0badf00d.tmp",
             run_dir / ".config.toml.4242.0badf00d.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    RunWriter.reopen(run_dir).close("completed")
    assert [p for p in stale if p.exists()] == []


@pytest.mark.fault("unclear")
def test_a_relative_corpus_path_is_stored_absolute_so_resume_works_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from support import write_corpus
    write_corpus(tmp_path / "small")
    save_config(tiny_config(epochs=1), tmp_path / "tiny.toml")
    assert cli.main(["small", "--config", "tiny.toml", "--runs-dir", "runs"]) == 0
    run_dir = list_runs(tmp_path / "runs")[0].run_dir
    with open_run(run_dir) as run:
        assert run.corpus_path == str(tmp_path / "small")
    monkeypatch.chdir("/")
    assert cli.main(["--resume", str(run_dir), "--epochs", "2"]) == 0


@pytest.mark.fault("unclear")
def test_resume_with_corpus_points_the_run_at_the_moved_folder_and_warns_when_files_differ(tmp_path, capfd):
    result, = train_tiny_runs(tmp_path, {"epochs": 1})
    moved = tmp_path / "moved"
    shutil.move(tmp_path / "corpus", moved)
    assert cli.main(["--resume", result.run_dir, "--epochs", "2"]) == 2
    assert "add --corpus NEW_PATH" in capfd.readouterr().err
    (moved / "sound_00.wav").unlink()
    assert cli.main(["--resume", result.run_dir, "--epochs", "2", "--corpus", str(moved)]) == 0
    with open_run(result.run_dir) as run:
        assert run.corpus_path == str(moved) and run.status == "completed"
        shown = run.events("run_started")[-1].payload["corpus_summary"]  # printed and logged
    assert shown.startswith(f"Warning: the corpus at {moved} differs")
    assert "1 file missing (e.g. 'sound_00.wav')" in shown


@pytest.mark.fault("unclear")
def test_an_unlistable_subfolder_is_reported_with_its_reason(shared_folder, monkeypatch):
    monkeypatch.setenv("DISTILL_CACHE_DIR", str(shared_folder / "cache"))
    from support import write_corpus
    corpus = write_corpus(shared_folder / "corpus")
    hidden = write_corpus(corpus / "private", n_files=1)
    hidden.chmod(0)
    with as_another_user():
        report = load_corpus(corpus, tiny_config()).report
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert "folder cannot be listed (Permission denied)" in reasons["private"]


@pytest.mark.fault("unclear")
def test_opposite_polarity_stereo_is_called_a_silent_mono_mix_and_newlines_are_escaped(tmp_path, corpus_dir):
    tone = (0.5 * np.sin(np.arange(8000) / 5.0)).astype(np.float32)
    sf.write(corpus_dir / "cancels\nout.wav", np.stack([tone, -tone], axis=1), 8000)
    report = load_corpus(corpus_dir, tiny_config()).report
    reason, = [s.reason for s in report.skipped]
    assert "mono mix is silent" in reason and "2 channels are not" in reason and "opposite polarity" in reason
    text = report.render()
    assert "cancels\\nout.wav: its mono mix" in text and "cancels\nout" not in text


@pytest.mark.fault("unclear")
def test_config_toml_is_readable_by_the_group_like_any_file_the_user_saves(tmp_path):
    old = os.umask(0o022)
    try:
        save_config(tiny_config(), tmp_path / "config.toml")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "config.toml").stat().st_mode) == 0o644
