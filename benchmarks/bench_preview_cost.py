"""What audio previews cost a training run at the default preview interval (target <= 3 %).

Trains the default config on a corpus folder (default: the bundled demo corpus) for --seconds of
wall time per round, alternating rounds with previews at the default interval and with previews
off (preview_interval_s = 0), in one process. Prints per round:
  - the time spent rendering, measuring and writing previews, as a fraction of the rest of the
    round's training time (the direct cost; it does not depend on other load on the machine);
  - clip-seconds trained per second with previews on / off (the whole-run ratio; noisy on a shared
    machine, so read the median over rounds).
Run: .venv/bin/python benchmarks/bench_preview_cost.py [CORPUS] [--seconds 120] [--rounds 2]
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

from distill_engine import TrainingConfig, load_corpus
from distill_engine.previews import session as preview_session
from distill_engine.training.events import Callback
from distill_engine.training.trainer import Trainer

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo_corpus"


class StopAfter(Callback):
    """Stops the run at the first epoch end after `seconds` of training; counts trained chunks."""

    def __init__(self, seconds: float):
        self.seconds, self.start, self.chunks = seconds, None, 0

    def on_run_started(self, trainer, event):
        self.start = time.perf_counter()

    def on_step(self, trainer, event):
        self.chunks += trainer.batch_size

    def on_epoch(self, trainer, event):
        if time.perf_counter() - self.start >= self.seconds:
            trainer.request_stop()


def one_round(corpus_folder, corpus, seconds: float, previews: bool, runs_dir: Path) -> dict:
    spent = []
    real = preview_session.PreviewSession.at_epoch_end

    def timed(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return real(self, *args, **kwargs)
        finally:
            if self.enabled and spent is not None:
                spent.append(time.perf_counter() - started)

    preview_session.PreviewSession.at_epoch_end = timed
    try:
        config = TrainingConfig(epochs=100_000, device="cpu")
        if not previews:
            config.preview_interval_s = 0.0
        stopper = StopAfter(seconds)
        Trainer(config, corpus_folder, runs_dir=runs_dir, callbacks=[stopper], corpus=corpus).run()
        wall = time.perf_counter() - stopper.start
    finally:
        preview_session.PreviewSession.at_epoch_end = real
    rendered = [s for s in spent if s > 1e-3]  # epoch ends that rendered (the others only check the clock)
    clip_seconds = stopper.chunks * config.chunk_duration
    return {"wall": wall, "preview_s": sum(spent), "renders": len(rendered),
            "per_render": statistics.mean(rendered) if rendered else 0.0, "rate": clip_seconds / wall}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEMO)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    corpus = load_corpus(args.corpus, TrainingConfig())
    print(f"corpus {args.corpus}: {len(corpus.train_audio)} training chunks, {len(corpus.val_audio)} validation")
    direct, ratios = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            on = one_round(args.corpus, corpus, args.seconds, True, Path(tmp) / f"on-{i}")
            off = one_round(args.corpus, corpus, args.seconds, False, Path(tmp) / f"off-{i}")
            cost = on["preview_s"] / (on["wall"] - on["preview_s"])
            direct.append(cost)
            ratios.append(on["rate"] / off["rate"])
            print(f"round {i + 1}: {on['renders']} previews of {on['per_render']:.2f} s in {on['wall']:.0f} s "
                  f"-> preview time / training time {100 * cost:.2f} %; clip-s/s on {on['rate']:.1f} "
                  f"off {off['rate']:.1f}, on/off {ratios[-1]:.3f}")
    print(f"median over {args.rounds} rounds: preview cost {100 * statistics.median(direct):.2f} % of training "
          f"time (target <= 3 %); throughput on/off {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
