"""Plotly figure builders: data in, figure out. No Streamlit here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PALETTE = ("#4f46e5", "#f97316", "#10b981", "#e11d48", "#0ea5e9", "#a855f7", "#84cc16", "#f59e0b")


def _metric_names(histories: Mapping[str, Sequence[dict]]) -> list[str]:
    """Metric families present in the logs, e.g. ['loss', 'accuracy'] from train_/val_ keys."""
    seen: list[str] = []
    for history in histories.values():
        for logs in history:
            for key in logs:
                if key.startswith(("train_", "val_")):
                    name = key.split("_", 1)[1]
                    if name not in seen:
                        seen.append(name)
    return seen


def curves_figure(histories: Mapping[str, Sequence[dict]], height: int = 320) -> go.Figure:
    """Training curves: one panel per metric family, train solid and validation dashed, one colour per run."""
    names = _metric_names(histories) or ["loss"]
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[n.replace("_", " ") for n in names])
    for i, (label, history) in enumerate(histories.items()):
        color = PALETTE[i % len(PALETTE)]
        epochs = [h["epoch"] for h in history]
        for col, name in enumerate(names, start=1):
            for split, dash in (("train", "solid"), ("val", "dash")):
                key = f"{split}_{name}"
                ys = [h.get(key) for h in history]
                if all(y is None for y in ys):
                    continue
                prefix = f"{label} · " if len(histories) > 1 else ""
                fig.add_trace(
                    go.Scatter(
                        x=epochs,
                        y=ys,
                        mode="lines+markers",
                        name=f"{prefix}{'validation' if split == 'val' else 'train'}",
                        line={"color": color, "dash": dash},
                        marker={"size": 5},
                        legendgroup=f"{label}{split}",
                        showlegend=col == 1,
                    ),
                    row=1,
                    col=col,
                )
            fig.update_xaxes(title_text="epoch", row=1, col=col)
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.25}
    )
    return fig


def confusion_matrix_figure(
    cm: Sequence[Sequence[int]], class_names: Sequence[str], normalize: bool = False
) -> go.Figure:
    """Heatmap with rows = true class, columns = predicted class, counts (or row shares) written in the cells."""
    cm = np.asarray(cm, dtype=float)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    text = [[f"{v:.2f}" if normalize else f"{int(v)}" for v in row] for row in shown]
    names = [str(c) for c in class_names]
    fig = go.Figure(
        go.Heatmap(
            z=shown,
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
            showscale=False,
        )
    )
    side = max(320, min(700, 40 * len(names) + 120))
    fig.update_layout(
        height=side,
        xaxis={"title": "predicted", "side": "bottom", "type": "category"},
        yaxis={"title": "true", "autorange": "reversed", "type": "category"},
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
    )
    return fig


def probability_bar_figure(probs: Sequence[float], class_names: Sequence[str], top: int = 10) -> go.Figure:
    """Horizontal bars of the most probable classes, the best on top."""
    probs = np.asarray(probs)
    order = np.argsort(-probs)[:top][::-1]
    fig = go.Figure(
        go.Bar(
            x=probs[order],
            y=[str(class_names[i]) for i in order],
            orientation="h",
            marker_color=[PALETTE[0] if i == order[-1] else "#a5b4fc" for i in order],
            text=[f"{p:.1%}" for p in probs[order]],
            textposition="auto",
        )
    )
    fig.update_layout(
        height=40 + 28 * len(order),
        xaxis={"range": [0, 1], "tickformat": ".0%"},
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
    )
    return fig


def image_heatmap_figure(image: np.ndarray, heat: np.ndarray | None = None, opacity: float = 0.5) -> go.Figure:
    """An image (C, H, W) in [0, 1], optionally with a heat map (H, W) in [0, 1] laid over it."""
    rgb = np.repeat(image, 3, 0) if image.shape[0] == 1 else image
    rgb = (np.clip(rgb.transpose(1, 2, 0), 0, 1) * 255).astype(np.uint8)
    fig = go.Figure(go.Image(z=rgb))
    if heat is not None:
        fig.add_trace(go.Heatmap(z=heat, colorscale="Jet", opacity=opacity, showscale=False, hoverinfo="skip"))
    fig.update_layout(
        height=260, margin={"l": 0, "r": 0, "t": 0, "b": 0}, xaxis={"visible": False}, yaxis={"visible": False}
    )
    return fig
