"""Screenshot of the Listen tab mid-training on the demo corpus (run under a display).

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" \
        .venv/bin/python scripts/screenshot_listen.py docs/listen.png [--previews N]

Trains with a preview every few seconds, waits until N preview epochs are written, shows the
Listen tab (the newest epoch comes up by itself), plays the first reconstruction when an audio
output exists (the playhead is then drawn) and grabs the window. The run uses a temporary data
directory, so nothing is left behind.
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path)
    parser.add_argument("--previews", type=int, default=4, help="preview epochs written before the shot")
    parser.add_argument("--size", default="1320x820", help="window size (the default window is 1320x820)")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="distill-screenshot-")
    os.environ["DISTILL_DATA_DIR"] = data
    os.environ["DISTILL_CACHE_DIR"] = str(Path(data) / "cache")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from distill_desktop.main_window import MainWindow
    from distill_engine.config.schema import TrainingConfig

    app = QApplication(sys.argv)
    window = MainWindow(settings=QSettings(str(Path(data) / "settings.ini"), QSettings.IniFormat))
    window.config_editor.set_config(TrainingConfig(epochs=400, batch_size=8, chunk_duration=0.5, device="cpu",
                                                   preview_interval_s=3.0))
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.show()
    window.confirm_close = lambda: True
    listen = window.listen_panel
    state = {"played": False}

    def start_when_ready():
        if window.train_action.isEnabled():
            window.train_action.trigger()
        else:
            QTimer.singleShot(200, start_when_ready)

    def shoot_when_far_enough():
        if len(listen.epochs()) < args.previews or listen.shown_epoch() != max(listen.epochs()):
            QTimer.singleShot(250, shoot_when_far_enough)
            return
        if window.tabs.currentWidget() is not listen:
            window.tabs.setCurrentWidget(listen)
            QTimer.singleShot(300, shoot_when_far_enough)
            return
        recon = listen.clip_rows[0][1] if listen.clip_rows else None
        if not state["played"] and recon is not None and recon.play_button.isEnabled():
            state["played"] = True
            recon.play()
            QTimer.singleShot(350, shoot_when_far_enough)     # the playhead moves into the clip
            return
        app.processEvents()
        shot = window.screen().grabWindow(window.winId())
        shot.save(str(args.output))
        print(f"saved {args.output}: epochs listed {listen.epochs()}, shown {listen.shown_epoch()}, "
              f"status: {window.status.text()}; playing: {window.player.playing_key or 'nothing'}")
        window.close()
        app.quit()

    QTimer.singleShot(300, start_when_ready)
    QTimer.singleShot(1000, shoot_when_far_enough)
    code = app.exec()
    import shiboken6
    shiboken6.delete(window)
    return code


if __name__ == "__main__":
    sys.exit(main())
