"""Training config: TOML load/save round trip, validation messages, summary, editor helpers."""
from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from distill_engine.config.schema import (
    KLLossConfig,
    LossConfig,
    ReconLossConfig,
    RepresentationConfig,
    STFTLossConfig,
    TrainingConfig,
    config_from_dict,
    config_to_dict,
    diff_from_defaults,
    load_config,
    render_config_summary,
    save_config,
)
from distill_engine.config.validation import ConfigError, Problem, validate
from distill_engine.errors import DistillError


def _custom() -> TrainingConfig:
    return TrainingConfig(
        epochs=7, batch_size=3, learning_rate=3.3e-4, weight_decay=0.0, grad_clip_norm=0.1 + 0.2,
        latent_dim=16, dropout=0.25, validation_fraction=0.0, seed=12345, device="cuda:1",
        chunk_duration=0.75, max_file_seconds=60.0, checkpoint_interval_s=0.0, checkpoints_kept=1, divergence_patience=0,
        divergence_spike_factor=3.5, divergence_spike_window=7,
        log_interval_steps=1, preview_interval_s=0.0, compile=True, bf16_autocast=True,
        representation=RepresentationConfig(sample_rate=22050, n_fft=512, hop_length=128),
        loss=LossConfig(
            stft=STFTLossConfig(weight=2.5, fft_sizes=(256, 2048), hop_sizes=(64, 333),
                                win_lengths=(200, 1500)),
            reconstruction=ReconLossConfig(weight=0.0, magnitude_weight=1e-7, if_weight=0.0),
            kl=KLLossConfig(weight_max=1e-3, warmup_fraction=1.0, free_bits=0.0),
        ),
    )


def _with(path: str, value) -> dict:
    """Default config as a dict with one dotted path (optionally `[i]`) set to `value`."""
    data = config_to_dict(TrainingConfig())
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node[p]
    if last.endswith("]"):
        name, idx = last[:-1].split("[")
        node[name][int(idx)] = value
    else:
        node[last] = value
    return data


def _problems(data: dict) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    return info.value.problems


def _write(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- round trip ------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [TrainingConfig(), _custom()], ids=["defaults", "custom"])
def test_toml_round_trip_is_exact(tmp_path, config):
    path = tmp_path / "c.toml"
    save_config(config, path)
    loaded = load_config(path)
    assert loaded == config
    assert isinstance(loaded.loss.stft.fft_sizes, tuple)
    assert type(loaded.epochs) is int and type(loaded.learning_rate) is float
    assert loaded.loss.stft.hop_sizes == config.loss.stft.hop_sizes
    assert loaded.loss.stft.hop_sizes[1] == config.loss.stft.hop_sizes[1]
    text = path.read_text()
    assert "[representation]" in text and "[loss.stft]" in text and "[loss.kl]" in text


def test_json_round_trip_via_dict():
    config = _custom()
    data = json.loads(json.dumps(config_to_dict(config)))
    assert config_from_dict(data) == config


def test_int_in_float_field_is_saved_as_float(tmp_path):
    config = TrainingConfig(learning_rate=1, chunk_duration=2)
    assert validate(config) == []
    path = tmp_path / "c.toml"
    save_config(config, path)
    loaded = load_config(path)
    assert type(loaded.learning_rate) is float and loaded.learning_rate == 1.0
    assert "learning_rate = 1.0" in path.read_text()


def test_partial_and_empty_files_take_defaults(tmp_path):
    assert load_config(_write(tmp_path, "")) == TrainingConfig()
    loaded = load_config(_write(tmp_path, "epochs = 3\n[loss.kl]\nfree_bits = 0\n"))
    expected = TrainingConfig(epochs=3)
    expected.loss.kl.free_bits = 0.0
    assert loaded == expected
    assert type(loaded.loss.kl.free_bits) is float


def test_save_refuses_invalid_config(tmp_path):
    path = tmp_path / "bad.toml"
    with pytest.raises(ConfigError, match="epochs = 0"):
        save_config(TrainingConfig(epochs=0), path)
    assert not path.exists()


# --- file errors -----------------------------------------------------------------------------


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert isinstance(info.value, DistillError)
    assert str(path) in str(info.value) and "not found" in str(info.value)


def test_invalid_toml_names_the_file(tmp_path):
    path = _write(tmp_path, "epochs = = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and "invalid TOML" in str(info.value)


def test_file_problems_are_prefixed_with_the_path(tmp_path):
    path = _write(tmp_path, "epochs = 0\nbatch_size = -1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert lines == [f"{path}: epochs = 0: must be at least 1",
                     f"{path}: batch_size = -1: must be at least 1"]


# --- validation rules ------------------------------------------------------------------------

NAN, INF = float("nan"), float("inf")

CASES = [
    # (dotted path, value, expected problem path, text in the message, value as shown)
    ("epochs", 0, "epochs", "at least 1", "0"),
    ("epochs", True, "epochs", "must be an integer", "true"),
    ("epochs", 5.0, "epochs", "must be an integer", "5.0"),
    ("epochs", "50", "epochs", "must be an integer, not a string", '"50"'),
    ("epochs", [50], "epochs", "not a list", "[50]"),
    ("epochs", {"a": 1}, "epochs", "not a table", "{a = 1}"),
    ("batch_size", 0, "batch_size", "at least 1", "0"),
    ("learning_rate", 0.0, "learning_rate", "greater than 0", "0.0"),
    ("learning_rate", NAN, "learning_rate", "must be finite", "nan"),
    ("learning_rate", "1e-3", "learning_rate", "must be a number", '"1e-3"'),
    ("learning_rate", False, "learning_rate", "not a boolean", "false"),
    ("weight_decay", -1e-4, "weight_decay", "at least 0", "-0.0001"),
    ("grad_clip_norm", INF, "grad_clip_norm", "must be finite", "inf"),
    ("grad_clip_norm", 0, "grad_clip_norm", "greater than 0", "0.0"),
    ("latent_dim", 0, "latent_dim", "at least 1", "0"),
    ("dropout", 1.0, "dropout", "less than 1", "1.0"),
    ("dropout", -0.1, "dropout", "at least 0", "-0.1"),
    ("validation_fraction", 0.95, "validation_fraction", "between 0 and 0.9", "0.95"),
    ("seed", -1, "seed", "at least 0", "-1"),
    ("seed", 1.5, "seed", "must be an integer", "1.5"),
    ("device", "gpu", "device", '"cuda:N"', '"gpu"'),
    ("device", "cuda:x", "device", "must be one of", '"cuda:x"'),
    ("device", 0, "device", "must be a string", "0"),
    ("chunk_duration", 0.0, "chunk_duration", "greater than 0", "0.0"),
    ("chunk_duration", 0.05, "chunk_duration", "representation.n_fft = 1024", "0.05"),
    ("chunk_duration", NAN, "chunk_duration", "must be finite", "nan"),
    ("checkpoint_interval_s", -1.0, "checkpoint_interval_s", "at least 0", "-1.0"),
    ("checkpoints_kept", 0, "checkpoints_kept", "at least 1", "0"),
    ("divergence_patience", -1, "divergence_patience", "at least 0", "-1"),
    ("log_interval_steps", 0, "log_interval_steps", "at least 1", "0"),
    ("representation.n_fft", 1000, "representation.n_fft", "power of two", "1000"),
    ("representation.n_fft", 8, "representation.n_fft", "power of two", "8"),
    ("representation.hop_length", 0, "representation.hop_length", "at least 1", "0"),
    ("representation.hop_length", 2048, "representation.hop_length",
     "must not exceed representation.n_fft = 1024", "2048"),
    ("representation.sample_rate", 3999, "representation.sample_rate", "between 4000 and 192000", "3999"),
    ("representation.sample_rate", 192001, "representation.sample_rate", "between 4000", "192001"),
    ("representation.sample_rate", 16000.0, "representation.sample_rate", "must be an integer",
     "16000.0"),
    ("loss.stft.weight", -1.0, "loss.stft.weight", "at least 0", "-1.0"),
    ("loss.stft.weight", INF, "loss.stft.weight", "must be finite", "inf"),
    ("loss.reconstruction.weight", -0.5, "loss.reconstruction.weight", "at least 0", "-0.5"),
    ("loss.reconstruction.magnitude_weight", NAN, "loss.reconstruction.magnitude_weight", "finite", "nan"),
    ("loss.reconstruction.if_weight", -2, "loss.reconstruction.if_weight", "at least 0", "-2.0"),
    ("loss.kl.weight_max", -0.01, "loss.kl.weight_max", "at least 0", "-0.01"),
    ("loss.kl.warmup_fraction", 1.5, "loss.kl.warmup_fraction", "between 0 and 1", "1.5"),
    ("loss.kl.free_bits", -0.1, "loss.kl.free_bits", "at least 0", "-0.1"),
    ("loss.kl.free_bits", INF, "loss.kl.free_bits", "must be finite", "inf"),
    ("loss.stft.fft_sizes", [], "loss.stft.fft_sizes", "at least one resolution", "[]"),
    ("loss.stft.fft_sizes", 1024, "loss.stft.fft_sizes", "must be a list of integers", "1024"),
    ("loss.stft.fft_sizes[2]", 2048.0, "loss.stft.fft_sizes[2]", "must be an integer", "2048.0"),
    ("loss.stft.fft_sizes[2]", "2048", "loss.stft.fft_sizes[2]", "not a string", '"2048"'),
    ("loss.stft.hop_sizes[0]", 0, "loss.stft.hop_sizes[0]", "positive integer", "0"),
    ("loss.stft.hop_sizes", [128, 256], "loss.stft.hop_sizes", "has 2 entries", "[128, 256]"),
    ("loss.stft.win_lengths", [512, 1024, 2048, 4096], "loss.stft.win_lengths", "has 4 entries",
     "[512, 1024, 2048, 4096]"),
    ("loss.stft.hop_sizes[1]", 2000, "loss.stft.hop_sizes[1]",
     "must not exceed loss.stft.win_lengths[1] = 1024", "2000"),
    ("loss.stft.win_lengths[2]", 4096, "loss.stft.win_lengths[2]",
     "must not exceed loss.stft.fft_sizes[2] = 2048", "4096"),
    ("loss.kl", 0.5, "loss.kl", "must be a table [loss.kl]", "0.5"),
]


@pytest.mark.parametrize("path, value, where, text, shown", CASES,
                         ids=[f"{c[0]}={c[1]!r}" for c in CASES])
def test_each_rule_reports_path_and_value(path, value, where, text, shown):
    problems = _problems(_with(path, value))
    assert [p.path for p in problems] == [where], [str(p) for p in problems]
    problem = problems[0]
    assert text in problem.message
    assert str(problem).startswith(f"{where} = {shown}: ")


def test_example_message_is_exact():
    data = _with("loss.stft.hop_sizes[1]", 300)
    data["loss"]["stft"]["win_lengths"][1] = 256
    problems = _problems(data)
    assert [str(p) for p in problems] == [
        "loss.stft.hop_sizes[1] = 300: must not exceed loss.stft.win_lengths[1] = 256"
    ]
    assert problems[0] == Problem("loss.stft.hop_sizes[1]",
                                  "must not exceed loss.stft.win_lengths[1] = 256", "300")


def test_win_exceeding_fft_message_is_exact():
    config = TrainingConfig()
    config.loss.stft.win_lengths = (512, 2048, 2048)
    assert [str(p) for p in validate(config)] == [
        "loss.stft.win_lengths[1] = 2048: must not exceed loss.stft.fft_sizes[1] = 1024"
    ]


def test_all_loss_weights_zero_is_a_problem():
    config = TrainingConfig()
    config.loss.stft.weight = 0.0
    config.loss.reconstruction.weight = 0
    config.loss.kl.weight_max = 0.0
    problems = validate(config)
    assert [p.path for p in problems] == ["loss"]
    assert "greater than 0" in str(problems[0])


def test_every_problem_is_reported_not_just_the_first():
    data = _with("epochs", 0)
    data["device"] = "tpu"
    data["representation"]["n_fft"] = 1000
    data["loss"]["stft"]["hop_sizes"] = [128, "x", 4000]
    data["loss"]["kl"]["warmup_fraction"] = -0.5
    data["loss"]["kl"]["typo"] = 1
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    paths = [p.path for p in info.value.problems]
    assert sorted(paths) == sorted([
        "epochs", "device", "representation.n_fft", "loss.stft.hop_sizes[1]",
        "loss.stft.hop_sizes[2]", "loss.kl.warmup_fraction", "loss.kl.typo",
    ])
    assert len(str(info.value).splitlines()) == len(paths)


def test_unknown_key_suggests_closest_name(tmp_path):
    path = _write(tmp_path, "[loss.stft]\nfft_size = [512]\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [problem] = info.value.problems
    assert problem.path == "loss.stft.fft_size"
    assert str(problem) == (
        "loss.stft.fft_size = [512]: unknown field; known fields of loss.stft are weight, "
        "fft_sizes, hop_sizes, win_lengths; did you mean fft_sizes?"
    )


def test_unknown_top_level_key_and_table():
    problems = _problems({"epoch": 3, "lossy": {"x": 1}})
    assert [p.path for p in problems] == ["epoch", "lossy"]
    assert "did you mean epochs?" in problems[0].message
    assert "known top-level fields are epochs, batch_size" in problems[0].message


def test_non_table_top_level_is_rejected():
    with pytest.raises(ConfigError, match="must be a table"):
        config_from_dict([1, 2])  # type: ignore[arg-type]


def test_validate_never_raises_on_editor_garbage():
    config = TrainingConfig()
    config.epochs = None  # type: ignore[assignment]
    config.loss = "x"  # type: ignore[assignment]
    config.representation.n_fft = object()  # type: ignore[assignment]
    config.device = ["cpu"]  # type: ignore[assignment]
    problems = validate(config)
    assert {p.path for p in problems} == {"epochs", "loss", "representation.n_fft", "device"}
    assert validate(TrainingConfig()) == []
    assert validate(_custom()) == []
    assert validate("not a config") != []  # type: ignore[arg-type]


def test_config_error_lists_every_problem():
    err = ConfigError([Problem("a", "bad", "1"), Problem("b.c", "worse")])
    assert str(err) == "a = 1: bad\nb.c: worse"
    assert isinstance(err, DistillError)


# --- summary and editor helpers --------------------------------------------------------------


def test_summary_shows_every_weight_and_resolution():
    config = _custom()
    text = render_config_summary(config)
    for value in ("2.5", "1e-07", "0.001", "12345", '22050 Hz', "cuda:1", "0.75 s", "0.00033"):
        assert value in text, value
    lines = text.splitlines()
    res = [line for line in lines if "resolution" in line]
    assert len(res) == 2
    assert "fft  256" in res[0] and "hop  64" in res[0] and "win  200" in res[0]
    assert "fft 2048" in res[1] and "hop 333" in res[1] and "win 1500" in res[1]
    for label in ("STFT weight", "reconstruction weight", "magnitude weight", "IF weight",
                  "KL weight max", "KL warm-up", "KL free bits", "epochs", "batch size",
                  "learning rate", "weight decay", "grad clip norm", "latent dim", "dropout",
                  "validation fraction", "seed", "device", "chunk duration", "sample rate",
                  "n_fft", "hop length"):
        assert label in text, label
    # Values are aligned in one column.
    by_label = {line.strip().split("  ")[0]: line for line in lines if line.startswith("  ")}
    columns = {by_label[k].index(v) for k, v in (("epochs", "7"), ("KL free bits", "0.0"),
                                                 ("resolution 1", "fft"), ("device", "cuda:1"))}
    assert len(columns) == 1


def test_summary_of_defaults_has_three_resolutions():
    text = render_config_summary(TrainingConfig())
    assert sum("resolution" in line for line in text.splitlines()) == 3
    assert "100% of training" not in text and "30% of training" in text


def test_diff_from_defaults():
    assert diff_from_defaults(TrainingConfig()) == []
    config = copy.deepcopy(TrainingConfig())
    config.epochs = 10
    config.loss.stft.hop_sizes = (128, 256, 256)
    config.loss.kl.weight_max = 0.01  # same as default
    config.learning_rate = 1e-3
    assert diff_from_defaults(config) == ["epochs", "loss.stft.hop_sizes"]
    config.representation = None  # type: ignore[assignment]
    assert "representation" in diff_from_defaults(config)
    full = diff_from_defaults(_custom())
    assert len(full) == len([f for f in dataclasses.fields(TrainingConfig) if f.name not in
                             ("representation", "loss")]) + 3 + 4 + 3 + 3


def test_speed_up_switches_must_be_true_or_false():
    config = TrainingConfig()
    config.compile = "yes"  # type: ignore[assignment]
    config.bf16_autocast = 1  # type: ignore[assignment]
    problems = {p.path: p.message for p in validate(config)}
    assert problems["compile"].startswith("must be true or false") and "bf16_autocast" in problems
