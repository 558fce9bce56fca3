"""Plotly figure builders: data in, figure out. No Streamlit here."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PALETTE = ("#4f46e5", "#f97316", "#10b981", "#e11d48", "#0ea5e9", "#a855f7", "#84cc16", "#f59e0b")


def as_text(value: object) -> str:
    """A class name, title or path for a figure: Plotly renders `<a href>`, `<b>`… in labels; `&lt;` is shown as `<`."""
    return html.escape(str(value), quote=False)


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
                prefix = f"{as_text(label)} · " if len(histories) > 1 else ""
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
    longest = max((len(h) for h in histories.values()), default=0)
    fig.update_xaxes(dtick=1 if longest <= 12 else None)  # whole epochs, never 1.5
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
    names = [as_text(c) for c in class_names]
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
            y=[as_text(class_names[i]) for i in order],
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


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def band_curves_figure(
    bands: Mapping[str, object], y_title: str, percent: bool = False, height: int = 360
) -> go.Figure:
    """One line per variant (mean over seeds per epoch) with a shaded ± std band where there are 2+ seeds.

    `bands` maps a label to an object with `epochs`, `mean`, `std` and `n` lists (core.eval.compare.EpochBand).
    """
    fig = go.Figure()
    for i, (label, band) in enumerate(bands.items()):
        color = PALETTE[i % len(PALETTE)]
        epochs, mean, std, n = band.epochs, np.asarray(band.mean), np.asarray(band.std), np.asarray(band.n)
        banded = [j for j in range(len(epochs)) if n[j] > 1]
        xs = [epochs[j] for j in banded]
        # the band trace is always there (maybe empty), so live redraws keep the same traces in the same order
        fig.add_trace(
            go.Scatter(
                x=xs + xs[::-1],
                y=list(mean[banded] + std[banded]) + list((mean[banded] - std[banded])[::-1]),
                mode="lines",
                fill="toself",
                fillcolor=_rgba(color, 0.15),
                line={"width": 0},
                hoverinfo="skip",
                legendgroup=label,
                showlegend=False,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=mean,
                mode="lines+markers",
                name=label,
                line={"color": color, "width": 2.5},
                marker={"size": 5},
                legendgroup=label,
                customdata=np.stack([std, n], 1) if len(epochs) else None,
                hovertemplate=f"{label}<br>epoch %{{x}}<br>%{{y:{'.1%' if percent else '.4f'}}}"
                f" ± %{{customdata[0]:{'.1%' if percent else '.4f'}}} (%{{customdata[1]}} seeds)<extra></extra>",
            )
        )
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": "epoch", "dtick": 1 if max((len(b.epochs) for b in bands.values()), default=0) <= 12 else None},
        yaxis={"title": y_title, "tickformat": ".0%" if percent else None},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def _padded_range(values: Sequence[float], log: bool = False, pad: float = 0.15) -> list[float] | None:
    """An axis range with room around the points for their text labels (log axes take log10 bounds)."""
    vals = np.asarray([v for v in values if v is not None and np.isfinite(v) and (v > 0 or not log)], float)
    if not len(vals):
        return None
    if log:
        vals = np.log10(vals)
    lo, hi = float(vals.min()), float(vals.max())
    margin = (hi - lo) * pad or max(abs(hi) * pad, 0.05)
    return [lo - margin, hi + margin]


def pareto_figure(
    points: Sequence[dict], cost_title: str, metric_title: str, percent: bool = False, log_x: bool = False
) -> go.Figure:
    """Metric (y, with ± std error bars) against a cost (x); the Pareto front joined by a line and ringed.

    Each point: {"label", "metric", "std", "cost", "front"}.
    """
    fig = go.Figure()
    front = sorted((p for p in points if p["front"]), key=lambda p: p["cost"])
    if len(front) > 1:
        fig.add_trace(
            go.Scatter(
                x=[p["cost"] for p in front],
                y=[p["metric"] for p in front],
                mode="lines",
                line={"color": "#94a3b8", "dash": "dot", "shape": "hv"},
                name="Pareto front",
                hoverinfo="skip",
            )
        )
    fmt = ".1%" if percent else ".4f"
    xs = [p["cost"] for p in points]
    ys = [p["metric"] + sign * (p["std"] or 0) for p in points for sign in (-1, 1)]
    for i, p in enumerate(points):
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=[p["cost"]],
                y=[p["metric"]],
                error_y={"type": "data", "array": [p["std"]], "visible": bool(p["std"]), "color": color},
                mode="markers+text",
                text=[p["label"]],
                textposition="top center",
                marker={
                    "size": 16 if p["front"] else 11,
                    "color": color,
                    "line": {"width": 3 if p["front"] else 0, "color": "#0f172a"},
                    "symbol": "star" if p["front"] else "circle",
                },
                name=p["label"] + (" (Pareto)" if p["front"] else ""),
                hovertemplate=f"{p['label']}<br>%{{y:{fmt}}} at %{{x:,.3g}}<extra></extra>",
            )
        )
    fig.update_layout(
        height=400,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": cost_title, "type": "log" if log_x else "linear", "range": _padded_range(xs, log_x)},
        yaxis={"title": metric_title, "tickformat": ".0%" if percent else None, "range": _padded_range(ys)},
        legend={"orientation": "h", "y": -0.25},
        showlegend=True,
    )
    return fig


def wave_envelope(wave: np.ndarray, sample_rate: int, points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, samples) to draw: a long wave as a min/max envelope of `points` columns, a short one as it is."""
    wave = np.asarray(wave, dtype=np.float32).ravel()
    step = max(1, len(wave) // (points // 2))
    if step == 1:
        return np.arange(len(wave)) / sample_rate, wave
    cols = wave[: len(wave) // step * step].reshape(-1, step)
    y = np.stack([cols.min(1), cols.max(1)], 1).ravel()  # keeps the peaks a plain stride would skip
    return np.repeat(np.arange(len(cols)) * step / sample_rate, 2), y


def waveform_figure(wave: np.ndarray, sample_rate: int, height: int = 220, points: int = 4000) -> go.Figure:
    """A clip's samples over time (seconds); long clips are drawn as a min/max envelope of `points` columns."""
    wave = np.asarray(wave, dtype=np.float32).ravel()
    t, y = wave_envelope(wave, sample_rate, points)
    fig = go.Figure(go.Scatter(x=t, y=y, mode="lines", line={"color": PALETTE[0], "width": 1}, hoverinfo="skip"))
    peak = max(float(np.abs(wave).max()), 1e-3)
    fig.update_layout(
        height=height,
        xaxis={"title": "seconds"},
        yaxis={"title": "amplitude", "range": [-1.05 * peak, 1.05 * peak]},
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
    )
    return fig


def spectrogram_figure(
    spec: np.ndarray,
    hop_seconds: float,
    ylabel: str = "mel bin",
    saliency: np.ndarray | None = None,
    height: int = 240,
    colorscale: str = "Viridis",
) -> go.Figure:
    """A (bins, frames) spectrogram or MFCC image, low bins at the bottom; `saliency` (same shape, [0, 1]) on top.

    With saliency the spectrogram turns grey and the saliency is drawn in red whose opacity grows with it,
    so what the model listened to stands out where it is.
    """
    spec = np.asarray(spec, dtype=np.float32)
    t = np.arange(spec.shape[1]) * hop_seconds
    base = "Greys" if saliency is not None else colorscale
    fig = go.Figure(
        go.Heatmap(
            z=spec,
            x=t,
            colorscale=base,
            reversescale=saliency is not None,
            showscale=False,
            hovertemplate=f"%{{x:.2f}} s<br>{ylabel} %{{y}}<br>%{{z:.2f}}<extra></extra>",
        )
    )
    if saliency is not None:
        saliency = np.asarray(saliency, dtype=np.float32)
        # gradients are peaky: scale to the 99th percentile so more than a few cells show
        saliency = np.clip(saliency / max(float(np.percentile(saliency, 99)), 1e-12), 0, 1)
        fig.add_trace(
            go.Heatmap(
                z=saliency,
                x=t,
                zmin=0,
                zmax=1,
                colorscale=[[0.0, "rgba(255,0,0,0)"], [0.2, "rgba(255,0,0,0)"], [1.0, "rgba(255,0,0,0.85)"]],
                showscale=False,
                hovertemplate="%{x:.2f} s<br>saliency %{z:.2f}<extra></extra>",
            )
        )
    fig.update_layout(
        height=height,
        xaxis={"title": "seconds"},
        yaxis={"title": ylabel},
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
    )
    return fig


def item_map_figure(frame, top_genres: int = 12, height: int = 520) -> go.Figure:
    """Items as points in 2-D (columns x, y, title, genre, interactions), one colour per genre.

    Genres past the `top_genres` most common are drawn grey as "other", so the legend stays readable.
    """
    import plotly.colors

    counts = frame["genre"].value_counts()
    keep = list(counts.index[:top_genres])
    colours = plotly.colors.qualitative.Dark24
    genre = frame["genre"].where(frame["genre"].isin(keep), "other")
    fig = go.Figure()
    for n, name in enumerate([*keep, "other"]):
        part = frame[genre == name]
        if part.empty:
            continue
        fig.add_trace(
            go.Scattergl(
                x=part["x"],
                y=part["y"],
                mode="markers",
                name=f"{as_text(name)} ({len(part)})",
                text=[as_text(t) for t in part["title"]],
                customdata=part["interactions"],
                marker={
                    "size": 5 + 10 * np.sqrt(part["interactions"] / max(frame["interactions"].max(), 1)),
                    "color": "#9ca3af" if name == "other" else colours[n % len(colours)],
                    "opacity": 0.75,
                    "line": {"width": 0},
                },
                hovertemplate="%{text}<br>" + as_text(name) + "<br>%{customdata} interactions<extra></extra>",
            )
        )
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"showticklabels": False, "zeroline": False, "title": ""},
        yaxis={"showticklabels": False, "zeroline": False, "title": ""},
        legend={"title": {"text": "first genre (items)"}, "itemsizing": "constant"},
    )
    return fig


def popularity_bias_figure(curve, height: int = 340) -> go.Figure:
    """Items in popularity deciles (columns decile, share of interactions, share of recommendations): two bars each."""
    fig = go.Figure()
    for n, column in enumerate(("share of interactions", "share of recommendations")):
        fig.add_trace(
            go.Bar(
                x=curve["decile"],
                y=curve[column],
                name=column,
                marker_color=PALETTE[n],
                hovertemplate="%{x}: %{y:.1%}<extra>" + column + "</extra>",
            )
        )
    fig.update_layout(
        height=height,
        barmode="group",
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": "items by popularity in training (most popular first)"},
        yaxis={"title": "share", "tickformat": ".0%"},
        legend={"orientation": "h", "y": 1.1},
    )
    return fig


def model_comparison_figure(rows: Sequence[dict], metric_label: str, highlight: str) -> go.Figure:
    """One bar per run on the same data (`run`, `model`, `value`, optional `low`/`high`), this run highlighted.

    What a closed-form model's Overview shows instead of a one-point curve: where it stands among the
    other models trained on the same data.
    """
    labels = [f"{r['model']} · {r['run'][-4:]}" for r in rows]
    values = [r["value"] for r in rows]
    errors = [r["high"] - r["value"] if r.get("high") is not None else 0 for r in rows]
    errors_minus = [r["value"] - r["low"] if r.get("low") is not None else 0 for r in rows]
    colors = [PALETTE[0] if r["run"] == highlight else "#cbd5e1" for r in rows]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=labels,
            orientation="h",
            marker_color=colors,
            width=0.6,
            error_x={"type": "data", "array": errors, "arrayminus": errors_minus, "visible": any(errors)},
            hovertemplate="%{y}: %{x:.4f}<extra></extra>",
        )
    )
    fig.update_layout(
        height=110 + 34 * len(rows),
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        xaxis_title=f"{metric_label} (test split; bars: 95% interval)",
        yaxis={"autorange": "reversed"},
    )
    return fig


def _mosaic(tiles: np.ndarray, cols: int) -> np.ndarray:
    """(K, h, w) tiles -> one 2-D array, `cols` tiles a row, NaN (drawn blank) one pixel between them."""
    k, h, w = tiles.shape
    rows = -(-k // cols)
    out = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan, np.float32)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = tile
    return out


def _tile_numbers(k: int, h: int, w: int, cols: int) -> np.ndarray:
    """Which tile each pixel of a `_mosaic` belongs to (-1 in the gaps), for hover text."""
    return np.nan_to_num(_mosaic(np.arange(k, dtype=np.float32)[:, None, None] * np.ones((1, h, w)), cols), nan=-1)


def _mosaic_layout(fig: go.Figure, shape: tuple[int, int], width: int = 620) -> go.Figure:
    height = int(min(900, max(140, width * shape[0] / max(shape[1], 1))))
    fig.update_layout(
        height=height,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        xaxis={"visible": False, "constrain": "domain"},
        yaxis={"visible": False, "autorange": "reversed", "scaleanchor": "x"},
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig


def filters_figure(weights: np.ndarray, cols: int = 8) -> go.Figure:
    """First-layer filters (K, C, kh, kw) as small tiles: colour for 3 input channels, else red/blue by sign."""
    weights = np.asarray(weights, dtype=np.float32)
    k, c, kh, kw = weights.shape
    cols = min(cols, k)
    if c == 3:  # each filter stretched to [0, 1] on its own: what colour pattern it responds to
        low = weights.min(axis=(1, 2, 3), keepdims=True)
        span = np.maximum(weights.max(axis=(1, 2, 3), keepdims=True) - low, 1e-12)
        scaled = (weights - low) / span
        planes = [np.nan_to_num(_mosaic(scaled[:, i], cols), nan=1.0) for i in range(3)]
        rgb = (np.stack(planes, -1) * 255).astype(np.uint8)
        return _mosaic_layout(go.Figure(go.Image(z=rgb, hoverinfo="skip")), rgb.shape[:2])
    tiles = weights.mean(1)  # one input channel (or the mean of several): sign shows what it looks for
    return _signed_mosaic_figure(tiles, cols, "filter %{customdata:.0f}<br>weight %{z:.3f}")


def _signed_mosaic_figure(tiles: np.ndarray, cols: int, hover: str) -> go.Figure:
    """Tiles (K, h, w) in a mosaic, red above zero and blue below on one symmetric scale; `hover` names a tile."""
    k, h, w = tiles.shape
    z = _mosaic(tiles, cols)
    bound = float(np.abs(tiles).max()) or 1.0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            customdata=_tile_numbers(k, h, w, cols),
            colorscale="RdBu",
            reversescale=True,
            zmin=-bound,
            zmax=bound,
            showscale=False,
            hovertemplate=hover + "<extra></extra>",
        )
    )
    return _mosaic_layout(fig, z.shape)


def feature_maps_figure(maps: np.ndarray, cols: int = 8, limit: int = 64) -> go.Figure:
    """A convolution's output maps (K, h, w), up to `limit`, as tiles; red above zero, blue below (ReLU's cut)."""
    maps = np.asarray(maps, dtype=np.float32)[:limit]
    return _signed_mosaic_figure(maps, min(cols, len(maps)), "map %{customdata:.0f}<br>%{z:.3f}")


def class_activations_figure(mean: np.ndarray, class_names: Sequence[str], height: int | None = None) -> go.Figure:
    """Per-class average of the last layer's inputs (classes, units): a unit per column, grouped by its class."""
    mean = np.asarray(mean, dtype=np.float32)
    names = [as_text(c) for c in class_names]
    fig = go.Figure(
        go.Heatmap(
            z=mean,
            y=names,
            colorscale="Viridis",
            colorbar={"title": "mean", "thickness": 12},
            hovertemplate="class %{y}<br>unit %{x}<br>mean %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        height=height or max(220, 60 + 26 * len(names)),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": "unit of the last hidden layer (grouped by the class it responds to most)"},
        yaxis={"type": "category", "autorange": "reversed"},
    )
    return fig


def attention_figure(
    spectrogram: np.ndarray, weights: np.ndarray, hop_seconds: float, labels: Sequence[str], height: int = 380
) -> go.Figure:
    """A clip's log-mel spectrogram above the model's attention over time (one line per attention layer)."""
    spectrogram = np.asarray(spectrogram, dtype=np.float32)
    t = np.arange(spectrogram.shape[1]) * hop_seconds
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.05)
    fig.add_trace(
        go.Heatmap(
            z=spectrogram,
            x=t,
            colorscale="Viridis",
            showscale=False,
            hovertemplate="%{x:.2f} s<br>mel bin %{y}<br>%{z:.2f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    for i, (row, label) in enumerate(zip(np.asarray(weights), labels)):
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=t,
                y=row,
                mode="lines",
                name=label,
                line={"color": color, "width": 2, "shape": "hv"},
                fill="tozeroy",
                fillcolor=_rgba(color, 0.15),
                hovertemplate=f"{label}<br>%{{x:.2f}} s: %{{y:.4f}}<extra></extra>",
            ),
            row=2,
            col=1,
        )
    fig.update_yaxes(title_text="mel bin", row=1, col=1)
    fig.update_yaxes(title_text="attention", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title_text="seconds", row=2, col=1)
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h", "y": -0.2}
    )
    return fig


def sparkline_figure(values: Sequence[float | None], height: int = 60, percent: bool = False) -> go.Figure:
    """A tiny line (a run's validation curve, say) with no axes: a thumbnail for a gallery card."""
    ys = [v for v in values if v is not None]
    fig = go.Figure(
        go.Scatter(
            x=list(range(1, len(ys) + 1)),
            y=ys,
            mode="lines",
            line={"color": PALETTE[0], "width": 2},
            fill="tozeroy",
            fillcolor=_rgba(PALETTE[0], 0.12),
            hovertemplate="epoch %{x}: %{y:" + (".1%" if percent else ".3f") + "}<extra></extra>",
        )
    )
    low = min(ys, default=0.0)
    high = max(ys, default=1.0)
    pad = (high - low) * 0.1 or 0.01
    fig.update_layout(
        height=height,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        xaxis={"visible": False},
        yaxis={"visible": False, "range": [low - pad, high + pad]},
        showlegend=False,
    )
    return fig


def embedding_map_figure(
    xy: np.ndarray,
    y_true: Sequence[int],
    y_pred: Sequence[int] | None,
    class_names: Sequence[str],
    hover: Sequence[str],
    height: int = 520,
) -> go.Figure:
    """Examples as points in 2-D, one colour per true class; mistakes (y_pred != y_true) ringed in black.

    Each point's `customdata` is its position in `xy`, so a selection names the examples."""
    import plotly.colors

    colours = plotly.colors.qualitative.Dark24
    y_true = np.asarray(y_true)
    wrong = np.zeros(len(y_true), bool) if y_pred is None else np.asarray(y_pred) != y_true
    fig = go.Figure()
    for c, name in enumerate(class_names):
        rows = np.flatnonzero(y_true == c)
        if not len(rows):
            continue
        fig.add_trace(
            go.Scattergl(
                x=xy[rows, 0],
                y=xy[rows, 1],
                mode="markers",
                name=f"{as_text(name)} ({len(rows)})",
                customdata=rows,
                text=[as_text(hover[i]) for i in rows],
                hovertemplate="%{text}<extra></extra>",
                marker={
                    "size": np.where(wrong[rows], 11, 7),
                    "color": colours[c % len(colours)],
                    "opacity": 0.8,
                    "line": {"width": np.where(wrong[rows], 2.5, 0).tolist(), "color": "#111827"},
                },
            )
        )
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"showticklabels": False, "zeroline": False, "title": ""},
        yaxis={"showticklabels": False, "zeroline": False, "title": ""},
        legend={"title": {"text": "true class (examples)"}, "itemsizing": "constant"},
        dragmode="lasso",
    )
    return fig
