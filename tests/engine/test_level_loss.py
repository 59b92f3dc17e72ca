"""The frame-level loss term in real runs: recorded like every term, weighted from the config, and
a run written before the term existed keeps training without it when continued."""
import math
import re

from distill_engine.config.schema import load_config, load_run_config
from distill_engine.runs.reader import open_run
from distill_engine.training.events import Callback
from distill_engine.training.trainer import Trainer


class Started(Callback):
    def __init__(self):
        self.started, self.steps = [], []

    def on_run_started(self, trainer, event):
        self.started.append(event)

    def on_step(self, trainer, event):
        self.steps.append(event)


def without_level_table(config_path):
    """The config.toml as a Distill without the level term wrote it (no [loss.level] table)."""
    text = config_path.read_text()
    stripped = re.sub(r"\[loss\.level\]\n(?:[^\[\n][^\n]*\n|\n)*", "", text)
    assert "[loss.level]" in text and "[loss.level]" not in stripped and "[loss.kl]" in stripped
    config_path.write_text(stripped)


def test_a_new_run_records_the_level_term_at_its_weight(tmp_path, corpus_dir, make_config):
    config = make_config(epochs=2)
    config.loss.level.weight = 0.5
    seen = Started()
    result = Trainer(config, corpus_dir, runs_dir=tmp_path, callbacks=[seen]).run()
    assert result.status == "completed"
    assert seen.started[0].term_weights["level"] == 0.5
    assert all(math.isfinite(e.level_loss) and e.level_loss > 0 for e in seen.steps)
    with open_run(result.run_dir) as run:
        _, train_level = run.metric("train_level_loss")
        _, val_level = run.metric("val_level_loss")
        assert len(train_level) == 2 and all(math.isfinite(v) for v in train_level)
        assert len(val_level) == 2 and all(math.isfinite(v) for v in val_level)
        assert run.config.loss.level.weight == 0.5


def test_continuing_a_run_written_before_the_level_term_keeps_its_loss(tmp_path, corpus_dir, make_config):
    first = Trainer(make_config(epochs=2), corpus_dir, runs_dir=tmp_path).run()
    config_path = tmp_path / first.run_dir.split("/")[-1] / "config.toml"
    without_level_table(config_path)
    assert load_config(config_path).loss.level.weight == 1.0  # a person's own file gets today's default
    assert load_run_config(config_path).loss.level.weight == 0.0
    with open_run(first.run_dir) as run:
        assert run.config.loss.level.weight == 0.0  # what the desktop continues a run with
    seen = Started()
    trainer = Trainer.resume(first.run_dir, epochs=3, callbacks=[seen])
    assert trainer.run().status == "completed"
    assert seen.started[0].term_weights["level"] == 0.0
    assert seen.steps and all(e.level_loss > 0 for e in seen.steps)  # measured, but weighted 0:
    assert all(math.isclose(e.train_loss, e.stft_loss + e.recon_loss + e.kl_weight * e.kl_loss, rel_tol=1e-4)
               for e in seen.steps)
    assert load_config(config_path).loss.level.weight == 0.0  # saved back as the run trained
