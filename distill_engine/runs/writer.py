"""The run store: one self-contained folder per training run, readable while it is written.

    <runs_dir>/<YYYYmmdd-HHMMSS>-<slug>/
        config.toml          saved by the trainer (config.save_config) at RunWriter.config_path
        corpus_report.json   RunWriter.write_json
        run.sqlite           metrics, events and meta (schema in schema.py), WAL mode
        run.lock             flock'ed LOCK_EX by the writing process for the run's lifetime
        checkpoints/         written by distill_engine.checkpoints
        previews/            audio previews written by distill_engine.previews, one row each in
                             the previews table (RunWriter.log_previews)

`create_run` / `RunWriter.reopen` write; `open_run` / `list_runs` (reader.py) read. RunWriter's
log_* calls only append to an in-memory queue; a background thread commits them in batches (every
0.25 s, or sooner once 2000 rows are pending), one transaction per batch, so committed rows survive
a kill -9 of the training process and readers never block it. Each batch's step rows also go, in
the same transaction, into step_blocks (the columnar copy readers load fast; step_blocks.py).
"""
from __future__ import annotations

import atexit
import itertools
import json
import numbers
import os
import re
import sqlite3
import threading
import time
import unicodedata
import weakref
from collections import deque
from datetime import datetime
from pathlib import Path

from ..errors import RunStoreError
from .reader import Run, RunEvent, RunSummary, list_runs, open_run
from .continuing import check_can_continue, remove_stale_temp_files
from .commit_thread import _EPOCH, _EVENT, _FLUSH, _META, _PREVIEW, _STEP, BackgroundCommits
from .step_blocks import StepBlockWriter
from .wal_guard import WalGuard
from .schema import (
    CONFIG_NAME, DB_NAME, EPOCH_METRICS, LOCK_NAME, PREVIEW_KINDS, SCHEMA_SQL, SCHEMA_VERSION,
    STATUSES, STEP_METRICS, TABLES, check_status, is_metric_name, json_default, meta_text,
    prepare_to_continue, process_meta, release_lock, take_lock, upsert_meta, write_json_atomic,
)

__all__ = [
    "EPOCH_METRICS", "STATUSES", "STEP_METRICS", "Run", "RunEvent", "RunSummary", "RunWriter",
    "create_run", "default_runs_dir", "list_runs", "open_run",
]

COMMIT_ROWS = 2000
#: Past this many queued rows the logging call waits for the writer (bounds memory, not speed).
MAX_PENDING_ROWS = 200_000

_live_writers: "weakref.WeakSet[RunWriter]" = weakref.WeakSet()


def default_runs_dir() -> Path:
    """$DISTILL_DATA_DIR/runs if that variable is set, else the user data folder's runs/."""
    from ..user_dirs import data_dir

    return data_dir() / "runs"


def create_run(runs_dir, name: str, corpus_path: str, total_epochs: int,
               parent_run: str | None = None) -> "RunWriter":
    """Make a new run folder `<YYYYmmdd-HHMMSS>-<slug(name)>` under runs_dir; start writing it."""
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{slugify(name)}"
        for n in itertools.count(1):
            run_dir = runs_dir / (stem if n == 1 else f"{stem}-{n}")
            try:
                run_dir.mkdir()
                break
            except FileExistsError:
                continue
    except OSError as exc:
        raise RunStoreError(f"cannot create a run folder in {runs_dir}: {exc}; choose a writable "
                            f"folder") from exc
    lock_fd = take_lock(run_dir)
    try:
        now = time.time()
        meta = {"schema_version": SCHEMA_VERSION, "run_id": run_dir.name, "name": name,
                "corpus_path": str(corpus_path), "created_at": _iso(now), "finished_at": None,
                "status": "running", "status_reason": "", "total_epochs": int(total_epochs),
                "parent_run": parent_run, **process_meta(now)}
        # Built under a temporary name and renamed, so a reader never sees a half-made database.
        tmp = run_dir / (DB_NAME + ".tmp")
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA_SQL)
            upsert_meta(conn, meta)
        finally:
            conn.close()
        os.replace(tmp, run_dir / DB_NAME)
    except (OSError, sqlite3.Error) as exc:
        release_lock(lock_fd)
        raise RunStoreError(f"cannot create the run database in {run_dir}: {exc}") from exc
    return RunWriter(run_dir, lock_fd)


def slugify(name: str) -> str:
    """A folder-name-safe form of a run name: ascii lower-case words joined by '-' (or "run")."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40].strip("-")
    return slug or "run"


class RunWriter(BackgroundCommits):
    """Writes one run folder. The log_* calls are cheap and thread-safe (they only queue).

    Use as a context manager (a clean exit closes a still-running run as "completed", an exception
    as "failed") or call close(). A writer left open when the process exits closes as "interrupted".
    """

    def __init__(self, run_dir: Path, lock_fd: int):
        """Internal: use create_run() or RunWriter.reopen()."""
        self.run_dir = Path(run_dir)
        self._lock_fd = lock_fd
        self._queue: deque = deque()
        self._wake = threading.Event()
        self._error: BaseException | None = None
        self._closed = False
        self._stopping = False
        self._status = "running"
        self._names = {"step": set(TABLES["step"][2]), "epoch": set(TABLES["epoch"][2])}
        self._blocks = StepBlockWriter()
        self._wal_guard = WalGuard(self.run_dir / DB_NAME)
        self._thread = threading.Thread(target=self._write_loop, daemon=True,
                                        name=f"distill-run-writer-{self.run_dir.name}")
        self._owner_pid = os.getpid()
        self._thread.start()
        _live_writers.add(self)

    @classmethod
    def reopen(cls, run_dir) -> "RunWriter":
        """Continue writing an existing run (resume); RunStoreError if another process writes it."""
        run_dir = Path(run_dir)
        db = run_dir / DB_NAME
        if not db.is_file():
            raise RunStoreError(f"{run_dir} is not a Distill run folder (it has no {DB_NAME})")
        check_can_continue(run_dir)
        lock_fd = take_lock(run_dir)
        try:
            remove_stale_temp_files(run_dir)  # we hold run.lock: no other writer's files
            conn = sqlite3.connect(db, isolation_level=None, timeout=30)
            try:
                prepare_to_continue(conn, run_dir)
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            release_lock(lock_fd)
            raise RunStoreError(f"{run_dir}: run database is damaged: {exc}") from exc
        except BaseException:
            release_lock(lock_fd)
            raise
        return cls(run_dir, lock_fd)

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def config_path(self) -> Path:
        """Where the trainer saves the run's config.toml."""
        return self.run_dir / CONFIG_NAME

    # -- hot path: queue only ----------------------------------------------------------------
    def log_step(self, row: dict) -> None:
        """Queue one step's metrics: 'step' (int) required, 'epoch' int, other keys floats."""
        self._queue_row(_STEP, "step", row)

    def log_epoch(self, row: dict) -> None:
        """Queue one epoch's metrics: 'epoch' (int) required, optional 'step', other keys floats."""
        self._queue_row(_EPOCH, "epoch", row)

    def _queue_row(self, tag: int, key: str, row: dict) -> None:
        if self._error is not None or self._closed:
            self._raise_unusable()
        names = self._names[key]
        if not row.keys() <= names:
            self._check_names(row, names)
        item = {"wall_time": time.time(), **row}
        try:
            value = row[key]
        except KeyError:
            raise ValueError(f"log_{key} needs a {key!r} entry, got keys {sorted(row)}") from None
        if type(value) is not int:
            item[key] = _as_int(value, key)
        queue = self._queue
        queue.append((tag, item))
        if len(queue) >= COMMIT_ROWS:
            if not self._wake.is_set():
                self._wake.set()
            if len(queue) >= MAX_PENDING_ROWS:
                self._wait_for_room()

    def log_event(self, kind: str, payload: dict, epoch: int | None = None,
                  step: int | None = None) -> None:
        """Queue an event (divergence, checkpoint saved, ...) with a JSON-serialisable payload."""
        if self._error is not None or self._closed:
            self._raise_unusable()
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"event kind must be a non-empty string, not {kind!r}")
        if not isinstance(payload, dict):
            raise TypeError(f"event payload must be a dict, not {type(payload).__name__}")
        text = json.dumps(payload, default=json_default)
        self._queue.append((_EVENT, (time.time(), kind, _opt_int(epoch, "epoch"),
                                     _opt_int(step, "step"), text)))

    def log_previews(self, rows: list[dict]) -> None:
        """Queue preview rows (dicts of PREVIEW_COLUMNS; file relative to the run folder); a row for
        the same (epoch, kind, clip) replaces the earlier one."""
        if self._error is not None or self._closed:
            self._raise_unusable()
        checked = []
        for row in rows:
            if row.get("kind") not in PREVIEW_KINDS:
                raise ValueError(f"preview kind must be one of {', '.join(PREVIEW_KINDS)}, "
                                 f"not {row.get('kind')!r}")
            file = row.get("file")
            if not isinstance(file, str) or not file or Path(file).is_absolute() or ".." in Path(file).parts:
                raise ValueError(f"preview file must be a path inside the run folder, not {file!r}")
            checked.append((_as_int(row["epoch"], "epoch"), _opt_int(row.get("step"), "step"),  # the
                            row["kind"], _as_int(row["clip"], "clip"), file,  # order of PREVIEW_COLUMNS
                            _opt_float(row.get("distance")), _opt_float(row.get("rms"))))
        self._queue.extend((_PREVIEW, values) for values in checked)
        self._wake.set()

    def set_status(self, status: str, reason: str = "") -> None:
        """Record the run's status (committed within ~0.25 s); ValueError for an unknown status."""
        check_status(status)
        finished = None if status == "running" else _iso(time.time())
        self._queue_meta({"status": status, "status_reason": str(reason), "finished_at": finished})
        self._status = status

    def set_meta(self, key: str, value) -> None:
        """Store one meta value as text (dicts and lists as JSON); committed within ~0.25 s."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"meta key must be a non-empty string, not {key!r}")
        self._queue_meta({key: value})

    def _queue_meta(self, values: dict) -> None:
        if self._error is not None or self._closed:
            self._raise_unusable()
        for key, value in values.items():
            self._queue.append((_META, (key, meta_text(value))))
        self._wake.set()

    # -- synchronous helpers -------------------------------------------------------------------
    def write_json(self, filename: str, data) -> Path:
        """Write run_dir/filename atomically (temp file, fsync, rename); returns the path."""
        if not filename or Path(filename).name != filename or filename.startswith(".") \
                or filename in (DB_NAME, LOCK_NAME):
            raise ValueError(f"{filename!r} is not a plain file name for the run folder")
        return write_json_atomic(self.run_dir / filename, data)

    def flush(self, durable: bool = False) -> None:
        """Block until everything queued so far is committed; raises RunStoreError if it failed.

        durable=True commits with synchronous=FULL (fsync'ed, survives a power cut too): call it
        before writing anything a resume starts from (a checkpoint), so that file never becomes
        durable before the metric rows it implies."""
        if self._thread.is_alive():
            done = threading.Event()
            self._queue.append((_FLUSH, (done, durable)))
            self._wake.set()
            while not done.wait(0.05) and self._thread.is_alive():
                pass
        if self._error is not None:
            self._raise_unusable()

    def close(self, status: str | None = None, reason: str = "") -> None:
        """Commit everything, set the final status, stop the thread and release the lock.

        status=None keeps the last status set, except that a still "running" run becomes "stopped".
        """
        if self._closed or os.getpid() != self._owner_pid:
            return  # a forked child (e.g. a DataLoader worker) must not release the parent's lock
        if status is not None:
            check_status(status)
        elif self._status != "running":
            status, reason = self._status, None
        else:
            status = "stopped"
        values = {"status": status, "finished_at": _iso(time.time())}
        if reason is not None:
            values["status_reason"] = str(reason)
        try:
            if self._error is None:
                self._queue_meta(values)
        finally:
            self._closed = True
            self._stopping = True
            self._wake.set()
            self._thread.join()
            if self._error is not None:
                self._record_status_after_error(values)
            release_lock(self._lock_fd)
            _live_writers.discard(self)
        if self._error is not None:
            self._raise_unusable()

    def _record_status_after_error(self, values: dict) -> None:
        """After a failed commit (disk full, lost -wal...): try to store the final status and its
        reason through a fresh connection, so readers see why the run ended; best effort."""
        if values.get("status") != "failed" or not values.get("status_reason"):
            values = {**values, "status": "failed", "status_reason":
                      f"writing {self.run_dir / DB_NAME} failed: {self._error}"}
        try:
            conn = sqlite3.connect(self.run_dir / DB_NAME, isolation_level=None, timeout=5)
            try:
                upsert_meta(conn, values)
            finally:
                conn.close()
        except sqlite3.Error:
            pass  # nothing can be written there (the disk is still full): readers say interrupted

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close("completed" if self._status == "running" else None)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.close("stopped", "interrupted by the user")
        else:
            self.close("failed", f"{exc_type.__name__}: {exc}")

    def _raise_unusable(self):
        if self._error is not None:
            raise RunStoreError(f"writing {self.run_dir / DB_NAME} failed: {self._error}") \
                from self._error
        raise RunStoreError(f"the run writer for {self.run_dir} is closed")

    def _check_names(self, row: dict, names: set) -> None:
        for name in row:
            if name not in names:
                if not is_metric_name(name):
                    raise ValueError(f"metric name {name!r} is not usable: use lower-case letters, "
                                     f"digits and '_', starting with a letter or '_'")
                names.add(name)

    def _wait_for_room(self) -> None:
        while len(self._queue) >= MAX_PENDING_ROWS // 2 and self._thread.is_alive() \
                and self._error is None:
            self._wake.set()
            time.sleep(0.002)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")


def _as_int(value, what: str) -> int:
    if isinstance(value, numbers.Integral):
        return int(value)
    raise TypeError(f"{what} must be an int, not {type(value).__name__} {value!r}")


def _opt_int(value, what: str):
    return None if value is None else _as_int(value, what)


def _opt_float(value):
    return None if value is None else float(value)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_live_writers.clear)


@atexit.register
def _close_abandoned_writers() -> None:
    for writer in list(_live_writers):
        try:
            writer.close("interrupted", "the process exited without closing the run")
        except Exception:
            pass
