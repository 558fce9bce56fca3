"""Recommendation: the bundled `movies` set, your own interaction files, objectives, full-ranking evaluation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import sparse
from torch import nn

from core.data import DataError
from core.data.interactions import (
    DUPLICATE_RULE,
    find_files,
    read_interactions,
    read_items,
    split_leave_last_out,
    split_per_user,
)
from core.eval.metrics import ci95_mean, classification_metrics, latency_ms, model_megabytes, rating_ci95
from core.eval.ranking import (
    K,
    catalogue_coverage,
    popular_share,
    ranking_metrics_from_hits,
    rating_metrics,
    top_k,
)
from core.models import get_model, get_spec, spec_of
from core.models.recsys import SCORE_USERS, Recommender, learned_size
from core.run.settings import RunConfig
from core.run.training import Objective
from core.tasks.specs.recsys import SPEC

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"
LIKE = 4.0  # "will this user like it?" means a rating of 4 or more (on a 1-5 scale)
# How each user's interactions are split (config key `protocol`), in the words shown next to the numbers.
PROTOCOLS = {
    "random": "each user's interactions split 80/10/10 at random, every interaction a positive (RecBole's defaults)",
    "time": "each user's last interaction by timestamp is the test and the one before it validation, the rest "
    "training (RecBole's time-ordered leave-one-out), every interaction a positive",
}
SPLIT_NAMES = {"random": "per-user 80/10/10 split", "time": "time-ordered leave-one-out split"}


def ranking_protocol(protocol: str = "random") -> str:
    """The top-K protocol of a run, as the page and the CLI show it next to the numbers."""
    return (
        f"full ranking: every item the user has not rated in training (nor in validation) is ranked, K = {K}; "
        f"{PROTOCOLS[protocol]}"
    )


def rating_protocol(protocol: str = "random") -> str:
    return f"predicted vs true rating on the held-out test ratings of the same {SPLIT_NAMES[protocol]}"


RANKING_PROTOCOL, RATING_PROTOCOL = ranking_protocol("random"), rating_protocol("random")  # the default's


@dataclass
class Split:
    """One split's interactions as index tensors (users, items) and ratings."""

    users: torch.Tensor
    items: torch.Tensor
    ratings: torch.Tensor

    def __len__(self) -> int:
        return len(self.users)

    def matrix(self, n_users: int, n_items: int) -> sparse.csr_matrix:
        ones = np.ones(len(self), dtype=np.float32)
        return sparse.csr_matrix((ones, (self.users.numpy(), self.items.numpy())), shape=(n_users, n_items))


@dataclass
class RecsysData:
    """Interactions split per user 80/10/10 (train in time order), the catalogue, and `meta` for rebuilding models."""

    name: str
    user_ids: list[str]
    item_ids: list[str]
    titles: list[str]
    genres: list[str]
    splits: dict[str, Split]
    split_note: str
    notes: list[str] = field(default_factory=list)
    protocol: str = "random"  # a key of PROTOCOLS
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_users, n_items = len(self.user_ids), len(self.item_ids)
        self.matrices = {s: part.matrix(n_users, n_items) for s, part in self.splits.items()}
        self.item_counts = np.asarray(self.matrices["train"].sum(0)).ravel()
        # the rating scale (the models' clamp, the like threshold) from training only: the test is unseen
        train_ratings = self.splits["train"].ratings
        self.meta = {
            "dataset": self.name,
            "n_users": n_users,
            "n_items": n_items,
            "n_train": len(self.splits["train"]),
            "global_mean": float(train_ratings.mean()),
            "rating_min": float(train_ratings.min()),
            "rating_max": float(train_ratings.max()),
            "integer_ratings": bool(torch.all(train_ratings == train_ratings.round())),
            "protocol": self.protocol,
            "user_ids": self.user_ids,
            "item_ids": self.item_ids,
        }

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def seen(self, split: str) -> sparse.csr_matrix:
        """What ranking for `split` leaves out: training items, and for the test, validation items too (RecBole)."""
        return self.matrices["train"] + self.matrices["val"] if split == "test" else self.matrices["train"]


def _natural_order(ids: np.ndarray) -> np.ndarray:
    """Unique ids, numerically sorted when they are all numbers (1, 2, 10, not 1, 10, 2)."""
    unique = pd.unique(ids)
    as_numbers = pd.to_numeric(pd.Series(unique), errors="coerce")
    if as_numbers.notna().all():
        return unique[np.argsort(as_numbers.to_numpy(), kind="stable")]
    return np.sort(unique)


def load_interactions(
    path: str | Path,
    seed: int = 0,
    items_path: str | Path | None = None,
    name: str | None = None,
    protocol: str = "random",
) -> RecsysData:
    """An interactions file (or a folder of MovieLens-style files) -> indexed data split by `protocol` (a key of
    PROTOCOLS), with the catalogue."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    ratings_path, found_items = find_files(path)
    items_path = items_path or found_items
    table = read_interactions(ratings_path)
    if protocol == "time" and not table.has_timestamp:
        raise DataError(
            f"{ratings_path.name}: protocol=time needs a timestamp column (user, item, rating, timestamp) to know "
            "each user's last interaction; this file has none, so use protocol=random"
        )
    frame = table.frame
    user_ids, item_ids = _natural_order(frame["user"].to_numpy()), _natural_order(frame["item"].to_numpy())
    users = pd.Index(user_ids).get_indexer(frame["user"])
    items = pd.Index(item_ids).get_indexer(frame["item"])
    if table.has_timestamp:  # time order within the training split feeds the sequential model
        order = np.lexsort((frame["row"].to_numpy(), frame["timestamp"].to_numpy()))
    else:
        order = np.arange(len(frame))
    users, items = users[order], items[order]
    ratings = frame["rating"].to_numpy()[order]
    split = split_leave_last_out(users) if protocol == "time" else split_per_user(users, seed)
    parts = {
        s: Split(
            torch.from_numpy(users[split == code]).long(),
            torch.from_numpy(items[split == code]).long(),
            torch.from_numpy(ratings[split == code]).float(),
        )
        for code, s in enumerate(("train", "val", "test"))
    }
    titles, genres = [str(i) for i in item_ids], [""] * len(item_ids)
    if items_path is not None:
        catalogue = read_items(items_path).set_index("item").reindex(item_ids)
        known = catalogue["title"].notna().to_numpy()
        titles = [t if k else i for t, k, i in zip(catalogue["title"].astype(str), known, titles)]
        genres = [g if k else "" for g, k in zip(catalogue["genres"].fillna("").astype(str), known)]
    notes = []
    if table.duplicates_dropped:
        notes.append(f"{table.duplicates_dropped:,} duplicate rows dropped: {DUPLICATE_RULE}")
    singles = int((np.bincount(users) == 1).sum())
    if singles:
        notes.append(f"{singles:,} users with a single interaction are in training only (nothing to test them on)")
    how = {
        "random": f"each user's interactions split 80/10/10 at random (seed {seed})",
        "time": "time-ordered leave-one-out: each user's last interaction by timestamp is the test, the one "
        "before it validation, the rest training",
    }[protocol]
    note = f"{how}; top-{K} ranks every item the user has not rated in training (nor, for the test, in validation)"
    return RecsysData(name or Path(path).stem, list(map(str, user_ids)), list(map(str, item_ids)), titles, genres,
                      parts, note, notes, protocol)  # fmt: skip


def load_bundled(name: str, seed: int = 0, protocol: str = "random") -> RecsysData:
    """A bundled set, loaded as its spec says."""
    return SPEC.bundled(name).load(seed=seed, protocol=protocol)


def load_sample(name: str, seed: int = 0, protocol: str = "random") -> RecsysData:
    """A bundled set's loader: ratings.csv and items.csv under sample_data/<name>/, made by scripts/make_<name>.py."""
    folder = SAMPLE_DATA / name
    if not (folder / "ratings.csv").exists():
        raise DataError(f"{name}: the bundled set is missing; run scripts/make_{name}.py to generate it")
    return load_interactions(folder / "ratings.csv", seed, folder / "items.csv", name=name, protocol=protocol)


# ---------------------------------------------------------------- ranking


@torch.no_grad()
def rank_users(model: Recommender, users: np.ndarray, exclude: sparse.csr_matrix, k: int = K) -> np.ndarray:
    """(U, k) top items for each user, never an item in that user's `exclude` row; scored in chunks."""
    model.eval()
    device = next(iter(model.buffers()), next(iter(model.parameters()), torch.empty(0))).device
    out = []
    for start in range(0, len(users), SCORE_USERS):
        chunk = users[start : start + SCORE_USERS]
        scores = model.score_users(torch.from_numpy(chunk).long().to(device)).float().cpu()
        mask = torch.from_numpy(exclude[chunk].toarray() > 0)
        out.append(top_k(scores, mask, k).numpy())
    return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)


def ranking_report(model: Recommender, data: RecsysData, split: str = "test", max_users: int | None = None):
    """Mean top-k metrics over users with `split` items, plus each user's list: (metrics, users, top)."""
    per_user, users, top = per_user_ranking(model, data, split, max_users)
    metrics = {name: float(values.mean()) for name, values in per_user.items()}
    metrics[f"coverage@{K}"] = catalogue_coverage(top, data.n_items)
    return metrics, users, top


def per_user_ranking(model: Recommender, data: RecsysData, split: str = "test", max_users: int | None = None):
    """Each user's top-k metrics (users with `split` items), the users and their lists: (per_user, users, top)."""
    relevant = data.matrices[split]
    users = np.flatnonzero(np.diff(relevant.indptr) > 0)
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(0).choice(users, max_users, replace=False))
    top = rank_users(model, users, data.seen(split))
    rows = np.repeat(users, top.shape[1])  # read the hits from the sparse matrix: no users x items array
    hits = np.asarray(relevant[rows, top.ravel()]).reshape(top.shape) > 0 if len(rows) else np.zeros(top.shape, bool)
    return ranking_metrics_from_hits(hits, np.diff(relevant.indptr)[users]), users, top


def prepare(model: Recommender, data: RecsysData, split: str = "val") -> Recommender:
    """Give the model the histories it scores `split` from (a no-op for models that keep none): the training
    interactions; for the test under the time protocol, training then validation, so the item just before each
    user's test item is in its input (RecBole's sequential leave-one-out)."""
    train, val = data.splits["train"], data.splits["val"]
    if split == "test" and data.protocol == "time":
        model.set_history(torch.cat([train.users, val.users]), torch.cat([train.items, val.items]))
    else:
        model.set_history(train.users, train.items)
    return model


# ---------------------------------------------------------------- objectives


DENSE_SEEN_CELLS = 1 << 25  # users x items grids up to this size answer "seen?" from a bitmap (32 MB at most)


class SeenPairs:
    """The (user, item) pairs of the training split, asked for by key `user * n_items + item`.

    A bitmap lookup where the users x items grid is small enough (four times faster than searching: BPR asks for
    every training interaction each epoch), a binary search of the sorted keys elsewhere.
    """

    def __init__(self, users: torch.Tensor, items: torch.Tensor, n_users: int, n_items: int) -> None:
        self.n_items = n_items
        keys = users * n_items + items
        self.bitmap = self.keys = None
        if n_users * n_items <= DENSE_SEEN_CELLS:
            self.bitmap = torch.zeros(n_users * n_items, dtype=torch.bool)
            self.bitmap[keys] = True
        else:
            self.keys = torch.sort(keys).values

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:  # (N,), (N,) -> (N,) bool
        keys = users * self.n_items + items
        if self.bitmap is not None:
            return self.bitmap[keys]
        if not len(self.keys):
            return torch.zeros(keys.shape, dtype=torch.bool)
        return self.keys[torch.searchsorted(self.keys, keys).clamp(max=len(self.keys) - 1)] == keys


def sample_negatives(
    users: torch.Tensor, n_items: int, seen: SeenPairs, generator: torch.Generator, rounds: int = 10
) -> torch.Tensor:
    """One random item per entry of `users` that the user has not interacted with (rejection sampling, vectorised).

    Each round looks up only the entries still drawn on a seen item: a tenth of them, then a hundredth, ...
    (looking up every entry each round made this a third of BPR's epoch).
    """
    neg = torch.randint(n_items, users.shape, generator=generator)
    todo = torch.arange(len(neg))
    for _ in range(rounds):
        todo = todo[seen.contains(users[todo], neg[todo])]
        if not len(todo):
            break
        neg[todo] = torch.randint(n_items, (len(todo),), generator=generator)
    return neg


class RecsysObjective(Objective):
    """Shared: validation ranking metrics every epoch; subclasses add a loss. Baselines use this one as it is."""

    def __init__(self, data: RecsysData, config: RunConfig) -> None:
        self.data = data
        self.options = {**get_spec("recsys", config.model).option_defaults(), **config.model_options}
        self.generator = torch.Generator().manual_seed(config.seed)
        train = data.splits["train"]
        self.seen = SeenPairs(train.users, train.items, data.n_users, data.n_items)

    def train_batches(self, batch_size, generator):
        return []

    def val_metrics(self, model):
        if len(self.data.splits["val"]) == 0:
            return {}
        prepare(model, self.data)
        metrics, _, _ = ranking_report(model, self.data, "val", max_users=2000)
        return {f"val_ndcg@{K}": metrics[f"ndcg@{K}"], f"val_recall@{K}": metrics[f"recall@{K}"]}

    def negatives(self, users: torch.Tensor) -> torch.Tensor:
        return sample_negatives(users, self.data.n_items, self.seen, self.generator)


class RatingObjective(RecsysObjective):
    """Squared error on observed ratings with L2 on each batch's factors (`reg`), plus (`rank_weight`) a BPR
    term that teaches the model's ranking head, sharing the factors, which items get rated at all.

    Why the second term: ranked by predicted rating alone, a rating model puts obscure items it knows
    little about beside favourites, and its top-10 over the full catalogue falls below popularity's
    (Cremonesi et al. 2010; Steck 2010). RMSE and MAE are still from the rating head alone.
    """

    def train_batches(self, batch_size, generator):
        train = self.data.splits["train"]
        for idx in self.batch_indices(len(train), batch_size, generator):
            users = train.users[idx]
            yield users, train.items[idx], train.ratings[idx], self.negatives(users)

    def val_batches(self, batch_size):
        val = self.data.splits["val"]
        for start in range(0, len(val), 8192):
            yield val.users[start : start + 8192], val.items[start : start + 8192], val.ratings[start : start + 8192]

    def loss(self, model, batch):
        users, items, ratings = batch[:3]
        pred = model.predict(users, items)
        loss = nn.functional.mse_loss(pred, ratings)
        if model.training:
            loss = loss + self.options.get("reg", 0.0) * model.l2(users, items)
            if model.rank_weight:
                diff = model.rank_pairs(users, items) - model.rank_pairs(users, batch[3])
                loss = loss - model.rank_weight * nn.functional.logsigmoid(diff).mean()
        return loss, len(users), {}

    def val_metrics(self, model):
        val = self.data.splits["val"]
        out = super().val_metrics(model)
        if len(val):
            pred = model.predict_rating(*(t.to(model.global_mean.device) for t in (val.users, val.items))).cpu()
            out["val_rmse"] = rating_metrics(val.ratings.numpy(), pred.numpy())["rmse"]
        return out


class PairwiseObjective(RecsysObjective):
    """BPR: each training interaction against one unseen item, resampled every epoch."""

    def on_epoch_start(self, epoch):
        self.neg = self.negatives(self.data.splits["train"].users)

    def train_batches(self, batch_size, generator):
        train = self.data.splits["train"]
        for idx in self.batch_indices(len(train), batch_size, generator):
            yield train.users[idx], train.items[idx], self.neg[idx]

    def val_batches(self, batch_size):
        val = self.data.splits["val"]
        if not hasattr(self, "val_neg"):
            self.val_neg = sample_negatives(val.users, self.data.n_items, self.seen, torch.Generator().manual_seed(0))
        for start in range(0, len(val), 8192):
            yield val.users[start : start + 8192], val.items[start : start + 8192], self.val_neg[start : start + 8192]

    def loss(self, model, batch):
        users, pos, neg = batch
        reg = self.options.get("reg", 0.0) if model.training else 0.0  # validation loss: the ranking term alone
        return model.pairwise_loss(users, pos, neg, reg), len(users), {}


class PointwiseObjective(RecsysObjective):
    """NeuMF: binary cross-entropy, each interaction a 1 and `negatives` unseen items 0, resampled every epoch."""

    def on_epoch_start(self, epoch):
        train = self.data.splits["train"]
        n_neg = int(self.options.get("negatives", 4))
        neg_users = train.users.repeat(n_neg)
        self.users = torch.cat([train.users, neg_users])
        self.items = torch.cat([train.items, self.negatives(neg_users)])
        self.labels = torch.cat([torch.ones(len(train)), torch.zeros(len(neg_users))])

    def train_batches(self, batch_size, generator):
        for idx in self.batch_indices(len(self.users), batch_size, generator):
            yield self.users[idx], self.items[idx], self.labels[idx]

    def val_batches(self, batch_size):
        val = self.data.splits["val"]
        neg = sample_negatives(val.users, self.data.n_items, self.seen, torch.Generator().manual_seed(0))
        users, items = torch.cat([val.users, val.users]), torch.cat([val.items, neg])
        labels = torch.cat([torch.ones(len(val)), torch.zeros(len(val))])
        for start in range(0, len(users), 8192):
            yield users[start : start + 8192], items[start : start + 8192], labels[start : start + 8192]

    def loss(self, model, batch):
        users, items, labels = batch
        loss = nn.functional.binary_cross_entropy_with_logits(model.score_pairs(users, items), labels)
        return loss, len(users), {}


class SequenceObjective(RecsysObjective):
    """SASRec: predict each next item of a user's time-ordered training history (cross-entropy over all items)."""

    def __init__(self, data: RecsysData, config: RunConfig) -> None:
        super().__init__(data, config)
        self.inputs, self.targets = self.windows(int(self.options.get("max_len", 50)))

    def windows(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Every user's history cut from its end into windows of `length` (input, next item), left-padded with 0."""
        train = self.data.splits["train"]
        order = torch.argsort(train.users, stable=True)  # grouped by user, in time order
        users, items = train.users[order].numpy(), train.items[order].numpy() + 1
        inputs, targets = [], []
        bounds = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=self.data.n_users))])
        for a, b in zip(bounds[:-1], bounds[1:]):
            seq = items[a:b]
            for end in range(len(seq), 1, -length):
                start = max(0, end - length - 1)
                x, y = seq[start : end - 1], seq[start + 1 : end]
                inputs.append(np.pad(x, (length - len(x), 0)))
                targets.append(np.pad(y, (length - len(y), 0)))
        if not inputs:
            return torch.zeros(0, length, dtype=torch.long), torch.zeros(0, length, dtype=torch.long)
        return torch.from_numpy(np.stack(inputs)).long(), torch.from_numpy(np.stack(targets)).long()

    def train_batches(self, batch_size, generator):
        for idx in self.batch_indices(len(self.inputs), batch_size, generator):
            yield self.inputs[idx], self.targets[idx]

    def loss(self, model, batch):
        inputs, targets = batch
        logits = model.sequence_logits(inputs)  # (B, L, n_items + 1)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=0)
        return loss, int((targets > 0).sum()), {}

    def val_metrics(self, model):
        out = super().val_metrics(model)  # sets the history the model scores from
        val = self.data.splits["val"]
        if len(val):
            device = model.seq.device
            users, inverse = torch.unique(val.users, return_inverse=True)  # one pass per user, not per rating
            logits = torch.cat([model.score_users(u.to(device)).cpu() for u in users.split(1024)])
            out["val_loss"] = float(nn.functional.cross_entropy(logits[inverse], val.items))
        return out


# A model's spec names its objective.
OBJECTIVES = {
    "rating": RatingObjective,
    "pairwise": PairwiseObjective,
    "pointwise": PointwiseObjective,
    "sequence": SequenceObjective,
}


# ---------------------------------------------------------------- the task


class RecsysTask:
    name = "recsys"
    spec = SPEC

    def load_data(self, config: RunConfig, progress: Callable[[int, int], None] | None = None) -> RecsysData:
        if config.data:
            return load_interactions(config.data, config.split_seed, protocol=config.protocol)
        return load_bundled(config.dataset or SPEC.dataset_names[0], config.split_seed, config.protocol)

    def data_settings(self, config: RunConfig) -> dict[str, Any]:
        return {}

    def build_model(self, config: RunConfig, meta: dict[str, Any]) -> nn.Module:
        spec = get_spec("recsys", config.model)
        options = spec.check_options(config.model_options)
        common = {k: meta[k] for k in ("n_users", "n_items", "n_train", "global_mean", "rating_min", "rating_max")}
        return get_model("recsys", spec.name, **common, **options)

    def make_objective(self, config: RunConfig, data: RecsysData) -> RecsysObjective:
        return OBJECTIVES.get(get_spec("recsys", config.model).objective, RecsysObjective)(data, config)

    def fit_closed_form(self, model: nn.Module, data: RecsysData, config: RunConfig) -> None:
        train = data.splits["train"]
        prepare(model, data)
        model.fit(train.users.numpy(), train.items.numpy(), train.ratings.numpy())

    def evaluate(self, model: nn.Module, data: RecsysData):
        model = prepare(model.cpu().eval(), data, "test")
        per_user, users, top = per_user_ranking(model, data, "test")
        prepare(model, data)  # back to the training history, which the checkpoint stores
        metrics = {name: float(values.mean()) for name, values in per_user.items()}
        metrics[f"coverage@{K}"] = catalogue_coverage(top, data.n_items)
        # 95% intervals: bootstrap over test users (ranking; RMSE/MAE too, as a user's ratings go together); coverage
        # is a catalogue-level number (resampled users cover fewer items), so it gets none
        ci95 = {name: ci95_mean(values) for name, values in per_user.items()}
        details: dict[str, Any] = {
            "split_note": data.split_note,
            "protocol": data.protocol,
            "ranking_protocol": ranking_protocol(data.protocol),
            "test_size": len(data.splits["test"]),
            "test_users": len(users),
            "notes": data.notes,
            f"popular_share@{K}": popular_share(top, data.item_counts),
        }
        if spec_of(model).rating_model:
            test = data.splits["test"]
            with torch.no_grad():
                pred = model.predict_rating(test.users, test.items).numpy()
            metrics = {**rating_metrics(test.ratings.numpy(), pred), **metrics}
            ci95 = {**rating_ci95(test.ratings.numpy(), pred, test.users.numpy()), **ci95}
            details["rating_protocol"] = rating_protocol(data.protocol)
            details.update(like_view(test.ratings.numpy(), pred, data.meta))
        details["ci95"] = ci95
        metrics.update(
            parameters=learned_size(model),
            size_mb=model_megabytes(model),
            latency_ms=latency_ms(model, self.example_input(data), repeats=10),
        )
        artifacts = {
            "test_users": users.astype(np.int32),
            "top": top.astype(np.int32),
            "user_ndcg": per_user[f"ndcg@{K}"].astype(np.float32),  # for paired comparisons of runs (core.eval.compare)
        }
        return metrics, details, artifacts

    def train_size(self, data: RecsysData) -> int:
        return len(data.splits["train"])

    def sample_train(self, data: RecsysData, most: int, seed: int) -> tuple[RecsysData, str]:
        return data, ""  # the baseline (popularity) counts every interaction: cheap at any size

    def validation_score(self, model: nn.Module, data: RecsysData) -> float:
        """NDCG@10 on the validation split."""
        per_user, _, _ = per_user_ranking(prepare(model, data), data, "val")
        return float(per_user[f"ndcg@{K}"].mean())

    def example_input(self, data: RecsysData) -> torch.Tensor:
        return torch.zeros(1, dtype=torch.long)  # one user: latency is scoring the whole catalogue for them


def like_view(y_true: np.ndarray, pred: np.ndarray, meta: dict[str, Any]) -> dict[str, Any]:
    """'Will this user like it (rating >= 4)?' from predicted ratings: a prediction that rounds to 4 or more says yes.

    On a scale without 4 inside it (0-1, say), the midpoint of the scale is the cut.
    """
    low, high = meta["rating_min"], meta["rating_max"]
    threshold = LIKE if low < LIKE <= high else (low + high) / 2
    cut = threshold - 0.5 if meta.get("integer_ratings") else threshold
    names = [f"not liked (< {threshold:g})", f"liked (≥ {threshold:g})"]
    cls = classification_metrics((y_true >= threshold).astype(int), (pred >= cut).astype(int), names)
    rounded = "rounded to a whole star " if meta.get("integer_ratings") else ""
    return {
        "classification_note": (
            f"Will this user like it (rating ≥ {threshold:g})? The predicted rating {rounded}against the true one, "
            f"on the {len(y_true):,} held-out test ratings."
        ),
        "report": cls["report"],
        "confusion_matrix": cls["confusion_matrix"],
        "class_names": names,
        "like_accuracy": cls["accuracy"],
    }


TASK = RecsysTask()
