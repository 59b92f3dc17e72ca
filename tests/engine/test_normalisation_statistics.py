"""The log-magnitude statistics: a new run fits them on its heard bins, a checkpoint carries them, and
a run continued from a checkpoint keeps the ones it was trained with."""
from pathlib import Path

from distill_engine.audio.representation import Representation
from distill_engine.training.events import Callback
from distill_engine.training.trainer import Trainer


class StopAfterFirst(Callback):
    def on_epoch(self, trainer, event):
        trainer.request_stop()


def test_a_resumed_run_keeps_the_statistics_its_checkpoint_was_trained_with(tmp_path, corpus_dir, make_config,
                                                                             monkeypatch):
    """A run trained before the statistics left digital silence out goes on with its own."""
    def older_fit(self, raw):
        self.log_mag_mean, self.log_mag_std = -9.5, 4.5

    with monkeypatch.context() as patch:
        patch.setattr(Representation, "fit", older_fit)
        stopped = Trainer(make_config(epochs=2), corpus_dir, runs_dir=tmp_path / "runs",
                          callbacks=[StopAfterFirst()]).run()
    resumed = Trainer.resume(Path(stopped.run_dir))
    assert resumed.run().status == "completed"
    assert (resumed.representation.log_mag_mean, resumed.representation.log_mag_std) == (-9.5, 4.5)
    fresh = Trainer(make_config(epochs=1), corpus_dir, runs_dir=tmp_path / "fresh")
    assert fresh.run().status == "completed"
    assert fresh.representation.log_mag_mean != -9.5  # a new run fits its own
