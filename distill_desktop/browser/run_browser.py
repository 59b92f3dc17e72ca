"""The run browser: the runs panel and the selected run's checkpoints side by side, wired to a
LossPlotPanel that the window shows elsewhere.

Open a run: its stored rows go into the plot's series (run_curves.read_run_rows -> RunSeries.extend). Overlay selected runs: one
component (chosen in a combo box) of each run, one colour per run, the legend naming the runs; each
run is read into a RunSeries of its own (run_curves.series_from_run), so an overlay and the plot
place steps on x the same way.
Follow a run: a RunFollower feeds the plot's series and the runs table's status cell as rows are
committed.
Resume from a checkpoint is re-emitted as `resume_requested` for the window, which starts training
(see distill_engine.runs.admin.resume_trainer).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton,
                               QSplitter, QVBoxLayout, QWidget)

from distill_engine.errors import DistillError
from distill_engine.runs.reader import open_run
from distill_engine.training.events import EpochMetrics, StepMetrics, metric_names

from .checkpoints_panel import CheckpointsPanel
from .runs_panel import RunsPanel
from ..models.loss_data import FIELDS, SCHEDULES
from ..models.run_curves import FOLLOWED_STEP_NAMES, read_run_rows, series_from_run
from ..bridge.background import BackgroundJobs
from ..bridge.run_follower import RunFollower
from ..widgets.plot_export import PlotExportError, export_view

#: Components offered for overlays, (label, metric, per): per step the plotted losses, the measures
#: and the schedules; per epoch the validation losses and measures, then the epoch training total.
OVERLAY_COMPONENTS = (
    *((name, name, "step") for name in (*FIELDS["step"].values(), *metric_names(StepMetrics, kind="measure"),
                                        *SCHEDULES)),
    *((name, name, "epoch") for name in (*FIELDS["val"].values(), *metric_names(EpochMetrics, kind="measure"))),
    (f"{FIELDS['epoch']['total']} (epoch)", FIELDS["epoch"]["total"], "epoch"),
)


def _read_run(job, run_dir: str):
    """(rows for RunSeries.extend, name, status) of a stored run (a background job)."""
    with open_run(run_dir) as run:
        return read_run_rows(run), run.name, run.status


def overlay_xy(run, name: str, per: str, x_mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(x in the plot's x mode, values) of one metric of a run, for add_run_overlay: the run read
    into a RunSeries of its own, as the plot's is (one step -> epoch mapping, one wall-time origin)."""
    series = series_from_run(run, (name,) if per == "step" else (), (name,) if per == "epoch" else ())
    return series.xy(name, per, x_mode)


def overlay_labels(runs) -> list[str]:
    """Legend labels of overlaid runs, [(name, id)] in order: the name the run store gives each,
    "name (id)" for every run whose name another overlaid run shares (the id when it has none)."""
    names = [name or run_id for name, run_id in runs]
    return [f"{name} ({run_id})" if names.count(name) > 1 else name
            for name, (_, run_id) in zip(names, runs)]


class RunBrowser(QWidget):
    """RunsPanel + CheckpointsPanel driving `plot_panel` (a LossPlotPanel shown elsewhere)."""

    resume_requested = Signal(str, str, str)   # run_dir, checkpoint path, "continue" | "new"
    run_loaded = Signal(str)

    def __init__(self, plot_panel, runs_dirs, parent=None):
        super().__init__(parent)
        self.plot = plot_panel
        self.runs = RunsPanel(runs_dirs)
        self.checkpoints = CheckpointsPanel()
        self.follower = RunFollower(self, step_names=FOLLOWED_STEP_NAMES)
        self.followed: str | None = None
        self.overlaid: list[str] = []
        self.jobs = BackgroundJobs()     # opening a run
        self._opening = ""
        self.component_combo = QComboBox()
        for label, name, per in OVERLAY_COMPONENTS:
            self.component_combo.addItem(label, (name, per))
        self.export_button = QPushButton("Export plot…", clicked=lambda: self.export_plot_as())
        self.status = QLabel("")
        bar = QHBoxLayout()
        for widget in (QLabel("Overlay component"), self.component_combo, self.export_button):
            bar.addWidget(widget)
        bar.addStretch(1)
        bar.addWidget(self.status)
        splitter = self.splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.runs)
        splitter.addWidget(self.checkpoints)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)

        self.runs.run_opened.connect(self.open_run_dir)
        self.runs.overlay_requested.connect(self.overlay)
        self.runs.follow_requested.connect(self.follow)
        self.runs.current_run_changed.connect(lambda d: d and self.checkpoints.set_run(d))
        self.checkpoints.resume_requested.connect(self.resume_requested)
        self.component_combo.currentIndexChanged.connect(lambda _: self._redo_overlay())
        self.plot.x_mode_combo.currentTextChanged.connect(lambda _: self._redo_overlay())
        self.follower.steps_added.connect(lambda rows: self.plot.series.extend(steps=rows))
        self.follower.epochs_added.connect(lambda rows: self.plot.series.extend(epochs=rows))
        self.follower.events_added.connect(self._on_events)
        self.follower.status_changed.connect(self._on_status)
        self.follower.error.connect(lambda text: self.status.setText(f"Cannot read: {text}"))

    #: below this width the checkpoints go under the runs instead of beside them
    SIDE_BY_SIDE_MIN_WIDTH = 1100

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        wide = event.size().width() >= self.SIDE_BY_SIDE_MIN_WIDTH
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.splitter.orientation() != orientation:
            self.splitter.setOrientation(orientation)

    # -- actions -------------------------------------------------------------------------------
    def open_run_dir(self, run_dir) -> None:
        """Show a stored run's curves in the plot (stops following, clears overlays). The curves are
        read off the GUI thread; `run_loaded` fires once they are in the plot."""
        self.stop_following()
        self.plot.clear()
        self.plot.clear_overlays()
        self.overlaid = []
        self._opening = str(run_dir)
        self.status.setText(f"Opening {Path(run_dir).name}…")
        self.checkpoints.set_run(run_dir)
        self.jobs.start(_read_run, str(run_dir), on_result=self._on_loaded, on_error=self._on_open_failed)

    def _on_open_failed(self, exc: Exception, details: str) -> None:
        if not isinstance(exc, (DistillError, KeyError)):
            raise exc                   # an internal bug stays loud
        self.status.setText("")
        self.runs.show_error("Open run", str(exc))

    def _on_loaded(self, result) -> None:
        run_dir = self._opening
        rows, name, status = result
        self.plot.series.extend(**rows)
        self.status.setText(f"{name}: {status}")
        self.run_loaded.emit(run_dir)

    def overlay(self, run_dirs) -> None:
        """Draw the chosen component of each run in its own colour, legend naming the runs."""
        self.stop_following()
        self.plot.clear()
        self.plot.clear_overlays()
        self.overlaid = [str(d) for d in run_dirs]
        name, per = self.component_combo.currentData()
        x_mode = self.plot.x_mode_combo.currentText()
        loaded, problems = [], []
        for run_dir in self.overlaid:
            try:
                with open_run(run_dir) as run:
                    loaded.append((overlay_xy(run, name, per, x_mode), run.name, run.id))
            except (DistillError, KeyError) as exc:
                problems.append(f"{Path(run_dir).name}: {exc}")
        labels = overlay_labels([(run_name, run_id) for _, run_name, run_id in loaded])
        for i, ((x, y), label) in enumerate(zip((xy for xy, _, _ in loaded), labels)):
            color = pg.intColor(i, hues=max(len(loaded), 2))
            self.plot.add_run_overlay(label, name, x, y, color)
        self.status.setText(f"Overlay of {name} across {len(labels)} runs"
                            + (f"; skipped {'; '.join(problems)}" if problems else ""))

    def _redo_overlay(self):
        if self.overlaid:
            self.overlay(self.overlaid)

    def follow(self, run_dir) -> None:
        """Show a run that is being written and keep its curves and status up to date."""
        self.stop_following()
        self.plot.clear()
        self.plot.clear_overlays()
        self.overlaid = []
        self.followed = str(run_dir)
        self.checkpoints.set_run(run_dir)
        self.status.setText(f"Following {Path(run_dir).name}")
        self.follower.start(run_dir)

    def stop_following(self) -> None:
        self.jobs.cancel()              # a run still being opened is not shown any more
        self.follower.stop()
        self.followed = None

    def _on_status(self, status: str) -> None:
        if self.followed:
            self.runs.set_status(self.followed, status)
            self.status.setText(f"Following {Path(self.followed).name}: {status}")

    def _on_events(self, events) -> None:
        for event in events:
            if event.kind == "run_started" and event.payload.get("steps_per_epoch"):
                self.plot.series.extend(steps_per_epoch=int(event.payload["steps_per_epoch"]))
        if any(e.kind == "checkpoint" for e in events) and self.followed and \
                self.checkpoints.run_dir == Path(self.followed):
            self.checkpoints.reload()

    def export_plot(self, path, size=None) -> Path:
        """Save the plot as the person sees it: SVG by the suffix, else an image (PNG, JPEG), at the
        view's on-screen size or `size` (a QSize). Raises PlotExportError."""
        self.plot.redraw_now()
        return export_view(self.plot.view, path, size)

    def export_plot_as(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plot", "plot.png",
                                              "PNG image (*.png);;SVG image (*.svg)")
        if path:
            try:
                self.export_plot(path)
            except PlotExportError as exc:
                self.runs.show_error("Export plot", str(exc))

    def shutdown(self) -> None:
        """Stop the follower's thread and wait for a listing in progress (call before closing)."""
        self.stop_following()
        self.checkpoints.shutdown()
        self.jobs.wait()
        self.runs.wait()

    def closeEvent(self, event):
        self.shutdown()
        super().closeEvent(event)
