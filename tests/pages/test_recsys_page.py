"""AppTest: the Recommendation page, from data to the top-10 of a user and of a new visitor."""

import pytest

from tests.support.apptest import has_confusion_matrix, open_page, open_tab, rerun_until

PAGE = "app_pages/recsys.py"


def has_metric(label: str):
    return lambda at: any(m.label == label for m in at.metric)


def table_with(at, *columns: str):
    return next((d.value for d in at.dataframe if set(columns) <= set(getattr(d.value, "columns", []))), None)


def train(at, model: str | None = None, epochs: int | None = None):
    if model:
        at.selectbox(key="recsys_model").select(model).run()
    if epochs:
        at.number_input(key="recsys_epochs").set_value(epochs).run()
    at.button(key="recsys_train_btn").click().run()
    return rerun_until(at, has_metric("NDCG@10"), timeout=90)


def test_the_page_opens_on_the_bundled_movies():
    at = open_page(PAGE)
    assert at.selectbox(key="recsys_dataset").value == "movies"
    assert at.selectbox(key="recsys_model").options == ["pop", "itemknn", "ease", "mf", "bpr", "neumf", "sasrec"]
    assert any("943 users" in c.value for c in at.caption)
    assert any("keeps its latest row by timestamp" in c.value for c in at.caption)  # the duplicate rule
    assert not at.button(key="recsys_train_btn").disabled


def test_the_default_model_gives_ranking_metrics_a_users_top10_and_a_visitors():
    at = train(open_page(PAGE))
    labels = {m.label for m in at.metric}
    assert {"Precision@10", "Recall@10", "NDCG@10", "Hit rate@10", "MAP@10", "Coverage@10"} <= labels
    assert "RMSE" not in labels and not has_confusion_matrix(at)  # ease ranks; it does not predict ratings
    assert any("full ranking" in m.value and "80/10/10" in m.value for m in at.markdown)  # the protocol
    open_tab(at, "recsys", "For a user")
    top = table_with(at, "because you liked", "test")
    assert top is not None and len(top) == 10
    history = table_with(at, "split", "rating")
    assert history is not None and set(history["split"]) <= {"train", "val", "test"}
    open_tab(at, "recsys", "New visitor")
    assert any(i.value == "Rate at least one item to get recommendations." for i in at.info)
    at.feedback(key=at.feedback[0].key).set_value(4).run()
    at.feedback(key=at.feedback[1].key).set_value(3).run()
    visitor = [d.value for d in at.dataframe if "because you liked" in d.value.columns and "test" not in d.value]
    assert len(visitor) == 1 and len(visitor[0]) == 10
    assert any("from 2 ratings" in m.value for m in at.markdown)
    open_tab(at, "recsys", "All models")
    assert any("Top-10% share" in getattr(d.value, "columns", []) for d in at.dataframe)  # all runs


def test_a_rating_model_adds_rmse_and_the_like_confusion_matrix():
    at = train(open_page(PAGE), model="mf", epochs=1)
    labels = {m.label for m in at.metric}
    assert {"RMSE", "MAE", "NDCG@10"} <= labels
    assert has_confusion_matrix(at)
    assert any("rating ≥ 4" in m.value for m in at.markdown)
    report = next(d.value for d in at.dataframe if "f1-score" in getattr(d.value, "columns", []))
    assert "liked (≥ 4)" in report.index


def test_a_sequential_model_brings_the_time_protocol():
    at = open_page(PAGE)
    assert at.selectbox(key="recsys_protocol").value == "random"
    at.selectbox(key="recsys_model").select("sasrec").run()
    assert at.selectbox(key="recsys_protocol").value == "time"  # issue 18 item 4: its spec says so
    at.selectbox(key="recsys_model").select("bpr").run()
    assert at.selectbox(key="recsys_protocol").value == "random"


def test_a_closed_form_model_needs_no_optimizer():
    at = open_page(PAGE)
    at.selectbox(key="recsys_model").select("ease").run()
    assert not [n for n in at.number_input if n.key == "recsys_epochs"]
    assert any("closed form" in c.value for c in at.caption)


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("bad.csv", b"user,item\n1,2\n1,3\n", "bad.csv: missing column(s) rating"),
        ("words.csv", b"user,item,rating\n1,2,4\n1,3,great\n", "words.csv: line 3: rating 'great' is not a number"),
        ("one.csv", b"justone\nvalue\nmore\n", "one.csv: only one column"),
    ],
)
def test_a_bad_upload_shows_an_error_naming_the_file(name, content, message):
    at = open_page(PAGE)
    at.selectbox(key="recsys_dataset").select("your own (CSV/TSV of ratings)").run()
    at.file_uploader(key="recsys_upload_file").set_value((name, content, "text/csv")).run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert at.button(key="recsys_train_btn").disabled


def test_an_uploaded_ratings_file_with_an_items_file_loads(tmp_path):
    rows = [f"{u}\t{i}\t{1 + (u + i) % 5}\t{1000 + i}" for u in range(1, 21) for i in range(1, 16) if (u + i) % 3]
    at = open_page(PAGE)
    at.selectbox(key="recsys_dataset").select("your own (CSV/TSV of ratings)").run()
    at.file_uploader(key="recsys_upload_file").set_value(("u.data", "\n".join(rows).encode(), "text/plain")).run()
    items = "".join(f"{i}::Film {i} (2001)::Drama\n" for i in range(1, 16)).encode()
    at.file_uploader(key="recsys_items_file").set_value(("movies.dat", items, "text/plain")).run()
    assert not at.error, [e.value for e in at.error]
    assert any("20 users · 15 items" in c.value for c in at.caption)
    assert not at.button(key="recsys_train_btn").disabled
