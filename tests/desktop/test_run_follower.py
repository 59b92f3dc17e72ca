"""Following a run another writer is filling: an in-process RunWriter, and a real separate
`distill-train` process, or a 2-process torchrun run, whose writer is killed at the end (its run
must then read "interrupted")."""
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

from distill_desktop.panels.loss_plot import LossPlotPanel
from distill_desktop.browser.run_browser import RunBrowser
from distill_desktop.bridge.run_follower import RunFollower
from distill_engine import save_config
from distill_engine.runs.writer import create_run
from support import one_thread_environment, tiny_config, torchrun_command, worker_pid, write_corpus


class Collector:
    """Everything a RunFollower emitted, merged."""

    def __init__(self, follower):
        self.steps, self.losses, self.epochs, self.events, self.statuses, self.errors = [], [], [], [], [], []
        follower.steps_added.connect(self.on_steps)
        follower.epochs_added.connect(lambda d: self.epochs.extend(d["epoch"].tolist()))
        follower.events_added.connect(self.events.extend)
        follower.status_changed.connect(self.statuses.append)
        follower.error.connect(self.errors.append)

    def on_steps(self, data):
        steps, values = data["step"], data["train_loss"]
        self.steps.extend(steps.tolist())
        self.losses.extend(values.tolist())


@pytest.fixture
def follower(qtbot):
    follower = RunFollower(interval_ms=50)
    yield follower
    follower.stop()
    assert not follower.running


def test_follows_rows_events_and_status_as_they_are_committed(qtbot, follower, tmp_path):
    writer = create_run(tmp_path, "live", "/corpus", 2)
    got = Collector(follower)
    try:
        for s in range(1, 4):
            writer.log_step({"step": s, "epoch": 1, "train_loss": 1.0 / s})
        writer.flush()
        follower.start(writer.run_dir)
        qtbot.waitUntil(lambda: got.steps == [1, 2, 3] and got.statuses == ["running"])
        job = follower.jobs.current
        assert job.thread_id not in (None, threading.get_ident()) and not job.done
        for s in range(4, 9):
            writer.log_step({"step": s, "epoch": 2, "train_loss": 1.0 / s})
        writer.log_epoch({"epoch": 1, "step": 3, "val_loss": 0.4})
        writer.log_event("checkpoint", {"path": "x"}, epoch=1, step=3)
        writer.flush()
        qtbot.waitUntil(lambda: got.steps == list(range(1, 9)) and got.epochs == [1]
                        and [e.kind for e in got.events] == ["checkpoint"])
        assert np.allclose(got.losses, [1.0 / s for s in range(1, 9)])
    finally:
        writer.close("completed")
    qtbot.waitUntil(lambda: got.statuses == ["running", "completed"])
    follower.stop()
    assert job.done


def test_an_unreadable_folder_is_reported_and_left_alone(qtbot, follower, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    data = os.urandom(4096)
    (broken / "run.sqlite").write_bytes(data)
    got = Collector(follower)
    follower.start(broken)
    qtbot.waitUntil(lambda: len(got.errors) == 1)
    assert "damaged" in got.errors[0] or "not a Distill run database" in got.errors[0]
    follower.start(tmp_path / "not-there-yet")            # restarting drops the first poller
    qtbot.waitUntil(lambda: len(got.errors) == 2)
    assert "not a folder" in got.errors[1] or "no run.sqlite" in got.errors[1]
    assert (broken / "run.sqlite").read_bytes() == data
    assert sorted(p.name for p in broken.iterdir()) == ["run.sqlite"]


@pytest.mark.parametrize("launch", ["distill-train", "torchrun"])
def test_follows_a_separate_training_process_until_it_is_killed(qtbot, tmp_path, launch):
    """The Runs tab lists and follows a torchrun run (rank 0 writes it) like a terminal run."""
    corpus = write_corpus(tmp_path / "corpus")
    config = tmp_path / "long.toml"
    save_config(tiny_config(epochs=10_000, batch_size=2), config)
    runs = tmp_path / "runs"
    args = ["-m", "distill_engine", str(corpus), "--config", str(config), "--runs-dir", str(runs)]
    command = [sys.executable, *args] if launch == "distill-train" else torchrun_command(*args)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=one_thread_environment())
    plot = LossPlotPanel()
    browser = RunBrowser(plot, [runs])
    qtbot.addWidget(plot)
    qtbot.addWidget(browser)
    try:
        qtbot.waitUntil(lambda: any(runs.glob("*/run.sqlite")) or process.poll() is not None,
                        timeout=240_000)  # torchrun's start-up on a loaded machine
        assert process.poll() is None, process.stderr.read().decode()
        run_dir = next(runs.glob("*/run.sqlite")).parent
        browser.runs.refresh_now()
        browser.runs.select_runs([str(run_dir)])
        with qtbot.waitSignal(browser.runs.follow_requested):
            browser.runs.follow_selected()
        status_index = browser.runs.model.index(browser.runs.model.row_of(run_dir), 3)
        qtbot.waitUntil(lambda: len(plot.curve_data("step:train_loss")[0]) >= 3, timeout=60_000)
        assert status_index.data() == "running"
        seen = len(plot.curve_data("step:train_loss")[0])
        qtbot.waitUntil(lambda: len(plot.curve_data("step:train_loss")[0]) >= seen + 4, timeout=30_000)
        qtbot.waitUntil(lambda: len(plot.curve_data("epoch:val_loss")[0]) >= 1, timeout=30_000)
        steps = plot.curve_data("step:train_loss")[0]
        assert np.array_equal(steps, np.arange(1, len(steps) + 1))       # every row, in order, once
        writer = process.pid if launch == "distill-train" else worker_pid(process.pid, 0)
        os.kill(writer, signal.SIGKILL)
        process.wait(timeout=60)  # torchrun ends rank 1 and exits
        qtbot.waitUntil(lambda: status_index.data() == "interrupted", timeout=10_000)
        assert "interrupted" in browser.status.text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        process.stderr.close()
        browser.shutdown()
    assert not browser.follower.running


def test_an_epoch_committed_between_two_column_reads_is_left_for_the_next_poll(tmp_path):
    """The poller reads the epoch table column by column; a row the writer commits in between must
    not give the later columns more rows than the first (the series would refuse them)."""
    from distill_desktop.bridge.run_follower import EPOCH_NAMES, _RunPoller

    class GrowingRun:  # every column read sees one epoch more than the one before
        def __init__(self):
            self.reads = 0

        def metric_names(self, per):
            return list(EPOCH_NAMES)

        def metric(self, name, per):
            self.reads += 1
            keys = np.arange(1, 2 + min(self.reads, 3))
            return keys, keys * 10.0

    poller = _RunPoller(tmp_path, ())
    (signal_name, rows), = poller._poll_epochs(GrowingRun())
    assert signal_name == "epochs_added" and rows["epoch"].tolist() == [1.0, 2.0]
    assert all(len(values) == 2 for values in rows.values())
    assert rows[EPOCH_NAMES[-1]].tolist() == [10.0, 20.0] and poller.last_epoch == 2
