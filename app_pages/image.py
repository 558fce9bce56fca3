"""Image recognition: pick data and a model, train with live curves, read the results, try it yourself."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from core.charts import image_heatmap_figure, probability_bar_figure
from core.data import DataError
from core.data.images import open_image
from core.explain import explain
from core.models import describe_model, list_models
from core.tasks import get_task
from core.tasks.image import AUGMENT_DEFAULTS, DATASETS, DEFAULTS, IMAGE_EXTENSIONS, prepare_drawing, prepare_image
from ui.results_panel import results_panel
from ui.services import get_store, keep_settings, run_model
from ui.share import TRAINING_SETTINGS, flag, float_in, int_in, one_of, share_settings, text
from ui.training_panel import apply_defaults, finished_runs, training_controls, training_panel
from ui.uploads import data_stamp, load_and_preview, save_upload

P = "image"
OWN = "your own (.zip or folder)"
TASK = get_task("image")


@st.cache_resource(show_spinner="Loading images…", max_entries=8)
def load_data(dataset: str | None, data: str | None, stamp: float = 0.0):
    return TASK.load_data({"dataset": dataset, "data": data})


def data_section() -> tuple[str | None, str | None]:
    choice = st.selectbox("Dataset", [*DATASETS, OWN], key=f"{P}_dataset")
    if choice != OWN:
        st.caption(DATASETS[choice])
        return choice, None
    upload = st.file_uploader(
        "A .zip of class folders (optionally train/ and test/ folders of them)", type=["zip"], key=f"{P}_upload_file"
    )
    folder = st.text_input("…or a folder on this machine", key=f"{P}_folder", placeholder="/path/to/images")
    if upload is not None:
        return None, str(save_upload(upload, "uploads"))
    return None, folder.strip() or None


def data_preview(data) -> None:
    counts = {split: len(y) for split, y in data.y.items()}
    st.caption(
        f"{len(data.class_names)} classes · {data.meta['channels']}×{data.meta['size']}×{data.meta['size']} · "
        + " / ".join(f"{k} {v}" for k, v in counts.items())
    )
    x, y = data.x["train"], data.y["train"].numpy()
    picks = [int(np.flatnonzero(y == c)[0]) for c in range(len(data.class_names)) if (y == c).any()][:10]
    st.image(
        [_to_pil_array(x[i].numpy()) for i in picks],
        caption=[data.class_names[y[i]] for i in picks],
        width=44,
    )


def _to_pil_array(img: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W[, 3]) uint8, upscaled with nearest neighbours so tiny images stay crisp."""
    arr = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    arr = arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)
    scale = max(1, 64 // arr.shape[0])
    return arr.repeat(scale, 0).repeat(scale, 1)


def page_defaults(model: str) -> dict:
    """A model's recommended settings as the page's widget names: training settings and augmentation."""
    augment = AUGMENT_DEFAULTS.get(model, {})
    return {
        "schedule": "constant",
        **DEFAULTS.get(model, {}),
        "aug_shift": float(augment.get("shift", 0.0)),
        "aug_rotate": int(augment.get("rotate", 0)),
        "aug_flip": bool(augment.get("flip", False)),
    }


def model_section(dataset: str | None) -> tuple[str, dict]:
    models = list_models("image")
    st.session_state.setdefault(f"{P}_model", "cnn_bn")
    model = st.selectbox(
        "Model",
        models,
        key=f"{P}_model",
        on_change=lambda: apply_defaults(P, page_defaults(st.session_state[f"{P}_model"])),
    )
    st.caption(describe_model("image", model))
    apply_defaults(P, page_defaults(model), overwrite=False)  # first visit: the model's settings
    options: dict = {"model_options": {}, "augment": {}}
    if model in ("resnet18", "mobilenet_v3_small"):
        weights = st.file_uploader(
            "Pretrained weights (.pt/.pth state dict, optional)", type=["pt", "pth"], key=f"{P}_weights_file"
        )
        if weights is not None:
            options["weights_path"] = str(save_upload(weights, "weights"))
        if st.checkbox("Freeze the backbone (train only the new head)", key=f"{P}_freeze"):
            options["model_options"]["freeze_backbone"] = True
    sources = [r for r in finished_runs("image") if r["model"] == model]
    datasets = {r["id"]: r["dataset"] for r in sources}
    init = st.selectbox(
        "Start from",
        ["", *datasets],
        format_func=lambda r: f"run {r} ({datasets[r]})" if r else "scratch (random weights)",
        key=f"{P}_init_from",
        help="Fine-tune from one of your saved runs of this model; a new head is made when the classes differ.",
    )
    options["init_from"] = init or None
    if model != "logreg":
        with st.expander("Augmentation"):
            shift = st.slider("Random shift (fraction of the size)", 0.0, 0.25, step=0.05, key=f"{P}_aug_shift")
            rotate = st.slider("Random rotation (degrees)", 0, 45, step=5, key=f"{P}_aug_rotate")
            flip_ok = dataset not in ("digits",)
            flip = st.checkbox(
                "Random horizontal flip",
                key=f"{P}_aug_flip",
                disabled=not flip_ok,
                help=None if flip_ok else "A mirrored digit is a different symbol: flipping is off for digits.",
            )
            options["augment"] = {"shift": shift, "rotate": float(rotate), "flip": bool(flip and flip_ok)}
    return model, options


def mistakes_tab(run: dict) -> None:
    art = get_store().load_artifacts(run["id"])
    names = run["details"]["class_names"]
    if art.get("mistake_index") is None or len(art["mistake_index"]) == 0:
        st.success("No mistakes on the test split.")
        return
    st.caption("The test images the model got wrong with the most confidence.")
    cols = st.columns(6)
    for n, (i, img) in enumerate(zip(art["mistake_index"], art["mistake_inputs"])):
        probs = art["probs"][i]
        pred = int(probs.argmax())
        cols[n % 6].image(
            _to_pil_array(img),
            caption=f"true {names[art['y_true'][i]]} → {names[pred]} ({probs[pred]:.0%})",
            width="stretch",
        )


def try_tab(run: dict) -> None:
    model, ckpt = run_model(run["id"])
    meta = ckpt["meta"]
    upload_tab, camera_tab, draw_tab = st.tabs(["Upload", "Camera", "Draw"])
    x = None
    with upload_tab:
        file = st.file_uploader("An image", type=sorted(e.strip(".") for e in IMAGE_EXTENSIONS), key=f"{P}_try_file")
        if file is not None:
            x = _image_input(file.getvalue(), file.name, meta)
    with camera_tab:
        shot = st.camera_input("Take a picture", key=f"{P}_camera_file")
        if shot is not None:
            x = _image_input(shot.getvalue(), "camera snapshot", meta)
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
    c1.markdown(f"**Prediction: {meta['class_names'][target]}** ({probs[target]:.1%})")
    c1.plotly_chart(probability_bar_figure(probs, meta["class_names"]), key=f"{P}_try_probs")
    c2.markdown(f"**Where it looked** · {method}")
    c2.plotly_chart(image_heatmap_figure(x[0].numpy(), heat.numpy()), key=f"{P}_try_heat")


def _image_input(raw: bytes, name: str, meta: dict):
    try:
        img = open_image(raw, name)
    except DataError as exc:
        st.error(str(exc))
        return None
    bright = float(np.asarray(img.convert("L")).mean()) > 127
    invert = st.checkbox(
        "Invert colours (the training images have dark backgrounds)",
        value=bright and meta.get("dataset") == "digits",
        key=f"{P}_invert_{name}",
    )
    return prepare_image(img, meta, invert)


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


keep_settings()
share_settings(
    P,
    {
        "dataset": one_of([*DATASETS, OWN]),
        "folder": text,
        "model": one_of(list_models("image")),
        "freeze": flag,
        "init_from": text,
        "aug_shift": float_in(0.0, 0.25),
        "aug_rotate": int_in(0, 45),
        "aug_flip": flag,
        "schedule": one_of(["constant", "cosine"]),
        **TRAINING_SETTINGS,
    },
)
st.title(":material/image: Image recognition")
st.caption(
    "Train an image classifier on this machine and see what it learned. Every number is on a held-out test split."
)

data_col, model_col, train_col = st.columns(3, gap="medium")
with data_col.container(border=True):
    st.markdown("**1 · Data**")
    dataset, data_path = data_section()
    data = None
    if dataset or data_path:
        stamp = data_stamp(data_path)
        data = load_and_preview(lambda: load_data(dataset, data_path, stamp), data_preview, data_path or dataset)
    else:
        st.info("Upload a .zip or give a folder to use your own images.")
with model_col.container(border=True):
    st.markdown("**2 · Model**")
    model, options = model_section(dataset)
with train_col.container(border=True):
    st.markdown("**3 · Training**")
    apply_defaults(P, page_defaults(model), overwrite=False)
    options.update(training_controls(P, page_defaults(model), gradient=model != "logreg", schedule=True))

run_id = training_panel(P, "image", model, {**options, "dataset": dataset, "data": data_path}, disabled=data is None)
if run_id:
    results_panel(run_id, P, {"Worst mistakes": mistakes_tab, "Try it": try_tab})
