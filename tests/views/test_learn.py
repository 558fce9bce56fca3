"""How it learns: each computation against a reference (the chain rule by hand, closed-form gradient descent, SciPy's
correlation, PyTorch's own parameter and FLOP counts), the figures, and the page through AppTest."""

import numpy as np
import pytest
import torch
from scipy.signal import correlate2d
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from core.models import get_model
from core.tasks.image import load_bundled
from core.views.learn import (
    KERNELS,
    SURFACE_OPTIMIZERS,
    SURFACES,
    activation_samples,
    backprop_steps,
    conv_costs,
    convolve,
    pool,
    short_runs,
    split_digits,
    surface_grid,
    trajectory,
    transfer_experiment,
    window,
)
from core.views.learn_charts import (
    activations_figure,
    convolution_figure,
    costs_figure,
    losses_figure,
    network_figure,
    surface_figure,
)
from tests.support.apptest import open_page


def test_backprop_gradients_are_the_chain_rule_by_hand():
    step = backprop_steps(0)[0]
    w1, b1, w2, b2 = (step.params[k] for k in ("w1", "b1", "w2", "b2"))
    x, target = np.array([0.5, -1.0]), 1.0
    z1 = w1 @ x + b1
    h = np.tanh(z1)
    z2 = w2 @ h + b2
    out = 1 / (1 + np.exp(-z2))
    d_out = out - target  # loss = ½(out − target)²
    d_z2 = d_out * out * (1 - out)
    d_h = w2[0] * d_z2
    d_z1 = d_h * (1 - h**2)
    assert np.allclose(step.values["out"], out, atol=1e-6)
    assert np.allclose(step.grads["z2"], d_z2, atol=1e-6) and np.allclose(step.grads["z1"], d_z1, atol=1e-6)
    assert np.allclose(step.param_grads["w2"], d_z2[:, None] * h[None], atol=1e-6)
    assert np.allclose(step.param_grads["w1"], d_z1[:, None] * x[None], atol=1e-6)
    assert np.allclose(step.param_grads["b1"], d_z1, atol=1e-6)


def test_each_step_moves_every_weight_against_its_gradient_and_the_loss_falls():
    records = backprop_steps(20, lr=0.5)
    assert len(records) == 21
    for before, after in zip(records, records[1:]):
        for k in before.params:
            assert np.allclose(after.params[k], before.params[k] - 0.5 * before.param_grads[k], atol=1e-6)
    losses = [r.values["loss"][0] for r in records]
    assert all(b < a for a, b in zip(losses, losses[1:]))


def test_sgd_on_the_bowl_is_the_closed_form_geometric_decay():
    lr, steps = 0.1, 30
    path = trajectory("bowl", "sgd", lr, steps)
    start = np.array(SURFACES["bowl"].start)
    expected = start[None] * (1 - 2 * lr) ** np.arange(steps + 1)[:, None]  # gradient of x² + y² is 2p
    assert np.allclose(path.points, expected) and not path.diverged
    assert np.allclose(path.losses, (expected**2).sum(1))


def test_a_learning_rate_too_high_diverges_and_stops_early():
    path = trajectory("bowl", "sgd", 1.5, 200)  # |1 - 2 lr| = 2: doubles every step
    assert path.diverged and len(path.points) < 200


@pytest.mark.parametrize("name", list(SURFACES))
def test_every_optimizer_gets_closer_on_every_surface_at_its_chosen_rate(name):
    surface = SURFACES[name]
    for opt in SURFACE_OPTIMIZERS:
        path = trajectory(name, opt, surface.lrs[opt], surface.steps)
        assert not path.diverged and path.losses[-1] < path.losses[0], (name, opt)
    xs, ys, z = surface_grid(name, 20)
    assert z.shape == (20, 20)
    assert np.isclose(z[3, 5], float(surface.loss(torch.tensor(xs[5]), torch.tensor(ys[3]))))


def test_adam_on_the_ravine_matches_a_hand_written_adam():
    lr, steps = 0.3, 25
    path = trajectory("ravine", "adam", lr, steps)
    p, m, v = np.array(SURFACES["ravine"].start), np.zeros(2), np.zeros(2)
    for t in range(1, steps + 1):
        g = np.array([0.1 * p[0], 10 * p[1]])
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
        p = p - lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    assert np.allclose(path.points[-1], p, atol=1e-8)


@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("padding", [0, 1])
def test_convolution_is_scipys_correlation_and_the_window_sums_to_its_cell(kernel, padding):
    image = np.random.default_rng(0).random((8, 8)).astype(np.float32)
    k = np.array(KERNELS[kernel], dtype=np.float32)
    out = convolve(image, k, padding)
    reference = correlate2d(np.pad(image, padding), k, mode="valid")
    assert np.allclose(out, reference, atol=1e-5)
    assert np.isclose(window(image, k, 2, 3, padding)["sum"], out[2, 3], atol=1e-5)
    pooled = pool(out, 2, "max")
    assert np.allclose(
        pooled,
        out[: out.shape[0] // 2 * 2, : out.shape[1] // 2 * 2]
        .reshape(out.shape[0] // 2, 2, out.shape[1] // 2, 2)
        .max((1, 3)),
    )


@pytest.mark.parametrize(("c_in", "c_out", "k", "size"), [(32, 64, 3, 16), (8, 128, 5, 8), (1, 8, 3, 4)])
def test_separable_costs_are_what_pytorch_counts(c_in, c_out, k, size):
    costs = conv_costs(c_in, c_out, k, size)
    standard = nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False)
    separable = nn.Sequential(
        nn.Conv2d(c_in, c_in, k, padding=k // 2, groups=c_in, bias=False), nn.Conv2d(c_in, c_out, 1, bias=False)
    )
    x = torch.zeros(1, c_in, size, size)
    for name, layer in (("standard", standard), ("separable", separable)):
        assert costs[name]["parameters"] == sum(p.numel() for p in layer.parameters())
        with FlopCounterMode(display=False) as flops:
            layer(x)
        assert costs[name]["multiplications"] == flops.get_total_flops() // 2  # a multiply-add is two FLOPs


def test_activation_samples_take_what_goes_into_each_relu():
    torch.manual_seed(0)
    model = get_model("image", "cnn_bn", channels=1, size=8, num_classes=10).eval()
    x = torch.rand(4, 1, 8, 8)
    samples = activation_samples(model, x, limit=5000)
    assert list(samples) == [f"layer {i}" for i in range(1, 6)]
    assert len(samples["layer 1"]) == 5000 and len(samples["layer 5"]) == 4 * 128 * 2 * 2  # 8x8 pooled twice
    with torch.no_grad():
        first = model.features[0][1](model.features[0][0](x))  # the first convolution, then its batch norm
    assert np.isin(samples["layer 1"], first.numpy()).all()  # before the ReLU: negative values too
    assert (samples["layer 1"] < 0).any()


def test_the_digits_split_into_a_source_and_a_few_shot_target():
    data = load_bundled("digits")
    parts = split_digits(data, shots=7)
    xs, ys, _, yv = parts["source"]
    assert set(ys.tolist()) == set(range(5)) and set(yv.tolist()) <= set(range(5))
    xt, yt, _, yvt = parts["target"]
    assert np.bincount(yt.numpy()).tolist() == [7] * 5 and set(yvt.tolist()) == set(range(5))
    assert len(parts["target_test"][1]) == int((data.y["test"] >= 5).sum())


def test_short_runs_and_the_transfer_experiment_train_with_the_one_trainer():
    data = load_bundled("digits")
    runs = short_runs(("cnn", "cnn_bn"), data, 1, "sgd", 0.1)
    assert set(runs) == {"cnn", "cnn_bn"} and len(runs["cnn"]["history"]) == 1
    assert "val_accuracy" in runs["cnn_bn"]["history"][0] and len(runs["cnn_bn"]["activations"]) == 5
    # what the page's caption says: with batch norm every layer's input to its ReLU is about mean 0, spread 1,
    # even after one epoch (the statistics are recomputed for the final weights)
    for values in runs["cnn_bn"]["activations"].values():
        assert abs(values.mean()) < 0.2 and 0.8 < values.std() < 1.25  # before the fix: spread 0.36-0.54
    curves = transfer_experiment(data, shots=5, epochs=2)
    assert list(curves) == ["from scratch", "fine-tuned from digits 0-4"]
    assert all(len(h) == 2 and "val_accuracy" in h[-1] for h in curves.values())


def test_the_figures_draw():
    records = backprop_steps(1)
    for phase in ("forward", "backward", "update"):
        fig = network_figure(records[0], phase, records[1])
        assert any(t.mode == "markers+text" for t in fig.data)
    paths = {opt: trajectory("rosenbrock", opt, SURFACES["rosenbrock"].lrs[opt], 50) for opt in SURFACE_OPTIMIZERS}
    fig = surface_figure(surface_grid("rosenbrock", 30), paths, SURFACES["rosenbrock"].start, (1, 1), log=True)
    assert fig.data[0].type == "contour" and len(fig.data) == 1 + 5 + 2
    assert len(losses_figure(paths).data) == 5
    violins = activations_figure({"cnn": {"layer 1": np.ones(5)}, "cnn_bn": {"layer 1": np.zeros(5)}})
    assert [t.side for t in violins.data] == ["negative", "positive"]
    image = np.random.rand(8, 8)
    k = np.array(KERNELS["blur"])
    out = convolve(image, k)
    assert len(convolution_figure(image, k, out, pool(out), (1, 2)).layout.shapes) == 3
    assert len(costs_figure(conv_costs(32, 64, 3, 16)).data) == 2


def _links(at) -> list[str]:
    return [link.proto.page + "?" + link.proto.query_string for link in at.get("page_link")]


def test_the_page_steps_through_backprop_and_every_section_renders_with_its_link():
    at = open_page("app_pages/learn.py")
    assert at.segmented_control(key="learn_section").value == "backprop"
    assert any(m.value.startswith("**Step 0**") for m in at.markdown)
    at.button(key="learn_bp_next_btn").click().run()
    at.button(key="learn_bp_next_btn").click().run()
    assert any(m.value.startswith("**Step 2**") for m in at.markdown)
    at.segmented_control(key="learn_bp_phase").set_value("backward").run()
    assert not at.exception
    assert any("image" in link and "model=mlp" in link for link in _links(at))
    for section, expected in (
        ("optimizers", "axis1=optimizer"),
        ("batchnorm", "axis1=batch_norm"),
        ("convolution", "axis1=separable"),
        ("transfer", "axis1=init_from"),
        ("attention", "model=crnn_attention"),
    ):
        at.segmented_control(key="learn_section").set_value(section).run()
        assert not at.exception, section
        assert any(expected in link for link in _links(at)), (section, _links(at))
    assert any("No trained attention model yet" in i.value for i in at.info)


def test_the_page_races_cnn_against_cnn_bn_and_runs_the_transfer_experiment():
    at = open_page("app_pages/learn.py")
    at.segmented_control(key="learn_section").set_value("batchnorm").run()
    at.slider(key="learn_bn_epochs").set_value(1).run()
    at.button(key="learn_bn_train_btn").click().run(timeout=300)
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.index) == ["cnn", "cnn_bn"] and list(table.columns)[0] == "layer 1"
    drift = table.max(axis=1) / table.min(axis=1)  # how much the spread changes from layer to layer
    assert drift["cnn_bn"] < drift["cnn"]  # batch norm keeps every layer's inputs on one scale
    at.segmented_control(key="learn_section").set_value("transfer").run()
    at.slider(key="learn_tl_epochs").set_value(5).run()
    at.button(key="learn_tl_run_btn").click().run(timeout=300)
    assert not at.exception and len(at.get("plotly_chart")) == 1
