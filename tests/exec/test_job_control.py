"""Every job can be stopped from anywhere, a session cannot queue without bound, and page settings have limits."""

import pytest

from core.exec.jobs import MAX_ACTIVE
from core.run.config import make_config
from tests.support.apptest import open_page
from tests.support.waiting import wait_for
from ui.services import get_jobs, get_store


def long_config():
    """Runs until stopped (500 epochs of small batches)."""
    return make_config("image", "mlp", epochs=500, batch_size=8, device="cpu")


@pytest.fixture
def jobs():
    manager = get_jobs()
    yield manager
    for job in manager.jobs(active_only=True):
        manager.stop(job.id)
    for job in manager.jobs():
        manager.wait(job.id, timeout=60)


def test_a_session_cannot_queue_more_than_its_share(jobs):
    submitted = [jobs.submit(long_config(), owner="alice") for _ in range(MAX_ACTIVE)]
    with pytest.raises(ValueError, match=f"at most {MAX_ACTIVE}"):
        jobs.submit(long_config(), owner="alice")
    other = jobs.submit(make_config("image", "mlp", epochs=1, max_batches=1), owner="bob")  # others are not blocked
    jobs.stop(submitted[0].id)
    wait_for(lambda: jobs.get(submitted[0].id).done)
    jobs.submit(long_config(), owner="alice")  # a stopped job frees its place
    assert other.owner == "bob"


def test_the_page_refuses_a_train_click_beyond_the_limit_with_a_message(jobs):
    for _ in range(MAX_ACTIVE):
        jobs.submit(long_config(), owner="someone")
    at = open_page("app_pages/image.py")
    at.session_state["session_id"] = "someone"
    at.button(key="image_train_btn").click().run()
    assert not at.exception
    assert any("already queued or running" in e.value for e in at.error)


def test_the_epoch_widget_stops_at_the_run_configs_upper_bound():
    at = open_page("app_pages/image.py")
    assert at.number_input(key="image_epochs").max == 500
    assert at.number_input(key="image_lr").min == pytest.approx(1e-6)


def test_the_sidebar_stops_any_running_job_even_after_a_reload(jobs):
    job = jobs.submit(long_config(), label="image/mlp", owner="a tab that was reloaded")
    wait_for(lambda: jobs.get(job.id).status == "running")
    at = open_page()  # a fresh session: not the one that started the job
    stop = at.sidebar.button(key=f"sidebar_stop_{job.id}_btn")
    stop.click().run()
    wait_for(lambda: jobs.get(job.id).done)
    assert jobs.get(job.id).status == "stopped"


def test_the_runs_page_stops_a_running_run(jobs):
    job = jobs.submit(long_config(), owner="elsewhere")
    wait_for(lambda: get_store().get(job.run_id)["status"] == "running")
    at = open_page()
    at.query_params["selected"] = job.run_id
    at.switch_page("app_pages/runs.py").run()
    at.button(key="runs_stop_btn").click().run()
    assert not at.exception
    wait_for(lambda: get_store().get(job.run_id)["status"] == "stopped")


def test_the_sidebar_lists_this_sessions_jobs_first_and_counts_the_rest(jobs):
    shown = 4  # app.py's SIDEBAR_JOBS (app.py is the script itself: not imported here)
    others = [jobs.submit(long_config(), label=f"image/mlp #{i}", owner="elsewhere", limit=99) for i in range(5)]
    mine = jobs.submit(long_config(), label="image/mlp (mine)", owner="me")
    at = open_page()
    at.session_state["session_id"] = "me"
    at.run()
    buttons = [b.key for b in at.sidebar.button if b.key.startswith("sidebar_stop_")]
    assert len(buttons) == shown and buttons[0] == f"sidebar_stop_{mine.id}_btn"
    assert any(f"and {len(others) + 1 - shown} more" in c.value for c in at.sidebar.caption)


def test_a_stop_button_that_leaves_the_sidebar_and_comes_back_is_never_written_back(jobs):
    """The settings keeper copied button keys and put them back: a job pushed out of the sidebar's first four
    and back crashed it with "st.session_state['sidebar_stop_N'] is read-only"."""
    others = [jobs.submit(long_config(), label=f"image/mlp #{i}", owner="elsewhere", limit=99) for i in range(4)]
    at = open_page("app_pages/image.py")  # a page whose settings are kept
    at.session_state["session_id"] = "me"
    at.run()
    last = [b.key for b in at.sidebar.button][-1]
    assert last == f"sidebar_stop_{others[-1].id}_btn"  # the fourth job's Stop is shown ...
    mine = jobs.submit(long_config(), label="image/mlp (mine)", owner="me")
    at.run()  # ... then not (this session's job comes first) ...
    assert last not in [b.key for b in at.sidebar.button]
    jobs.stop(mine.id)
    wait_for(lambda: jobs.get(mine.id).done)
    at.run()  # ... and again: the keeper must not have put its key back
    assert not at.exception, at.exception
    assert last in [b.key for b in at.sidebar.button]


def test_every_button_key_ends_in_btn_so_the_settings_keeper_leaves_it_alone():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path in [root / "app.py", *(root / "ui").glob("*.py"), *(root / "app_pages").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "").endswith("button"):
                key = next((k.value for k in node.keywords if k.arg == "key"), None)
                if key is None:
                    continue
                text = ast.unparse(key)
                assert text.rstrip("'\"").endswith("_btn"), f"{path.name}: key={text}"


def test_reloading_starts_no_fresh_allowance_the_address_and_the_whole_queue_are_bounded(jobs, monkeypatch):
    from core.lab.whatif import expand, submit_race

    monkeypatch.setattr(jobs, "max_per_client", 5)
    monkeypatch.setattr(jobs, "max_jobs", 7)
    for session in ("tab", "reloaded tab"):  # each reload is a new session with its own MAX_ACTIVE ...
        for _ in range(2):
            jobs.submit(long_config(), owner=session, client="10.0.0.9")
    jobs.submit(long_config(), owner="third reload", client="10.0.0.9")
    with pytest.raises(ValueError, match=r"^5 jobs from your address are already queued or running \(at most 5\) "
                       r"\(DLSTUDIO_MAX_JOBS_PER_CLIENT\)"):  # fmt: skip
        jobs.submit(long_config(), owner="fourth reload", client="10.0.0.9")  # ... but the address is the same
    plan = expand(make_config("image", "mlp", epochs=500, batch_size=8), {"optimizer": ["sgd", "adam"]}, 2)
    before = len(jobs.jobs())
    with pytest.raises(ValueError, match=r"^5 jobs in all are already queued or running \(4 more would pass the "
                       r"limit of 7\) \(DLSTUDIO_MAX_JOBS\): the training queue is full"):  # fmt: skip
        submit_race(plan, "image", jobs, owner="someone else", limit=99, client="10.0.0.10")
    assert len(jobs.jobs()) == before  # a race that does not fit queues none of its runs
    jobs.submit(long_config(), owner="someone else", client="10.0.0.10")


def test_the_page_says_the_queue_is_full(jobs, monkeypatch):
    monkeypatch.setattr(jobs, "max_jobs", 1)
    jobs.submit(long_config(), owner="a stranger", client="10.0.0.7")
    at = open_page("app_pages/image.py")
    at.button(key="image_train_btn").click().run()
    assert not at.exception
    assert any("the training queue is full" in e.value for e in at.error), [e.value for e in at.error]
