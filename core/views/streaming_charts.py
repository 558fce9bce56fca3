"""Plotly figures of keyword spotting on a stream: the timeline (waveform, spectrogram, posteriors, detections) and
the DET-style curve of false rejections against false alarms per hour."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from core.tasks.speech_streaming import Detection
from core.views.charts import PALETTE, wave_envelope

KEYWORD_COLOURS = qualitative.Plotly + qualitative.Dark24  # ten distinct first: the ten words of commands


def timeline_figure(
    wave: np.ndarray,
    sample_rate: int,
    logmel: np.ndarray,
    hop_seconds: float,
    times: np.ndarray,
    probs: np.ndarray,
    class_names: Sequence[str],
    keywords: Sequence[int],
    detections: Sequence[Detection],
    threshold: float,
    height: int = 620,
) -> go.Figure:
    """Three rows on one time axis: the waveform, its log-mel spectrogram (`logmel` (bins, frames) every
    `hop_seconds`) and each keyword's smoothed posterior with the threshold; each detection marked in all three."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.25, 0.3, 0.45])
    t, y = wave_envelope(wave, sample_rate)
    fig.add_trace(go.Scatter(x=t, y=y, mode="lines", line={"color": PALETTE[0], "width": 1}, hoverinfo="skip",
                             showlegend=False), 1, 1)  # fmt: skip
    frames = np.arange(logmel.shape[1]) * hop_seconds
    fig.add_trace(go.Heatmap(z=logmel, x=frames, colorscale="Viridis", showscale=False,
                             hovertemplate="%{x:.2f} s<br>mel bin %{y}<extra></extra>"), 2, 1)  # fmt: skip
    for n, k in enumerate(keywords):
        fig.add_trace(
            go.Scatter(x=times, y=probs[:, k], mode="lines", name=class_names[k],
                       line={"color": KEYWORD_COLOURS[n % len(KEYWORD_COLOURS)], "width": 1.5},
                       hovertemplate=f"{class_names[k]} %{{y:.2f}} at %{{x:.2f}} s<extra></extra>"), 3, 1,
        )  # fmt: skip
    fig.add_hline(y=threshold, line={"dash": "dash", "color": "#6b7280"}, row=3, col=1)
    for d in detections:
        for row in (1, 2, 3):
            fig.add_vline(x=d.time, line={"color": "#e11d48", "width": 1.5}, row=row, col=1)
    fig.add_trace(
        go.Scatter(x=[d.time for d in detections], y=[d.score for d in detections], mode="markers+text",
                   text=[class_names[d.label] for d in detections], textposition="top center", name="detections",
                   marker={"color": "#e11d48", "size": 10, "symbol": "diamond"}), 3, 1,
    )  # fmt: skip
    fig.update_yaxes(title_text="amplitude", row=1, col=1)
    fig.update_yaxes(title_text="mel bin", row=2, col=1)
    fig.update_yaxes(title_text="posterior", range=[0, 1.12], row=3, col=1)
    fig.update_xaxes(title_text="seconds", row=3, col=1)
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h"})
    return fig


def det_figure(curve: Sequence[dict], threshold: float, height: int = 360) -> go.Figure:
    """False-rejection rate against false alarms per hour, one point per threshold, with the operating point
    at `threshold` and its 95% intervals as error bars."""
    fa = [r["fa_per_hour"] for r in curve]
    frr = [r["frr"] for r in curve]
    thresholds = [r["threshold"] for r in curve]
    fig = go.Figure(
        go.Scatter(x=fa, y=frr, mode="lines+markers", name="thresholds", customdata=thresholds,
                   line={"color": PALETTE[0]},
                   hovertemplate="threshold %{customdata:.2f}<br>%{x:.1f} false alarms/h<br>"
                   "%{y:.1%} missed<extra></extra>")
    )  # fmt: skip
    op = min(curve, key=lambda r: abs(r["threshold"] - threshold))
    fig.add_trace(
        go.Scatter(
            x=[op["fa_per_hour"]], y=[op["frr"]], mode="markers", name=f"operating point ({op['threshold']:.2f})",
            marker={"color": "#e11d48", "size": 13, "symbol": "star"},
            error_x={"type": "data", "symmetric": False, "array": [op["fa_per_hour_ci95"][1] - op["fa_per_hour"]],
                     "arrayminus": [op["fa_per_hour"] - op["fa_per_hour_ci95"][0]]},
            error_y={"type": "data", "symmetric": False, "array": [op["frr_ci95"][1] - op["frr"]],
                     "arrayminus": [op["frr"] - op["frr_ci95"][0]]},
        )
    )  # fmt: skip
    fig.update_layout(
        height=height,
        xaxis={"title": "false alarms per hour", "rangemode": "tozero"},
        yaxis={"title": "false-rejection rate", "tickformat": ".0%", "rangemode": "tozero"},
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        legend={"orientation": "h"},
    )
    return fig
