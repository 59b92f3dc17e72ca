"""A run's training time from its store: the trainer's own clock, not the wall-clock span.

The trainer counts training time (the elapsed-seconds field of every epoch row and of `run_finished`):
time between a stop and a resume, and pauses (since this version), are not in it. The span of the
rows' wall times counts both, so it is only the fallback, for runs whose store lacks the figures.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sqlite3

from ..training.events import EpochMetrics, RunFinished, metric_names

#: the training-time field: the progress metric of epochs that RunFinished carries as well
TRAINED = next(name for name in metric_names(EpochMetrics, kind="progress")
               if name in {f.name for f in dataclasses.fields(RunFinished)})
_LAST_EPOCH = f"SELECT {TRAINED} FROM epoch_metrics ORDER BY epoch DESC LIMIT 1"
_LAST_FINISH = "SELECT payload FROM events WHERE kind = 'run_finished' ORDER BY id DESC LIMIT 1"


def training_seconds(conn: sqlite3.Connection) -> float | None:
    """The run's training time so far in seconds, or None when the store does not record it."""
    found = []
    try:
        row = conn.execute(_LAST_EPOCH).fetchone()
        if row and isinstance(row[0], (int, float)):
            found.append(float(row[0]))
    except sqlite3.OperationalError:
        pass  # a store from before the training time was recorded
    try:
        row = conn.execute(_LAST_FINISH).fetchone()
        payload = json.loads(row[0]) if row and row[0] else {}
        value = payload.get(TRAINED) if isinstance(payload, dict) else None
        if isinstance(value, (int, float)):
            found.append(float(value))
    except (sqlite3.OperationalError, ValueError):
        pass
    found = [t for t in found if math.isfinite(t) and t > 0]
    return max(found) if found else None
