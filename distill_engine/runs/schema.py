"""The run folder's layout, run.sqlite's schema, how rows are written into it, and the run.lock
protocol: shared by the writer (writer.py) and the reader (reader.py).

run.sqlite (WAL mode) holds six tables:
  step_metrics(step INTEGER PRIMARY KEY, epoch INTEGER, wall_time REAL, <metric> REAL, ...)
  epoch_metrics(epoch INTEGER PRIMARY KEY, step INTEGER, wall_time REAL, <metric> REAL, ...)
  events(id INTEGER PRIMARY KEY AUTOINCREMENT, wall_time REAL, kind TEXT, epoch INTEGER,
         step INTEGER, payload TEXT)            -- payload is a JSON object
  meta(key TEXT PRIMARY KEY, value TEXT)        -- see META_KEYS
  step_blocks(id INTEGER PRIMARY KEY AUTOINCREMENT, first_step INTEGER, last_step INTEGER,
              n INTEGER, columns TEXT, data BLOB)  -- step_metrics again, in float64 blocks
  previews(epoch INTEGER, kind TEXT, clip INTEGER, step INTEGER, file TEXT, distance REAL,
           rms REAL, PRIMARY KEY (epoch, kind, clip))
                                                -- one row per preview audio file (PREVIEW_KINDS);
                                                   file is relative to the run folder; originals
                                                   have epoch 0 (distill_engine/previews)
Metric tables are wide: one REAL column per metric, added with ALTER TABLE the first time a name is
logged, so a series is one `SELECT step, <metric>`. A database lacking a column that newer code
knows (STEP_METRICS / EPOCH_METRICS) reads that metric as NaN.

step_blocks (step_blocks.py) is a columnar copy of step_metrics, written in the same transaction,
that a reader loads with np.frombuffer; step_metrics stays the source of truth. It came without a
schema_version change: a reader of version 1 ignores a table it does not know, and a database
without step_blocks (or whose blocks do not match its rows) is read from step_metrics. A writer
creates the table when it opens a run that lacks it.
"""
from __future__ import annotations

import itertools
import json
import numbers
import os
import re
import socket
import sqlite3
import time
from operator import itemgetter
from pathlib import Path

from ..atomic_file import atomic_write_text
from ..errors import RunStoreError
from ..training.events import EpochMetrics, StepMetrics, metric_names, term_fields

try:
    import fcntl
except ImportError:  # Windows: no run.lock; readers judge liveness by the heartbeat
    fcntl = None

SCHEMA_VERSION = 1

DB_NAME = "run.sqlite"
LOCK_NAME = "run.lock"
CONFIG_NAME = "config.toml"
CORPUS_REPORT_NAME = "corpus_report.json"
CHECKPOINTS_DIR = "checkpoints"
PREVIEWS_DIR = "previews"
#: Kinds of preview rows: a fixed clip's original (epoch 0), its reconstruction, a decoded sample.
PREVIEW_KINDS = ("original", "reconstruction", "sample")
PREVIEW_COLUMNS = ("epoch", "step", "kind", "clip", "file", "distance", "rms")

STATUSES = ("running", "completed", "stopped", "failed", "diverged-stopped", "interrupted")
#: Status shown by list_runs for a folder whose database cannot be read.
UNREADABLE = "unreadable"

#: Metrics the trainer logs per step: the StepMetrics fields that are not keys (the event is the
#: schema). Any other valid name is stored too (a new column).
STEP_METRICS = metric_names(StepMetrics)
#: Metrics the trainer logs per epoch: the EpochMetrics fields that are not keys.
EPOCH_METRICS = metric_names(EpochMetrics)
#: The epoch column a run's "best" is judged by in the runs list: the validation total.
BEST_METRIC = term_fields(EpochMetrics, "val")["total"]

#: Per table: its key column and the columns every version creates (never metrics).
TABLES = {
    "step": ("step_metrics", "step", ("step", "epoch", "wall_time")),
    "epoch": ("epoch_metrics", "epoch", ("epoch", "step", "wall_time")),
}
KNOWN_METRICS = {"step": STEP_METRICS, "epoch": EPOCH_METRICS}

META_KEYS = (
    "schema_version", "run_id", "name", "corpus_path", "created_at", "finished_at", "status",
    "status_reason", "total_epochs", "parent_run", "hostname", "pid", "heartbeat",
    "step_blocks_heartbeat", "world_size", "devices",
)
#: Meta key a block-aware writer sets to "heartbeat" whenever it writes that (step_blocks.py).
BLOCKS_HEARTBEAT = "step_blocks_heartbeat"

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS step_metrics (step INTEGER PRIMARY KEY, epoch INTEGER, wall_time REAL);
CREATE TABLE IF NOT EXISTS epoch_metrics (epoch INTEGER PRIMARY KEY, step INTEGER, wall_time REAL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, wall_time REAL, kind TEXT, epoch INTEGER, step INTEGER,
    payload TEXT);
CREATE TABLE IF NOT EXISTS step_blocks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, first_step INTEGER, last_step INTEGER, n INTEGER,
    columns TEXT, data BLOB);
CREATE TABLE IF NOT EXISTS previews (
    epoch INTEGER NOT NULL, kind TEXT NOT NULL, clip INTEGER NOT NULL, step INTEGER, file TEXT,
    distance REAL, rms REAL, PRIMARY KEY (epoch, kind, clip));
"""

#: A heartbeat younger than this means a writer on another host is taken to be alive.
HEARTBEAT_FRESH_S = 120.0
#: The writer thread refreshes the heartbeat at least this often.
HEARTBEAT_EVERY_S = 2.0

#: Types sqlite3 binds as INTEGER/REAL/NULL (a numpy scalar would become a BLOB).
BINDABLE = frozenset({int, float, type(None)})

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def is_metric_name(name: object) -> bool:
    """True when `name` can be a metric column: lower-case identifier, at most 63 characters."""
    return isinstance(name, str) and _IDENTIFIER.fullmatch(name) is not None


def check_status(status: str) -> str:
    """Return `status` if it is one of STATUSES, else raise ValueError listing them."""
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}; use one of {', '.join(STATUSES)}")
    return status


def this_host() -> str:
    """The name stored in meta.hostname; readers compare it to pick the dead-writer test."""
    return socket.gethostname()


def check_version(run_dir: Path, value) -> None:
    """RunStoreError unless `value` (meta.schema_version; None means 1) is one this code reads."""
    try:
        version = 1 if value is None else int(value)
    except (TypeError, ValueError):
        raise RunStoreError(f"{run_dir}: run database is damaged: schema_version {value!r}") \
            from None
    if version > SCHEMA_VERSION:
        raise RunStoreError(f"{run_dir} was written by a newer Distill (schema {version}); "
                            f"upgrade Distill to read it")


def db_error(run_dir: Path, exc: sqlite3.DatabaseError) -> RunStoreError:
    """The RunStoreError for an SQLite error while reading a run: busy (try again) or damaged."""
    message = str(exc)
    if "locked" in message or "busy" in message:
        return RunStoreError(f"{run_dir}: run database is busy, try again: {message}")
    return RunStoreError(f"{run_dir}: run database is damaged: {message}")


def folder_writable(folder: Path) -> bool:
    """Whether this process may create files in `folder` (its effective ids, as SQLite needs)."""
    effective = os.access in os.supports_effective_ids
    return os.access(folder, os.W_OK | os.X_OK, effective_ids=effective)


def connect_read_only(db_path: Path) -> sqlite3.Connection:
    """A read-only connection (run.sqlite is never modified); any thread may use it under a lock."""
    return open_read_only(db_path)[0]


def open_read_only(db_path: Path) -> tuple[sqlite3.Connection, bool]:
    """(a read-only connection, opened immutable?); any thread may use it under a lock.

    run.sqlite is never modified. In a folder this process cannot write (read-only media, another
    user's folder) SQLite cannot create the -shm file a WAL database needs, so there the database
    is opened `immutable` (nobody can be writing it there) when a plain read-only open fails."""
    uri = Path(db_path).absolute().as_uri()
    options = dict(uri=True, timeout=5.0, check_same_thread=False, isolation_level=None)
    conn = sqlite3.connect(uri + "?mode=ro", **options)
    if folder_writable(Path(db_path).parent):
        return conn, False
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn, False
    except sqlite3.OperationalError:
        conn.close()
    return sqlite3.connect(uri + "?mode=ro&immutable=1", **options), True


# -- writing rows and meta ----------------------------------------------------------------
def insert_metric_rows(conn, per: str, columns: set, rows: list) -> tuple[list, list]:
    """INSERT OR REPLACE a batch of metric dicts, adding a REAL column for each new name.

    Returns (column names, key first; one tuple of int/float/None per row) as bound."""
    table, key, _ = TABLES[per]
    ordered = [key] + [name for name in rows[0] if name != key]
    width = len(ordered)
    params = None
    if width > 1 and all(len(row) == width for row in rows):
        try:  # the usual batch, every row with the same names: one pass in C
            params = list(map(itemgetter(*ordered), rows))
        except KeyError:
            pass
    if params is None:
        names = dict.fromkeys(itertools.chain.from_iterable(rows))  # first-seen order, in C
        ordered = [key] + [name for name in names if name != key]
        params = [tuple(map(row.get, ordered)) for row in rows]
    for name in ordered:
        if name not in columns:
            conn.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" REAL')
            columns.add(name)
    # sqlite3 would store a numpy scalar as a BLOB (buffer protocol): find other types in C speed.
    if not set(map(type, itertools.chain.from_iterable(params))) <= BINDABLE:
        params = [tuple(map(plain_number, values)) for values in params]
    quoted = ", ".join('"' + name + '"' for name in ordered)  # names checked by is_metric_name
    conn.executemany(f"INSERT OR REPLACE INTO {table} ({quoted}) "
                     f"VALUES ({', '.join('?' * len(ordered))})", params)
    return ordered, params


def table_columns(conn, table: str) -> set:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def prepare_to_continue(conn, run_dir: Path) -> None:
    """Ready an existing run.sqlite for this process to continue (RunWriter.reopen): refuse a newer
    schema and, without run.lock (Windows), a live writer's heartbeat; create the tables an older
    version lacked; drop step_blocks that a writer predating them left stale; mark it running."""
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    version = meta.get("schema_version") or "1"
    if not version.isdigit():
        raise sqlite3.DatabaseError(f"schema_version is {version!r}")
    if int(version) > SCHEMA_VERSION:
        raise RunStoreError(f"{run_dir} was written by a newer Distill (schema {version}); "
                            f"upgrade Distill to continue it")
    if fcntl is None and meta.get("status") == "running" and \
            time.time() - float(meta.get("heartbeat") or 0) < HEARTBEAT_FRESH_S:
        raise RunStoreError(f"{run_dir} is being written by another process "
                            f"(pid {meta.get('pid')}); stop that training first")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA_SQL)  # tables an older version did not create
    if meta.get(BLOCKS_HEARTBEAT) != meta.get("heartbeat"):
        conn.execute("DELETE FROM step_blocks")  # rows were since changed without blocks
    upsert_meta(conn, {"status": "running", "status_reason": "", "finished_at": None,
                       **process_meta(time.time())})


def process_meta(now: float) -> dict:
    """The meta values naming the writing process (and its first heartbeat)."""
    return {"hostname": this_host(), "pid": os.getpid(), "heartbeat": repr(now),
            BLOCKS_HEARTBEAT: repr(now)}


def upsert_meta(conn, meta: dict) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                     [(k, meta_text(v)) for k, v in meta.items()])
    conn.execute("COMMIT")


def plain_number(value):
    """A number sqlite3 stores as INTEGER/REAL: numpy and torch scalars become int or float."""
    if value is None or type(value) in BINDABLE:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    return float(value)


def meta_text(value):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=json_default)
    return str(value)


def write_json_atomic(target: Path, data) -> Path:
    """Write `data` as JSON to target atomically (atomic_file); returns target."""
    try:
        return atomic_write_text(target, json.dumps(data, indent=2, default=json_default))
    except OSError as exc:
        raise RunStoreError(f"cannot write {target}: {exc}") from exc


def json_default(value):
    """JSON for numpy/torch scalars and arrays, and paths; anything else is a loud TypeError."""
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} {value!r} cannot be stored as JSON")


# -- run.lock: a live writer holds LOCK_EX; a reader probes it with LOCK_SH|LOCK_NB ----------
def take_lock(run_dir: Path) -> int:
    """Open run.lock and hold LOCK_EX on it; RunStoreError if a live process holds it."""
    try:
        fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RunStoreError(f"cannot create {run_dir / LOCK_NAME}: {exc}") from exc
    if fcntl is None:
        return fd
    deadline = time.monotonic() + 0.25  # a reader's status probe holds LOCK_SH for microseconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise RunStoreError(f"{run_dir} is being written by another process or writer; "
                                    f"stop that training (or wait for it to end) before writing "
                                    f"this run")
            time.sleep(0.02)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} {this_host()}\n".encode())
    return fd


def release_lock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def writer_alive(run_dir: Path, hostname, heartbeat) -> bool:
    """The lock tells on this host (a live writer holds LOCK_EX); elsewhere the heartbeat does."""
    if fcntl is not None and (hostname is None or hostname == this_host()):
        try:
            fd = os.open(run_dir / LOCK_NAME, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)
    return heartbeat is not None and time.time() - heartbeat < HEARTBEAT_FRESH_S


def effective_status(run_dir: Path, meta: dict) -> str:
    """Stored status, except "running" with a dead writer reads "interrupted"."""
    status = meta.get("status") or "running"
    if status != "running":
        return status
    try:
        heartbeat = float(meta.get("heartbeat"))
    except (TypeError, ValueError):
        heartbeat = None
    return "running" if writer_alive(run_dir, meta.get("hostname"), heartbeat) else "interrupted"
