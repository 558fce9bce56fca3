"""AppTest: the what-if lab's Tune section searches in the background, shows its trials and tests the best once."""

from core.run.store import RunStore
from tests.support.apptest import open_page, rerun_until
from ui.services import runs_dir


def test_the_tune_section_offers_the_models_settings_with_their_ranges():
    at = open_page("app_pages/whatif.py")
    assert at.multiselect(key="whatif_tune_settings").value == ["lr", "batch_norm"]
    assert at.text_input(key="whatif_tune_range_lr").value == "0.0001:0.01:log"
    assert at.text_input(key="whatif_tune_range_batch_norm").value == "on,off"
    at.text_input(key="whatif_tune_range_lr").input("0:1").run()  # outside the learning rate's range
    assert any("outside" in w.value for w in at.warning)
    assert at.button(key="whatif_tune_btn").disabled


def test_tune_runs_trials_and_tests_the_best_once():
    at = open_page("app_pages/whatif.py")
    at.selectbox(key="whatif_model").select("mlp").run()
    at.number_input(key="whatif_epochs").set_value(2).run()
    assert at.multiselect(key="whatif_tune_settings").value == ["lr"]  # mlp has no batch norm switch
    at.number_input(key="whatif_tune_trials").set_value(2).run()
    at.button(key="whatif_tune_btn").click().run()
    assert not at.exception
    rerun_until(at, lambda a: any(s.value.startswith("Best: trial") for s in a.success), timeout=240)
    trials = next(d.value for d in at.dataframe if "trial" in d.value.columns)
    assert len(trials) == 2 and set(trials["state"]) <= {"finished", "pruned"}
    runs = RunStore(runs_dir()).list()
    tested = [r for r in runs if "accuracy" in r["metrics"]]
    assert len(runs) == 3 and len(tested) == 1  # two trials on validation, the best trained again and tested
    assert at.query_params["tune_trials"] == "2" and at.query_params["tune_settings"] in ("lr", ["lr"])
    at.switch_page("app_pages/runs.py").run()  # the trials (validation only, no test numbers) list with the rest
    assert not at.exception, at.exception
