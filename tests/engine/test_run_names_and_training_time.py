"""Telling runs apart in the store: default names that differ, `--name`, the parent link, and a
duration that counts training, not the idle time between a stop and a resume or a pause."""
import re
import shutil
import sqlite3
import threading
import time
from pathlib import Path

from distill_engine import cli
from distill_engine.runs.naming import default_run_name, short_number
from distill_engine.runs.reader import list_runs, open_run
from distill_engine.training.events import Callback
from distill_engine.training.trainer import Trainer
from support import tiny_config

OLD_RUN = Path(__file__).resolve().parents[1] / "fixtures" / "run_written_before_issue_9"


def test_runs_nobody_named_are_told_apart_by_rate_and_start_time(tmp_path, corpus_dir):
    for rate in (1e-3, 3e-3):
        Trainer(tiny_config(epochs=1, learning_rate=rate), corpus_dir, runs_dir=tmp_path / "runs").run()
    names = sorted(s.name for s in list_runs(tmp_path / "runs"))
    assert [re.sub(r"\d\d:\d\d$", "HH:MM", n) for n in names] == ["corpus · lr 1e-3 · HH:MM",
                                                                   "corpus · lr 3e-3 · HH:MM"]
    assert all(s.name != Path(s.corpus_path).name for s in list_runs(tmp_path / "runs"))
    assert short_number(0.0005) == "5e-4" and short_number(0.05) == "0.05"
    assert default_run_name("/sounds/kick drums/", 0.003, started=time.mktime((2026, 1, 1, 14, 5, 0, 0, 0, -1))) \
        == "kick drums · lr 3e-3 · 14:05"


def test_distill_train_name_names_the_run(tmp_path, corpus_dir, monkeypatch):
    from distill_engine import save_config
    save_config(tiny_config(epochs=1), tmp_path / "tiny.toml")
    code = cli.main([str(corpus_dir), "--config", str(tmp_path / "tiny.toml"), "--runs-dir", str(tmp_path / "runs"),
                     "--name", "snare, take 2"])
    assert code == 0
    [run] = list_runs(tmp_path / "runs")
    assert run.name == "snare, take 2"


def test_a_run_started_from_another_lists_its_parent(tmp_path, corpus_dir):
    first = Trainer(tiny_config(epochs=1), corpus_dir, runs_dir=tmp_path / "runs").run()
    child = Trainer(tiny_config(epochs=2, learning_rate=5e-4), corpus_dir, runs_dir=tmp_path / "runs",
                    init_checkpoint=first.best_checkpoint, parent_run=first.run_dir).run()
    summaries = {str(s.run_dir): s for s in list_runs(tmp_path / "runs")}
    assert summaries[child.run_dir].parent_run == first.run_dir
    assert summaries[first.run_dir].parent_run == ""


def test_the_time_between_a_stop_and_a_resume_is_not_training_time(tmp_path, corpus_dir, monkeypatch):
    class StopAfterFirstEpoch(Callback):
        def on_epoch(self, trainer, event):
            trainer.request_stop("stopped", "the person went for lunch")

    stopped = Trainer(tiny_config(epochs=3), corpus_dir, runs_dir=tmp_path / "runs",
                      callbacks=[StopAfterFirstEpoch()]).run()
    trained_before = stopped.elapsed_seconds
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600.0)  # resumed an hour later
    resumed = Trainer.resume(stopped.run_dir).run()
    assert resumed.status == "completed"
    with open_run(resumed.run_dir) as run:
        summary = run.summary()
    assert trained_before < summary.duration_s < 600       # both sessions' training, not the hour between
    assert summary.duration_s >= resumed.elapsed_seconds - 1e-6


def test_a_pause_is_not_training_time(tmp_path, corpus_dir):
    resumers = []

    class ResumedASecondLater(threading.Event):
        """The trainer's pause gate: a person clicks Resume 1 s after the run stood still."""
        def wait(self, timeout=None):
            if not self.is_set():
                resumers.append(threading.Timer(1.0, self.set))
                resumers[-1].start()
            return super().wait(timeout)

    class PauseAfterFirstEpoch(Callback):
        def on_epoch(self, trainer, event):
            if event.epoch == 1:
                trainer.request_pause()

    trainer = Trainer(tiny_config(epochs=2), corpus_dir, runs_dir=tmp_path / "runs", callbacks=[PauseAfterFirstEpoch()])
    trainer._resume = ResumedASecondLater()
    trainer._resume.set()
    result = trainer.run()
    for resumer in resumers:
        resumer.join()
    assert len(resumers) == 1                       # it did stand still once
    with open_run(result.run_dir) as run:
        summary = run.summary()
        started, finished = run.events("run_started")[0], run.events("run_finished")[-1]
    wall = finished.wall_time - started.wall_time    # from the first step's start to the end
    assert wall >= 1.0                               # the pause is in the wall-clock span ...
    assert summary.duration_s < wall - 0.9           # ... and not in the training time


def test_a_run_written_before_this_change_still_lists_with_a_duration(tmp_path):
    copy = shutil.copytree(OLD_RUN, tmp_path / "old-run")
    with open_run(copy) as run:
        summary = run.summary()
    assert summary.error is None and summary.duration_s is not None and summary.duration_s > 0
    assert summary.parent_run == ""
    conn = sqlite3.connect(copy / "run.sqlite")
    try:
        (last_elapsed,) = conn.execute("SELECT elapsed_seconds FROM epoch_metrics ORDER BY epoch DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    assert summary.duration_s >= last_elapsed
