"""Actions on stored runs and checkpoints the run browser offers: rename, delete, export, compare,
and the Trainer that resumes from a chosen checkpoint.

These are the only functions that change a run folder after its writer has finished (reader
never writes). Each refuses what would damage a run: renaming a run whose database cannot be read,
deleting a run whose writer is alive, deleting or exporting something that is not a checkpoint.

Metrics CSV export (`export_metrics_csv(run_dir, path)`) writes two files:
  <path>               one row per step: step, epoch, wall_time, then every StepMetrics metric (the
                       schema's order; empty where the run did not store it), then any other column
  <stem>-epochs<ext>   one row per epoch: epoch, step, wall_time, then the EpochMetrics metrics, the
                       same way
A missing value (NULL in the database, NaN) is an empty cell; numbers are written with repr().
"""
from __future__ import annotations

import csv
import math
import os
import shutil
import sqlite3
from pathlib import Path

from ..checkpoints.format import CheckpointManager, read_checkpoint_info
from ..config.schema import flatten_config
from ..errors import CheckpointError, RunStoreError
from .reader import open_run
from .schema import CHECKPOINTS_DIR, DB_NAME, KNOWN_METRICS, TABLES, writer_alive

_RESUME_MODES = ("continue", "new")


# -- runs --------------------------------------------------------------------------------------
def rename_run(run_dir, new_name: str) -> None:
    """Set the run's display name (meta.name) in one short write transaction.

    The folder keeps its name (other runs may link to it). A live run may be renamed (WAL lets the
    writer go on); an unreadable run is refused with RunStoreError and left untouched.
    """
    run_dir = Path(run_dir)
    name = str(new_name).strip()
    if not name:
        raise ValueError("a run name cannot be empty")
    with open_run(run_dir) as run:   # RunStoreError for a folder that is not a readable run
        run.summary()
    try:
        conn = sqlite3.connect(run_dir / DB_NAME, timeout=10.0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('name', ?)", (name,))
            conn.execute("COMMIT")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise RunStoreError(f"cannot rename the run {run_dir}: {exc}; try again when it is not "
                            f"busy, or check that the folder is writable") from exc


def delete_run(run_dir) -> None:
    """Remove a run folder; RunStoreError if it is not a run folder or its writer is alive.

    A run with a damaged database may be deleted (it is recognised by its run.sqlite file).
    """
    run_dir = Path(run_dir)
    if not (run_dir / DB_NAME).is_file():
        raise RunStoreError(f"{run_dir} is not a Distill run folder (it has no {DB_NAME}); "
                            f"nothing was deleted")
    try:
        with open_run(run_dir) as run:
            running = run.status == "running"
    except RunStoreError:
        running = writer_alive(run_dir, None, None)   # lock probe on this host
    if running:
        raise RunStoreError(f"the run {run_dir.name} is still being trained; stop it first, then "
                            f"delete it")
    try:
        shutil.rmtree(run_dir)
    except OSError as exc:
        raise RunStoreError(f"cannot delete {run_dir}: {exc}") from exc


# -- checkpoints -------------------------------------------------------------------------------
def delete_checkpoint(path) -> None:
    """Delete one checkpoint file (damaged ones too); CheckpointError for anything else."""
    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        raise CheckpointError(f"{path} is not a checkpoint file (*.safetensors); nothing was "
                              f"deleted")
    try:
        path.unlink()
    except OSError as exc:
        raise CheckpointError(f"cannot delete {path}: {exc}") from exc


def export_checkpoint(path, folder) -> Path:
    """Copy a readable checkpoint into `folder` and return the new file's path.

    The copy is named `<run folder>-<file name>` when the file sits in a run's checkpoints folder;
    an existing file is never overwritten: " (2)", " (3)"... are appended instead.
    """
    path, folder = Path(path), Path(folder)
    read_checkpoint_info(path)   # CheckpointError: truncated, unknown schema, not a checkpoint
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is not a folder; choose an existing folder to export to")
    stem = path.stem
    if path.parent.name == CHECKPOINTS_DIR:
        stem = f"{path.parent.parent.name}-{stem}"
    for n in range(1, 10_000):
        target = folder / (f"{stem}{path.suffix}" if n == 1 else f"{stem} ({n}){path.suffix}")
        try:
            out = open(target, "xb")   # exclusive create: never overwrites
        except FileExistsError:
            continue
        except OSError as exc:
            raise CheckpointError(f"cannot write into {folder}: {exc}") from exc
        try:
            with out, open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        shutil.copystat(path, target)
        return target
    raise CheckpointError(f"{folder} already holds too many copies of {path.name}")


def latest_checkpoint(run_dir) -> Path | None:
    """The checkpoint `Trainer.resume` continues from: the newest numbered one, else best."""
    manager = CheckpointManager(Path(run_dir) / CHECKPOINTS_DIR, keep_last=1)
    return manager.latest() or manager.best()


def resume_trainer(run_dir, checkpoint_path, mode: str, *, epochs: int | None = None,
                   callbacks=(), device: str | None = None, corpus=None, runs_dir=None):
    """A Trainer that goes on from a checkpoint of `run_dir` (call `.run()` on a worker thread):
    the one resume path of the terminal and the window's Runs tab.

    `corpus`: the folder the run's corpus moved to (None: the stored one). `runs_dir`: where a
    "new" run goes (default: beside `run_dir`).

    mode "continue": the same run goes on from its latest checkpoint (Trainer.resume); a checkpoint
    that is not the latest is refused with CheckpointError (continue it as a "new" run instead).
    mode "new": a new run, linked to `run_dir` (parent_run), starts from the checkpoint's weights
    and optimizer state with the checkpoint's config. `epochs` is the total epoch count to reach.
    """
    from ..config.schema import config_from_dict
    from ..training.trainer import Trainer

    if mode not in _RESUME_MODES:
        raise ValueError(f"resume mode must be one of {_RESUME_MODES}, not {mode!r}")
    run_dir, checkpoint_path = Path(run_dir), Path(checkpoint_path)
    info = read_checkpoint_info(checkpoint_path)
    if mode == "continue":
        latest = latest_checkpoint(run_dir)
        if latest is None or read_checkpoint_info(latest).step != info.step:
            raise CheckpointError(f"{checkpoint_path.name} is not the latest checkpoint of "
                                  f"{run_dir.name}; start a new linked run from it instead")
        return Trainer.resume(run_dir, epochs=epochs, callbacks=callbacks, device=device, corpus=corpus)
    with open_run(run_dir) as run:
        corpus, name = corpus or run.corpus_path, run.name
        fallback = run.config
    config = config_from_dict(info.config, source=str(checkpoint_path)) if info.config else fallback
    if config is None:
        raise CheckpointError(f"{checkpoint_path} holds no config and {run_dir} has no "
                              f"config.toml; cannot start a run from it")
    if epochs is not None:
        config.epochs = int(epochs)
    if device is not None:
        config.device = device
    return Trainer(config, corpus, runs_dir=runs_dir or run_dir.parent, callbacks=callbacks,
                   run_name=f"{name} from epoch {info.epoch}", init_checkpoint=checkpoint_path,
                   parent_run=run_dir)


# -- export and compare ------------------------------------------------------------------------
def export_metrics_csv(run_dir, path) -> list[Path]:
    """Write the step CSV at `path` and the epoch CSV beside it (see the module docstring)."""
    path = Path(path)
    epoch_path = path.with_name(f"{path.stem}-epochs{path.suffix or '.csv'}")
    with open_run(run_dir) as run:
        for per, target in (("step", path), ("epoch", epoch_path)):
            _, key, base = TABLES[per]
            known = KNOWN_METRICS[per]   # the schema's metrics, in its order, then any other column
            names = [*base, *known, *(n for n in run.metric_names(per) if n not in known)]
            keys, _ = run.metric(names[1], per=per)
            columns = [keys] + [run.metric(name, per=per)[1] for name in names[1:]]
            _write_csv(target, names, columns)
    return [path, epoch_path]


def _write_csv(path: Path, header: list, columns: list) -> None:
    def cell(value):
        value = float(value)
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 2 ** 53 else repr(value)

    keys = columns[0]
    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            rows = zip(keys.tolist(), *(map(cell, c.tolist()) for c in columns[1:]))
            writer.writerows(rows)
    except OSError as exc:
        raise RunStoreError(f"cannot write {path}: {exc}; choose a writable location") from exc


def config_diff(config_a, config_b) -> list[tuple[str, object, object]]:
    """(dotted path, value in A, value in B) for each field that differs, in A's field order.

    Configs are TrainingConfig objects or dicts as config_to_dict / a checkpoint stores them
    (None: no config). A field absent from one side reads None there (TOML has no None).
    """
    flat_a, flat_b = flatten_config(_as_dict(config_a)), flatten_config(_as_dict(config_b))
    paths = list(flat_a) + [p for p in flat_b if p not in flat_a]
    return [(p, flat_a.get(p), flat_b.get(p)) for p in paths
            if not _same(flat_a.get(p), flat_b.get(p))]


def _as_dict(config) -> dict:
    if config is None:
        return {}
    if isinstance(config, dict):
        return config
    from ..config.schema import config_to_dict

    return config_to_dict(config)




def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


__all__ = ["config_diff", "delete_checkpoint", "delete_run", "export_checkpoint",
           "export_metrics_csv", "latest_checkpoint", "rename_run", "resume_trainer"]
