"""Input checks of :class:`~topoae.estimator.TopologicalAutoencoder`: parameters, data, modules.

Every problem is a :class:`topoae.errors.InputError` (a ``ValueError``) whose message
says what to change; scikit-learn's own checks (feature names and counts, NaN / inf)
keep their messages.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data
from torch import nn

from topoae.core.losses import MATCH_MODES
from topoae.core.models import ARCHITECTURES, Autoencoder
from topoae.core.training import resolve_device
from topoae.errors import InputError

__all__ = ["check_params", "custom_autoencoder", "custom_pair", "module_device", "validate_X"]


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter (the CPU for a module without any)."""
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def custom_pair(architecture) -> tuple[nn.Module, nn.Module] | None:
    """The ``(encoder, decoder)`` pair in ``architecture``, else ``None``."""
    if (
        isinstance(architecture, tuple | list)
        and len(architecture) == 2
        and all(isinstance(m, nn.Module) for m in architecture)
    ):
        return architecture[0], architecture[1]
    return None


def _is_int(value, low: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= low


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_positive(value, *, zero: bool = False) -> bool:
    return _is_real(value) and math.isfinite(value) and (value >= 0 if zero else value > 0)


def _number_problems(est) -> list[str]:
    """Problems of the numeric parameters."""
    problems = []
    if not _is_int(est.n_components, 1):
        problems.append(f"n_components must be an int >= 1, got {est.n_components!r}")
    if not _is_positive(est.lam, zero=True):
        problems.append(f"lam must be a finite number >= 0, got {est.lam!r}")
    if not _is_int(est.batch_size, 2):
        problems.append(
            f"batch_size must be an int >= 2 (a batch needs pairs), got {est.batch_size!r}"
        )
    if not _is_positive(est.learning_rate):
        problems.append(f"learning_rate must be a positive number, got {est.learning_rate!r}")
    if not _is_positive(est.weight_decay, zero=True):
        problems.append(f"weight_decay must be a number >= 0, got {est.weight_decay!r}")
    if not _is_int(est.max_epochs, 1):
        problems.append(f"max_epochs must be an int >= 1, got {est.max_epochs!r}")
    if not _is_int(est.patience, 1):
        problems.append(f"patience must be an int >= 1, got {est.patience!r}")
    if not (_is_real(est.validation_fraction) and 0 <= est.validation_fraction < 1):
        problems.append(f"validation_fraction must be in [0, 1), got {est.validation_fraction!r}")
    data_scale = est.data_scale
    if not (
        data_scale is None
        or (isinstance(data_scale, str) and data_scale == "image")
        or _is_positive(data_scale)
    ):
        problems.append(
            f"data_scale must be None, 'image' or a positive number, got {data_scale!r}"
        )
    return problems


def _choice_problems(est, custom) -> list[str]:
    """Problems of the named choices: standardize, match_edges, architecture, hidden sizes."""
    problems = []
    if not (isinstance(est.standardize, bool | np.bool_) or est.standardize == "auto"):
        problems.append(f"standardize must be True, False or 'auto', got {est.standardize!r}")
    if est.match_edges not in MATCH_MODES:
        problems.append(
            f"match_edges must be one of {', '.join(MATCH_MODES)}, got {est.match_edges!r}"
        )
    if (
        custom is None
        and est.architecture != "auto"
        and (not isinstance(est.architecture, str) or est.architecture not in ARCHITECTURES)
    ):
        problems.append(
            "architecture must be 'auto', one of "
            f"{', '.join(map(repr, ARCHITECTURES))} or an (encoder, decoder) pair of "
            f"torch.nn.Module, got {est.architecture!r}"
        )
    hidden = est.hidden_sizes
    if hidden is not None:
        if custom is not None:
            problems.append("hidden_sizes applies to built-in architectures only; drop it")
        elif isinstance(hidden, str | bytes) or not (
            isinstance(hidden, Sequence) and len(hidden) > 0 and all(_is_int(h, 1) for h in hidden)
        ):
            problems.append(
                "hidden_sizes must be None or a non-empty sequence of positive ints, "
                f"got {hidden!r}"
            )
        elif est.architecture == "linear":
            problems.append("the linear architecture has no hidden layers; drop hidden_sizes")
    if not isinstance(est.device, str | torch.device):
        problems.append(f"device must be a string such as 'cpu', got {est.device!r}")
    return problems


def check_params(est) -> dict[str, Any]:
    """Validate the estimator's parameters; return those that need normalising.

    Returns
    -------
    dict
        ``custom`` (the ``(encoder, decoder)`` pair or ``None``), ``seed`` (int, drawn from
        ``random_state`` unless that is an int), ``device`` (torch.device) and
        ``hidden_sizes`` (tuple or ``None``).

    Raises
    ------
    topoae.errors.InputError
        Listing every invalid parameter.
    """
    custom = custom_pair(est.architecture)
    problems = _number_problems(est) + _choice_problems(est, custom)
    if problems:
        raise InputError(f"Invalid {type(est).__name__} parameters: " + "; ".join(problems) + ".")
    try:
        rng = check_random_state(est.random_state)
    except ValueError as error:
        raise InputError(
            f"random_state must be None, an int in [0, 2**32) or a RandomState: {error}"
        ) from error
    if isinstance(est.random_state, numbers.Integral):
        seed = int(est.random_state)
    else:
        seed = int(rng.randint(0, 2**31 - 1))
    hidden = est.hidden_sizes
    return {
        "custom": custom,
        "seed": seed,
        "device": resolve_device(str(est.device)),
        "hidden_sizes": None if hidden is None else tuple(int(h) for h in hidden),
    }


def validate_X(est, X, *, reset: bool, min_samples: int = 1) -> np.ndarray:
    """Check ``X`` and return it as a float32/float64 array of shape ``(n, *sample_shape)``.

    Flat data goes through scikit-learn's ``validate_data`` (feature names, feature
    count, NaN / inf); images are checked on their flattened view and for their shape
    (against the fitted ``input_shape_`` unless ``reset``).
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
        fitted_shape = est.input_shape_
        # Flat data is left to validate_data (scikit-learn's own feature-count message).
        if (len(fitted_shape) > 1 or sample_shape is not None) and sample_shape != fitted_shape:
            shown = tuple(X.shape[1:]) if ndim is not None else "?"
            raise InputError(
                f"X has samples of shape {shown}, but {type(est).__name__} was fitted on "
                f"samples of shape {fitted_shape}; pass data of shape (n, "
                f"{', '.join(map(str, fitted_shape))})."
            )
    if sample_shape is not None:
        X = X.reshape(X.shape[0], math.prod(sample_shape))
    X = validate_data(
        est,
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


def custom_autoencoder(
    pair: tuple[nn.Module, nn.Module], input_shape: tuple[int, ...], n_components: int
) -> Autoencoder:
    """Deep copies of the user's modules, checked on a probe batch for the right shapes."""
    encoder, decoder = (copy.deepcopy(m) for m in pair)
    autoencoder = Autoencoder(encoder, decoder, (math.prod(input_shape),))
    n_features = math.prod(input_shape)
    probe = torch.zeros(2, n_features, device=module_device(encoder))
    autoencoder.eval()  # eval: the probe must not touch BatchNorm statistics
    try:
        with torch.no_grad():
            z = autoencoder.encoder(probe)
            x_hat = autoencoder.decoder(z)
    except Exception as error:
        raise InputError(
            f"The custom encoder / decoder failed on a batch of shape (2, {n_features}): "
            f"{type(error).__name__}: {error}"
        ) from error
    if tuple(z.shape) != (2, n_components):
        raise InputError(
            f"The custom encoder maps (m, {n_features}) to {tuple(z.shape[1:])} per sample; "
            f"expected ({n_components},) = (n_components,)."
        )
    if x_hat.shape[0] != 2 or x_hat[0].numel() != n_features:
        raise InputError(
            f"The custom decoder returns samples of shape {tuple(x_hat.shape[1:])}; expected "
            f"{n_features} values each (the number of features)."
        )
    autoencoder.train()
    return Autoencoder(encoder, decoder, input_shape)
