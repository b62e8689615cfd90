"""The training loop: exact repeatability, exact resume, early stopping, divergence, bad input."""

import numpy as np
import pytest
import torch

from topoae import make_spheres
from topoae.core.training import (
    TrainConfig,
    TrainingDivergedError,
    paper_config,
    train,
)


@pytest.fixture(scope="module")
def small_spheres():
    x, y = make_spheres(n_samples=25, d=10, n_spheres=5)  # 200 points in R^11
    x = (x - x.mean(0)) / x.std(0)
    order = np.random.RandomState(0).permutation(len(x))
    return x[order[:160]], x[order[160:]], y[order[160:]]


def config(**overrides):
    values = dict(lam=0.5, batch_size=16, learning_rate=3e-3, max_epochs=4, patience=50, seed=7)
    values.update(overrides)
    return TrainConfig(**values)


def state_equal(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_repeats_exactly(small_spheres):
    x_train, x_val, _ = small_spheres
    first = train(x_train, x_val, config())
    second = train(x_train, x_val, config())
    assert first.history == [dict(r, seconds=s["seconds"]) for r, s in zip(
        second.history, first.history, strict=True
    )]  # fmt: skip
    assert state_equal(first.model.state_dict(), second.model.state_dict())
    other = train(x_train, x_val, config(seed=8))
    assert not state_equal(first.model.state_dict(), other.model.state_dict())


class Interrupt(Exception):
    pass


def test_resumed_run_equals_uninterrupted(small_spheres, tmp_path):
    x_train, x_val, _ = small_spheres
    cfg = config(snapshot_every=5)
    snapshot = x_val[:20]
    uninterrupted = train(x_train, x_val, cfg, snapshot_data=snapshot)

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise Interrupt

    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(Interrupt):
        train(x_train, x_val, cfg, checkpoint_path=checkpoint, callback=stop_after_two,
              snapshot_data=snapshot)  # fmt: skip
    assert checkpoint.exists()
    resumed = train(
        x_train, x_val, cfg, checkpoint_path=checkpoint, resume=True, snapshot_data=snapshot
    )
    assert state_equal(uninterrupted.model.state_dict(), resumed.model.state_dict())
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in uninterrupted.history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history]
    assert len(resumed.snapshots) == len(uninterrupted.snapshots)
    for a, b in zip(resumed.snapshots, uninterrupted.snapshots, strict=True):
        np.testing.assert_array_equal(a["latent"], b["latent"])
    # A finished run resumes to the same model without training further.
    again = train(x_train, x_val, cfg, checkpoint_path=checkpoint, resume=True)
    assert state_equal(again.model.state_dict(), resumed.model.state_dict())
    with pytest.raises(ValueError, match="other settings"):
        train(x_train, x_val, config(lam=0.1), checkpoint_path=checkpoint, resume=True)


def test_best_weights_are_restored(small_spheres):
    x_train, x_val, _ = small_spheres
    result = train(x_train, x_val, config(max_epochs=6, learning_rate=0.05))
    best = min(result.history, key=lambda r: r["val_loss"])
    assert result.best_epoch == best["epoch"]
    # Recompute the validation loss of the returned model: it is the best epoch's.
    from topoae.core.training import validation_loss

    result.model.eval()
    val = validation_loss(result.model, torch.as_tensor(x_val), 16)
    assert val["loss"] == pytest.approx(best["val_loss"], rel=1e-5)


def test_early_stopping_stops(small_spheres):
    x_train, x_val, _ = small_spheres
    result = train(x_train, x_val, config(max_epochs=60, patience=1, learning_rate=0.05))
    assert result.stopped_early
    assert result.history[-1]["epoch"] == result.best_epoch + 1


def test_training_improves_topology_preservation(small_spheres):
    """Validation topological error drops and more MST edges agree after training."""
    x_train, x_val, _ = small_spheres
    untrained = train(x_train, x_val, config(max_epochs=1, learning_rate=1e-12, lam=1.0))
    trained = train(x_train, x_val, config(max_epochs=15, learning_rate=1e-2, lam=1.0))
    before, after = untrained.history[0], trained.history[-1]
    assert after["val_topological"] < 0.7 * before["val_topological"]
    assert after["val_shared_edges"] > before["val_shared_edges"]


def test_history_has_every_component(small_spheres):
    x_train, x_val, _ = small_spheres
    result = train(x_train, x_val, config(max_epochs=1))
    keys = set(result.history[0])
    for part in ("loss", "reconstruction", "topological", "x_to_z", "z_to_x", "shared_edges"):
        assert f"train_{part}" in keys and f"val_{part}" in keys
    vanilla = train(x_train, x_val, config(max_epochs=1, lam=0.0))
    assert "train_topological" not in vanilla.history[0]


def test_train_on_validation_option(small_spheres):
    x_train, x_val, _ = small_spheres
    seen = []
    train(x_train, x_val, config(max_epochs=1, train_on_validation=True, lam=0),
          callback=seen.append)  # fmt: skip
    assert len(seen) == 1  # it runs; the batch count follows from the larger set
    with pytest.raises(ValueError, match="batch_size"):
        train(x_train[:10], x_val, config(batch_size=16))
    # 10 training samples + 40 validation samples fill a batch of 16 with the quirk on.
    train(x_train[:10], x_val, config(batch_size=16, train_on_validation=True, max_epochs=1))


def test_divergence_names_epoch_and_remedy(small_spheres):
    x_train, x_val, _ = small_spheres
    huge = x_train.copy()
    huge[:, 0] = 1e30  # finite input whose squared error overflows float32
    with pytest.raises(TrainingDivergedError, match=r"epoch 1 .*Lower the learning rate"):
        train(huge, x_val, config(max_epochs=1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 1}, "batch_size"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"lam": -1}, "lam"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"patience": 0}, "patience"),
    ],
)
def test_invalid_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_invalid_data(small_spheres):
    x_train, x_val, _ = small_spheres
    nan = x_train.copy()
    nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="x_train contains NaN"):
        train(nan, x_val, config())
    with pytest.raises(ValueError, match="samples have shape"):
        train(x_train, x_val[:, :5], config())
    with pytest.raises(ValueError, match="at least 2"):
        train(x_train, x_val[:1], config())


def test_paper_config():
    cfg = paper_config("spheres", "topoae")
    assert (cfg.batch_size, cfg.learning_rate, cfg.lam) == (28, 2.7268e-4, 0.43358)
    cfg = paper_config("spheres", "ae", seed=3)
    assert (cfg.batch_size, cfg.lam, cfg.seed) == (84, 0.0, 3)
    assert paper_config("mnist", "linear-topoae").architecture == "linear"
    assert paper_config("mnist", "topoae").architecture == "deep"
    with pytest.raises(ValueError, match="Unknown model"):
        paper_config("spheres", "vae")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_optimizer_is_fused_adam_with_the_same_update():
    import torch

    from topoae.core.training import make_optimizer

    torch.manual_seed(0)
    start = torch.randn(5, 3)
    results = []
    for fused in (True, False):
        weight = torch.nn.Parameter(start.clone())
        if fused:
            optimizer = make_optimizer([weight], 1e-2, weight_decay=1e-3)
            assert optimizer.defaults["fused"]
        else:
            optimizer = torch.optim.Adam([weight], lr=1e-2, weight_decay=1e-3)
        for step in range(5):
            weight.grad = torch.sin(weight.detach() * (step + 1))
            optimizer.step()
        results.append(weight.detach())
    torch.testing.assert_close(results[0], results[1], rtol=1e-6, atol=1e-7)
    # Complex parameters have no fused kernel: the default Adam is used instead.
    complex_weight = torch.nn.Parameter(torch.ones(2, dtype=torch.complex64))
    assert not make_optimizer([complex_weight], 1e-3).defaults["fused"]


def test_checkpoint_loads_with_weights_only(small_spheres, tmp_path):
    """The checkpoint holds plain tensors and containers: no pickled objects to run."""
    from topoae._safe_files import load_checked_torch

    x_train, x_val, _ = small_spheres
    checkpoint = tmp_path / "checkpoint.pt"
    cfg = config(max_epochs=2, snapshot_every=5)
    result = train(x_train, x_val, cfg, checkpoint_path=checkpoint, snapshot_data=x_val[:10])
    assert checkpoint.read_bytes().startswith(b"topoae-checked-torch 1\n")
    state = load_checked_torch(checkpoint, kind="training checkpoint")  # weights_only=True
    assert state["epoch"] == 2 and state["finished"] and state["config"] == cfg.to_dict()
    assert state["generator"].dtype == torch.uint8
    assert len(state["snapshots"]) == len(result.snapshots) > 1
    for saved, kept in zip(state["snapshots"], result.snapshots, strict=True):
        np.testing.assert_array_equal(saved["latent"].numpy(), kept["latent"])
    assert state_equal(state["best_state"], result.model.state_dict())


def test_damaged_checkpoint_is_a_clear_error(small_spheres, tmp_path):
    from topoae.errors import DataFileError

    x_train, x_val, _ = small_spheres
    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(DataFileError, match="delete it to start the run over"):
        train(x_train, x_val, config(), checkpoint_path=checkpoint, resume=True)


def _resume_with(checkpoint, change, small_spheres):
    from topoae._safe_files import load_checked_torch, save_checked_torch

    x_train, x_val, _ = small_spheres
    state = load_checked_torch(checkpoint, kind="training checkpoint")
    change(state)
    save_checked_torch(checkpoint, state)  # a valid checksum: only the checks can refuse it
    train(x_train, x_val, config(max_epochs=1), checkpoint_path=checkpoint, resume=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("optimizer"), "at optimizer: missing"),
        (lambda s: s["optimizer"].pop("state"), "at optimizer.state: missing"),
        (
            lambda s: s["model"].__setitem__(
                next(iter(s["model"])), torch.zeros(3, 3, dtype=torch.float32)
            ),
            "the model has",
        ),
        (lambda s: s["model"].pop(next(iter(s["model"]))), "weights of another model"),
        (
            lambda s: s["optimizer"]["state"][0].__setitem__("exp_avg", torch.zeros(2, 2)),
            "the parameter has shape",
        ),
        (lambda s: s.__setitem__("generator", torch.zeros(3, dtype=torch.uint8)), "generator"),
        (lambda s: s.__setitem__("history", {"a": 1}), "at history"),
    ],
)
def test_checkpoint_that_does_not_fit_is_a_clear_error(small_spheres, tmp_path, change, message):
    from topoae.errors import DataFileError

    x_train, x_val, _ = small_spheres
    checkpoint = tmp_path / "checkpoint.pt"
    train(x_train, x_val, config(max_epochs=1), checkpoint_path=checkpoint)
    with pytest.raises(DataFileError, match=message) as error:
        _resume_with(checkpoint, change, small_spheres)
    assert str(checkpoint) in str(error.value) and "\n" not in str(error.value)


def test_old_plain_checkpoint_still_resumes(small_spheres, tmp_path):
    """A checkpoint written by plain torch.save (before the checksum header) still loads."""
    from topoae._safe_files import load_checked_torch

    x_train, x_val, _ = small_spheres
    checkpoint = tmp_path / "checkpoint.pt"
    cfg = config(max_epochs=2)
    first = train(x_train, x_val, cfg, checkpoint_path=checkpoint)
    state = load_checked_torch(checkpoint, kind="training checkpoint")
    torch.save(state, checkpoint)  # plain: no header, as topoae 0.1 wrote it
    assert not checkpoint.read_bytes().startswith(b"topoae-checked-torch")
    resumed = train(x_train, x_val, cfg, checkpoint_path=checkpoint, resume=True)
    assert resumed.history == first.history
    assert state_equal(resumed.model.state_dict(), first.model.state_dict())
