"""Checkpoints of another model version: refused with a CheckpointError naming the versions,
never a tensor-shape traceback; first-version checkpoints of the unchanged 16 kHz-size model load."""
import pytest

from distill_engine import CheckpointError, load_checkpoint, save_checkpoint
from distill_engine.model.vae import MODEL_VERSION, SpectrogramVAE
from distill_engine.model.versions import FIRST_ARCHITECTURE
from distill_engine.training.trainer import Trainer


def _full_band_config(make_config, **overrides):
    config = make_config(epochs=1, **overrides)
    config.representation.n_fft, config.representation.hop_length = 2048, 512  # 1025 bins
    return config


def _rewritten(checkpoint, path, model_state, model_entry):
    """The checkpoint saved again with other weights and model entry (None: no entry, as before)."""
    extra = {k: v for k, v in checkpoint.extra.items() if k != "model"}
    if model_entry is not None:
        extra["model"] = model_entry
    return save_checkpoint(path, model_state=model_state, optimizer_state=None, epoch=checkpoint.epoch,
                           step=checkpoint.step, config=checkpoint.config, metrics={}, extra=extra,
                           extra_tensors=checkpoint.extra_tensors)


@pytest.fixture
def full_band_checkpoint(tmp_path, corpus_dir, make_config):
    result = Trainer(_full_band_config(make_config), corpus_dir, runs_dir=tmp_path / "runs").run()
    return load_checkpoint(result.best_checkpoint)


def test_checkpoints_record_the_model_version_and_layers(full_band_checkpoint):
    model = full_band_checkpoint.extra["model"]
    assert model["version"] == MODEL_VERSION
    assert model["n_freq"] == 1025 and model["architecture"]["freq_fold"] == 8


def test_a_first_version_full_band_checkpoint_is_refused_naming_the_versions(
        tmp_path, corpus_dir, make_config, full_band_checkpoint):
    model = full_band_checkpoint.extra["model"]
    old = SpectrogramVAE(1025, model["n_frames"], model["latent_dim"], architecture=FIRST_ARCHITECTURE)
    path = _rewritten(full_band_checkpoint, tmp_path / "old.safetensors", old.state_dict(), None)
    trainer = Trainer(_full_band_config(make_config), corpus_dir, runs_dir=tmp_path / "runs2",
                      init_checkpoint=path)
    with pytest.raises(CheckpointError) as raised:
        trainer.run()
    message = str(raised.value)
    assert "model version 1" in message and f"model version {MODEL_VERSION}" in message
    assert "old.safetensors" in message and "start a new run" in message


def test_an_unknown_model_version_is_refused(tmp_path, corpus_dir, make_config, full_band_checkpoint):
    entry = dict(full_band_checkpoint.extra["model"], version=MODEL_VERSION + 1)
    path = _rewritten(full_band_checkpoint, tmp_path / "new.safetensors", full_band_checkpoint.model_state, entry)
    trainer = Trainer(_full_band_config(make_config), corpus_dir, runs_dir=tmp_path / "runs2",
                      init_checkpoint=path)
    with pytest.raises(CheckpointError, match=f"model version {MODEL_VERSION + 1}.*upgrade Distill"):
        trainer.run()


def test_a_checkpoint_of_another_input_size_is_refused_without_a_traceback(
        tmp_path, corpus_dir, make_config, full_band_checkpoint):
    trainer = Trainer(make_config(epochs=1), corpus_dir, runs_dir=tmp_path / "runs2",
                      init_checkpoint=full_band_checkpoint.path)  # 129 bins, not 1025
    with pytest.raises(CheckpointError, match="does not fit this run's model"):
        trainer.run()


def test_a_first_version_checkpoint_of_the_unchanged_model_still_trains_on(tmp_path, corpus_dir, make_config):
    first = Trainer(make_config(epochs=1), corpus_dir, runs_dir=tmp_path / "runs").run()
    checkpoint = load_checkpoint(first.best_checkpoint)
    path = _rewritten(checkpoint, tmp_path / "v1.safetensors", checkpoint.model_state, None)
    result = Trainer(make_config(epochs=2), corpus_dir, runs_dir=tmp_path / "runs2", init_checkpoint=path).run()
    assert result.status == "completed" and result.step > first.step
