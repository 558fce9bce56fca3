"""A self-contained HTML report of one run (config, curves, metrics, confusion matrix, report), readable offline."""

from __future__ import annotations

import html
import time
from typing import Any

import plotly.graph_objects as go

from core.eval.baseline import comparison_line, verdict_text
from core.eval.metric_info import format_interval, format_metric, metric
from core.eval.metrics import report_with_present_macro_avg
from core.run.command import command_for
from core.run.lr_search import search_note
from core.views.charts import confusion_matrix_figure, curves_figure
from core.views.runs import setting_text

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2937; margin: 0; background: #f8fafc; }
main { max-width: 1100px; margin: 0 auto; padding: 32px 24px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px; color: #312e81; }
.sub { color: #6b7280; margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: white; border: 1px solid #e5e7eb; border-radius: 10px; padding: 12px 16px; min-width: 140px; }
.card .k { font-size: 13px; color: #6b7280; } .card .v { font-size: 22px; font-weight: 600; }
table { border-collapse: collapse; background: white; font-size: 14px; }
td, th { border: 1px solid #e5e7eb; padding: 4px 10px; text-align: left; }
th { background: #eef2ff; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #111827; color: #e5e7eb; padding: 12px; border-radius: 8px; white-space: pre-wrap; }
.figure { background: white; border: 1px solid #e5e7eb; border-radius: 10px; padding: 8px; overflow-x: auto; }
.error { color: #b91c1c; }
.warn { color: #92400e; background: #fffbeb; border: 1px solid #fcd34d; border-radius: 8px; padding: 8px 12px; }
"""


def _metric(key: str, value: Any, ci: list[float] | None = None) -> tuple[str, str, str]:
    """A metric card's label, value and 95% interval (empty without one), escaped."""
    shown = format_metric(key, value) if isinstance(value, int | float) else str(value)
    interval = format_interval(key, ci) or ""
    return html.escape(metric(key).label), html.escape(shown), html.escape(interval)


def _table(rows: list[list[str]], header: list[str] | None = None, numeric_from: int = 1) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header) if header else ""
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if i >= numeric_from else ''}>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table>{f'<tr>{head}</tr>' if head else ''}{body}</table>"


def _figure(fig: go.Figure, first: bool) -> str:
    # plotly.js goes inline once, with the first figure; the rest reuse it (no CDN: the report works offline)
    return '<div class="figure">' + fig.to_html(full_html=False, include_plotlyjs=first) + "</div>"


def _classification_report(report: dict[str, Any]) -> str:
    rows = [
        [html.escape(name)] + [f"{v[k]:.3f}" for k in ("precision", "recall", "f1-score")] + [f"{int(v['support'])}"]
        for name, v in report.items()
        if isinstance(v, dict)
    ]
    if "accuracy" in report:
        rows.append(["accuracy", "", "", f"{report['accuracy']:.3f}", ""])
    return _table(rows, ["class", "precision", "recall", "f1-score", "support"])


def _baseline(run: dict[str, Any]) -> str:
    """The run beside its classical baseline on the same split, and the paired test's verdict; '' without one."""
    said = verdict_text(run)
    if said is None:
        return ""
    line, note = comparison_line(run), run["details"]["baseline"].get("note")
    cls = "warn" if said[0] in ("level", "worse") else "sub"
    parts = [f"<p><b>{html.escape(line)}</b></p>" if line else "", f'<p class="{cls}">{html.escape(said[1])}</p>']
    parts.append(f'<p class="sub">{html.escape(note)}</p>' if note else "")
    return "<h2>Classical baseline</h2>" + "".join(parts)


def run_report(run: dict[str, Any], history: list[dict[str, float]]) -> str:
    """The whole report as one HTML string (a few MB: plotly.js is inside so charts stay interactive offline)."""
    details, metrics, config = run.get("details") or {}, run.get("metrics") or {}, run["config"]
    title = f"{run.get('model')} on {run.get('dataset')}"
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(run["created"])) if run.get("created") else "?"
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="sub">DL Studio run <code>{html.escape(run["id"])}</code> · {html.escape(run["task"])} · '
        f"{html.escape(run['status'])} · started {created}</p>",
    ]
    if run.get("error"):
        parts.append(f'<p class="error">Failed: {html.escape(run["error"])}</p>')
    if metrics:
        note = details.get("split_note", "")
        parts.append(
            f"<h2>Test metrics</h2><p class='sub'>On the held-out test split "
            f"({details.get('test_size', '?')} examples{'; ' + html.escape(note) if note else ''}). "
            f"{html.escape(details.get('ci95_note', ''))}</p>"
        )
        cards = "".join(
            '<div class="card"><div class="k">{}</div><div class="v">{}</div><div class="k">{}</div></div>'.format(
                *_metric(k, v, details.get("ci95", {}).get(k))
            )
            for k, v in metrics.items()
        )
        parts.append(f'<div class="cards">{cards}</div>')
        parts.append(_baseline(run))
    first = True
    if history:
        parts.append("<h2>Training curves</h2><p class='sub'>Train solid, validation dashed, per epoch.</p>")
        curves = curves_figure({"run": history}, height=360)
        curves.update_layout(margin={"l": 50, "r": 10, "t": 40, "b": 10})  # room for tick labels such as 1.4
        parts.append(_figure(curves, first))
        first = False
    if "confusion_matrix" in details:
        note = details.get("classification_note") or "Rows: true class; columns: predicted (test split)."
        parts.append(f"<h2>Confusion matrix</h2><p class='sub'>{html.escape(note)}</p>")
        cm = confusion_matrix_figure(details["confusion_matrix"], details["class_names"])
        side = cm.layout.height
        left = 40 + 7 * max((len(str(c)) for c in details["class_names"]), default=0)  # the longest class name
        cm.update_layout(width=side + left + 10, height=side + 60, margin={"l": left, "r": 10, "t": 10, "b": 60})
        parts.append(_figure(cm, first))
        first = False
    if isinstance(details.get("report"), dict):
        parts.append(
            "<h2>Classification report</h2><p class='sub'>scikit-learn, test split; macro avg over the classes "
            "in the test split or predicted, as the headline macro-F1.</p>"
        )
        report = details["report"]
        if "confusion_matrix" in details:
            report = report_with_present_macro_avg(report, details["confusion_matrix"], details["class_names"])
        parts.append(_classification_report(report))
    parts.append("<h2>Configuration</h2>")
    settings = [[html.escape(k), html.escape(setting_text(v))] for k, v in config.to_dict().items()]
    parts.append(_table(settings, ["setting", "value"], 2))
    if details.get("lr_search"):
        parts.append(f"<p class='sub'>Learning rate: {html.escape(search_note(details['lr_search']))}.</p>")
    if config.task and config.model:
        parts.append("<h2>Reproduce</h2>")
        parts.append(f"<pre>{html.escape(command_for(config))}</pre>")
    generated = time.strftime("%Y-%m-%d %H:%M")
    parts.append(f'<p class="sub" style="margin-top:32px">Generated by DL Studio on {generated}.</p>')
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} · DL Studio report</title><style>{STYLE}</style></head>"
        f"<body><main>{''.join(parts)}</main></body></html>"
    )
