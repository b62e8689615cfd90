"""Image data sets: tiny files in the real formats (IDX .gz, CIFAR pickles, tar.gz), no network."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from topoae import datasets
from topoae.core.training import TrainConfig, embed, reconstruct, train
from topoae.datasets import _download, cifar, idx

N_TRAIN, N_TEST = 60, 20  # six / two images per class


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Any attempt to reach the network fails the test; the cache root points into tmp_path."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(_download.urllib.request, "urlopen", refuse)
    monkeypatch.setenv(_download.ENV_VAR, str(tmp_path / "cache-root"))


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic 0x0000 08 ndim, big-endian sizes, values."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def tiny_images(n: int, shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    images = rng.randint(0, 256, size=(n, *shape)).astype(np.uint8)
    images[0].fill(0)  # the extremes 0 and 255 must map to -1 and 1 exactly
    images[1].fill(255)
    labels = np.arange(n, dtype=np.uint8) % 10
    return images, labels


def write_idx_set(folder: Path, *, gz: bool = True) -> dict[str, np.ndarray]:
    """Write the four MNIST-format files of a tiny data set; return the raw arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = tiny_images(N_TRAIN, (28, 28), seed=1)
    x_test, y_test = tiny_images(N_TEST, (28, 28), seed=2)
    arrays = dict(zip(idx.IDX_FILES, (x_train, y_train, x_test, y_test), strict=True))
    for name, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (folder / name).write_bytes(gzip.compress(data))
        else:
            (folder / name.removesuffix(".gz")).write_bytes(data)
    return arrays


def cifar_batch_bytes(images: np.ndarray, labels: np.ndarray, *, protocol: int = 2) -> bytes:
    batch = {
        b"batch_label": b"tiny batch",
        b"labels": [int(v) for v in labels],
        b"data": images.reshape(len(images), -1),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
    }
    return pickle.dumps(batch, protocol=protocol)


def write_cifar_batches(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for i, name in enumerate([*cifar.TRAIN_BATCHES, cifar.TEST_BATCH]):
        images, labels = tiny_images(10, (3, 32, 32), seed=10 + i)
        (folder / name).write_bytes(cifar_batch_bytes(images, labels))
        batches[name] = (images, labels)
    return batches


def write_cifar_archive(path: Path, batches_folder: Path, extra: dict[str, bytes] | None = None):
    with tarfile.open(path, "w:gz") as tar:
        for name in [*cifar.TRAIN_BATCHES, cifar.TEST_BATCH]:
            tar.add(batches_folder / name, arcname=f"{cifar.BATCH_FOLDER}/{name}")
        for arcname, data in (extra or {}).items():
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def scaled(raw: np.ndarray) -> np.ndarray:
    return raw.astype(np.float64) / 127.5 - 1.0


# ---------------------------------------------------------------- IDX parsing


def test_read_idx_returns_the_written_arrays(tmp_path):
    array = np.random.RandomState(0).randint(0, 256, size=(7, 5, 3)).astype(np.uint8)
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(array)))
    (tmp_path / "a").write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "a.gz", 3), array)
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "a", 3), array)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda raw: gzip.compress(raw)[:-20], "cannot be decompressed"),  # truncated gzip
        (lambda raw: b"this is not gzip at all", "cannot be decompressed"),
        (lambda raw: gzip.compress(raw[:-100]), "is truncated"),  # short payload
        (lambda raw: gzip.compress(raw[:10]), "ends inside the header"),
        (lambda raw: gzip.compress(raw + b"\0"), "trailing bytes"),
        (lambda raw: gzip.compress(b"\0\0\x08\x01" + raw[4:]), "magic number"),
        (lambda raw: gzip.compress(b"\0\0\x0d\x03" + raw[4:]), "magic number"),  # float type
    ],
)
def test_read_idx_rejects_damaged_files_by_name(tmp_path, damage, message):
    raw = idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(damage(raw))
    with pytest.raises(ValueError, match=message) as caught:
        idx.read_idx(path, 3)
    assert str(path) in str(caught.value) and "download it again" in str(caught.value)


# ---------------------------------------------------------------- MNIST / Fashion-MNIST


def test_mnist_loads_tiny_idx_files_with_the_paper_preprocessing(tmp_path):
    arrays = write_idx_set(tmp_path)
    data = datasets.load("mnist", seed=3, data_dir=tmp_path, download=False)
    x_train, y_train, x_test, y_test = arrays.values()
    assert data.x_train.shape == (51, 1, 28, 28) and data.x_val.shape == (9, 1, 28, 28)
    assert data.x_test.shape == (N_TEST, 1, 28, 28)
    for x in (data.x_train, data.x_val, data.x_test):
        assert x.dtype == np.float32 and x.min() == -1.0 and x.max() <= 1.0
    assert data.x_test.max() == 1.0
    for y in (data.y_train, data.y_val, data.y_test):
        assert y.dtype == np.int64
    # The official test split, in file order; pixels 0..255 mapped linearly to [-1, 1].
    np.testing.assert_allclose(data.x_test[:, 0], scaled(x_test), atol=1e-6)
    np.testing.assert_array_equal(data.y_test, y_test)
    # Train + validation are exactly the training file's images, with their own labels.
    x_all = np.concatenate([data.x_train, data.x_val])[:, 0]
    y_all = np.concatenate([data.y_train, data.y_val])
    order = np.argsort(x_all.reshape(len(x_all), -1)[:, 5:9].sum(1) + 1e3 * y_all)
    expected = np.argsort(scaled(x_train).reshape(N_TRAIN, -1)[:, 5:9].sum(1) + 1e3 * y_train)
    np.testing.assert_allclose(x_all[order], scaled(x_train)[expected], atol=1e-6)
    np.testing.assert_array_equal(y_all[order], y_train[expected])
    assert data.data_scale == 56.0
    assert data.info["official_files"] is False  # tiny files are not the published ones


def test_validation_split_follows_the_seed(tmp_path):
    write_idx_set(tmp_path)
    a = datasets.load("mnist", seed=0, data_dir=tmp_path)
    b = datasets.load("mnist", seed=0, data_dir=tmp_path)
    c = datasets.load("mnist", seed=1, data_dir=tmp_path)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, c.x_val)
    np.testing.assert_array_equal(a.x_test, c.x_test)


def test_fashion_mnist_reads_its_own_subfolder_and_unpacked_files(tmp_path):
    write_idx_set(tmp_path / "fashion-mnist", gz=False)
    data = datasets.load("fashion-mnist", data_dir=tmp_path, download=False)
    assert data.x_test.shape == (N_TEST, 1, 28, 28)
    assert data.info["classes"][9] == "Ankle boot"


def test_environment_variable_names_the_data_root(tmp_path, monkeypatch):
    write_idx_set(tmp_path / "elsewhere" / "mnist")
    monkeypatch.setenv(_download.ENV_VAR, str(tmp_path / "elsewhere"))
    assert datasets.load("mnist", download=False).x_test.shape[0] == N_TEST


def test_missing_files_name_the_files_and_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        datasets.load("mnist", data_dir=tmp_path, download=False)
    message = str(caught.value)
    assert str(tmp_path / "mnist") in message and "--data-dir" in message
    assert all(name in message for name in idx.IDX_FILES)
    assert "ossci-datasets.s3.amazonaws.com" in message


def test_count_mismatch_between_images_and_labels(tmp_path):
    write_idx_set(tmp_path)
    labels = np.zeros(N_TRAIN - 1, dtype=np.uint8)
    (tmp_path / idx.IDX_FILES[1]).write_bytes(gzip.compress(idx_bytes(labels)))
    with pytest.raises(ValueError, match=f"holds {N_TRAIN} images but .* {N_TRAIN - 1} labels"):
        datasets.load("mnist", data_dir=tmp_path)


def test_fashion_files_in_the_mnist_folder_are_recognised(tmp_path, monkeypatch):
    write_idx_set(tmp_path)
    # Pretend the tiny training file is Fashion-MNIST's published one.
    digest = _download.md5sum(tmp_path / idx.IDX_FILES[0])
    monkeypatch.setitem(idx.FASHION_MNIST_MD5, idx.IDX_FILES[0], digest)
    with pytest.raises(ValueError, match="is the Fashion-MNIST file"):
        datasets.load("mnist", data_dir=tmp_path)


# ---------------------------------------------------------------- downloading (faked)


class FakeServer:
    """Stands in for ``urllib.request.urlopen``: serves files by URL, records requests."""

    def __init__(self, files: dict[str, bytes], broken: tuple[str, ...] = ()):
        self.files, self.broken, self.requested = files, broken, []

    def __call__(self, url, timeout=None):
        self.requested.append(url)
        if url.startswith(self.broken):
            raise urllib.error.URLError("connection refused")
        data = self.files[url.rsplit("/", 1)[1]]
        response = io.BytesIO(data)
        response.headers = {"Content-Length": str(len(data))}
        return response


def test_download_fetches_missing_files_checks_md5_and_tries_mirrors(tmp_path, monkeypatch):
    source = tmp_path / "source"
    write_idx_set(source)
    served = {name: (source / name).read_bytes() for name in idx.IDX_FILES}
    for name in served:
        monkeypatch.setitem(idx.MNIST_MD5, name, _download.md5sum(source / name))
    server = FakeServer(served, broken=(idx.MNIST_MIRRORS[0],))
    monkeypatch.setattr(_download.urllib.request, "urlopen", server)
    data = datasets.load("mnist", data_dir=tmp_path / "root")
    assert data.x_test.shape == (N_TEST, 1, 28, 28)
    assert data.info["official_files"] is True
    target = tmp_path / "root" / "mnist"
    assert sorted(p.name for p in target.iterdir()) == sorted(idx.IDX_FILES)  # no temp files
    assert len(server.requested) == 8  # each file: first mirror refused, second served
    # A second load finds the files and downloads nothing.
    datasets.load("mnist", data_dir=tmp_path / "root")
    assert len(server.requested) == 8


def test_download_with_wrong_checksum_keeps_nothing(tmp_path, monkeypatch):
    source = tmp_path / "source"
    write_idx_set(source)
    served = {name: (source / name).read_bytes() for name in idx.IDX_FILES}
    monkeypatch.setattr(_download.urllib.request, "urlopen", FakeServer(served))
    with pytest.raises(ValueError, match="not the published"):
        datasets.load("fashion-mnist", data_dir=tmp_path / "root")
    leftovers = list((tmp_path / "root" / "fashion-mnist").iterdir())
    assert leftovers == []


def test_failed_download_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.setattr(_download.urllib.request, "urlopen", FakeServer({}, broken=("http",)))
    with pytest.raises(FileNotFoundError, match="download failed") as caught:
        datasets.load("fashion-mnist", data_dir=tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "fashion-mnist") in message and idx.IDX_FILES[2] in message
    assert "fashion-mnist.s3" in message


def test_cifar_download_unpacks_the_archive(tmp_path, monkeypatch):
    write_cifar_batches(tmp_path / "batches")
    write_cifar_archive(tmp_path / cifar.ARCHIVE, tmp_path / "batches")
    served = {cifar.ARCHIVE: (tmp_path / cifar.ARCHIVE).read_bytes()}
    monkeypatch.setattr(cifar, "ARCHIVE_MD5", _download.md5sum(tmp_path / cifar.ARCHIVE))
    monkeypatch.setattr(_download.urllib.request, "urlopen", FakeServer(served))
    data = datasets.load("cifar10", data_dir=tmp_path / "root")
    assert data.x_test.shape == (10, 3, 32, 32)
    assert (tmp_path / "root" / "cifar10" / cifar.BATCH_FOLDER / "test_batch").is_file()


# ---------------------------------------------------------------- CIFAR-10


def test_cifar_batches_load_in_channel_row_column_order(tmp_path):
    batches = write_cifar_batches(tmp_path / cifar.BATCH_FOLDER)
    data = datasets.load("cifar10", seed=0, data_dir=tmp_path, download=False)
    assert data.x_train.shape == (42, 3, 32, 32) and data.x_val.shape == (8, 3, 32, 32)
    raw_test, labels_test = batches["test_batch"]
    flat = raw_test.reshape(10, -1)
    # b"data" rows hold 1,024 red, then green, then blue values, each row-major.
    c, h, w = 2, 5, 17
    expected = scaled(flat[:, c * 1024 + h * 32 + w])
    np.testing.assert_allclose(data.x_test[:, c, h, w], expected, atol=1e-6)
    np.testing.assert_array_equal(data.y_test, labels_test)
    assert data.x_test.min() == -1.0 and data.x_test.max() == 1.0
    assert data.data_scale == pytest.approx(110.851, abs=1e-3)
    all_train = np.concatenate([batches[b][1] for b in cifar.TRAIN_BATCHES])
    assert sorted(np.concatenate([data.y_train, data.y_val])) == sorted(all_train)


def test_cifar_archive_is_unpacked_safely(tmp_path):
    write_cifar_batches(tmp_path / "src")
    outside = tmp_path / "escaped"
    (tmp_path / "data").mkdir()
    write_cifar_archive(
        tmp_path / "data" / cifar.ARCHIVE, tmp_path / "src", extra={"../escaped": b"gotcha"}
    )
    data = datasets.load("cifar10", data_dir=tmp_path / "data", download=False)
    assert data.x_test.shape == (10, 3, 32, 32)
    assert not outside.exists()
    unpacked = tmp_path / "data" / cifar.BATCH_FOLDER
    assert sorted(p.name for p in unpacked.iterdir()) == sorted(cifar.BATCH_MD5)


def test_cifar_batches_written_with_old_numpy_names_load(tmp_path):
    images, labels = tiny_images(4, (3, 32, 32), seed=0)
    raw = cifar_batch_bytes(images, labels, protocol=2)
    # The published batches refer to numpy.core.multiarray (NumPy < 2).
    legacy = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in legacy
    (tmp_path / "b").write_bytes(legacy)
    x, y = cifar.read_cifar_batch(tmp_path / "b")
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda good: good[: len(good) // 2], "truncated, corrupt"),
        (lambda good: b"\x80\x02garbage", "truncated, corrupt"),
        (lambda good: pickle.dumps({b"data": 1}), "lacks the keys"),
        (lambda good: pickle.dumps({b"data": np.zeros((2, 3072)), b"labels": [0, 1]}), "uint8"),
        (
            lambda good: pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}),
            r"\(n, 3072\)",
        ),
        (lambda good: pickle.dumps({b"data": _Evil(), b"labels": []}), "refusing to load"),
    ],
)
def test_cifar_rejects_damaged_batches(tmp_path, content, message):
    batches = tmp_path / cifar.BATCH_FOLDER
    write_cifar_batches(batches)
    good = (batches / "data_batch_3").read_bytes()
    (batches / "data_batch_3").write_bytes(content(good))
    with pytest.raises(ValueError, match=message) as caught:
        datasets.load("cifar10", data_dir=tmp_path, download=False)
    assert "data_batch_3" in str(caught.value)


def test_cifar_rejects_a_corrupt_archive(tmp_path):
    write_cifar_batches(tmp_path / "src")
    write_cifar_archive(tmp_path / cifar.ARCHIVE, tmp_path / "src")
    good = (tmp_path / cifar.ARCHIVE).read_bytes()
    (tmp_path / cifar.ARCHIVE).write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"cannot be unpacked.*download it again"):
        datasets.load("cifar10", data_dir=tmp_path, download=False)


def test_cifar_missing_files_message(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cifar-10-python\.tar\.gz") as caught:
        datasets.load("cifar10", data_dir=tmp_path, download=False)
    assert "cs.toronto.edu" in str(caught.value) and str(tmp_path / "cifar10") in str(caught.value)


# ---------------------------------------------------------------- subsampling and digits


def test_train_and_test_size_draw_stratified_subsets(tmp_path):
    write_idx_set(tmp_path)
    data = datasets.load("mnist", data_dir=tmp_path, train_size=30, test_size=10)
    y_all = np.concatenate([data.y_train, data.y_val])
    assert len(y_all) == 30 and np.bincount(y_all).tolist() == [3] * 10
    assert np.bincount(data.y_test).tolist() == [1] * 10
    again = datasets.load("mnist", data_dir=tmp_path, train_size=30, test_size=10, seed=5)
    np.testing.assert_array_equal(data.x_test, again.x_test)  # same subset for every seed
    with pytest.raises(ValueError, match="exceeds the 60 train images"):
        datasets.load("mnist", data_dir=tmp_path, train_size=61)
    with pytest.raises(ValueError, match="at least 10"):
        datasets.load("mnist", data_dir=tmp_path, test_size=5)


def test_digits_split_and_scaling():
    data = datasets.load("digits", seed=0)
    assert data.x_train.shape == (1221, 1, 8, 8) and data.x_val.shape == (216, 1, 8, 8)
    assert data.x_test.shape == (360, 1, 8, 8) and data.data_scale == 16.0
    assert data.x_test.dtype == np.float32 and data.y_test.dtype == np.int64
    assert data.x_train.min() == -1.0 and data.x_train.max() == 1.0
    # Pixel values 0..16 land on the grid -1, -7/8, ..., 1.
    np.testing.assert_allclose((data.x_test + 1) * 8, np.round((data.x_test + 1) * 8), atol=1e-5)
    counts = np.bincount(data.y_test)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified 20 %
    other = datasets.load("digits", seed=1)
    np.testing.assert_array_equal(data.x_test, other.x_test)
    assert not np.array_equal(data.x_val, other.x_val)
    small = datasets.load("digits", train_size=200, test_size=100)
    assert len(small.x_train) + len(small.x_val) == 200 and len(small.x_test) == 100


# ---------------------------------------------------------------- end to end


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_one_epoch_of_topoae_on_tiny_files(tmp_path, name):
    if name == "mnist":
        write_idx_set(tmp_path)
    else:
        write_cifar_batches(tmp_path / cifar.BATCH_FOLDER)
    data = datasets.load(name, data_dir=tmp_path, download=False)
    config = TrainConfig(
        architecture="deep",
        hidden_sizes=(64, 32),
        lam=0.5,
        data_scale=data.data_scale,
        batch_size=8,
        learning_rate=1e-3,
        max_epochs=1,
        device="cpu",
    )
    result = train(data.x_train, data.x_val, config)
    (record,) = result.history
    assert np.isfinite(record["train_loss"]) and record["train_topological"] > 0
    latent = embed(result.model, data.x_test)
    recon = reconstruct(result.model, data.x_test)
    assert latent.shape == (len(data.x_test), 2) and np.isfinite(latent).all()
    assert recon.shape == data.x_test.shape and np.abs(recon).max() <= 1.0  # Tanh output


def test_cli_train_on_tiny_mnist_files(tmp_path, capsys):
    from topoae.cli import main

    write_idx_set(tmp_path / "data")
    out = tmp_path / "run"
    argv = ["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--epochs", "1"]
    argv += ["--batch-size", "8", "--train-size", "40", "--test-size", "20", "--out", str(out)]
    argv += ["--model", "linear-topoae"]  # the plumbing is under test; the DeepAE is above
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "train 34, val 6, test 20" in captured.err
    assert "estimated time of a full run: about" in captured.err
    assert (out / "summary.json").is_file()
    code = main(["train", "--dataset", "spheres", "--train-size", "100", "--out", str(out / "x")])
    assert code == 2 and "--train-size is not available for spheres" in capsys.readouterr().err
    code = main(["train", "--dataset", "digits", "--data-dir", "x", "--out", str(out / "y")])
    assert code == 2 and "--data-dir is not available for digits" in capsys.readouterr().err
