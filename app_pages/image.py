"""Image recognition: pick data (or capture your own with the camera), train, read the results, look inside, try it."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from core.tasks.image import IMAGE_EXTENSIONS, prepare_drawing
from core.views.charts import image_heatmap_figure, probability_bar_figure
from core.views.explain import explain
from ui.capture import CAPTURED, capture_section, captured_source, face_mode_toggle, photo_input
from ui.inside import image_inside_tab
from ui.maps import data_map_section, map_tab
from ui.results_panel import worst_mistakes
from ui.services import run_model
from ui.share import text
from ui.task_page import TaskPage, render, split_caption
from ui.text import plain

P = "image"


def data_preview(data) -> None:
    counts = {split: len(y) for split, y in data.y.items()}
    st.caption(
        f"{len(data.class_names)} classes · {data.meta['channels']}×{data.meta['size']}×{data.meta['size']} · "
        + " / ".join(f"{k} {v}" for k, v in counts.items())
    )
    if data.split_note:
        split_caption(data.split_note)
    x, y = data.x["train"], data.y["train"].numpy()
    picks = [int(np.flatnonzero(y == c)[0]) for c in range(len(data.class_names)) if (y == c).any()][:10]
    st.image(
        [_to_pil_array(x[i].numpy()) for i in picks],
        caption=[plain(data.class_names[y[i]]) for i in picks],
        width=44,
    )


def _to_pil_array(img: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W[, 3]) uint8, upscaled with nearest neighbours so tiny images stay crisp."""
    arr = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    arr = arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)
    scale = max(1, 64 // arr.shape[0])
    return arr.repeat(scale, 0).repeat(scale, 1)


def mistakes_tab(run: dict) -> None:
    cols = st.columns(6)
    for m in worst_mistakes(run, "images"):
        caption = f"true {plain(m['true'])} → {plain(m['pred'])} ({m['p']:.0%})"
        cols[m["n"] % 6].image(_to_pil_array(m["input"]), caption=caption, width="stretch")


def try_tab(run: dict) -> None:
    model, ckpt = run_model(run["id"])
    meta = ckpt["meta"]
    face = face_mode_toggle(run, f"{P}_try_face")
    upload_tab, camera_tab, draw_tab = st.tabs(["Upload", "Camera", "Draw"])
    x = None
    with upload_tab:
        file = st.file_uploader("An image", type=sorted(e.strip(".") for e in IMAGE_EXTENSIONS), key=f"{P}_try_file")
        if file is not None:
            x = photo_input(file.getvalue(), file.name, meta, face)
    with camera_tab:
        shot = st.camera_input("Take a picture", key=f"{P}_camera_file")
        if shot is not None:
            x = photo_input(shot.getvalue(), "camera snapshot", meta, face)
    with draw_tab:
        x_drawn = _draw_input(meta)
        x = x_drawn if x_drawn is not None else x
    if x is None:
        st.caption("Upload an image, take a snapshot or draw to see what the model predicts.")
        return
    with torch.no_grad():
        probs = torch.softmax(model(x), 1)[0].numpy()
    target = int(probs.argmax())
    heat, method = explain(model, x, target)
    c1, c2 = st.columns(2)
    c1.markdown(f"**Prediction: {plain(meta['class_names'][target])}** ({probs[target]:.1%})")
    c1.plotly_chart(probability_bar_figure(probs, meta["class_names"]), key=f"{P}_try_probs")
    c2.markdown(f"**Where it looked** · {method}")
    c2.plotly_chart(image_heatmap_figure(x[0].numpy(), heat.numpy()), key=f"{P}_try_heat")


def _draw_input(meta: dict):
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as exc:  # the component needs a running Streamlit server
        st.caption(f"Drawing is unavailable here ({type(exc).__name__}).")
        return None
    st.caption("Draw a digit with the mouse: it is centred and shrunk to the training size.")
    canvas = st_canvas(
        stroke_width=18,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=224,
        width=224,
        drawing_mode="freedraw",
        return_image_data=True,
        key=f"{P}_canvas",
    )
    if canvas is None or canvas.image_data is None:
        return None
    return prepare_drawing(np.asarray(canvas.image_data), meta)


def sections(data) -> None:
    capturing = st.session_state.get(f"{P}_dataset") == CAPTURED
    with st.expander("Capture your own images with the camera (face recognition of your own people)", capturing):
        capture_section()
    data_map_section(P, data)


render(
    TaskPage(
        task=P,
        caption="Train an image classifier on this machine and see what it learned. "
        "Every number is on a held-out test split.",
        preview=data_preview,
        sources={CAPTURED: captured_source},
        few_shot=(CAPTURED,),
        sections=sections,
        tabs={"Worst mistakes": mistakes_tab, "Try it": try_tab, "Look inside": image_inside_tab, "Map": map_tab},
        settings={"capture": text},
    )
)
