"""AppTest: app.py, the home page and the image page, end to end through the page script."""

import os
from pathlib import Path

import pytest

from tests.support.apptest import has_confusion_matrix, open_page, rerun_until

PAGES = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "app_pages").glob("*.py"))


def test_home_presents_the_demos_and_the_device():
    at = open_page()
    shown = {m.label: m.value for m in at.metric}
    assert shown["CPU"] == f"{os.cpu_count()} cores" and "CUDA" in shown
    assert any("Image recognition" in m.value for m in at.markdown)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_without_an_exception(page):
    open_page(f"app_pages/{page}")


def test_training_the_default_image_configuration_shows_results():
    at = open_page("app_pages/image.py")
    assert at.selectbox(key="image_dataset").value == "digits"
    at.number_input(key="image_epochs").set_value(3).run()
    at.button(key="image_train_btn").click().run()
    rerun_until(at, has_confusion_matrix)
    labels = [m.label for m in at.metric]
    assert {"Test accuracy", "Macro-F1", "Parameters", "Size", "Latency"} <= set(labels)
    accuracy = float(next(m.value for m in at.metric if m.label == "Test accuracy").rstrip("%")) / 100
    assert accuracy > 0.8
    report = at.dataframe[0].value
    assert list(report.columns) == ["precision", "recall", "f1-score", "support"]
    assert "macro avg" in report.index
    # leaving the page and coming back keeps the finished result
    at.switch_page("app_pages/home.py").run()
    at.switch_page("app_pages/image.py").run()
    assert has_confusion_matrix(at)
    assert at.number_input(key="image_epochs").value == 3


def test_a_new_training_hides_the_last_result_until_it_is_done():
    at = open_page("app_pages/image.py")
    at.selectbox(key="image_model").select("logreg").run()
    at.button(key="image_train_btn").click().run()
    rerun_until(at, has_confusion_matrix)
    at.selectbox(key="image_model").select("mlp").run()
    at.number_input(key="image_epochs").set_value(400).run()
    at.button(key="image_train_btn").click().run()
    at.number_input(key="image_seed").set_value(1).run()  # any other widget: a full rerun
    assert not has_confusion_matrix(at)  # the logreg results do not come back under the live mlp run
    at.button(key="image_stop_btn").click().run()
    rerun_until(at, has_confusion_matrix)


def test_model_change_loads_its_recommended_settings():
    at = open_page("app_pages/image.py")
    at.selectbox(key="image_model").select("resnet").run()
    from core.models import get_spec

    assert at.number_input(key="image_epochs").value == get_spec("image", "resnet").defaults["epochs"]


def test_a_bad_folder_shows_a_clear_error(tmp_path):
    at = open_page("app_pages/image.py")
    at.selectbox(key="image_dataset").select("your own (.zip or folder)").run()
    (tmp_path / "mine" / "only").mkdir(parents=True)
    (tmp_path / "mine" / "only" / "a.png").write_bytes(b"not a png")
    at.text_input(key="image_folder").input(str(tmp_path / "mine")).run()
    assert not at.exception
    assert any("needs at least two class subfolders" in e.value for e in at.error)
    assert at.button(key="image_train_btn").disabled


@pytest.mark.parametrize("task", ["image", "speech", "recsys"])
def test_the_train_button_with_the_pages_defaults_trains_what_the_cli_trains_without_flags(task):
    """Pressing Train with every default = `python -m core train TASK --seed 0` (make_config with nothing given)."""
    from core.run.config import make_config
    from ui.services import get_jobs

    at = open_page(f"app_pages/{task}.py")
    at.button(key=f"{task}_train_btn").click().run()
    assert not at.exception
    job = get_jobs().get(at.session_state[f"{task}_job"])
    get_jobs().stop(job.id)
    assert job.config == make_config(task, seed=0)


def test_a_model_change_brings_its_spec_into_every_widget():
    from core.models import get_spec

    at = open_page("app_pages/speech.py")
    at.selectbox(key="speech_model").select("kwt").run()
    spec = get_spec("speech", "kwt")
    assert at.number_input(key="speech_lr").value == spec.defaults["lr"]
    assert at.slider(key="speech_aug_shift").value == spec.augment["shift"]
    at.selectbox(key="speech_model").select("logreg").run()  # closed form: no training settings, no augmentation
    assert not at.number_input(key="speech_seed").disabled
    assert not [w for w in at.number_input if w.key == "speech_lr"]
    assert any("fitted in closed form" in c.value for c in at.caption)
