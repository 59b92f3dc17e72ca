"""A stored run as rows for a RunSeries (models.run_series): read from an open Run (any thread),
then handed to `RunSeries.extend` (the GUI thread's series). Used to open a run in the Runs tab, to
overlay runs, and to show a continued run's earlier steps in the live plot.
"""
from __future__ import annotations

import numpy as np

from .loss_data import PLOT_EPOCH_NAMES, PLOT_STEP_NAMES
from .run_series import EPOCH_KEY, EPOCH_KEYS, STEP_KEY, STEP_KEYS, RunSeries

#: What the browser's follower reads per poll: only what the plot draws (and the step keys).
FOLLOWED_STEP_NAMES = (*PLOT_STEP_NAMES, *(k for k in STEP_KEYS if k != STEP_KEY))


def aligned(keys: np.ndarray, x: np.ndarray, values: np.ndarray) -> np.ndarray:
    """values (at keys x) placed at `keys`; NaN where x has no row."""
    if np.array_equal(keys, x):
        return values
    out = np.full(len(keys), np.nan)
    where = np.searchsorted(x, keys)
    found = where < len(x)
    found[found] = x[where[found]] == keys[found]
    out[found] = values[where[found]]
    return out


def read_run_rows(run, step_names=PLOT_STEP_NAMES, epoch_names=PLOT_EPOCH_NAMES,
                  until_step: int | None = None, until_epoch: int | None = None) -> dict:
    """The keyword arguments of RunSeries.extend for a stored run: {"steps": rows, "epochs": rows,
    "steps_per_epoch": n}. One scan of the step table (`metrics_since`), then the small epoch table
    column by column. `until_step` / `until_epoch` leave out later rows (a continued run writes
    those again)."""
    started = run.events(kind="run_started")
    wanted = list(dict.fromkeys((*step_names, *(k for k in STEP_KEYS if k != STEP_KEY))))
    steps, values = run.metrics_since(-1, wanted)      # (a column the run lacks reads NaN)
    if until_step is not None:
        keep = steps <= until_step
        steps, values = steps[keep], {n: v[keep] for n, v in values.items()}
    step_rows = {STEP_KEY: steps.astype(np.float64), **values} if len(steps) else {}
    present = set(run.metric_names("epoch")) | set(EPOCH_KEYS)
    epochs, _ = run.metric(STEP_KEY, per="epoch")
    if until_epoch is not None:
        epochs = epochs[epochs <= until_epoch]
    epoch_rows = {EPOCH_KEY: epochs.astype(np.float64)} if len(epochs) else {}
    if epoch_rows:
        for name in dict.fromkeys((*EPOCH_KEYS, *epoch_names)):
            if name in present and name != EPOCH_KEY:
                x, v = run.metric(name, per="epoch")
                epoch_rows[name] = aligned(epochs, x, v)
    return {"steps": step_rows, "epochs": epoch_rows,
            "steps_per_epoch": started[-1].payload.get("steps_per_epoch") if started else None}


def series_from_run(run, step_names=PLOT_STEP_NAMES, epoch_names=PLOT_EPOCH_NAMES) -> RunSeries:
    """A RunSeries of a stored run (an overlay's), fed as every other source is."""
    series = RunSeries(step_names, epoch_names)
    series.extend(**read_run_rows(run, step_names, epoch_names))
    return series


def load_run_into_plot(run, plot) -> None:
    """Bulk-load every stored curve of `run` (an open Run) into a LossPlotPanel, on this thread."""
    plot.series.extend(**read_run_rows(run))
