"""Reading the previews table (schema.py) of a run: which epochs have previews, and their rows.

Used through `Run.preview_epochs()` / `Run.previews(epoch)` (reader.py). A run written before
previews existed has no previews table and reads as having none.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .schema import PREVIEW_KINDS

_ORDER = {kind: i for i, kind in enumerate(PREVIEW_KINDS)}


@dataclass(frozen=True)
class PreviewRecord:
    """One preview audio file of a run.

    epoch: the epoch it was rendered at (0 for the fixed clips' originals).
    kind: "original", "reconstruction" or "sample".
    clip: the clip number (a sample's number for kind "sample").
    path: the absolute path of the file (it may since have been deleted or damaged).
    distance: MR-STFT distance to its original (a sample: to the nearest corpus chunk); NaN when
        not measured (originals).
    rms: the file's RMS level (linear, full scale 1.0).
    """

    epoch: int
    step: int | None
    kind: str
    clip: int
    path: Path
    distance: float
    rms: float


def preview_epochs(fetch, has_table: bool) -> list[int]:
    """Epochs (ascending) that have reconstructions or samples; `fetch(sql, params)` runs a query."""
    if not has_table:
        return []
    rows = fetch("SELECT DISTINCT epoch FROM previews WHERE kind != 'original' ORDER BY epoch", ())
    return [int(epoch) for (epoch,) in rows]


def preview_records(fetch, has_table: bool, run_dir: Path, epoch: int | None) -> list[PreviewRecord]:
    """The rows of one epoch plus the originals (epoch None: every row), ordered by epoch, kind
    (originals, reconstructions, samples) and clip."""
    if not has_table:
        return []
    sql = "SELECT epoch, step, kind, clip, file, distance, rms FROM previews"
    params: tuple = ()
    if epoch is not None:
        sql += " WHERE epoch = ? OR kind = 'original'"
        params = (int(epoch),)
    records = [PreviewRecord(int(e), None if s is None else int(s), str(k), int(c),
                             run_dir / str(f), _real(d), _real(r))
               for e, s, k, c, f, d, r in fetch(sql, params)]
    records.sort(key=lambda p: (p.kind != "original", p.epoch, _ORDER.get(p.kind, 99), p.clip))
    return records


def _real(value) -> float:
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan
