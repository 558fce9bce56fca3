"""How it learns: backprop, optimizers, batch norm, convolution, transfer learning and attention, computed live."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.lab.whatif import LR_CHOICES
from core.run.training import OPTIMIZER_LABELS
from core.views.charts import curves_figure
from core.views.inside import has_attention
from core.views.learn import (
    BACKPROP_TARGET,
    KERNELS,
    SURFACE_OPTIMIZERS,
    SURFACES,
    activation_samples,
    backprop_steps,
    conv_costs,
    convolve,
    pool,
    short_runs,
    surface_grid,
    trajectory,
    transfer_experiment,
    window,
)
from core.views.learn_charts import (
    activations_figure,
    convolution_figure,
    costs_figure,
    line_figure,
    losses_figure,
    network_figure,
    surface_figure,
)
from ui.inside import speech_inside_tab
from ui.services import get_store, keep_settings, run_model
from ui.share import one_of, share_settings
from ui.task_page import load_data
from ui.text import plain

P = "learn"
SECTIONS = {
    "backprop": "Backprop",
    "optimizers": "Optimizers",
    "batchnorm": "Batch norm",
    "convolution": "Convolution",
    "transfer": "Transfer learning",
    "attention": "Attention",
}
LAB = "app_pages/whatif.py"
SURFACE_LRS = sorted({*LR_CHOICES, 5e-4, 1e-3, 0.05, 0.18, 0.5, 1.0})


def digits():
    return load_data("image", "digits", None, split_seed=0)


def init(key: str, default):
    """A widget's first value, set once through session state (a value= beside restored state would warn)."""
    st.session_state.setdefault(f"{P}_{key}", default)
    return f"{P}_{key}"


def see_it(label: str, page: str, **params) -> None:
    st.page_link(page, label=label, icon=":material/open_in_new:", query_params=params)


def backprop_section() -> None:
    st.caption(
        "One example, x = (0.5, −1), target 1, through a 2-3-1 network (tanh, then sigmoid); loss = ½(out − target)². "
        "Forward: each unit's weighted sum z and its output. Backward: the loss's gradient at every unit and weight, "
        "from PyTorch's autograd. Update: each weight takes a step against its gradient (plain SGD)."
    )
    c1, c2, c3, c4 = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
    lr = c1.select_slider("Learning rate", [0.05, 0.1, 0.2, 0.5, 1.0, 2.0], key=init("bp_lr", 0.5))
    phase = c2.segmented_control("Show", ["forward", "backward", "update"], key=init("bp_phase", "forward"))
    st.session_state.setdefault(f"{P}_bp_step", 0)
    if c3.button("Step", key=f"{P}_bp_next_btn", icon=":material/skip_next:", width="stretch"):
        st.session_state[f"{P}_bp_step"] += 1
    if c4.button("Reset", key=f"{P}_bp_reset_btn", width="stretch"):
        st.session_state[f"{P}_bp_step"] = 0
    step = st.session_state[f"{P}_bp_step"]
    records = backprop_steps(step + 1, lr)
    now, after = records[step], records[step + 1]
    st.markdown(f"**Step {step}** · loss {now.values['loss'][0]:.4f} → {after.values['loss'][0]:.4f} after the update")
    st.plotly_chart(network_figure(now, phase or "forward", after), key=f"{P}_bp_net")
    out, target = now.values["out"][0], BACKPROP_TARGET
    st.caption(
        f"The chain rule at the output: ∂L/∂out = out − target = {out - target:+.4f}; times the sigmoid's slope "
        f"out·(1 − out) = {out * (1 - out):.4f} gives ∂L/∂z = {now.grads['z2'][0]:+.4f}, what autograd found. Each "
        "hidden unit gets that times its weight, times tanh's slope 1 − h²."
    )
    st.plotly_chart(
        line_figure(np.array([r.values["loss"][0] for r in records]), "step", "loss", height=200), key=f"{P}_bp_loss"
    )
    see_it("The same backprop on real data: an MLP on digits", "app_pages/image.py", dataset="digits", model="mlp")


def optimizers_section() -> None:
    c1, c2 = st.columns([1, 2])
    name = c1.selectbox("Loss surface", list(SURFACES), format_func=lambda s: SURFACES[s].title, key=f"{P}_surface")
    surface = SURFACES[name]
    c1.caption(surface.blurb)
    chosen = c1.multiselect(
        "Optimizers",
        SURFACE_OPTIMIZERS,
        format_func=OPTIMIZER_LABELS.get,
        key=init("optimizers", list(SURFACE_OPTIMIZERS)),
    )
    steps = c1.slider("Steps", 10, 1000, step=10, key=init(f"steps_{name}", surface.steps))
    paths = {}
    with c1.expander("Learning rates", expanded=True):
        for opt in chosen:
            lr = st.select_slider(
                OPTIMIZER_LABELS[opt],
                SURFACE_LRS,
                format_func=lambda v: f"{v:g}",
                key=init(f"lr_{name}_{opt}", surface.lrs[opt]),
            )
            paths[OPTIMIZER_LABELS[opt]] = trajectory(name, opt, lr, steps)
    grid = surface_grid(name)
    c2.plotly_chart(
        surface_figure(grid, paths, surface.start, surface.minimum, surface.log_contours), key=f"{P}_surface_fig"
    )
    losses = np.concatenate([p.losses for p in paths.values()]) if paths else np.ones(1)
    c2.plotly_chart(losses_figure(paths, log=bool((losses > 0).all())), key=f"{P}_losses_fig")
    see_it(
        "The same optimizers racing on digits in the what-if lab",
        LAB,
        task="image",
        dataset="digits",
        model="cnn_bn",
        axis1="optimizer",
        values_optimizer=list(SURFACE_OPTIMIZERS),
    )


@st.cache_resource(show_spinner="Training cnn and cnn_bn…", max_entries=4)
def _short_runs(epochs: int, optimizer: str, lr: float) -> dict:
    return short_runs(("cnn", "cnn_bn"), digits(), epochs, optimizer, lr)


def _saved_bn_runs() -> dict[str, dict]:
    """The latest finished cnn and cnn_bn runs on digits, if both exist."""
    latest: dict[str, dict] = {}
    for run in get_store().list("image"):
        if run["status"] == "finished" and run["dataset"] == "digits" and run["model"] in ("cnn", "cnn_bn"):
            latest.setdefault(run["model"], run)
    return latest if len(latest) == 2 else {}


def batchnorm_section() -> None:
    st.caption(
        "What goes into each ReLU of the convolutional stack, for 256 test digits: without batch norm (cnn) the "
        "spread drifts from layer to layer; with it (cnn_bn) every layer sees values of about mean 0 and spread 1, "
        "so a higher learning rate works and training gets going sooner."
    )
    see_it(
        "Batch norm on and off, raced over seeds in the what-if lab",
        LAB,
        task="image",
        dataset="digits",
        model="cnn",
        axis1="batch_norm",
    )
    saved = _saved_bn_runs()
    sources = ["a short run now", *(["your saved runs"] if saved else [])]
    source = st.radio("From", sources, key=f"{P}_bn_source", horizontal=True)
    x_test = digits().x["test"][:256]
    if source == "your saved runs":
        samples = {m: activation_samples(run_model(r["id"])[0], x_test) for m, r in sorted(saved.items())}
        histories = {m: get_store().history(r["id"]) for m, r in sorted(saved.items())}
        st.caption(" · ".join(f"{m}: run {r['id']}" for m, r in sorted(saved.items())))
    else:
        c1, c2, c3 = st.columns(3)
        optimizer = c1.selectbox("Optimizer", ["sgd", "adam"], format_func=OPTIMIZER_LABELS.get, key=f"{P}_bn_opt")
        lr = c2.select_slider("Learning rate", [0.001, 0.003, 0.01, 0.03, 0.1], key=init("bn_lr", 0.1))
        epochs = c3.slider("Epochs", 1, 5, key=init("bn_epochs", 3))
        pressed = st.button("Train both now", key=f"{P}_bn_train_btn", type="primary")
        if not (pressed or st.session_state.get(f"{P}_bn_done")):
            st.info("Press **Train both now**: cnn and cnn_bn train on digits with the same settings (a few seconds).")
            return
        st.session_state[f"{P}_bn_done"] = True
        runs = _short_runs(epochs, optimizer, float(lr))
        samples = {m: r["activations"] for m, r in runs.items()}
        histories = {m: r["history"] for m, r in runs.items()}
    c1, c2 = st.columns(2)
    c1.plotly_chart(activations_figure(samples), key=f"{P}_bn_violins")
    c2.plotly_chart(curves_figure(histories), key=f"{P}_bn_curves")
    spread = pd.DataFrame({m: {k: float(np.std(v)) for k, v in s.items()} for m, s in samples.items()}).T
    st.caption("Spread (standard deviation) of each layer's ReLU inputs")
    st.dataframe(spread.style.format("{:.3f}"), key=f"{P}_bn_table")


def convolution_section() -> None:
    data = digits()
    c1, c2 = st.columns([1, 3])
    n = len(data.y["test"])
    i = c1.number_input(f"Digit (test image 0–{n - 1})", 0, n - 1, key=init("conv_digit", 0))
    kernel_name = c1.selectbox("Kernel", list(KERNELS), key=f"{P}_conv_kernel")
    padding = 1 if c1.toggle("Pad the border (output as big as the input)", key=f"{P}_conv_pad") else 0
    kind = c1.radio("Pooling", ["max", "average"], key=f"{P}_conv_pool", horizontal=True)
    image, kernel = data.x["test"][i, 0].numpy(), np.array(KERNELS[kernel_name], dtype=np.float32)
    output = convolve(image, kernel, padding)
    pooled = pool(output, 2, "max" if kind == "max" else "avg")
    cells = output.size
    position = c1.slider("Kernel position", 0, cells - 1, key=init(f"conv_pos_{padding}", 0))
    row, col = divmod(position, output.shape[1])
    here = window(image, kernel, row, col, padding)
    c2.plotly_chart(convolution_figure(image, kernel, output, pooled, (row, col), padding), key=f"{P}_conv_fig")
    c2.caption(
        f"At row {row}, column {col}: the 3×3 patch times the kernel, summed = **{here['sum']:.2f}**, the output "
        f"cell outlined. {'Max' if kind == 'max' else 'Average'}-pooling keeps one number per 2×2 block."
    )
    st.markdown("**Depthwise-separable against standard convolution** · the same layer, two ways")
    d1, d2, d3, d4 = st.columns(4)
    c_in = d1.select_slider("Input channels", [1, 8, 16, 32, 64, 128, 256], key=init("sep_in", 32))
    c_out = d2.select_slider("Output channels", [8, 16, 32, 64, 128, 256, 512], key=init("sep_out", 64))
    k = d3.select_slider("Kernel", [1, 3, 5, 7], key=init("sep_k", 3))
    size = d4.select_slider("Map size", [4, 8, 16, 32, 64], key=init("sep_size", 16))
    costs = conv_costs(c_in, c_out, k, size)
    ratio = costs["standard"]["parameters"] / costs["separable"]["parameters"]
    st.plotly_chart(costs_figure(costs), key=f"{P}_sep_fig")
    st.caption(
        f"A standard {k}×{k} convolution learns a filter per (input, output) channel pair; the separable one filters "
        f"each input channel once ({k}×{k} depthwise), then mixes channels (1×1 pointwise): **{ratio:.1f}× fewer** "
        "weights and multiplications here."
    )
    c1, c2 = st.columns(2)
    with c1:
        see_it(
            "Separable convolutions on digits: the what-if race",
            LAB,
            task="image",
            dataset="digits",
            model="cnn_bn",
            axis1="separable",
        )
    with c2:
        see_it("Look inside a trained CNN's feature maps", "app_pages/image.py", dataset="digits", model="cnn_bn")


@st.cache_resource(show_spinner="Training on digits 0-4, then 5-9 both ways…", max_entries=4)
def _transfer(shots: int, epochs: int) -> dict:
    return transfer_experiment(digits(), shots=shots, epochs=epochs)


def _saved_transfer_pair() -> tuple[dict, dict] | None:
    """The latest fine-tuned run and the latest run of the same model and data trained from scratch."""
    runs = [r for r in get_store().list() if r["status"] == "finished"]
    for tuned in (r for r in runs if r["config"].init_from):
        for scratch in runs:
            same = (scratch["task"], scratch["dataset"], scratch["model"]) == (
                tuned["task"],
                tuned["dataset"],
                tuned["model"],
            )
            if same and not scratch["config"].init_from:
                return scratch, tuned
    return None


def transfer_section() -> None:
    st.caption(
        "A network trained on one task already knows edges and strokes; fine-tuning reuses them for a new task with "
        "few examples. Here: learn digits 5-9 from a handful of images each, from scratch or starting from a net "
        "trained on digits 0-4 (every layer copied but the classifier, which is new). Validation on digits 5-9."
    )
    pair = _saved_transfer_pair()
    if pair is not None:
        scratch, tuned = pair
        st.markdown(
            f"**Your runs**: {tuned['model']} on {plain(tuned['dataset'])}, from scratch (run {scratch['id']}) and "
            f"fine-tuned from run {tuned['config'].init_from} (run {tuned['id']})"
        )
        histories = {"from scratch": get_store().history(scratch["id"]), "fine-tuned": get_store().history(tuned["id"])}
        st.plotly_chart(curves_figure(histories), key=f"{P}_tl_saved")
    c1, c2, c3 = st.columns([1, 1, 2], vertical_alignment="bottom")
    shots = c1.select_slider("Images per new digit", [5, 10, 20, 50], key=init("tl_shots", 10))
    epochs = c2.slider("Epochs", 5, 30, step=5, key=init("tl_epochs", 15))
    if c3.button("Run the digits experiment", key=f"{P}_tl_run_btn", type="primary") or st.session_state.get(
        f"{P}_tl_done"
    ):
        st.session_state[f"{P}_tl_done"] = True
        st.plotly_chart(curves_figure(_transfer(shots, epochs)), key=f"{P}_tl_curves")
    see_it("Fine-tuned against from scratch on your own data: the what-if race", LAB, task="image", axis1="init_from")


def _attention_run() -> dict | None:
    """The latest finished speech run whose model has attention weights (of the last ten)."""
    runs = [r for r in get_store().list("speech") if r["status"] == "finished"][:10]
    return next((r for r in runs if has_attention(run_model(r["id"])[0])), None)


def attention_section() -> None:
    st.caption(
        "A keyword spotter with attention scores every moment of a clip and averages what it heard with those "
        "scores as weights: where the weight piles up is where it found the word."
    )
    run = _attention_run()
    if run is None:
        st.info("No trained attention model yet: train `crnn_attention` (the default) on the speech page first.")
    else:
        st.caption(f"Run {run['id']}: {run['model']} on {plain(run['dataset'])}")
        speech_inside_tab(run)
    see_it("Train a keyword spotter with attention", "app_pages/speech.py", model="crnn_attention")


keep_settings()
share_settings(P, {"section": one_of(list(SECTIONS)), "surface": one_of(list(SURFACES))})
st.title(":material/school: How it learns")
st.caption("The ideas behind the demos, computed live by the same code that trains them. Every picture moves.")
section = st.segmented_control(
    "Section", list(SECTIONS), format_func=SECTIONS.get, key=init("section", "backprop"), label_visibility="collapsed"
)
{
    "backprop": backprop_section,
    "optimizers": optimizers_section,
    "batchnorm": batchnorm_section,
    "convolution": convolution_section,
    "transfer": transfer_section,
    "attention": attention_section,
}.get(section or "backprop", backprop_section)()
