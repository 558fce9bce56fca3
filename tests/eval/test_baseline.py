"""The classical baseline beside every deep run: fitted on the run's own split, tested against it on the same test
examples, and said in the CLI's JSON, `show`, the HTML report, the Runs page and the results panel."""

import dataclasses
import json

import numpy as np
import pytest

from core.cli import main
from core.eval import baseline
from core.eval.baseline import baseline_names, comparison_line, verdict_text
from core.models import get_spec
from core.run.command import command_for
from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.store import RunStore
from core.tasks import get_task, task_specs
from core.views.report import run_report
from tests.support.apptest import open_page
from tests.tasks.test_recsys import make_ratings
from tests.tasks.test_speech import make_folder
from ui.services import runs_dir

UNTRAINED = {"epochs": 1, "max_batches": 1}  # one step: a model no classical baseline can lose to


def test_every_tasks_baselines_are_its_own_closed_form_models():
    for spec in task_specs():
        assert spec.baselines, spec.name
        assert all(get_spec(spec.name, name).closed_form for name in spec.baselines)
        assert baseline_names(spec, spec.baselines[0]) == ()  # a baseline is not judged against itself


def test_a_deep_image_run_keeps_the_baseline_better_on_validation_scored_on_its_own_test_split(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = run_experiment(make_config("image", "mlp", **UNTRAINED), store)
    base = store.get(run.run_id)["details"]["baseline"]
    task = get_task("image")
    data = task.load_data(make_config("image", "mlp"))
    scores = {
        name: task.validation_score(baseline._fit(task, data, run.config, name), data) for name in task.spec.baselines
    }
    assert base["model"] == max(scores, key=scores.get) and "chosen on the validation split" in base["note"]
    alone = run_experiment(make_config("image", base["model"]), store)  # the baseline trained as a run of its own
    assert base["metrics"]["accuracy"] == alone.metrics["accuracy"]
    assert base["ci95"]["accuracy"] == alone.details["ci95"]["accuracy"]
    assert "baseline" not in alone.details  # a baseline's own run has none
    assert base["verdict"] == "worse" and base["test"]["name"] == "exact McNemar test"
    assert base["test"]["p_value"] < 0.05 and "the same 360 test examples" in base["test"]["detail"]


def test_without_a_validation_split_the_first_baseline_is_kept():
    task = get_task("image")
    data = task.load_data(make_config("image"))
    empty = dataclasses.replace(data, x={**data.x, "val": data.x["val"][:0]}, y={**data.y, "val": data.y["val"][:0]})
    name, note = baseline._choose(task, empty, dict.fromkeys(task.spec.baselines))
    assert name == task.spec.baselines[0] and "no validation split to choose on" in note


def test_a_model_that_does_not_beat_its_baseline_is_told_so_with_what_to_try(tmp_path):
    run = run_experiment(make_config("image", "mlp", **UNTRAINED), RunStore(tmp_path / "runs"))
    record = {"task": "image", "model": "mlp", "metrics": run.metrics, "details": run.details}
    verdict, text = verdict_text(record)
    assert verdict == "worse" and text.startswith("mlp does not beat its classical baseline")
    assert "more photos per class" in text and "pretrained backbone" in text and "the baseline itself" in text
    line = comparison_line(record)
    assert line.startswith("Test accuracy: mlp ") and f"· baseline {run.details['baseline']['label']} " in line


def _artifacts(right: np.ndarray) -> dict:
    """Stored test predictions that get `right` examples right (two classes, true class 0)."""
    probs = np.where(right[:, None], [[0.9, 0.1]], [[0.1, 0.9]]).astype(np.float32)
    return {"y_true": np.zeros(len(right), int), "probs": probs}


def test_the_verdict_is_a_paired_test_that_can_say_level():
    right = np.arange(200) % 4 != 0  # 75% right
    level = baseline._verdict(0.0, _artifacts(right), _artifacts(right), "accuracy")
    assert level[0] == "level" and level[1].p_value == 1.0
    worse = right & (np.arange(200) % 4 != 3)  # 50% right, all of them right above too
    ahead = baseline._verdict(0.25, _artifacts(right), _artifacts(worse), "accuracy")
    assert ahead[0] == "better" and ahead[1].p_value < 0.001 and "right only by the winner: 50" in ahead[1].detail
    behind = baseline._verdict(-0.25, _artifacts(worse), _artifacts(right), "accuracy")
    assert behind[0] == "worse" and "right only by the winner: 50" in behind[1].detail
    test = {"name": ahead[1].name, "p_value": ahead[1].p_value, "detail": ahead[1].detail}
    base = {"model": "pca_svm", "label": "PCA+SVM", "metric": "accuracy", "metrics": {"accuracy": 0.5}, "ci95": {}}
    record = {"task": "image", "model": "cnn_bn", "metrics": {}, "details": {"baseline": {**base, "test": test}}}
    record["details"]["baseline"]["verdict"] = "better"
    said = (
        f"cnn_bn beats its classical baseline PCA+SVM beyond noise (exact McNemar test, p < 0.001: {test['detail']})."
    )
    assert verdict_text(record) == ("better", said)


def test_a_big_training_split_fits_the_baseline_on_a_seeded_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(baseline, "MAX_TRAIN", 200)
    run = run_experiment(make_config("image", "cnn", **UNTRAINED))
    assert "Fitted on a seeded sample of 200 of the 1,257 training examples." in run.details["baseline"]["note"]


def test_the_cli_json_show_and_report_carry_the_baseline(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    assert (
        main(["train", "image", "--model", "mlp", "--epochs", "1", "--max-batches", "1", "--runs", runs, "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    base = out["baseline"]
    assert base["model"] in get_task("image").spec.baselines and base["verdict"] == "worse"
    assert set(base["metrics"]) == {"accuracy", "macro_f1"} and len(base["ci95"]["accuracy"]) == 2
    assert main(["show", out["run_id"], "--runs", runs]) == 0
    shown = capsys.readouterr().out
    assert f"classical baseline ({base['label']}, the same split):" in shown and "does not beat" in shown
    store = RunStore(runs)
    page = run_report(store.get(out["run_id"]), store.history(out["run_id"]))
    assert "<h2>Classical baseline</h2>" in page and "mlp does not beat its classical baseline" in page
    assert main(["train", "image", "--model", "logreg", "--runs", runs, "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["baseline"] is None  # it is the baseline
    assert (
        main(["train", "image", "--model", "mlp", "--max-batches", "1", "--no-baseline", "--runs", runs, "--json"]) == 0
    )
    off = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    stored = store.get(off["run_id"])["config"]
    assert off["baseline"] is None and "--no-baseline" in command_for(stored)


def test_speech_runs_are_judged_against_the_mfcc_svm(tmp_path):
    data = make_folder(tmp_path / "words", per_class=10)
    run = run_experiment(make_config("speech", "cnn", data=str(data), **UNTRAINED))
    base = run.details["baseline"]
    assert base["model"] == "svm" and base["label"] == "MFCC SVM" and "accuracy" in base["ci95"]
    assert base["verdict"] in ("level", "worse") and base["note"] == ""  # one baseline: nothing to choose


def test_recommenders_are_judged_against_popularity_by_a_paired_bootstrap_over_users(tmp_path):
    ratings = make_ratings(tmp_path / "ratings.csv")
    run = run_experiment(make_config("recsys", "bpr", data=str(ratings), **UNTRAINED))
    base = run.details["baseline"]
    assert base["model"] == "pop" and base["metric"] == "ndcg@10" and "ndcg@10" in base["ci95"]
    assert base["test"]["name"] == "paired bootstrap" and "test users" in base["test"]["detail"]
    assert "rmse" not in base["metrics"]  # popularity predicts no ratings


@pytest.mark.parametrize("page", ["app_pages/runs.py"])
def test_the_results_panel_shows_the_run_beside_its_baseline(page):
    run = run_experiment(make_config("image", "mlp", **UNTRAINED), RunStore(runs_dir()))
    at = open_page(page)
    table = at.dataframe[0].value
    assert table["baseline"].iloc[0].startswith(run.details["baseline"]["label"])
    assert table["vs baseline"].iloc[0].startswith("behind it, p ")
    at.multiselect(key="runs_selected").set_value([run.run_id]).run()
    assert not at.exception, at.exception
    label = run.details["baseline"]["label"]
    assert any(f"· baseline {label} " in m.value for m in at.markdown)
    assert any("mlp does not beat its classical baseline" in w.value for w in at.warning)
