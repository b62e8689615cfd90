"""Tests of the scikit-learn estimator `topoae.TopologicalAutoencoder`."""

import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.manifold import trustworthiness
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn

from topoae import TopologicalAutoencoder
from topoae.core.training import TrainingDivergedError
from topoae.estimator import expected_failed_checks


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # These models are tiny: a second intra-op thread only adds synchronisation, which on a
    # busy 2-core machine made each BatchNorm call ~60x slower (measured: 12 ms vs 0.2 ms).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small(**params):
    """A fast estimator for tests: few epochs, a narrow network, a fixed seed."""
    defaults = dict(max_epochs=2, batch_size=16, hidden_sizes=(8,), random_state=0, device="cpu")
    defaults.update(params)
    return TopologicalAutoencoder(**defaults)


@pytest.fixture
def blobs():
    X, y = make_blobs(n_samples=120, n_features=5, centers=3, random_state=0)
    return X, y


# --------------------------------------------------------------------------- conformance


@parametrize_with_checks(
    [small(n_components=1, batch_size=8)], expected_failed_checks=expected_failed_checks
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_fit_transform_shapes_and_fitted_attributes(blobs):
    X, _ = blobs
    ae = small(max_epochs=3)
    assert ae.fit(X) is ae
    Z = ae.transform(X)
    assert Z.shape == (120, 2) and Z.dtype == np.float32 and np.isfinite(Z).all()
    assert ae.n_features_in_ == 5 and ae.input_shape_ == (5,) and ae.n_components_ == 2
    assert ae.architecture_ == "mlp" and ae.standardize_ is True
    assert isinstance(ae.model_, torch.nn.Module)
    assert ae.n_epochs_ == len(ae.history_) == 3
    assert [r["epoch"] for r in ae.history_] == [1, 2, 3]
    assert {"train_loss", "val_loss", "train_topological"} <= set(ae.history_[0])
    assert ae.best_val_loss_ == min(r["val_loss"] for r in ae.history_)
    np.testing.assert_allclose(ae.mean_, X.mean(axis=0))
    np.testing.assert_allclose(ae.scale_, X.std(axis=0))
    X_back = ae.inverse_transform(Z)
    assert X_back.shape == X.shape and X_back.dtype == np.float32
    np.testing.assert_array_equal(small(max_epochs=3).fit_transform(X), Z)


def test_score_is_negative_reconstruction_error(blobs):
    X, _ = blobs
    ae = small().fit(X)
    expected = -np.mean((ae.inverse_transform(ae.transform(X)).astype(np.float64) - X) ** 2)
    assert ae.score(X) == pytest.approx(expected, rel=1e-5)
    assert ae.score(X) < 0


def test_lam_zero_is_the_vanilla_autoencoder(blobs):
    X, _ = blobs
    ae = small(lam=0.0).fit(X)
    assert ae.model_.lam == 0 and not hasattr(ae.model_, "latent_norm")
    assert "train_topological" not in ae.history_[0]
    assert hasattr(small(lam=0.5).fit(X).model_, "latent_norm")


def test_same_random_state_gives_identical_embedding(blobs):
    X, _ = blobs
    first = small(max_epochs=3, random_state=7).fit_transform(X)
    second = small(max_epochs=3, random_state=7).fit_transform(X)
    other = small(max_epochs=3, random_state=8).fit_transform(X)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other)


def test_fit_leaves_global_random_state_alone(blobs):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    small().fit(blobs[0])
    assert torch.equal(torch.rand(3), expected)


def test_training_improves_the_embedding():
    # openTSNE-style: the same network before and after training. "Before" runs one epoch at
    # a negligible learning rate, so only the BatchNorm statistics adapt to the data.
    X, y = load_digits(return_X_y=True)
    X, y = X[:500], y[:500]
    Xs = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1)
    params = dict(batch_size=64, learning_rate=1e-3, random_state=0, device="cpu")
    with pytest.warns(UserWarning, match="constant"):  # digits has blank border pixels
        before = TopologicalAutoencoder(max_epochs=1, **{**params, "learning_rate": 1e-12})
        Z0 = before.fit_transform(X)
    with pytest.warns(UserWarning, match="constant"):
        Z1 = TopologicalAutoencoder(max_epochs=30, **params).fit_transform(X)

    def knn(Z):
        return cross_val_score(KNeighborsClassifier(5), Z, y, cv=5).mean()

    assert knn(Z0) < 0.4 < 0.6 < knn(Z1)
    assert trustworthiness(Xs, Z0, n_neighbors=10) < 0.7
    assert trustworthiness(Xs, Z1, n_neighbors=10) > 0.8


# --------------------------------------------------------------------------- input kinds


def test_dataframe_input_records_feature_names(blobs):
    X, _ = blobs
    columns = [f"f{i}" for i in range(5)]
    df = pd.DataFrame(X, columns=columns)
    ae = small().fit(df)
    assert list(ae.feature_names_in_) == columns
    np.testing.assert_array_equal(ae.transform(df), small().fit(X).transform(X))
    with pytest.raises(ValueError, match="feature names"):
        ae.transform(df.rename(columns={"f0": "other"}))
    names = ["topologicalautoencoder0", "topologicalautoencoder1"]
    assert list(ae.get_feature_names_out()) == names
    out = clone(ae).set_output(transform="pandas").fit(df).transform(df)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == names


def test_tensor_and_float32_inputs_match_numpy(blobs):
    X, _ = blobs
    X32 = X.astype(np.float32)
    reference = small().fit_transform(X32.astype(np.float64))
    np.testing.assert_array_equal(small().fit_transform(X32), reference)
    np.testing.assert_array_equal(small().fit_transform(torch.from_numpy(X32)), reference)
    ae = small().fit(torch.from_numpy(X32).requires_grad_())
    np.testing.assert_array_equal(ae.transform(torch.from_numpy(X32)), reference)


def test_image_input_keeps_its_shape(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, size=(60, 1, 6, 6)).astype(np.float32)
    ae = small(hidden_sizes=(16,), data_scale="image").fit(images)
    assert ae.architecture_ == "deep" and ae.standardize_ is False and ae.mean_ is None
    assert ae.input_shape_ == (1, 6, 6) and ae.n_features_in_ == 36
    assert ae.data_scale_ == pytest.approx(12.0)  # sqrt(4 * 36)
    Z = ae.transform(images)
    assert Z.shape == (60, 2)
    decoded = ae.inverse_transform(Z)
    assert decoded.shape == (60, 1, 6, 6) and np.abs(decoded).max() <= 1  # Tanh output
    for wrong in (images.reshape(60, 36), images.reshape(60, 4, 3, 3)):
        with pytest.raises(ValueError, match=r"fitted on samples of shape \(1, 6, 6\)"):
            ae.transform(wrong)
    loaded = TopologicalAutoencoder.load(ae.save(tmp_path / "images.pt"))
    np.testing.assert_array_equal(loaded.transform(images), Z)
    assert loaded.input_shape_ == (1, 6, 6) and loaded.data_scale_ == ae.data_scale_
    with pytest.warns(UserWarning, match="Tanh"):
        small(hidden_sizes=(16,)).fit(images * 3)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.nan, "NaN"),
        (np.inf, "infinity"),
    ],
)
def test_non_finite_input_is_refused(blobs, bad, message):
    X = blobs[0].copy()
    X[3, 2] = bad
    with pytest.raises(ValueError, match=message):
        small().fit(X)
    ae = small().fit(blobs[0])
    with pytest.raises(ValueError, match=message):
        ae.transform(X)


def test_wrong_shapes_at_transform(blobs):
    X, _ = blobs
    ae = small().fit(X)
    with pytest.raises(ValueError, match="X has 4 features, but TopologicalAutoencoder is"):
        ae.transform(X[:, :4])
    with pytest.raises(ValueError, match="Expected 2D array"):
        ae.transform(X[0])
    with pytest.raises(ValueError, match=r"fitted on samples of shape \(5,\)"):
        ae.transform(X.reshape(120, 5, 1, 1))
    with pytest.raises(ValueError, match="latent space has 2 dimensions"):
        ae.inverse_transform(np.zeros((3, 3)))


def test_n_components_must_be_smaller_than_n_features(blobs):
    with pytest.raises(ValueError, match=r"n_components=5 must be smaller .* 5 feature\(s\)"):
        small(n_components=5).fit(blobs[0])


def test_fewer_samples_than_a_batch_adapts_and_warns(blobs):
    X = blobs[0][:20]
    with pytest.warns(UserWarning, match="batch_size=28 is larger than the 17 training samples"):
        ae = small(batch_size=28).fit(X)
    assert ae.batch_size_ == 17 and np.isfinite(ae.transform(X)).all()
    with pytest.raises(ValueError, match=r"3 sample\(s\).*minimum of 4"):
        small().fit(X[:3])
    ae = small(validation_fraction=0.0, batch_size=2).fit(X[:2])  # no split: 2 are enough
    assert ae.n_epochs_ == 2


def test_constant_feature_warns_and_stays_finite(blobs):
    X = blobs[0].copy()
    X[:, 1] = 3.25
    with pytest.warns(UserWarning, match=r"1 feature\(s\) are constant.*indices \[1\]"):
        ae = small().fit(X)
    assert ae.scale_[1] == 1.0 and ae.mean_[1] == 3.25
    assert np.isfinite(ae.transform(X)).all()


def test_unfitted_estimator_raises_not_fitted(blobs, tmp_path):
    ae = small()
    for call in (
        lambda: ae.transform(blobs[0]),
        lambda: ae.inverse_transform(np.zeros((2, 2))),
        lambda: ae.score(blobs[0]),
        lambda: ae.save(tmp_path / "m.pt"),
    ):
        with pytest.raises(NotFittedError):
            call()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lam": -1.0}, "lam must be"),
        ({"n_components": 0}, "n_components must be"),
        ({"batch_size": 1}, "batch_size must be"),
        ({"learning_rate": 0.0}, "learning_rate must be"),
        ({"validation_fraction": 1.0}, "validation_fraction must be"),
        ({"standardize": "yes"}, "standardize must be"),
        ({"architecture": "transformer"}, "architecture must be"),
        ({"architecture": "linear", "hidden_sizes": (4,)}, "no hidden layers"),
        ({"match_edges": "both"}, "match_edges must be"),
        ({"data_scale": -2.0}, "data_scale must be"),
        ({"random_state": -3}, "random_state must be"),
    ],
)
def test_invalid_parameters_fail_at_fit_not_init(blobs, params, message):
    ae = small(**params)  # storing is never an error
    with pytest.raises(ValueError, match=message):
        ae.fit(blobs[0])


def test_divergence_names_the_epoch_and_leaves_it_unfitted(blobs):
    ae = small(standardize=False)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1.*Lower the learning rate.*standard"):
        ae.fit(blobs[0] * 1e19)  # squares overflow float32
    with pytest.raises(NotFittedError):
        ae.transform(blobs[0])
    with pytest.raises(ValueError, match="beyond float32's range"):
        ae.fit(blobs[0] * 1e300)
    fitted = small(standardize=False).fit(blobs[0])
    with pytest.raises(ValueError, match="beyond float32's range"):
        fitted.transform(blobs[0] * 1e300)  # never a silent NaN embedding


def test_verbose_shows_progress_else_silent(blobs, capsys):
    small().fit(blobs[0])
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    small(verbose=True).fit(blobs[0])
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "2/2" in captured.err and "val_loss=" in captured.err


# --------------------------------------------------------------------------- custom networks


def make_pair(n_latent=2):
    torch.manual_seed(3)
    encoder = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, n_latent))
    decoder = nn.Sequential(nn.Linear(n_latent, 8), nn.ReLU(), nn.Linear(8, 5))
    return encoder, decoder


def test_custom_encoder_decoder_is_copied_not_trained_in_place(blobs, tmp_path):
    X, _ = blobs
    encoder, decoder = make_pair()
    before = [p.detach().clone() for p in encoder.parameters()]
    ae = small(architecture=(encoder, decoder), hidden_sizes=None).fit(X)
    assert ae.architecture_ == "custom"
    for old, new in zip(before, encoder.parameters(), strict=True):
        assert torch.equal(old, new)
    twin = clone(ae)
    assert twin.architecture[0] is not encoder
    np.testing.assert_array_equal(twin.fit(X).transform(X), ae.transform(X))

    path = ae.save(tmp_path / "custom.pt")
    with pytest.raises(ValueError, match="custom encoder / decoder; pass the same modules"):
        TopologicalAutoencoder.load(path)
    loaded = TopologicalAutoencoder.load(path, architecture=make_pair())
    np.testing.assert_array_equal(loaded.transform(X), ae.transform(X))


def test_custom_encoder_of_wrong_width_is_explained(blobs):
    with pytest.raises(ValueError, match=r"expected \(2,\) = \(n_components,\)"):
        small(architecture=make_pair(n_latent=3), hidden_sizes=None).fit(blobs[0])


# --------------------------------------------------------------------------- persistence


def test_save_load_round_trip_is_exact(tmp_path):
    X = np.random.default_rng(1).normal(size=(2000, 20))
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(20)])
    ae = small(hidden_sizes=(32,), batch_size=64).fit(df)
    path = ae.save(tmp_path / "sub" / "model.pt")
    assert path.stat().st_size < X.nbytes / 4  # weights and config, not the data
    assert not list(path.parent.glob("*.tmp"))
    loaded = TopologicalAutoencoder.load(path)
    np.testing.assert_array_equal(loaded.transform(df), ae.transform(df))
    Z = ae.transform(df)
    np.testing.assert_array_equal(loaded.inverse_transform(Z), ae.inverse_transform(Z))
    assert loaded.get_params() == ae.get_params()
    assert loaded.history_ == ae.history_ and loaded.n_epochs_ == ae.n_epochs_
    assert list(loaded.feature_names_in_) == list(ae.feature_names_in_)
    np.testing.assert_array_equal(loaded.mean_, ae.mean_)
    # Only tensors and text inside: the safe loader reads it.
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "topoae.TopologicalAutoencoder"


def test_load_refuses_damaged_and_foreign_files(blobs, tmp_path):
    ae = small().fit(blobs[0])
    good = ae.save(tmp_path / "good.pt").read_bytes()

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="damaged, truncated"):
        TopologicalAutoencoder.load(truncated)

    payload = torch.load(io.BytesIO(good), weights_only=True)
    key = next(k for k in payload["state_dict"] if k.endswith("weight"))
    payload["state_dict"][key].view(-1)[0] += 1.0
    tampered = tmp_path / "tampered.pt"
    torch.save(payload, tampered)
    with pytest.raises(ValueError, match="corrupt"):
        TopologicalAutoencoder.load(tampered)

    flipped = bytearray(good)  # flip the bytes of one stored weight in the raw file
    weight = payload["state_dict"][key].view(-1)[1:4].numpy().tobytes()
    at = bytes(flipped).find(weight)
    assert at > 0
    flipped[at] ^= 0xFF
    (tmp_path / "flipped.pt").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match=r"corrupt|damaged"):
        TopologicalAutoencoder.load(tmp_path / "flipped.pt")

    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "epoch": 3}, foreign)
    with pytest.raises(ValueError, match="not a TopologicalAutoencoder file"):
        TopologicalAutoencoder.load(foreign)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="Cannot read"):
        TopologicalAutoencoder.load(tmp_path / "notes.txt")
    pickled = tmp_path / "pickled.pt"
    torch.save({"format": "topoae.TopologicalAutoencoder", "x": object()}, pickled)
    with pytest.raises(ValueError, match="Cannot read"):  # weights_only refuses objects
        TopologicalAutoencoder.load(pickled)

    newer = dict(torch.load(io.BytesIO(good), weights_only=True), format_version=99)
    torch.save(newer, tmp_path / "newer.pt")
    with pytest.raises(ValueError, match="newer"):
        TopologicalAutoencoder.load(tmp_path / "newer.pt")
    with pytest.raises(FileNotFoundError):
        TopologicalAutoencoder.load(tmp_path / "missing.pt")


def test_pickle_and_joblib_round_trips(blobs, tmp_path):
    X, _ = blobs
    ae = small().fit(X)
    expected = ae.transform(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(ae)).transform(X), expected)
    joblib.dump(ae, tmp_path / "ae.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "ae.joblib").transform(X), expected)


# --------------------------------------------------------------------------- model selection


def test_pipeline_with_a_classifier():
    X, y = make_blobs(n_samples=300, n_features=10, centers=4, random_state=1)
    pipe = Pipeline(
        [
            ("embed", small(max_epochs=10, batch_size=32, learning_rate=1e-3)),
            ("knn", KNeighborsClassifier(5)),
        ]
    )
    pipe.fit(X[:200], y[:200])
    assert pipe.score(X[200:], y[200:]) > 0.9
    assert pipe.named_steps["embed"].n_features_in_ == 10


def test_grid_search_over_a_tiny_grid(blobs):
    X, _ = blobs
    search = GridSearchCV(small(), {"lam": [0.0, 0.5], "hidden_sizes": [(8,), (4,)]}, cv=2)
    search.fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.isfinite(scores).all() and (scores < 0).all()
    assert search.best_params_["lam"] in (0.0, 0.5)
    assert search.best_estimator_.transform(X).shape == (120, 2)
    assert search.best_score_ == scores.max()
