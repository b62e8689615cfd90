"""Users' files as data sets: the readers agree, the split and statistics are right, bad files
give one-line errors naming the file, column and row."""

from __future__ import annotations

import json
import math
import tracemalloc

import numpy as np
import pytest

from topoae import datasets
from topoae.datasets import _split
from topoae.datasets.files import FileSource, Rows, load_file, read_rows_like, reload
from topoae.errors import DataFileError, InputError

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

N, D = 400, 5
NAMES = ["f0", "f1", "f2", "f3", "f4"]


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(7)
    # Offsets and scales differ per feature so that standardisation matters.
    x = rng.normal(size=(N, D)) * [1, 10, 0.1, 3, 100] + [0, 5, -2, 1e3, 7]
    y = rng.integers(0, 4, size=N)
    return x, y


def write_csv(path, x, y=None, *, delimiter=",", header=True):
    with open(path, "w") as handle:
        if header:
            handle.write(delimiter.join(NAMES[: x.shape[1]] + (["label"] if y is not None else [])))
            handle.write("\n")
        for i, row in enumerate(x):
            cells = [repr(float(v)) for v in row] + ([str(y[i])] if y is not None else [])
            handle.write(delimiter.join(cells) + "\n")
    return path


def write_h5ad(path, x, y, *, sparse=False):
    anndata = pytest.importorskip("anndata")
    import scipy.sparse

    obs = pd.DataFrame({"label": y}, index=[f"c{i}" for i in range(len(x))])
    var = pd.DataFrame(index=NAMES[: x.shape[1]])
    adata = anndata.AnnData(scipy.sparse.csr_matrix(x) if sparse else x, obs=obs, var=var)
    adata.obsm["X_rep"] = x
    adata.layers["raw"] = x
    adata.write_h5ad(path)
    return path


@pytest.fixture(scope="module")
def files(table, tmp_path_factory):
    x, y = table
    folder = tmp_path_factory.mktemp("files")
    frame = pd.DataFrame(x, columns=NAMES).assign(label=y)
    frame.to_parquet(folder / "t.parquet")
    np.save(folder / "t.npy", x)
    np.savez(folder / "t.npz", X=x, y=y)
    return {
        "csv": (write_csv(folder / "t.csv", x, y), {"labels": "label"}),
        "tsv": (write_csv(folder / "t.tsv", x, y, delimiter="\t"), {"labels": "label"}),
        "csv-no-header": (write_csv(folder / "n.csv", x, y, header=False), {"labels": 5}),
        "parquet": (folder / "t.parquet", {"labels": "label"}),
        "npy": (folder / "t.npy", {"labels": y}),
        "npz": (folder / "t.npz", {}),
        "h5ad": (write_h5ad(folder / "t.h5ad", x, y), {"labels": "label"}),
        "h5ad-sparse": (write_h5ad(folder / "s.h5ad", x, y, sparse=True), {"labels": "label"}),
        "h5ad-obsm": (folder / "t.h5ad", {"labels": "label", "use_rep": "X_rep"}),
        "h5ad-layer": (folder / "t.h5ad", {"labels": "label", "layer": "raw"}),
    }


def expected(x, y, seed=0):
    """The split and standardisation written out directly."""
    n_test = math.ceil(0.1 * len(x))
    n_val = round(0.15 * (len(x) - n_test))
    order = np.random.RandomState(seed).permutation(len(x))
    test = np.sort(order[:n_test])
    val = np.sort(order[n_test : n_test + n_val])
    train = np.sort(order[n_test + n_val :])
    fit = x[np.sort(np.concatenate([train, val]))]
    mean, std = fit.mean(axis=0), fit.std(axis=0)
    z = ((x - mean) / std).astype(np.float32)
    return train, val, test, mean, std, z


@pytest.mark.parametrize(
    "kind",
    [
        "csv",
        "tsv",
        "csv-no-header",
        "parquet",
        "npy",
        "npz",
        "h5ad",
        "h5ad-sparse",
        "h5ad-obsm",
        "h5ad-layer",
    ],
)
def test_every_reader_gives_the_expected_split_and_values(kind, files, table):
    x, y = table
    path, options = files[kind]
    data = load_file(path, seed=3, **options)
    train, val, test, mean, std, z = expected(x, y, seed=3)
    src = data.source
    np.testing.assert_array_equal(src.train_index, train)
    np.testing.assert_array_equal(src.val_index, val)
    np.testing.assert_array_equal(src.test_index, test)
    np.testing.assert_allclose(src.mean, mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(src.std, std, rtol=1e-12)
    for got, rows in ((data.x_train, train), (data.x_val, val), (data.x_test, test)):
        got = np.asarray(got)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, z[rows], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(data.y_train, y[train])
    np.testing.assert_array_equal(data.y_test, y[test])
    assert data.has_labels and data.n_features == D


def test_the_readers_agree_exactly(files):
    reference = load_file(files["csv"][0], labels="label", seed=11)
    for kind in ("tsv", "parquet", "npy", "npz", "h5ad", "h5ad-sparse", "h5ad-obsm"):
        path, options = files[kind]
        other = load_file(path, seed=11, **options)
        assert other.source.split_sha256 == reference.source.split_sha256, kind
        assert other.source.mean == reference.source.mean, kind
        assert other.source.std == reference.source.std, kind
        for split in ("x_train", "x_val", "x_test", "y_train", "y_val", "y_test"):
            np.testing.assert_array_equal(
                np.asarray(getattr(other, split)), np.asarray(getattr(reference, split)), kind
            )


def test_names_and_laziness(files):
    csv = load_file(files["csv"][0], labels="label")
    assert csv.feature_names == tuple(NAMES) and isinstance(csv.x_train, np.ndarray)
    assert load_file(files["csv-no-header"][0], labels=5).feature_names is None
    npy = load_file(files["npy"][0])
    assert isinstance(npy.x_train, Rows) and isinstance(npy.x_train.matrix.data, np.memmap)
    assert not npy.has_labels and not npy.y_train.any()
    h5 = load_file(files["h5ad"][0])
    assert isinstance(h5.x_train, Rows)  # backed X
    eager = load_file(files["npy"][0], lazy=False)
    assert isinstance(eager.x_train, np.ndarray)
    np.testing.assert_array_equal(np.asarray(npy.x_train), eager.x_train)


def test_rows_indexing_matches_the_array(files):
    lazy = load_file(files["npy"][0]).x_train
    full = np.asarray(lazy)
    assert lazy.shape == full.shape and len(lazy) == len(full)
    pick = np.array([17, 3, 3, 250, 0])
    np.testing.assert_array_equal(lazy[pick], full[pick])
    np.testing.assert_array_equal(lazy[10:20], full[10:20])
    np.testing.assert_array_equal(lazy[-1], full[-1])
    np.testing.assert_array_equal(np.concatenate(list(lazy.chunks(7))), full)


def test_split_sizes_and_caps(files, table):
    data = load_file(files["npy"][0])
    assert (data.source.n_test, data.source.n_val, data.source.n_train) == (40, 54, 306)
    capped = load_file(files["npy"][0], max_test=25, max_val=30)
    src = capped.source
    assert (src.n_test, src.n_val, src.n_train) == (25, 30, 345)
    everything = np.concatenate([src.train_index, src.val_index, src.test_index])
    np.testing.assert_array_equal(np.sort(everything), np.arange(N))
    other = load_file(files["npy"][0], seed=1).source
    assert other.split_sha256 != data.source.split_sha256


def test_features_selection_and_string_labels(tmp_path, table):
    x, y = table
    frame = pd.DataFrame(x, columns=NAMES)
    frame["kind"] = np.array(["b", "a", "c"])[y % 3]
    frame.to_csv(tmp_path / "s.csv", index=False)
    data = load_file(tmp_path / "s.csv", labels="kind", features=["f3", "f0"], standardize=False)
    assert data.feature_names == ("f3", "f0") and data.label_names == ("a", "b", "c")
    rows = data.source.train_index
    np.testing.assert_array_equal(data.x_train, x[rows][:, [3, 0]].astype(np.float32))
    names = np.array(data.label_names)[data.y_train]
    np.testing.assert_array_equal(names, frame["kind"].to_numpy()[rows])


def test_h5ad_categorical_labels(tmp_path, table):
    anndata = pytest.importorskip("anndata")
    x, y = table
    cats = pd.Categorical(np.array(["t", "b"])[y % 2], categories=["t", "b"])
    adata = anndata.AnnData(x, obs=pd.DataFrame({"cell": cats}, index=[str(i) for i in range(N)]))
    adata.write_h5ad(tmp_path / "c.h5ad")
    data = load_file(tmp_path / "c.h5ad", labels="cell")
    assert data.label_names == ("t", "b")
    np.testing.assert_array_equal(data.y_test, (y % 2)[data.source.test_index])


def test_memmap_is_never_copied_whole(tmp_path, monkeypatch):
    n, d = 100_000, 64
    big = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32, shape=(n, d))
    big[:] = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    big.flush()
    del big
    monkeypatch.setattr(_split, "BLOCK_VALUES", 1 << 16)
    tracemalloc.start()
    data = load_file(tmp_path / "big.npy", max_test=500, max_val=500, hash_file=False)
    batch = data.x_train[np.arange(0, n - 2000, 97)]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert isinstance(data.x_train, Rows) and batch.shape == (len(batch), d)
    # The file is 25.6 MB; a whole copy would allocate at least that (float64: twice).
    assert peak < n * d * 4 / 4


def test_record_is_json_and_reload_reproduces(files, tmp_path):
    data = load_file(files["csv"][0], labels="label", seed=5)
    record = json.loads(json.dumps(data.source.to_dict()))
    assert record["sha256"] and record["label_column"] == "label" and record["n_features"] == D
    assert FileSource.from_dict(record).mean == data.source.mean
    again = reload(record)
    np.testing.assert_array_equal(again.x_train, data.x_train)
    changed = tmp_path / "changed.csv"
    changed.write_text(files["csv"][0].read_text().replace("\n", "\n", 1) + "1,2,3,4,5,0\n")
    with pytest.raises(DataFileError, match="changed"):
        reload(record, path=changed)
    with pytest.raises(InputError):
        FileSource.from_dict({"kind": "other"})


def test_read_rows_like_matches_columns_by_name(files, tmp_path, table):
    x, _ = table
    data = load_file(files["csv"][0], labels="label")
    record = data.source.to_dict()
    frame = pd.DataFrame(x[:30], columns=NAMES)[["f4", "f2", "f0", "f1", "f3"]]
    frame["extra"] = "text"
    frame.to_csv(tmp_path / "new.csv", index=False)
    rows = np.asarray(read_rows_like(tmp_path / "new.csv", record))
    z = ((x[:30] - np.array(record["mean"])) / np.array(record["std"])).astype(np.float32)
    np.testing.assert_array_equal(rows, z)
    frame.drop(columns=["f2"]).to_csv(tmp_path / "missing.csv", index=False)
    with pytest.raises(DataFileError, match="'f2'"):
        read_rows_like(tmp_path / "missing.csv", record)
    np.save(tmp_path / "narrow.npy", x[:, :3])
    npy_record = load_file(files["npy"][0]).source.to_dict()
    with pytest.raises(DataFileError, match=r"3 feature columns.*trained on 5"):
        read_rows_like(tmp_path / "narrow.npy", npy_record)


def test_load_dispatches_paths(files):
    data = datasets.load(str(files["npz"][0]), seed=2)
    assert data.source.format == "npz" and data.source.seed == 2
    with pytest.raises(DataFileError, match="no such file"):
        datasets.load("missing.csv")


# ---------------------------------------------------------------------------------- bad input


def one_line_error(call, match):
    with pytest.raises(DataFileError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
    return str(info.value)


def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("a,b,c\n", "header but no data rows"),
        ("a,b\n1,2\n3,4,5\n", "line 3 has 3 fields"),
        ("a,b\n1,2\n3,x\n", "line 3, column 'b' holds 'x', not a number"),
        ("a,b\n1,2\n3,\n", "line 3, column 'b' is empty"),
        ("a,b\n1,2\n3,4\nnan,1\n", "line 4, column 'a' holds 'nan'"),
        ("1,2\n3,inf\n", "line 2, column '1' holds 'inf'"),
        ("a,b\nu,1\nv,2\n", "column 'a' holds 'u'"),
    ],
)
def test_bad_csv(tmp_path, text, match):
    one_line_error(lambda: load_file(write(tmp_path / "bad.csv", text)), match)


def test_bad_options_and_sizes(tmp_path, files):
    path = files["csv"][0]
    one_line_error(lambda: load_file(path, labels="zz"), "no label column 'zz'")
    one_line_error(lambda: load_file(path, features=["f0", "nope"]), "no feature column 'nope'")
    one_line_error(lambda: load_file(path, labels="label", features=["label"]), "both")
    small = write_csv(tmp_path / "small.csv", np.arange(40.0).reshape(20, 2))
    msg = one_line_error(lambda: load_file(small, min_train=28), "needs at least")
    assert "at least 37" in msg
    assert load_file(small, min_train=15).source.n_train == 15
    one_line_error(lambda: load_file(tmp_path / "x.txt"), "no such file")
    write(tmp_path / "x.txt", "1,2\n")
    one_line_error(lambda: load_file(tmp_path / "x.txt"), "unknown extension")
    frac = write_csv(tmp_path / "frac.csv", np.ones((30, 1)), np.full(30, 0.5))
    one_line_error(lambda: load_file(frac, labels="label"), "row 1 holds 0.5")
    with pytest.raises(InputError):
        load_file(path, test_fraction=0)
    with pytest.raises(InputError, match="seed"):
        load_file(path, seed=-1)
    binary = tmp_path / "binary.csv"
    np.save(tmp_path / "binary.npy", np.ones((30, 2)))
    binary.write_bytes((tmp_path / "binary.npy").read_bytes())
    one_line_error(lambda: load_file(binary), "not a UTF-8 text file")


def test_bad_numpy_files(tmp_path):
    one_line_error(lambda: load_file(write(tmp_path / "t.npy", "1,2,3\n")), "not a valid .npy")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    one_line_error(lambda: load_file(tmp_path / "o.npy"), "pickled")
    np.savez(tmp_path / "o.npz", X=np.array([{"a": 1}], dtype=object))
    one_line_error(lambda: load_file(tmp_path / "o.npz"), "pickled")
    np.savez(tmp_path / "two.npz", a=np.ones((30, 2)), b=np.ones(30))
    one_line_error(lambda: load_file(tmp_path / "two.npz"), r"found arrays \['a', 'b'\]")
    one_line_error(lambda: load_file(write(tmp_path / "g.npz", "junk")), "not a valid .npz")
    np.save(tmp_path / "one.npy", np.ones(30))
    one_line_error(lambda: load_file(tmp_path / "one.npy"), r"shape \(30,\).*2-D")
    np.save(tmp_path / "s.npy", np.array([["a", "b"]] * 30))
    one_line_error(lambda: load_file(tmp_path / "s.npy"), "numeric")
    x = np.ones((30, 3))
    x[17, 2] = np.nan
    np.save(tmp_path / "nan.npy", x)
    one_line_error(lambda: load_file(tmp_path / "nan.npy"), "row 18, column '2' holds nan")
    np.save(tmp_path / "ok.npy", np.ones((30, 3)))
    one_line_error(lambda: load_file(tmp_path / "ok.npy", labels=np.ones(29)), "one label per row")


def test_bad_parquet(tmp_path):
    one_line_error(
        lambda: load_file(write(tmp_path / "g.parquet", "junk")), "not a readable Parquet"
    )
    frame = pd.DataFrame({"a": np.arange(30.0), "b": ["x"] * 30})
    frame.to_parquet(tmp_path / "s.parquet")
    one_line_error(lambda: load_file(tmp_path / "s.parquet"), "column 'b' holds string")
    assert load_file(tmp_path / "s.parquet", labels="b").n_features == 1
    frame = pd.DataFrame({"a": [1.0, 2.0, None] + [1.0] * 27})
    frame.to_parquet(tmp_path / "n.parquet")
    one_line_error(lambda: load_file(tmp_path / "n.parquet"), "row 3, column 'a' is missing")


def test_bad_h5ad(tmp_path, files):
    path = files["h5ad"][0]
    one_line_error(lambda: load_file(write(tmp_path / "g.h5ad", "junk")), "not a readable .h5ad")
    one_line_error(lambda: load_file(path, use_rep="X_pca"), "no representation 'X_pca'.*X_rep")
    one_line_error(lambda: load_file(path, layer="counts"), r"no layer 'counts'.*\['raw'\]")
    one_line_error(lambda: load_file(path, labels="cell_type"), "no obs column 'cell_type'")
    one_line_error(lambda: load_file(path, use_rep="X_rep", layer="raw"), "not both")
    one_line_error(lambda: load_file(files["csv"][0], use_rep="X_pca"), ".h5ad files only")


def test_the_your_data_page_runs(tmp_path, monkeypatch, capsys):
    """Every ```python block of docs/your-data.md runs, and prints what its comments say."""
    pytest.importorskip("anndata")
    import re
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "your-data.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "your-data.md", "exec"), namespace)
        expected = re.findall(r"^print\(.*\)\s+# (.*)$", block, flags=re.M)
        printed = capsys.readouterr().out.splitlines()
        assert printed == expected


def test_streaming_statistics_over_many_blocks(files, table, monkeypatch):
    """Blocks of 8 rows (50 of them, merged pairwise) give numpy's mean and std."""
    x, y = table
    monkeypatch.setattr(_split, "BLOCK_VALUES", 8 * D)
    _, _, test, mean, std, z = expected(x, y, seed=4)
    reference = None
    for kind in ("csv", "npy", "parquet", "h5ad"):
        path, options = files[kind]
        data = load_file(path, seed=4, **options)
        np.testing.assert_allclose(data.source.mean, mean, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(data.source.std, std, rtol=1e-12)
        np.testing.assert_allclose(data.x_test, z[test], rtol=1e-6, atol=1e-6)
        if reference is None:
            reference = data
        assert data.source.mean == reference.source.mean, kind
        np.testing.assert_array_equal(np.asarray(data.x_train), np.asarray(reference.x_train))


def test_csv_dialect_details(tmp_path):
    text = '\ufeff"a","b"\r\n1,2\r\n\r\n3,4\r\n5,6\r\n' + "7,8\r\n" * 27
    data = load_file(write(tmp_path / "w.csv", text), standardize=False)
    assert data.feature_names == ("a", "b") and data.source.n_rows == 30
    rows = np.empty((30, 2), np.float32)
    for split in ("train", "val", "test"):
        rows[getattr(data.source, f"{split}_index")] = getattr(data, f"x_{split}")
    np.testing.assert_array_equal(rows[:3], [[1, 2], [3, 4], [5, 6]])
    constant = load_file(write(tmp_path / "c.csv", "a,b\n" + "1,3\n" * 29 + "2,3\n"))
    assert constant.source.std[1] == 1.0 and np.all(constant.x_train[:, 1] == 0)
    no_val = load_file(tmp_path / "c.csv", validation_fraction=0)
    assert no_val.x_val.shape == (0, 2) and no_val.source.n_train == 27


def test_h5ad_column_major_matrix_is_refused(tmp_path, table):
    anndata = pytest.importorskip("anndata")
    import scipy.sparse

    x, _ = table
    anndata.AnnData(scipy.sparse.csc_matrix(x)).write_h5ad(tmp_path / "csc.h5ad")
    one_line_error(lambda: load_file(tmp_path / "csc.h5ad"), "column-major")
