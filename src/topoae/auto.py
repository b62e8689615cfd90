"""Settings for data the paper never saw: the ``auto`` preset.

The paper tuned its settings on four data sets (docs/method.md §5-§6). For anything else topoae
keeps the paper's Spheres optimiser settings (batch size, learning rate, λ: tuned for
standardised vectors, which is what :func:`topoae.datasets.load_file` produces) and chooses
only the network from the shape of one sample:

- vectors of ``d`` features: the ``"mlp"`` autoencoder with two hidden layers
  ``h1 = 2^ceil(log2(d / 4))`` clipped to ``[32, 1024]`` and ``h2 = max(32, h1 // 2)``
  (the decoder mirrors them). ``d = 101`` (Spheres) gives the paper's 32-32; 784 features give
  256-128; 20,000 give 1024-512. The first layer thus compresses about four-fold and the widths
  fall towards the latent space;
- samples with more than one axis (images ``(C, H, W)``): the paper's ``"deep"`` network.

A leaf: imports only :mod:`topoae.paper` and the errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from topoae.errors import InputError
from topoae.paper import PRESETS

__all__ = ["AutoSettings", "auto_preset", "hidden_widths"]

#: Bounds of the first hidden width.
MIN_WIDTH, MAX_WIDTH = 32, 1024


def hidden_widths(n_features: int) -> tuple[int, int]:
    """Hidden widths of the ``"mlp"`` encoder for ``n_features`` inputs (the module's rule)."""
    if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
        raise InputError(f"n_features must be a positive integer, got {n_features!r}.")
    first = 2 ** math.ceil(math.log2(max(n_features / 4, 1)))
    first = min(MAX_WIDTH, max(MIN_WIDTH, first))
    return first, max(MIN_WIDTH, first // 2)


@dataclass(frozen=True)
class AutoSettings:
    """The ``auto`` preset for one data shape.

    Attributes
    ----------
    architecture : str
        ``"mlp"`` or ``"deep"``.
    hidden_sizes : tuple of int or None
        Encoder widths (``None``: the architecture's own, for ``"deep"``).
    batch_size, learning_rate, lam : the Spheres TopoAE settings of the paper
    reason : str
        One line saying how the settings were chosen.
    """

    architecture: str
    hidden_sizes: tuple[int, ...] | None
    batch_size: int
    learning_rate: float
    lam: float
    reason: str = field(default="")

    def estimator_params(self) -> dict[str, Any]:
        """Keyword arguments of :class:`topoae.TopologicalAutoencoder`."""
        return {
            "architecture": self.architecture,
            "hidden_sizes": self.hidden_sizes,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "lam": self.lam,
        }


def auto_preset(
    n_features: int, n_samples: int | None = None, *, input_shape: tuple[int, ...] | None = None
) -> AutoSettings:
    """Settings for data of ``n_features`` features (or samples of ``input_shape``).

    Parameters
    ----------
    n_features : int
        Values per sample (flattened).
    n_samples : int, optional
        Number of samples; the batch size is lowered to it when it is smaller.
    input_shape : tuple of int, optional
        Shape of one sample; more than one axis selects ``"deep"``.

    Returns
    -------
    AutoSettings

    Examples
    --------
    >>> auto_preset(101).hidden_sizes
    (32, 32)
    >>> auto_preset(784).hidden_sizes
    (256, 128)
    >>> auto_preset(3072, input_shape=(3, 32, 32)).architecture
    'deep'
    """
    spheres = PRESETS["spheres"].models["topoae"]
    batch = spheres.batch_size if n_samples is None else max(1, min(spheres.batch_size, n_samples))
    common: dict[str, Any] = dict(
        batch_size=batch, learning_rate=spheres.learning_rate, lam=spheres.lam
    )
    if input_shape is not None and len(input_shape) > 1:
        return AutoSettings(
            architecture="deep",
            hidden_sizes=None,
            reason=f"samples of shape {tuple(input_shape)}: the paper's image network",
            **common,
        )
    widths = hidden_widths(n_features)
    return AutoSettings(
        architecture="mlp",
        hidden_sizes=widths,
        reason=(
            f"{n_features} features: MLP {n_features}-{widths[0]}-{widths[1]} "
            "(h1 = 2^ceil(log2(d/4)) in [32, 1024], h2 = max(32, h1/2)); Spheres optimiser"
        ),
        **common,
    )
