"""`distill-render`: write samples and reconstructions from any checkpoint, from a terminal.

    distill-render CHECKPOINT OUTPUT_DIR [--samples N] [--seed S] [--input FILE ...] [--format flac|wav]

Exit codes (as distill-train): 0 everything written, 1 some inputs were skipped (each reason is
printed; the rest was written), 2 bad usage or a checkpoint it refuses (with the reason) or an
output folder it cannot write, 130 interrupted (Ctrl-C; the files written so far stay).
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from ..errors import DistillError

EXIT_OK, EXIT_SKIPPED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distill-render", description=(
        "Write samples, and reconstructions of audio files, from a Distill checkpoint."))
    parser.add_argument("checkpoint", type=Path, help="a .safetensors checkpoint from a run's checkpoints folder")
    parser.add_argument("output_dir", type=Path, help="folder for the audio files (created if missing)")
    parser.add_argument("--samples", type=int, default=4, metavar="N", help="number of samples (default 4)")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="seed of the samples' latent vectors (default 0; the same seed gives the same samples)")
    parser.add_argument("--input", type=Path, nargs="+", action="extend", default=[], metavar="FILE",
                        help="audio files to reconstruct (any format libsndfile reads; resampled to the model's rate)")
    parser.add_argument("--format", choices=("flac", "wav"), default="flac", help="output format (24-bit; default flac)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default cpu)")
    return parser


def main(argv=None, out=sys.stdout, err=sys.stderr) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.samples < 0:
        parser.error("--samples must be 0 or more")
    if args.samples == 0 and not args.input:
        parser.error("nothing to render: give --samples N (N > 0) or --input FILE")
    from .render import render_from_checkpoint  # torch loads here, after argument errors are reported

    interrupted = []

    def on_sigint(signum, frame):
        interrupted.append(True)
        print("\nStopping after this file...", file=err)

    show = err.isatty()

    def progress(done: int, total: int) -> bool:
        if show:
            print(f"\r{done}/{total} files", end="", file=err, flush=True)
        return not interrupted

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        result = render_from_checkpoint(args.checkpoint, args.output_dir, samples=args.samples, seed=args.seed,
                                        inputs=args.input, progress=progress, format=args.format,
                                        device=args.device)
    except DistillError as exc:
        print(f"{chr(10) if show else ''}distill-render: {exc}", file=err)
        return EXIT_USAGE
    finally:
        signal.signal(signal.SIGINT, previous)
    if show:
        print(file=err)
    for note in result.notes:
        print(f"note: {note}", file=err)
    for path in result.written:
        print(path, file=out)
    for path, reason in result.skipped:
        print(f"skipped {path}: {reason}", file=err)
    if result.cancelled:
        return EXIT_INTERRUPTED
    return EXIT_SKIPPED if result.skipped else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
