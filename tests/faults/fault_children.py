"""What the fault tests run in a child process: training that kills itself at a chosen moment, the
terminal command under a file-size limit, a decode under an address-space limit.

Children are forked from one multiprocessing forkserver that imported torch once (`run_child`),
so each kill costs the training, not another 3-5 s torch import. Everything a child needs comes
as arguments (the forkserver's environment is the one it started with)."""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from pathlib import Path

_CONTEXT = None


def run_child(target, *args, timeout: float = 240.0) -> int:
    """Run target(*args) in a fresh child process; return its exit code (-9 when it was killed)."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["fault_children", "distill_engine.training.trainer",
                                         "distill_engine.cli"])
    process = _CONTEXT.Process(target=target, args=args)
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
        raise AssertionError(f"{target.__name__}{args} did not end in {timeout} s")
    return process.exitcode


def _environment(cache_dir: str) -> None:
    os.environ["DISTILL_CACHE_DIR"] = cache_dir
    tests = str(Path(__file__).resolve().parents[1])
    if tests not in sys.path:
        sys.path.insert(0, tests)


def train_and_kill(corpus: str, runs_dir: str, cache_dir: str, resume_run: str, epochs: int,
                   kill_at_checkpoint: int) -> None:
    """Train (a new tiny run, or resume `resume_run`) and SIGKILL this process the moment its
    `kill_at_checkpoint`-th checkpoint of this session is on disk (0: train to the end)."""
    _environment(cache_dir)
    from support import tiny_config
    from distill_engine.training.events import Callback
    from distill_engine.training.trainer import Trainer

    class KillAtCheckpoint(Callback):
        seen = 0

        def on_checkpoint(self, trainer, event):
            if not event.is_best:
                KillAtCheckpoint.seen += 1
                if KillAtCheckpoint.seen == kill_at_checkpoint:
                    os.kill(os.getpid(), signal.SIGKILL)

    callbacks = [KillAtCheckpoint()]
    if resume_run:
        trainer = Trainer.resume(resume_run, epochs=epochs, callbacks=callbacks)
    else:
        trainer = Trainer(tiny_config(epochs=epochs, checkpoint_interval_s=0.0), corpus,
                          runs_dir=runs_dir, callbacks=callbacks, run_name="kill")
    trainer.run()


def terminal(cache_dir: str, argv: list, file_size_limit: int = 0, sigterm_at_epoch: int = 0) -> None:
    """`distill-train argv` in this process: optionally under RLIMIT_FSIZE (a write past it fails
    with EFBIG, as a full disk fails with ENOSPC), or sending itself SIGTERM when an epoch ends."""
    _environment(cache_dir)
    from distill_engine import cli

    if file_size_limit:
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write returns EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
    if sigterm_at_epoch:
        print_epoch = cli.TerminalReporter.on_epoch

        def on_epoch(self, trainer, event):
            print_epoch(self, trainer, event)
            if event.epoch == sigterm_at_epoch:
                os.kill(os.getpid(), signal.SIGTERM)  # what `kill PID` or a scheduler sends
        cli.TerminalReporter.on_epoch = on_epoch
    sys.stdout.flush()
    sys.exit(cli.main([str(a) for a in argv]))
