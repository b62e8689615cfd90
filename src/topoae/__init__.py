"""topoae: Topological Autoencoders (Moor, Horn, Rieck, Borgwardt, ICML 2020).

An autoencoder whose latent space keeps the 0-dimensional persistent homology of
the data: minibatch minimum-spanning-tree edges of data and latent space are
matched by a differentiable loss.
"""

from topoae._version import __version__
from topoae.core.losses import TopologicalSignatureLoss
from topoae.core.models import (
    DeepAutoencoder,
    LinearAutoencoder,
    MLPAutoencoder,
    TopologicallyRegularizedAutoencoder,
)
from topoae.core.topology import persistence_pairs
from topoae.core.training import TrainConfig, train
from topoae.datasets import make_spheres
from topoae.estimator import TopologicalAutoencoder

__all__ = [
    "DeepAutoencoder",
    "LinearAutoencoder",
    "MLPAutoencoder",
    "TopologicalAutoencoder",
    "TopologicalSignatureLoss",
    "TopologicallyRegularizedAutoencoder",
    "TrainConfig",
    "__version__",
    "make_spheres",
    "persistence_pairs",
    "train",
]
