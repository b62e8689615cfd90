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
import hashlib
import json
import math
import numbers
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from torch import nn

from topoae import __version__
from topoae._io import atomic_write_bytes
from topoae.core.losses import MATCH_MODES
from topoae.core.models import (
    ARCHITECTURES,
    Autoencoder,
    TopologicallyRegularizedAutoencoder,
    build_autoencoder,
)
from topoae.core.training import (
    TrainConfig,
    TrainingDivergedError,
    build_model,
    embed,
    reconstruct,
    resolve_device,
    train,
)
from topoae.paper import image_data_scale

__all__ = ["TopologicalAutoencoder", "expected_failed_checks"]

#: Marks files written by :meth:`TopologicalAutoencoder.save`; ``FILE_VERSION`` is bumped
#: whenever the layout changes, so an old topoae can refuse a newer file clearly.
FILE_FORMAT = "topoae.TopologicalAutoencoder"
FILE_VERSION = 1

#: Fitted attributes stored in a saved file besides the weights and the preprocessing.
_FITTED_META = (
    "n_features_in_",
    "input_shape_",
    "n_components_",
    "architecture_",
    "standardize_",
    "data_scale_",
    "batch_size_",
    "seed_",
    "n_epochs_",
    "best_epoch_",
    "best_val_loss_",
    "stopped_early_",
    "history_",
)


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
    paper's settings for its Spheres data (an MLP ``d→32→32→2`` with BatchNorm, batch 28,
    learning rate 2.7268e-4, λ = 0.43358), a sensible start for standardised tabular data.
    Computation runs in float32; outputs are float32 NumPy arrays.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the latent space; must be smaller than the number of features.
    lam : float, default=0.43358
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
    batch_size : int, default=28
        Minibatch size; the topology of each minibatch is matched. Lowered (with a
        warning) when the training part has fewer samples.
    learning_rate : float, default=2.7268e-4
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
        lam: float = 0.43358,
        architecture: str | tuple[nn.Module, nn.Module] = "auto",
        hidden_sizes: Sequence[int] | None = None,
        batch_size: int = 28,
        learning_rate: float = 2.7268e-4,
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
        if model is not None and _module_device(model).type != "cpu":
            # A pickle of CUDA tensors cannot be opened on a machine without CUDA.
            state["model_"] = copy.deepcopy(model).cpu()
        return state

    # ------------------------------------------------------------------ parameters

    def _check_params(self) -> dict[str, Any]:
        """Validate the parameters; return those that need normalising."""
        problems = []

        def is_int(value, low):
            return (
                isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low
            )

        def is_real(value):
            return isinstance(value, numbers.Real) and not isinstance(value, bool)

        if not is_int(self.n_components, 1):
            problems.append(f"n_components must be an int >= 1, got {self.n_components!r}")
        if not (is_real(self.lam) and math.isfinite(self.lam) and self.lam >= 0):
            problems.append(f"lam must be a finite number >= 0, got {self.lam!r}")
        if not is_int(self.batch_size, 2):
            problems.append(
                f"batch_size must be an int >= 2 (a batch needs pairs), got {self.batch_size!r}"
            )
        if not (
            is_real(self.learning_rate)
            and math.isfinite(self.learning_rate)
            and self.learning_rate > 0
        ):
            problems.append(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        if not (
            is_real(self.weight_decay)
            and math.isfinite(self.weight_decay)
            and self.weight_decay >= 0
        ):
            problems.append(f"weight_decay must be a number >= 0, got {self.weight_decay!r}")
        if not is_int(self.max_epochs, 1):
            problems.append(f"max_epochs must be an int >= 1, got {self.max_epochs!r}")
        if not is_int(self.patience, 1):
            problems.append(f"patience must be an int >= 1, got {self.patience!r}")
        if not (is_real(self.validation_fraction) and 0 <= self.validation_fraction < 1):
            problems.append(
                f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}"
            )
        if not (isinstance(self.standardize, bool | np.bool_) or self.standardize == "auto"):
            problems.append(f"standardize must be True, False or 'auto', got {self.standardize!r}")
        if self.match_edges not in MATCH_MODES:
            problems.append(
                f"match_edges must be one of {', '.join(MATCH_MODES)}, got {self.match_edges!r}"
            )
        data_scale = self.data_scale
        if not (
            data_scale is None
            or (isinstance(data_scale, str) and data_scale == "image")
            or (is_real(data_scale) and math.isfinite(data_scale) and data_scale > 0)
        ):
            problems.append(
                f"data_scale must be None, 'image' or a positive number, got {data_scale!r}"
            )
        custom = _custom_pair(self.architecture)
        if (
            custom is None
            and self.architecture != "auto"
            and (not isinstance(self.architecture, str) or self.architecture not in ARCHITECTURES)
        ):
            problems.append(
                "architecture must be 'auto', one of "
                f"{', '.join(map(repr, ARCHITECTURES))} or an (encoder, decoder) pair of "
                f"torch.nn.Module, got {self.architecture!r}"
            )
        hidden = self.hidden_sizes
        if hidden is not None:
            if custom is not None:
                problems.append("hidden_sizes applies to built-in architectures only; drop it")
            elif isinstance(hidden, str | bytes) or not (
                isinstance(hidden, Sequence)
                and len(hidden) > 0
                and all(is_int(h, 1) for h in hidden)
            ):
                problems.append(
                    f"hidden_sizes must be None or a non-empty sequence of positive ints, "
                    f"got {hidden!r}"
                )
            elif self.architecture == "linear":
                problems.append("the linear architecture has no hidden layers; drop hidden_sizes")
        if not isinstance(self.device, str | torch.device):
            problems.append(f"device must be a string such as 'cpu', got {self.device!r}")
        if problems:
            raise ValueError(
                f"Invalid {type(self).__name__} parameters: " + "; ".join(problems) + "."
            )
        try:
            rng = check_random_state(self.random_state)
        except ValueError as error:
            raise ValueError(
                f"random_state must be None, an int in [0, 2**32) or a RandomState: {error}"
            ) from error
        if isinstance(self.random_state, numbers.Integral):
            seed = int(self.random_state)
        else:
            seed = int(rng.randint(0, 2**31 - 1))
        return {
            "custom": custom,
            "seed": seed,
            "device": resolve_device(str(self.device)),
            "hidden_sizes": None if hidden is None else tuple(int(h) for h in hidden),
        }

    # ------------------------------------------------------------------ input handling

    def _validate_X(self, X, *, reset: bool, min_samples: int = 1) -> np.ndarray:
        """Check ``X`` and return it as a float32/float64 array of shape ``(n, *sample_shape)``.

        Flat data goes through scikit-learn's ``validate_data`` (feature names, feature
        count, NaN / inf); images are checked on their flattened view and for their shape.
        """
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
        elif isinstance(X, list | tuple):
            X = np.asarray(X)
        ndim = getattr(X, "ndim", None)
        if ndim is None and hasattr(X, "__array__") and not hasattr(X, "iloc"):
            X = np.asarray(X)
            ndim = X.ndim
        sample_shape = tuple(X.shape[1:]) if ndim is not None and ndim > 2 else None
        if not reset:
            fitted_shape = self.input_shape_
            # Flat data is left to validate_data (scikit-learn's own feature-count message).
            if (len(fitted_shape) > 1 or sample_shape is not None) and sample_shape != fitted_shape:
                shown = tuple(X.shape[1:]) if ndim is not None else "?"
                raise ValueError(
                    f"X has samples of shape {shown}, but {type(self).__name__} was fitted on "
                    f"samples of shape {fitted_shape}; pass data of shape (n, "
                    f"{', '.join(map(str, fitted_shape))})."
                )
        if sample_shape is not None:
            X = X.reshape(X.shape[0], math.prod(sample_shape))
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_all_finite=True,
            ensure_min_samples=min_samples,
        )
        if sample_shape is None:
            sample_shape = (X.shape[1],)
        if not X.flags.writeable:  # torch warns about read-only buffers (e.g. memmaps)
            X = X.copy()
        return X.reshape(X.shape[0], *sample_shape)

    def _preprocess(self, X: np.ndarray) -> np.ndarray:
        """Apply the fitted standardisation; return float32 of the same shape."""
        with np.errstate(over="ignore"):  # overflow is reported below, with a remedy
            if self.mean_ is None:
                out = np.array(X, dtype=np.float32)
            else:
                flat = X.reshape(len(X), -1).astype(np.float64)
                out = ((flat - self.mean_) / self.scale_).astype(np.float32).reshape(X.shape)
        if not np.isfinite(out).all():
            raise ValueError(
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
        ValueError
            For invalid parameters or data (NaN / inf, too few samples, ``n_components``
            not smaller than the number of features, a custom module of the wrong shape).
        topoae.core.training.TrainingDivergedError
            If the loss becomes NaN or infinite; the message names the epoch and a remedy.
        """
        for stale in ("model_", "_n_features_out"):  # a failed refit must not look fitted
            vars(self).pop(stale, None)
        params = self._check_params()
        fraction = float(self.validation_fraction)
        min_samples = 4 if fraction > 0 else 2  # two to train on, two to validate on
        X = self._validate_X(X, reset=True, min_samples=min_samples)
        n, sample_shape = len(X), tuple(X.shape[1:])
        n_features = math.prod(sample_shape)
        self.n_features_in_ = n_features
        if self.n_components >= n_features:
            raise ValueError(
                f"n_components={self.n_components} must be smaller than the number of "
                f"features, but X has {n_features} feature(s): an autoencoder needs a "
                "bottleneck. Lower n_components."
            )
        is_image = len(sample_shape) > 1
        custom = params["custom"]
        if custom is not None:
            architecture = "custom"
        elif self.architecture == "auto":
            architecture = "deep" if is_image else "mlp"
        else:
            architecture = self.architecture
        standardize = (not is_image) if self.standardize == "auto" else bool(self.standardize)

        flat = X.reshape(n, n_features)
        if standardize:
            mean = flat.mean(axis=0, dtype=np.float64)
            scale = flat.std(axis=0, dtype=np.float64)
            # Exact zeros, and float round-off of a mean of identical values, both count.
            constant = (scale == 0) | (scale <= 10 * np.finfo(np.float64).eps * np.abs(mean))
            if constant.any():
                shown = np.flatnonzero(constant)[:10].tolist()
                warnings.warn(
                    f"{int(constant.sum())} feature(s) are constant in the training data "
                    f"(indices {shown}{' ...' if constant.sum() > 10 else ''}); they carry no "
                    "information and are centred but not scaled. Consider dropping them.",
                    UserWarning,
                    stacklevel=2,
                )
                scale = np.where(constant, 1.0, scale)
        else:
            mean = scale = None
        self.mean_, self.scale_, self.input_shape_ = mean, scale, sample_shape
        X_model = self._preprocess(X)

        if architecture == "deep" and (X_model.min() < -1 or X_model.max() > 1):
            warnings.warn(
                "The 'deep' architecture ends in Tanh and can only reconstruct values in "
                f"[-1, 1], but the (preprocessed) data spans [{X_model.min():.3g}, "
                f"{X_model.max():.3g}]. Scale the data to [-1, 1] (e.g. x / 127.5 - 1 for "
                "8-bit images) with standardize=False, or choose architecture='mlp'.",
                UserWarning,
                stacklevel=2,
            )
        if self.data_scale == "image":
            data_scale = image_data_scale(sample_shape)
        else:
            data_scale = None if self.data_scale is None else float(self.data_scale)

        seed = params["seed"]
        if fraction > 0:
            n_val = max(2, round(fraction * n))
            order = np.random.RandomState(seed).permutation(n)
            x_val, x_train = X_model[order[:n_val]], X_model[order[n_val:]]
            if len(x_train) < 2:
                raise ValueError(
                    f"validation_fraction={fraction} leaves {len(x_train)} of {n} samples "
                    "for training; at least 2 are needed. Lower validation_fraction or pass "
                    "more samples."
                )
        else:
            x_train = x_val = X_model
        batch_size = int(self.batch_size)
        if len(x_train) < batch_size:
            warnings.warn(
                f"batch_size={batch_size} is larger than the {len(x_train)} training samples; "
                f"training with batch_size={len(x_train)} (one step per epoch). Pass more "
                "data or a smaller batch_size to silence this.",
                UserWarning,
                stacklevel=2,
            )
            batch_size = len(x_train)

        config = TrainConfig(
            architecture=architecture if custom is None else "mlp",
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
            seed=seed,
            device=str(params["device"]),
        )
        autoencoder = None
        if custom is not None:
            autoencoder = _custom_autoencoder(custom, sample_shape, int(self.n_components))
        progress = None
        callback = None
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
                model = build_model(config, sample_shape, autoencoder=autoencoder)
                result = train(x_train, x_val, config, model=model, callback=callback)
        except TrainingDivergedError as error:
            raise TrainingDivergedError(
                f"{error} In {type(self).__name__}: pass a smaller learning_rate or lam"
                + ("" if standardize else ", or standardize=True for features of large scale")
                + "."
            ) from error
        finally:
            if progress is not None:
                progress.close()

        self.architecture_ = architecture
        self.standardize_ = standardize
        self.data_scale_ = data_scale
        self.batch_size_ = batch_size
        self.seed_ = seed
        self.n_components_ = int(self.n_components)
        self._n_features_out = self.n_components_
        self.history_ = result.history
        self.n_epochs_ = len(result.history)
        self.best_epoch_ = int(result.best_epoch)
        self.best_val_loss_ = float(result.best_val_loss)
        self.stopped_early_ = bool(result.stopped_early)
        self.model_ = result.model
        return self

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
        X = self._validate_X(X, reset=False)
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
            raise ValueError(
                f"X has {Z.shape[1]} columns, but the latent space has "
                f"{self.n_components_} dimensions; pass codes of shape (n, {self.n_components_})."
            )
        return self._postprocess(_decode(self.model_, Z.astype(np.float32)))

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
        X = self._validate_X(X, reset=False)
        X_hat = self._postprocess(reconstruct(self.model_, self._preprocess(X)))
        return -float(np.mean((X_hat.astype(np.float64) - X.astype(np.float64)) ** 2))

    # ------------------------------------------------------------------ persistence

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
        import io

        check_is_fitted(self)
        params = {}
        for name, value in self.get_params(deep=False).items():
            if name == "architecture" and _custom_pair(value) is not None:
                value = "custom"
            elif name == "random_state" and not isinstance(value, numbers.Integral | None):
                value = None  # a RandomState's state is not kept; seed_ records the run
            params[name] = _json_ready(value)
        meta = {
            "topoae_version": __version__,
            "torch_version": torch.__version__,
            "params": params,
            "fitted": {name: _json_ready(getattr(self, name)) for name in _FITTED_META},
        }
        if hasattr(self, "feature_names_in_"):
            meta["fitted"]["feature_names_in_"] = [str(c) for c in self.feature_names_in_]
        payload = {
            "format": FILE_FORMAT,
            "format_version": FILE_VERSION,
            "meta": json.dumps(meta, allow_nan=True),
            "state_dict": {
                k: v.detach().to("cpu", copy=True) for k, v in self.model_.state_dict().items()
            },
            "mean": None if self.mean_ is None else torch.from_numpy(self.mean_.copy()),
            "scale": None if self.scale_ is None else torch.from_numpy(self.scale_.copy()),
        }
        payload["checksum"] = _checksum(payload)
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        return atomic_write_bytes(path, buffer.getvalue())

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
        ValueError
            If the file is damaged, truncated, not written by :meth:`save`, or by a newer
            topoae; or the custom modules do not match.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No model file at {path}.")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for damaged files
            raise ValueError(
                f"Cannot read {path} as a topoae model ({type(error).__name__}: {error}). The "
                "file is damaged, truncated or was not written by TopologicalAutoencoder.save."
            ) from error
        if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
            raise ValueError(
                f"{path} is not a TopologicalAutoencoder file (no {FILE_FORMAT!r} marker); "
                "training checkpoints and run folders are read by topoae.runs instead."
            )
        version = payload.get("format_version")
        if not isinstance(version, int) or version > FILE_VERSION:
            raise ValueError(
                f"{path} uses file format {version!r}, newer than this topoae ({__version__}) "
                f"reads ({FILE_VERSION}); upgrade topoae."
            )
        if payload.get("checksum") != _checksum(payload):
            raise ValueError(f"{path} is corrupt: its checksum does not match its contents.")
        try:
            meta = json.loads(payload["meta"])
            params, fitted = dict(meta["params"]), dict(meta["fitted"])
            missing = [name for name in _FITTED_META if name not in fitted]
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path} has unreadable metadata ({error}).") from error
        if missing or set(params) != set(cls().get_params()):
            raise ValueError(
                f"{path} does not describe this version's TopologicalAutoencoder (written by "
                f"topoae {meta.get('topoae_version')}); missing {missing}, parameters "
                f"{sorted(set(params) ^ set(cls().get_params()))} differ."
            )
        if params.get("hidden_sizes") is not None:
            params["hidden_sizes"] = tuple(params["hidden_sizes"])
        if params["architecture"] == "custom":
            if _custom_pair(architecture) is None:
                raise ValueError(
                    f"{path} holds a model with a custom encoder / decoder; pass the same "
                    "modules again: TopologicalAutoencoder.load(path, architecture=(encoder, "
                    "decoder))."
                )
            params["architecture"] = architecture
        elif architecture is not None:
            raise ValueError(
                f"{path} holds the built-in architecture {params['architecture']!r}; "
                "do not pass architecture."
            )
        estimator = cls(**params)
        for name in _FITTED_META:
            setattr(estimator, name, fitted[name])
        estimator.input_shape_ = tuple(fitted["input_shape_"])
        if "feature_names_in_" in fitted:
            estimator.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
        estimator.mean_ = None if payload["mean"] is None else payload["mean"].numpy()
        estimator.scale_ = None if payload["scale"] is None else payload["scale"].numpy()
        estimator._n_features_out = estimator.n_components_
        if estimator.architecture_ == "custom":
            autoencoder = _custom_autoencoder(
                architecture, estimator.input_shape_, estimator.n_components_
            )
        else:
            autoencoder = build_autoencoder(
                estimator.architecture_,
                estimator.input_shape_,
                estimator.n_components_,
                estimator.hidden_sizes,
            )
        model = TopologicallyRegularizedAutoencoder(
            autoencoder,
            float(estimator.lam),
            match_edges=estimator.match_edges,
            data_scale=estimator.data_scale_,
        )
        try:
            model.load_state_dict(payload["state_dict"])
        except RuntimeError as error:
            raise ValueError(
                f"The weights in {path} do not fit the model they describe: {error}"
            ) from error
        estimator.model_ = model.to(resolve_device(device)).eval()
        return estimator


# ---------------------------------------------------------------------- helpers


def _module_device(module: nn.Module) -> torch.device:
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _custom_pair(architecture) -> tuple[nn.Module, nn.Module] | None:
    """The ``(encoder, decoder)`` pair in ``architecture``, else ``None``."""
    if (
        isinstance(architecture, tuple | list)
        and len(architecture) == 2
        and all(isinstance(m, nn.Module) for m in architecture)
    ):
        return architecture[0], architecture[1]
    return None


def _custom_autoencoder(
    pair: tuple[nn.Module, nn.Module], input_shape: tuple[int, ...], n_components: int
) -> Autoencoder:
    """Deep copies of the user's modules, checked on a probe batch for the right shapes."""
    encoder, decoder = (copy.deepcopy(m) for m in pair)
    autoencoder = Autoencoder(encoder, decoder, (math.prod(input_shape),))
    n_features = math.prod(input_shape)
    probe = torch.zeros(2, n_features, device=_module_device(encoder))
    autoencoder.eval()  # eval: the probe must not touch BatchNorm statistics
    try:
        with torch.no_grad():
            z = autoencoder.encoder(probe)
            x_hat = autoencoder.decoder(z)
    except Exception as error:
        raise ValueError(
            f"The custom encoder / decoder failed on a batch of shape (2, {n_features}): "
            f"{type(error).__name__}: {error}"
        ) from error
    if tuple(z.shape) != (2, n_components):
        raise ValueError(
            f"The custom encoder maps (m, {n_features}) to {tuple(z.shape[1:])} per sample; "
            f"expected ({n_components},) = (n_components,)."
        )
    if x_hat.shape[0] != 2 or x_hat[0].numel() != n_features:
        raise ValueError(
            f"The custom decoder returns samples of shape {tuple(x_hat.shape[1:])}; expected "
            f"{n_features} values each (the number of features)."
        )
    autoencoder.train()
    return Autoencoder(encoder, decoder, input_shape)


@torch.no_grad()
def _decode(model: nn.Module, z: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """Decoded latent codes in eval mode, shape ``(n, *input_shape)``."""
    device = _module_device(model)
    was_training = model.training
    model.eval()
    z_t = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))
    parts = [
        model.decode(z_t[i : i + batch_size].to(device)).cpu()
        for i in range(0, len(z_t), batch_size)
    ]
    model.train(was_training)
    return torch.cat(parts).numpy()


def _json_ready(value):
    """Plain Python data for JSON (NumPy scalars, tuples and arrays converted)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | list):
        return [_json_ready(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, torch.device):
        return str(value)
    return value


def _checksum(payload: dict[str, Any]) -> str:
    """SHA-256 of the metadata and every tensor's dtype, shape and bytes."""
    digest = hashlib.sha256()
    digest.update(str(payload.get("format_version")).encode())
    digest.update(str(payload.get("meta")).encode("utf-8"))
    tensors = dict(payload.get("state_dict") or {})
    tensors["<mean>"] = payload.get("mean")
    tensors["<scale>"] = payload.get("scale")
    for key in sorted(tensors):
        tensor = tensors[key]
        digest.update(key.encode("utf-8"))
        if tensor is None:
            digest.update(b"None")
            continue
        if not isinstance(tensor, torch.Tensor):
            return "invalid"
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
