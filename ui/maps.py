"""The Map tab: a run's test split as the trained network sees it (its penultimate layer in 2-D), coloured by true
class with the mistakes ringed; selecting points lists those examples (thumbnails or players, true and predicted class).

Hovering a point names it: a Plotly tooltip shows text, not an image or a player, so the examples are shown by
selecting them (a click, the box or the lasso)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.data.audio import to_wav_bytes
from core.models import get_spec
from core.models.embeddings import embedding_key, embeddings
from core.models.pretrained import is_cached
from core.run.settings import RunConfig
from core.views.charts import embedding_map_figure
from core.views.maps import SplitMap, methods, project, split_map
from ui.services import get_store, run_model
from ui.task_page import run_data
from ui.text import plain

SHOWN = 12  # selected examples shown under the map


@st.cache_resource(show_spinner="Projecting the test split…", max_entries=16)
def run_map(run_id: str, method: str, _data) -> SplitMap:
    """A stored run's map: one embedding pass and projection per run and method, for every session."""
    model, _ = run_model(run_id)
    return split_map(model, _data.x["test"], method)


def map_tab(run: dict) -> None:
    key = f"{run['task']}_map"
    data = run_data(run)
    if data is None:
        return
    method = projection_choice(f"{key}_method")
    smap = run_map(run["id"], method, data)
    art = get_store().load_artifacts(run["id"])
    y_true = data.y["test"].numpy()[smap.index]
    y_pred = art["probs"].argmax(1)[smap.index] if "probs" in art else None
    names = data.class_names
    hover = [_hover(i, names[t], None if y_pred is None else names[p]) for i, t, p in _rows(smap.index, y_true, y_pred)]
    wrong = 0 if y_pred is None else int((y_pred != y_true).sum())
    st.caption(
        f"{method} of {plain(smap.what)} for the test split's {len(smap.index):,} examples; colour: true class; "
        f"ringed: the {wrong:,} the model got wrong. {smap.note} Select points (lasso or box) to see them."
    )
    fig = embedding_map_figure(smap.xy, y_true, y_pred, names, hover)
    picked = selected_points(fig, f"{key}_chart")
    if picked:
        predicted = art["probs"].argmax(1) if "probs" in art else None
        show_selection(data, "test", smap.index[_mistakes_first(picked, y_true, y_pred)], predicted)


def projection_choice(key: str) -> str:
    """PCA, t-SNE, and UMAP where umap-learn is installed (the help says how to add it)."""
    offered = methods()
    missing = "UMAP is offered once umap-learn is installed (`pip install umap-learn`; it brings numba)."
    return st.radio("Projection", offered, key=key, horizontal=True, help=None if "UMAP" in offered else missing)


def selected_points(fig, key: str) -> list[int]:
    """The map drawn with selection on: the selected points' positions in it (each point's customdata)."""
    event = st.plotly_chart(fig, key=key, on_select="rerun", selection_mode=("points", "box", "lasso"))
    points = (event or {}).get("selection", {}).get("points", [])  # read as a dict: AppTest can set a selection
    return [int(p["customdata"]) for p in points if "customdata" in p]


def _mistakes_first(picked: list[int], y_true: np.ndarray, y_pred: np.ndarray | None) -> list[int]:
    """The selected points with the mistakes first, then taking each class in turn (not all of one class first)."""
    count: dict[int, int] = {}
    ranks = []  # each point's place among the selected points of its class
    for i in picked:
        c = int(y_true[i])
        ranks.append(count.get(c, 0))
        count[c] = ranks[-1] + 1
    right = [y_pred is None or y_pred[i] == y_true[i] for i in picked]
    order = sorted(range(len(picked)), key=lambda n: (right[n], ranks[n], int(y_true[picked[n]])))
    return [picked[n] for n in order]


def _rows(index: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray | None):
    for n, i in enumerate(index):
        yield int(i), int(y_true[n]), None if y_pred is None else int(y_pred[n])


def _hover(i: int, true: str, pred: str | None) -> str:
    said = f"test example {i}: {true}"
    return said if pred is None or pred == true else f"{said} → predicted {pred}"


def example_caption(i: int, true: str, predicted: str | None) -> str:
    """'#12 cat → dog' (a mistake), '#12 cat ✓' (right), '#12 cat' (nothing predicted yet)."""
    said = f"#{i} {plain(true)}"
    if predicted is None:
        return said
    return f"{said} ✓" if predicted == true else f"{said} → {plain(predicted)}"


def show_selection(data, split: str, rows: np.ndarray, predicted: np.ndarray | None = None) -> None:
    """Selected examples of a split (`rows`, in the order to show): thumbnails of images or players of clips, each
    captioned with its true class and, after training, the predicted one (`predicted`: a class per row of the split)."""
    names = data.class_names
    said = "true class → predicted (✓ when right)" if predicted is not None else "true class"
    st.markdown(f"**{len(rows):,} selected** (the first {min(len(rows), SHOWN)} shown) · {said}")
    rows = np.asarray(rows)[:SHOWN]
    x, y = data.x[split][rows].numpy(), data.y[split].numpy()[rows]
    guessed = [None] * len(rows) if predicted is None else [names[predicted[i]] for i in rows]
    captions = [example_caption(i, names[t], g) for i, t, g in zip(rows, y, guessed)]
    if x.ndim == 4:  # images (N, C, H, W) in [0, 1]
        pictures = [img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0) for img in np.clip(x, 0, 1)]
        st.image(pictures, caption=captions, width=72)
        return
    rate = data.meta.get("sample_rate", 16_000)
    for wave, caption in zip(x, captions):  # clips (N, samples)
        st.caption(caption)
        st.audio(to_wav_bytes(wave, rate), format="audio/wav")


@st.cache_resource(show_spinner="Loading the pretrained backbone…", max_entries=4)
def pretrained_model(task: str, model: str, source: str, meta_key: tuple, _meta: dict):
    """The chosen model started from its published weights (from the cache), for mapping data before training."""
    from core.tasks import get_task

    return get_task(task).build_model(RunConfig(task=task, model=model, pretrained=source), _meta).eval()


@st.cache_data(show_spinner="Projecting…", max_entries=16)
def projected(key: str, method: str, _z: np.ndarray) -> np.ndarray:
    """One projection per embedding (by its cache key) and method."""
    return project(_z, method)


def data_map_section(task: str, data) -> None:
    """Before training, "are my classes separable at all?": the training split as the chosen model's pretrained
    backbone sees it. Its embeddings land in the cache that training the head then reads."""
    spec = get_spec(task, st.session_state.get(f"{task}_model") or "")
    source = st.session_state.get(f"{task}_init_from")
    if data is None or not spec.publishes(source) or not is_cached(spec.pretrained):
        return
    with st.expander(f"Map the data as {spec.pretrained.label} {spec.name} sees it, before training"):
        if not st.toggle("Show the map of the training split", key=f"{task}_datamap_on"):
            st.caption("One pass of the training split through the backbone (cached: training the head reuses it).")
            return
        method = projection_choice(f"{task}_datamap_method")
        meta_key = tuple(sorted((k, str(v)) for k, v in data.meta.items()))
        model = pretrained_model(task, spec.name, source, meta_key, data.meta)
        x, y = data.x["train"], data.y["train"].numpy()
        bar = st.progress(0.0, text="Embedding the training split…")
        z, _ = embeddings(model, x, lambda done, total: bar.progress(done / total, text=f"Embedded {done}/{total}"))
        bar.empty()
        xy = projected(embedding_key(model, x), method, z.numpy())
        hover = [f"training example {i}: {data.class_names[c]}" for i, c in enumerate(y)]
        st.caption(f"{method} of {spec.name}'s {z.shape[1]:,} pretrained features for {len(y):,} training examples.")
        fig = embedding_map_figure(xy, y, None, data.class_names, hover, height=420)
        picked = selected_points(fig, f"{task}_datamap_chart")
        if picked:
            show_selection(data, "train", np.array(_mistakes_first(picked, y, None)))
