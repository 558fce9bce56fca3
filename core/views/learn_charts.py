"""Plotly figures for the "How it learns" page: data from core.views.learn in, figure out. No Streamlit here."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.views.charts import PALETTE, _rgba
from core.views.learn import BackpropStep, Trajectory

NEGATIVE = PALETTE[3]
MARGIN = {"l": 10, "r": 10, "t": 30, "b": 10}


def _node_positions() -> dict[str, tuple[float, float]]:
    return {
        "x1": (0.0, 0.7),
        "x2": (0.0, 0.3),
        "h1": (1.0, 0.85),
        "h2": (1.0, 0.5),
        "h3": (1.0, 0.15),
        "out": (2.0, 0.5),
        "loss": (3.0, 0.5),
    }


def _node_text(step: BackpropStep, phase: str) -> dict[str, str]:
    v, g = step.values, step.grads
    if phase == "backward":
        text = {f"h{j + 1}": f"∂L/∂h {g['h'][j]:+.3f}<br>∂L/∂z {g['z1'][j]:+.3f}" for j in range(3)}
        text["out"] = f"∂L/∂out {g['out'][0]:+.3f}<br>∂L/∂z {g['z2'][0]:+.3f}"
    else:
        text = {f"h{j + 1}": f"z {v['z1'][j]:+.3f}<br>tanh {v['h'][j]:+.3f}" for j in range(3)}
        text["out"] = f"z {v['z2'][0]:+.3f}<br>σ {v['out'][0]:.3f}"
    text.update({"x1": f"{v['x'][0]:+.2f}", "x2": f"{v['x'][1]:+.2f}", "loss": f"{v['loss'][0]:.4f}"})
    return text


def network_figure(step: BackpropStep, phase: str = "forward", after: BackpropStep | None = None) -> go.Figure:
    """The tiny net with its numbers: `forward` values, `backward` gradients (autograd's), or the SGD `update`
    (each weight before → after). Edges: blue positive, red negative weights, thicker for larger ones."""
    pos = _node_positions()
    edges = [(f"x{i + 1}", f"h{j + 1}", "w1", (j, i)) for j in range(3) for i in range(2)]
    edges += [(f"h{j + 1}", "out", "w2", (0, j)) for j in range(3)]
    biggest = max(float(np.abs(step.params[k]).max()) for k in ("w1", "w2")) or 1.0
    fig = go.Figure()
    labels_x, labels_y, labels = [], [], []
    for a, b, name, idx in edges:
        w = float(step.params[name][idx])
        (x0, y0), (x1, y1) = pos[a], pos[b]
        fig.add_trace(
            go.Scatter(
                x=[x0, x1],
                y=[y0, y1],
                mode="lines",
                line={"color": PALETTE[0] if w >= 0 else NEGATIVE, "width": 1 + 6 * abs(w) / biggest},
                hoverinfo="skip",
                showlegend=False,
            )
        )
        grad = float(step.param_grads[name][idx])
        if phase == "backward":
            label = f"{grad:+.3f}"
        elif phase == "update" and after is not None:
            label = f"{w:+.2f}→{float(after.params[name][idx]):+.2f}"
        else:
            label = f"{w:+.2f}"
        t = 0.5 if name == "w2" else (0.35 if a == "x1" else 0.65)  # labels of crossing edges kept apart
        labels_x.append(x0 + t * (x1 - x0))
        labels_y.append(y0 + t * (y1 - y0))
        labels.append(label)
    for x, y, label in zip(labels_x, labels_y, labels):  # on a white patch, readable over the edges
        fig.add_annotation(
            x=x, y=y, text=label, showarrow=False, font={"size": 11, "color": "#334155"}, bgcolor="#ffffffe6"
        )
    fig.add_trace(go.Scatter(x=[2.0, 3.0], y=[0.5, 0.5], mode="lines", line={"color": "#94a3b8", "dash": "dot"}))
    text = _node_text(step, phase)
    names = list(pos)
    short = {"x1": "x₁", "x2": "x₂", "h1": "h₁", "h2": "h₂", "h3": "h₃", "out": "out", "loss": "L"}
    fig.add_trace(
        go.Scatter(
            x=[pos[n][0] for n in names],
            y=[pos[n][1] for n in names],
            mode="markers+text",
            marker={"size": 34, "color": "#eef2ff", "line": {"color": PALETTE[0], "width": 2}},
            text=[short[n] for n in names],
            textfont={"size": 13, "color": "#1e1b4b"},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[pos[n][0] for n in names],
            y=[pos[n][1] - 0.07 for n in names],
            mode="text",
            text=[text[n] for n in names],
            textposition="bottom center",
            textfont={"size": 12, "color": "#0f172a"},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.update_layout(
        height=420,
        margin=MARGIN,
        showlegend=False,
        xaxis={"visible": False, "range": [-0.35, 3.35]},
        yaxis={"visible": False, "range": [-0.1, 1.0]},
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig


def line_figure(ys: np.ndarray, x_title: str, y_title: str, height: int = 240, log: bool = False) -> go.Figure:
    fig = go.Figure(go.Scatter(y=ys, mode="lines+markers", line={"color": PALETTE[0]}, marker={"size": 4}))
    fig.update_layout(
        height=height,
        margin=MARGIN,
        xaxis={"title": x_title, "dtick": 1 if len(ys) <= 12 else None},
        yaxis={"title": y_title, "type": "log" if log else "linear"},
    )
    return fig


def surface_figure(
    grid: tuple[np.ndarray, np.ndarray, np.ndarray],
    paths: Mapping[str, Trajectory],
    start: tuple[float, float],
    minimum: tuple[float, float] | None,
    log: bool = False,
    height: int = 480,
) -> go.Figure:
    """Contours of a 2-D loss surface with each optimizer's path from the start (★) toward the minimum (✕)."""
    xs, ys, z = grid
    shown = np.log10(z - z.min() + 1e-3) if log else z
    fig = go.Figure(
        go.Contour(
            x=xs,
            y=ys,
            z=shown,
            colorscale="Blues",
            reversescale=True,
            ncontours=30,
            showscale=False,
            contours={"coloring": "fill"},
            line={"width": 0.5},
            hoverinfo="skip",
        )
    )
    for i, (name, path) in enumerate(paths.items()):
        fig.add_trace(
            go.Scatter(
                x=path.points[:, 0],
                y=path.points[:, 1],
                mode="lines+markers",
                name=name + (" (diverged)" if path.diverged else ""),
                line={"color": PALETTE[(i + 1) % len(PALETTE)], "width": 2},
                marker={"size": 3},
                hovertemplate=f"{name}<br>step %{{pointNumber}}<br>(%{{x:.3f}}, %{{y:.3f}})<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[start[0]],
            y=[start[1]],
            mode="markers",
            marker={"symbol": "star", "size": 16, "color": "#111"},
            name="start",
        )
    )
    if minimum is not None:
        fig.add_trace(
            go.Scatter(
                x=[minimum[0]],
                y=[minimum[1]],
                mode="markers",
                marker={"symbol": "x", "size": 12, "color": "#111"},
                name="minimum",
            )
        )
    fig.update_layout(
        height=height,
        margin=MARGIN,
        xaxis={"range": [xs[0], xs[-1]], "title": "parameter 1", "constrain": "domain"},
        yaxis={"range": [ys[0], ys[-1]], "title": "parameter 2", "scaleanchor": "x"},  # a round bowl looks round
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def losses_figure(paths: Mapping[str, Trajectory], log: bool = True, height: int = 300) -> go.Figure:
    """Each optimizer's loss per step."""
    fig = go.Figure()
    for i, (name, path) in enumerate(paths.items()):
        fig.add_trace(
            go.Scatter(y=path.losses, mode="lines", name=name, line={"color": PALETTE[(i + 1) % len(PALETTE)]})
        )
    fig.update_layout(
        height=height,
        margin=MARGIN,
        xaxis_title="step",
        yaxis={"title": "loss", "type": "log" if log else "linear"},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def activations_figure(samples: Mapping[str, Mapping[str, np.ndarray]], height: int = 380) -> go.Figure:
    """What goes into each ReLU, layer by layer: one half-violin per model (two models side by side)."""
    fig = go.Figure()
    for i, (model, layers) in enumerate(samples.items()):
        color = PALETTE[i % len(PALETTE)]
        xs = np.concatenate([[layer] * len(v) for layer, v in layers.items()])
        fig.add_trace(
            go.Violin(
                x=xs,
                y=np.concatenate(list(layers.values())),
                name=model,
                side="negative" if i == 0 else "positive",
                line_color=color,
                fillcolor=_rgba(color, 0.35),
                meanline_visible=True,
                points=False,
                spanmode="hard",
                scalemode="width",
                width=0.9,
            )
        )
    fig.update_layout(
        height=height,
        margin=MARGIN,
        violinmode="overlay",
        violingap=0,
        yaxis_title="input to the ReLU",
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def _highlight(fig: go.Figure, col: int, row0: float, col0: float, size: int, color: str) -> None:
    fig.add_shape(
        type="rect",
        x0=col0 - 0.5,
        x1=col0 + size - 0.5,
        y0=row0 - 0.5,
        y1=row0 + size - 0.5,
        line={"color": color, "width": 3},
        row=1,
        col=col,
    )


def convolution_figure(
    image: np.ndarray,
    kernel: np.ndarray,
    output: np.ndarray,
    pooled: np.ndarray,
    at: tuple[int, int],
    padding: int = 0,
    pool_size: int = 2,
    height: int = 400,
) -> go.Figure:
    """The input with the kernel's window at output cell `at`, the output map with that cell, the pooled map with
    the cell it feeds. Numbers are written in the cells."""
    k = len(kernel)
    padded = np.pad(np.asarray(image, dtype=np.float32), padding)
    titles = (f"input (padding {padding})", f"output: {k}×{k} kernel", f"{pool_size}×{pool_size} pooling")
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.06)
    for col, z, scale in ((1, padded, "Greys"), (2, output, "RdBu"), (3, pooled, "RdBu")):
        bound = float(np.abs(z).max()) or 1.0
        fig.add_trace(
            go.Heatmap(
                z=z,
                colorscale=scale,
                reversescale=scale == "RdBu",
                zmin=-bound if scale == "RdBu" else None,
                zmid=0 if scale == "RdBu" else None,
                texttemplate="%{z:.1f}" if z.size <= 100 else None,
                textfont={"size": 10},
                showscale=False,
                hovertemplate="row %{y}, column %{x}: %{z:.2f}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(visible=False, row=1, col=col, constrain="domain")
        fig.update_yaxes(visible=False, autorange="reversed", row=1, col=col, scaleanchor=f"x{col if col > 1 else ''}")
    r, c = at
    _highlight(fig, 1, r, c, k, PALETTE[1])
    _highlight(fig, 2, r, c, 1, PALETTE[1])
    _highlight(fig, 3, r // pool_size, c // pool_size, 1, PALETTE[1])
    fig.update_layout(height=height, margin=MARGIN)
    return fig


def costs_figure(costs: Mapping[str, Mapping[str, int]], height: int = 300) -> go.Figure:
    """Parameters and multiplications of the same layer, standard against separable (log scale)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("parameters", "multiplications"))
    for col, what in enumerate(("parameters", "multiplications"), start=1):
        names = list(costs)
        values = [costs[n][what] for n in names]
        fig.add_trace(
            go.Bar(
                x=names,
                y=values,
                marker_color=[PALETTE[0], PALETTE[2]][: len(names)],
                text=[f"{v:,}" for v in values],
                textposition="outside",
                showlegend=False,
                hovertemplate="%{x}: %{y:,}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_yaxes(type="log", row=1, col=col, range=[0, np.log10(max(values) * 10)])
    fig.update_layout(height=height, margin=MARGIN)
    return fig
