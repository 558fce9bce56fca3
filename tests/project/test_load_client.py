"""The protocol load client (benchmarks/load.py): a page's state and its rerun timings from a recorded stream."""

import asyncio
import math

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput

from benchmarks.load import PageState, Session, replay, rerun_timings

DATASET, WIDTH, DROPOUT, BN, TRAIN = (f"$$ID-{i}abc-image_{k}" for i, k in
                                      enumerate(["dataset", "cnn_bn_width", "cnn_bn_dropout", "cnn_bn_batch_norm",
                                                 "train_btn"]))  # fmt: skip


def new_session(run: str, *fragments: str) -> ForwardMsg:
    msg = ForwardMsg()
    msg.new_session.main_script_hash = "main"
    msg.new_session.initialize.session_id = "session-1"
    msg.metadata.run.script_run_id = run
    msg.metadata.run.fragment_ids.extend(fragments)
    return msg


def finished(run: str, status=ForwardMsg.FINISHED_SUCCESSFULLY, *fragments: str) -> ForwardMsg:
    msg = ForwardMsg(script_finished=status)
    msg.metadata.run.script_run_id = run
    msg.metadata.run.fragment_ids.extend(fragments)
    return msg


def page_run(run: str, dataset: str = "digits") -> list[ForwardMsg]:
    """A full run of the image page as the server sends it: the widgets the page drew, a fragment timer."""
    nav = ForwardMsg()
    nav.navigation.page_script_hash = "image-page"
    deltas = []
    for kind, fill in [
        ("selectbox", lambda w: (w.options.extend(["digits", "faces"]), setattr(w, "raw_value", dataset))),
        ("number_input", lambda w: (setattr(w, "data_type", NumberInput.INT), setattr(w, "value", 32))),
        ("number_input", lambda w: (setattr(w, "data_type", NumberInput.FLOAT), setattr(w, "value", 0.2))),
        ("checkbox", lambda w: setattr(w, "value", True)),
        ("button", lambda w: None),
    ]:
        msg = ForwardMsg()
        w = getattr(msg.delta.new_element, kind)
        w.id = [DATASET, WIDTH, DROPOUT, BN, TRAIN][len(deltas)]
        fill(w)
        if kind != "button":
            w.set_value = True
        deltas.append(msg)
    timer = ForwardMsg()
    timer.auto_rerun.fragment_id, timer.auto_rerun.interval = "live", 1.0
    return [new_session(run), nav, *deltas, timer, finished(run)]


def frames(*items) -> list[tuple[float, bool, bytes]]:
    """(time, message) pairs -> recorded websocket frames (a BackMsg is one the page sent)."""
    return [(t, isinstance(m, BackMsg), m.SerializeToString()) for t, m in items]


def test_the_page_sends_the_widget_states_the_browser_sends():
    page = replay(frames(*[(1.0, m) for m in page_run("a")]), "image")
    msg = page.rerun_request("http://host:1", triggers=("image_train_btn",)).rerun_script
    values = {
        w.id: w.WhichOneof("value") + "=" + str(getattr(w, w.WhichOneof("value"))) for w in msg.widget_states.widgets
    }
    # as Chromium sent them for the image page (recorded on 2026-12-03): the selectbox's option as a string, an
    # integer input as int_value, a float one as double_value; a button only when clicked, as a trigger
    assert values == {DATASET: "string_value=digits", WIDTH: "int_value=32", DROPOUT: "double_value=0.2",
                      BN: "bool_value=True", TRAIN: "trigger_value=True"}  # fmt: skip
    assert msg.page_script_hash == "image-page" and not msg.fragment_id and page.session_id == "session-1"
    assert page.auto_reruns == {"live": 1.0}
    tick = page.rerun_request("http://host:1", "live").rerun_script
    assert (tick.fragment_id, tick.is_auto_rerun) == ("live", True)
    assert TRAIN not in {w.id for w in tick.widget_states.widgets}


def test_a_widget_not_drawn_by_a_full_run_is_forgotten_and_a_fragment_run_keeps_them():
    page = replay(frames(*[(1.0, m) for m in page_run("a")]), "image")
    for t, m in enumerate(
        [new_session("f", "live"), finished("f", ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY, "live")]
    ):
        page.receive(m, 2.0 + t)
    assert len(page.widgets) == 4 and page.auto_reruns == {"live": 1.0}
    page.receive(new_session("b"), 5.0)
    assert page.auto_reruns == {}  # a full run starts the timers afresh, as the front end does
    page.receive(finished("b"), 5.1)
    assert page.widgets == {}


def test_big_messages_are_remembered_for_two_runs_and_references_resolve():
    page = PageState("image")
    big = page_run("a")[2]
    big.hash, big.metadata.cacheable = "h1", True
    page.receive(big, 1.0)
    ref = ForwardMsg(ref_hash="h1")
    page.receive(ref, 1.1)
    assert list(page.rerun_request("http://host:1").rerun_script.cached_message_hashes) == ["h1"]
    for run in "abc":
        page.receive(finished(run), 2.0)
    assert page.cache == {}


def test_the_page_fetches_the_images_it_shows():
    page = PageState("image")
    msg = ForwardMsg()
    msg.delta.new_element.imgs.imgs.add(url="/media/a.png")
    msg.delta.new_element.imgs.imgs.add(url="data:image/png;base64,AAAA")  # inline: nothing to fetch
    page.receive(msg, 1.0)
    assert page.media == ["/media/a.png"]


def test_rerun_timings_from_a_recorded_stream():
    ask = PageState("image").rerun_request("http://host:1")
    ask.rerun_script.page_script_hash = "image-page"
    stream = frames(
        (0.0, PageState("image").rerun_request("http://host:1")),  # the first load: no page hash yet
        *[(0.5, m) for m in page_run("load")],
        (10.0, ask),  # answered by the run that began after it
        (10.05, new_session("r1")),
        (10.3, finished("r1")),
        (19.9, new_session("early")),  # began before the next ask: its end does not answer it
        (20.0, ask),
        (20.1, finished("early")),
        (20.2, new_session("cut")),  # interrupted by a newer request: no answer either
        (20.3, finished("cut", ForwardMsg.FINISHED_EARLY_FOR_RERUN)),
        (20.4, new_session("frag", "live")),  # a fragment's run is not a page rerun
        (20.5, finished("frag", ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY, "live")),
        (20.6, new_session("r2")),
        (20.9, finished("r2")),
        (30.0, ask),  # never answered
        (30.1, new_session("r3")),
    )
    timings = rerun_timings(replay(stream, "image").events)
    assert [t.label for t in timings] == ["load", "change", "change", "change"]
    assert [round(t.seconds, 3) for t in timings[1:3]] == [0.3, 0.9]
    assert math.isinf(timings[3].seconds)
    assert timings[0].seconds == pytest.approx(0.5)


def test_an_answer_later_than_the_timeout_counts_as_lost():
    events = [(0.0, "ask", "change"), (0.1, "start", "r"), (70.0, "finish", "r")]
    assert math.isinf(rerun_timings(events, timeout=60)[0].seconds)


@pytest.mark.slow
def test_a_served_app_answers_a_rerun_request(tmp_path):
    """One simulated session against the real server: the page loads, a dataset switch gets its script_finished."""
    from benchmarks.browser import serve_app

    async def person(session: Session) -> None:
        assert math.isfinite(await session.rerun("load"))
        assert "image_dataset" in session.page.ids and session.page.auto_reruns
        session.switch_dataset()
        assert math.isfinite(await session.rerun("change"))

    with serve_app(tmp_path) as url:
        session = Session(url, "image", "dataset=digits")
        asyncio.run(session.run(person))
    assert [t.label for t in rerun_timings(session.page.events)] == ["load", "change"]
    assert session.page.widgets[session.page.ids["image_dataset"]].string_value == "faces"
