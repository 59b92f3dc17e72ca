"""Which model a checkpoint holds, and whether this engine's model can take its weights.

A checkpoint's `extra["model"]` records the model version (vae.MODEL_VERSION) and its layers.
Checkpoints written before versions were recorded hold model version 1: the fold-by-4
architecture for every input size. Those still load where this engine builds the same layers
(inputs of up to 640 bins, e.g. the 16 kHz preset); a full-band version-1 checkpoint is refused
with a CheckpointError naming the versions, as is any version this engine does not know.
"""
from __future__ import annotations

from dataclasses import asdict

from ..errors import CheckpointError
from .vae import MODEL_VERSION, SpectrogramVAE, VAEArchitecture

FIRST_ARCHITECTURE = VAEArchitecture(freq_fold=4)  # what every version-1 checkpoint holds


def model_description(model: SpectrogramVAE) -> dict:
    """Plain JSON-able description of the model for a checkpoint's extra["model"]."""
    return {"version": MODEL_VERSION, "n_freq": model.n_freq, "n_frames": model.n_frames,
            "latent_dim": model.latent_dim, "architecture": asdict(model.architecture)}


def check_model_version(model: SpectrogramVAE, checkpoint) -> None:
    """CheckpointError unless the checkpoint's model version can go into this engine's model
    (whether its tensors then fit is checked by training.checkpoint_fit)."""
    described = (checkpoint.extra or {}).get("model")
    version = described.get("version") if isinstance(described, dict) else 1
    fix = "start a new run, or continue this one with the Distill version that wrote it"
    if version == 1 and model.architecture != FIRST_ARCHITECTURE:
        raise CheckpointError(
            f"{checkpoint.path} holds model version 1 (written before full-band models); this Distill "
            f"builds model version {MODEL_VERSION} for {model.n_freq}-bin input, whose layers differ "
            f"(frequency fold {model.architecture.freq_fold} instead of 4); {fix}.")
    if version not in (1, MODEL_VERSION):
        raise CheckpointError(
            f"{checkpoint.path} holds model version {version!r}; this Distill reads model versions 1 "
            f"and {MODEL_VERSION}; upgrade Distill to load it, or {fix}.")
