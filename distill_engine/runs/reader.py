"""Read-only views of run folders: `open_run(run_dir) -> Run` and `list_runs(runs_dir)`.

A Run can be read while its writer (another thread or process) is still writing: every read is one
short query (or read transaction) on a read-only connection, so it never blocks the writer nor
modifies a file. Step metrics come from the columnar step_blocks when they match the rows (checked
on each read, see step_blocks.py), else from the step_metrics rows: the same float64 values.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RunStoreError
from .listing import RunSummary, connect_read_only, list_runs, read_summary, unreadable_folder
from .preview_rows import PreviewRecord, preview_epochs, preview_records
from .step_blocks import ALL_STEPS, read_step_blocks, read_step_columns
from .schema import (
    CHECKPOINTS_DIR, CONFIG_NAME, CORPUS_REPORT_NAME, DB_NAME, KNOWN_METRICS, TABLES,
    check_version, db_error, effective_status,
)

__all__ = ["PreviewRecord", "Run", "RunEvent", "RunSummary", "list_runs", "open_run"]


@dataclass(frozen=True)
class RunEvent:
    """One row of the events table; `payload` is the decoded JSON object."""

    id: int
    wall_time: float
    kind: str
    epoch: int | None
    step: int | None
    payload: dict


def open_run(run_dir) -> "Run":
    """Open a run folder for reading; RunStoreError naming the folder if it cannot be read."""
    return Run(run_dir)


class Run:
    """A read-only view of one run folder. Use as a context manager or call close()."""

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self._conn = None
        self._lock = threading.Lock()
        try:
            if not self.run_dir.is_dir():
                raise RunStoreError(f"{self.run_dir} is not a folder; choose a Distill run folder")
        except OSError as exc:
            raise unreadable_folder(self.run_dir, exc) from exc
        self._conn, self.read_only = connect_read_only(self.run_dir)
        self._db_file = _file_identity(self.run_dir)
        try:
            self._columns = {}
            self._refresh_layout()
            meta = dict(self._fetch("SELECT key, value FROM meta"))
            check_version(self.run_dir, meta.get("schema_version"))
        except BaseException:
            self.close()
            raise
        self.id = meta.get("run_id") or self.run_dir.name
        self.name = meta.get("name") or self.run_dir.name
        self.corpus_path = meta.get("corpus_path") or ""
        self.created_at = meta.get("created_at") or ""
        self.parent_run = meta.get("parent_run") or None
        self.total_epochs = _to_int(meta.get("total_epochs"))
        #: Processes that trained it together (torchrun) and each one's device, rank 0 first.
        self.world_size = _to_int(meta.get("world_size")) or 1
        self.devices = _decode_list(meta.get("devices"))

    def close(self) -> None:
        """Close the read-only connection (also done when the object is garbage collected)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"Run({str(self.run_dir)!r})"

    # -- status and files ---------------------------------------------------------------------
    @property
    def status(self) -> str:
        """The stored status; a stored "running" whose writer is dead reads "interrupted"."""
        return self._status_and_reason()[0]

    @property
    def status_reason(self) -> str:
        """Why the run ended the way it did ("" when no reason was given)."""
        return self._status_and_reason()[1]

    @property
    def config_path(self) -> Path:
        return self.run_dir / CONFIG_NAME

    @property
    def config(self):
        """The run's TrainingConfig from config.toml, or None when the file is absent."""
        if not self.config_path.is_file():
            return None
        from ..config.schema import load_run_config

        return load_run_config(self.config_path)

    @property
    def corpus_report(self) -> dict | None:
        """The corpus report saved at the start of the run, or None when absent."""
        path = self.run_dir / CORPUS_REPORT_NAME
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise RunStoreError(f"{path} cannot be read: {exc}") from exc

    def checkpoints(self) -> list:
        """The run's checkpoints as listed by distill_engine.checkpoints ([] if unavailable)."""
        from ..checkpoints.format import list_checkpoints

        return list_checkpoints(self.run_dir / CHECKPOINTS_DIR)

    # -- metrics ------------------------------------------------------------------------------
    def metric_names(self, per: str = "step") -> list[str]:
        """Names of the metric columns stored per "step" or per "epoch" (key columns left out)."""
        table, _, base = _table(per)
        self._refresh_layout()
        return [c for c in self._columns.get(table, ()) if c not in base]

    def metric(self, name: str, per: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(x int64, values float64) of one series; per=None takes the step table if it has `name`.

        NULL values read as NaN; a known metric missing from an older database reads as all NaN.
        """
        per, present = self._resolve(name, ("step", "epoch") if per is None else (per,))
        table, key, _ = _table(per)
        found = None
        if per == "step" and "step_blocks" in self._columns:
            with self._snapshot() as conn:
                found = read_step_blocks(conn, ALL_STEPS, [name] if present else [])
        if found is not None:
            x, values = found[0], found[1][0] if present else None
        else:
            x, values = self._read_series(table, key, name if present else None)
        return x, np.full(len(x), np.nan) if values is None else values

    def metrics_since(self, step: int,
                      names: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Step rows after `step` (exclusive) for live following: (steps, {name: values})."""
        for attempt in range(2):
            present = list(dict.fromkeys(n for n in names if self._resolve(n, ("step",))[1]))
            with self._snapshot() as conn:
                steps, columns = read_step_columns(conn, int(step) + 1, present,
                                                   "step_blocks" in self._columns)
            if attempt or len(present) == len(set(names)) or not len(steps):
                break
            # The writer may have added a column (with its first rows) between the layout check
            # and the read: those rows would read NaN and a follower would never ask for them again.
            self._refresh_layout()
            if all(n not in self._columns.get(TABLES["step"][0], ()) for n in set(names) - set(present)):
                break
        found = dict(zip(present, columns))
        return steps, {n: found[n] if n in found else np.full(len(steps), np.nan) for n in names}

    def events(self, kind: str | None = None, after_id: int = 0) -> list[RunEvent]:
        """Events in the order logged, optionally only one kind or only those after an id."""
        if "events" not in self._columns:
            return []
        sql = "SELECT id, wall_time, kind, epoch, step, payload FROM events WHERE id > ?"
        params = (int(after_id),) if kind is None else (int(after_id), kind)
        rows = self._fetch(sql + ("" if kind is None else " AND kind = ?") + " ORDER BY id", params)
        return [RunEvent(i, t, k, e, s, _decode_payload(p)) for i, t, k, e, s, p in rows]

    def preview_epochs(self) -> list[int]:
        """Epochs that have audio previews (reconstructions or samples), ascending."""
        self._refresh_previews_layout()
        return preview_epochs(self._fetch, "previews" in self._columns)

    def previews(self, epoch: int | None = None) -> list[PreviewRecord]:
        """The preview files of `epoch` with the fixed clips' originals (None: every epoch's)."""
        self._refresh_previews_layout()
        return preview_records(self._fetch, "previews" in self._columns, self.run_dir, epoch)

    def summary(self) -> RunSummary:
        """Status, epochs done, best validation loss and duration in one short query."""
        with self._lock:
            return dataclasses.replace(read_summary(self._live_conn(), self.run_dir),
                                       read_only=self.read_only)

    # -- internals ----------------------------------------------------------------------------
    def _live_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RunStoreError(f"the run {self.run_dir} was closed; open it again to read it")
        identity = _file_identity(self.run_dir)
        if identity != self._db_file and identity is not None:  # replaced: a newer copy (rsync renames)
            self._conn.close()
            (self._conn, self.read_only), self._db_file = connect_read_only(self.run_dir), identity
        return self._conn

    def _fetch(self, sql: str, params=()) -> list:
        with self._lock:
            try:
                return self._live_conn().execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise db_error(self.run_dir, exc) from exc

    @contextmanager
    def _snapshot(self):
        """The connection inside one read transaction (one consistent snapshot), under the lock;
        a database error or a value that is not a number becomes RunStoreError."""
        with self._lock:
            conn = self._live_conn()
            try:
                conn.execute("BEGIN")
                yield conn
            except sqlite3.DatabaseError as exc:
                raise db_error(self.run_dir, exc) from exc
            except (TypeError, ValueError) as exc:  # text or a blob where a number belongs
                raise RunStoreError(f"{self.run_dir}: run database holds a value that is not a "
                                    f"number: {exc}") from exc
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")  # ends the read snapshot; nothing was written

    def _read_series(self, table: str, key: str, column: str | None):
        """(keys, values) in one short read transaction. Python-level row iteration is the cost
        (SQLite scans 1M rows in ~0.1 s), so only the values go through it: the keys are an arange
        when contiguous (the usual case), else one group_concat string parsed by numpy."""
        with self._snapshot() as conn:
            lo, hi = conn.execute(f"SELECT (SELECT MIN({key}) FROM {table}), "  # 2 lookups,
                                  f"(SELECT MAX({key}) FROM {table})").fetchone()  # no scan
            values = None
            if column is not None:
                cursor = conn.execute(f'SELECT "{column}" FROM {table} ORDER BY {key}')
                values = np.fromiter(itertools.chain.from_iterable(cursor), np.float64)
            if lo is None:
                keys = np.empty(0, np.int64)
            elif values is not None and len(values) == hi - lo + 1:
                keys = np.arange(lo, hi + 1, dtype=np.int64)
            else:
                text = conn.execute(f"SELECT group_concat({key}) FROM "
                                    f"(SELECT {key} FROM {table} ORDER BY {key})").fetchone()[0]
                keys = np.fromstring(text, sep=",", dtype=np.int64)
        if values is not None and len(keys) != len(values):  # internal: would be a bug
            raise AssertionError(f"{len(keys)} keys for {len(values)} values in {table}")
        return keys, values

    def _refresh_layout(self) -> None:
        rows = self._fetch("SELECT m.name, p.name FROM sqlite_master AS m "
                           "JOIN pragma_table_info(m.name) AS p WHERE m.type = 'table'")
        columns: dict[str, list[str]] = {}
        for table, column in rows:
            columns.setdefault(table, []).append(column)
        if "meta" not in columns:
            raise RunStoreError(f"{self.run_dir}: {DB_NAME} is not a Distill run database "
                                f"(it has no meta table)")
        self._columns = columns

    def _refresh_previews_layout(self) -> None:
        if "previews" not in self._columns:  # a writer reopening an older run may create it
            self._refresh_layout()

    def _resolve(self, name: str, pers: tuple) -> tuple[str, bool]:
        """(per, stored?) for a metric name; KeyError listing the stored names if it is unknown."""
        for per in pers:
            _table(per)
        for attempt in range(2):
            for per in pers:
                if name in self._columns.get(TABLES[per][0], ()):
                    return per, True
            if attempt == 0:
                self._refresh_layout()  # a column may have been added since we last looked
        for per in pers:
            if name in KNOWN_METRICS[per]:
                return per, False
        available = "; ".join(f"per {p}: {', '.join(self.metric_names(p)) or 'none'}" for p in pers)
        raise KeyError(f"run {self.id} has no metric {name!r} ({available})")

    def _status_and_reason(self) -> tuple[str, str]:
        rows = self._fetch("SELECT key, value FROM meta WHERE key IN "
                           "('status', 'status_reason', 'hostname', 'heartbeat')")
        meta = dict(rows)
        return effective_status(self.run_dir, meta), meta.get("status_reason") or ""


def _table(per: str) -> tuple[str, str, tuple]:
    try:
        return TABLES[per]
    except (KeyError, TypeError):
        raise ValueError(f"per must be 'step' or 'epoch', not {per!r}") from None


def _decode_payload(text):
    try:
        payload = json.loads(text) if text else {}
    except ValueError:
        return {"unparsed": text}
    return payload if isinstance(payload, dict) else {"value": payload}


def _file_identity(run_dir: Path):
    """(device, inode) of run.sqlite, which changes when a copy replaces the file; None if absent."""
    try:
        found = os.stat(run_dir / DB_NAME)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _decode_list(text) -> list[str]:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _to_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
