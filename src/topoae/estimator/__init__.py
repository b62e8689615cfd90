"""The scikit-learn estimator :class:`TopologicalAutoencoder`.

``autoencoder`` holds the class, ``fileformat`` its saved file, ``validation`` the checks
of its parameters, data and custom modules.
"""

from topoae.estimator.autoencoder import TopologicalAutoencoder, expected_failed_checks

__all__ = ["TopologicalAutoencoder", "expected_failed_checks"]
