"""The training loop: AdamW on the combined loss, events to subscribers, a run folder on disk.

Hot-path rules (shared/DESIGN.md): per-step loss components stay on the device and are read in
one transfer every `log_interval_steps` (every step on CPU, where reading costs no sync); a
non-finite step is skipped by the fused AdamW's `found_inf` flag, not by a host-side branch; batch
shapes are fixed (the last partial batch is dropped).
"""
from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path

import torch

from . import events as ev
from ..checkpoints.format import CheckpointManager
from ..config.schema import TrainingConfig, config_to_dict, load_run_config, render_config_summary, save_config
from ..audio.corpus import Corpus, load_corpus
from .acceleration import build_forward_loss
from .checkpointing import CheckpointWriting
from .distributed import continue_with_world_size, process_group_from_environment
from .divergence import DivergenceDetector, SpikeDetector, divergence_warning
from ..errors import CorpusError, RunStoreError, write_failure_reason
from ..model.losses import (MultiResolutionSTFTLoss, at_full_kl_weight, compute_combined_loss, create_stft_loss,
                            kl_weight_at, term_weights)
from ..model.vae import SpectrogramVAE
from ..previews.quality import DISTANCE_RESOLUTIONS
from ..previews.session import PreviewSession
from ..runs.recorder import RunRecorder
from ..audio.representation import Representation
from ..runs.reader import open_run
from ..runs.continuing import check_can_continue
from ..runs.naming import default_run_name
from ..runs.writer import RunWriter, create_run, default_runs_dir
from .corpus_change import describe_corpus_change
from .state import SnapshotBuffers, TrainingState
from .stopping import StopControl, StoppedBeforeStart
from .validation import VAL_FIELDS, VAL_TERMS, Validation

MAX_CONSECUTIVE_NON_FINITE = 3
#: {loss term: metric field} per step and per epoch (training means); validation's: validation.py
STEP_TERMS = ev.term_fields(ev.StepMetrics)
TRAIN_TERMS = ev.term_fields(ev.EpochMetrics, "train")


class Trainer(StopControl, CheckpointWriting, Validation):
    """Trains one run. Construction is cheap; `run()` loads the corpus and trains (call it on a
    worker thread from a GUI). `request_stop`, `request_pause` and `resume` are thread-safe and
    honoured within one step.

    Args:
        config: the training configuration.
        corpus_folder: folder of audio files.
        runs_dir: where run folders go (default: $DISTILL_DATA_DIR/runs or the user data dir).
        callbacks: subscribers to the events in `distill_engine.events`.
        run_name: the run's name (default: "<corpus> · lr <rate> · <HH:MM>", runs.naming).
        resume_run: an existing run folder to continue from its latest checkpoint.
        init_checkpoint: start a new run from this checkpoint's weights and optimizer state.
        parent_run: run folder the new run is linked to (with init_checkpoint).
        corpus: an already loaded Corpus for corpus_folder (skips loading).
    """

    def __init__(self, config: TrainingConfig, corpus_folder, *, runs_dir=None, callbacks=(),
                 run_name: str | None = None, resume_run=None, init_checkpoint=None,
                 parent_run=None, corpus: Corpus | None = None):
        self.config = config
        self.corpus_folder = os.path.abspath(os.path.expanduser(corpus_folder))  # resumable from anywhere
        self._moved_from: tuple[str, dict | None] | None = None  # (old corpus path, its report)
        self.runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
        self.callbacks = list(callbacks)
        self.run_name = run_name or default_run_name(self.corpus_folder, config.learning_rate)
        self.resume_run = Path(resume_run) if resume_run else None
        self.init_checkpoint = Path(init_checkpoint) if init_checkpoint else None
        self.parent_run = str(parent_run) if parent_run else ""
        self.corpus = corpus
        self.state = TrainingState()
        self.run_dir: Path | None = None
        self.group = process_group_from_environment(config.device)  # torchrun's processes, or one
        self.device = self.group.resolve_device()
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._stop_status = ("stopped", "stopped by request")
        self._agreed_stop = 0  # under torchrun: the stop code all ranks agreed on at the last flush
        self._pending: list = []  # steps whose device-side values have not been read yet
        self._best_snapshot: dict | None = None  # best weights not yet written to best.safetensors
        self._snapshot_buffers = SnapshotBuffers()
        self.corpus_change = ""  # a warning line when a resumed run's corpus moved and differs

    @classmethod
    def resume(cls, run_dir, *, epochs: int | None = None, callbacks=(), device: str | None = None,
               corpus=None) -> "Trainer":
        """A trainer that continues `run_dir` (config and corpus from the run folder; `corpus`
        points the run at the folder its corpus moved to, and is stored as its corpus from now on)."""
        check_can_continue(run_dir)
        with open_run(run_dir) as run:
            corpus_path, report = run.corpus_path, run.corpus_report if corpus is not None else None
        config = load_run_config(Path(run_dir) / "config.toml")
        if epochs is not None:
            config.epochs = int(epochs)
        if device is not None:
            config.device = device
        trainer = cls(config, corpus if corpus is not None else corpus_path, runs_dir=Path(run_dir).parent,
                      callbacks=callbacks, resume_run=run_dir)
        trainer._moved_from = (corpus_path, report) if corpus is not None else None
        return trainer

    # -- setup -------------------------------------------------------------------------------------
    def _setup(self) -> None:
        cfg = self.config
        owns_corpus = self.corpus is None  # then its raw arrays are normalised in place (memory)
        if owns_corpus:
            self.corpus = load_corpus(self.corpus_folder, cfg, progress=self._stop_if_asked)
        corpus = self.corpus
        self.group.join(self.device)
        torch.manual_seed(cfg.seed)
        self.representation = Representation.from_config(cfg)
        self.representation.fit(corpus.train_raw)
        rep = self.representation
        n_freq, n_frames = corpus.train_raw.shape[2], corpus.train_raw.shape[3]
        self.model = SpectrogramVAE(n_freq, n_frames, cfg.latent_dim, cfg.dropout).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.learning_rate,
                                           weight_decay=cfg.weight_decay, fused=self.device.type != "mps")
        self.stft_loss = create_stft_loss(cfg.loss, self.device)
        self.distance = MultiResolutionSTFTLoss(*DISTANCE_RESOLUTIONS).to(self.device)
        self.detector = DivergenceDetector(cfg.divergence_patience)
        self.spikes = SpikeDetector(cfg.divergence_spike_factor, cfg.divergence_spike_window)

        checkpoint = self._checkpoint_to_start_from()
        if checkpoint is not None:
            rep = self._restore(checkpoint)

        self.group.seed_noise(cfg.seed, self.state.step)
        self.train_model = self.group.wrap(self.model)  # DistributedDataParallel under torchrun
        self._forward_loss = build_forward_loss(self.train_model, compute_combined_loss, cfg, self.stft_loss,
                                                rep, self.device)
        normalise = rep.normalise_ if owns_corpus else rep.normalise  # in place: self.corpus.*_raw become these
        self.train_rep = normalise(corpus.train_raw).to(self.device)
        self.train_audio = corpus.train_audio.to(self.device)
        self.val_rep = normalise(corpus.val_raw).to(self.device)
        self.val_audio = corpus.val_audio.to(self.device)
        world = self.group.world_size
        self.batch_size = min(cfg.batch_size, len(self.train_rep) // world)  # per process
        if self.batch_size < 1:
            raise CorpusError(f"{self.corpus_folder} has {len(self.train_rep)} training chunks, fewer than "
                              f"the {world} processes: add sounds or start fewer processes")
        self.steps_per_epoch = len(self.train_rep) // (self.batch_size * world)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.log_interval = 1 if self.device.type == "cpu" else cfg.log_interval_steps
        self.total_steps, self.resume_note = continue_with_world_size(self.state, world, self.steps_per_epoch,
                                                                      cfg.epochs, self.total_steps)
        self._stop_if_asked()  # the last moment at which a stop leaves no run behind
        self.devices = self.group.devices(self.device)  # a collective: every rank takes part
        self.writer = None
        if self.group.is_writer:
            self._open_run_folder()
        self.run_dir = Path(self.group.broadcast_text(str(self.run_dir)))
        self.checkpoints = CheckpointManager(self.run_dir / "checkpoints", cfg.checkpoints_kept)
        self.previews = PreviewSession(  # rank 0 alone renders and writes previews
            self.run_dir, interval_s=cfg.preview_interval_s if self.group.is_writer else 0.0, seed=cfg.seed,
            model=self.model, representation=rep, train=(self.train_rep, self.train_audio),
            val=(self.val_rep, self.val_audio),
            clip_candidates=(corpus.val_files or corpus.train_files, {u.path: u.n_chunks for u in corpus.report.used}),
            sample_rate=corpus.sample_rate, writer=self.writer, emit=self._emit)
        self.subscribers = list(self.callbacks)  # their states go into checkpoints, by position
        if self.writer is not None:
            self.callbacks.insert(0, RunRecorder(self.writer))

    def _open_run_folder(self) -> None:
        """Create or reopen the run folder (rank 0 alone under torchrun)."""
        cfg, corpus = self.config, self.corpus
        if self.resume_run is not None:
            self.writer = RunWriter.reopen(self.resume_run)
            self.writer.set_meta("total_epochs", cfg.epochs)
            if self._moved_from is not None:
                self.corpus_change = describe_corpus_change(*self._moved_from, corpus.report)
                self.writer.set_meta("corpus_path", self.corpus_folder)
                self.writer.write_json("corpus_report.json", corpus.report.to_dict())
        else:
            self.writer = create_run(self.runs_dir, self.run_name, self.corpus_folder, cfg.epochs,
                                     parent_run=self.parent_run or None)
            self.writer.write_json("corpus_report.json", corpus.report.to_dict())
        self.run_dir = Path(self.writer.run_dir)
        self.writer.set_meta("world_size", self.group.world_size)
        self.writer.set_meta("devices", self.devices)
        save_config(cfg, self.run_dir / "config.toml")

    # -- events ------------------------------------------------------------------------------------
    def _emit(self, hook: str, event) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, event)

    # -- the run -----------------------------------------------------------------------------------
    def run(self) -> ev.RunFinished:
        """Train to the configured number of epochs (or until stopped); returns the outcome."""
        try:
            self._setup()
        except StoppedBeforeStart:
            event = ev.RunFinished(self._stop_status[0], "stopped while the corpus was loading; no run was created",
                                   "", 0, 0, math.nan, "", 0.0)
            self._emit("on_run_finished", event)
            return event
        self._t0 = time.perf_counter()
        self._elapsed_before = self.state.elapsed_seconds
        self._session_start_epoch = self.state.epoch
        self._last_checkpoint = time.monotonic()
        self._emit("on_run_started", ev.RunStarted(
            run_dir=str(self.run_dir), run_id=self.run_dir.name, config_summary=render_config_summary(self.config),
            corpus_summary=self.corpus_change + self.corpus.report.render(), device=str(self.device),
            parameter_count=self.model.parameter_count(), total_epochs=self.config.epochs,
            total_steps=self.total_steps, steps_per_epoch=self.steps_per_epoch, batch_size=self.batch_size,
            start_epoch=self.state.epoch, start_step=self.state.step, parent_run=self.parent_run,
            loss_config=config_to_dict(self.config.loss), term_weights=term_weights(self.config.loss),
            world_size=self.group.world_size, resume_note=self.resume_note))
        try:
            status, reason = self._train_epochs()
        except BaseException as exc:
            if self.group.is_peer_failure(exc):  # another rank died or hung: resume from the last checkpoint
                status, reason = "interrupted", f"another process of this run stopped: {type(exc).__name__}: {exc}"
            elif isinstance(exc, (OSError, RunStoreError)):  # a checkpoint or store write failed (disk full...)
                status, reason = "failed", write_failure_reason(exc)
            else:
                self._finish("failed", f"{type(exc).__name__}: {exc}")
                self._leave_group()
                raise
        try:
            return self._finish(status, reason)
        finally:
            self._leave_group()

    def _leave_group(self) -> None:
        """Drop the DistributedDataParallel wrapper (its reducer holds the group), then leave the
        group, so nothing of it is freed in the interpreter's teardown (a rank aborted there)."""
        self.train_model = self.model
        self._forward_loss = None
        self.group.close()

    def _finish(self, status: str, reason: str) -> ev.RunFinished:
        best = self.checkpoints.best()
        event = ev.RunFinished(status, reason, str(self.run_dir), self.state.epoch, self.state.step,
                               self.state.best_loss if math.isfinite(self.state.best_loss) else math.nan,
                               str(best) if best else "", self._elapsed())
        self._emit("on_run_finished", event)
        return event

    def _elapsed(self) -> float:
        return self._elapsed_before + time.perf_counter() - self._t0

    def _train_epochs(self) -> tuple[str, str]:
        cfg = self.config
        while self.state.epoch < cfg.epochs:
            epoch = self.state.epoch + 1
            order = torch.randperm(len(self.train_rep), generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch))
            order = order.to(self.device)
            self.model.train()
            epoch_rows = []
            while self.state.batch_in_epoch < self.steps_per_epoch:
                if not self._resume.is_set():
                    epoch_rows += self._flush_steps(epoch)
                    paused_at = time.perf_counter()
                    self._resume.wait()
                    self._t0 += time.perf_counter() - paused_at  # a pause is not training time
                if self._stop_agreed():
                    epoch_rows += self._flush_steps(epoch)
                    return self._stop_with_checkpoint()
                index = order[self.group.batch_slice(self.state.batch_in_epoch, self.batch_size)]
                self._train_step(self.train_rep[index], self.train_audio[index], epoch)
                if len(self._pending) >= self.log_interval:
                    epoch_rows += self._flush_steps(epoch)
                if self.state.consecutive_non_finite >= MAX_CONSECUTIVE_NON_FINITE:
                    return self._fail_non_finite()
            epoch_rows += self._flush_steps(epoch)
            if self.state.consecutive_non_finite >= MAX_CONSECUTIVE_NON_FINITE:
                return self._fail_non_finite()
            self.state.epoch, self.state.batch_in_epoch = epoch, 0
            self._end_epoch(epoch, epoch_rows)
            if self._stop_agreed(epoch_end=True):
                return self._stop_with_checkpoint()
        self._save_checkpoint("end")
        if len(self.val_rep) and not math.isfinite(self.state.best_loss):
            return "failed", (f"trained {cfg.epochs} epochs, but every validation loss was non-finite "
                              f"(NaN or infinite), so no best checkpoint was kept; check the validation "
                              f"files in the corpus report")
        return "completed", f"trained {cfg.epochs} epochs"

    def _train_step(self, rep_batch, audio_batch, epoch: int) -> None:
        started = time.perf_counter()
        kl_weight = kl_weight_at(self.state.step, self.total_steps, self.config.loss.kl)
        losses = self._forward_loss(rep_batch, audio_batch, kl_weight)
        total = losses["total"]
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip_norm)
        # Under torchrun the all-reduced gradients' norm is the same on every rank: so is the skip.
        finite = torch.isfinite(grad_norm) if self.group.active else torch.isfinite(total) & torch.isfinite(grad_norm)
        self.optimizer.found_inf = (~finite).to(torch.float32)  # fused AdamW skips the update when 1
        self.optimizer.step()
        # one row per step, STEP_TERMS' values then the gradient norm and the finite flag
        values = torch.stack([*(losses[term].detach() for term in STEP_TERMS), grad_norm.detach(),
                              finite.float()])
        self.state.step += 1
        self.state.batch_in_epoch += 1
        self._pending.append((self.state.step, kl_weight, values, started))

    def _flush_steps(self, epoch: int) -> list:
        """Read the pending steps' values in one transfer and publish them; returns their rows."""
        if not self._pending:
            return []
        pending, self._pending = self._pending, []
        table, agreed = self.group.reduce_steps(torch.stack([p[2] for p in pending]), self._local_stop_code())
        self._take_agreed_stop(agreed)
        per_step = (time.perf_counter() - pending[0][3]) / len(pending)
        lr = self.optimizer.param_groups[0]["lr"]
        now = time.time()
        rows = []
        names = STEP_TERMS.values()
        for (step, kl_weight, _, _), row in zip(pending, table):
            *losses, grad_norm, finite = row
            if finite:
                self.state.consecutive_non_finite = 0
            else:
                self.state.consecutive_non_finite += 1
                self.state.skipped_steps += 1
                self._emit("on_non_finite", ev.NonFiniteStep(epoch, step, self.state.consecutive_non_finite,
                                                             self.state.skipped_steps))
            self._emit("on_step", ev.StepMetrics(
                **dict(zip(names, losses)), epoch=epoch, step=step, total_steps=self.total_steps,
                kl_weight=kl_weight, learning_rate=lr, step_time_s=per_step, grad_norm=grad_norm, wall_time=now))
            rows.append(row)
            spike = self.spikes.update_step(epoch, step, losses[list(STEP_TERMS).index("total")])
            if spike is not None:
                self._warn_divergence("spike", TRAIN_TERMS["total"], epoch, step, spike=spike)
        return rows

    def _end_epoch(self, epoch: int, rows: list) -> None:
        cfg = self.config
        finite_rows = [r for r in rows if r[-1] and all(math.isfinite(v) for v in r)]
        # rows hold STEP_TERMS' values first (see _train_step): their means are the training terms
        means = [sum(col) / len(finite_rows) for col in zip(*finite_rows)] if finite_rows else \
            [math.nan] * len(STEP_TERMS)
        train = {TRAIN_TERMS[term]: value for term, value in zip(STEP_TERMS, means) if term in TRAIN_TERMS}
        kl_weight = kl_weight_at(self.state.step, self.total_steps, cfg.loss.kl)
        val = self._validate(kl_weight)
        validation = {name: val.get(name, math.nan) for name in VAL_FIELDS}
        train_loss, val_loss = train[TRAIN_TERMS["total"]], validation[VAL_TERMS["total"]]
        elapsed = self._elapsed()
        self.state.elapsed_seconds = elapsed
        epochs_this_session = max(epoch - self._session_start_epoch, 1)
        eta = (elapsed - self._elapsed_before) / epochs_this_session * (cfg.epochs - epoch)
        quality = self.previews.at_epoch_end(epoch, self.state.step, last=epoch >= cfg.epochs or self._stop.is_set())
        event = ev.EpochMetrics(**{**train, **validation, **quality, **dict(
            epoch=epoch, total_epochs=cfg.epochs, step=self.state.step, overfitting_gap=val_loss - train_loss,
            learning_rate=self.optimizer.param_groups[0]["lr"], eta_seconds=eta, elapsed_seconds=elapsed,
            kl_weight=kl_weight, skipped_steps=len(rows) - len(finite_rows), wall_time=time.time())})
        self._emit("on_epoch", event)

        monitored, name = (val_loss, VAL_TERMS["total"]) if val else (train_loss, TRAIN_TERMS["total"])
        streak = self.detector.update(epoch, monitored)
        spike = self.spikes.update_epoch(epoch, self.state.step, monitored)
        kl_term = validation[VAL_TERMS["kl"]] if val else train[TRAIN_TERMS["kl"]]
        ranked = at_full_kl_weight(monitored, kl_term, kl_weight, cfg.loss.kl)
        if math.isfinite(ranked) and ranked < self.state.best_loss:
            self.state.best_loss, self.state.best_epoch, self.state.best_step = ranked, epoch, self.state.step
            self._best_snapshot = self._snapshot(event) if self.group.is_writer else None
        if time.monotonic() - self._last_checkpoint >= cfg.checkpoint_interval_s:
            self._save_checkpoint("interval")
        if spike is not None:
            self._warn_divergence("spike", name, epoch, self.state.step, spike=spike)
        elif streak is not None:
            self._warn_divergence("rising", name, epoch, self.state.step, streak=streak)

    def _warn_divergence(self, rule: str, monitored: str, epoch: int, step: int, streak=None, spike=None) -> None:
        self._emit("on_divergence", divergence_warning(rule, monitored, epoch, step, self.state, self.detector,
                                                       self.spikes, streak, spike))

    def _fail_non_finite(self) -> tuple[str, str]:
        """End the run as failed; the best checkpoint only ever holds a finite epoch's weights."""
        self.writer.flush(durable=True)
        self._write_pending_best()
        self._warn_divergence("non-finite", TRAIN_TERMS["total"], self.state.epoch + 1, self.state.step)
        return "failed", (f"{MAX_CONSECUTIVE_NON_FINITE} consecutive steps had a non-finite loss or gradient "
                          f"(last at step {self.state.step}); no update was made at those steps")
