"""How a network learns, computed live: backprop on a tiny net, optimizers on 2-D loss surfaces, batch norm's
effect on activations, convolution and pooling step by step, and fine-tuning against training from scratch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from core.models import get_model, transfer_weights
from core.run.training import TensorClassification, TrainConfig, Trainer, make_optimizer

# --- Backprop on a tiny network -------------------------------------------------------------------------------------

BACKPROP_INPUT = (0.5, -1.0)
BACKPROP_TARGET = 1.0


def tiny_network(seed: int = 0) -> nn.Sequential:
    """2 inputs -> 3 tanh units -> 1 sigmoid output: small enough to show every number."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1), nn.Sigmoid())


@dataclass
class BackpropStep:
    """One example through the tiny net: forward values, the loss's gradient at each of them (autograd), and the
    parameters with their gradients, before the update this step makes."""

    values: dict[str, np.ndarray]  # x, z1 (hidden pre-activation), h (hidden), z2, out, loss
    grads: dict[str, np.ndarray]  # dloss/d of each value above (x excluded)
    params: dict[str, np.ndarray]  # w1 (3, 2), b1 (3,), w2 (1, 3), b2 (1,)
    param_grads: dict[str, np.ndarray]


def backprop_steps(
    steps: int, lr: float = 0.5, x=BACKPROP_INPUT, target: float = BACKPROP_TARGET, seed: int = 0
) -> list[BackpropStep]:
    """`steps` + 1 records of plain SGD on one example, loss = ½(out − target)²; record k is before update k."""
    net = tiny_network(seed)
    optimizer = make_optimizer("sgd", net.parameters(), lr, 0.0)
    names = {"0.weight": "w1", "0.bias": "b1", "2.weight": "w2", "2.bias": "b2"}
    records = []
    for _ in range(steps + 1):
        inputs = torch.tensor([x], dtype=torch.float32)
        z1 = net[0](inputs)
        h = net[1](z1)
        z2 = net[2](h)
        out = net[3](z2)
        loss = 0.5 * (out - target).pow(2).sum()
        for t in (z1, h, z2, out):
            t.retain_grad()
        optimizer.zero_grad()
        loss.backward()
        values = {"x": inputs, "z1": z1, "h": h, "z2": z2, "out": out, "loss": loss}
        records.append(
            BackpropStep(
                values={k: v.detach().numpy().reshape(-1).copy() for k, v in values.items()},
                grads={
                    k: v.grad.numpy().reshape(-1).copy() for k, v in values.items() if k in ("z1", "h", "z2", "out")
                },
                params={names[k]: p.detach().numpy().copy() for k, p in net.named_parameters()},
                param_grads={names[k]: p.grad.numpy().copy() for k, p in net.named_parameters()},
            )
        )
        optimizer.step()
    return records


# --- Optimizers on a loss surface -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Surface:
    """A 2-D loss surface: its function (torch, elementwise), where runs start, the view, and good learning rates."""

    title: str
    blurb: str
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    start: tuple[float, float]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    minimum: tuple[float, float] | None
    lrs: dict[str, float] = field(default_factory=dict)  # a learning rate per optimizer that shows its character
    steps: int = 100
    log_contours: bool = False


SURFACES = {
    "bowl": Surface(
        "Bowl",
        "x² + y²: round, every direction equally steep; every optimizer gets there.",
        lambda x, y: x**2 + y**2,
        (-4.0, 3.0),
        (-5.0, 5.0),
        (-5.0, 5.0),
        (0.0, 0.0),
        {"sgd": 0.1, "momentum": 0.05, "adagrad": 1.0, "rmsprop": 0.1, "adam": 0.3},
        steps=60,
    ),
    "ravine": Surface(
        "Ravine",
        "0.05x² + 5y²: a hundred times steeper across than along; plain SGD zig-zags or crawls.",
        lambda x, y: 0.05 * x**2 + 5 * y**2,
        (-4.5, 1.5),
        (-5.0, 5.0),
        (-2.0, 2.0),
        (0.0, 0.0),
        {"sgd": 0.18, "momentum": 0.05, "adagrad": 1.0, "rmsprop": 0.05, "adam": 0.3},
    ),
    "rosenbrock": Surface(
        "Rosenbrock",
        "(1 − x)² + 100(y − x²)²: a curved, nearly flat valley; finding it is easy, following it is not.",
        lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
        (-1.5, 2.0),
        (-2.0, 2.0),
        (-1.0, 3.0),
        (1.0, 1.0),
        {"sgd": 0.001, "momentum": 0.0005, "adagrad": 0.5, "rmsprop": 0.01, "adam": 0.1},
        steps=500,
        log_contours=True,
    ),
    "saddle": Surface(
        "Saddle",
        "x² − y² + y⁴/8: starting on the ridge, the gradient across it is tiny; adaptive methods leave it sooner.",
        lambda x, y: x**2 - y**2 + y**4 / 8,
        (-4.0, 0.001),
        (-5.0, 5.0),
        (-3.5, 3.5),
        (0.0, 2.0),
        {"sgd": 0.05, "momentum": 0.02, "adagrad": 0.5, "rmsprop": 0.05, "adam": 0.1},
    ),
}
SURFACE_OPTIMIZERS = ("sgd", "momentum", "adagrad", "rmsprop", "adam")


def surface_grid(name: str, n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The surface's loss on an n x n grid over its view: (xs, ys, z) with z[i, j] = loss(xs[j], ys[i])."""
    s = SURFACES[name]
    xs, ys = np.linspace(*s.x_range, n), np.linspace(*s.y_range, n)
    gx, gy = np.meshgrid(xs, ys)
    with torch.no_grad():
        z = s.loss(torch.from_numpy(gx), torch.from_numpy(gy)).numpy()
    return xs, ys, z


@dataclass
class Trajectory:
    points: np.ndarray  # (steps + 1, 2), fewer when it left the view for good
    losses: np.ndarray  # (len(points),)
    diverged: bool


def trajectory(name: str, optimizer: str, lr: float, steps: int = 100) -> Trajectory:
    """Minimise a surface from its start with a torch.optim optimizer (the trainer's make_optimizer) on a 2-D
    parameter; stops early when the point runs off far beyond the view (a learning rate too high)."""
    s = SURFACES[name]
    p = nn.Parameter(torch.tensor(s.start, dtype=torch.float64))
    opt = make_optimizer(optimizer, [p], lr, 0.0)
    span = max(s.x_range[1] - s.x_range[0], s.y_range[1] - s.y_range[0])
    points, losses, diverged = [], [], False
    for step in range(steps + 1):
        loss = s.loss(p[0], p[1])
        points.append(p.detach().numpy().copy())
        losses.append(float(loss.detach()))
        if not np.isfinite(losses[-1]) or np.abs(points[-1]).max() > 10 * span:
            diverged = True
            break
        if step < steps:
            opt.zero_grad()
            loss.backward()
            opt.step()
    return Trajectory(np.array(points), np.array(losses), diverged)


# --- Batch normalisation --------------------------------------------------------------------------------------------


def activation_samples(model: nn.Module, x: torch.Tensor, limit: int = 4000, seed: int = 0) -> dict[str, np.ndarray]:
    """What goes into each ReLU of the model's convolutional stack (after batch norm, where there is one), for
    inputs x: layer label -> up to `limit` values sampled at random."""
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    store: list[torch.Tensor] = []
    hooks = [r.register_forward_hook(lambda m, i, o: store.append(i[0].detach().flatten())) for r in relus]
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    rng = np.random.default_rng(seed)
    out = {}
    for n, values in enumerate(store, start=1):
        v = values.numpy()
        out[f"layer {n}"] = rng.choice(v, size=min(limit, len(v)), replace=False)
    return out


def short_runs(models: tuple[str, ...], data, epochs: int, optimizer: str, lr: float, seed: int = 0) -> dict:
    """Train each model the same way for a few epochs with the one trainer (no augmentation, constant lr): model ->
    {"history", "activations" (on 256 test images), "model"}. `data` is an ImageData (the bundled digits, say)."""
    meta = data.meta
    x_test = data.x["test"][:256]
    out = {}
    for name in models:
        torch.manual_seed(seed)
        model = get_model(
            "image", name, channels=meta["channels"], size=meta["size"], num_classes=len(meta["class_names"])
        )
        objective = TensorClassification(data.x["train"], data.y["train"], data.x["val"], data.y["val"])
        config = TrainConfig(optimizer=optimizer, lr=lr, epochs=epochs, batch_size=64, seed=seed, device="cpu")
        trainer = Trainer(model, objective, config).fit()
        out[name] = {"history": trainer.history, "activations": activation_samples(model, x_test), "model": model}
    return out


# --- Convolution and pooling ----------------------------------------------------------------------------------------

KERNELS = {
    "vertical edges": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "horizontal edges": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "blur": [[1 / 9] * 3] * 3,
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "outline": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
}


def convolve(image: np.ndarray, kernel: np.ndarray, padding: int = 0) -> np.ndarray:
    """One channel (H, W) with one kernel (k, k), stride 1: PyTorch's conv2d (a cross-correlation, unflipped)."""
    x = torch.as_tensor(np.asarray(image, dtype=np.float32))[None, None]
    w = torch.as_tensor(np.asarray(kernel, dtype=np.float32))[None, None]
    return nn.functional.conv2d(x, w, padding=padding)[0, 0].numpy()


def pool(feature_map: np.ndarray, size: int = 2, kind: str = "max") -> np.ndarray:
    """Max- or average-pooling of a map (H, W) with a size x size window and stride."""
    x = torch.as_tensor(np.asarray(feature_map, dtype=np.float32))[None, None]
    fn = nn.functional.max_pool2d if kind == "max" else nn.functional.avg_pool2d
    return fn(x, size)[0, 0].numpy()


def window(image: np.ndarray, kernel: np.ndarray, row: int, col: int, padding: int = 0) -> dict[str, Any]:
    """The kernel at output position (row, col): the input patch under it, the products, and their sum."""
    k = len(kernel)
    padded = np.pad(np.asarray(image, dtype=np.float32), padding)
    patch = padded[row : row + k, col : col + k]
    products = patch * np.asarray(kernel, dtype=np.float32)
    return {"patch": patch, "products": products, "sum": float(products.sum())}


def conv_costs(c_in: int, c_out: int, k: int, size: int) -> dict[str, dict[str, int]]:
    """Weights and multiplications of one layer on a size x size map (stride 1, 'same' padding, no bias):
    a standard k x k convolution against a depthwise k x k followed by a pointwise 1 x 1 (separable)."""
    positions = size * size
    standard = c_in * c_out * k * k
    depthwise, pointwise = c_in * k * k, c_in * c_out
    return {
        "standard": {"parameters": standard, "multiplications": standard * positions},
        "separable": {"parameters": depthwise + pointwise, "multiplications": (depthwise + pointwise) * positions},
    }


# --- Transfer learning ----------------------------------------------------------------------------------------------


def split_digits(data, source_classes: int = 5, shots: int = 10, seed: int = 0) -> dict[str, Any]:
    """The digits as two tasks: the first `source_classes` digits with all their training images (the source),
    and the rest with only `shots` training images each (the target, labels renumbered from 0)."""
    rng = np.random.default_rng(seed)
    x, y = data.x["train"], data.y["train"]
    source = y < source_classes
    picks = [rng.choice(np.flatnonzero(y.numpy() == c), shots, replace=False) for c in range(source_classes, 10)]
    few = torch.from_numpy(np.concatenate(picks))

    def target(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        keep = data.y[split] >= source_classes
        return data.x[split][keep], data.y[split][keep] - source_classes

    return {
        "source": (x[source], y[source], *_only_below(data, "val", source_classes)),
        "target": (x[few], y[few] - source_classes, *target("val")),
        "target_test": target("test"),
    }


def _only_below(data, split: str, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    keep = data.y[split] < classes
    return data.x[split][keep], data.y[split][keep]


def transfer_experiment(data, model: str = "cnn_bn", shots: int = 10, epochs: int = 15, seed: int = 0) -> dict:
    """Learn digits 5-9 from `shots` images each, from scratch and fine-tuned from a net first trained on digits 0-4
    (every layer copied but the head, which is new): name -> trainer history (val_accuracy on digits 5-9)."""
    parts = split_digits(data, shots=shots, seed=seed)
    meta = data.meta

    def build() -> nn.Module:
        return get_model("image", model, channels=meta["channels"], size=meta["size"], num_classes=5)

    def fit(net: nn.Module, part: tuple, n_epochs: int) -> Trainer:
        config = TrainConfig(optimizer="adam", lr=3e-3, epochs=n_epochs, batch_size=32, seed=seed, device="cpu")
        return Trainer(net, TensorClassification(*part), config).fit()

    torch.manual_seed(seed)
    source = fit(build(), parts["source"], 5).model
    torch.manual_seed(seed + 1)
    scratch = build()
    torch.manual_seed(seed + 1)
    tuned = build()  # the same fresh head as the scratch net: only the copied layers differ
    transfer_weights(tuned, {k: v for k, v in source.state_dict().items() if not k.startswith("head.")})
    return {
        "from scratch": fit(scratch, parts["target"], epochs).history,
        "fine-tuned from digits 0-4": fit(tuned, parts["target"], epochs).history,
    }
