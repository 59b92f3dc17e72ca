"""How long a checkpoint save on the training thread stops the other threads (the window's).

A thread saves checkpoints the size of the default model's (5.3 M parameters + AdamW's two moments,
64 MB) while the main thread wakes every 1 ms and records the gaps between its wake-ups: a gap is
time it could not run Python (the GIL was held). Compared: Distill's CheckpointManager (a streaming
safetensors writer: each tensor's memory handed to os.write, which releases the GIL) and
safetensors.torch.save (one bytes object of the whole file, built while the GIL is held) written
with the same atomic write. Prints save time and the main thread's longest gap for each.

    .venv/bin/python benchmarks/bench_checkpoint_stall.py [--saves 4]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from safetensors.torch import save as safetensors_save  # noqa: E402

from distill_engine.atomic_file import atomic_write  # noqa: E402
from distill_engine.checkpoints.format import CheckpointManager  # noqa: E402

PARAMETERS = 5_300_000


def state(parts: int = 10):
    model = {f"layer{i}.weight": torch.randn(PARAMETERS // parts) for i in range(parts)}
    optimizer = {"state": {i: {"step": torch.tensor(3.0), "exp_avg": torch.randn(PARAMETERS // parts),
                               "exp_avg_sq": torch.rand(PARAMETERS // parts)} for i in range(parts)},
                 "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": list(range(parts))}]}
    return model, optimizer


def measure(save, saves: int) -> tuple[list[float], float]:
    """(seconds per save, longest main-thread gap in seconds) while a thread runs `save` `saves` times."""
    durations, done = [], threading.Event()

    def worker():
        for i in range(saves):
            start = time.perf_counter()
            save(i)
            durations.append(time.perf_counter() - start)
        done.set()

    thread = threading.Thread(target=worker)
    longest, last = 0.0, time.perf_counter()
    thread.start()
    while not done.is_set():
        time.sleep(0.001)
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    thread.join()
    return durations, longest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=4)
    args = parser.parse_args()
    model, optimizer = state()
    folder = Path(tempfile.mkdtemp(prefix="distill-bench-ckpt-"))
    manager = CheckpointManager(folder / "distill", keep_last=2)

    def distill_save(i):
        manager.save(model_state=model, optimizer_state=optimizer, epoch=i, step=i, config={}, metrics={})

    def safetensors_bytes_save(i):
        tensors = {f"model/{k}": v for k, v in model.items()}
        tensors.update({f"optimizer/{p}/{k}": v for p, s in optimizer["state"].items() for k, v in s.items()})
        data = safetensors_save(tensors, metadata={"distill": "{}"})
        (folder / "bytes").mkdir(exist_ok=True)
        atomic_write(folder / "bytes" / f"{i}.safetensors", [data])

    results = {}
    for label, save in (("Distill streaming writer", distill_save),
                        ("safetensors.torch.save bytes", safetensors_bytes_save),
                        ("Distill streaming writer (again)", distill_save)):
        durations, gap = measure(save, args.saves)
        results[label] = gap
        print(f"{label:<34} save median {1e3 * statistics.median(durations):6.0f} ms   "
              f"main thread's longest gap {1e3 * gap:6.1f} ms", flush=True)
    size = next((folder / "distill").glob("*.safetensors")).stat().st_size
    print(f"checkpoint size {size / 2**20:.0f} MiB; longest gap, bytes / streaming: "
          f"{results['safetensors.torch.save bytes'] / results['Distill streaming writer']:.1f}x")


if __name__ == "__main__":
    main()
