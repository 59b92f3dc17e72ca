"""Checkpoints: exact round trips, atomic saves that survive a full disk, and refusal of every file
that is not a Distill checkpoint — above all, files whose loading would run code."""
import datetime
import errno
import json
import os
import pathlib
import pickle
import random

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import distill_engine.checkpoints.format as checkpoints
from distill_engine.checkpoints.format import (
    CheckpointManager,
    list_checkpoints,
    load_checkpoint,
    read_checkpoint_info,
    save_checkpoint,
)
from distill_engine.errors import CheckpointError

CONFIG = {"model": {"latent_dim": 8, "channels": [16, 32]}, "lr": 1e-3, "name": "demo"}


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def adamw_step(model, optimizer, seed):
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.randn(16, 4, generator=gen), torch.randn(16, 2, generator=gen)
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()


def make_adamw(model):
    return torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.8, 0.95), weight_decay=0.1)


def save_simple(path, epoch=1, step=10, **kw):
    model = tiny_model()
    return save_checkpoint(path, model_state=model.state_dict(), optimizer_state=None, epoch=epoch,
                           step=step, config=CONFIG, metrics={"loss": 0.5}, **kw)


# ------------------------------------------------------------------------------------ round trip

def test_adamw_training_continues_exactly_after_save_and_load(tmp_path):
    model = tiny_model()
    optimizer = make_adamw(model)
    for seed in range(3):
        adamw_step(model, optimizer, seed)
    path = save_checkpoint(tmp_path / "ck.safetensors", model_state=model.state_dict(),
                           optimizer_state=optimizer.state_dict(), epoch=2, step=3,
                           config=CONFIG, metrics={"loss": 0.25, "kl": 1.5})

    ck = load_checkpoint(path)
    resumed = tiny_model(seed=123)  # different initial weights: everything must come from the file
    resumed.load_state_dict(ck.model_state)
    resumed_optimizer = make_adamw(resumed)
    resumed_optimizer.load_state_dict(ck.optimizer_state)
    assert resumed_optimizer.param_groups[0]["betas"] == (0.8, 0.95)

    adamw_step(model, optimizer, seed=99)
    adamw_step(resumed, resumed_optimizer, seed=99)
    for a, b in zip(model.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(optimizer.state.values(), resumed_optimizer.state.values()):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_metadata_extra_state_and_rng_tensors_round_trip(tmp_path):
    torch.manual_seed(7)
    torch_rng = torch.get_rng_state()
    expected_torch = torch.rand(5)
    py_rng = random.Random(3)
    py_state = py_rng.getstate()
    expected_py = [py_rng.random() for _ in range(3)]
    np_rng = np.random.default_rng(5)
    np_state = np_rng.bit_generator.state
    expected_np = np_rng.random(3)
    extra = {
        "rng": {"python": [py_state[0], list(py_state[1]), py_state[2]], "numpy": np_state},
        "normalisation": {"mean": [0.1, -0.2], "std": [1.0, 2.0]},
        "divergence": {"bad_steps": 2, "best_loss": 0.125, "armed": True},
    }
    path = save_simple(tmp_path / "ck.safetensors", epoch=4, step=400, is_best=True, extra=extra,
                       extra_tensors={"rng/torch_cpu": torch_rng, "stats/hist": torch.arange(6)})
    torch.rand(100)  # move the global generator on, as training would

    ck = load_checkpoint(path, map_location=torch.device("cpu"))
    assert (ck.epoch, ck.step, ck.is_best) == (4, 400, True)
    assert ck.config == CONFIG and ck.metrics == {"loss": 0.5}
    assert ck.extra == extra
    assert ck.optimizer_state is None
    assert datetime.datetime.fromisoformat(ck.created_at).tzinfo is not None
    for name, tensor in tiny_model().state_dict().items():
        assert torch.equal(ck.model_state[name], tensor)
    assert torch.equal(ck.extra_tensors["stats/hist"], torch.arange(6))

    torch.set_rng_state(ck.extra_tensors["rng/torch_cpu"])
    assert torch.equal(torch.rand(5), expected_torch)
    version, internal, gauss = ck.extra["rng"]["python"]
    py_rng.setstate((version, tuple(internal), gauss))
    assert [py_rng.random() for _ in range(3)] == expected_py
    np_rng.bit_generator.state = ck.extra["rng"]["numpy"]
    assert np.array_equal(np_rng.random(3), expected_np)


def test_non_tensor_optimizer_state_tied_weights_and_views_are_saved(tmp_path):
    shared = torch.randn(4, 4)
    model_state = {"embed.weight": shared, "head.weight": shared, "column": shared[:, 1]}
    optimizer_state = {"state": {0: {"step": 5, "lr_scale": 0.5, "buf": torch.ones(3)}, 1: {}},
                       "param_groups": [{"lr": 0.1, "betas": (0.9, 0.99), "foreach": None,
                                         "params": [0, 1]}]}
    path = save_checkpoint(tmp_path / "ck.safetensors", model_state=model_state,
                           optimizer_state=optimizer_state, epoch=0, step=0, config={},
                           metrics={})
    ck = load_checkpoint(path)
    assert torch.equal(ck.model_state["head.weight"], shared)
    assert torch.equal(ck.model_state["column"], shared[:, 1])
    loaded = ck.optimizer_state
    assert loaded["param_groups"] == optimizer_state["param_groups"]
    assert loaded["state"][0]["step"] == 5 and loaded["state"][0]["lr_scale"] == 0.5
    assert torch.equal(loaded["state"][0]["buf"], torch.ones(3))
    assert loaded["state"][1] == {}


def test_read_checkpoint_info_reads_the_header(tmp_path):
    path = save_simple(tmp_path / "ck.safetensors", epoch=3, step=30, is_best=True)
    info = read_checkpoint_info(path)
    assert (info.path, info.epoch, info.step, info.is_best) == (path, 3, 30, True)
    assert info.metrics == {"loss": 0.5} and info.config == CONFIG
    assert info.size_bytes == path.stat().st_size


# ------------------------------------------------------------------------------------- atomicity

@pytest.mark.parametrize("failing_call", ["write", "fsync"])
def test_full_disk_keeps_the_previous_checkpoint_and_leaves_no_temp_file(
        tmp_path, monkeypatch, failing_call):
    path = save_simple(tmp_path / "ck.safetensors", epoch=1)
    before = path.read_bytes()
    disk_full = OSError(errno.ENOSPC, "No space left on device")

    def fail(*args, **kwargs):
        raise disk_full

    monkeypatch.setattr(os, failing_call, fail)
    with pytest.raises(OSError) as raised:
        save_simple(path, epoch=2)
    monkeypatch.undo()

    assert raised.value.__cause__ is disk_full and raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(path)  # the file, not its hidden temp, is named
    assert path.read_bytes() == before
    assert load_checkpoint(path).epoch == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.safetensors"]


def test_files_are_read_by_safetensors_itself_for_every_dtype_and_shape(tmp_path):
    """Checkpoints are written by our own streaming safetensors writer (no whole-file copy built
    under the GIL); safetensors' reader must read them bit for bit."""
    from safetensors import safe_open

    tensors = {"f64": torch.randn(3, 2, dtype=torch.float64), "f32": torch.randn(5),
               "f16": torch.randn(2, 2).half(), "bf16": torch.randn(7).bfloat16(),
               "i64": torch.arange(6).reshape(2, 3), "i32": torch.arange(4, dtype=torch.int32),
               "i16": torch.arange(3, dtype=torch.int16), "i8": torch.arange(-2, 2, dtype=torch.int8),
               "u8": torch.arange(250, 256, dtype=torch.uint8), "bool": torch.tensor([True, False, True]),
               "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 4), "strided": torch.randn(4, 6)[:, ::2]}
    path = save_checkpoint(tmp_path / "all.safetensors", model_state=tensors, optimizer_state=None,
                           epoch=1, step=2, config=CONFIG, metrics={})
    raw = path.read_bytes()
    assert (8 + int.from_bytes(raw[:8], "little")) % 8 == 0          # tensor data 8-byte aligned
    with safe_open(str(path), framework="pt") as f:
        assert set(f.keys()) == {f"model/{name}" for name in tensors}
        for name, tensor in tensors.items():
            read = f.get_tensor(f"model/{name}")
            assert read.dtype == tensor.dtype and read.shape == tensor.shape, name
            assert torch.equal(read, tensor), name
    loaded = load_checkpoint(path).model_state
    assert all(torch.equal(loaded[name], tensor) for name, tensor in tensors.items())


def test_a_tensor_safetensors_cannot_store_is_refused_by_name(tmp_path):
    with pytest.raises(TypeError, match="'model/phase'.*complex64"):
        save_checkpoint(tmp_path / "c.safetensors", model_state={"phase": torch.zeros(2, dtype=torch.complex64)},
                        optimizer_state=None, epoch=1, step=1, config=CONFIG, metrics={})
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ hostile and junk

def hostile_pickle(marker: pathlib.Path) -> bytes:
    class Payload:
        def __reduce__(self):
            return (pathlib.Path.touch, (marker,))

    return pickle.dumps({"model": Payload()})


def test_hostile_pickle_payload_is_real(tmp_path):
    """Guard for the tests below: unpickling this payload really does run code."""
    pickle.loads(hostile_pickle(tmp_path / "sanity"))
    assert (tmp_path / "sanity").exists()


@pytest.mark.parametrize("name", ["x.safetensors", "x.pt"])
def test_pickle_file_is_refused_without_running_its_code(tmp_path, name):
    marker = tmp_path / "pwned"
    path = tmp_path / name
    path.write_bytes(hostile_pickle(marker))
    for read in (load_checkpoint, read_checkpoint_info):
        with pytest.raises(CheckpointError, match="not a Distill checkpoint") as raised:
            read(path)
        assert str(path) in str(raised.value)
    assert not marker.exists()


def test_torch_save_zip_with_payload_is_refused_without_running_its_code(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (pathlib.Path.touch, (marker,))

    path = tmp_path / "model.safetensors"
    torch.save({"model": tiny_model().state_dict(), "evil": Payload()}, path)
    for read in (load_checkpoint, read_checkpoint_info):
        with pytest.raises(CheckpointError, match="not a Distill checkpoint"):
            read(path)
    assert not marker.exists()


def _plain_safetensors(path):
    save_file({"w": torch.ones(3)}, path)


def _with_doc(**changes):
    def build(path):
        save_simple(path)
        doc = json.loads(read_header_metadata(path)["distill"])
        doc.update(changes)
        save_file({"model/w": torch.ones(3)}, path, metadata={"distill": json.dumps(doc)})
    return build


def read_header_metadata(path):
    data = path.read_bytes()
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + length])["__metadata__"]


def _truncate(fraction):
    def build(path):
        save_simple(path)
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * fraction)])
    return build


REFUSED = {
    "random bytes": (lambda p: p.write_bytes(random.Random(0).randbytes(4096)), "not a Distill"),
    "empty file": (lambda p: p.write_bytes(b""), "not a Distill"),
    "tiny header of garbage": (lambda p: p.write_bytes(b"\x10" + b"\0" * 7 + b"x" * 40),
                               "not a Distill"),
    "truncated in half": (_truncate(0.5), "not a Distill|truncated"),
    "last bytes cut": (_truncate(0.98), "truncated"),
    "plain safetensors": (_plain_safetensors, "not a Distill checkpoint"),
    "invalid JSON metadata": (lambda p: save_file({"w": torch.ones(1)}, p,
                                                  metadata={"distill": "{not json"}),
                              "not valid JSON"),
    "foreign format": (_with_doc(format="other-tool"), "not a Distill checkpoint"),
    "future schema": (_with_doc(schema_version=99),
                      "written by checkpoint schema 99; this Distill reads schema 1 — upgrade"),
    "missing fields": (_with_doc(epoch=None), "damaged"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_files_that_are_not_distill_checkpoints_are_refused(tmp_path, case):
    build, message = REFUSED[case]
    path = tmp_path / "bad.safetensors"
    build(path)
    for read in (load_checkpoint, read_checkpoint_info):
        with pytest.raises(CheckpointError, match=message) as raised:
            read(path)
        assert str(path) in str(raised.value)


def test_missing_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "nowhere.safetensors"
    for read in (load_checkpoint, read_checkpoint_info):
        with pytest.raises(CheckpointError, match="does not exist") as raised:
            read(path)
        assert str(path) in str(raised.value)


def test_module_source_never_uses_code_executing_loaders():
    source = pathlib.Path(checkpoints.__file__).read_text()
    assert "torch.load" not in source
    assert "pickle" not in source


# --------------------------------------------------------------------------------------- manager

def manager_save(manager, epoch, step, is_best=False):
    model = tiny_model(seed=step)
    return manager.save(model_state=model.state_dict(), optimizer_state=None, epoch=epoch,
                        step=step, config=CONFIG, metrics={"loss": 1.0 / step}, is_best=is_best)


def test_manager_keeps_last_n_and_the_best(tmp_path):
    folder = tmp_path / "run" / "checkpoints"
    manager = CheckpointManager(folder, keep_last=2)
    assert manager.latest() is None and manager.best() is None
    for epoch, step in enumerate([10, 20, 30, 40, 50]):
        path = manager_save(manager, epoch, step, is_best=step in (20, 30))
        assert path.name == f"epoch-{epoch:05d}-step-{step:08d}.safetensors"

    assert sorted(p.name for p in folder.iterdir()) == [
        "best.safetensors", "epoch-00003-step-00000040.safetensors",
        "epoch-00004-step-00000050.safetensors"]
    assert manager.latest() == folder / "epoch-00004-step-00000050.safetensors"
    assert manager.best() == folder / "best.safetensors"
    best = load_checkpoint(manager.best())
    assert (best.step, best.is_best) == (30, True)
    assert torch.equal(best.model_state["0.weight"], tiny_model(seed=30).state_dict()["0.weight"])


def test_best_is_a_separate_file_with_the_same_content(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=3)
    path = manager_save(manager, 0, 10, is_best=True)
    assert manager.best().read_bytes() == path.read_bytes()
    assert not os.path.samefile(manager.best(), path)
    path.unlink()
    assert load_checkpoint(manager.best()).step == 10


def test_manager_never_prunes_the_checkpoint_it_just_wrote(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=1)
    manager_save(manager, 5, 500)
    resumed_earlier = manager_save(manager, 1, 100)
    assert [p.name for p in tmp_path.iterdir()] == [resumed_earlier.name]


def test_list_checkpoints_sorted_by_step_skipping_junk_and_temp_files(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=10)
    for epoch, step in [(2, 300), (0, 100), (1, 200)]:
        manager_save(manager, epoch, step, is_best=step == 200)
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    (tmp_path / ".epoch-00009-step-00000900.safetensors.1.ab.tmp").write_bytes(b"partial")
    listed = list_checkpoints(tmp_path)
    assert [(i.step, i.path.name) for i in listed] == [
        (100, "epoch-00000-step-00000100.safetensors"), (200, "best.safetensors"),
        (200, "epoch-00001-step-00000200.safetensors"),
        (300, "epoch-00002-step-00000300.safetensors")]
    assert list_checkpoints(tmp_path / "missing") == []
