"""TrainingStatus: the status-bar widget (epoch and step progress, steps/s, ETA, device)."""
from __future__ import annotations

import math

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QWidget

from distill_engine.training.reporting import format_duration


class TrainingStatus(QWidget):
    """Formats the engine's numbers; computes nothing of its own.

    Updates are coalesced (at most 4 a second) and the label never changes its size hint, so a
    new step repaints this widget only, not the window around it (a relayout repainted the whole
    window, plots included, several times a second)."""

    REFRESH_MS = 250

    def __init__(self, parent=None):
        super().__init__(parent)
        self.label = QLabel("Ready")
        self.label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.label.setMinimumWidth(200)
        self.progress = QProgressBar(maximumWidth=220, textVisible=True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.progress)
        self._device = ""
        self._epoch = (0, 0)
        self._step = (0, 0)
        self._rate = math.nan
        self._eta = math.nan
        self._state = "Ready"
        self._timer = QTimer(self, singleShot=True, interval=self.REFRESH_MS)
        self._timer.timeout.connect(self._refresh)

    def run_started(self, event) -> None:
        self._device = event.device
        self._epoch = (event.start_epoch, event.total_epochs)
        self._step = (event.start_step, event.total_steps)
        self._state = "Training"
        self.progress.setRange(0, max(event.total_steps, 1))
        self._refresh()

    def reset(self, state: str) -> None:
        """Forget the previous run's epoch, step, rate, ETA and device (a new run is loading)."""
        self._device, self._epoch, self._step, self._rate, self._eta = "", (0, 0), (0, 0), math.nan, math.nan
        self.progress.setValue(0)
        self.set_state(state)

    def steps(self, events: list) -> None:
        last = events[-1]
        self._step = (last.step, last.total_steps)
        self._epoch = (last.epoch - 1, self._epoch[1])
        times = [e.step_time_s for e in events if e.step_time_s > 0]
        if times:  # smoothed: one step's time jumps with checkpoints, validation and the GUI's own work
            rate = len(times) / sum(times)
            self._rate = rate if not math.isfinite(self._rate) else 0.8 * self._rate + 0.2 * rate
        if not self._timer.isActive():
            self._timer.start()

    def epoch(self, event) -> None:
        self._epoch = (event.epoch, event.total_epochs)
        self._eta = event.eta_seconds
        self._refresh()

    def set_state(self, text: str) -> None:
        self._state = text
        self._refresh()

    def text(self) -> str:
        return self.label.text()

    def _refresh(self) -> None:
        self._timer.stop()
        parts = [self._state]
        if self._epoch[1]:
            parts.append(f"epoch {self._epoch[0]}/{self._epoch[1]}")
            parts.append(f"step {self._step[0]}/{self._step[1]}")
        if self._state.startswith("Paused"):
            pass  # the state says so; a rate would go stale
        elif math.isfinite(self._rate):
            parts.append(f"{self._rate:.2f} steps/s")
        if math.isfinite(self._eta):
            parts.append(f"ETA {format_duration(self._eta)}")
        if self._device:
            parts.append(self._device)
        self.label.setText("  ·  ".join(parts))
        self.progress.setValue(self._step[0])
