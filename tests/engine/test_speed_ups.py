"""The options for bigger machines, each off by default, train and resume on the CPU: --compile
(torch.compile of the model and loss) and bf16 autocast."""
import math

import torch

from distill_engine import TrainingConfig
from distill_engine.cli import main
from distill_engine.runs.reader import list_runs, open_run
from distill_engine.training.trainer import Trainer


def test_speed_ups_are_off_by_default():
    assert TrainingConfig().compile is False and TrainingConfig().bf16_autocast is False


def test_compiled_training_trains_and_resumes(tmp_path, corpus_dir, make_config, monkeypatch):
    """Traced by torch.compile (dynamo + AOT autograd); inductor's code generation would take
    minutes on a 2-core CPU, so the test compiles with the aot_eager backend."""
    from torch._dynamo.utils import counters

    from distill_engine.training import acceleration

    monkeypatch.setattr(acceleration, "COMPILE_BACKEND", "aot_eager")
    counters.clear()
    first = Trainer(make_config(epochs=1, compile=True), corpus_dir, runs_dir=tmp_path / "runs").run()
    assert first.status == "completed" and math.isfinite(first.best_loss)
    assert counters["stats"]["unique_graphs"] >= 1  # the step ran through torch.compile
    resumed = Trainer.resume(first.run_dir, epochs=2)
    assert resumed.config.compile is True  # the run's config keeps the option
    result = resumed.run()
    assert result.status == "completed" and result.epochs_done == 2
    with open_run(first.run_dir) as run:
        steps, losses = run.metric("train_loss", "step")
        assert len(steps) == 2 * result.step // 2 and all(math.isfinite(v) for v in losses)


def test_bf16_autocast_trains_and_resumes_from_the_command_line(tmp_path, corpus_dir, make_config):
    from distill_engine.config.schema import save_config
    from distill_engine.model.vae import SpectrogramVAE

    seen = set()
    forward = SpectrogramVAE.encode

    def recording_encode(self, x):
        mu, logvar = forward(self, x)
        seen.add(mu.dtype)
        return mu, logvar

    SpectrogramVAE.encode = recording_encode
    try:
        config = tmp_path / "tiny.toml"
        save_config(make_config(epochs=1), config)
        runs = tmp_path / "runs"
        assert main([str(corpus_dir), "--config", str(config), "--runs-dir", str(runs), "--bf16"]) == 0
        assert torch.bfloat16 in seen  # the training forward ran in bfloat16 (validation in float32)
        (run,) = list_runs(runs)
        assert main(["--resume", str(run.run_dir), "--epochs", "2"]) == 0
    finally:
        SpectrogramVAE.encode = forward
    with open_run(run.run_dir) as found:
        assert found.status == "completed" and found.config.bf16_autocast is True
        started = found.events("run_started")
        assert len(started) == 2 and all("bf16 autocast" in e.payload["config_summary"] for e in started)
        assert all(math.isfinite(v) for v in found.metric("val_loss", "epoch")[1])
