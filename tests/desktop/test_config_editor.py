"""The config editor: every edit is judged by the engine's validator and the verdict is shown on the field."""
from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from distill_desktop.panels.config_editor import ConfigEditorPanel
from distill_desktop.panels.config_words import in_editor_words
from distill_engine.config.schema import TrainingConfig, load_config
from distill_engine.config.validation import validate


@pytest.fixture
def panel(qtbot):
    p = ConfigEditorPanel()
    qtbot.addWidget(p)
    p.show()
    return p


def type_into(qtbot, panel, path, text):
    """Replace a field's text the way a user does: select all, then type."""
    edit = panel.field_widget(path)
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(edit, text)


def engine_messages(config, path):
    return [p.message for p in validate(config) if p.path == path]


def visible_labels(panel):
    return [label.text() for label in panel.findChildren(QLabel) if label.isVisible()]


def with_stft(**lists):
    cfg = TrainingConfig()
    cfg.loss.stft = dataclasses.replace(cfg.loss.stft, **lists)
    return cfg


def test_defaults_are_valid_and_no_field_is_marked(panel):
    assert panel.is_valid() and panel.problems() == []
    assert panel.config() == TrainingConfig()
    assert panel.diff_label.text() == "0 fields differ from defaults"
    assert not panel.field_widget("epochs").property("invalid")


def test_hop_longer_than_window_marks_that_resolution_with_the_engine_message(qtbot, panel):
    type_into(qtbot, panel, "loss.stft.win_lengths[1]", "256")
    with qtbot.waitSignal(panel.validity_changed) as blocker:
        type_into(qtbot, panel, "loss.stft.hop_sizes[1]", "300")
    assert blocker.args == [False]
    expected = engine_messages(with_stft(hop_sizes=(128, 300, 512), win_lengths=(512, 256, 2048)),
                               "loss.stft.hop_sizes[1]")
    assert expected == ["must not exceed loss.stft.win_lengths[1] = 256"]
    cell = panel.field_widget("loss.stft.hop_sizes[1]")
    assert panel.field_error("loss.stft.hop_sizes[1]") == expected[0]
    assert cell.property("invalid") is True and expected[0] in cell.toolTip()  # the dotted path: in the tooltip
    # under the row, in the editor's words
    assert "Hop size: must not exceed Resolution 2 · Window length = 256" in visible_labels(panel)
    assert not any("loss.stft" in text for text in visible_labels(panel))
    assert not panel.field_widget("loss.stft.hop_sizes[0]").property("invalid")
    assert panel.config() is None

    with qtbot.waitSignal(panel.validity_changed) as blocker:
        type_into(qtbot, panel, "loss.stft.hop_sizes[1]", "128")
    assert blocker.args == [True]
    assert not cell.property("invalid") and panel.field_error("loss.stft.hop_sizes[1]") == ""
    assert not any(expected[0] in text for text in visible_labels(panel))
    assert panel.config().loss.stft.hop_sizes == (128, 128, 512)


@pytest.mark.parametrize("path, text, engine_value", [
    ("loss.stft.weight", "nan", float("nan")),
    ("loss.kl.warmup_fraction", "1.5", 1.5),
    ("representation.n_fft", "1000", 1000),
    ("batch_size", "12.5", 12.5),
    ("epochs", "abc", None),
    ("learning_rate", "", None),
])
def test_an_invalid_value_marks_its_field_and_shows_the_message(qtbot, panel, path, text, engine_value):
    with qtbot.waitSignal(panel.validity_changed) as blocker:
        type_into(qtbot, panel, path, text)
    assert blocker.args == [False]
    message = panel.field_error(path)
    if engine_value is None:  # not a number at all: the one check the editor makes itself
        assert message in ("is not a number", "is empty; enter a number")
    else:
        cfg = TrainingConfig()
        *tables, name = path.split(".")
        node = cfg
        for table in tables:
            node = getattr(node, table)
        setattr(node, name, engine_value)
        assert [message] == engine_messages(cfg, path)
    widget = panel.field_widget(path)
    assert widget.property("invalid") is True and message in widget.toolTip()
    assert message in visible_labels(panel)
    assert [p.path for p in panel.problems()] == [path]

    type_into(qtbot, panel, path, {"loss.stft.weight": "1", "loss.kl.warmup_fraction": "0.3",
                                   "representation.n_fft": "1024", "batch_size": "32", "epochs": "50",
                                   "learning_rate": "0.001"}[path])
    assert panel.is_valid() and not widget.property("invalid") and message not in visible_labels(panel)


def test_several_problems_are_all_marked_at_once(qtbot, panel):
    type_into(qtbot, panel, "epochs", "0")
    type_into(qtbot, panel, "dropout", "1")
    type_into(qtbot, panel, "representation.hop_length", "2048")
    type_into(qtbot, panel, "loss.stft.win_lengths[2]", "4096")
    paths = {p.path for p in panel.problems()}
    assert paths == {"epochs", "dropout", "representation.hop_length", "loss.stft.win_lengths[2]"}
    for path in paths:
        assert panel.field_widget(path).property("invalid") is True
        assert in_editor_words(panel.field_error(path)) in visible_labels(panel) or path.endswith("]")
    assert "must not exceed representation.n_fft = 1024" in panel.field_error("representation.hop_length")


def test_zero_total_loss_weight_shows_in_the_loss_banner(qtbot, panel):
    for path in ("loss.stft.weight", "loss.reconstruction.weight", "loss.kl.weight_max"):
        type_into(qtbot, panel, path, "0")
    assert panel.field_error("loss").startswith("stft.weight + reconstruction.weight + kl.weight_max is 0")
    assert panel.loss_banner.isVisible()
    assert panel.loss_banner.text() == ("STFT · Weight + Reconstruction · Weight + KL · Weight max is 0; at least "
                                        "one loss weight must be greater than 0")
    type_into(qtbot, panel, "loss.kl.weight_max", "0.01")
    assert panel.is_valid() and not panel.loss_banner.isVisible()


def test_valid_edits_emit_the_new_config(qtbot, panel):
    emitted = []
    panel.config_changed.connect(emitted.append)
    type_into(qtbot, panel, "learning_rate", "3e-4")  # every keystroke that parses validly emits
    assert [c.learning_rate for c in emitted] == [3.0, 0.0003]  # "3", "3e" is invalid, "3e-" too, "3e-4"
    type_into(qtbot, panel, "epochs", " 1e2 ")  # lenient: whitespace and exponent notation
    with qtbot.waitSignal(panel.config_changed) as blocker:
        panel.field_widget("device").setCurrentText("cpu")
    cfg = blocker.args[0]
    assert (cfg.epochs, cfg.device, cfg.learning_rate) == (100, "cpu", 3e-4)
    assert panel.config() == cfg and validate(cfg) == []


def test_resolutions_can_be_added_and_removed(qtbot, panel):
    qtbot.mouseClick(panel.add_row_button, Qt.MouseButton.LeftButton)
    assert panel.config().loss.stft.fft_sizes == (512, 1024, 2048, 2048)
    type_into(qtbot, panel, "loss.stft.fft_sizes[3]", "4096")
    assert panel.config().loss.stft.fft_sizes[3] == 4096
    for _ in range(3):
        qtbot.mouseClick(panel.remove_row_button, Qt.MouseButton.LeftButton)
    assert panel.config().loss.stft.hop_sizes == (128,)
    assert not panel.remove_row_button.isEnabled()  # at least one resolution always remains


def test_fields_that_differ_from_defaults_are_bold_and_counted(qtbot, panel):
    type_into(qtbot, panel, "epochs", "10")
    type_into(qtbot, panel, "loss.stft.hop_sizes[0]", "64")
    assert panel.diff_label.text() == "2 fields differ from defaults"
    epochs = panel.field_widget("epochs")
    assert epochs.font().bold() and "(default: 50)" in epochs.toolTip()
    assert panel.field_widget("loss.stft.hop_sizes[0]").font().bold()
    assert "(default: 128)" in panel.field_widget("loss.stft.hop_sizes[0]").toolTip()
    assert not panel.field_widget("loss.stft.hop_sizes[1]").font().bold()
    assert not panel.field_widget("batch_size").font().bold()
    type_into(qtbot, panel, "epochs", "50")
    assert panel.diff_label.text() == "1 field differs from defaults" and not epochs.font().bold()


def test_preset_round_trip_restores_every_value(qtbot, panel, tmp_path):
    type_into(qtbot, panel, "epochs", "7")
    type_into(qtbot, panel, "loss.kl.free_bits", "0.25")
    panel.field_widget("device").setCurrentText("cpu")
    qtbot.mouseClick(panel.add_row_button, Qt.MouseButton.LeftButton)
    saved = panel.config()
    path = tmp_path / "preset.toml"
    assert panel.save_preset(path) and "Saved" in panel.preset_message()
    assert load_config(path) == saved

    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    assert panel.config() == TrainingConfig()
    assert panel.load_preset(path)
    assert panel.config() == saved
    assert panel.field_widget("epochs").text() == "7"
    assert panel.field_widget("loss.stft.fft_sizes[3]").text() == "2048"


@pytest.mark.parametrize("content, fragment", [
    ('epochs = "ten"\n', "epochs = \"ten\": must be an integer, not a string"),
    ("[loss.kl\nwarmup_fraction = 0.5\n", "invalid TOML"),
    ("epocs = 3\n", "did you mean epochs?"),
])
def test_a_bad_preset_shows_its_error_inline_and_keeps_the_values(qtbot, panel, tmp_path, content, fragment):
    type_into(qtbot, panel, "epochs", "9")
    before = panel.config()
    bad = tmp_path / "bad.toml"
    bad.write_text(content)
    assert not panel.load_preset(bad)
    assert fragment in panel.preset_message() and str(bad) in panel.preset_message()
    assert panel.preset_label.isVisible() and panel.preset_label.property("role") == "error"
    assert panel.config() == before


def test_an_invalid_config_is_not_saved(qtbot, panel, tmp_path):
    type_into(qtbot, panel, "dropout", "2")
    path = tmp_path / "never.toml"
    assert not panel.save_preset(path)
    assert not path.exists() and "dropout = 2.0: must be at least 0 and less than 1" in panel.preset_message()


def test_reset_to_defaults_clears_edits_and_marks(qtbot, panel):
    type_into(qtbot, panel, "epochs", "abc")
    type_into(qtbot, panel, "seed", "4")
    with qtbot.waitSignal(panel.validity_changed) as blocker:
        qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [True]
    assert panel.config() == TrainingConfig() and not panel.field_widget("epochs").property("invalid")
    assert panel.diff_label.text() == "0 fields differ from defaults"


def test_set_config_shows_a_given_config(qtbot):
    cfg = TrainingConfig(epochs=3, device="cuda:1", learning_rate=2e-4)
    cfg.loss.stft = dataclasses.replace(cfg.loss.stft, fft_sizes=(256, 512), hop_sizes=(64, 128),
                                        win_lengths=(256, 512))
    panel = ConfigEditorPanel(cfg)
    qtbot.addWidget(panel)
    assert panel.config() == cfg
    assert panel.field_widget("device").currentText() == "cuda:1"
    assert panel.field_widget("learning_rate").text() == "0.0002"
    with pytest.raises(KeyError):
        panel.field_widget("loss.stft.fft_sizes[2]")


def test_the_preview_interval_has_a_field_judged_by_the_engine(qtbot, panel):
    assert panel.field_widget("preview_interval_s").text() == "30.0"
    with qtbot.waitSignal(panel.validity_changed) as blocker:
        type_into(qtbot, panel, "preview_interval_s", "-5")
    assert blocker.args == [False]
    cfg = TrainingConfig()
    cfg.preview_interval_s = -5.0
    assert [panel.field_error("preview_interval_s")] == engine_messages(cfg, "preview_interval_s")
    with qtbot.waitSignal(panel.config_changed) as changed:
        type_into(qtbot, panel, "preview_interval_s", "0")  # 0 turns previews off
    assert panel.is_valid() and changed.args[0].preview_interval_s == 0.0


def test_builtin_presets_switch_the_rate_and_keep_other_edits(qtbot, panel):
    box = panel.builtin_presets
    assert box.currentText() == "fast (16 kHz)" and "8 kHz" in panel.builtin_summary.text()
    type_into(qtbot, panel, "learning_rate", "0.0003")
    box.textActivated.emit("full band (44.1 kHz)")
    config = panel.config()
    assert config.representation.sample_rate == 44100 and config.learning_rate == 3e-4
    assert panel.field_widget("representation.sample_rate").text() == "44100"
    assert box.currentText() == "full band (44.1 kHz)" and "22 kHz" in panel.builtin_summary.text()
    type_into(qtbot, panel, "representation.sample_rate", "22050")
    assert box.currentText() == "custom" and "22050 Hz" in panel.builtin_summary.text()
