"""`distill-torchrun`: PyTorch's torchrun with Distill's exit codes.

    distill-torchrun --standalone --nproc-per-node 2 -m distill_engine CORPUS [options]

It takes torchrun's own arguments unchanged and runs torch.distributed.run itself; the one
difference is how a signal ends it. torchrun's elastic agent turns Ctrl-C (SIGINT) or SIGTERM into
an exception after passing the signal to every process, so plain torchrun prints a traceback and
exits 1 even though every process stopped cleanly with one checkpoint and exited 130 or 143. This
launcher waits for the same shutdown and then exits like `distill-train` does: 130 for Ctrl-C, 143
for SIGTERM (128 + the signal's number), with one line saying so. When a process fails (a
diverged-stopped run exits 1, a killed process dies by its signal) it prints torchrun's summary of
the failed processes without the launcher's own Python traceback, and exits with the first failed
process's code (128 + the signal for a process killed by one). Usage errors are torchrun's own.
"""
from __future__ import annotations

import signal
import sys


def main(argv: list[str] | None = None) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun_main

    try:
        torchrun_main(argv)
    except SignalException as exc:
        number = int(exc.sigval)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        print(f"distill-torchrun: stopped by {name}; the processes were stopped and have exited "
              f"(exit {128 + number})", file=sys.stderr, flush=True)
        return 128 + number
    except ChildFailedError as exc:
        print(exc.format_msg(), file=sys.stderr, flush=True)
        return exit_code_of(exc)
    return 0


def exit_code_of(failed) -> int:
    """The exit code for a ChildFailedError: its first failure's (by rank), 128 + N for signal N."""
    code = failed.get_first_failure()[1].exitcode
    return 128 - code if code < 0 else (code or 1)


if __name__ == "__main__":
    sys.exit(main())
