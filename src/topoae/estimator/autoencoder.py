"""`TopologicalAutoencoder`: a scikit-learn estimator around :func:`topoae.core.training.train`.

A thin façade in the spirit of scikit-learn's ``PCA`` and ``Isomap``: ``__init__`` only
stores parameters, :meth:`~TopologicalAutoencoder.fit` validates them and the data,
standardises, splits off a validation set, builds the autoencoder and runs the
library's training loop; fitted state ends in ``_``. Unlike t-SNE the fitted model
embeds new points (``transform``) and maps codes back to data space
(``inverse_transform``), and it saves to a small portable file
(:meth:`~TopologicalAutoencoder.save` / :meth:`~TopologicalAutoencoder.load`).
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted
from torch import nn

from topoae._guards import check_finite_scale
from topoae.core.evaluation import decode, embed, reconstruct
from topoae.core.training import TrainConfig, TrainingDivergedError
from topoae.datasets import validation_indices
from topoae.errors import InputError
from topoae.estimator.fileformat import read_estimator, write_estimator
from topoae.estimator.validation import (
    check_params,
    custom_autoencoder,
    module_device,
    validate_X,
)
from topoae.paper import SPHERES_TOPOAE, image_data_scale
from topoae.runs.experiment import fit_model

__all__ = ["TopologicalAutoencoder", "expected_failed_checks"]


def expected_failed_checks(estimator: TopologicalAutoencoder) -> dict[str, str]:
    """Checks of ``sklearn.utils.estimator_checks`` that cannot apply, with the reason.

    Since scikit-learn 1.6 expected failures are no longer a tag; they are passed to
    ``parametrize_with_checks(..., expected_failed_checks=expected_failed_checks)`` or
    ``check_estimator``. This function is that declaration; it is empty when every check
    applies.

    Parameters
    ----------
    estimator : TopologicalAutoencoder

    Returns
    -------
    dict of str to str
        Check name to the reason it cannot pass.
    """
    return {}


class TopologicalAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Topological autoencoder (Moor et al., ICML 2020) as a scikit-learn transformer.

    Trains ``MSE(x, x̂) + lam · L_topo / m`` with Adam and early stopping on a held-out
    validation part, and embeds data into ``n_components`` dimensions. The defaults are the
    paper's TopoAE settings for its Spheres data (an MLP ``d→32→32→2`` with BatchNorm; λ,
    learning rate and batch size from :data:`topoae.paper.SPHERES_TOPOAE`), a sensible start
    for standardised tabular data.
    Computation runs in float32; outputs are float32 NumPy arrays.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the latent space; must be smaller than the number of features.
    lam : float, default=SPHERES_TOPOAE.lam
        Weight λ of the topological term; ``0`` trains a vanilla autoencoder.
    architecture : {"auto", "mlp", "deep", "linear"} or (encoder, decoder), default="auto"
        ``"auto"`` is ``"mlp"`` for flat vectors ``(n, d)`` and the paper's image network
        ``"deep"`` (``D→1000→500→250``, Tanh output: inputs in [-1, 1]) for samples with
        more than one axis, e.g. images ``(n, C, H, W)``. A pair of ``torch.nn.Module``
        maps ``(m, n_features)`` to ``(m, n_components)`` and back; it is deep-copied at
        fit, so the modules passed in are never trained in place.
    hidden_sizes : sequence of int or None, default=None
        Hidden widths of a built-in encoder (the decoder mirrors them); ``None`` keeps
        the architecture's default ((32, 32) for "mlp", (1000, 500, 250) for "deep").
    batch_size : int, default=SPHERES_TOPOAE.batch_size
        Minibatch size; the topology of each minibatch is matched. Lowered (with a
        warning) when the training part has fewer samples.
    learning_rate : float, default=SPHERES_TOPOAE.learning_rate
        Adam's learning rate.
    weight_decay : float, default=1e-5
        Adam's weight decay.
    max_epochs : int, default=100
    patience : int, default=10
        Stop after this many epochs without a better validation loss; the best
        weights are restored.
    validation_fraction : float, default=0.15
        Share of the samples held out for early stopping (at least 2 samples). ``0``
        trains on everything and stops on the training data's loss instead.
    standardize : bool or "auto", default="auto"
        Scale each feature to zero mean and unit (population) variance, fitted on the
        data given to ``fit``. ``"auto"``: on for flat vectors, off for images (scale
        those to [-1, 1] yourself).
    match_edges : {"symmetric", "x_to_z", "z_to_x", "signature"}, default="symmetric"
        How persistence pairs are compared (:class:`topoae.TopologicalSignatureLoss`).
    data_scale : None, "image" or float, default=None
        Data-space distances of a batch are divided by its largest distance (``None``),
        by the largest possible distance of images in [-1, 1], ``sqrt(4·C·H·W)``
        (``"image"``, the paper's choice for images), or by a given constant.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    random_state : int, RandomState instance or None, default=None
        Seeds the validation split, the initial weights and the shuffling; an int gives
        identical embeddings on the CPU.
    verbose : bool, default=False
        Show a progress bar over epochs with the losses; otherwise nothing is printed.

    Attributes
    ----------
    model_ : TopologicallyRegularizedAutoencoder
        The trained torch module (best validation weights, ``eval()`` mode).
    history_ : list of dict
        Per epoch: ``epoch``, ``train_<component>`` and ``val_<component>`` means of
        ``loss``, ``reconstruction`` and (``lam > 0``) the topological terms, ``seconds``.
    n_epochs_ : int
        Epochs run. ``best_epoch_``, ``best_val_loss_``, ``stopped_early_`` describe them.
    n_features_in_ : int
        Number of input features (``C·H·W`` for images).
    feature_names_in_ : ndarray of str
        Column names, when ``X`` was a DataFrame with string column names.
    input_shape_ : tuple of int
        Shape of one sample, e.g. ``(101,)`` or ``(1, 28, 28)``; ``transform`` checks it.
    n_components_ : int
    architecture_ : str
        The built-in architecture used, or ``"custom"``.
    standardize_ : bool
    mean_, scale_ : ndarray of shape (n_features_in_,) or None
        The fitted standardisation (``None`` when off); constant features get scale 1.
    data_scale_ : float or None
    batch_size_ : int
        The batch size used (see ``batch_size``).
    seed_ : int
        The seed the run used (drawn from ``random_state`` unless that is an int).

    Notes
    -----
    ``score(X)`` is the negative mean squared reconstruction error in the units of ``X``
    (higher is better). It does not measure topology preservation, so a grid search over
    ``lam`` with the default score favours small ``lam``; pass a ``scoring`` function of
    embedding quality instead. A loss that becomes NaN stops ``fit`` with
    :class:`topoae.core.training.TrainingDivergedError`, naming the epoch and a remedy.

    Examples
    --------
    >>> import numpy as np
    >>> from topoae import TopologicalAutoencoder
    >>> X = np.random.default_rng(0).normal(size=(200, 10))
    >>> ae = TopologicalAutoencoder(max_epochs=2, random_state=0)
    >>> ae.fit_transform(X).shape
    (200, 2)
    """

    def __init__(
        self,
        n_components: int = 2,
        *,
        lam: float = SPHERES_TOPOAE.lam,
        architecture: str | tuple[nn.Module, nn.Module] = "auto",
        hidden_sizes: Sequence[int] | None = None,
        batch_size: int = SPHERES_TOPOAE.batch_size,
        learning_rate: float = SPHERES_TOPOAE.learning_rate,
        weight_decay: float = 1e-5,
        max_epochs: int = 100,
        patience: int = 10,
        validation_fraction: float = 0.15,
        standardize: bool | str = "auto",
        match_edges: str = "symmetric",
        data_scale: float | str | None = None,
        device: str = "auto",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
    ):
        self.n_components = n_components
        self.lam = lam
        self.architecture = architecture
        self.hidden_sizes = hidden_sizes
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.standardize = standardize
        self.match_edges = match_edges
        self.data_scale = data_scale
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ scikit-learn glue

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The network computes in float32 whatever comes in; float32 is what comes out.
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.input_tags.allow_nan = False
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        # n_features_in_ is set early in fit; only a finished fit leaves model_ behind.
        return "model_" in vars(self)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        model = state.get("model_")
        if model is not None and module_device(model).type != "cpu":
            # A pickle of CUDA tensors cannot be opened on a machine without CUDA.
            state["model_"] = copy.deepcopy(model).cpu()
        return state

    def _preprocess(self, X: np.ndarray) -> np.ndarray:
        """Apply the fitted standardisation; return float32 of the same shape."""
        with np.errstate(over="ignore"):  # overflow is reported below, with a remedy
            if self.mean_ is None:
                out = np.array(X, dtype=np.float32)
            else:
                flat = X.reshape(len(X), -1).astype(np.float64)
                out = ((flat - self.mean_) / self.scale_).astype(np.float32).reshape(X.shape)
        if not np.isfinite(out).all():
            raise InputError(
                "X holds values beyond float32's range (about 3.4e38), in which the network "
                "computes; rescale the data or use standardize=True."
            )
        return out

    def _postprocess(self, X_model: np.ndarray) -> np.ndarray:
        """Undo the standardisation of model-space data; float32, shape ``(n, *input_shape_)``."""
        flat = X_model.reshape(len(X_model), -1)
        if self.mean_ is not None:
            flat = flat.astype(np.float64) * self.scale_ + self.mean_
        return flat.astype(np.float32).reshape(len(X_model), *self.input_shape_)

    # ------------------------------------------------------------------ fitting

    def fit(self, X, y=None) -> TopologicalAutoencoder:
        """Train the autoencoder on ``X``.

        Parameters
        ----------
        X : array-like, DataFrame or torch.Tensor of shape (n_samples, n_features) or \
(n_samples, *sample_shape)
            Training data, float32 or float64 (anything numeric is converted); no NaN/inf.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : TopologicalAutoencoder

        Raises
        ------
        topoae.errors.InputError
            For invalid parameters or data (NaN / inf, too few samples, ``n_components``
            not smaller than the number of features, a custom module of the wrong shape).
        topoae.core.training.TrainingDivergedError
            If the loss becomes NaN or infinite; the message names the epoch and a remedy.
        """
        for stale in ("model_", "_n_features_out"):  # a failed refit must not look fitted
            self.__dict__.pop(stale, None)
        params = check_params(self)
        fraction = float(self.validation_fraction)
        min_samples = 4 if fraction > 0 else 2  # two to train on, two to validate on
        X = validate_X(self, X, reset=True, min_samples=min_samples)
        sample_shape = tuple(X.shape[1:])
        self.n_features_in_ = math.prod(sample_shape)
        if self.n_components >= self.n_features_in_:
            raise InputError(
                f"n_components={self.n_components} must be smaller than the number of "
                f"features, but X has {self.n_features_in_} feature(s): an autoencoder needs a "
                "bottleneck. Lower n_components."
            )
        is_image = len(sample_shape) > 1
        if params["custom"] is not None:
            architecture = "custom"
        elif self.architecture == "auto":
            architecture = "deep" if is_image else "mlp"
        else:  # a name: a module pair is "custom" above
            architecture = str(self.architecture)
        standardize = (not is_image) if self.standardize == "auto" else bool(self.standardize)
        X_model = self._fit_preprocessing(X, standardize)
        if architecture == "deep":
            _warn_outside_tanh_range(X_model)
        x_train, x_val = _validation_split(X_model, fraction, params["seed"])
        config = self._train_config(params, architecture, sample_shape, len(x_train))
        result = self._train(config, params, x_train, x_val, standardize)

        self.architecture_ = architecture
        self.standardize_ = standardize
        self.data_scale_ = config.data_scale
        self.batch_size_ = config.batch_size
        self.seed_ = config.seed
        self.n_components_ = int(self.n_components)
        self._n_features_out = self.n_components_
        self.history_ = result.history
        self.n_epochs_ = len(result.history)
        self.best_epoch_ = int(result.best_epoch)
        self.best_val_loss_ = float(result.best_val_loss)
        self.stopped_early_ = bool(result.stopped_early)
        self.model_ = result.model
        return self

    def _fit_preprocessing(self, X: np.ndarray, standardize: bool) -> np.ndarray:
        """Fit ``mean_``, ``scale_`` and ``input_shape_``; return the model-space data."""
        flat = X.reshape(len(X), -1)
        if standardize:
            with np.errstate(over="ignore", invalid="ignore"):  # refused just below
                mean = flat.mean(axis=0, dtype=np.float64)
                scale = flat.std(axis=0, dtype=np.float64)
            check_finite_scale(mean, "the training data X (its mean)")
            check_finite_scale(scale, "the training data X")
            # Exact zeros, and float round-off of a mean of identical values, both count.
            constant = (scale == 0) | (scale <= 10 * np.finfo(np.float64).eps * np.abs(mean))
            if constant.any():
                shown = np.flatnonzero(constant)[:10].tolist()
                warnings.warn(
                    f"{int(constant.sum())} feature(s) are constant in the training data "
                    f"(indices {shown}{' ...' if constant.sum() > 10 else ''}); they carry no "
                    "information and are centred but not scaled. Consider dropping them.",
                    UserWarning,
                    stacklevel=3,
                )
                scale = np.where(constant, 1.0, scale)
        else:
            mean = scale = None
        self.mean_, self.scale_, self.input_shape_ = mean, scale, tuple(X.shape[1:])
        return self._preprocess(X)

    def _train_config(
        self, params: dict[str, Any], architecture: str, sample_shape: tuple, n_train: int
    ) -> TrainConfig:
        """The run's settings (batch size lowered, with a warning, to fit ``n_train``)."""
        data_scale: float | None
        if self.data_scale == "image":
            data_scale = image_data_scale(sample_shape)
        else:
            data_scale = None if self.data_scale is None else float(self.data_scale)
        batch_size = int(self.batch_size)
        if n_train < batch_size:
            warnings.warn(
                f"batch_size={batch_size} is larger than the {n_train} training samples; "
                f"training with batch_size={n_train} (one step per epoch). Pass more "
                "data or a smaller batch_size to silence this.",
                UserWarning,
                stacklevel=3,
            )
            batch_size = n_train
        return TrainConfig(
            architecture=architecture if params["custom"] is None else "mlp",
            hidden_sizes=params["hidden_sizes"],
            latent_dim=int(self.n_components),
            lam=float(self.lam),
            match_edges=self.match_edges,
            data_scale=data_scale,
            learning_rate=float(self.learning_rate),
            weight_decay=float(self.weight_decay),
            batch_size=batch_size,
            max_epochs=int(self.max_epochs),
            patience=int(self.patience),
            seed=params["seed"],
            device=str(params["device"]),
        )

    def _train(self, config: TrainConfig, params, x_train, x_val, standardize: bool):
        """Train with the run layer's :func:`~topoae.runs.experiment.fit_model`."""
        autoencoder = None
        if params["custom"] is not None:
            sample_shape = tuple(x_train.shape[1:])
            autoencoder = custom_autoencoder(params["custom"], sample_shape, config.latent_dim)
        progress = callback = None
        if self.verbose:
            from tqdm.auto import tqdm

            progress = tqdm(total=config.max_epochs, desc=type(self).__name__, unit="epoch")

            def callback(record: dict[str, float]) -> None:
                progress.update(1)
                progress.set_postfix(
                    loss=f"{record['train_loss']:.4g}", val_loss=f"{record['val_loss']:.4g}"
                )

        device = params["device"]
        # build_model seeds torch's global generator; fork it so that fitting leaves the
        # caller's random state as it was (the run itself stays seeded by seed).
        forked = [device.index or 0] if device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=forked):
                return fit_model(config, x_train, x_val, autoencoder=autoencoder, callback=callback)
        except TrainingDivergedError as error:
            raise TrainingDivergedError(
                f"{error} In {type(self).__name__}: pass a smaller learning_rate or lam"
                + ("" if standardize else ", or standardize=True for features of large scale")
                + "."
            ) from error
        finally:
            if progress is not None:
                progress.close()

    # ------------------------------------------------------------------ using the model

    def transform(self, X) -> np.ndarray:
        """Embed ``X`` into the latent space.

        Parameters
        ----------
        X : array-like, DataFrame or torch.Tensor of shape (n_samples, *input_shape_)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components), float32
        """
        check_is_fitted(self)
        X = validate_X(self, X, reset=False)
        return embed(self.model_, self._preprocess(X))

    def inverse_transform(self, X) -> np.ndarray:
        """Decode latent codes back to data space (in the units of the training data).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Latent codes, e.g. from :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, *input_shape_), float32
        """
        check_is_fitted(self)
        Z = check_array(
            X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else X,
            dtype=[np.float64, np.float32],
            input_name="X",
        )
        if Z.shape[1] != self.n_components_:
            raise InputError(
                f"X has {Z.shape[1]} columns, but the latent space has "
                f"{self.n_components_} dimensions; pass codes of shape (n, {self.n_components_})."
            )
        return self._postprocess(decode(self.model_, Z.astype(np.float32)))

    def score(self, X, y=None) -> float:
        """Negative mean squared reconstruction error of ``X``, in the units of ``X``.

        Higher is better (0 is a perfect reconstruction), as scikit-learn's model selection
        expects. It measures reconstruction only, not how well topology is kept.

        Parameters
        ----------
        X : array-like, DataFrame or torch.Tensor of shape (n_samples, *input_shape_)
        y : None
            Ignored.

        Returns
        -------
        score : float
            ``-mean((inverse_transform(transform(X)) - X) ** 2)``.
        """
        check_is_fitted(self)
        X = validate_X(self, X, reset=False)
        X_hat = self._postprocess(reconstruct(self.model_, self._preprocess(X)))
        return -float(np.mean((X_hat.astype(np.float64) - X.astype(np.float64)) ** 2))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to a small portable file (atomically).

        The file holds the weights (on the CPU), the parameters, the fitted preprocessing,
        the input shape, the training history and the topoae version, but no training
        data. It is read with ``torch.load(..., weights_only=True)``: only tensors and
        JSON text are inside. A model with a custom encoder / decoder saves its weights;
        :meth:`load` then needs the same modules again.

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        Path
            The file written.
        """
        check_is_fitted(self)
        return write_estimator(self, path)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        device: str = "cpu",
        architecture: tuple[nn.Module, nn.Module] | None = None,
    ) -> TopologicalAutoencoder:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : str or path-like
        device : str, default="cpu"
            Where to put the model; a model trained on a GPU loads on the CPU by default.
        architecture : (encoder, decoder) or None
            Required for (only) a model saved with a custom encoder / decoder: modules of
            the same structure; their weights are replaced by the saved ones.

        Returns
        -------
        TopologicalAutoencoder
            Fitted; transforms exactly as the saved model did.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        topoae.errors.DataFileError
            If the file is damaged, truncated, not written by :meth:`save`, or by a newer
            topoae.
        topoae.errors.InputError
            If the custom modules are missing or do not match.
        """
        return read_estimator(cls, path, device=device, architecture=architecture)


def _warn_outside_tanh_range(X_model: np.ndarray) -> None:
    if X_model.min() < -1 or X_model.max() > 1:
        warnings.warn(
            "The 'deep' architecture ends in Tanh and can only reconstruct values in "
            f"[-1, 1], but the (preprocessed) data spans [{X_model.min():.3g}, "
            f"{X_model.max():.3g}]. Scale the data to [-1, 1] (e.g. x / 127.5 - 1 for "
            "8-bit images) with standardize=False, or choose architecture='mlp'.",
            UserWarning,
            stacklevel=3,
        )


def _validation_split(
    X_model: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(x_train, x_val)`` by :func:`topoae.datasets.validation_indices`; all of it twice at 0."""
    if fraction == 0:
        return X_model, X_model
    train, val = validation_indices(len(X_model), fraction, seed)
    if len(train) < 2:
        raise InputError(
            f"validation_fraction={fraction} leaves {len(train)} of {len(X_model)} samples "
            "for training; at least 2 are needed. Lower validation_fraction or pass more samples."
        )
    return X_model[train], X_model[val]
