"""The trainer on a real generated corpus: events, run folder, determinism, resume, stop, faults."""
import errno
import math
import sqlite3

import numpy as np
import pytest
import torch

from distill_engine import CheckpointError, load_checkpoint
from distill_engine.training import trainer as trainer_module
from distill_engine.training.events import Callback
from distill_engine.runs.reader import open_run
from distill_engine.training.trainer import Trainer


class Collector(Callback):
    """Records every event; optional actions at chosen points."""

    def __init__(self, stop_at_step=None, stop_after_epoch=None):
        self.events = {}
        self.stop_at_step, self.stop_after_epoch = stop_at_step, stop_after_epoch

    def _add(self, kind, event):
        self.events.setdefault(kind, []).append(event)

    def on_run_started(self, t, e): self._add("started", e)
    def on_divergence(self, t, e): self._add("divergence", e)
    def on_non_finite(self, t, e): self._add("non_finite", e)
    def on_checkpoint(self, t, e): self._add("checkpoint", e)
    def on_run_finished(self, t, e): self._add("finished", e)

    def on_step(self, t, e):
        self._add("step", e)
        if self.stop_at_step == e.step:
            t.request_stop()

    def on_epoch(self, t, e):
        self._add("epoch", e)
        if self.stop_after_epoch == e.epoch:
            t.request_stop()


def train(config, corpus, runs_dir, **kwargs):
    collector = kwargs.pop("collector", None) or Collector()
    result = Trainer(config, corpus, runs_dir=runs_dir, callbacks=[collector], **kwargs).run()
    return result, collector


def test_short_run_completes_and_its_folder_holds_everything(tmp_path, corpus_dir, make_config):
    result, seen = train(make_config(epochs=3), corpus_dir, tmp_path / "runs")
    assert result.status == "completed"
    assert len(seen.events["epoch"]) == 3 and len(seen.events["finished"]) == 1
    steps = seen.events["step"]
    assert [e.step for e in steps] == list(range(1, len(steps) + 1))
    first = steps[0]
    for name in ("train_loss", "recon_loss", "kl_loss", "stft_loss", "mag_recon_loss", "if_recon_loss", "grad_norm"):
        assert math.isfinite(getattr(first, name)), name
    epoch = seen.events["epoch"][-1]
    assert math.isfinite(epoch.val_loss) and math.isfinite(epoch.val_mrstft_distance)
    assert epoch.overfitting_gap == pytest.approx(epoch.val_loss - epoch.train_loss)
    assert "STFT weight" in seen.events["started"][0].config_summary

    run_dir = tmp_path / "runs" / result.run_dir.split("/")[-1]
    for name in ("config.toml", "corpus_report.json", "run.sqlite"):
        assert (run_dir / name).is_file()
    run = open_run(run_dir)
    assert run.status == "completed"
    steps_x, losses = run.metric("train_loss")
    assert len(steps_x) == len(steps) and np.allclose(losses, [e.train_loss for e in steps])
    assert len(run.metric("val_loss")[0]) == 3
    assert run.config == make_config(epochs=3)
    names = [c.path.name for c in run.checkpoints()]
    assert "best.safetensors" in names and any(n.startswith("epoch-00003") for n in names)
    assert {e.kind for e in run.events()} >= {"run_started", "checkpoint", "run_finished"}


def test_same_seed_gives_the_same_losses(tmp_path, corpus_dir, make_config):
    _, a = train(make_config(epochs=2), corpus_dir, tmp_path / "a")
    _, b = train(make_config(epochs=2), corpus_dir, tmp_path / "b")
    assert [e.train_loss for e in a.events["step"]] == [e.train_loss for e in b.events["step"]]


def test_resume_after_stop_reproduces_the_uninterrupted_run(tmp_path, corpus_dir, make_config):
    _, whole = train(make_config(epochs=4), corpus_dir, tmp_path / "whole")
    stopped, first = train(make_config(epochs=4), corpus_dir, tmp_path / "parts", collector=Collector(stop_after_epoch=2))
    assert stopped.status == "stopped" and stopped.epochs_done == 2
    second = Collector()
    resumed = Trainer.resume(stopped.run_dir, callbacks=[second]).run()
    assert resumed.status == "completed" and resumed.run_dir == stopped.run_dir
    expected = [e.train_loss for e in whole.events["step"]]
    assert [e.train_loss for e in first.events["step"] + second.events["step"]] == expected
    _, stored = open_run(stopped.run_dir).metric("train_loss")
    assert stored.tolist() == pytest.approx(expected, rel=0, abs=0)


def test_stop_mid_epoch_is_honoured_within_one_step_with_a_checkpoint(tmp_path, make_corpus, make_config):
    corpus = make_corpus(tmp_path / "corpus", n_files=10, seconds=1.5)
    result, seen = train(make_config(epochs=5, batch_size=2), corpus, tmp_path / "runs",
                         collector=Collector(stop_at_step=3))
    assert result.status == "stopped"
    assert seen.events["step"][-1].step == 3
    stop_checkpoints = [c for c in seen.events["checkpoint"] if c.reason == "stop"]
    assert len(stop_checkpoints) == 1 and load_checkpoint(stop_checkpoints[0].path).step == 3
    assert open_run(result.run_dir).status == "stopped"


def _nan_at(monkeypatch, bad_steps):
    """Make the loss NaN at the given (1-based) training steps; validation untouched."""
    real = trainer_module.compute_combined_loss
    calls = {"train": 0}

    def patched(recon, target, *args, **kwargs):
        out = real(recon, target, *args, **kwargs)
        if torch.is_grad_enabled():
            calls["train"] += 1
            if calls["train"] in bad_steps:
                out["total"] = out["total"] * float("nan")
        return out

    monkeypatch.setattr(trainer_module, "compute_combined_loss", patched)


def test_one_nan_step_is_skipped_and_reported(tmp_path, corpus_dir, make_config, monkeypatch):
    _nan_at(monkeypatch, {2})
    result, seen = train(make_config(epochs=3), corpus_dir, tmp_path / "runs")
    assert result.status == "completed"
    [event] = seen.events["non_finite"]
    assert event.step == 2 and event.consecutive == 1
    assert [e.kind for e in open_run(result.run_dir).events("non_finite")] == ["non_finite"]


def test_three_nan_steps_in_a_row_fail_the_run_and_keep_the_best_checkpoint(tmp_path, corpus_dir, make_config, monkeypatch):
    config = make_config(epochs=6)
    probe, seen = train(config, corpus_dir, tmp_path / "probe")
    steps_per_epoch = len(seen.events["step"]) // 6
    first_bad = 2 * steps_per_epoch + 1  # the first step of epoch 3
    _nan_at(monkeypatch, {first_bad, first_bad + 1, first_bad + 2})
    best_seen = []

    class BestWatcher(Collector):
        def on_checkpoint(self, t, e):
            super().on_checkpoint(t, e)
            if e.is_best:
                best_seen.append(open(e.path, "rb").read())

    result, seen = train(config, corpus_dir, tmp_path / "runs", collector=BestWatcher())
    assert result.status == "failed" and "non-finite" in result.reason
    assert [e.consecutive for e in seen.events["non_finite"]] == [1, 2, 3]
    best = load_checkpoint(result.best_checkpoint)
    assert best.epoch <= 2
    assert open(result.best_checkpoint, "rb").read() == best_seen[-1]
    assert open_run(result.run_dir).status == "failed"


def test_disk_full_during_checkpoint_fails_the_run_and_keeps_the_previous_one(tmp_path, corpus_dir, make_config, monkeypatch):
    import distill_engine.checkpoints.format as ckpt

    real_fsync, saves = ckpt.os.fsync, {"n": 0}

    class FullDisk(Collector):
        def on_checkpoint(self, t, e):
            super().on_checkpoint(t, e)
            if not e.is_best:
                saves["n"] += 1
                if saves["n"] == 1:  # every later file write fails
                    def no_space(fd):
                        raise OSError(errno.ENOSPC, "No space left on device")
                    monkeypatch.setattr(ckpt.os, "fsync", no_space)

    result, seen = train(make_config(epochs=4), corpus_dir, tmp_path / "runs", collector=FullDisk())
    monkeypatch.setattr(ckpt.os, "fsync", real_fsync)
    assert result.status == "failed" and "No space left on device" in result.reason
    regular = [c for c in seen.events["checkpoint"] if not c.is_best]
    assert len(regular) == 1
    assert load_checkpoint(regular[0].path).epoch == 1
    run = open_run(result.run_dir)
    assert run.status == "failed" and "No space left" in run.status_reason
    assert not list((tmp_path / "runs").rglob("*.tmp"))


def test_divergence_warns_once_per_streak_and_is_stored(tmp_path, corpus_dir, make_config, rising_loss):
    result, seen = train(make_config(epochs=6, divergence_patience=2), corpus_dir, tmp_path / "runs")
    assert result.status == "completed"
    [warning] = seen.events["divergence"]
    assert warning.epoch == 3 and warning.streak_epochs == (1, 2, 3) and warning.monitored == "val_loss"
    assert warning.streak_losses[0] < warning.streak_losses[1] < warning.streak_losses[2]
    assert len(open_run(result.run_dir).events("divergence")) == 1


def test_pickle_where_a_checkpoint_is_expected_is_refused_and_not_executed(tmp_path, corpus_dir, make_config):
    import pickle

    stopped, _ = train(make_config(epochs=3), corpus_dir, tmp_path / "runs", collector=Collector(stop_after_epoch=1))
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    checkpoints = tmp_path / "runs" / stopped.run_dir.split("/")[-1] / "checkpoints"
    for old in checkpoints.glob("epoch-*.safetensors"):
        old.unlink()
    (checkpoints / "epoch-00009-step-00000099.safetensors").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(CheckpointError, match="epoch-00009"):
        Trainer.resume(stopped.run_dir).run()
    assert not marker.exists()


def test_bad_files_among_good_ones_are_skipped_and_reported(tmp_path, make_corpus, make_config):
    corpus = make_corpus(tmp_path / "corpus", n_files=4)
    (corpus / "empty.wav").write_bytes(b"")
    (corpus / "notes.wav").write_text("these are my notes, not audio")
    good = (corpus / "sound_00.wav").read_bytes()
    (corpus / "corrupt.wav").write_bytes(good[:30])
    import soundfile as sf
    sf.write(corpus / "silent.wav", np.zeros(8000, dtype=np.float32), 8000)
    result, _ = train(make_config(epochs=1), corpus, tmp_path / "runs")
    assert result.status == "completed"
    report = open_run(result.run_dir).corpus_report
    skipped = {entry["path"].split("/")[-1]: entry["reason"] for entry in report["skipped"]}
    assert set(skipped) == {"empty.wav", "notes.wav", "corrupt.wav", "silent.wav"}
    assert "silent" in skipped["silent.wav"] and "empty" in skipped["empty.wav"]


def test_database_stays_consistent_after_a_run(tmp_path, corpus_dir, make_config):
    result, _ = train(make_config(epochs=2), corpus_dir, tmp_path / "runs")
    with sqlite3.connect(f"{result.run_dir}/run.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_subscribers_state_survives_stop_and_resume(tmp_path, corpus_dir, make_config):
    class EpochCounter(Callback):
        def __init__(self):
            self.seen = 0

        def on_epoch(self, trainer, event):
            self.seen += 1
            if event.epoch == 2:
                trainer.request_stop()

        def state_dict(self):
            return {"seen": self.seen}

        def load_state_dict(self, state):
            self.seen = state["seen"]

    stopped = Trainer(make_config(epochs=4), corpus_dir, runs_dir=tmp_path / "runs", callbacks=[EpochCounter()]).run()
    counter = EpochCounter()
    Trainer.resume(stopped.run_dir, callbacks=[counter]).run()
    assert counter.seen == 4  # 2 restored from the checkpoint + 2 trained after resuming


def test_the_best_checkpoint_is_ranked_with_the_kl_at_its_full_weight(tmp_path, corpus_dir, make_config):
    """While the KL weight warms up, the total reads low for it; the best checkpoint is chosen by
    the total with the KL at weight_max, so the warm-up's first epochs are not favoured for that."""
    config = make_config(epochs=6)
    config.loss.kl.weight_max, config.loss.kl.free_bits, config.loss.kl.warmup_fraction = 1.0, 5.0, 1.0
    result, seen = train(config, corpus_dir, tmp_path / "runs")
    epochs = seen.events["epoch"]
    plain = [e.val_loss for e in epochs]
    ranked = [e.val_loss + (1.0 - e.kl_weight) * e.val_kl_loss for e in epochs]
    assert plain.index(min(plain)) == 0  # 8 dimensions x 5 free nats: the KL adds 40 x its weight
    best = ranked.index(min(ranked))
    assert best > 0
    run_dir = tmp_path / "runs" / result.run_dir.split("/")[-1]
    assert load_checkpoint(run_dir / "checkpoints" / "best.safetensors").epoch == epochs[best].epoch
    assert seen.events["finished"][0].best_loss == pytest.approx(ranked[best])
