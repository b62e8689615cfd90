"""Checked torch files: round trip, every damaged byte refused, old files read, no code run."""

import enum
import io
import pickle
import re
from collections import OrderedDict, defaultdict, namedtuple

import numpy as np
import pytest
import torch
from fuzz import byte_mutations, every_bit_flip, planted_files

from topoae._safe_files import load_checked_torch, save_checked_torch
from topoae._schema import ListOf, Optional, StateDictLike, Tensor
from topoae.errors import DataFileError


class Colour(enum.IntEnum):
    RED = 1


Point = namedtuple("Point", "x y")


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))


def _payload(model):
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    return {
        "format": "test",
        "epoch": 3,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": torch.Generator().manual_seed(1).get_state(),
        "history": [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": float("nan")}],
        "snapshot": torch.arange(6.0).reshape(2, 3),
        "best": None,
    }


def _schema(model):
    return {
        "format": str,
        "epoch": int,
        "model": StateDictLike(model.state_dict()),
        "optimizer": {"state": dict, "param_groups": ListOf(dict, min_len=1)},
        "generator": Tensor(dtype=torch.uint8, ndim=1),
        "history": ListOf({"epoch": int, "loss": float}),
        "snapshot": Tensor(dtype=torch.float32, shape=(None, 3), finite=True),
        "best": Optional(dict),
    }


def test_round_trip_and_readable_header(tmp_path):
    model = _model()
    payload = _payload(model)
    path = save_checked_torch(tmp_path / "checkpoint.pt", payload)
    assert path.read_bytes().startswith(b"topoae-checked-torch 1\nsha256 ")
    loaded = load_checked_torch(path, kind="checkpoint", schema=_schema(model))
    assert loaded["epoch"] == 3 and loaded["history"][0] == {"epoch": 1, "loss": 0.5}
    for key, value in payload["model"].items():
        assert torch.equal(loaded["model"][key], value)
    state = payload["optimizer"]["state"][0]["exp_avg"]
    assert torch.equal(loaded["optimizer"]["state"][0]["exp_avg"], state)
    assert torch.equal(loaded["generator"], payload["generator"])


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        (np.zeros(2), "payload.x"),
        ([1, {"y": object()}], "payload.x[1].y"),
        ({(1, 2): 3}, "payload.x"),
        (defaultdict(int), "payload.x is a defaultdict"),
        (Colour.RED, "payload.x is a Colour"),
        (Point(1, 2), "payload.x is a Point"),
    ],
)
def test_save_refuses_what_weights_only_cannot_read(tmp_path, bad, where):
    with pytest.raises(TypeError, match="^" + re.escape(where)):
        save_checked_torch(tmp_path / "a.pt", {"x": bad})
    assert list(tmp_path.iterdir()) == []


def test_numpy_scalars_are_stored_as_python_numbers(tmp_path):
    path = save_checked_torch(tmp_path / "a.pt", {"loss": np.float64(0.5), "n": np.int64(3)})
    loaded = load_checked_torch(path, kind="test", schema={"loss": float, "n": int})
    assert loaded == {"loss": 0.5, "n": 3} and type(loaded["loss"]) is float


def test_every_bit_flip_and_every_truncation_refused(tmp_path):
    path = save_checked_torch(tmp_path / "model.pt", {"w": torch.arange(50.0), "n": 1})
    raw = path.read_bytes()
    count = 0
    for damaged in [*every_bit_flip(raw), *(raw[:i] for i in range(len(raw)))]:
        path.write_bytes(damaged)
        with pytest.raises(DataFileError, match=r"model\.pt.*delete it, or rerun"):
            load_checked_torch(path, kind="run model")
        count += 1
    assert count == 2 * len(raw) > 2000


def test_random_damage_refused(tmp_path):
    model = _model()
    path = save_checked_torch(tmp_path / "checkpoint.pt", _payload(model))
    raw = path.read_bytes()
    for kind, damaged in byte_mutations(raw, seed=0, n=200):
        path.write_bytes(damaged)
        with pytest.raises(DataFileError, match=r"checkpoint\.pt"):
            load_checked_torch(path, kind="checkpoint", schema=_schema(model))
        assert kind


def test_schema_problems_name_the_place(tmp_path):
    model = _model()
    path = tmp_path / "checkpoint.pt"
    schema = _schema(model)
    cases = {
        "optimizer": (lambda p: p.pop("optimizer"), r"at optimizer: missing"),
        "epoch": (lambda p: p.update(epoch="3"), r"at epoch: a str, expected int"),
        "bool": (lambda p: p.update(epoch=True), r"at epoch: a bool"),
        "loss": (lambda p: p["history"][1].update(loss="x"), r"at history\[1\]\.loss"),
        "shape": (
            lambda p: p["model"].update({"0.weight": torch.zeros(5, 3)}),
            r"at model\.0\.weight: torch\.float32 of shape \(5, 3\), the model has "
            r"torch\.float32 of shape \(4, 3\)",
        ),
        "keys": (lambda p: p["model"].pop("2.bias"), r"missing 2\.bias"),
        "finite": (
            lambda p: p.update(snapshot=torch.full((2, 3), float("inf"))),
            "NaN or infinite",
        ),
    }
    for change, message in cases.values():
        payload = _payload(model)
        change(payload)
        save_checked_torch(path, payload)
        with pytest.raises(DataFileError, match=message):
            load_checked_torch(path, kind="checkpoint", schema=schema)


def test_old_plain_files_read_with_weights_only(tmp_path):
    """Checkpoints written before the header (with NumPy snapshots) stay readable."""
    path = tmp_path / "checkpoint.pt"
    old = {"model": OrderedDict(w=torch.ones(2)), "snapshots": [{"latent": np.ones((3, 2))}]}
    torch.save(old, path)
    loaded = load_checked_torch(path, kind="checkpoint", schema={"model": dict})
    np.testing.assert_array_equal(loaded["snapshots"][0]["latent"], np.ones((3, 2)))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFileError, match="old-format file without checksum"):
        load_checked_torch(path, kind="checkpoint")
    torch.save(old, path)
    with pytest.raises(DataFileError, match="no topoae header"):
        load_checked_torch(path, kind="checkpoint", allow_unchecked=False)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_planted_code_never_runs(tmp_path):
    marker = tmp_path / "MARKER"
    files = planted_files(marker)
    pickle.loads(files["a bare pickle"])  # the payload works when unpickled carelessly
    assert marker.exists()
    marker.unlink()
    for name, data in files.items():
        path = tmp_path / "model.pt"
        path.write_bytes(data)
        with pytest.raises(DataFileError, match=r"model\.pt") as caught:
            load_checked_torch(path, kind="run model")
        assert not marker.exists(), name
        assert "weights_only` set to `False`" not in str(caught.value)
    path.write_bytes(files["torch.save with a planted object"])
    with pytest.raises(DataFileError, match=r"could run code \(.*GLOBAL \w+\.system"):
        load_checked_torch(path, kind="run model")


def test_missing_newer_and_folder(tmp_path):
    with pytest.raises(DataFileError, match="no such checkpoint file"):
        load_checked_torch(tmp_path / "nothing.pt", kind="checkpoint")
    with pytest.raises(DataFileError, match="is a folder"):
        load_checked_torch(tmp_path, kind="checkpoint")
    buffer = io.BytesIO()
    torch.save({}, buffer)
    path = tmp_path / "future.pt"
    path.write_bytes(b"topoae-checked-torch 2\nsha256 00 1\n" + buffer.getvalue())
    with pytest.raises(DataFileError, match="upgrade topoae"):
        load_checked_torch(path, kind="checkpoint")


def test_no_unsafe_torch_load_in_the_source():
    """Every torch.load call in topoae passes weights_only=True, in the readers owning a format."""
    import ast
    from pathlib import Path

    import topoae

    src = Path(topoae.__file__).parent
    calls = {}
    for path in src.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "weights_only=False" not in text, path
        for node in ast.walk(ast.parse(text)):
            func = getattr(node, "func", None)
            if isinstance(node, ast.Call) and getattr(func, "attr", None) == "load":
                if getattr(func.value, "id", None) != "torch":
                    continue
                safe = [k for k in node.keywords if k.arg == "weights_only"]
                assert safe and getattr(safe[0].value, "value", None) is True, (path, node.lineno)
                name = path.relative_to(src).as_posix()
                calls[name] = calls.get(name, 0) + 1
    assert set(calls) == {"_safe_files.py", "estimator/fileformat.py"}, calls
