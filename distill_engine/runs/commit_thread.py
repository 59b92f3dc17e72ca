"""The run writer's background thread: it takes the rows RunWriter's log_* calls queued and commits
them in batches (every COMMIT_INTERVAL_S, or when woken), one transaction per batch: step rows and
their columnar step_blocks copy, epoch rows, events, previews and meta values; a durable flush
commits with synchronous=FULL. An error (disk full, a bad value) is kept and raised by the next
call on the writer. A heartbeat in meta says the writer is alive.

`BackgroundCommits` is a part of RunWriter (a mixin over its queue, wake event, error, step-block
writer and WAL guard), kept here so that writer.py reads as the API.
"""
from __future__ import annotations

import contextlib
import sqlite3
import time

from .schema import (BLOCKS_HEARTBEAT, DB_NAME, HEARTBEAT_EVERY_S, PREVIEW_COLUMNS, TABLES, insert_metric_rows,
                     table_columns)

COMMIT_INTERVAL_S = 0.25
#: what a queued item is: (tag, data)
_STEP, _EPOCH, _EVENT, _META, _FLUSH, _PREVIEW = range(6)


class BackgroundCommits:
    """See the module docstring."""

    # -- writer thread -------------------------------------------------------------------------
    def _write_loop(self) -> None:
        conn = None
        try:
            conn = sqlite3.connect(self.run_dir / DB_NAME, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            columns = {per: table_columns(conn, TABLES[per][0]) for per in TABLES}
        except sqlite3.Error as exc:
            self._error = exc
        next_beat = 0.0
        while True:
            self._wake.wait(COMMIT_INTERVAL_S)
            self._wake.clear()
            stopping = self._stopping
            queue = self._queue
            items = [queue.popleft() for _ in range(len(queue))]
            now = time.time()
            beat = now >= next_beat and not stopping
            if (items or beat) and self._error is None:
                try:
                    self._commit(conn, columns, items, now if beat else None)
                except Exception as exc:  # disk full, bad value...: reported by the next call
                    self._error = exc
                    try:
                        conn.rollback()
                        columns = {per: table_columns(conn, TABLES[per][0]) for per in TABLES}
                    except sqlite3.Error:
                        pass
                if beat:
                    next_beat = now + HEARTBEAT_EVERY_S
            for tag, data in items:
                if tag == _FLUSH:
                    data[0].set()
            if stopping and not queue:
                break
        if conn is not None:
            conn.close()

    def _commit(self, conn, columns, items, heartbeat) -> None:
        """One transaction: the batch's step rows, epoch rows, events and meta values."""
        rows = {_STEP: [], _EPOCH: [], _EVENT: [], _META: [], _FLUSH: [], _PREVIEW: []}
        for tag, data in items:
            rows[tag].append(data)
        durable = any(durable for _, durable in rows[_FLUSH])
        if durable:
            conn.execute("PRAGMA synchronous=FULL")  # fsync this commit (set outside a transaction)
        meta = dict(rows[_META])
        if heartbeat is not None:
            meta["heartbeat"] = repr(heartbeat)
        if "heartbeat" in meta:
            meta[BLOCKS_HEARTBEAT] = meta["heartbeat"]  # "this writer keeps step_blocks"
        try:
            conn.execute("BEGIN IMMEDIATE")
            if rows[_STEP]:
                self._blocks.write(conn, *insert_metric_rows(conn, "step", columns["step"],
                                                             rows[_STEP]))
            if rows[_EPOCH]:
                insert_metric_rows(conn, "epoch", columns["epoch"], rows[_EPOCH])
            if rows[_EVENT]:
                conn.executemany("INSERT INTO events (wall_time, kind, epoch, step, payload) "
                                 "VALUES (?, ?, ?, ?, ?)", rows[_EVENT])
            if rows[_PREVIEW]:
                conn.executemany(f"INSERT OR REPLACE INTO previews ({', '.join(PREVIEW_COLUMNS)}) "
                                 f"VALUES ({', '.join('?' * len(PREVIEW_COLUMNS))})", rows[_PREVIEW])
            if meta:
                conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta.items())
            conn.execute("COMMIT")
        finally:
            if durable:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA synchronous=NORMAL")
        self._wal_guard.check(conn)
