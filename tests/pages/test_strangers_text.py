"""Text from strangers is shown as text: class folders, file names, item titles and URL values that hold markdown or
HTML reach every page as typed, never as a link, an image (a request to someone's host) or a tag."""

import re

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.store import RunStore
from tests.support.apptest import APP, open_tab, rerun_until
from ui.services import runs_dir
from ui.text import plain

# Folder names cannot hold "/": `https:host` is how a slashless link still passes as one.
IMAGE = "![EVIL](https:EVIL.host)"
LINK = "[EVIL click](http:EVIL.host)"
TAG = "<img src=EVIL.png onerror=EVIL>"
# What a renderer would turn into a request or a link, in the bodies the browser gets.
FORMS = re.compile(r"(?<!\\)!(?<!\\)\[|(?<!\\)\]\(|(?<!\\)<[a-zA-Z/!]|(?<![\\])https?:(?!\\)|www\.EVIL")


def bodies(at: AppTest) -> list[str]:
    """Every string this run of the page rendered as markdown: text elements, labels, options, captions."""
    out = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title", "header", "subheader"):
        out += [e.value for e in getattr(at, kind)]
    for node in at._tree:  # widgets and containers: their labels and options (radio options are markdown)
        out += _labels(node)
    return out


def _labels(node) -> list[str]:
    out = [str(getattr(node, a)) for a in ("label", "help") if isinstance(getattr(node, a, None), str)]
    out += [str(o) for o in getattr(node, "options", None) or [] if getattr(node, "type", "") == "radio"]
    if getattr(node, "type", "") == "image":  # st.image captions are markdown too
        out += [image.caption for image in node.proto.imgs]
    for child in getattr(node, "children", {}).values():
        out += _labels(child)
    return out


def assert_shown_as_text(at: AppTest, expect: int = 1) -> None:
    assert not at.exception, at.exception
    shown = [b for b in bodies(at) if "EVIL" in b]
    assert len(shown) >= expect, bodies(at)  # the hostile text does reach the page ...
    leaks = [b for b in shown if FORMS.search(b)]
    assert not leaks, leaks  # ... as text


def image_set(root, classes, n=6):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / c / f"{TAG}{i}.png")
    return root


def open_link(page: str, params: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    at.run()
    at.switch_page(page).run()
    return at


def test_plain_escapes_every_form_and_keeps_the_text():
    for text in (IMAGE, LINK, TAG, "https://EVIL.host/x www.EVIL.host _silence_ $x$ :red[x] _https://EVIL.host"):
        assert not FORMS.search(plain(text))
        assert re.sub(r"\\(.)", r"\1", plain(text)) == text  # what the reader sees is what was typed
    assert plain("bad.csv: missing column(s) rating") == "bad.csv: missing column(s) rating"  # prose stays prose


def test_class_and_file_names_from_a_folder_are_text_in_the_preview_and_on_the_runs_page(tmp_path):
    root = image_set(tmp_path / IMAGE, [IMAGE, LINK])
    at = open_link("app_pages/image.py", {"dataset": "your own (.zip or folder)", "folder": str(root)})
    assert_shown_as_text(at, expect=2)  # preview captions, class names, split note
    store = RunStore(runs_dir())
    run = run_experiment(make_config("image", "mlp", data=str(root), epochs=1, max_batches=1), store).run_id
    other = run_experiment(make_config("image", "logreg", data=str(root)), store).run_id
    at = open_link("app_pages/runs.py", {"selected": run})
    assert_shown_as_text(at)  # the results panel of a run on that folder, for any visitor
    at = open_link("app_pages/runs.py", {"selected": [run, other]})
    assert_shown_as_text(at)  # compared side by side
    assert_shown_as_text(open_link("app_pages/home.py", {}))


def test_word_and_clip_names_from_a_speech_folder_are_text(tmp_path):
    import wave

    root = tmp_path / "words"
    for word in (IMAGE, LINK):
        (root / word).mkdir(parents=True)
        for i in range(6):
            with wave.open(str(root / word / f"{TAG}{i}.wav"), "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
                w.writeframes((np.sin(np.arange(1600) * (0.1 + i / 50)) * 8000).astype(np.int16).tobytes())
    at = open_link("app_pages/speech.py", {"dataset": "your own (.zip or folder)", "folder": str(root)})
    assert_shown_as_text(at, expect=1)  # the classes caption, the split note


def test_an_empty_class_folder_and_a_bad_file_are_named_as_text(tmp_path):
    root = image_set(tmp_path / "set", ["good", "fine"])
    (root / LINK).mkdir()
    at = open_link("app_pages/image.py", {"dataset": "your own (.zip or folder)", "folder": str(root)})
    assert_shown_as_text(at)
    (root / LINK / f"{IMAGE}.png").write_bytes(b"not a picture")
    at = open_link("app_pages/image.py", {"dataset": "your own (.zip or folder)", "folder": str(root)})
    assert_shown_as_text(at)


def test_a_shared_link_cannot_inject_markdown_into_an_error():
    for value in ("![x](http://EVIL.host/leak.png)", "[text](https://EVIL.host)", "<img src=https://EVIL.host>"):
        at = open_link("app_pages/image.py", {"dataset": "your own (.zip or folder)", "folder": value})
        assert_shown_as_text(at)


def test_a_failed_run_names_its_file_as_text(tmp_path):
    root = image_set(tmp_path / "set", ["good", "fine"])
    (root / "good" / f"{IMAGE}.png").write_bytes(b"not a picture")
    store = RunStore(runs_dir())
    with pytest.raises(ValueError):
        run_experiment(make_config("image", "mlp", data=str(root), epochs=1), store)
    failed = next(r["id"] for r in store.list() if r["status"] == "failed")
    assert_shown_as_text(open_link("app_pages/runs.py", {"selected": failed}))


def test_item_titles_and_genres_from_an_items_file_are_text_for_a_new_visitor(tmp_path):
    folder = tmp_path / "films"
    folder.mkdir()
    rows = [f"{u},{i},{1 + (u + i) % 5}" for u in range(1, 21) for i in range(1, 16) if (u + i) % 3]
    (folder / "ratings.csv").write_text("user,item,rating\n" + "\n".join(rows) + "\n")
    items = [f'{i},"{IMAGE if i % 2 else LINK} {i}",{TAG}|Drama' for i in range(1, 16)]
    (folder / "items.csv").write_text("item,title,genres\n" + "\n".join(items) + "\n")
    at = open_link("app_pages/recsys.py", {})
    at.selectbox(key="recsys_dataset").select("your own (CSV/TSV of ratings)").run()
    at.text_input(key="recsys_folder").input(str(folder)).run()
    at.selectbox(key="recsys_model").select("pop").run()
    at.button(key="recsys_train_btn").click().run()
    at = rerun_until(at, lambda at: any(m.label == "NDCG@10" for m in at.metric), timeout=90)
    open_tab(at, "recsys", "New visitor")
    assert_shown_as_text(at, expect=12)  # a title and its genres in each of the 12 cards


def test_figures_show_class_names_and_titles_as_text():
    """Plotly renders `<a href>`, `<b>`… in tick labels, legends and hover text: a class folder could form a link."""
    import json

    import pandas as pd

    from core.views.charts import (
        class_activations_figure,
        confusion_matrix_figure,
        curves_figure,
        item_map_figure,
        probability_bar_figure,
    )

    anchor = "<a href=https:EVIL.host>EVIL</a>"
    names = [anchor, "b"]
    items = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0], "title": names, "genre": names, "interactions": [1, 2]})
    figures = [
        confusion_matrix_figure([[1, 0], [0, 1]], names),
        probability_bar_figure(np.array([0.6, 0.4]), names),
        class_activations_figure(np.ones((2, 3)), names),
        curves_figure({anchor: [{"epoch": 1, "train_loss": 1.0}], "b": [{"epoch": 1, "train_loss": 2.0}]}),
        item_map_figure(items),
    ]
    for fig in figures:
        fig.for_each_trace(lambda t: t.update(legendgroup=None))  # an id that groups traces, never drawn
        shown = json.dumps(fig.to_plotly_json(), ensure_ascii=False)
        assert "&lt;a href=https:EVIL.host&gt;EVIL&lt;/a&gt;" in shown and "<a " not in shown
