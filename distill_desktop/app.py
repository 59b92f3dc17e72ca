"""`distill-desktop`: start the Distill window (torch loads later, on the training thread)."""
from __future__ import annotations

import sys


def main(argv=None) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .gc_pauses import freeze_long_lived_objects
    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv))
    app.setApplicationName("Distill")
    app.setOrganizationName("Distill")
    window = MainWindow()
    window.show()
    QTimer.singleShot(0, freeze_long_lived_objects)     # once the window is up (see gc_pauses)
    code = app.exec()
    # Delete the window (and its pyqtgraph scenes) while Qt is still whole: left to interpreter
    # teardown, the C++ objects can be destroyed after QApplication and crash on exit.
    import shiboken6
    shiboken6.delete(window)
    return code


if __name__ == "__main__":
    sys.exit(main())
