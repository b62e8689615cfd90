"""JSON and npz readers: every damaged, re-typed or planted file is one DataFileError."""

import io
import json
import zipfile

import numpy as np
import pytest
from fuzz import byte_mutations, json_mutations, planted_files

from topoae._io import save_npz, write_json
from topoae._safe_files import read_json, read_npz
from topoae._schema import DictOf, ListOf, Optional, problem
from topoae.errors import DataFileError

HISTORY = [{"epoch": 1, "train_loss": 0.5, "val_loss": 0.25}, {"epoch": 2, "train_loss": 0.4}]
HISTORY_SCHEMA = ListOf({"epoch": int, "train_loss": float, "val_loss": Optional(float)})
RESULTS = {
    "settings": {"dataset": "spheres", "seeds": [0, 1]},
    "records": [{"method": "pca", "seed": 0, "measures": {"kl_0.1": 0.3}}],
}
RESULTS_SCHEMA = {
    "settings": {"dataset": str, "seeds": ListOf(int)},
    "records": ListOf({"method": str, "seed": int, "measures": DictOf(float)}),
}
SNAPSHOTS = {
    "latent": ("f", ("S", "s", 2)),
    "step": ("i", ("S",)),
    "epoch": ("i", ("S",)),
    "labels": ("i", ("s",)),
}


def _snapshots(path):
    rng = np.random.default_rng(0)
    return save_npz(
        path,
        latent=rng.normal(size=(4, 10, 2)).astype(np.float32),
        step=np.arange(4),
        epoch=np.arange(4),
        labels=np.arange(10) % 3,
    )


def test_json_round_trip_and_clear_errors(tmp_path):
    path = write_json(tmp_path / "history.json", HISTORY)
    assert read_json(path, expect=list, schema=HISTORY_SCHEMA) == HISTORY
    path.write_text('{"a": 1,\n "b": }')
    with pytest.raises(DataFileError, match=r"history\.json: broken JSON .* line 2 column 7"):
        read_json(path)
    path.write_text("[1, 2]")
    with pytest.raises(DataFileError, match="a JSON list, expected a dict"):
        read_json(path, kind="run config")
    write_json(path, {"records": []})
    with pytest.raises(DataFileError, match=r"not a valid results file \(missing settings"):
        read_json(path, kind="results", required_keys=["settings", "records"])
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(DataFileError, match="not UTF-8"):
        read_json(path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataFileError, match="nested too deeply"):
        read_json(path, expect=list)
    with pytest.raises(DataFileError, match="is a folder"):
        read_json(tmp_path)
    with pytest.raises(DataFileError, match="no such"):
        read_json(tmp_path / "missing.json")


def test_record_without_method_is_named(tmp_path):
    broken = json.loads(json.dumps(RESULTS))
    del broken["records"][0]["method"]
    path = write_json(tmp_path / "results.json", broken)
    with pytest.raises(DataFileError, match=r"results\.json: .*at records\[0\]\.method: missing"):
        read_json(path, kind="comparison results", schema=RESULTS_SCHEMA)


@pytest.mark.parametrize(
    ("document", "schema"), [(HISTORY, HISTORY_SCHEMA), (RESULTS, RESULTS_SCHEMA)]
)
def test_json_fuzz_gives_valid_data_or_data_file_error(tmp_path, document, schema):
    """Re-typed and byte-damaged JSON: either refused, or a document the schema accepts."""
    path = tmp_path / "file.json"
    raw = json.dumps(document).encode()
    expect = type(document)
    mutants = [*json_mutations(document, seed=1, n=300)]
    mutants += [m for _, m in byte_mutations(raw, seed=2, n=300)]
    refused = 0
    for data in mutants:
        path.write_bytes(data)
        try:
            obj = read_json(path, expect=expect, schema=schema)
        except DataFileError as error:
            assert str(error).startswith(str(path)) and "\n" not in str(error)
            refused += 1
        else:
            assert problem(obj, schema) is None
    assert refused > len(mutants) / 2


def test_npz_round_trip_and_named_dimensions(tmp_path):
    path = _snapshots(tmp_path / "snapshots.npz")
    arrays = read_npz(path, arrays=SNAPSHOTS)
    assert arrays["latent"].shape == (4, 10, 2) and arrays["labels"].dtype.kind == "i"
    save_npz(path, latent=np.zeros((4, 10, 2)), step=np.arange(3), epoch=np.arange(4))
    with pytest.raises(DataFileError, match=r"array 'step' has shape \(3,\); axis 0 must be 4"):
        read_npz(path, arrays=SNAPSHOTS, allow_missing=["labels"])


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"latent": np.zeros((3, 2), np.int64)}, "dtype int64, expected kind 'f'"),
        ({"latent": np.zeros(3)}, "1 dimensions, expected 2"),
        ({"latent": np.array([[np.nan, 0.0]])}, "NaN or infinite"),
        ({"other": np.zeros((1, 2))}, "no array 'latent'"),
        ({"latent": np.zeros((1, 1), dtype=[("a", "f4")])}, "expected kind 'f'"),
    ],
)
def test_npz_wrong_arrays_are_named(tmp_path, arrays, message):
    path = save_npz(tmp_path / "embedding_test.npz", **arrays)
    with pytest.raises(DataFileError, match=message):
        read_npz(path, arrays={"latent": ("f", 2), "labels": ("i", 1)}, allow_missing=["labels"])


def test_npz_declaring_a_huge_array_is_refused_before_allocating(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**7, 10**6)}
    )
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("latent.npy", header.getvalue() + bytes(64))
    with pytest.raises(DataFileError, match=r"declares .* but holds only"):
        read_npz(path, arrays={"latent": ("f", 2)})


def test_npz_fuzz_gives_the_same_arrays_or_data_file_error(tmp_path):
    """zip's CRC-32 catches damaged data; damage elsewhere (dates, padding) changes nothing."""
    path = _snapshots(tmp_path / "snapshots.npz")
    raw = path.read_bytes()
    good = read_npz(path, arrays=SNAPSHOTS)
    refused = 0
    for _, data in byte_mutations(raw, seed=3, n=400):
        path.write_bytes(data)
        try:
            arrays = read_npz(path, arrays=SNAPSHOTS)
        except DataFileError as error:
            assert "snapshots.npz" in str(error) and "\n" not in str(error)
            refused += 1
        else:
            for name, array in good.items():
                np.testing.assert_array_equal(arrays[name], array)
    assert refused > 250  # appended junk and flips in zip metadata change nothing


def test_npz_with_pickled_objects_runs_nothing(tmp_path):
    marker = tmp_path / "MARKER"
    path = tmp_path / "embedding_test.npz"
    path.write_bytes(planted_files(marker)["an npz with a pickled object array"])
    with pytest.raises(DataFileError, match="Python objects"):
        read_npz(path, arrays={"latent": ("f", 1)})
    assert not marker.exists()
    for name, data in planted_files(marker).items():
        path.write_bytes(data)
        with pytest.raises(DataFileError):
            read_npz(path, arrays={"latent": ("f", 1)})
        assert not marker.exists(), name
