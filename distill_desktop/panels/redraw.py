"""Timer-driven redraws for plot panels: coalesced, and skipped while the panel is hidden."""
from __future__ import annotations


class RedrawWhenShown:
    """Mixin for a QWidget with a single-shot `_timer` wired to its redraw.

    Data arriving marks the panel dirty; the timer redraws at most once per interval, never once
    per event. A panel on a hidden tab draws nothing (painting is most of the GUI's cost while
    training) and catches up when it is shown."""

    def _mark_dirty(self):
        if not self.isVisible():
            self._redraw_on_show = True
            return
        if not self._timer.isActive():
            self._timer.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if getattr(self, "_redraw_on_show", False):
            self._redraw_on_show = False
            self._mark_dirty()
