"""AppTest: the Runs page lists every run, filters and sorts, compares, exports, reproduces and deletes."""

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.data import DataError
from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.settings import RunConfig
from core.run.store import RunStore
from tests.support.apptest import APP, open_page
from ui.services import runs_dir


@pytest.fixture
def runs():
    """Two finished runs that differ in optimizer and a failed one, as the CLI would leave them."""
    store = RunStore(runs_dir())
    ids = [
        run_experiment(make_config("image", "mlp", epochs=1, max_batches=2, optimizer=opt), store).run_id
        for opt in ("sgd", "adam")
    ]
    with pytest.raises(DataError):
        run_experiment(make_config("image", "mlp", data="/no/such/folder", epochs=1), store)
    failed = next(r["id"] for r in store.list() if r["status"] == "failed")
    return store, ids, failed


def table(at: AppTest, column: str | None = None, row: str | None = None):
    """The dataframe or table with this column or row label (AppTest finds them by position, not key)."""
    return next(d.value for d in [*at.dataframe, *at.table] if column in d.value.columns or row in d.value.index)


def open_runs(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params or {})
    at.run()
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception, at.exception
    return at


def test_an_empty_store_says_how_to_start():
    at = open_page("app_pages/runs.py")
    assert any("No runs yet" in i.value for i in at.info)


def test_filter_and_sort(runs):
    store, (sgd, adam), failed = runs
    at = open_runs()
    assert "3 of 3 runs" in [c.value for c in at.caption]
    assert list(at.dataframe[0].value["run"]) == [failed, adam, sgd]  # newest first
    at.multiselect(key="runs_status").set_value(["failed"]).run()
    assert "1 of 3 runs" in [c.value for c in at.caption]
    table = at.dataframe[0].value
    assert "/no/such/folder" in table["why it failed"].iloc[0]  # a failed run says why
    at.multiselect(key="runs_status").set_value([]).run()
    at.selectbox(key="runs_sort").select("oldest").run()
    assert list(at.dataframe[0].value["run"]) == [sgd, adam, failed]
    at.text_input(key="runs_search").input(adam[-4:]).run()
    assert list(at.dataframe[0].value["run"]) == [adam]
    assert at.query_params["search"] == adam[-4:]  # the filters are in the URL too


def test_compare_two_runs_side_by_side(runs):
    store, (sgd, adam), _ = runs
    at = open_runs()
    at.multiselect(key="runs_selected").set_value([sgd, adam]).run()
    assert not at.exception
    assert "Comparing 2 runs" in [s.value for s in at.subheader]
    metrics = table(at, row="Test accuracy")
    assert "Test accuracy" in metrics.index and metrics.shape[1] == 2
    settings = table(at, row="optimizer")
    assert list(settings.index) == ["optimizer"]  # only what differs
    assert list(settings.loc["optimizer"]) == ["sgd", "adam"]
    assert any("--optimizer sgd" in c.value for c in at.code)  # the first run is the one acted on


def test_a_link_with_selected_runs_opens_the_comparison(runs):
    _, (sgd, adam), _ = runs
    at = open_runs({"selected": [sgd, adam, "no-such-run"]})
    assert at.multiselect(key="runs_selected").value == [sgd, adam]
    assert "Comparing 2 runs" in [s.value for s in at.subheader]


def test_one_run_exports_checked_files_and_can_be_deleted(runs):
    store, (sgd, adam), _ = runs
    at = open_runs({"selected": adam})
    assert any(m.value.startswith("Results · mlp on digits") for m in at.subheader)
    command = next(c.value for c in at.code)
    assert command.startswith("python -m core train image --model mlp --dataset digits") and "--seed 0" in command
    assert "--epochs 1" in command
    assert "--optimizer" not in command  # adam is mlp's own default: no flag needed
    at.button(key="runs_export_btn").click().run()
    assert not at.exception
    checks = table(at, column="verdict")
    assert list(checks["format"]) == ["onnx", "torchscript"]
    assert list(checks["verdict"]) == ["✓ matches", "✓ matches"]
    assert (store.run_dir(adam) / "model.onnx").exists()
    at.button(key="runs_delete_btn").click().run()
    assert not at.exception
    assert store.get(adam) is None and not store.run_dir(adam).exists()
    assert at.multiselect(key="runs_selected").value == []


def test_recommendation_runs_show_ranking_metrics_and_compare():
    store = RunStore(runs_dir())
    pop, mf = (
        run_experiment(make_config("recsys", model, epochs=1, max_batches=2), store).run_id for model in ("pop", "mf")
    )
    at = open_runs({"selected": mf})
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    assert {"NDCG@10", "Recall@10", "RMSE", "Parameters"} <= set(shown)
    assert float(shown["NDCG@10"]) == round(store.get(mf)["metrics"]["ndcg@10"], 3)
    listed = at.dataframe[0].value.set_index("run")
    assert "ndcg@10" in listed.columns and "accuracy" not in listed.columns
    assert listed.loc[mf, "optimizer"] == "adam" and pd.isna(listed.loc[pop, "optimizer"])  # pop has none
    assert any(c.value.startswith("python -m core train recsys --model mf") for c in at.code)
    at.multiselect(key="runs_selected").set_value([pop, mf]).run()
    assert not at.exception
    metrics = table(at, row="NDCG@10")
    assert list(metrics.columns) == ["model pop", "model mf"] and "Test accuracy" not in metrics.index
    assert list(table(at, row="model").loc["model"]) == ["pop", "mf"]
    assert any("Will this user like it" in c.value for c in at.caption)  # mf's rating view has a confusion matrix


def test_the_page_lists_every_hosts_runs_from_a_shared_postgresql_store(tmp_path, postgres_cluster, monkeypatch):
    """Two CLI users' runs (two folders, one PostgreSQL store); the app server names the store by DLSTUDIO_DB_URL
    (docs/serving_team.md)."""
    url = postgres_cluster.url()
    made = []
    for host in ("laptop", "workstation"):
        store = RunStore(tmp_path / host, db_url=url)
        made.append(store.create("image", RunConfig(task="image", model="mlp", dataset="digits")))
        store.finish(made[-1], "finished", {"accuracy": 0.9}, {}, 1.0)
    monkeypatch.setenv("DLSTUDIO_DB_URL", url)
    at = open_runs()
    assert sorted(at.dataframe[0].value["run"]) == sorted(made)
