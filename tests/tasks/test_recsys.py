"""Recommendation: metrics against hand-computed cases and scikit-learn, loading, the split protocol, models."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import mean_absolute_error, mean_squared_error, ndcg_score
from sklearn.metrics.pairwise import cosine_similarity

from core.data import DataError
from core.data import interactions as inter
from core.data.interactions import find_files, read_interactions, read_items, split_per_user
from core.eval.ranking import (
    catalogue_coverage,
    hits_at_k,
    popular_share,
    ranking_metrics_from_hits,
    rating_metrics,
    top_k,
)
from core.models import get_model, get_spec, list_models
from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.settings import RunConfig
from core.run.store import RunStore
from core.tasks import load_run_model
from core.tasks.recsys import (
    TASK,
    load_interactions,
    rank_users,
    ranking_report,
)
from core.tasks.recsys_explore import (
    evaluated_users,
    item_map,
    popularity_curve,
    popularity_summary,
    recommend_for_user,
    recommend_for_visitor,
    runs_table,
    stars_to_rating,
)

MODELS = list_models("recsys")
METRICS = {"precision@10", "recall@10", "ndcg@10", "hit@10", "map@10", "coverage@10"}


def make_ratings(path: Path, users: int = 60, items: int = 40, seed: int = 0) -> Path:
    """Two taste groups: group A likes items 0-19 and rates them high, group B likes 20-39."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        liked = np.arange(20) if u % 2 == 0 else np.arange(20, 40)
        chosen = rng.choice(liked, size=rng.integers(10, 16), replace=False)
        others = rng.choice(np.setdiff1d(np.arange(items), liked), size=2, replace=False)
        for t, i in enumerate(np.concatenate([chosen, others])):
            rating = rng.integers(4, 6) if i in liked else rng.integers(1, 3)
            rows.append(f"{u + 1},{i + 1},{rating},{1000 + 10 * u + t}")
    path.write_text("user,item,rating,timestamp\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def small(tmp_path):
    make_ratings(tmp_path / "ratings.csv")
    genres = ["Comedy" if i < 20 else "Drama" for i in range(40)]
    items = "\n".join(f"{i + 1},Film {i + 1} ({1990 + i % 9}),{g}" for i, g in enumerate(genres))
    (tmp_path / "items.csv").write_text("item,title,genres\n" + items + "\n")
    return tmp_path


# ---------------------------------------------------------------- metrics


def test_ranking_metrics_match_hand_computed_values():
    hits = np.array([[1, 0, 1, 0, 0, 0, 0, 0, 0, 0], [0] * 10, [1] * 10])
    out = ranking_metrics_from_hits(hits, np.array([3, 2, 20]))
    assert out["precision@10"].tolist() == pytest.approx([0.2, 0.0, 1.0])
    assert out["recall@10"].tolist() == pytest.approx([2 / 3, 0.0, 0.5])
    assert out["hit@10"].tolist() == [1.0, 0.0, 1.0]
    idcg3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert out["ndcg@10"][0] == pytest.approx((1 + 1 / math.log2(4)) / idcg3)
    assert out["ndcg@10"][2] == pytest.approx(1.0)  # ten hits out of twenty: ideal up to k
    assert out["map@10"][0] == pytest.approx((1 / 1 + 2 / 3) / 3)
    assert out["map@10"][2] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        ranking_metrics_from_hits(hits[:1], np.array([0]))


def test_ndcg_matches_scikit_learn():
    rng = np.random.default_rng(1)
    scores = rng.random((50, 30))  # distinct scores: no ties
    relevance = (rng.random((50, 30)) < 0.2).astype(float)
    relevance[relevance.sum(1) == 0, 0] = 1.0
    top = top_k(torch.from_numpy(scores), None, 10)
    hits = hits_at_k(top, torch.from_numpy(relevance > 0)).numpy()
    ours = ranking_metrics_from_hits(hits, relevance.sum(1))["ndcg@10"]
    assert ours.mean() == pytest.approx(ndcg_score(relevance, scores, k=10))
    for row in range(5):
        assert ours[row] == pytest.approx(ndcg_score(relevance[row : row + 1], scores[row : row + 1], k=10))


def test_top_k_never_ranks_excluded_items():
    scores = torch.arange(12.0).expand(2, -1)
    exclude = torch.zeros(2, 12, dtype=torch.bool)
    exclude[0, 11] = exclude[0, 9] = True
    top = top_k(scores, exclude, 3)
    assert top[0].tolist() == [10, 8, 7] and top[1].tolist() == [11, 10, 9]


def test_rating_coverage_and_popularity_share():
    y, p = np.array([4, 3, 5, 1]), np.array([3.5, 3.0, 4.0, 2.5])
    out = rating_metrics(y, p)
    assert out["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, p)))
    assert out["mae"] == pytest.approx(mean_absolute_error(y, p))
    assert catalogue_coverage(np.array([[0, 1], [1, 2]]), 10) == pytest.approx(0.3)
    counts = np.array([100, 1, 1, 1, 1, 1, 1, 1, 1, 1])  # item 0 is the top 10%
    assert popular_share(np.array([[0, 1], [0, 2]]), counts) == pytest.approx(0.5)


# ---------------------------------------------------------------- loading


MOVIELENS_ROWS = [
    (u, p + i, r, t)
    for p in ("", "9", "8", "7")  # four films per user
    for u, i, r, t in [("196", "242", 3, 881250949), ("186", "302", 3, 891717742), ("22", "377", 1, 878887116)]
] * 2  # every row twice: duplicates collapse to one


@pytest.mark.parametrize(
    "name,text",
    [
        ("u.data", "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in MOVIELENS_ROWS)),
        ("ratings.dat", "".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in MOVIELENS_ROWS)),
        (
            "ratings.csv",
            "userId,movieId,rating,timestamp\n" + "".join(f"{u},{i},{r}.0,{t}\n" for u, i, r, t in MOVIELENS_ROWS),
        ),
        ("plain.csv", "".join(f"{u},{i},{r}\n" for u, i, r, _ in MOVIELENS_ROWS)),
    ],
)  # fmt: skip
def test_movielens_formats_load_as_they_are(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    table = read_interactions(tmp_path / name)
    frame = table.frame
    assert len(frame) == 12 and table.duplicates_dropped == 12
    assert set(frame["user"]) == {"196", "186", "22"}
    assert frame.loc[frame["item"] == "242", "rating"].item() == 3.0
    assert table.has_timestamp == (name != "plain.csv")


def test_duplicates_keep_the_latest_by_timestamp_else_the_last_row(tmp_path):
    rows = "u,i,r,t\n1,a,5,300\n1,a,2,100\n1,b,4,50\n2,a,3,1\n2,b,3,1\n" + "".join(f"3,x{k},4,1\n" for k in range(8))
    (tmp_path / "r.csv").write_text(rows.replace("u,i,r,t", "user,item,rating,timestamp"))
    frame = read_interactions(tmp_path / "r.csv").frame
    assert frame[(frame.user == "1") & (frame.item == "a")]["rating"].item() == 5.0
    (tmp_path / "n.csv").write_text("1,a,5\n1,a,2\n1,b,4\n2,a,3\n2,b,3\n" + "".join(f"3,x{k},4\n" for k in range(8)))
    frame = read_interactions(tmp_path / "n.csv").frame
    assert frame[(frame.user == "1") & (frame.item == "a")]["rating"].item() == 2.0


@pytest.mark.parametrize(
    "text,message",
    [
        ("user,item\n1,2\n1,3\n", "missing column(s) rating"),
        ("1,2\n1,3\n2,3\n", "the rating column is missing"),
        ("user,item,rating\n1,2,4\n1,3,great\n", "line 3: rating 'great' is not a number"),
        ("justone\nvalue\nmore\n", "only one column"),
        ("", "the file is empty"),
        ("".join(f"{u},{u},4\n" for u in range(20)), "every user has only one interaction"),
        ("1,2,4\n1,3,5\n", "only 2 interactions"),
    ],
)
def test_bad_interaction_files_get_clear_messages(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=r"^bad\.csv: ") as err:
        read_interactions(path)
    assert message in str(err.value)


def test_size_guard_refuses_before_reading(tmp_path, monkeypatch):
    path = make_ratings(tmp_path / "ratings.csv")
    with pytest.raises(DataError, match="the limit is"):
        read_interactions(path, max_bytes=100)
    monkeypatch.setattr(inter, "BYTES_PER_ROW_IN_MEMORY", 10**15)
    with pytest.raises(DataError, match="memory"):
        read_interactions(path)


def test_item_files_in_movielens_formats(tmp_path):
    flags = ["0"] * 19
    flags[1] = flags[5] = "1"  # Action, Comedy
    (tmp_path / "u.item").write_bytes(
        ("1|Caf\xe9 Society (1995)|01-Jan-1995||http://x|" + "|".join(flags) + "\n").encode("latin-1")
    )
    items = read_items(tmp_path / "u.item")
    assert items.iloc[0].tolist() == ["1", "Café Society (1995)", "Action|Comedy"]
    (tmp_path / "movies.dat").write_bytes("1::Toy Story (1995)::Animation|Children's\n".encode("latin-1"))
    assert read_items(tmp_path / "movies.dat").iloc[0].tolist() == ["1", "Toy Story (1995)", "Animation|Children's"]
    (tmp_path / "movies.csv").write_text('movieId,title,genres\n11,"American President, The (1995)",Comedy|Drama\n')
    first = read_items(tmp_path / "movies.csv").iloc[0].tolist()
    assert first == ["11", "American President, The (1995)", "Comedy|Drama"]
    make_ratings(tmp_path / "ratings.csv")
    assert find_files(tmp_path) == (tmp_path / "ratings.csv", tmp_path / "u.item")


# ---------------------------------------------------------------- protocol


def test_per_user_split_follows_recbole_counts():
    counts = [1, 2, 3, 5, 10, 25]
    users = np.repeat(np.arange(len(counts)), counts)
    split = split_per_user(users, seed=0)
    got = [np.bincount(split[users == u], minlength=3).tolist() for u in range(len(counts))]
    assert got == [[1, 0, 0], [1, 0, 1], [1, 1, 1], [3, 1, 1], [8, 1, 1], [21, 2, 2]]
    assert np.array_equal(split, split_per_user(users, seed=0))
    assert not np.array_equal(split, split_per_user(users, seed=1))


def test_no_test_interaction_leaks_into_training(small):
    data = load_interactions(small / "ratings.csv", seed=3)
    pairs = {s: set(zip(p.users.tolist(), p.items.tolist())) for s, p in data.splits.items()}
    assert not pairs["train"] & pairs["test"] and not pairs["train"] & pairs["val"] and not pairs["val"] & pairs["test"]
    assert sum(len(p) for p in pairs.values()) == sum(len(p) for p in data.splits.values())  # nothing repeated
    assert data.titles[0] == "Film 1 (1990)" and data.genres[25] == "Drama"
    assert data.meta["n_users"] == 60 and data.meta["n_items"] == 40


def test_seen_items_are_never_ranked(small):
    data = load_interactions(small / "ratings.csv")

    class LovesTheSeen(torch.nn.Module):  # scores what the user has seen highest: all of it must be skipped
        def score_users(self, users):
            seen = torch.from_numpy(data.seen("test")[users.numpy()].toarray())
            return seen * 100.0 + torch.rand(len(users), data.n_items)

    users = np.arange(data.n_users)
    top = rank_users(LovesTheSeen(), users, data.seen("test"))
    seen = data.seen("test").toarray() > 0
    assert not seen[users[:, None], top].any()


def test_an_oracle_gets_perfect_ranking_metrics(small):
    data = load_interactions(small / "ratings.csv")

    class Oracle(torch.nn.Module):
        def score_users(self, users):
            return torch.from_numpy(data.matrices["test"][users.numpy()].toarray()) + 1e-3 * torch.rand(1)

    metrics, _, _ = ranking_report(Oracle(), data, "test")
    assert metrics["ndcg@10"] == pytest.approx(1.0) and metrics["recall@10"] == pytest.approx(1.0)
    assert metrics["hit@10"] == 1.0 and metrics["map@10"] == pytest.approx(1.0)


def test_time_protocol_tests_each_users_latest_interaction(small):
    import pandas as pd

    data = load_interactions(small / "ratings.csv", protocol="time")
    frame = pd.read_csv(small / "ratings.csv").sort_values("timestamp")
    by_user = frame.groupby("user")["item"].apply(list)
    for split, pick in (("test", lambda items: items[-1:]), ("val", lambda items: items[-2:-1])):
        part = data.splits[split]
        got = {(data.user_ids[u], data.item_ids[i]) for u, i in zip(part.users.tolist(), part.items.tolist())}
        want = {(str(u), str(i)) for u, items in by_user.items() for i in pick(items)}
        assert got == want and len(part) == data.n_users  # exactly one per user: the latest, then the one before
    assert len(data.splits["train"]) == len(frame) - 2 * data.n_users
    assert data.meta["protocol"] == "time" and "leave-one-out" in data.split_note
    assert "80/10/10" in load_interactions(small / "ratings.csv").split_note  # the default is still random


def test_history_models_score_the_time_protocols_test_from_train_and_validation(small):
    # issue 18 item 4: SASRec scored the test without the validation item, the one just before the test item
    from core.tasks.recsys import prepare

    data = load_interactions(small / "ratings.csv", protocol="time")
    train, val = data.splits["train"], data.splits["val"]
    model = TASK.build_model(make_config("recsys", "sasrec", protocol="time"), data.meta)
    prepare(model, data, "test")
    assert torch.equal(model.seq[val.users, -1] - 1, val.items)  # each user's latest input: the validation item
    sizes = []
    set_history = model.set_history
    model.set_history = lambda users, items: (sizes.append(len(items)), set_history(users, items))
    TASK.evaluate(model, data)
    assert sizes == [len(train) + len(val), len(train)]  # the test from train + validation; then back, as stored
    random = load_interactions(small / "ratings.csv")  # RecBole's random split: the test from training only
    model = TASK.build_model(make_config("recsys", "itemknn"), random.meta)
    prepare(model, random, "test")
    assert int(model.hist_ptr[-1]) == len(random.splits["train"])


def test_sequential_models_default_to_the_time_protocol_and_races_keep_one_protocol():
    assert make_config("recsys", "sasrec").protocol == "time" == get_spec("recsys", "sasrec").split_defaults["protocol"]
    assert make_config("recsys", "bpr").protocol == "random"
    assert make_config("recsys", "sasrec", protocol="random").protocol == "random"  # what was given stands
    from core.lab.whatif import expand

    plan = expand(make_config("recsys", "sasrec"), {"model": ["sasrec", "bpr"]})
    assert {v.configs[0].protocol for v in plan.variants} == {"time"}  # runs of one race: one protocol


def test_leave_last_out_keeps_short_histories_in_training():
    users = np.array([0, 1, 1, 2, 2, 2])  # in time order within each user
    assert inter.split_leave_last_out(users).tolist() == [0, 0, 2, 0, 1, 2]


def test_time_protocol_needs_timestamps(tmp_path):
    path = tmp_path / "no_time.csv"
    path.write_text("user,item,rating\n" + "\n".join(f"{u},{i},4" for u in range(5) for i in range(4)) + "\n")
    with pytest.raises(DataError, match="no_time.csv: protocol=time needs a timestamp column"):
        load_interactions(path, protocol="time")
    with pytest.raises(ValueError, match="protocol must be one of random, time"):
        load_interactions(path, protocol="latest")


def test_the_rating_scale_comes_from_training_only(tmp_path):
    """Each user rates 1, 2, 3, 4, 5 in time order: under leave-one-out the 5 is the test and the 4 validation."""
    rows = [f"{u},{i},{5 if i == 4 else 1 + i % 4},{100 * u + i}" for u in range(6) for i in range(5)]
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating,timestamp\n" + "\n".join(rows) + "\n")
    data = load_interactions(path, protocol="time")
    assert float(data.splits["test"].ratings.min()) == 5.0
    assert data.meta["rating_max"] == 3.0 and data.meta["rating_min"] == 1.0  # the models' clamp, the like cut


def test_evaluation_gives_every_headline_a_95_interval(small):
    data = load_interactions(small / "ratings.csv")
    for name in ("pop", "mf"):  # a ranking-only model, and a rating model (untrained: the intervals still hold)
        model = TASK.build_model(RunConfig(task="recsys", model=name), data.meta)
        if name == "pop":
            TASK.fit_closed_form(model, data, {"model": name})
        metrics, details, artifacts = TASK.evaluate(model, data)
        expected = {"precision@10", "recall@10", "ndcg@10", "hit@10", "map@10"}
        expected |= {"rmse", "mae"} if name == "mf" else set()
        assert set(details["ci95"]) == expected  # coverage is catalogue-level: no interval
        for metric, (low, high) in details["ci95"].items():
            assert low <= metrics[metric] <= high and low < high, metric
        assert details["protocol"] == "random" and "80/10/10" in details["ranking_protocol"]
        assert artifacts["user_ndcg"].mean() == pytest.approx(metrics["ndcg@10"], abs=1e-6)


def test_runs_table_compares_only_runs_of_one_protocol():
    def run(run_id, protocol, ndcg):
        details = {"protocol": protocol} if protocol else {}  # older runs have none: they were random
        return {"id": run_id, "model": "pop", "dataset": "movies", "status": "finished",
                "metrics": {"ndcg@10": ndcg}, "details": details, "config": RunConfig(task="recsys")}  # fmt: skip

    runs = [run("a", "random", 0.1), run("b", "time", 0.3), run("c", None, 0.2)]
    assert runs_table(runs)["protocol"].tolist() == ["random", "random", "time"]
    assert runs_table(runs, protocol="random")["run"].tolist() == ["c", "a"]
    assert runs_table(runs, protocol="time")["run"].tolist() == ["b"]


# ---------------------------------------------------------------- models


def quick_config(model: str, path: Path, **extra):
    fast = {"epochs": 3, "batch_size": 256} if model not in ("pop", "itemknn", "ease") else {}
    opts = {"max_len": 10, "dim": 16} if model == "sasrec" else {}
    settings = {**get_spec("recsys", model).defaults, **fast, **extra}
    return make_config("recsys", model, data=str(path), device="cpu", **settings, model_options=opts)


def test_registry_and_options():
    with pytest.raises(ValueError, match="unknown option"):
        meta = {"n_users": 2, "n_items": 2, "n_train": 2, "global_mean": 3, "rating_min": 1, "rating_max": 5}
        TASK.build_model(RunConfig(task="recsys", model="bpr", model_options={"dimm": 3}), meta)


@pytest.mark.parametrize("model", MODELS)
def test_every_model_trains_reloads_and_scores_the_same(small, model):
    store = RunStore(small / "runs")
    result = run_experiment(quick_config(model, small / "ratings.csv"), store)
    assert result.status == "finished"
    assert set(result.metrics) >= METRICS
    assert ("rmse" in result.metrics) == get_spec("recsys", model).rating_model
    if get_spec("recsys", model).rating_model:
        assert {"report", "confusion_matrix", "class_names"} <= set(result.details)
    reloaded, ckpt = load_run_model(store, result.run_id)
    users = torch.arange(10)
    assert torch.allclose(reloaded.score_users(users), result.model.score_users(users), atol=1e-5)
    data = load_interactions(small / "ratings.csv")
    recs = recommend_for_user(reloaded, data, 0)
    assert len(recs) == 10 and {"title", "score", "because"} <= set(recs[0])
    visitor = recommend_for_visitor(reloaded, data, {0: 5.0, 1: 4.0, 2: 5.0, 25: 1.0})
    assert len(visitor) == 10 and not {0, 1, 2, 25} & {r["item"] for r in visitor}


def test_ease_and_itemknn_match_reference_formulas(small):
    data = load_interactions(small / "ratings.csv")
    tr = data.splits["train"]
    x = data.matrices["train"].toarray()
    ease = get_model("recsys", "ease", n_users=data.n_users, n_items=data.n_items, n_train=len(tr), reg=10.0)
    ease.fit(tr.users.numpy(), tr.items.numpy(), tr.ratings.numpy())
    b = ease.weights.numpy()
    assert np.allclose(np.diag(b), 0)
    # EASE's weights minimise ||X - XB||^2 + reg ||B||^2 with diag(B) = 0: column j regresses X_j on the others
    j = 3
    others = np.delete(np.arange(data.n_items), j)
    xo = x[:, others]
    ref = np.linalg.solve(xo.T @ xo + 10.0 * np.eye(len(others)), xo.T @ x[:, j])
    assert np.allclose(b[others, j], ref, atol=1e-4)
    knn = get_model("recsys", "itemknn", n_users=data.n_users, n_items=data.n_items, n_train=len(tr), k=39, shrink=0.0)
    knn.fit(tr.users.numpy(), tr.items.numpy(), tr.ratings.numpy())
    sims = cosine_similarity(x.T)
    np.fill_diagonal(sims, 0)
    assert np.allclose(knn.similarity_matrix().numpy(), sims, atol=1e-5)


def test_sasrec_only_looks_back_in_time():
    torch.manual_seed(0)
    model = get_model("recsys", "sasrec", n_users=2, n_items=9, n_train=4, dim=16, max_len=6).eval()
    seq = torch.tensor([[0, 1, 2, 3, 4, 5]])
    changed = seq.clone()
    changed[0, 4:] = torch.tensor([8, 9])
    a, b = model.hidden(seq), model.hidden(changed)
    assert torch.allclose(a[0, :4], b[0, :4], atol=1e-6) and not torch.allclose(a[0, 4:], b[0, 4:])


def test_a_user_with_one_interaction_stays_in_training(tmp_path):
    path = make_ratings(tmp_path / "r.csv")
    path.write_text(path.read_text() + "999,1,4,5\n")
    data = load_interactions(path)
    assert any("single interaction" in n for n in data.notes)
    lone = data.user_ids.index("999")
    assert lone in data.splits["train"].users.tolist() and lone not in data.splits["test"].users.tolist()


# ---------------------------------------------------------------- the bundled set


BUNDLED_SHORT = {"mf": {"epochs": 6}, "bpr": {"epochs": 8}, "neumf": {"epochs": 3}, "sasrec": {"epochs": 4}}


@pytest.fixture(scope="module")
def pop_on_movies():
    """Pop's metrics on movies under a protocol (each model is compared on the protocol its spec measures it on)."""
    cache = {}

    def by_protocol(protocol: str) -> dict[str, float]:
        if protocol not in cache:
            config = make_config("recsys", "pop", dataset="movies", device="cpu", protocol=protocol)
            cache[protocol] = run_experiment(config).metrics
        return cache[protocol]

    return by_protocol


@pytest.mark.parametrize("model", [m for m in MODELS if m != "pop"])
def test_every_model_beats_pop_on_the_bundled_set(pop_on_movies, model):
    settings = {**get_spec("recsys", model).defaults, **BUNDLED_SHORT.get(model, {})}
    config = make_config("recsys", model, dataset="movies", device="cpu", **settings)
    metrics, pop = run_experiment(config).metrics, pop_on_movies(config.protocol)
    assert metrics["ndcg@10"] > pop["ndcg@10"] and metrics["recall@10"] > pop["recall@10"]
    if model == "mf":
        assert metrics["rmse"] < 0.95


# ---------------------------------------------------------------- exploring a trained model (the page's core)


@pytest.mark.parametrize("model", ["itemknn", "ease", "mf", "bpr"])
def test_a_new_visitor_is_folded_in_from_their_ratings(small, model):
    """Cold start: a visitor who loves group A's items (0-19) gets group A's items, one who loves B's gets B's."""
    train = {"mf": {"epochs": 15}, "bpr": {"epochs": 15, "lr": 0.02}}.get(model, {})  # enough to learn the groups
    result = run_experiment(quick_config(model, small / "ratings.csv", **train))
    data = load_interactions(small / "ratings.csv")
    index = {item: i for i, item in enumerate(data.item_ids)}
    for loved, other in ((range(1, 6), range(21, 23)), (range(21, 26), range(1, 3))):
        rated = {index[str(i)]: 5.0 for i in loved} | {index[str(i)]: 1.0 for i in other}
        recs = recommend_for_visitor(result.model, data, rated)
        group = {int(data.item_ids[r["item"]]) <= 20 for r in recs[:5]}
        assert group == {loved[0] <= 20}, (model, [r["title"] for r in recs])
        assert all(r["because"] for r in recs)


def test_popularity_summary_runs_table_and_star_scale():
    counts = np.array([50, 30, 5, 5, 4, 3, 1, 1, 1, 0])  # item 0 is the top 10% and holds half the interactions
    summary = popularity_summary(np.array([[0, 2], [0, 3]]), counts)
    assert summary == pytest.approx({"recommendations": 0.5, "catalogue": 0.1, "interactions": 0.5})
    assert [stars_to_rating(s, {"rating_min": 1, "rating_max": 5, "integer_ratings": True}) for s in range(5)] == [
        1, 2, 3, 4, 5
    ]  # fmt: skip
    assert stars_to_rating(4, {"rating_min": 0.5, "rating_max": 5.0, "integer_ratings": False}) == 5.0
    runs = [
        {"id": "a", "model": "pop", "dataset": "movies", "status": "finished", "metrics": {"ndcg@10": 0.1},
         "details": {"popular_share@10": 0.9}},
        {"id": "b", "model": "mf", "dataset": "movies", "status": "finished", "metrics": {"ndcg@10": 0.3, "rmse": 0.9},
         "details": {}},
        {"id": "c", "model": "bpr", "dataset": "movies", "status": "failed", "metrics": {}, "details": {}},
    ]  # fmt: skip
    for r in runs:
        r["config"] = RunConfig(task="recsys", model=r["model"])  # as the store hands a run out
    table = runs_table(runs)
    assert table["run"].tolist() == ["b", "a"]  # best NDCG first, failed runs left out
    assert table.loc[1, "Top-10% share"] == 0.9 and np.isnan(table.loc[1, "RMSE"])


def test_item_map_and_popularity_curve(small):
    data = load_interactions(small / "ratings.csv")
    result = run_experiment(quick_config("ease", small / "ratings.csv"))
    frame = item_map(result.model, data)
    assert len(frame) == data.n_items and set(frame["genre"]) == {"Comedy", "Drama"}
    # EASE's weights keep the two taste groups apart: the groups' centres sit far from each other
    centres = frame.groupby("genre")[["x", "y"]].mean()
    assert np.linalg.norm(centres.loc["Comedy"] - centres.loc["Drama"]) > frame[["x", "y"]].std().mean()
    pop = run_experiment(quick_config("pop", small / "ratings.csv"))
    assert item_map(pop.model, data) is None
    curve = popularity_curve(np.array([[0, 1, 2]]), data.item_counts)
    assert curve["share of recommendations"].sum() == pytest.approx(1.0)
    assert curve["share of interactions"].sum() == pytest.approx(1.0)
    users = evaluated_users(data)
    assert len(users) and all(np.diff(data.matrices["test"].indptr)[users] > 0)
