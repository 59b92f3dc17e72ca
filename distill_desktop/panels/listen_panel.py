"""The Listen tab: hear and see a run's previews, epoch by epoch.

For the chosen preview epoch: one row per reconstruction clip (its original beside its
reconstruction, with an A/B button that switches between the two at the same position), then the
samples; each a spectrogram on one shared colour scale with a play button, its distance and an
export button. The epoch list is newest first. For the run being trained (`set_run(dir,
live=True)` and `preview_added()` on each PreviewRendered) the newest epoch is shown as it arrives
while "Show the newest" is ticked; choosing an older epoch unticks it. A new epoch that arrives
while a clip of this tab plays is shown when the clip ends, so playback is never cut off.

Only the epoch on screen is read, off the GUI thread (bridge.background + models.previews; a newer request supersedes an older one): a run
with hundreds of preview epochs opens as fast as one with one. A file deleted or damaged since it
was written shows "missing" or "unreadable" in its cell; the rest of the tab works.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QGridLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QScrollArea, QVBoxLayout, QWidget)

from ..bridge.background import BackgroundJobs
from ..models.audio_clips import AudioClip, shared_levels
from ..models.previews import ORIGINAL, PreviewRead, format_epoch_label, format_figures, read_previews
from ..widgets.clip_view import ClipView
from ..widgets.spectrogram import colour_bar_pixmap

SAMPLE_COLUMNS = 2
CELL_HEIGHT = 120
#: PreviewRendered comes once the files are written and their rows queued; the rows are committed
#: moments later, so an epoch not yet in the store is looked for again this often, this many times.
RETRY_MS, RETRIES = 250, 40
AB_TIP = "Switch between the original and its reconstruction at the same position"
NO_RUN = "No run: train one, or open a run in the Runs tab."


class ListenPanel(QWidget):
    """See the module docstring."""

    shown = Signal(object)       # the PreviewRead now on screen (tests, benchmark)

    def __init__(self, player, parent=None):
        super().__init__(parent)
        self.player = player
        self.run_dir: Path | None = None
        self.live = False
        self.read: PreviewRead | None = None
        self._pending_newest = False
        self._awaited: int | None = None      # the epoch of a PreviewRendered not yet read back
        self._retries = 0
        self._retry = QTimer(self, singleShot=True, interval=RETRY_MS)
        self._retry.timeout.connect(self._read_again)
        self.jobs = BackgroundJobs()
        self.player.stopped.connect(self._on_player_stopped)
        self.player.failed.connect(lambda _key, reason: self.status.setText(f"Cannot play: {reason}"))
        self.player.availability_changed.connect(lambda _reason: self._enable_all_ab())
        self._build()

    def _build(self) -> None:
        self.title = QLabel(NO_RUN)
        self.title.setStyleSheet("font-weight: bold;")
        self.follow_box = QCheckBox("Show the newest preview")
        self.follow_box.setToolTip("While training, each new preview is shown as soon as it is written")
        self.follow_box.setChecked(True)
        self.follow_box.toggled.connect(self._on_follow_toggled)
        bar = QHBoxLayout()
        bar.addWidget(self.title, 1)
        bar.addWidget(self.follow_box)
        self.epoch_list = QListWidget()
        self.epoch_list.setFixedWidth(150)
        self.epoch_list.setToolTip("Preview epochs, newest first: step through them to hear the model change")
        self.epoch_list.currentItemChanged.connect(self._on_epoch_chosen)
        self.content = QWidget()
        self.grid = QGridLayout(self.content)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.clips_heading = QLabel("Reconstructions: original | reconstruction")
        self.samples_heading = QLabel("Samples (decoded from fixed latent vectors)")
        for heading in (self.clips_heading, self.samples_heading):
            heading.setStyleSheet("font-weight: bold; padding-top: 6px;")
        self.empty_label = QLabel("", wordWrap=True)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(self.content)
        body = QHBoxLayout()
        body.addWidget(self.epoch_list)
        body.addWidget(scroll, 1)
        self.status = QLabel("", wordWrap=True)
        self.scale_low, self.scale_high = QLabel(""), QLabel("")
        self.scale_bar = QLabel()
        self.scale_bar.setPixmap(colour_bar_pixmap())
        self.scale_bar.setToolTip("One colour scale for every spectrogram of the tab: log magnitude in dBFS, "
                                  "its top at the loudest original")
        footer = QHBoxLayout()
        footer.addWidget(self.status, 1)
        for widget in (self.scale_low, self.scale_bar, self.scale_high):
            footer.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addLayout(body, 1)
        layout.addLayout(footer)
        self.clip_rows: list[tuple[ClipView, ClipView, QPushButton]] = []
        self.sample_views: list[ClipView] = []
        self._relayout()                 # the headings and the empty-run note belong to the grid from the start

    # -- what to show --------------------------------------------------------------------------
    def set_run(self, run_dir, live: bool = False) -> None:
        """Show the previews of `run_dir` (None clears); `live`: it is being trained in this window."""
        self.run_dir = Path(run_dir) if run_dir else None
        self.live = live
        self.read = None
        self._pending_newest = False
        self._awaited = None
        self._retry.stop()
        self.epoch_list.blockSignals(True)
        self.epoch_list.clear()
        self.epoch_list.blockSignals(False)
        self.follow_box.setChecked(True)
        self._show(None)
        if self.run_dir is None:
            self.title.setText(NO_RUN)
            return
        self.title.setText(f"{self.run_dir.name}{' (training)' if live else ''}: reading previews…")
        self._read(self.run_dir, None)

    def preview_added(self, event=None) -> None:
        """A new preview epoch was written for the shown run (PreviewRendered, or None when only
        "look again" is known): list it, and show it if "Show the newest" is ticked (after the
        clip that plays, if one of ours does)."""
        if self.run_dir is None:
            return
        if event is not None:
            self._awaited, self._retries = int(event.epoch), 0
        self._read_again()

    def run_grew(self, run_dir) -> None:
        """Rows were committed to `run_dir` (a run followed from the Runs tab): look for new
        previews if it is the run shown."""
        if self.run_dir is not None and run_dir and Path(run_dir) == self.run_dir:
            self._read_again()

    def _read_again(self) -> None:
        if self.run_dir is None:
            return
        if self.follow_box.isChecked() and self._our_clip_plays():
            self._pending_newest = True
            self._read(self.run_dir, self.shown_epoch())
            return
        self._read(self.run_dir, None if self.follow_box.isChecked() else self.shown_epoch())

    def show_epoch(self, epoch: int) -> None:
        """Show preview epoch `epoch` of the current run."""
        if self.run_dir is not None:
            self._read(self.run_dir, int(epoch))

    def shown_epoch(self) -> int | None:
        return self.read.shown.epoch if self.read is not None and self.read.shown is not None else None

    def epochs(self) -> list[int]:
        """The epochs listed, in list order (newest first)."""
        return [self.epoch_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.epoch_list.count())]

    def _read(self, run_dir, epoch) -> None:
        """Read `epoch` (None: the newest) of `run_dir` off the GUI thread; supersedes a read in progress."""
        self.jobs.start(_read_job, run_dir, epoch, on_result=self._on_read, on_error=self._on_read_failed)

    # -- reads come back -----------------------------------------------------------------------
    def _on_read(self, read: PreviewRead) -> None:
        if self.run_dir is None or read.run_dir != self.run_dir:
            return
        if read.problem:
            self._show(None)
            self.title.setText(f"{read.run_dir.name}: cannot be read")
            self.status.setText(read.problem)
            return
        self._check_awaited(read)
        self.read = read
        self.title.setText(f"{read.name}{' (training)' if self.live else ''}: "
                           f"{len(read.epochs)} preview epoch{'s' if len(read.epochs) != 1 else ''}")
        self._fill_epoch_list(read)
        self._show(read)
        self.shown.emit(read)

    def _check_awaited(self, read: PreviewRead) -> None:
        if self._awaited is None:
            return
        if self._awaited in read.epochs:
            self._awaited = None
        elif self._retries < RETRIES:
            self._retries += 1
            self._retry.start()
        else:
            self.status.setText(f"The previews of epoch {self._awaited} were announced but are not in the "
                                f"run store")
            self._awaited = None

    def _on_read_failed(self, exc: Exception, details: str) -> None:
        self.status.setText(f"Reading the previews failed: {type(exc).__name__}: {exc}")
        self.status.setToolTip(details)

    def _fill_epoch_list(self, read: PreviewRead) -> None:
        self.epoch_list.blockSignals(True)
        if self.epochs() != list(read.epochs):
            self.epoch_list.clear()
            for epoch in read.epochs:
                item = QListWidgetItem(format_epoch_label(epoch))
                item.setData(Qt.ItemDataRole.UserRole, epoch)
                self.epoch_list.addItem(item)
        shown = self.shown_epoch()
        if shown is not None:
            self.epoch_list.setCurrentRow(list(read.epochs).index(shown))
            self.epoch_list.currentItem().setText(format_epoch_label(shown, read.shown.step))
        self.epoch_list.blockSignals(False)

    def _on_epoch_chosen(self, item, _previous=None) -> None:
        if item is None:
            return
        epoch = item.data(Qt.ItemDataRole.UserRole)
        newest = self.epoch_list.row(item) == 0
        self.follow_box.blockSignals(True)
        self.follow_box.setChecked(newest)
        self.follow_box.blockSignals(False)
        self._pending_newest = False
        if epoch != self.shown_epoch():
            self.show_epoch(epoch)

    def _on_follow_toggled(self, checked: bool) -> None:
        if checked and self.read is not None and self.read.epochs and self.shown_epoch() != self.read.epochs[0]:
            self.show_epoch(self.read.epochs[0])

    def _our_clip_plays(self) -> bool:
        return any(view.is_playing() for view in self._views())

    def _on_player_stopped(self, _key: str) -> None:
        if self._pending_newest and not self._our_clip_plays():
            self._pending_newest = False
            if self.follow_box.isChecked() and self.run_dir is not None:
                self._read(self.run_dir, None)

    # -- drawing -------------------------------------------------------------------------------
    def _views(self) -> list[ClipView]:
        return [v for row in self.clip_rows for v in row[:2]] + self.sample_views

    def _show(self, read: PreviewRead | None) -> None:
        shown = read.shown if read is not None else None
        clips = shown.clips if shown else ()
        samples = shown.samples if shown else ()
        self._ensure_views(len(clips), len(samples))
        loaded = []
        for r, (original_view, recon_view, ab) in enumerate(self.clip_rows):
            visible = r < len(clips)
            for widget in (original_view, recon_view, ab):
                widget.setVisible(visible)
            if visible:
                row = clips[r]
                for view, cell in ((original_view, row.original), (recon_view, row.reconstruction)):
                    self._fill(view, cell, read, shown.epoch, loaded)
                self._enable_ab(ab, original_view, recon_view)
        for s, view in enumerate(self.sample_views):
            view.setVisible(s < len(samples))
            if s < len(samples):
                self._fill(view, samples[s], read, shown.epoch, loaded)
        self.clips_heading.setVisible(bool(clips))
        self.samples_heading.setVisible(bool(samples))
        anchors = [c.spectrogram for c, cell in loaded if cell.kind == ORIGINAL]
        low, high = shared_levels([c.spectrogram for c, _ in loaded], anchors)
        for view in self._views():
            view.set_levels(low, high)
        self.scale_low.setText(f"{low:.0f} dBFS")
        self.scale_high.setText(f"{high:.0f} dBFS")
        self.empty_label.setVisible(shown is None)
        if read is None:
            self.empty_label.setText("")
            self.status.setText("")
        elif shown is None:
            self.empty_label.setText("This run has no previews yet. They are written at the end of an epoch "
                                     "(see the preview interval in the config).")
            self.status.setText("")
        else:
            problems = sum(1 for c in read.clips.values() if not isinstance(c, AudioClip))
            self.status.setText(f"{format_epoch_label(shown.epoch, shown.step)} · {len(clips)} clips, "
                                f"{len(samples)} samples"
                                + (f" · {problems} file{'s' if problems != 1 else ''} missing or unreadable"
                                   if problems else ""))

    def _fill(self, view: ClipView, cell, read, epoch: int, loaded: list) -> None:
        clip = read.clips.get(cell.key)
        view.set_title(cell.title, format_figures(cell))
        key = f"{read.run_dir}|{epoch if cell.kind != ORIGINAL else 0}|{cell.key}"
        view.set_clip(clip, key)
        if isinstance(clip, AudioClip):
            loaded.append((clip, cell))

    def _ensure_views(self, n_clips: int, n_samples: int) -> None:
        if len(self.clip_rows) >= n_clips and len(self.sample_views) >= n_samples:
            return
        while len(self.clip_rows) < n_clips:
            r = len(self.clip_rows)
            original, recon = ClipView(self.player, height=CELL_HEIGHT), ClipView(self.player, height=CELL_HEIGHT)
            ab = QPushButton("A/B ⇄")
            ab.setToolTip(AB_TIP)
            ab.clicked.connect(lambda _=False, row=r: self.switch_ab(row))
            for view in (original, recon):
                view.exported.connect(lambda path: self.status.setText(f"Exported {path}"))
                view.export_failed.connect(self.status.setText)
            self.clip_rows.append((original, recon, ab))
        while len(self.sample_views) < n_samples:
            view = ClipView(self.player, height=CELL_HEIGHT)
            view.exported.connect(lambda path: self.status.setText(f"Exported {path}"))
            view.export_failed.connect(self.status.setText)
            self.sample_views.append(view)
        self._relayout()

    def _relayout(self) -> None:
        grid = self.grid
        while grid.count():
            grid.takeAt(0)
        row = 0
        grid.addWidget(self.empty_label, row, 0, 1, 3)
        row += 1
        grid.addWidget(self.clips_heading, row, 0, 1, 3)
        row += 1
        for original, recon, ab in self.clip_rows:
            grid.addWidget(original, row, 0)
            grid.addWidget(recon, row, 1)
            grid.addWidget(ab, row, 2, Qt.AlignmentFlag.AlignVCenter)
            row += 1
        grid.addWidget(self.samples_heading, row, 0, 1, 3)
        row += 1
        for s, view in enumerate(self.sample_views):
            grid.addWidget(view, row + s // SAMPLE_COLUMNS, s % SAMPLE_COLUMNS)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)

    def _enable_all_ab(self) -> None:
        for original, recon, ab in self.clip_rows:
            self._enable_ab(ab, original, recon)

    def _enable_ab(self, ab: QPushButton, original: ClipView, recon: ClipView) -> None:
        if not self.player.available:
            ab.setEnabled(False)
            ab.setToolTip(self.player.unavailable_reason)
        elif original.clip is None or recon.clip is None:
            ab.setEnabled(False)
            ab.setToolTip("Both the original and the reconstruction must be readable to compare them")
        else:
            ab.setEnabled(True)
            ab.setToolTip(AB_TIP)

    # -- A/B -----------------------------------------------------------------------------------
    def switch_ab(self, row: int) -> None:
        """Play the other side of clip row `row` from where this one is (the original if neither plays)."""
        original, recon, _ = self.clip_rows[row]
        if original.is_playing():
            source, target = original, recon
        elif recon.is_playing():
            source, target = recon, original
        else:
            original.play()
            return
        position = self.player.position_s()
        if target.clip is not None:
            target.play(min(position, target.clip.duration_s))
        else:
            source.player.stop()

    def shutdown(self) -> None:
        """Wait for reads in progress and stop playback (call before the window closes)."""
        self._retry.stop()
        self.jobs.cancel()
        self.jobs.wait()
        for view in self._views():
            view.shutdown()


def _read_job(_job, run_dir, epoch) -> PreviewRead:
    return read_previews(run_dir, epoch)
