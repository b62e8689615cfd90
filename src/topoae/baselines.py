"""The paper's four baselines and two newer ones behind one interface.

PCA, Isomap, t-SNE and UMAP are the paper's; PaCMAP and TriMap (the ``more-baselines``
extra) are what a user would reach for today.

Every baseline is fitted on training inputs and then places *new* points
(the test split) with :meth:`~Baseline.transform`, so all methods of a comparison
are scored on the same held-out points. The defaults are the paper's settings for
each data set (docs/method.md §6, :mod:`topoae.paper`); keyword overrides win.

Scoring of t-SNE differs from the paper: t-SNE has no out-of-sample map in
scikit-learn, so the authors scored it on a random *training* subsample of test
size. openTSNE can place new points (each test point is optimised against the
fixed training embedding, starting from the median of its nearest training
neighbours), so here t-SNE is scored on the test split like every other method.
:func:`topoae.apps.compare.compare` additionally records the paper's way (see
``extras["train_subsample"]`` in its results).

PaCMAP places new points with its documented ``transform(X, basis=X_train)``: each new point
is embedded against the fixed training embedding from its neighbours among the training
points. TriMap has no out-of-sample map, so :class:`TriMapBaseline` embeds new points
*transductively*: :meth:`~TriMapBaseline.transform` fits one TriMap on the training and the
new points together (no labels are used) and returns the new points' rows; the training
rows of that joint fit replace ``embedding_``.

Examples
--------
>>> import numpy as np
>>> from topoae.baselines import make_baseline
>>> X = np.random.RandomState(0).normal(size=(200, 5))
>>> pca = make_baseline("pca").fit(X[:150])
>>> pca.transform(X[150:]).shape
(50, 2)
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

from topoae.errors import InputError

__all__ = [
    "BASELINES",
    "Baseline",
    "IsomapBaseline",
    "PCABaseline",
    "PaCMAPBaseline",
    "TSNEBaseline",
    "TriMapBaseline",
    "UMAPBaseline",
    "make_baseline",
]

#: scikit-learn's t-SNE gradient (used by the paper) is 4x openTSNE's, so the same
#: step needs a 4x larger learning rate in openTSNE (sklearn's TSNE docstring says so).
SKLEARN_TO_OPENTSNE_LEARNING_RATE = 4.0


def _require(module: str, package: str, extra: str = "baselines"):
    import importlib

    from topoae.errors import MissingDependencyError

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(
            f"This baseline needs {package}: pip install 'topoae[{extra}]' "
            f"(or pip install {package})."
        ) from error


def _as_matrix(X, name: str = "X") -> np.ndarray:
    """Validate and flatten inputs to a float64 matrix of shape (n, features)."""
    array = np.asarray(X)
    if array.ndim < 2:
        raise InputError(f"{name} must have shape (n_samples, features...), got {array.shape}.")
    if len(array) == 0:
        raise InputError(f"{name} is empty.")
    array = array.reshape(len(array), -1).astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        raise InputError(f"{name} contains NaN or inf; clean or impute the data first.")
    return array


class Baseline:
    """Common interface: ``fit(X)``, ``transform(X)``, ``fit_transform(X)``.

    Parameters are stored by ``__init__``; validation happens in :meth:`fit`.
    Fitted state ends in ``_``. Inputs of shape ``(n, *sample_shape)`` are flattened.

    Attributes
    ----------
    name : str
        Registry name (``"pca"``, ...).
    reconstructs : bool
        Whether :meth:`inverse_transform` exists (the table's Data MSE).
    embedding_ : ndarray of shape (n_train, n_components)
        Embedding of the training inputs, after :meth:`fit`.
    n_features_in_ : int
    """

    name = "baseline"
    reconstructs = False

    def __init__(self, *, n_components: int = 2, random_state: int | None = None) -> None:
        self.n_components = n_components
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments (JSON-ready), as recorded in comparison results."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fit_input(self, X, min_samples: int = 2) -> np.ndarray:
        matrix = _as_matrix(X)
        if self.n_components < 1:
            raise InputError(f"n_components must be >= 1, got {self.n_components}.")
        if len(matrix) < max(min_samples, self.n_components + 1):
            raise InputError(
                f"{type(self).__name__} needs at least {max(min_samples, self.n_components + 1)}"
                f" training samples, got {len(matrix)}."
            )
        return matrix

    def _check_transform_input(self, X) -> np.ndarray:
        if not hasattr(self, "n_features_in_"):
            raise InputError(f"This {type(self).__name__} is not fitted yet; call fit(X) first.")
        matrix = _as_matrix(X)
        if matrix.shape[1] != self.n_features_in_:
            raise InputError(
                f"X has {matrix.shape[1]} features but {type(self).__name__} was fitted on "
                f"{self.n_features_in_}."
            )
        return matrix

    def fit(self, X) -> Baseline:
        """Fit on training inputs ``X`` of shape (n, features...); returns ``self``."""
        raise NotImplementedError

    def transform(self, X) -> np.ndarray:
        """Embed new inputs: ``(n, features...)`` -> ``(n, n_components)`` float64."""
        raise NotImplementedError

    def fit_transform(self, X) -> np.ndarray:
        """Fit on ``X`` and return its embedding (the training embedding, not a re-transform)."""
        fitted = self.fit(X)
        embedding: np.ndarray = fitted.embedding_  # type: ignore[attr-defined]  # set by fit
        return embedding

    def inverse_transform(self, Z) -> np.ndarray:
        """Map embeddings back to input space (only where :attr:`reconstructs`)."""
        raise NotImplementedError(f"{type(self).__name__} has no inverse transform.")


class PCABaseline(Baseline):
    """Principal component analysis (scikit-learn); reconstructs, so it has a Data MSE."""

    name = "pca"
    reconstructs = True

    def fit(self, X) -> PCABaseline:
        from sklearn.decomposition import PCA

        matrix = self._check_fit_input(X)
        self.n_features_in_ = matrix.shape[1]
        self.estimator_ = PCA(n_components=self.n_components, random_state=self.random_state)
        self.embedding_ = self.estimator_.fit_transform(matrix)
        return self

    def transform(self, X) -> np.ndarray:
        matrix = self._check_transform_input(X)
        return self.estimator_.transform(matrix)

    def inverse_transform(self, Z) -> np.ndarray:
        """Reconstruct flattened inputs, shape ``(n, n_features_in_)``."""
        if not hasattr(self, "estimator_"):
            raise InputError("This PCABaseline is not fitted yet; call fit(X) first.")
        return self.estimator_.inverse_transform(np.asarray(Z, dtype=np.float64))


class IsomapBaseline(Baseline):
    """Isomap (scikit-learn) with ``n_neighbors`` (the paper: 25 on Spheres)."""

    name = "isomap"

    def __init__(
        self, *, n_neighbors: int = 5, n_components: int = 2, random_state: int | None = None
    ) -> None:
        super().__init__(n_components=n_components, random_state=random_state)
        self.n_neighbors = n_neighbors

    def fit(self, X) -> IsomapBaseline:
        from sklearn.manifold import Isomap

        matrix = self._check_fit_input(X, min_samples=self.n_neighbors + 1)
        self.n_features_in_ = matrix.shape[1]
        self.estimator_ = Isomap(n_neighbors=self.n_neighbors, n_components=self.n_components)
        # ARPACK's start vector comes from NumPy's global RNG: seed it for repeatable runs.
        state = np.random.get_state()
        if self.random_state is not None:
            np.random.seed(self.random_state % 2**32)
        try:
            self.embedding_ = self.estimator_.fit_transform(matrix)
        finally:
            np.random.set_state(state)
        return self

    def transform(self, X) -> np.ndarray:
        matrix = self._check_transform_input(X)
        return self.estimator_.transform(matrix)


class TSNEBaseline(Baseline):
    """t-SNE (openTSNE), parameterised like the paper's scikit-learn t-SNE.

    Parameters
    ----------
    perplexity : float
    learning_rate : float
        In **scikit-learn's convention** (the paper's values); openTSNE receives
        ``4 * learning_rate``, the same step size.
    early_exaggeration : float
        12, as in scikit-learn.
    n_iter : int
        Iterations after the 250 early-exaggeration ones (750 = scikit-learn's 1000 in all).
    initialization : {"pca", "random", "spectral"}
        openTSNE's default ``"pca"`` (scikit-learn's default then was ``"random"``).
    n_jobs : int
    random_state : int, optional
    transform_kwargs : dict, optional
        Passed to openTSNE's ``TSNEEmbedding.transform`` when placing new points.

    Notes
    -----
    :meth:`transform` optimises each new point against the fixed training embedding
    (openTSNE's defaults: perplexity 5, start at the median of the 25 nearest training
    points, 250 iterations). The paper could not do this and scored t-SNE on a
    training subsample instead.
    """

    name = "tsne"

    def __init__(
        self,
        *,
        perplexity: float = 30.0,
        learning_rate: float = 200.0,
        early_exaggeration: float = 12.0,
        n_iter: int = 750,
        initialization: str = "pca",
        n_components: int = 2,
        n_jobs: int = 1,
        random_state: int | None = None,
        transform_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(n_components=n_components, random_state=random_state)
        self.perplexity = perplexity
        self.learning_rate = learning_rate
        self.early_exaggeration = early_exaggeration
        self.n_iter = n_iter
        self.initialization = initialization
        self.n_jobs = n_jobs
        self.transform_kwargs = transform_kwargs

    def fit(self, X) -> TSNEBaseline:
        open_tsne = _require("openTSNE", "openTSNE")
        matrix = self._check_fit_input(X)
        # openTSNE needs 3 * perplexity neighbours; say so instead of failing deep inside.
        if len(matrix) <= 3 * self.perplexity:
            raise InputError(
                f"t-SNE with perplexity {self.perplexity} needs more than {3 * self.perplexity:g}"
                f" training samples, got {len(matrix)}; lower perplexity."
            )
        if not self.learning_rate > 0:
            raise InputError(f"learning_rate must be positive, got {self.learning_rate}.")
        self.n_features_in_ = matrix.shape[1]
        tsne = open_tsne.TSNE(
            n_components=self.n_components,
            perplexity=self.perplexity,
            learning_rate=SKLEARN_TO_OPENTSNE_LEARNING_RATE * self.learning_rate,
            early_exaggeration=self.early_exaggeration,
            early_exaggeration_iter=250,
            n_iter=self.n_iter,
            initialization=self.initialization,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
            verbose=False,
        )
        self.estimator_ = tsne.fit(matrix)
        self.embedding_ = np.asarray(self.estimator_)
        return self

    def transform(self, X) -> np.ndarray:
        matrix = self._check_transform_input(X)
        return np.asarray(self.estimator_.transform(matrix, **(self.transform_kwargs or {})))


class UMAPBaseline(Baseline):
    """UMAP (umap-learn) with ``n_neighbors`` and ``min_dist`` (the paper: 118 / 0.7097 on Spheres).

    With ``random_state`` set, umap-learn runs single-threaded and is repeatable.
    """

    name = "umap"

    def __init__(
        self,
        *,
        n_neighbors: int = 15,
        min_dist: float = 0.1,
        n_components: int = 2,
        n_jobs: int = 1,
        random_state: int | None = None,
    ) -> None:
        super().__init__(n_components=n_components, random_state=random_state)
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.n_jobs = n_jobs

    def fit(self, X) -> UMAPBaseline:
        import warnings

        umap = _require("umap", "umap-learn")
        matrix = self._check_fit_input(X, min_samples=self.n_neighbors + 1)
        self.n_features_in_ = matrix.shape[1]
        kwargs: dict[str, Any] = {}
        if self.random_state is None:
            kwargs["n_jobs"] = self.n_jobs
        else:
            # umap-learn takes transform_seed too; its seeds must fit in 32 bits.
            kwargs["random_state"] = self.random_state % 2**32
            kwargs["transform_seed"] = self.random_state % 2**32
        self.estimator_ = umap.UMAP(
            n_neighbors=self.n_neighbors,
            min_dist=self.min_dist,
            n_components=self.n_components,
            **kwargs,
        )
        with warnings.catch_warnings():
            # "n_jobs overridden by setting random_state" is the documented trade, not news.
            warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
            self.embedding_ = self.estimator_.fit_transform(matrix)
        return self

    def transform(self, X) -> np.ndarray:
        matrix = self._check_transform_input(X)
        return np.asarray(self.estimator_.transform(matrix))


class PaCMAPBaseline(Baseline):
    """PaCMAP (the ``pacmap`` package) with ``n_neighbors`` (its default 10).

    New points are placed with PaCMAP's ``transform(X, basis=X_train)`` (see the module
    docstring); PaCMAP's own warning applies: a point may land elsewhere than when fitted.
    """

    name = "pacmap"

    def __init__(
        self, *, n_neighbors: int = 10, n_components: int = 2, random_state: int | None = None
    ) -> None:
        super().__init__(n_components=n_components, random_state=random_state)
        self.n_neighbors = n_neighbors

    def fit(self, X) -> PaCMAPBaseline:
        pacmap = _require("pacmap", "pacmap", "more-baselines")
        matrix = self._check_fit_input(X, min_samples=self.n_neighbors + 2)
        self.n_features_in_ = matrix.shape[1]
        seed = None if self.random_state is None else self.random_state % 2**32
        self.estimator_ = pacmap.PaCMAP(
            n_components=self.n_components,
            n_neighbors=self.n_neighbors,
            random_state=seed,
            save_tree=True,
        )
        self.train_ = matrix.astype(np.float32)
        with contextlib.redirect_stdout(io.StringIO()):  # pacmap prints its seed warning
            embedding = self.estimator_.fit_transform(self.train_)
        self.embedding_ = np.asarray(embedding, dtype=np.float64)
        return self

    def transform(self, X) -> np.ndarray:
        matrix = self._check_transform_input(X).astype(np.float32)
        placed = self.estimator_.transform(matrix, basis=self.train_)
        return np.asarray(placed, dtype=np.float64)


class TriMapBaseline(Baseline):
    """TriMap (the ``trimap`` package's numba/annoy ``TRIMAP``), fitted transductively.

    Not exactly repeatable: part of its sampling uses numba's unseeded generator.

    :meth:`fit` embeds the training points; :meth:`transform` fits again on the training
    and the new points together and returns the new points' rows (see the module
    docstring), so it is not a fixed map.
    """

    name = "trimap"

    def __init__(
        self,
        *,
        n_inliers: int = 12,
        n_outliers: int = 4,
        n_iters: int = 400,
        n_components: int = 2,
        random_state: int | None = None,
    ) -> None:
        super().__init__(n_components=n_components, random_state=random_state)
        self.n_inliers = n_inliers
        self.n_outliers = n_outliers
        self.n_iters = n_iters

    def _embed(self, matrix: np.ndarray) -> np.ndarray:
        trimap = _require("trimap", "trimap", "more-baselines")
        if len(matrix) < self.n_inliers + self.n_outliers + 2:
            raise InputError(
                f"TriMap needs at least {self.n_inliers + self.n_outliers + 2} points, "
                f"got {len(matrix)}."
            )
        seed = 0 if self.random_state is None else self.random_state % 2**31
        estimator = trimap.TRIMAP(
            n_dims=self.n_components,
            n_inliers=self.n_inliers,
            n_outliers=self.n_outliers,
            n_iters=self.n_iters,
            verbose=False,
        )
        # TRIMAP draws from NumPy's global RNG (seeded here) and inside numba-compiled code
        # from numba's own generator, which cannot be seeded from outside: runs vary a little.
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            return np.asarray(estimator.fit_transform(matrix.astype(np.float32)), np.float64)
        finally:
            np.random.set_state(state)

    def fit(self, X) -> TriMapBaseline:
        matrix = self._check_fit_input(X)
        self.n_features_in_ = matrix.shape[1]
        self.train_ = matrix
        self.embedding_ = self._embed(matrix)
        return self

    def transform(self, X) -> np.ndarray:
        matrix = self._check_transform_input(X)
        joint = self._embed(np.concatenate([self.train_, matrix]))
        self.embedding_ = joint[: len(self.train_)]
        return joint[len(self.train_) :]


#: Baselines by name, in the paper's table order (then the newer ones).
BASELINES: dict[str, type[Baseline]] = {
    "isomap": IsomapBaseline,
    "pca": PCABaseline,
    "tsne": TSNEBaseline,
    "umap": UMAPBaseline,
    "pacmap": PaCMAPBaseline,
    "trimap": TriMapBaseline,
}


def make_baseline(
    name: str, dataset: str = "spheres", *, random_state: int | None = None, **overrides: Any
) -> Baseline:
    """A baseline with the paper's settings for ``dataset`` (docs/method.md §6), plus overrides.

    Parameters
    ----------
    name : {"pca", "isomap", "tsne", "umap"}
    dataset : str
        Whose settings to use (unknown data sets get the libraries' defaults).
    random_state : int, optional
        Seed of the baseline's randomness (t-SNE, UMAP, Isomap's ARPACK start).
    **overrides
        Constructor arguments of the baseline's class; ``None`` values are ignored.

    Returns
    -------
    Baseline
        Unfitted.
    """
    from topoae.paper import preset_for_dataset

    if name not in BASELINES:
        raise InputError(f"Unknown baseline {name!r}; choose one of {', '.join(BASELINES)}.")
    params = dict(preset_for_dataset(dataset).baselines.get(name, {}))
    params.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return BASELINES[name](random_state=random_state, **params)
    except TypeError as error:
        raise InputError(f"Invalid setting for baseline {name!r}: {error}.") from error


class TopoMapBaseline(Baseline):
    """TopoMap (Doraiswamy et al., 2020): a 2-D layout keeping the data's MST edge lengths.

    The layout's Euclidean minimum spanning tree has exactly the data's edge lengths,
    so its 0-dimensional persistence diagram is the data's (up to rounding);
    :mod:`topoae.baselines_topomap` gives the algorithm. Deterministic:
    ``random_state`` is accepted for the common interface and unused.

    TopoMap has **no out-of-sample map**: :meth:`transform` returns the layout of the
    fitted points only (``X`` must be those points) and raises otherwise. To score
    it on a test split, fit it on the test split (``out_of_sample`` is ``False``
    to say so); its layout then sees no training point.
    """

    name = "topomap"
    #: ``transform`` cannot place new points: fit on the points to embed.
    out_of_sample = False

    def fit(self, X) -> TopoMapBaseline:
        from topoae.baselines_topomap import topomap_layout

        if self.n_components != 2:
            raise InputError(
                f"TopoMap lays points out in the plane: n_components must be 2, "
                f"got {self.n_components}."
            )
        matrix = self._check_fit_input(X)
        self.n_features_in_ = matrix.shape[1]
        self.fitted_inputs_ = matrix
        self.embedding_ = topomap_layout(matrix)
        return self

    def transform(self, X) -> np.ndarray:
        matrix = self._check_transform_input(X)
        if matrix.shape != self.fitted_inputs_.shape or not np.array_equal(
            matrix, self.fitted_inputs_
        ):
            from topoae.errors import InputError

            raise InputError(
                "TopoMap has no out-of-sample map: it can only return the layout of the points "
                "it was fitted on. Fit it on the points to embed (e.g. the test split)."
            )
        return self.embedding_.copy()


BASELINES["topomap"] = TopoMapBaseline
__all__ += ["TopoMapBaseline"]
