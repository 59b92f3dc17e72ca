"""The previews of a training run: rendered at epoch ends on the training thread, written under
the run folder's previews/ (layout.py), indexed in the run store, measured (quality.py).

At an epoch end (`at_epoch_end`) once `preview_interval_s` seconds have passed since the last
preview (or the session started), and always at the last epoch of the run, with the current
weights (where a preview takes longer than COST_BUDGET of that interval - a slow machine, a big
model - the next one waits until it is COST_BUDGET of the time since the last, so previews never
cost more than that share of training):
  - reconstructions of up to MAX_CLIPS fixed clips: validation chunks (training chunks when there is
    no validation set), the first chunk of files spread over the split, chosen once per run; their
    originals are written once and read back on resume, so the clips stay the same across resume;
  - MAX_SAMPLES samples: decodings of fixed standard-normal vectors (seeded by the run's seed)
    mapped to draws of the training set's aggregate posterior (latent_prior.PosteriorMixture);
    the sample-quality figures are measured on one more draw from each of up to MEASURED_SAMPLES
    training chunks' posteriors (spread over them: PosteriorMixture.spread_draws); samples and
    those draws are raised by the level the decoder loses on training chunks (sample_level.py).
A preview that cannot be written (disk full, permissions) is reported as PreviewFailed and training
goes on; the epoch's sample-quality figures are kept when they were computed.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import soundfile as sf
import torch

from ..training import events as ev
from .latent_prior import PosteriorMixture, fit_latent_prior, fixed_noise
from .layout import original_file, read_clip, reconstruction_file, sample_file, write_clip
from .quality import NO_QUALITY, SpectralDistance, rms, sample_quality, spread_indices
from .sample_level import gain_tensors, measure_sample_gain, with_gain

MAX_CLIPS = 4
MAX_SAMPLES = 4
#: Chunk posteriors the quality figures draw one sample from each of (spread over the training
#: chunks). On one kit checkpoint, for 4 sets of fixed vectors, the loudness of the 4 written samples
#: read -24.8 to -4.8 dB, of 128 random draws -7.1 to -13.2, of the 25 spread draws -11.3 to -12.2
#: (benchmarks/bench_sample_quality.py --noise-seeds 4): random draws land on loud or quiet chunks.
MEASURED_SAMPLES = 32
#: Corpus chunks that fidelity and coverage compare samples with (spread over train + validation).
MAX_REFERENCE_CHUNKS = 64
#: The largest share of training time previews may take (the next preview waits when one is slow).
COST_BUDGET = 0.03
NOISE_SEED_OFFSET = 7919  # fixed latent vectors come from seed + this (independent of training RNG)


def choose_clips(audio: torch.Tensor, files: list[str], chunks_per_file: dict[str, int],
                 k: int = MAX_CLIPS) -> list[int]:
    """Indices of up to k chunks of `audio` (stacked file by file, in `files` order): the first
    chunk of files spread over the list, then further chunks spread over the rest."""
    starts, offset = [], 0
    for path in files:
        starts.append(offset)
        offset += chunks_per_file.get(path, 0)
    if offset != len(audio):  # the report does not describe these chunks: spread over them
        starts = []
    chosen = [starts[i] for i in spread_indices(len(starts), k)]
    others = [i for i in range(len(audio)) if i not in set(chosen)]
    chosen += [others[i] for i in spread_indices(len(others), k - len(chosen))] if len(chosen) < k else []
    return sorted(chosen)


class PreviewSession:
    """Renders, writes and records one run's previews (the trainer calls at_epoch_end).

    Args:
        run_dir: the run folder; files go under run_dir/previews.
        interval_s: config.preview_interval_s (0: never).
        seed: config.seed (the fixed latent vectors' seed is derived from it).
        model, representation: the trainer's (the current weights are rendered).
        train, val: (normalised representations, audio) of the training and validation chunks.
        clip_candidates: (files, chunks per file) of the split the clips come from, for choose_clips.
        sample_rate: the corpus rate the files are written at.
        writer: the RunWriter the rows go to; emit: the trainer's event dispatch (hook, event).
        clock: monotonic seconds (time.monotonic; tests pass their own).
    """

    def __init__(self, run_dir, *, interval_s: float, seed: int, model, representation, train, val,
                 clip_candidates: tuple[list[str], dict[str, int]], sample_rate: int, writer, emit,
                 clock=time.monotonic):
        self.run_dir = Path(run_dir)
        self.interval_s = float(interval_s)
        self.model, self.representation = model, representation
        self.train, self.val = train, val
        self.clip_candidates = clip_candidates
        self.sample_rate = int(sample_rate)
        self.writer, self.emit = writer, emit
        self.device = train[0].device
        self.chunk_samples = train[1].shape[-1]
        self.noise = fixed_noise(MEASURED_SAMPLES, model.latent_dim, seed + NOISE_SEED_OFFSET).to(self.device)
        self.distance = SpectralDistance(self.device)
        self.prior: PosteriorMixture | None = None  # the latest fit, saved with checkpoints
        self.sample_gain_db = 0.0  # and the samples' gain measured with it
        self.clock = clock
        self._last = clock()
        self._wait_s = self.interval_s  # interval_s, or longer after a slow preview (COST_BUDGET)
        self._clips: torch.Tensor | None = None  # the fixed clips' audio [n, samples]
        self._clip_reps: torch.Tensor | None = None  # and their normalised representations
        self._originals_logged = False
        self._reference = None  # (magnitudes of the reference chunks, median corpus chunk RMS)

    @property
    def enabled(self) -> bool:
        return self.interval_s > 0

    def at_epoch_end(self, epoch: int, step: int, last: bool) -> dict:
        """Render when due (`last`: the run ends after this epoch); the sample-quality figures
        for EpochMetrics (NaN when no preview was rendered)."""
        if not self.enabled or (not last and self.clock() - self._last < self._wait_s):
            return dict(NO_QUALITY)
        started = self.clock()
        quality = dict(NO_QUALITY)
        written: list[str] = []
        try:
            clips, recon, samples, rows, quality = self._render(epoch, step)
            for row, audio in zip(rows, [*clips, *recon, *samples]):
                original = row["kind"] == "original"
                if original and self._originals_logged:
                    continue
                if not (original and (self.run_dir / row["file"]).is_file()):  # originals: once
                    write_clip(self.run_dir / row["file"], audio, self.sample_rate)
                    written.append(row["file"])
                self.writer.log_previews([row])
            self._originals_logged = True
        except (OSError, sf.SoundFileError) as exc:
            where = f" after writing {len(written)} files" if written else ""
            self.emit("on_preview_failed", ev.PreviewFailed(epoch, step, f"previews of epoch {epoch} could not "
                                                            f"be written{where}: {type(exc).__name__}: {exc}"))
        else:
            self.emit("on_preview", ev.PreviewRendered(epoch, step, tuple(written)))
        finally:
            self._last = self.clock()
            self._wait_s = max(self.interval_s, (self._last - started) / COST_BUDGET)
        return quality

    def checkpoint_tensors(self) -> dict:
        """The latest latent prior and sample gain, for a checkpoint's extra tensors (distill-render
        samples them)."""
        return {**self.prior.tensors(), **gain_tensors(self.sample_gain_db)} if self.prior is not None else {}

    # -- rendering -------------------------------------------------------------------------------
    @torch.no_grad()
    def _render(self, epoch: int, step: int):
        """Audio of the clips, reconstructions and samples, the rows describing them, the figures."""
        was_training = self.model.training
        self.model.eval()
        try:
            rep, length = self.representation, self.chunk_samples
            clips, clip_reps = self._fixed_clips()
            recon = rep.decode(self.model(clip_reps)[0], length, precise=False)
            self.prior = fit_latent_prior(self.model, self.train[0])
            self.sample_gain_db = measure_sample_gain(self.model, rep, *self.train, precise=False)
            latents = torch.cat([self.prior.latents(self.noise[:MAX_SAMPLES]), self.prior.spread_draws(self.noise)])
            samples = with_gain(rep.decode(self.model.decode(latents), length, precise=False), self.sample_gain_db)
        finally:
            self.model.train(was_training)
        d = self.distance
        recon_distance = d.paired(d.magnitudes(recon), d.magnitudes(clips))
        reference, corpus_rms = self._reference_set()
        sample_distance = d.pairwise(d.magnitudes(samples), reference)
        n = MAX_SAMPLES  # the written samples; the figures come from the spread draws after them
        quality = dict(sample_quality(sample_distance[n:], rms(samples[n:]), corpus_rms), sample_gain_db=self.sample_gain_db)
        samples, sample_distance = samples[:n], sample_distance[:n]
        rows = [self._row(0, step, "original", i, original_file(i), math.nan, a) for i, a in enumerate(clips)]
        rows += [self._row(epoch, step, "reconstruction", i, reconstruction_file(epoch, i), float(recon_distance[i]), a)
                 for i, a in enumerate(recon)]
        rows += [self._row(epoch, step, "sample", i, sample_file(epoch, i), float(sample_distance[i].min()), a)
                 for i, a in enumerate(samples)]
        to_numpy = [a.float().cpu().numpy() for a in (*clips, *recon, *samples)]
        n_c, n_r = len(clips), len(recon)
        return to_numpy[:n_c], to_numpy[n_c:n_c + n_r], to_numpy[n_c + n_r:], rows, quality

    @staticmethod
    def _row(epoch, step, kind, clip, file, distance, audio) -> dict:
        level = float(audio.double().square().mean().sqrt())
        return {"epoch": epoch, "step": step, "kind": kind, "clip": clip, "file": file,
                "distance": None if math.isnan(distance) else distance, "rms": level}

    def _fixed_clips(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The clips' audio (read back from previews/originals when a run resumes, else chosen) and
        their representations, both computed at the first preview only."""
        if self._clips is None:
            self._clips = self._stored_clips()
        if self._clips is None:
            audio = self.val[1] if len(self.val[1]) else self.train[1]
            files, chunks_per_file = self.clip_candidates
            self._clips = audio[choose_clips(audio, files, chunks_per_file)]
        if self._clip_reps is None:
            self._clip_reps = self.representation.encode(self._clips)
        return self._clips, self._clip_reps

    def _stored_clips(self) -> torch.Tensor | None:
        found = []
        for i in range(MAX_CLIPS):
            path = self.run_dir / original_file(i)
            if not path.is_file():
                break
            try:
                audio, rate = read_clip(path)
            except (OSError, sf.SoundFileError):
                return None
            if rate != self.sample_rate or len(audio) != self.chunk_samples:
                return None
            found.append(torch.from_numpy(audio))
        return torch.stack(found).to(self.device) if found else None

    def _reference_set(self):
        if self._reference is None:
            audio = torch.cat([self.train[1], self.val[1]])
            index = spread_indices(len(audio), MAX_REFERENCE_CHUNKS)
            self._reference = (self.distance.targets(self.distance.magnitudes(audio[index])), float(rms(audio).median()))
        return self._reference
