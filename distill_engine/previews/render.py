"""Render from any checkpoint: reconstructions of audio files and samples, written to a folder.

Used by `distill-render` (cli.py) and the desktop's Render… dialog (on a worker thread: `progress`
is called after each file and cancels the render by returning False).

Samples come from the latent prior the checkpoint carries (the training set's aggregate posterior
at the run's last preview, latent_prior.py; an older checkpoint's Gaussian fit); a checkpoint
without one (previews off, or written before previews existed) has its prior fitted from the run's
corpus when the checkpoint is still in its run folder and the corpus can be read, else samples are
drawn from N(0, I) and the result says so (RenderResult.notes). Samples are raised by the gain
the checkpoint carries with its prior (sample_level.py; measured on the corpus when the prior is
fitted here; none for N(0, I) or an older checkpoint's prior, and the notes say so). Inputs are decoded with
libsndfile, mixed to mono, resampled to the model's rate and reconstructed chunk by chunk; a file
that is not audio, is silent, too short or too long is skipped with its reason (silent: peak below
-60 dBFS, as in the corpus).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import soundfile as sf
import soxr
import torch

from ..audio.corpus import SILENCE_DBFS, SILENCE_PEAK, load_corpus
from ..audio.representation import Representation
from ..checkpoints.format import Checkpoint, load_checkpoint
from ..config.schema import TrainingConfig, config_from_dict
from ..errors import CheckpointError, DistillError, RenderError
from ..model.vae import SpectrogramVAE
from .latent_prior import LatentPrior, PosteriorMixture, fit_latent_prior, fixed_noise, prior_from_tensors
from .layout import write_clip
from .sample_level import gain_from_tensors, measure_sample_gain, with_gain

MAX_SAMPLES = 1000
MAX_INPUT_SECONDS = 600.0  # longer inputs are skipped (checked from the header, before decoding)
FORMATS = {"flac": "PCM_24", "wav": "PCM_24"}  # file suffix -> soundfile subtype


@dataclass
class RenderResult:
    """What a render wrote, what it skipped (file, reason), whether it was cancelled, and notes
    about how it was done (e.g. where the samples' prior came from)."""

    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class LoadedModel:
    """A checkpoint's model, representation and config, ready to render on `device`."""

    model: SpectrogramVAE
    representation: Representation
    config: TrainingConfig
    chunk_samples: int
    checkpoint: Checkpoint


def load_model(checkpoint_path, device="cpu") -> LoadedModel:
    """The model of a checkpoint in eval mode; CheckpointError for a file this engine refuses."""
    checkpoint = load_checkpoint(checkpoint_path, map_location=device)
    path = checkpoint.path
    try:
        config = config_from_dict(checkpoint.config)
        representation = Representation.from_state_dict(checkpoint.extra["representation"])
    except (DistillError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a model checkpoint this Distill can render: its config or "
                              f"representation is missing or invalid ({exc}); choose a checkpoint from a "
                              f"run's checkpoints folder.") from None
    chunk_samples = int(round(config.chunk_duration * representation.sample_rate))
    model = SpectrogramVAE(representation.n_freq, representation.n_frames(chunk_samples), config.latent_dim,
                           config.dropout)
    try:
        model.load_state_dict(checkpoint.model_state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: its weights do not fit the model its config describes ({exc}); "
                              f"choose another checkpoint.") from None
    return LoadedModel(model.to(device).eval(), representation, config, chunk_samples, checkpoint)


def render_from_checkpoint(checkpoint_path, output_dir, *, samples: int = 4, seed: int = 0,
                           inputs: Iterable = (), progress: Callable[[int, int], bool] | None = None,
                           format: str = "flac", device="cpu") -> RenderResult:
    """Write `samples` samples (sample-SS.<format>) and a reconstruction of each input
    (<name>-reconstruction.<format>) to output_dir at the model's sample rate.

    Args:
        checkpoint_path: a Distill checkpoint (CheckpointError if refused).
        output_dir: created if missing (RenderError if it cannot be written).
        samples: number of samples (0 to MAX_SAMPLES); seed: their fixed latent vectors' seed.
        inputs: audio files to reconstruct (skipped with a reason when unusable).
        progress: progress(done, total) after each file; returning False cancels.
        format: "flac" or "wav" (24-bit).
    """
    if format not in FORMATS:
        raise RenderError(f"format {format!r} is not one of {', '.join(FORMATS)}")
    if not 0 <= int(samples) <= MAX_SAMPLES:
        raise RenderError(f"samples must be between 0 and {MAX_SAMPLES}, not {samples}")
    inputs = [Path(p) for p in inputs]
    loaded = load_model(checkpoint_path, device)
    output_dir = Path(output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RenderError(f"cannot create the output folder {output_dir} ({exc}); choose a folder you may "
                          f"write to") from None
    result = RenderResult()
    total, done = len(inputs) + int(samples), 0

    def step() -> bool:
        nonlocal done
        done += 1
        if progress is not None and progress(done, total) is False:
            result.cancelled = True
        return not result.cancelled

    names = _output_names(inputs)
    for path, name in zip(inputs, names):
        try:
            audio = reconstruct(loaded, read_input(path, loaded.representation.sample_rate))
            result.written.append(_write(output_dir / f"{name}-reconstruction", audio, loaded, format))
        except _Skip as skip:
            result.skipped.append((path, str(skip)))
        if not step():
            return result
    if samples:
        prior, gain_db, notes = sampling_prior(loaded)
        result.notes += notes
        noise = fixed_noise(int(samples), loaded.config.latent_dim, seed)
        for i in range(int(samples)):
            with torch.no_grad():
                z = prior.latents(noise[i:i + 1])
                audio = with_gain(loaded.representation.decode(loaded.model.decode(z), loaded.chunk_samples), gain_db)[0]
            result.written.append(_write(output_dir / f"sample-{i:02d}", audio, loaded, format))
            if not step():
                return result
    return result


def sampling_prior(loaded: LoadedModel) -> tuple[PosteriorMixture | LatentPrior, float, list[str]]:
    """(prior, sample gain in dB, notes): the checkpoint's prior and gain; what it lacks is fitted
    to its run's corpus; without either, N(0, I) and no gain."""
    tensors, device = loaded.checkpoint.extra_tensors, next(loaded.model.parameters()).device
    prior, gain = prior_from_tensors(tensors), gain_from_tensors(tensors)
    if prior is not None and prior.latent_dim != loaded.config.latent_dim:
        prior = None
    if prior is not None and gain is not None:
        return prior.to(device), gain, []
    try:
        corpus_path, reps, audio = _run_corpus(loaded, device)
    except DistillError as exc:
        if prior is not None:
            return prior.to(device), 0.0, [f"samples: as the decoder makes them, without a sample gain: the "
                                           f"checkpoint was written before it and its run's corpus could not be "
                                           f"read ({exc})"]
        return (LatentPrior.standard(loaded.config.latent_dim, device), 0.0,
                [f"samples drawn from N(0, I) and may be near-silent: the checkpoint carries no latent prior "
                 f"and its run's corpus could not be read ({exc})"])
    gain = measure_sample_gain(loaded.model, loaded.representation, reps, audio)
    if prior is not None:
        return prior.to(device), gain, [f"samples: sample gain ({gain:+.1f} dB) measured on the corpus {corpus_path}"]
    return (fit_latent_prior(loaded.model, reps), gain,
            [f"samples: latent prior and sample gain ({gain:+.1f} dB) fitted to the corpus {corpus_path}"])


def _run_corpus(loaded: LoadedModel, device) -> tuple[str, torch.Tensor, torch.Tensor]:
    """(corpus folder, normalised training representations, their audio) of the checkpoint's run;
    DistillError when the run or its corpus cannot be read."""
    from ..runs.reader import open_run

    with open_run(loaded.checkpoint.path.parent.parent) as run:
        corpus_path = run.corpus_path
    corpus = load_corpus(corpus_path, loaded.config)
    return corpus_path, loaded.representation.normalise(corpus.train_raw).to(device), corpus.train_audio.to(device)


class _Skip(Exception):
    """Internal: this input cannot be rendered, for the reason in the message."""


def read_input(path: Path, sample_rate: int) -> np.ndarray:
    """Mono float32 audio of `path` at `sample_rate` (resampled); _Skip with the reason if unusable."""
    if not path.is_file():
        raise _Skip("does not exist" if not path.exists() else "is not a file")
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError, OSError) as exc:
        detail = getattr(exc, "error_string", None) or str(exc)
        raise _Skip(f"not an audio file libsndfile can decode ({detail})") from None
    if info.samplerate <= 0 or info.channels <= 0 or info.frames <= 0:
        raise _Skip("empty file (no audio frames)")
    if info.frames / info.samplerate > MAX_INPUT_SECONDS:
        raise _Skip(f"too long ({info.frames / info.samplerate:.0f} s; at most {MAX_INPUT_SECONDS:.0f} s)")
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError) as exc:
        raise _Skip(f"cannot be decoded ({exc})") from None
    if not np.all(np.isfinite(audio)):
        raise _Skip("contains NaN/inf samples")
    mono = np.ascontiguousarray(audio.mean(axis=1, dtype=np.float32))
    if rate != sample_rate:
        mono = np.asarray(soxr.resample(mono, rate, sample_rate, quality="HQ"), dtype=np.float32)
    peak = float(np.max(np.abs(mono))) if len(mono) else 0.0
    if peak < SILENCE_PEAK:  # the corpus' rule: a file whose peak is below -60 dBFS is silence
        shown = f"peak {20 * math.log10(peak):.0f} dBFS" if peak > 0 else "digital silence"
        raise _Skip(f"silent ({shown}; below {SILENCE_DBFS:g} dBFS)")
    return mono


@torch.no_grad()
def reconstruct(loaded: LoadedModel, audio: np.ndarray) -> torch.Tensor:
    """The model's reconstruction of mono audio of any length, chunk by chunk (the last padded)."""
    n, length = len(audio), loaded.chunk_samples
    padded = np.zeros(-(-n // length) * length, dtype=np.float32)
    padded[:n] = audio
    device = next(loaded.model.parameters()).device
    chunks = torch.from_numpy(padded).view(-1, length).to(device)
    rep = loaded.representation
    out = [rep.decode(loaded.model(rep.encode(chunks[i:i + 16]))[0], length) for i in range(0, len(chunks), 16)]
    return torch.cat(out).reshape(-1)[:n]


def _write(stem: Path, audio: torch.Tensor, loaded: LoadedModel, format: str) -> Path:
    path = stem.with_name(f"{stem.name}.{format}")
    try:
        return write_clip(path, audio.float().cpu().numpy(), loaded.representation.sample_rate, FORMATS[format])
    except (OSError, sf.SoundFileError) as exc:
        raise RenderError(f"cannot write {path} ({exc}); free some space or choose another folder") from None


def _output_names(inputs: list[Path]) -> list[str]:
    """A distinct file-name stem per input (stem, then stem-2, stem-3 ... for repeated names)."""
    seen: dict[str, int] = {}
    names = []
    for path in inputs:
        count = seen[path.stem] = seen.get(path.stem, 0) + 1
        names.append(path.stem if count == 1 else f"{path.stem}-{count}")
    return names
