"""Screenshot of the Distill window mid-training on the demo corpus (run under a display).

Run it with scripts/screenshot.sh, which starts a virtual X display (Xvfb). The run uses a
temporary data directory, so nothing is left behind.
Usage: python scripts/screenshot.py OUTPUT.png [--epochs-before-shot N] [--hover] [--smoothing S]
       python scripts/screenshot.py docs/listen.png --listen-after N [--size 1320x820]
With --listen-after the run writes a preview every few seconds; once N preview epochs are written
the Listen tab is shown (the newest epoch comes up by itself), the first reconstruction is played
when an audio output exists (its playhead is drawn) and the window is grabbed. So that a busy
machine still shows several epochs within minutes, the previews' share of training time is not
capped for the shot (distill_engine.previews.session.COST_BUDGET; the app keeps it at 3 %).
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=Path)
    parser.add_argument("--epochs-before-shot", type=int, default=40)
    parser.add_argument("--listen-after", type=int, default=0, metavar="N",
                        help="shoot the Listen tab once N preview epochs are written")
    parser.add_argument("--size", default="1500x900", help="window size, WIDTHxHEIGHT")
    parser.add_argument("--hover", action="store_true",
                        help="move the mouse over the loss plot before the shot (its readout shows)")
    parser.add_argument("--smoothing", type=float, default=0.0, help="the loss plot's smoothing")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="distill-screenshot-")
    os.environ["DISTILL_DATA_DIR"] = data
    os.environ["DISTILL_CACHE_DIR"] = str(Path(data) / "cache")

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from distill_desktop.main_window import MainWindow
    from distill_engine.config.schema import TrainingConfig

    app = QApplication(sys.argv)
    window = MainWindow(settings=QSettings(str(Path(data) / "settings.ini"), QSettings.IniFormat))
    config = TrainingConfig(epochs=120, batch_size=8, chunk_duration=0.5, device="cpu")
    if args.listen_after:
        config.epochs, config.preview_interval_s = 400, 3.0    # previews every few seconds
        from distill_engine.previews import session

        session.COST_BUDGET = 1.0
    window.config_editor.set_config(config)
    window.resize(*(int(v) for v in args.size.split("x")))
    window.plot_panel.set_smoothing(args.smoothing)
    window.show()
    window.confirm_close = lambda: True

    def start_when_ready():
        if window.train_action.isEnabled():
            window.train_action.trigger()
        else:
            QTimer.singleShot(200, start_when_ready)

    listen, played, hovered = window.listen_panel, [], []

    def hover_over_the_plot():
        """A real mouse move (through the display server) to 60 % across, 35 % down the loss plot."""
        from PySide6.QtCore import QPoint
        from PySide6.QtTest import QTest

        view = window.plot_panel.view.viewport()
        rect = window.plot_panel.plot.vb.sceneBoundingRect()
        target = window.plot_panel.view.mapFromScene(rect.left() + 0.6 * rect.width(),
                                                     rect.top() + 0.35 * rect.height())
        QTest.mouseMove(view, QPoint(target.x(), target.y()))
        return True

    def listen_tab_ready() -> bool:
        """Shows the Listen tab with the newest preview, then plays a clip; True once both are done."""
        epochs = listen.epochs()
        if len(epochs) < args.listen_after or listen.shown_epoch() != max(epochs):
            return False
        if window.tabs.currentWidget() is not listen:
            window.tabs.setCurrentWidget(listen)
            return False
        recon = listen.clip_rows[0][1] if listen.clip_rows else None
        if not played and recon is not None and recon.play_button.isEnabled():
            played.append(recon.play())
            return False
        return True

    def shoot_when_far_enough():
        status = window.status.text()
        epochs_done = len(window.plot_panel.curve_data("val_loss")[0])
        if listen_tab_ready() if args.listen_after else epochs_done >= args.epochs_before_shot:
            if args.hover and not hovered:
                hovered.append(hover_over_the_plot())
                QTimer.singleShot(400, shoot_when_far_enough)    # the readout follows within 50 ms
                return
            window.plot_panel.redraw_now()
            window.contribution_panel.redraw_now()
            app.processEvents()
            shot = window.screen().grabWindow(window.winId())
            shot.save(str(args.output))
            print(f"saved {args.output} at: {status}" + (f"; previews listed {listen.epochs()}, shown "
                  f"{listen.shown_epoch()}, playing {window.player.playing_key or 'nothing'}"
                  if args.listen_after else ""))
            window.close()
            app.quit()
        else:
            QTimer.singleShot(250, shoot_when_far_enough)

    QTimer.singleShot(300, start_when_ready)
    QTimer.singleShot(1000, shoot_when_far_enough)
    code = app.exec()
    import shiboken6
    shiboken6.delete(window)
    return code


if __name__ == "__main__":
    sys.exit(main())
