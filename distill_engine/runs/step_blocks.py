"""The columnar copy of step_metrics: blocks of step rows a reader loads with np.frombuffer.

    step_blocks(id INTEGER PRIMARY KEY AUTOINCREMENT, first_step INTEGER, last_step INTEGER,
                n INTEGER, columns TEXT, data BLOB)
`columns` is a JSON list of column names starting with "step"; `data` is a C-contiguous
little-endian float64 array [n, len(columns)], NaN where a row has no value; first_step/last_step
are the smallest and largest step in the block. step_metrics stays the source of truth: the blocks
only make reading 1M steps cost ~10 numpy copies instead of one Python float per cell.

Writing (StepBlockWriter, called by the writer thread inside the transaction that inserts the same
rows, so a kill -9 keeps both or neither): each committed batch becomes one block, with its rows in
logging order. A slow trainer commits a few rows every 0.25 s, so small blocks are merged like a
binary counter: a batch absorbs this session's trailing blocks of < MERGE_BELOW_ROWS rows that are
not larger than it, and the result replaces them under a new (highest) id. A row is so rewritten
at most log2(MERGE_BELOW_ROWS) times and a run keeps ~1 block per MERGE_BELOW_ROWS steps.

Reading (read_step_blocks): a resumed run re-logs steps (INSERT OR REPLACE keeps the last row), so
blocks overlap; the value kept for a step is the last written: blocks in id order, rows in block
order, last occurrence wins (a stable argsort, no Python loop over rows). The blocks are used only
when they provably hold exactly the rows, checked in the reader's read transaction:
  1. meta BLOCKS_HEARTBEAT equals meta "heartbeat". Writers that know blocks write both together,
     in the transaction with the rows; a Distill that predates blocks (an older install resuming
     the run) rewrites "heartbeat" when it opens the run, and may then replace rows without blocks.
     The next block-aware writer that reopens such a run deletes its (stale) blocks.
  2. count(*) of step_metrics rows in the range == the number of distinct block steps in it. Every
     block row was inserted as a step row in the same transaction and nothing deletes step rows,
     so the block steps are a subset of the row steps; equal counts make the two sets equal.
     Rows without blocks (written before this table existed) fail the check. The count is one
     count of the step_metrics b-tree in C (~30 ms for 1M rows), no values decoded.
Otherwise (or without the table: a database from before blocks) the caller reads the rows.
"""
from __future__ import annotations

import itertools
import json

import numpy as np

from .schema import BLOCKS_HEARTBEAT

#: Blocks smaller than this are merged with the next batches of the same writer session.
MERGE_BELOW_ROWS = 1024
#: A batch larger than this (the logging thread outran the writer) is stored as several blocks.
MAX_BLOCK_ROWS = 65536
#: Rows of a block copied out column by column at a time (2x faster than whole 1M-row blocks).
_CHUNK_ROWS = 4096
#: The smallest step (an int64) a read can ask for: "every step".
ALL_STEPS = -(2 ** 63)

_INSERT = ("INSERT INTO step_blocks (first_step, last_step, n, columns, data) "
           "VALUES (?, ?, ?, ?, ?)")
_CHECK = ("SELECT (SELECT value FROM meta WHERE key = ?), "
          "(SELECT value FROM meta WHERE key = 'heartbeat'), "
          "CASE WHEN ? <= (SELECT min(step) FROM step_metrics) "  # count(*) of a whole table only
          "THEN (SELECT count(*) FROM step_metrics) "  # counts cells per page: 2x cheaper
          "ELSE (SELECT count(*) FROM step_metrics WHERE step >= ?) END, "
          "(SELECT coalesce(sum(n), 0) FROM step_blocks WHERE last_step >= ?)")
_SELECT = "SELECT columns, n, data FROM step_blocks WHERE last_step >= ? ORDER BY id"


class StepBlockWriter:
    """Writes each committed batch of step rows as a block; one per writer session (a session
    merges only the small blocks it wrote itself, which no other writer can have followed)."""

    def __init__(self):
        self._small: list[tuple[int, list, np.ndarray]] = []  # this session's trailing blocks

    def write(self, conn, columns: list[str], params: list[tuple]) -> None:
        """Store rows `params` (tuples of int/float/None in `columns` order, "step" first)."""
        data = pack_rows(params, len(columns))
        for start in range(0, len(data), MAX_BLOCK_ROWS):
            self._write_block(conn, columns, data[start:start + MAX_BLOCK_ROWS])

    def _write_block(self, conn, columns: list[str], data: np.ndarray) -> None:
        pieces, gone, n = [(columns, data)], [], len(data)
        while self._small and len(self._small[-1][2]) <= n:  # (sizes decrease down the stack)
            block_id, names, rows = self._small.pop()
            pieces.insert(0, (names, rows))
            gone.append(block_id)
            n += len(rows)
        if gone:
            conn.execute(f"DELETE FROM step_blocks WHERE id IN ({', '.join('?' * len(gone))})",
                         gone)
            columns, data = join_blocks(pieces)
        steps = data[:, 0]
        cursor = conn.execute(_INSERT, (int(steps.min()), int(steps.max()), len(data),
                                        json.dumps(columns), data.astype("<f8").tobytes()))
        if len(data) < MERGE_BELOW_ROWS:  # kept to merge without reading it back
            self._small.append((cursor.lastrowid, columns, data))


def pack_rows(params: list[tuple], width: int) -> np.ndarray:
    """[n, width] float64 of rows as SQLite returns them: None -> NaN, -0.0 -> 0.0 (SQLite stores
    an integral REAL as an integer) and ints rounded to float64 as REAL affinity does."""
    data = np.fromiter(itertools.chain.from_iterable(params), np.float64, count=len(params) * width)
    data = data.reshape(len(params), width)
    data += 0.0
    return data


def join_blocks(pieces: list[tuple[list[str], np.ndarray]]) -> tuple[list[str], np.ndarray]:
    """One block of the rows of `pieces` in order; columns are the union (first-seen order)."""
    columns = list(dict.fromkeys(itertools.chain.from_iterable(names for names, _ in pieces)))
    if all(names == columns for names, _ in pieces):
        return columns, np.concatenate([data for _, data in pieces])
    index = {name: i for i, name in enumerate(columns)}
    out = np.full((sum(len(data) for _, data in pieces), len(columns)), np.nan)
    offset = 0
    for names, data in pieces:
        out[offset:offset + len(data), [index[name] for name in names]] = data
        offset += len(data)
    return columns, out


def read_step_blocks(conn, first: int, names: list[str]):
    """(steps int64, [float64 values per name]) of the steps >= first, from the blocks; None when
    the blocks cannot be trusted to hold exactly the rows (see the module docstring).

    Call inside a read transaction, so that the check and the blocks are one snapshot. A name a
    block lacks (a metric first logged after it) reads as NaN for its steps, as NULL does in rows.
    """
    mark, beat, n_rows, total = conn.execute(_CHECK, (BLOCKS_HEARTBEAT, first, first,
                                                      first)).fetchone()
    if mark is None or mark != beat or total < n_rows:
        return None
    out = np.empty((1 + len(names), total))
    layouts: dict[str, list] = {}
    offset = 0
    for text, n, blob in conn.execute(_SELECT, (first,)):
        layout = layouts.get(text)
        if layout is None:
            layout = layouts[text] = _layout(text, names)
        width, pairs, missing = layout
        if width == 0 or n * width * 8 != len(blob) or offset + n > total:
            return None  # a damaged block: the rows are still right
        block = np.frombuffer(blob, "<f8").reshape(n, width)
        for start in range(0, n, _CHUNK_ROWS):  # a chunk stays in cache while its columns go out
            rows = block[start:start + _CHUNK_ROWS]
            part = out[:, offset + start:offset + start + len(rows)]
            for row, column in pairs:
                part[row] = rows[:, column]
        out[missing, offset:offset + n] = np.nan
        offset += n
    if offset != total:
        return None
    steps = out[0].astype(np.int64)
    if (steps[:1] >= first).all() and (steps[1:] > steps[:-1]).all():
        values = list(out[1:])  # the usual case: one writer, no step logged twice
    else:
        order = np.argsort(steps, kind="stable")  # equal steps stay in the order written
        steps = steps[order]
        keep = np.ones(len(steps), bool)
        keep[:-1] = steps[1:] != steps[:-1]  # the last of equal steps is the last written
        keep &= steps >= first
        steps, order = steps[keep], order[keep]
        values = list(np.take(out[1:], order, axis=1))  # C order: each row contiguous
    if len(steps) != n_rows:
        return None
    return steps, values


def read_step_columns(conn, first: int, names: list[str], blocks: bool = True):
    """(steps int64, [float64 values per name]) of the steps >= first: from step_blocks when
    `blocks` and they match the rows, else from the step_metrics rows (NULL -> NaN), filled in C.
    Call inside a read transaction."""
    found = read_step_blocks(conn, first, names) if blocks else None
    if found is not None:
        return found
    select = ", ".join(["step"] + [f'"{n}"' for n in names])
    cursor = conn.execute(f"SELECT {select} FROM step_metrics WHERE step >= ? ORDER BY step",
                          (first,))
    data = np.fromiter(itertools.chain.from_iterable(cursor), np.float64)
    data = data.reshape(-1, 1 + len(names))
    return data[:, 0].astype(np.int64), [np.ascontiguousarray(c) for c in data.T[1:]]


def _layout(text: str, names: list[str]) -> tuple[int, list, list]:
    """(block width, [(output row, block column)], [output rows the block lacks]); width 0 when
    `text` is not a column list starting with "step"."""
    try:
        columns = json.loads(text)
    except (TypeError, ValueError):
        return 0, [], []
    if not isinstance(columns, list) or not columns or columns[0] != "step":
        return 0, [], []
    index = {name: i for i, name in enumerate(columns)}
    pairs = [(0, 0)] + [(1 + j, index[n]) for j, n in enumerate(names) if n in index]
    missing = [1 + j for j, n in enumerate(names) if n not in index]
    return len(columns), pairs, missing
