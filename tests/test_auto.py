"""The auto preset: widths from the number of features, the paper's Spheres optimiser."""

import pytest

from topoae.auto import auto_preset, hidden_widths
from topoae.errors import InputError
from topoae.paper import PRESETS


@pytest.mark.parametrize(
    ("d", "widths"),
    [
        (1, (32, 32)),
        (50, (32, 32)),
        (101, (32, 32)),
        (129, (64, 32)),
        (784, (256, 128)),
        (3072, (1024, 512)),
        (20_000, (1024, 512)),
    ],
)
def test_hidden_widths_rule(d, widths):
    assert hidden_widths(d) == widths


def test_auto_preset_uses_the_spheres_settings():
    spheres = PRESETS["spheres"].models["topoae"]
    settings = auto_preset(101)
    assert settings.architecture == "mlp" and settings.hidden_sizes == (32, 32)
    params = settings.estimator_params()
    assert params["batch_size"] == spheres.batch_size
    assert params["learning_rate"] == spheres.learning_rate and params["lam"] == spheres.lam
    assert auto_preset(10, n_samples=12).batch_size == 12
    assert auto_preset(784, input_shape=(1, 28, 28)).architecture == "deep"
    with pytest.raises(InputError):
        hidden_widths(0)
