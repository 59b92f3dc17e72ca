"""A stored run's curves for a LossPlotPanel: read them from an open Run (any thread), then hand
them to the panel (GUI thread). Used to open a run in the Runs tab, to follow one, and to show a
resumed run's earlier steps in the live plot.
"""
from __future__ import annotations

from .loss_data import FIELDS

#: Curves the plot draws, by the run-store column feeding them.
PLOT_STEP_NAMES = tuple(FIELDS["step"].values()) + tuple(FIELDS["schedule"].values())
PLOT_EPOCH_NAMES = tuple(FIELDS["epoch"].values()) + tuple(FIELDS["val"].values())
#: What the browser's follower reads per poll: only what the plot draws.
FOLLOWED_STEP_NAMES = PLOT_STEP_NAMES + ("wall_time",)


def feed_steps(plot, data: dict) -> None:
    """Append {column: (steps, values)} (as RunFollower.steps_added sends) to the plot."""
    walls = data.get("wall_time", (None, None))[1]
    for name in PLOT_STEP_NAMES:
        if name in data:
            steps, values = data[name]
            plot.add_step_arrays(f"step:{name}", steps, values, walls)


def feed_epochs(plot, data: dict) -> None:
    """Append {column: (epochs, values)} (as RunFollower.epochs_added sends) to the plot."""
    steps = data.get("step", (None, None))[1]
    walls = data.get("wall_time", (None, None))[1]
    for name in PLOT_EPOCH_NAMES:
        if name in data:
            epochs, values = data[name]
            plot.add_epoch_arrays(f"epoch:{name}", epochs, values, steps, walls)


def read_run_curves(run, until_step: int | None = None, until_epoch: int | None = None) -> dict:
    """Every stored series the plot draws, read from an open Run (any thread): one scan of the
    step table (`metrics_since`), then the small epoch table column by column. `until_step` and
    `until_epoch` leave out later rows (a resumed run writes those again)."""
    started = run.events(kind="run_started")
    present = set(run.metric_names("step"))
    names = [n for n in PLOT_STEP_NAMES if n in present]
    steps, values = run.metrics_since(-1, names + ["wall_time"])
    if until_step is not None:
        keep = steps <= until_step
        steps, values = steps[keep], {n: v[keep] for n, v in values.items()}
    present = set(run.metric_names("epoch")) | {"step", "wall_time"}
    epochs = {n: run.metric(n, per="epoch") for n in (*PLOT_EPOCH_NAMES, "step", "wall_time")
              if n in present}
    if until_epoch is not None:
        epochs = {n: (x[x <= until_epoch], v[x <= until_epoch]) for n, (x, v) in epochs.items()}
    return {"steps_per_epoch": started[-1].payload.get("steps_per_epoch") if started else None,
            "steps": {n: (steps, v) for n, v in values.items()} if len(steps) else {},
            "epochs": epochs if len(epochs["step"][0]) else {}}


def feed_run_curves(plot, curves: dict) -> None:
    """Hand what read_run_curves returned to a LossPlotPanel (GUI thread)."""
    if curves["steps_per_epoch"]:
        plot.set_steps_per_epoch(int(curves["steps_per_epoch"]))
    feed_steps(plot, curves["steps"])
    feed_epochs(plot, curves["epochs"])


def load_run_into_plot(run, plot) -> None:
    """Bulk-load every stored curve of `run` (an open Run) into a LossPlotPanel, on this thread."""
    feed_run_curves(plot, read_run_curves(run))
