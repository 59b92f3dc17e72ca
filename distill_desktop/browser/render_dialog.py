"""RenderDialog: "Render…" on a checkpoint: reconstructions of files the person picks and N samples,
written to a folder they pick, with a progress bar and a cancel button.

The render runs in a RenderJob (its own thread; the engine's render_from_checkpoint). Cancel stops
after the file being written, and the files written so far stay. What the engine skipped (not
audio, silent, too long) is listed with its reason; a checkpoint or folder it refuses is shown as
its message. Closing the dialog cancels a render in progress and waits for it.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QPlainTextEdit, QProgressBar, QPushButton, QSpinBox, QVBoxLayout)

from ..bridge.render_job import RenderJob
from ..widgets import dialog_folders

AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.oga *.aiff *.aif *.mp3);;All files (*)"
MAX_SAMPLES = 1000


class RenderDialog(QDialog):
    """See the module docstring. `checkpoint`: the file; `run_dir`: its run (for the default folder)."""

    job_starting = Signal(object)   # the RenderJob, just before its thread starts

    def __init__(self, checkpoint, run_dir=None, parent=None):
        super().__init__(parent)
        self.checkpoint = Path(checkpoint)
        self.job: RenderJob | None = None
        self.result = None
        self.setWindowTitle(f"Render from {self.checkpoint.name}")
        self.inputs = QListWidget()
        self.inputs.setToolTip("Files to reconstruct with this checkpoint (none: samples only)")
        self.add_button = QPushButton("Add files…", clicked=self.add_inputs)
        self.remove_button = QPushButton("Remove", clicked=self.remove_selected)
        self.samples = QSpinBox(minimum=0, maximum=MAX_SAMPLES, value=4)
        self.samples.setToolTip("How many samples (decodings of latent vectors) to write")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.seed.setToolTip("The same seed gives the same samples")
        default = (Path(run_dir) / "renders" / self.checkpoint.stem) if run_dir else Path.home() / "distill-renders"
        self.output = QLineEdit(str(default))
        self.choose_button = QPushButton("Choose…", clicked=self.choose_output)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("", wordWrap=True)
        self.report = QPlainTextEdit(readOnly=True)
        self.report.setMaximumHeight(120)
        self.report.hide()
        self.render_button = QPushButton("Render", clicked=self.start)
        self.render_button.setDefault(True)
        self.cancel_button = QPushButton("Close", clicked=self.cancel_or_close)

        input_buttons = QVBoxLayout()
        input_buttons.addWidget(self.add_button)
        input_buttons.addWidget(self.remove_button)
        input_buttons.addStretch(1)
        input_row = QHBoxLayout()
        input_row.addWidget(self.inputs, 1)
        input_row.addLayout(input_buttons)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output, 1)
        output_row.addWidget(self.choose_button)
        form = QFormLayout()
        form.addRow("Reconstruct", input_row)
        form.addRow("Samples", self.samples)
        form.addRow("Seed", self.seed)
        form.addRow("Output folder", output_row)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.render_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Checkpoint: {self.checkpoint}", wordWrap=True))
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.report)
        layout.addLayout(buttons)
        for signal in (self.samples.valueChanged, self.output.textChanged):
            signal.connect(self._update_buttons)
        self.resize(620, 460)
        self._update_buttons()

    # -- choosing (the ask_* methods are replaced in tests) ------------------------------------
    def ask_input_files(self) -> list[str]:
        files = QFileDialog.getOpenFileNames(self, "Files to reconstruct", dialog_folders.start_folder("render_inputs"),
                                             AUDIO_FILTER)[0]
        dialog_folders.remember("render_inputs", files[0] if files else None)
        return files

    def ask_output_folder(self) -> str | None:
        folder = QFileDialog.getExistingDirectory(self, "Render into folder", dialog_folders.start_folder(
            "render_output", self.output.text())) or None
        dialog_folders.remember("render_output", folder)
        return folder

    def add_inputs(self) -> None:
        present = set(self.input_files())
        for path in self.ask_input_files():
            if path not in present:
                self.inputs.addItem(path)
        self._update_buttons()

    def remove_selected(self) -> None:
        for item in self.inputs.selectedItems():
            self.inputs.takeItem(self.inputs.row(item))
        self._update_buttons()

    def choose_output(self) -> None:
        folder = self.ask_output_folder()
        if folder:
            self.output.setText(folder)

    def input_files(self) -> list[str]:
        return [self.inputs.item(i).text() for i in range(self.inputs.count())]

    # -- running -------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.job is not None

    def _update_buttons(self) -> None:
        running = self.is_running()
        nothing = self.samples.value() == 0 and self.inputs.count() == 0
        self.render_button.setEnabled(not running and not nothing and bool(self.output.text().strip()))
        self.render_button.setToolTip("Add files or ask for samples first" if nothing else
                                      "Choose an output folder first" if not self.output.text().strip() else
                                      "Write the reconstructions and samples")
        for widget in (self.add_button, self.remove_button, self.samples, self.seed, self.output,
                       self.choose_button):
            widget.setEnabled(not running)
        self.cancel_button.setText("Cancel" if running else "Close")

    def start(self) -> None:
        """Start rendering with what the form says (Render button)."""
        if self.is_running() or not self.render_button.isEnabled():
            return
        total = self.inputs.count() + self.samples.value()
        self.result = None
        self.report.clear()
        self.report.hide()
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.status.setText("Loading the checkpoint…")
        job = self.job = RenderJob(self.checkpoint, self.output.text().strip(), self.input_files(),
                                   self.samples.value(), self.seed.value(), parent=self)
        job.progress.connect(self._on_progress)
        job.finished_render.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        job.finished.connect(self._on_thread_done)
        self._update_buttons()
        self.job_starting.emit(job)
        job.start()

    def cancel_or_close(self) -> None:
        if self.is_running():
            self.job.cancel()
            self.status.setText("Cancelling after the file being written…")
        else:
            self.close()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.status.setText(f"Rendering… {done}/{total} files")

    def _on_finished(self, result) -> None:
        self.result = result
        written, skipped = len(result.written), len(result.skipped)
        head = "Cancelled" if result.cancelled else "Done"
        self.status.setText(f"{head}: {written} file{'s' if written != 1 else ''} written to "
                            f"{self.output.text().strip()}" + (f", {skipped} skipped" if skipped else ""))
        lines = [f"skipped {Path(path).name}: {reason}" for path, reason in result.skipped]
        lines += list(getattr(result, "notes", []) or [])
        if lines:
            self.report.setPlainText("\n".join(lines))
            self.report.show()

    def _on_failed(self, message: str, details: str) -> None:
        self.status.setText(f"Cannot render: {message}")
        self.status.setToolTip(details)
        if details:
            self.report.setPlainText(details)
            self.report.show()

    def _on_thread_done(self) -> None:
        if self.job is not None:
            self.job.wait()
            self.job.deleteLater()
            self.job = None
        self._update_buttons()

    def shutdown(self) -> None:
        """Cancel a render in progress and wait for its thread."""
        if self.job is not None:
            self.job.cancel()
            self.job.wait()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)
