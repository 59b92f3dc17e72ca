"""`distill-train`: train on a folder of sounds from a terminal, or continue a run.

Exit codes: 0 completed, 1 failed or diverged-stopped, 2 bad usage / invalid config / unusable
corpus or checkpoint, 130 interrupted (Ctrl-C), 143 stopped by SIGTERM (in both cases a checkpoint is
written first and the run's status is "stopped").
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Callable

from .config.presets import PRESETS, find_preset, load_preset
from .config.schema import TrainingConfig, load_config
from .config.validation import ConfigError, validate
from .errors import CorpusError, DistillError
from .training.distributed import end_worker
from .training.events import Callback
from .training.reporting import fmt_loss, format_divergence, format_duration, format_epoch_line

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class TerminalReporter(Callback):
    """Prints the run to a terminal: summary, a progress bar, one line per epoch, warnings."""

    def __init__(self, out=sys.stdout, progress: bool | None = None):
        self.out = out
        self.progress = out.isatty() if progress is None else progress
        self._bar_shown = False

    def _print(self, text: str = "") -> None:
        if self._bar_shown:
            self.out.write("\r\033[K")
            self._bar_shown = False
        print(text, file=self.out, flush=True)

    def on_run_started(self, trainer, e):
        verb = "Resuming" if e.start_step else "Starting"
        where = e.device if e.world_size == 1 else f"{e.world_size} processes ({e.device} on rank 0)"
        batch = f"batch {e.batch_size}" if e.world_size == 1 else \
            f"batch {e.batch_size} per process, {e.batch_size * e.world_size} in all"
        self._print(f"{verb} run {e.run_id} on {where} ({e.parameter_count:,} parameters, "
                    f"{e.steps_per_epoch} steps of {batch} per epoch)")
        if e.resume_note:
            self._print(f"Note: {e.resume_note}")
        self._print(e.config_summary)
        self._print(e.corpus_summary)

    def on_step(self, trainer, e):
        if not self.progress:
            return
        width = 30
        in_epoch = (e.step - 1) % max(trainer.steps_per_epoch, 1) + 1
        filled = int(width * in_epoch / max(trainer.steps_per_epoch, 1))
        self.out.write(f"\repoch {e.epoch} [{'#' * filled}{'.' * (width - filled)}] step {e.step}/{e.total_steps} "
                       f"loss {e.train_loss:.4f} ({1 / max(e.step_time_s, 1e-9):.1f} steps/s)")
        self.out.flush()
        self._bar_shown = True

    def on_epoch(self, trainer, e):
        self._print(format_epoch_line(e))

    def on_divergence(self, trainer, e):
        bar = "!" * 78
        self._print(f"{bar}\n!! DIVERGENCE WARNING: {format_divergence(e)}\n"
                    f"!! Consider stopping (Ctrl-C keeps a checkpoint) and lowering the learning rate.\n{bar}")

    def on_non_finite(self, trainer, e):
        self._print(f"warning: step {e.step} had a non-finite loss or gradient and was skipped "
                    f"({e.consecutive} in a row, {e.total_skipped} in total)")

    def on_run_finished(self, trainer, e):
        self._print(f"\nRun {e.status}: {e.reason}\n  epochs done   {e.epochs_done}\n  steps         {e.step}\n"
                    f"  best loss     {fmt_loss(e.best_loss)}\n  elapsed       {format_duration(e.elapsed_seconds)}\n"
                    f"  best weights  {e.best_checkpoint or 'none'}\n  run folder    {e.run_dir}")


class StopOnDivergence(Callback):
    def on_divergence(self, trainer, e):
        trainer.request_stop("diverged-stopped", format_divergence(e))   # the rule that fired, not always the streak


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distill-train", description="Train a Distill model on a folder of sounds.")
    parser.add_argument("corpus", nargs="?", help="folder of audio files (not needed with --resume)")
    parser.add_argument("--config", type=Path, help="TOML config file (defaults for missing fields), or a "
                        f"built-in preset: {', '.join(p.name for p in PRESETS)}")
    parser.add_argument("--epochs", type=int, help="number of epochs (overrides the config)")
    parser.add_argument("--name", help='the run\'s name in the runs list (default: "<corpus> · lr <rate> · '
                                       '<HH:MM>")')
    parser.add_argument("--runs-dir", type=Path, help="where run folders go (default: $DISTILL_DATA_DIR/runs "
                                                        "or the per-user data directory)")
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (overrides the config)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue this run from its latest checkpoint")
    parser.add_argument("--corpus", dest="corpus_moved_to", metavar="NEW_PATH",
                        help="with --resume: the folder the run's corpus moved to (stored for the run)")
    parser.add_argument("--stop-on-divergence", action="store_true", help="stop (status diverged-stopped) "
                                                                           "when a divergence warning fires")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model and loss (the first "
                                                                "steps compile; for GPU machines)")
    parser.add_argument("--bf16", action="store_true", help="run the model in bfloat16 autocast (CUDA; the "
                                                             "loss stays float32)")
    return parser


def _load_config_or_preset(path: Path) -> TrainingConfig:
    """A TOML file, or a built-in preset's name when no such file exists."""
    if not path.exists() and find_preset(str(path)) is not None:
        return load_preset(str(path))
    return load_config(path)


def _config_from_args(args, parser) -> TrainingConfig:
    config = _load_config_or_preset(args.config) if args.config else TrainingConfig()
    if args.epochs is not None:
        config.epochs = args.epochs
    if args.device is not None:
        config.device = args.device
    _speed_ups_from_args(config, args)
    problems = validate(config)
    if problems:
        raise ConfigError(problems, source="command line")
    return config


def _speed_ups_from_args(config: TrainingConfig, args) -> None:
    """--compile / --bf16 switch the options on (a resumed run keeps those its config has)."""
    config.compile = config.compile or args.compile
    config.bf16_autocast = config.bf16_autocast or args.bf16


def install_stop_signals(trainer, received: list) -> "Callable[[], None]":
    """Ctrl-C (SIGINT) and SIGTERM (kill, systemd, cluster schedulers) ask the trainer to stop after
    the current step with a checkpoint; a second one aborts at once. Each signal received is
    appended to `received`. Returns the function that puts the previous handlers back."""
    def on_signal(signum, frame):
        if received:  # a second signal stops without waiting
            raise KeyboardInterrupt
        received.append(signum)
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        print(f"\nStopping after this step and writing a checkpoint ({name}; again to abort)...",
              file=sys.stderr)
        trainer.request_stop("stopped", f"stopped by {name}" if signum != signal.SIGINT
                             else "interrupted by Ctrl-C")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return restore


def main(argv=None) -> int:
    from .training.trainer import Trainer  # torch loads here, after argument errors are reported

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resume is None and args.corpus is None:
        parser.error("give a CORPUS folder, or --resume RUN_DIR to continue a run")
    if args.corpus_moved_to is not None and args.resume is None:
        parser.error("--corpus NEW_PATH goes with --resume RUN_DIR; to train a new run give the CORPUS folder")
    # Under torchrun rank 0 alone reports; every rank takes the decisions (they agree on them).
    quiet = os.environ.get("RANK", "0") != "0"
    callbacks = ([] if quiet else [TerminalReporter()]) + ([StopOnDivergence()] if args.stop_on_divergence else [])
    try:
        if args.resume is not None:
            if args.config is not None or args.corpus is not None or args.name is not None:
                parser.error("--resume takes the corpus and config from the run folder; give only "
                             "--epochs/--device (and --corpus NEW_PATH if the corpus folder moved); a run keeps its name "
                             "(rename it in the window's Runs tab)")
            trainer = Trainer.resume(args.resume, epochs=args.epochs, callbacks=callbacks, device=args.device,
                                     corpus=args.corpus_moved_to)
            _speed_ups_from_args(trainer.config, args)
            problems = validate(trainer.config)
            if problems:
                raise ConfigError(problems, source=str(args.resume / "config.toml"))
        else:
            if args.name is not None and not args.name.strip():
                parser.error("--name cannot be empty; leave it out for the default name")
            trainer = Trainer(_config_from_args(args, parser), args.corpus, runs_dir=args.runs_dir, callbacks=callbacks,
                              run_name=args.name.strip() if args.name else None)
    except DistillError as exc:
        print(f"distill-train: {exc}", file=sys.stderr)
        return EXIT_USAGE

    interrupted: list[int] = []
    restore_signals = install_stop_signals(trainer, interrupted)
    # A torchrun worker ends at once when its run is over (end_worker); alone, main returns the code.
    leave = end_worker if trainer.group.active else int
    try:
        result = trainer.run()
    except DistillError as exc:
        print(f"distill-train: {exc}", file=sys.stderr)
        if args.resume is not None and isinstance(exc, CorpusError) and "does not exist" in str(exc):
            print("distill-train: if the corpus folder moved, add --corpus NEW_PATH", file=sys.stderr)
        return leave(EXIT_USAGE)
    except KeyboardInterrupt:
        return leave(EXIT_INTERRUPTED)
    finally:
        restore_signals()
    if interrupted:
        code = EXIT_TERMINATED if interrupted[0] == signal.SIGTERM else EXIT_INTERRUPTED
    else:
        code = EXIT_OK if result.status == "completed" else EXIT_FAILED
    if trainer.group.active:  # under torchrun: one line per process on where it ended (the same step)
        print(f"distill-train rank {trainer.group.rank} of {trainer.group.world_size}: {result.status} at step "
              f"{result.step}, exit {code}", file=sys.stderr)
    return leave(code)


if __name__ == "__main__":
    sys.exit(main())
