"""AppTest: the What-if lab races variants in the background and ends with a verdict; its setup lives in the URL."""

from streamlit.testing.v1 import AppTest

from core.lab.whatif import at_best_lr
from core.run.lr_search import OWN_LR_NOTE
from core.run.store import RunStore
from tests.support.apptest import APP, open_page, rerun_until
from ui.services import runs_dir


def open_with(params: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    at.run()
    at.switch_page("app_pages/whatif.py").run()
    assert not at.exception, at.exception
    return at


def markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_the_page_opens_with_a_race_ready_to_start():
    at = open_page("app_pages/whatif.py")
    assert at.selectbox(key="whatif_task").value == "image"
    assert at.selectbox(key="whatif_model").value == "cnn_bn"
    assert at.selectbox(key="whatif_axis1").value == "optimizer"
    assert at.multiselect(key="whatif_values_optimizer").value == ["sgd", "adam"]
    assert "**2 variants × 2 seed(s) = 4 runs**" in markdown(at)
    assert not at.button(key="whatif_race_btn").disabled


def test_two_axes_cross_and_architecture_switches_name_the_variants():
    at = open_page("app_pages/whatif.py")
    at.selectbox(key="whatif_axis1").select("batch_norm").run()
    at.selectbox(key="whatif_axis2").select("separable").run()
    at.number_input(key="whatif_seeds").set_value(1).run()
    assert not at.exception
    shown = markdown(at)
    assert "**4 variants × 1 seed(s) = 4 runs**" in shown
    assert "- no batch norm · separable convs" in shown and "- batch norm · standard convs" in shown


def test_racing_two_optimizers_ends_with_a_verdict_and_a_table():
    at = open_page("app_pages/whatif.py")
    at.selectbox(key="whatif_model").select("mlp").run()
    at.number_input(key="whatif_epochs").set_value(2).run()
    assert at.toggle(key="whatif_own_lr").value  # each variant at its own best learning rate, by default
    assert any("20 short runs more" in c.value for c in at.caption)
    at.button(key="whatif_race_btn").click().run()
    assert not at.exception
    # each run first tries 5 to 7 learning rates: twice the training of a race at one lr, on a busy machine
    rerun_until(at, lambda a: any(s.value == "Verdict" for s in a.subheader), timeout=240)
    summary = " ".join(m.value for m in [*at.success, *at.info])
    assert "won with accuracy" in summary and ("SGD at its best lr" in summary and "Adam at its best lr" in summary)
    assert any(c.value == OWN_LR_NOTE for c in at.caption)  # the one sentence beside the verdict
    table = at.dataframe[-1].value
    runs = RunStore(runs_dir()).list()
    chosen = {o: sorted({r["details"]["lr_search"]["chosen"] for r in runs if r["config"].optimizer == o})
              for o in ("sgd", "adam")}  # fmt: skip
    assert set(table["variant"]) == {at_best_lr("SGD", chosen["sgd"]), at_best_lr("Adam", chosen["adam"])}
    assert all(" at its best lr " in v for v in table["variant"]) and list(table["seeds"]) == ["2/2", "2/2"]
    assert table["accuracy"].between(0, 100).all()  # in percent
    assert len(runs) == 4 and {r["status"] for r in runs} == {"finished"}  # the search's short runs are no runs
    assert {r["config"].seed for r in runs} == {0, 1}
    assert all(r["config"].lr == r["details"]["lr_search"]["chosen"] for r in runs)
    assert at.query_params["values_optimizer"] == ["sgd", "adam"]


def test_same_learning_rate_for_all_is_a_switch():
    at = open_with({"model": "mlp", "epochs": "1", "seeds": "1", "own_lr": "false"})
    assert not at.toggle(key="whatif_own_lr").value
    assert not any("short runs" in c.value for c in at.caption)
    summary = race_to_verdict(at)
    assert "at its best lr" not in summary and not any(c.value == OWN_LR_NOTE for c in at.caption)
    table = at.dataframe[-1].value
    assert set(table["variant"]) == {"SGD", "Adam"}
    assert all(not r["details"].get("lr_search") for r in RunStore(runs_dir()).list())
    at.selectbox(key="whatif_axis1").select("lr").run()  # the race sets the lr itself: no switch to offer
    assert "whatif_own_lr" not in [t.key for t in at.toggle]


def test_a_shared_link_opens_the_same_setup_and_ignores_bad_values():
    at = open_with(
        {
            "model": "mlp",
            "epochs": "7",
            "lr": "not-a-number",
            "axis1": "lr",
            "values_lr": ["0.01", "0.001", "7"],
            "seeds": "3",
        }
    )
    assert at.selectbox(key="whatif_model").value == "mlp"
    assert at.number_input(key="whatif_epochs").value == 7
    assert at.selectbox(key="whatif_axis1").value == "lr"
    assert at.multiselect(key="whatif_values_lr").value == [0.01, 0.001]  # 7 is not a choice
    assert at.number_input(key="whatif_seeds").value == 3
    assert "**2 variants × 3 seed(s) = 6 runs**" in markdown(at)
    at.run()
    assert at.query_params["lr"] == "0.001"  # the bad value was replaced by the page's own setting
    assert at.query_params["values_lr"] == ["0.01", "0.001"]


def race_to_verdict(at: AppTest, timeout: float = 240) -> str:
    at.button(key="whatif_race_btn").click().run()
    assert not at.exception, at.exception
    rerun_until(at, lambda a: any(s.value == "Verdict" for s in a.subheader), timeout=timeout)
    return " ".join(m.value for m in [*at.success, *at.info])


def test_a_speech_race_is_judged_on_accuracy():
    # at one learning rate: judging on accuracy is the point here (the image race tests each at its own)
    at = open_with({"task": "speech", "model": "mlp", "epochs": "1", "seeds": "1", "axis1": "optimizer", "own_lr": "0"})
    assert at.selectbox(key="whatif_task").value == "speech"
    assert "**2 variants × 1 seed(s) = 2 runs**" in markdown(at)
    summary = race_to_verdict(at)
    assert "won with accuracy" in summary and "one seed" in summary
    table = at.dataframe[-1].value
    assert set(table["variant"]) == {"SGD", "Adam"} and table["accuracy"].between(0, 100).all()
    runs = RunStore(runs_dir()).list()
    assert {(r["task"], r["status"]) for r in runs} == {("speech", "finished")}


def test_a_recsys_race_is_judged_on_ndcg():
    at = open_with({"task": "recsys", "model": "pop", "seeds": "1", "axis1": "model"})
    assert at.selectbox(key="whatif_axis1").options == ["Model"]  # closed form: no optimizer, lr or batch size
    at.multiselect(key="whatif_values_model").set_value(["pop", "itemknn"]).run()
    summary = race_to_verdict(at)
    assert "won with NDCG@10 0." in summary and "one seed" in summary  # a plain number, not a percentage
    table = at.dataframe[-1].value
    assert set(table["variant"]) == {"pop", "itemknn"} and "accuracy" not in table
    assert table["ndcg@10"].between(0, 1).all() and table["± std"].isna().all()  # one seed: no spread
    assert any("No curve for pop, itemknn" in c.value for c in at.caption)  # no one-point "curves"
    assert {r["model"] for r in RunStore(runs_dir()).list()} == {"pop", "itemknn"}


def test_from_scratch_races_fine_tuned_from_a_saved_run():
    from core.run.config import make_config
    from core.run.experiment import run_experiment

    source = run_experiment(make_config("image", "mlp", epochs=1), RunStore(runs_dir())).run_id
    at = open_with({"model": "mlp", "epochs": "1", "seeds": "1", "axis1": "init_from"})
    assert at.multiselect(key="whatif_values_init_from").value == ["", source]
    summary = race_to_verdict(at)
    assert "from scratch" in summary and f"fine-tuned from run {source[-4:]}" in summary
    tuned = [r for r in RunStore(runs_dir()).list() if r["config"].init_from == source]
    assert len(tuned) == 1 and tuned[0]["status"] == "finished"
