"""Timer-driven redraws for plot panels: coalesced, held to a CPU budget while data streams in,
and skipped while the panel is hidden.

Training on the CPU shares the cores with the window, and every millisecond the GUI thread spends
drawing is taken from training (on a 2-core machine probably about twice over: torch's other
worker thread waits at its barrier for the one the GUI preempted). So redraws caused by arriving data may use at
most DATA_REDRAW_CPU_SHARE of the machine's CPU time: after a frame that cost c seconds of GUI-thread
CPU (redraw plus paint), the next data-driven redraw waits c / (share x cores), and never less than
the panel's REDRAW_INTERVAL_MS. What a person does (zoom, pan, toggles, resizing) redraws after the
short interval, unbudgeted.
"""
from __future__ import annotations

import os
import time

import pyqtgraph as pg
from PySide6 import QtCore

#: share of the machine's CPU time (all cores) that redraws for streaming data may use
DATA_REDRAW_CPU_SHARE = 0.0025
_PAINT_FOLLOWS_WITHIN_S = 1.0     # a paint later than this after a redraw is not that redraw's


def machine_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def data_redraw_delay(frame_cpu_s: float, since_last_s: float, min_interval_s: float,
                      cores: int, share: float = DATA_REDRAW_CPU_SHARE) -> float:
    """Seconds to wait before redrawing for new data, given what the last frame cost and how long
    ago it started: frames of c CPU seconds at most every c / (share x cores) seconds."""
    period = frame_cpu_s / (share * max(cores, 1))
    return max(min_interval_s, period - since_last_s)


class ReportsPaints:
    """Mixin for a pyqtgraph GraphicsView: calls `on_painted()` (when set) after each viewport paint."""

    on_painted = None

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.on_painted is not None:
            self.on_painted()


class ReportingGraphicsLayoutWidget(ReportsPaints, pg.GraphicsLayoutWidget):
    pass


class ReportingPlotWidget(ReportsPaints, pg.PlotWidget):
    pass


class RedrawWhenShown:
    """Mixin for a QWidget that draws in `redraw_now()` and paints through a ReportsPaints view.

    Call `_init_redraw(view)` once; then `_data_arrived()` when data comes in (budgeted) and
    `_mark_dirty()` when what is shown must change soon (a person's action). A panel on a hidden
    tab draws nothing (painting is most of the GUI's cost while training) and catches up when shown.
    """

    REDRAW_INTERVAL_MS = 100

    def _init_redraw(self, view: ReportsPaints) -> None:
        self._timer = QtCore.QTimer(self, singleShot=True, interval=self.REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._redraw_from_timer)
        view.on_painted = self._painted
        self._redraw_on_show = False
        self._frame_cpu_s = 0.0               # GUI-thread CPU of the last timed frame
        self._frame_started = None            # (thread CPU, wall) at the last redraw's start
        self._last_redraw_wall = -float("inf")
        self._cores = machine_cores()

    def frame_cpu_seconds(self) -> float:
        """GUI-thread CPU time the last timer-driven frame took (redraw and its paint)."""
        return self._frame_cpu_s

    def _redraw_from_timer(self) -> None:
        cpu, wall = time.thread_time(), time.perf_counter()
        self._frame_started, self._last_redraw_wall = (cpu, wall), wall
        self.redraw_now()
        self._frame_cpu_s = time.thread_time() - cpu     # until its paint reports

    def _painted(self) -> None:
        if self._frame_started is None:
            return
        cpu, wall = self._frame_started
        self._frame_started = None
        if time.perf_counter() - wall < _PAINT_FOLLOWS_WITHIN_S:
            self._frame_cpu_s = time.thread_time() - cpu

    def _held_while_hidden(self) -> bool:
        """True (and a redraw noted for when the panel is shown) while the panel is hidden."""
        if self.isVisible():
            return False
        self._redraw_on_show = True
        return True

    def _data_arrived(self) -> None:
        if self._held_while_hidden() or self._timer.isActive():
            return
        delay = data_redraw_delay(self._frame_cpu_s, time.perf_counter() - self._last_redraw_wall,
                                  self.REDRAW_INTERVAL_MS / 1e3, self._cores)
        self._timer.start(round(delay * 1e3))

    def _mark_dirty(self) -> None:
        if self._held_while_hidden():
            return
        if not self._timer.isActive() or self._timer.remainingTime() > self.REDRAW_INTERVAL_MS:
            self._timer.start(self.REDRAW_INTERVAL_MS)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._redraw_on_show:
            self._redraw_on_show = False
            self._mark_dirty()
