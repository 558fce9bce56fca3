"""Exports of a run: ONNX and TorchScript give the trained model's predictions; the HTML report stands alone."""

import threading

import numpy as np
import onnxruntime as ort
import pytest
import torch
from sklearn.metrics import classification_report
from torch import nn

from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.export import example_batch, export_onnx, export_run
from core.run.settings import RunConfig
from core.run.store import RunStore
from core.tasks import get_task, load_run_model
from core.views.report import run_report


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("runs"))
    result = run_experiment(make_config("image", "cnn_bn", epochs=1, max_batches=3), store)
    return store, result.run_id


def test_a_run_exports_to_onnx_and_torchscript_with_the_same_predictions(trained):
    store, run_id = trained
    checks = {c.format: c for c in export_run(store, run_id)}
    assert set(checks) == {"onnx", "torchscript"}
    for check in checks.values():
        assert check.ok, check.error
        assert check.examples == 16 and check.same_predictions and check.dynamic_batch
        assert check.max_abs_diff < 1e-4
    # independently of export_run's own check: load the files and compare with the trained model
    model, ckpt = load_run_model(store, run_id)
    config = RunConfig.from_dict(ckpt["config"])
    x = get_task("image").load_data(config).x["test"][16:48]  # inputs the export never saw, another batch size
    with torch.no_grad():
        expected = model(x).numpy()
    session = ort.InferenceSession(checks["onnx"].path, providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    scripted = torch.jit.load(checks["torchscript"].path)
    with torch.no_grad():
        ts_out = scripted(x).numpy()
    for out in (onnx_out, ts_out):
        assert np.abs(out - expected).max() < 1e-4
        assert (out.argmax(1) == expected.argmax(1)).all()
    assert not (store.run_dir(run_id) / "model.onnx.data").exists()  # one self-contained file


class DataDependentBranch(nn.Module):
    """A Python `if` on a tensor's value: torch.export (and so the ONNX exporter) cannot express it."""

    def forward(self, x):
        return x * 2 if x.sum() > 0 else x - 1


def test_an_export_that_cannot_work_reports_the_reason_instead_of_raising(tmp_path):
    check = export_onnx(DataDependentBranch(), torch.rand(4, 3), tmp_path / "bad.onnx")
    assert not check.ok and check.error.startswith("TorchExportError") and "\x1b" not in check.error


def test_example_batch_uses_real_test_inputs():
    data = get_task("image").load_data(make_config("image", "mlp"))
    batch = example_batch("image", data, n=8)
    assert torch.equal(batch, data.x["test"][:8])


def test_the_html_report_is_self_contained(trained):
    store, run_id = trained
    html = run_report(store.get(run_id), store.history(run_id))
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html
    assert html.count("plotly.js v") == 1  # the library inlined exactly once
    assert "<script src=" not in html and 'src="http' not in html  # nothing fetched: it works offline
    assert html.count('class="plotly-graph-div"') == 2  # curves and confusion matrix
    for text in ("Test metrics", "Confusion matrix", "Classification report", "macro avg", "cnn_bn", "digits"):
        assert text in html
    assert "python -m core train image --model cnn_bn --dataset digits" in html
    low, high = store.get(run_id)["details"]["ci95"]["accuracy"]
    assert f"95% CI {low:.2%}–{high:.2%}" in html  # the headline's interval is in the report too
    assert len(html) < 6_000_000


def test_exports_from_successive_short_lived_threads_do_not_crash(tmp_path):
    """Streamlit runs each rerun on a new thread; torch.export used to segfault on the second one."""
    model = nn.Sequential(nn.Linear(3, 4)).eval()
    checks = []
    for i in range(2):
        thread = threading.Thread(
            target=lambda i=i: checks.append(export_onnx(model, torch.rand(2, 3), tmp_path / f"{i}.onnx"))
        )
        thread.start()
        thread.join()
    assert [c.ok for c in checks] == [True, True]


def test_a_recommender_exports_and_is_checked_on_several_users(tmp_path):
    store = RunStore(tmp_path / "runs")
    run_id = run_experiment(make_config("recsys", "bpr", epochs=1, max_batches=1), store).run_id
    examples = example_batch("recsys", get_task("recsys").load_data(store.get(run_id)["config"]))
    assert examples.dtype == torch.long and list(examples) == list(range(16))
    for check in export_run(store, run_id, examples):
        assert check.ok, check.error
        assert check.examples == 16 and check.same_predictions  # the same top item for each of the 16 users
    report = run_report(store.get(run_id), store.history(run_id))
    assert "NDCG@10" in report and "ndcg@10</div>" not in report  # ranking metrics under their own names


def test_the_html_reports_macro_avg_row_is_the_headline_macro_f1():
    # issue 18 item 2, also for a run stored before the rule (its report's row counted the missing class "c" as 0)
    names = ["a", "b", "c"]
    report = classification_report(
        [0, 0, 1, 1, 1], [0, 1, 1, 1, 1], labels=[0, 1, 2], target_names=names, output_dict=True
    )
    details = {"report": report, "confusion_matrix": [[1, 1, 0], [0, 3, 0], [0, 0, 0]], "class_names": names}
    details["ci95_note"] = "95% intervals: a bootstrap over the 2 test speakers: a speaker's clips go together."
    run = {"id": "r", "task": "image", "status": "done", "details": details, "metrics": {"accuracy": 0.8}}
    run["config"] = RunConfig(task="image")
    html = run_report(run, [])
    assert details["ci95_note"].replace("'", "&#x27;") in html  # issue 18 item 6: what the intervals resampled
    assert "<td>macro avg</td><td class=num>0.875</td><td class=num>0.750</td><td class=num>0.762</td>" in html
    assert "<td>c</td>" in html
