"""ClipView: one audio file as a person meets it in the Listen tab or the corpus report: a title,
its figures (distance, RMS), its spectrogram, a play button and an export button. A file that is
missing or cannot be decoded shows "missing" / "unreadable" and why, in place of the image.

The view plays through the AudioPlayer it is given (one per window, one clip at a time). Without an
audio output the play button is disabled and its tooltip gives the player's reason.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from ..models.audio_clips import AudioClip, ClipProblem, format_dbfs
from . import dialog_folders
from .spectrogram import SpectrogramView

PLAY, STOP = "▶ Play", "■ Stop"
PLAYHEAD_INTERVAL_MS = 50
EXPORT_FILTER = "Audio files (*.wav *.flac *.ogg);;WAV (*.wav);;FLAC (*.flac)"


def export_clip(clip: AudioClip, target) -> Path:
    """Write `clip` to `target`: the file's own bytes when the suffix matches, else re-encoded by
    soundfile in the format the suffix names. OSError/RuntimeError name the target."""
    import soundfile as sf

    target = Path(target)
    if target.suffix.lower() == clip.path.suffix.lower():
        shutil.copyfile(clip.path, target)
    else:
        sf.write(str(target), clip.samples, clip.sample_rate)
    return target


class ClipView(QFrame):
    """See the module docstring. `set_clip(AudioClip | ClipProblem | None)`; None = loading."""

    exported = Signal(str)            # the written path
    export_failed = Signal(str)       # the reason

    def __init__(self, player, parent=None, height: int = 150):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.player = player
        self.key = ""
        self.clip: AudioClip | None = None
        self.problem: ClipProblem | None = None
        self.title = QLabel("")
        self.title.setStyleSheet("font-weight: bold;")
        self.figures = QLabel("")
        self.view = SpectrogramView(height=height)
        self.state = QLabel("", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.state.setMinimumHeight(height)
        self.state.setStyleSheet("color: #d64545;")
        self.state.hide()
        self.play_button = QPushButton(PLAY, clicked=self.toggle_play)
        self.export_button = QPushButton("Export…", clicked=self.export_as)
        buttons = QHBoxLayout()
        buttons.addWidget(self.play_button)
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        buttons.addWidget(self.figures)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.view)
        layout.addWidget(self.state)
        layout.addLayout(buttons)
        self._playhead = QTimer(self, interval=PLAYHEAD_INTERVAL_MS)
        self._playhead.timeout.connect(self._move_playhead)
        player.started.connect(self._on_started)
        player.stopped.connect(self._on_stopped)
        player.availability_changed.connect(lambda _reason: self._update_buttons())
        self.set_clip(None)

    # -- content -----------------------------------------------------------------------------
    def set_title(self, title: str, figures: str = "") -> None:
        self.title.setText(title)
        self.figures.setText(figures)

    def set_clip(self, clip, key: str = "") -> None:
        """Show a decoded clip, a ClipProblem (missing / unreadable) or, for None, "loading…"."""
        if self.key and key != self.key and self.player.playing_key == self.key:
            self.player.stop()          # another file takes this place; the same file plays on
        self.key = key
        self.clip = clip if isinstance(clip, AudioClip) else None
        self.problem = clip if isinstance(clip, ClipProblem) else None
        self.view.set_spectrogram(self.clip.spectrogram if self.clip else None)
        self.view.setVisible(self.problem is None)
        self.state.setVisible(self.problem is not None)
        if self.problem is not None:
            self.state.setText(f"{self.problem.state}\n{self.problem.reason}")
            self.state.setToolTip(str(self.problem.path or ""))
        if self.clip is not None and not self.figures.text():
            self.figures.setText(f"RMS {format_dbfs(self.clip.rms)}")
        self._update_buttons()

    def set_levels(self, low_db: float, high_db: float) -> None:
        self.view.set_levels(low_db, high_db)

    def _update_buttons(self) -> None:
        playing = bool(self.key) and self.player.playing_key == self.key
        self.play_button.setText(STOP if playing else PLAY)
        self.export_button.setEnabled(self.clip is not None)
        if not self.player.available:
            self.play_button.setEnabled(False)
            self.play_button.setToolTip(self.player.unavailable_reason)
        elif self.clip is None:
            self.play_button.setEnabled(False)
            self.play_button.setToolTip(self.problem.reason if self.problem else "Loading…")
        else:
            self.play_button.setEnabled(True)
            self.play_button.setToolTip(f"Play {self.clip.path.name} ({self.clip.duration_s:.2f} s)")

    # -- playing -----------------------------------------------------------------------------
    def is_playing(self) -> bool:
        return bool(self.key) and self.player.playing_key == self.key

    def play(self, start_s: float = 0.0) -> bool:
        if self.clip is None:
            return False
        return self.player.play(self.key, self.clip.samples, self.clip.sample_rate, start_s)

    def toggle_play(self) -> None:
        if self.is_playing():
            self.player.stop()
        else:
            self.play()

    def _on_started(self, key: str) -> None:
        if key == self.key:
            self._playhead.start()
            self._move_playhead()
        self._update_buttons()

    def _on_stopped(self, key: str) -> None:
        if key == self.key:
            self._playhead.stop()
            self.view.set_playhead(None)
        self._update_buttons()

    def _move_playhead(self) -> None:
        if self.is_playing():
            self.view.set_playhead(self.player.position_s())

    # -- export ------------------------------------------------------------------------------
    def ask_export_path(self) -> str | None:
        """The file to export to (a save dialog; tests replace this)."""
        suggested = dialog_folders.start_path("clip_export", self.clip.path.name)
        path = QFileDialog.getSaveFileName(self, "Export clip", suggested, EXPORT_FILTER)[0] or None
        dialog_folders.remember("clip_export", path)
        return path

    def export_as(self) -> None:
        if self.clip is None:
            return
        target = self.ask_export_path()
        if not target:
            return
        try:
            written = export_clip(self.clip, target)
        except (OSError, RuntimeError, ValueError) as exc:
            self.export_failed.emit(f"{target} could not be written: {exc}")
            return
        self.exported.emit(str(written))

    def shutdown(self) -> None:
        self._playhead.stop()
        if self.is_playing():
            self.player.stop()
