"""The "Look inside" result tabs: an image CNN's filters, feature maps and class activations; a speech model's
attention over time."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from core.data.audio import to_wav_bytes
from core.tasks.image import IMAGE_EXTENSIONS
from core.views.charts import (
    attention_figure,
    class_activations_figure,
    feature_maps_figure,
    filters_figure,
    image_heatmap_figure,
)
from core.views.inside import (
    attention_over_time,
    class_activations,
    conv_layers,
    describe_conv,
    feature_maps,
    first_filters,
    has_attention,
)
from ui.capture import face_mode_toggle, photo_input
from ui.services import run_model
from ui.task_page import run_data
from ui.text import plain


def _test_image(run: dict, data, key: str) -> tuple[torch.Tensor | None, str]:
    """A test image picked by number, or the user's own; returns (1, C, H, W) and what it is."""
    source = st.radio("Image", ["a test image", "your own image"], key=f"{key}_source", horizontal=True)
    if source == "your own image":
        file = st.file_uploader("An image", type=sorted(e.strip(".") for e in IMAGE_EXTENSIONS), key=f"{key}_own_file")
        if file is None:
            return None, ""
        face = face_mode_toggle(run, f"{key}_face")
        return photo_input(file.getvalue(), file.name, run_model(run["id"])[1]["meta"], face), plain(file.name)
    n = len(data.y["test"])
    st.session_state[f"{key}_index"] = min(st.session_state.get(f"{key}_index", 0), n - 1)
    i = st.number_input(f"Test image (0–{n - 1})", 0, n - 1, key=f"{key}_index")
    return data.x["test"][i : i + 1], f"test image {i}, a {plain(data.class_names[int(data.y['test'][i])])}"


def image_inside_tab(run: dict) -> None:
    key = f"{run['task']}_inside"
    model, ckpt = run_model(run["id"])
    convs = conv_layers(model)
    data = run_data(run)
    if data is None:
        return
    if convs:
        st.markdown("**First layer's filters** · what each of its small windows looks for")
        st.caption(
            "Each filter's weights as colours (stretched on their own): the colour pattern it responds to."
            if next(iter(convs.values())).in_channels == 3
            else "Red: positive weights, blue: negative; a filter fires where the image matches its pattern."
        )
        st.plotly_chart(run_filters(run["id"]), key=f"{key}_filters")
        st.markdown("**Feature maps** · a convolution's output for one image (before batch norm and ReLU)")
        c1, c2 = st.columns([1, 3])
        with c1:
            x, what = _test_image(run, data, key)
            names = list(convs)
            layer = st.selectbox(
                "Layer",
                names,
                format_func=lambda n: f"{names.index(n) + 1}. {n} ({describe_conv(convs[n])})",
                key=f"{key}_layer",
            )
            if x is not None:
                with torch.no_grad():
                    probs = torch.softmax(model(x), 1)[0].numpy()
                st.plotly_chart(image_heatmap_figure(x[0].numpy()), key=f"{key}_image")
                pred = int(probs.argmax())
                st.caption(f"{what} · predicted **{plain(ckpt['meta']['class_names'][pred])}** ({probs[pred]:.0%})")
        with c2:
            if x is not None:
                maps = feature_maps(model, x, layer)
                st.caption(
                    f"{maps.shape[0]} maps of {maps.shape[1]}×{maps.shape[2]}"
                    + (" (the first 64)" if maps.shape[0] > 64 else "")
                    + ": red where the filter's pattern is present, blue where ReLU will cut it to zero."
                )
                st.plotly_chart(feature_maps_figure(maps), key=f"{key}_maps")
    else:
        st.info(f"{run['model']} has no convolutions, so there are no filters or feature maps to show.")
    st.markdown("**The last layer's inputs, averaged per class** (test split)")
    st.caption(
        "Each column is a unit the classifier reads; bright where that class makes it fire. Units are grouped by "
        "the class they respond to most: a clean diagonal of blocks means the classes are well separated."
    )
    st.plotly_chart(class_activations_chart(run["id"], data), key=f"{key}_classes")


@st.cache_resource(show_spinner=False, max_entries=16)
def run_filters(run_id: str):
    """A stored run's first-layer filters chart (built once: a stored model never changes)."""
    return filters_figure(first_filters(run_model(run_id)[0]))


@st.cache_resource(show_spinner="Running the test split through the model…", max_entries=16)
def class_activations_chart(run_id: str, _data):
    """The class-activation chart of a stored run's test split: one forward pass per run, not per page redraw (a
    run's model and split never change once it is stored; `_data` is run_data's split of that run)."""
    model, _ = run_model(run_id)
    acts = class_activations(model, _data.x["test"], _data.y["test"], len(_data.class_names))
    return class_activations_figure(acts["mean"], _data.class_names)


def speech_inside_tab(run: dict) -> None:
    key = f"{run['task']}_inside"
    model, ckpt = run_model(run["id"])
    if not has_attention(model):
        st.info(
            f"{run['model']} has no attention to show: `crnn_attention` (attention pooling over time) and `kwt` "
            "(a transformer's class token) do. Train one of them to see where in a clip it listens."
        )
        return
    data = run_data(run)
    if data is None:
        return
    names = data.files.get("test") or [f"clip {i}" for i in range(len(data.y["test"]))]
    if st.session_state.get(f"{key}_clip", 0) >= len(names):
        st.session_state.pop(f"{key}_clip")
    words = [i for i, c in enumerate(data.y["test"].tolist()) if not data.class_names[c].startswith("_")]
    st.session_state.setdefault(f"{key}_clip", words[0] if words else 0)  # a word, not `_silence_`, to start
    i = st.selectbox("Clip (test split)", range(len(names)), format_func=names.__getitem__, key=f"{key}_clip")
    wave = data.x["test"][i]
    with torch.no_grad():
        probs = torch.softmax(model(wave[None]), 1)[0].numpy()
    pred, true = int(probs.argmax()), int(data.y["test"][i])
    classes = ckpt["meta"]["class_names"]
    att = attention_over_time(model, wave)
    rows = att["weights"].shape[0]
    labels = ["attention pooling"] if rows == 1 else [f"layer {r + 1}: class token" for r in range(rows)]
    peak = float(np.argmax(att["weights"][-1])) * model.logmel.hop_seconds
    st.markdown(
        f"true **{plain(classes[true])}** → predicted **{plain(classes[pred])}** ({probs[pred]:.0%}) · the model "
        f"attends most around **{peak:.2f} s**"
    )
    st.audio(to_wav_bytes(wave.numpy(), ckpt["meta"]["sample_rate"]), format="audio/wav")
    st.caption(
        "Top: the clip's log-mel spectrogram. Bottom: how much weight the model gives each moment when it decides "
        f"({'one weight per 40 ms step' if rows == 1 else 'per layer, one weight per patch of frames'}); "
        "the weights sum to one, so a peak is where the word is."
    )
    fig = attention_figure(att["spectrogram"], att["weights"], model.logmel.hop_seconds, labels)
    st.plotly_chart(fig, key=f"{key}_attention")
