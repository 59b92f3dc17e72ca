"""Blow-ups on real recordings: at a learning rate that blows up, the spike rule warns within one
epoch of the jump (the rising-streak rule alone waited 18 epochs); the warning names where the
blow-up began and which checkpoint a roll back would use; a run failing on non-finite losses says
so in a warning of its own before it ends; resume keeps the spike rule's state."""
import shutil
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from distill_engine.runs.reader import open_run
from distill_engine.training.trainer import Trainer
from support import tiny_config
from test_trainer import _nan_at, train

STDLIB_AUDIO = Path(sysconfig.get_paths()["stdlib"]) / "test" / "audiodata"  # CPython's "pluck" recordings
SOUND_EFFECTS = Path("/work/corpora/sfx")  # real one-shot sound effects, where this machine has them
BLOWS_UP = 0.03  # measured: the tiny model's loss goes 4.7 -> 1.7e6 at step 2 on these recordings


@pytest.fixture
def recordings(tmp_path):
    """A folder of real recordings nobody on this project made (WAV/AIFF/AU plucks, sound effects)."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    for source in (STDLIB_AUDIO, SOUND_EFFECTS):
        if source.is_dir():
            for path in sorted(source.iterdir()):  # the short ones (<= 1.2 s), so the test stays fast
                if path.suffix == ".wav" and path.stat().st_size < 60_000:
                    shutil.copy(path, folder / f"{source.name}-{path.name}")
    if not any(folder.iterdir()):
        pytest.skip("no real recordings on this machine (CPython's test/audiodata or /work/corpora/sfx)")
    return folder


def jump_step(steps, losses):
    """The first step whose loss is over 100x the lowest loss before it: a blow-up by any measure."""
    lowest = np.minimum.accumulate(np.where(np.isfinite(losses), losses, np.inf))
    jumped = np.nonzero(losses[1:] > 100 * lowest[:-1])[0]
    return int(steps[jumped[0] + 1]) if len(jumped) else None


def test_a_blow_up_on_real_recordings_warns_within_one_epoch_of_the_jump(tmp_path, recordings):
    config = tiny_config(epochs=2, learning_rate=BLOWS_UP)  # the spike rule at its defaults
    result, seen = train(config, recordings, tmp_path / "runs")
    steps, losses = open_run(result.run_dir).metric("train_loss")
    jump = jump_step(steps, losses)
    assert jump is not None, f"lr {BLOWS_UP} did not blow up: {losses}"
    warnings = seen.events.get("divergence", [])
    assert warnings, "no divergence warning"
    first = warnings[0]
    steps_per_epoch = seen.events["started"][0].steps_per_epoch
    assert first.rule == "spike" and 0 <= first.step - jump <= steps_per_epoch
    assert first.streak_losses[-1] > config.divergence_spike_factor * first.reference_loss
    assert (first.began_epoch, first.began_step) == (first.epoch, first.step)
    assert first.best_epoch == 0  # no epoch had ended: nothing to roll back to but the start
    assert len([w for w in warnings if w.rule == "spike"]) == 1  # one blow-up, one warning
    stored = open_run(result.run_dir).events("divergence")
    assert stored and stored[0].payload["rule"] == "spike"


def test_without_the_spike_rule_the_same_blow_up_is_not_caught_in_time(tmp_path, recordings):
    config = tiny_config(epochs=2, learning_rate=BLOWS_UP, divergence_spike_factor=0.0)
    result, seen = train(config, recordings, tmp_path / "runs")
    assert not seen.events.get("divergence")  # the rising-streak rule alone says nothing


def test_a_non_finite_failure_is_announced_with_the_checkpoint_to_roll_back_to(tmp_path, corpus_dir, monkeypatch):
    config = tiny_config(epochs=4)
    _, seen = train(config, corpus_dir, tmp_path / "probe")
    first_bad = 2 * seen.events["started"][0].steps_per_epoch + 1  # the first step of epoch 3
    _nan_at(monkeypatch, {first_bad, first_bad + 1, first_bad + 2})
    result, seen = train(config, corpus_dir, tmp_path / "runs")
    assert result.status == "failed"
    [warning] = seen.events["divergence"]
    assert warning.rule == "non-finite" and warning.step == first_bad + 2
    assert 1 <= warning.best_epoch <= 2 and np.isfinite(warning.best_loss)
    assert result.best_checkpoint  # the roll back's starting point exists


def test_resume_keeps_the_spike_rules_history(tmp_path, corpus_dir):
    stopped, _ = train(tiny_config(epochs=4), corpus_dir, tmp_path / "runs")
    resumed = Trainer.resume(stopped.run_dir, epochs=5)
    resumed._setup()
    try:
        assert resumed.spikes.steps and resumed.spikes.epochs  # the running medians continue
    finally:
        resumed.writer.close("completed")


def test_a_stop_while_the_corpus_loads_creates_no_run(tmp_path, corpus_dir):
    trainer = Trainer(tiny_config(), corpus_dir, runs_dir=tmp_path / "runs")
    trainer.request_stop()  # e.g. Stop pressed in the window while the folder is being decoded
    result = trainer.run()
    assert result.status == "stopped" and "no run was created" in result.reason and result.run_dir == ""
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
