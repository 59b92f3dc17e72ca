"""The metric schema is written once: StepMetrics and EpochMetrics (distill_engine.training.events).

No production module outside the schema spells a metric name the schema defines in a string (a
name in a string is how lists drift apart: nothing checks it). Keyword arguments and attribute
reads (`StepMetrics(grad_norm=...)`, `event.train_loss`) are checked by Python against the
dataclass itself, so they are not counted."""
import ast
import dataclasses
import re
from pathlib import Path

from distill_engine.config.schema import TrainingConfig
from distill_engine.runs.schema import META_KEYS, TABLES
from distill_engine.training import events as ev

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "distill_engine" / "training" / "events.py"
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def config_field_names(config) -> set:
    names = set()
    for f in dataclasses.fields(config):
        names.add(f.name)
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            names |= config_field_names(value)
    return names


def metric_names() -> set:
    return set(ev.metric_names(ev.StepMetrics)) | set(ev.metric_names(ev.EpochMetrics))


#: Metric names that are also a config field or a run meta key: a string naming the config field
#: (the editor's "learning_rate") or the meta key ("total_epochs") is not a metric name.
SHARED_WITH_OTHER_NAMESPACES = metric_names() & (config_field_names(TrainingConfig()) | set(META_KEYS))


def docstring_nodes(tree) -> set:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def spelled_metric_names(path: Path, names: set) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = docstring_nodes(tree)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            hits += [(node.lineno, word) for word in WORD.findall(node.value) if word in names]
    return sorted(hits)


def production_modules():
    for package in ("distill_engine", "distill_desktop"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path != SCHEMA:
                yield path


def test_no_production_module_outside_the_schema_spells_a_metric_name():
    names = metric_names() - SHARED_WITH_OTHER_NAMESPACES
    found = {str(p.relative_to(ROOT)): hits for p in production_modules()
             if (hits := spelled_metric_names(p, names))}
    assert found == {}, f"metric names spelled outside {SCHEMA.name}: {found}"


def test_the_check_sees_a_spelled_name(tmp_path):
    module = tmp_path / "drifted.py"
    module.write_text('"""Docstrings may name mag_recon_loss."""\n'
                      'NAMES = ("mag_recon_loss", f"val_{1}")\nSQL = "SELECT MIN(val_loss) FROM t"\n')
    assert spelled_metric_names(module, metric_names()) == [(2, "mag_recon_loss"), (3, "val_loss")]


def test_only_a_few_names_are_exempt_and_they_really_are_shared():
    assert SHARED_WITH_OTHER_NAMESPACES <= {"learning_rate", "total_epochs"}
    assert "learning_rate" in config_field_names(TrainingConfig()) and "total_epochs" in META_KEYS


def test_the_store_keys_are_the_schemas_keys():
    for event_type, per in ((ev.StepMetrics, "step"), (ev.EpochMetrics, "epoch")):
        assert set(ev.key_names(event_type)) == set(TABLES[per][2])


def test_the_loss_terms_the_loss_module_returns_are_the_schemas():
    import torch

    from distill_engine.config.schema import LossConfig
    from distill_engine.model.losses import compute_combined_loss, term_weights

    from distill_engine.audio.representation import Representation

    rep = Representation(16000, 256, 64)
    target = rep.encode(torch.randn(2, 2000))
    out = compute_combined_loss(target + 0.1, target, torch.zeros(2, 4), torch.zeros(2, 4), LossConfig(), 0.0,
                                representation=rep)
    assert tuple(out) == ev.LOSS_TERMS
    assert tuple(term_weights(LossConfig())) == ev.WEIGHTED_TERMS
    for event_type, phase in ((ev.StepMetrics, "train"), (ev.EpochMetrics, "train"), (ev.EpochMetrics, "val")):
        assert tuple(ev.term_fields(event_type, phase)) == ev.LOSS_TERMS
