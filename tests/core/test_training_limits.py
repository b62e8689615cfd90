"""Large-data training: memory maps read by batch, step and time limits, bounded validation."""

import numpy as np
import pytest
import torch

from topoae.core.training import TrainConfig, train
from topoae.core.training.loop import TrainingRows


def _data(n=600, d=12, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(size=(n // 2, d)), rng.normal(size=(n // 2, d)) + 3])
    return x.astype(np.float32)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_memory_map_trains_exactly_like_the_array_in_memory(tmp_path):
    x = _data()
    path = tmp_path / "x.npy"
    np.save(path, x[:500])
    mapped = np.load(path, mmap_mode="r")
    config = TrainConfig(max_epochs=2, batch_size=32, device="cpu", seed=1)
    in_memory = train(x[:500], x[500:], config)
    from_disk = train(mapped, x[500:], config)
    for key, value in _weights(in_memory.model).items():
        torch.testing.assert_close(from_disk.model.state_dict()[key], value, rtol=0, atol=0)
    assert from_disk.history[-1]["train_loss"] == in_memory.history[-1]["train_loss"]


def test_lazy_rows_gather_only_the_batch(tmp_path):
    class CountingRows:
        """A lazy view that records how many rows each read asks for."""

        def __init__(self, array):
            self.array, self.reads = array, []
            self.shape, self.dtype = array.shape, array.dtype

        def __len__(self):
            return len(self.array)

        def __getitem__(self, index):
            rows = self.array[index]
            self.reads.append(len(rows))
            return rows

    x = _data()
    rows = CountingRows(x[:500])
    train(rows, x[500:], TrainConfig(max_epochs=1, batch_size=50, device="cpu"))
    assert max(rows.reads) <= 65_536  # the finiteness check reads blocks
    assert rows.reads.count(50) == 10  # one gather per batch, never the whole array at once


def test_training_on_validation_too_with_a_memory_map(tmp_path):
    x = _data()
    np.save(tmp_path / "x.npy", x[:500])
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    config = TrainConfig(max_epochs=1, batch_size=30, device="cpu", train_on_validation=True)
    a = train(x[:500], x[500:], config)
    b = train(mapped, x[500:], config)
    for key, value in _weights(a.model).items():
        torch.testing.assert_close(b.model.state_dict()[key], value, rtol=0, atol=0)
    rows = TrainingRows([mapped, x[500:]], torch.device("cpu"))
    picked = rows.take(torch.tensor([499, 500, 0, 599]))
    np.testing.assert_array_equal(picked.numpy(), x[[499, 500, 0, 599]])


def test_max_steps_ends_the_run_mid_epoch():
    x = _data()
    result = train(x[:500], x[500:], TrainConfig(max_epochs=50, batch_size=25, max_steps=30))
    assert result.stop_reason == "max_steps"
    assert len(result.history) == 2  # 20 steps per epoch: the second epoch ends after 10


def test_a_time_budget_stops_training():
    x = _data()
    config = TrainConfig(max_epochs=1000, batch_size=25, time_budget=1e-9, device="cpu")
    result = train(x[:500], x[500:], config)
    assert result.stop_reason == "time_budget" and len(result.history) == 1


def test_validation_is_bounded_by_a_seeded_subset():
    x = _data(n=1000)
    few = train(x[:400], x[400:], TrainConfig(max_epochs=1, batch_size=25, max_validation=50))
    again = train(x[:400], x[400:], TrainConfig(max_epochs=1, batch_size=25, max_validation=50))
    everything = train(x[:400], x[400:], TrainConfig(max_epochs=1, batch_size=25))
    assert few.history[0]["val_loss"] == again.history[0]["val_loss"]
    assert few.history[0]["val_loss"] != everything.history[0]["val_loss"]


@pytest.mark.parametrize("bad", [{"max_steps": -1}, {"time_budget": -1.0}, {"max_validation": 1}])
def test_bad_limits_are_refused(bad):
    from topoae.errors import InputError

    with pytest.raises(InputError):
        TrainConfig(**bad)
