"""Helpers shared by the tests: a real corpus folder, a tiny config and runs trained by the real
Trainer. A plain module (not a conftest) so any test file can `from support import ...`."""
import contextlib
import os

import pytest


def write_corpus(folder, n_files=6, seconds=1.0, sample_rate=8000, seed=0):
    """A real folder of decodable WAV files: decaying tones and noise bursts."""
    import numpy as np
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    for i in range(n_files):
        tone = np.sin(2 * np.pi * (110 * (i + 2)) * t) * np.exp(-3 * t)
        noise = 0.2 * rng.standard_normal(t.size) * np.exp(-6 * t)
        sf.write(folder / f"sound_{i:02d}.wav", (0.5 * tone + noise).astype(np.float32), sample_rate)
    return folder


def tiny_config(**overrides):
    """A config small enough that a few epochs train in about a second on a laptop CPU (audio
    previews off: tests of previews turn them on)."""
    from distill_engine import TrainingConfig
    from distill_engine.config.schema import RepresentationConfig

    config = TrainingConfig(epochs=3, batch_size=4, latent_dim=8, chunk_duration=0.5, device="cpu",
                            validation_fraction=0.3, checkpoint_interval_s=0.0, preview_interval_s=0.0,
                            representation=RepresentationConfig(sample_rate=8000, n_fft=256, hop_length=64))
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def train_tiny_runs(root, *runs):
    """Train one run per dict of `runs` (`run_name` plus tiny_config overrides) with the real Trainer.

    For module-scoped fixtures (no per-test isolated_dirs): the corpus is written to root/"corpus",
    the runs go to root/"runs" and the data and cache folders point under `root` while training.
    Returns the Trainer results in the order given.
    """
    from distill_engine.training.trainer import Trainer

    results = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DISTILL_DATA_DIR", str(root / "data"))
        mp.setenv("DISTILL_CACHE_DIR", str(root / "cache"))
        corpus = write_corpus(root / "corpus")
        for overrides in runs:
            overrides = dict(overrides)
            run_name = overrides.pop("run_name", None)
            results.append(Trainer(tiny_config(**overrides), corpus, runs_dir=root / "runs",
                                   run_name=run_name).run())
    return results


def torchrun_command(*args, processes=2, launcher="torch.distributed.run") -> list:
    """The torchrun command line running `args` (-m module ... or a script) on `processes` processes;
    launcher="distill_engine.launch" gives the same through `distill-torchrun`."""
    import sys

    return [sys.executable, "-m", launcher, "--standalone", f"--nproc-per-node={processes}", *args]


def one_thread_environment(**extra) -> dict:
    """os.environ for a torchrun launch on a small machine: one thread per process, and a process
    group timeout that a hung peer reaches within a test's patience."""
    import os

    return dict(os.environ, OMP_NUM_THREADS="1", DISTILL_DIST_TIMEOUT_S="60", PYTHONUNBUFFERED="1", **extra)


def worker_pid(launcher_pid: int, rank: int) -> int:
    """The pid of the worker process that torchrun `launcher_pid` started with RANK=rank (Linux)."""
    from pathlib import Path

    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent == launcher_pid and f"RANK={rank}".encode() in env:
            return int(entry.name)
    raise AssertionError(f"no rank {rank} worker under torchrun {launcher_pid}")


def snapshot(folder) -> dict:
    """Every file's bytes and mtime, to prove that reading changed nothing."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def log_demo_run(writer, steps=30, epochs=3) -> None:
    per_epoch = steps // epochs
    for step in range(steps):
        writer.log_step({"step": step, "epoch": step // per_epoch, "train_loss": 1.0 / (step + 1),
                         "kl_loss": 0.01 * step, "learning_rate": 1e-3})
    for epoch in range(epochs):
        writer.log_epoch({"epoch": epoch + 1, "step": (epoch + 1) * per_epoch,
                          "train_loss": 1.0 / (epoch + 1), "val_loss": [0.9, 0.5, 0.7][epoch]})


# -- round trip -------------------------------------------------------------------------------


# -- other users and read-only folders (the fault suite) ----------------------------------------
NOBODY = 65534


@contextlib.contextmanager
def as_another_user():
    """Run the block as a user who owns none of the test's files (root ignores permissions)."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@contextlib.contextmanager
def shared_temp_folder():
    """A temporary folder every user may traverse (pytest's tmp_path is private to its owner)."""
    import shutil
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="distill-faults-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            with contextlib.suppress(OSError):
                path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(folder, ignore_errors=True)


def finished_demo_run(runs_dir, name):
    """A completed run folder with log_demo_run's rows (written by the real RunWriter)."""
    from distill_engine.runs.writer import create_run

    writer = create_run(runs_dir, name, "/corpus", 3)
    log_demo_run(writer)
    writer.close("completed")
    return writer.run_dir


def write_preview_files(run_dir, epochs, clips=2, samples=2, seconds=0.5, sample_rate=8000, with_rows=True):
    """Preview files and `previews` rows in a run folder, in the layout of /work/notes/previews-api.md
    (previews/originals/clip-CC.flac, previews/epoch-EEEEE/{recon-CC,sample-SS}.flac): originals are
    decaying tones (written on the first call only), reconstructions the same tones with noise that
    shrinks as epochs go on, samples noise bursts. Returns {(epoch, kind, clip): path}; originals
    have epoch 0."""
    import sqlite3
    from pathlib import Path

    import numpy as np
    import soundfile as sf

    run_dir = Path(run_dir)
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    written, rows = {}, []

    def put(epoch, kind, clip, relative, audio, distance):
        path = run_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, audio.astype(np.float32), sample_rate, subtype="PCM_24")
        written[(epoch, kind, clip)] = path
        rms = float(np.sqrt(np.mean(audio ** 2)))
        rows.append((epoch, epoch * 10 if epoch else 0, kind, clip, relative, distance, rms))

    tones = [0.5 * np.sin(2 * np.pi * 220 * (c + 1) * t) * np.exp(-4 * t) for c in range(clips)]
    for c, tone in enumerate(tones):
        if not (run_dir / f"previews/originals/clip-{c:02d}.flac").exists():   # written once per run
            put(0, "original", c, f"previews/originals/clip-{c:02d}.flac", tone, None)
    for epoch in epochs:
        for c, tone in enumerate(tones):
            noise = rng.standard_normal(t.size) * 0.2 / epoch
            put(epoch, "reconstruction", c, f"previews/epoch-{epoch:05d}/recon-{c:02d}.flac",
                np.clip(tone + noise, -1, 1), 1.0 / epoch)
        for s in range(samples):
            burst = 0.3 * rng.standard_normal(t.size) * np.exp(-8 * t)
            put(epoch, "sample", s, f"previews/epoch-{epoch:05d}/sample-{s:02d}.flac", burst, 2.0 + s)
    if with_rows:
        conn = sqlite3.connect(run_dir / "run.sqlite")
        with conn:
            conn.execute("CREATE TABLE IF NOT EXISTS previews (epoch INTEGER, step INTEGER, kind TEXT, "
                         "clip INTEGER, file TEXT, distance REAL, rms REAL)")
            conn.executemany("INSERT INTO previews (epoch, step, kind, clip, file, distance, rms) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        conn.close()
    return written


def make_preview_run(runs_dir, epochs, name="drums", **kwargs):
    """A finished run folder (RunWriter) with previews for `epochs` (write_preview_files)."""
    from distill_engine.runs.writer import create_run

    with create_run(runs_dir, name, "/corpus", total_epochs=max(epochs, default=1)) as writer:
        for epoch in epochs:
            writer.log_epoch({"epoch": epoch, "step": epoch * 10, "train_loss": 1.0 / epoch})
        run_dir = writer.run_dir
    return run_dir, write_preview_files(run_dir, epochs, **kwargs)
