"""The trainer: reproducibility, stop, early stopping, optimizers, events."""

import threading
import time

import pytest
import torch
from torch import nn

from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.training import (
    OPTIMIZERS,
    Callback,
    EarlyStopping,
    StopRequested,
    StopTraining,
    TensorClassification,
    TrainConfig,
    Trainer,
)


def blobs(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 2, generator=g) * 0.5 + torch.stack([y.float(), (y == 1).float() * 2], 1)
    return x, y


def tiny_objective():
    x, y = blobs()
    return TensorClassification(x[:200], y[:200], x[200:], y[200:])


def mlp():
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3))


def test_same_seed_same_metrics():
    a = run_experiment(make_config("image", "cnn_bn", epochs=2, seed=3, max_batches=5, device="cpu"))
    b = run_experiment(make_config("image", "cnn_bn", epochs=2, seed=3, max_batches=5, device="cpu"))

    def numbers(history):
        return [{k: v for k, v in h.items() if k != "seconds"} for h in history]

    assert numbers(a.history) == numbers(b.history)
    assert a.metrics["accuracy"] == b.metrics["accuracy"]
    c = run_experiment(make_config("image", "cnn_bn", epochs=2, seed=4, max_batches=5, device="cpu"))
    assert [h["train_loss"] for h in c.history] != [h["train_loss"] for h in a.history]


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_lowers_the_loss(optimizer):
    torch.manual_seed(0)
    lr = {"sgd": 0.1, "momentum": 0.05, "adagrad": 0.1, "rmsprop": 0.01}.get(optimizer, 0.01)
    trainer = Trainer(mlp(), tiny_objective(), TrainConfig(optimizer=optimizer, lr=lr, epochs=8, batch_size=32)).fit()
    assert trainer.history[-1]["train_loss"] < trainer.history[0]["train_loss"] * 0.8
    assert trainer.status == "finished"


def test_unknown_optimizer_names_the_choices():
    with pytest.raises(ValueError, match="adamw"):
        Trainer(mlp(), tiny_objective(), TrainConfig(optimizer="lion")).fit()


def test_stop_request_ends_within_a_second_and_keeps_the_model():
    x = torch.randn(4096, 1, 8, 8)
    y = torch.randint(0, 10, (4096,))
    from core.models import get_model

    model = get_model("image", "cnn", channels=1, size=8, num_classes=10)
    event = threading.Event()
    config = make_config("image", "cnn", epochs=500, batch_size=32, device="cpu")
    from core.run.config import train_config
    from core.run.training import StopFlag

    trainer = Trainer(model, TensorClassification(x, y, x[:64], y[:64]), train_config(config), [StopFlag(event)])
    done = {}

    def stop_later():
        time.sleep(1.0)
        done["asked"] = time.perf_counter()
        event.set()

    threading.Thread(target=stop_later).start()
    trainer.fit()
    elapsed = time.perf_counter() - done["asked"]
    assert trainer.status == "stopped"
    assert elapsed < 1.0
    assert trainer.stop_reason == "stopped by the user"
    # the model trained so far is kept and usable
    assert model(x[:2]).shape == (2, 10)


def test_early_stopping_stops_and_restores_the_best_weights():
    model = mlp()
    trainer = Trainer(model, tiny_objective(), TrainConfig(lr=0.5, epochs=200, patience=2, optimizer="sgd"))
    stopper = EarlyStopping(patience=2)
    trainer.callbacks.append(stopper)
    trainer.fit()
    assert len(trainer.history) < 200
    assert "early stopping" in trainer.stop_reason
    best = min(h["val_loss"] for h in trainer.history)
    assert stopper.best_ == pytest.approx(best)
    # the restored weights give the best validation loss, not the last one
    assert trainer.evaluate()["val_loss"] == pytest.approx(best, rel=1e-5)


def test_a_short_run_leaves_batch_norm_with_the_statistics_of_the_data():
    """Two steps leave a moving average (momentum 0.1) still near its start (mean 0, variance 1): the trainer
    recomputes batch norm's statistics for the final weights, so evaluation normalises as training did."""
    x, y = blobs(512)
    x = x * 3 + 5  # far from mean 0, variance 1
    model = nn.Sequential(nn.BatchNorm1d(2), nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3))
    trainer = Trainer(model, TensorClassification(x, y, x, y), TrainConfig(epochs=1, batch_size=256, lr=0.05)).fit()
    norm = model[0]
    assert torch.allclose(norm.running_mean, x.mean(0), atol=0.05 * x.std(0).max().item())
    assert torch.allclose(norm.running_var, x.var(0), rtol=0.1)
    assert norm.momentum == 0.1 and not model.training  # put back as it was, ready to evaluate
    model.train()
    with torch.no_grad():
        as_trained = (model(x).argmax(1) == y).float().mean().item()
    model.eval()
    with torch.no_grad():
        as_evaluated = (model(x).argmax(1) == y).float().mean().item()
    assert as_evaluated == pytest.approx(as_trained, abs=0.02)
    assert trainer.recalibrate_batch_norm() == 1
    assert Trainer(mlp(), tiny_objective()).recalibrate_batch_norm() == 0  # nothing to recompute


def test_batch_norm_is_recomputed_for_the_restored_best_weights():
    """Early stopping puts the best epoch's weights back first; the statistics are then computed for them."""
    x, y = blobs(512)
    model = nn.Sequential(nn.BatchNorm1d(2), nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3))
    trainer = Trainer(model, TensorClassification(x[:400], y[:400], x[400:], y[400:]), TrainConfig(lr=0.5, epochs=200))
    stopper = EarlyStopping(patience=2)
    trainer.callbacks.append(stopper)
    trainer.fit()
    assert "early stopping" in trainer.stop_reason
    assert torch.equal(model[1].weight, stopper.best_state_["1.weight"])
    assert torch.allclose(model[0].running_mean, x[:400].mean(0), atol=0.1)


def test_a_run_stopped_in_its_first_epoch_keeps_batch_norm_statistics_of_the_data():
    """Stopped after two steps, before any epoch ended: the model it keeps normalises as training did."""

    class StopAtTwo(Callback):
        def on_batch_end(self, trainer, batch, loss):
            if batch == 1:
                raise StopRequested("stopped by the user")

    x, y = blobs(512)
    x = x * 3 + 5
    model = nn.Sequential(nn.BatchNorm1d(2), nn.Linear(2, 3))
    trainer = Trainer(model, TensorClassification(x, y, x, y), TrainConfig(epochs=5, batch_size=64), [StopAtTwo()])
    trainer.fit()
    assert trainer.status == "stopped" and trainer.history == [] and trainer.steps == 2
    assert torch.allclose(model[0].running_mean, x.mean(0), atol=0.05 * x.std(0).max().item())


def test_an_interrupted_recalibration_leaves_the_statistics_training_left():
    x, y = blobs(512)
    model = nn.Sequential(nn.BatchNorm1d(2), nn.Linear(2, 3))
    objective = TensorClassification(x, y, x, y)
    trainer = Trainer(model, objective, TrainConfig(epochs=1, batch_size=64))
    model[0].running_mean.fill_(0.5)
    calls = []

    def interrupted(model_, batch):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return TensorClassification.loss(objective, model_, batch)

    objective.loss = interrupted
    with pytest.raises(KeyboardInterrupt):
        trainer.recalibrate_batch_norm()
    assert torch.equal(model[0].running_mean, torch.full((2,), 0.5)) and model[0].momentum == 0.1


def test_events_reach_callbacks_in_order():
    seen = []

    class Recorder(Callback):
        def on_fit_start(self, trainer):
            seen.append("fit_start")

        def on_batch_end(self, trainer, batch, loss):
            seen.append("batch")

        def on_epoch_end(self, trainer, logs):
            seen.append("epoch")

        def on_fit_end(self, trainer, status):
            seen.append(f"fit_end:{status}")

    Trainer(mlp(), tiny_objective(), TrainConfig(epochs=2, batch_size=100), [Recorder()]).fit()
    assert seen == ["fit_start", "batch", "batch", "epoch", "batch", "batch", "epoch", "fit_end:finished"]


def test_a_callback_can_stop_training():
    class StopAtTwo(Callback):
        def on_epoch_end(self, trainer, logs):
            if logs["epoch"] == 2:
                raise StopTraining("enough")

    trainer = Trainer(mlp(), tiny_objective(), TrainConfig(epochs=10), [StopAtTwo()]).fit()
    assert len(trainer.history) == 2


def test_trainer_matches_a_bare_pytorch_loop():
    """Same seed, same data order, same updates: the trainer adds no numerical difference."""
    objective = tiny_objective()
    torch.manual_seed(0)
    ours = mlp()
    Trainer(ours, objective, TrainConfig(epochs=3, batch_size=32, lr=0.01, seed=0, device="cpu")).fit()

    from core.run.training import seed_everything

    g = seed_everything(0)
    bare = mlp()
    opt = torch.optim.Adam(bare.parameters(), lr=0.01)
    for _ in range(3):
        order = torch.randperm(200, generator=g)
        for s in range(0, 200, 32):
            idx = order[s : s + 32]
            loss = nn.functional.cross_entropy(bare(objective.x_train[idx]), objective.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    for p, q in zip(ours.parameters(), bare.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_auto_device_is_cpu_without_cuda():
    from core.run.training import resolve_device

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            resolve_device("cuda")
