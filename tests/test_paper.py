"""The paper's facts: presets by name, the generic fallback, the image normaliser."""

import pytest

from topoae import paper
from topoae.core.training import TrainConfig
from topoae.errors import InputError


def test_presets_by_name_and_the_generic_fallback():
    assert paper.get_preset("mnist").architecture == "deep"
    assert paper.get_preset("generic") is paper.GENERIC
    with pytest.raises(InputError, match="Unknown preset 'unknown'; choose one of spheres, "):
        paper.get_preset("unknown")
    assert paper.preset_for_dataset("my-table") is paper.GENERIC
    assert paper.preset_for_dataset("cifar10") is paper.PRESETS["cifar10"]
    assert paper.GENERIC.models == paper.PRESETS["spheres"].models


def test_train_config_defaults_are_the_spheres_topoae():
    config, spheres = TrainConfig(), paper.PRESETS["spheres"].models["topoae"]
    assert (config.lam, config.learning_rate, config.batch_size) == (
        spheres.lam,
        spheres.learning_rate,
        spheres.batch_size,
    )


def test_image_data_scale():
    assert paper.image_data_scale((1, 28, 28)) == 56
    assert paper.image_data_scale((3, 32, 32)) == pytest.approx(110.85, abs=0.01)
