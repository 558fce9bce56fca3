"""Home's gallery: the best run of each demo with its number, model, validation curve and a link to its results."""

import os

from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.store import RunStore
from tests.support.apptest import open_page


def test_the_best_run_of_a_demo_is_shown_with_its_curve_and_a_link_to_its_results():
    store = RunStore(os.environ["DLSTUDIO_RUNS"])
    weak = run_experiment(make_config("image", "mlp", dataset="digits", epochs=1, lr=1e-4, min_steps=0), store)
    best = run_experiment(make_config("image", "mlp", dataset="digits", epochs=4, min_steps=0), store)
    assert best.metrics["accuracy"] > weak.metrics["accuracy"]
    at = open_page()
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Best by validation · Test accuracy"] == f"{best.metrics['accuracy']:.2%}"
    assert any(c.value == "**mlp** on digits" for c in at.caption)
    assert best.run_id in next(m.help for m in at.metric if m.label.startswith("Best by validation"))
    assert any("validation accuracy over 4 epochs" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 1  # the sparkline (the other demos have no runs yet)
    links = [(link.proto.page, link.proto.query_string) for link in at.get("page_link")]
    assert any(page.endswith("runs") and query == f"selected={best.run_id}" for page, query in links), links
    at.switch_page("app_pages/runs.py")
    at.query_params["selected"] = best.run_id
    at.run()
    assert not at.exception
    assert at.multiselect(key="runs_selected").value == [best.run_id]


def test_the_gallery_picks_by_validation_and_shows_the_test_score():
    # issue 18 item 11: the highest test score of 200 runs is a maximum picked on the test split (biased upward)
    from core.views.runs import pick_by_validation

    runs = [
        {"id": "lucky", "task": "image", "metrics": {"accuracy": 0.99}, "details": {}},
        {"id": "good", "task": "image", "metrics": {"accuracy": 0.95}, "details": {"best_epoch": 2}},
        {"id": "closed", "task": "image", "metrics": {"accuracy": 0.90}, "details": {}},
    ]
    histories = {
        "lucky": [{"epoch": 1, "val_accuracy": 0.80}],
        "good": [
            {"epoch": 1, "val_accuracy": 0.85},
            {"epoch": 2, "val_accuracy": 0.91},
            {"epoch": 3, "val_accuracy": 0.7},
        ],
        "closed": [],
    }
    best, how = pick_by_validation(runs, histories.get)
    assert best["id"] == "good" and how == "validation"  # its kept epoch (2) scored 0.91 on validation
    best, how = pick_by_validation(runs[2:], histories.get)
    assert best["id"] == "closed" and how == "test"  # no validation score anywhere: labelled as the test maximum
