"""AppTest: a copied link opens the image page and the What-if lab with the same setup in a fresh session."""

from streamlit.testing.v1 import AppTest

from tests.support.apptest import APP


def open_link(page: str, params: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_the_image_pages_url_round_trips_its_setup():
    at = open_link("app_pages/image.py", {"model": "cnn", "epochs": "4", "optimizer": "rmsprop", "lr": "0.003"})
    assert at.selectbox(key="image_model").value == "cnn"
    assert at.number_input(key="image_epochs").value == 4
    assert at.selectbox(key="image_optimizer").value == "rmsprop"
    assert at.number_input(key="image_lr").value == 0.003
    at.number_input(key="image_epochs").set_value(6).run()
    shared = {k: at.query_params[k] for k in ("model", "epochs", "optimizer", "lr")}
    assert shared == {"model": "cnn", "epochs": "6", "optimizer": "rmsprop", "lr": "0.003"}
    # the link, copied now, opens the same setup in another browser
    other = open_link("app_pages/image.py", shared)
    assert other.number_input(key="image_epochs").value == 6 and other.selectbox(key="image_model").value == "cnn"


def test_the_whatif_url_carries_task_axes_and_values_to_another_browser():
    at = open_link("app_pages/whatif.py", {})
    at.selectbox(key="whatif_task").select("speech").run()
    at.selectbox(key="whatif_axis1").select("attention").run()
    at.selectbox(key="whatif_axis2").select("optimizer").run()
    at.multiselect(key="whatif_values_optimizer").set_value(["momentum", "adamw"]).run()
    assert not at.exception
    params = {k: at.query_params[k] for k in ("task", "model", "axis1", "axis2", "values_optimizer", "seeds")}
    assert params["task"] == "speech" and params["values_optimizer"] == ["momentum", "adamw"]
    other = open_link("app_pages/whatif.py", params)
    assert other.selectbox(key="whatif_task").value == "speech"
    assert other.selectbox(key="whatif_axis1").value == "attention"
    assert other.multiselect(key="whatif_values_optimizer").value == ["momentum", "adamw"]
    assert "**4 variants × 2 seed(s) = 8 runs**" in [m.value for m in other.markdown]
