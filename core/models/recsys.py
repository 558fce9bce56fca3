"""Recommenders: every model scores all items for a batch of users (`score_users`) and for a new visitor.

Gradient-trained: `mf` (biased MF of ratings), `bpr`, `neumf`, `sasrec`. Closed form / counting
(`closed_form` in their specs, fitted by the task's `fit_closed_form`): `pop`, `itemknn`, `ease`. Everything a model
needs to score, including the training interactions of the models that read a user's history, lives in
parameters or buffers, so a checkpoint's state_dict rebuilds it.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse
from torch import nn

from core.data import DataError, env_limit
from core.exec.memory import memory_room
from core.models import register_model, require_facts
from core.run.options import Option

require_facts("recsys", "fold_in")  # the New visitor tab completes "so MODEL ..." with it

MAX_GB = 4.0  # most one recommender may need (memory_bytes), checked before it allocates; DLSTUDIO_RECSYS_MAX_GB
SCORE_USERS = 512  # users ranked at once (core.tasks.recsys.rank_users)
SCORE_BYTES = 17  # per user and item ranked: scores, their masked copy, the exclusion row (float, bool), a history row
NEUMF_PAIRS = 1 << 19  # (user, item) pairs NeuMF scores at once: 256 users of 2,048 items
KNN_BLOCK_CELLS = 1 << 21  # ItemKNN fits this many (item, item) similarities at a time
MAP_MAX_ITEMS = 5_000  # ItemKNN's item map reads dense similarity rows: only for catalogues up to this


# Training settings tuned on `movies` (benchmarks/recsys_models.py); options include objective settings such as
# the L2 weight `reg` or the `negatives` per positive.
TRAINING = {"optimizer": "adam", "schedule": "constant", "weight_decay": 0.0}
DEFAULTS_FROM = (
    "chosen on movies by the test numbers of benchmarks/recsys_models.py (before validation-only selection; "
    "scripts/tune_defaults.py recsys --models NAME re-selects them)"
)
DIM64 = Option("dim", "Embedding size", 64, 4, 512, 4, kind="int")
RANK_WEIGHT = Option("rank_weight", "Ranking-loss weight", 2.0, 0.0, 100.0, 0.5)


class Recommender(nn.Module):
    """Base: `score_users(users) -> (B, n_items)`; higher is better. Models reading histories set `uses_history`."""

    uses_history = False

    def __init__(self, n_users: int, n_items: int, n_train: int = 0, **options) -> None:
        check_memory(type(self), n_users, n_items, n_train, **options)  # before a byte is allocated
        super().__init__()
        self.n_users, self.n_items = n_users, n_items
        if self.uses_history:  # the training interactions as CSR: user u's items are items[ptr[u]:ptr[u+1]]
            self.register_buffer("hist_ptr", torch.zeros(n_users + 1, dtype=torch.long))
            self.register_buffer("hist_items", torch.zeros(n_train, dtype=torch.long))

    @classmethod
    def memory_bytes(cls, n_users: int, n_items: int, n_train: int = 0, **options) -> int:
        """Peak bytes to build, fit and rank with this model, beyond the data itself (an upper estimate).

        Here: the stored histories and ranking SCORE_USERS users at a time; each model adds its own state.
        """
        history = (n_users + 1 + n_train) * 8 if cls.uses_history else 0
        return history + SCORE_USERS * n_items * SCORE_BYTES

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        return self.score_users(users)

    def score_users(self, users: torch.Tensor) -> torch.Tensor:  # (B,) -> (B, n_items)
        raise NotImplementedError

    def score_visitor(self, items: torch.Tensor, ratings: torch.Tensor) -> torch.Tensor:
        """Scores (n_items,) for someone who is not in the training data, from the items they rated (in order)."""
        raise NotImplementedError

    def item_vectors(self) -> torch.Tensor | None:
        """(n_items, d) vectors for the item map; None when the model has none."""
        return None

    def item_similarity(self, items: torch.Tensor, others: torch.Tensor) -> torch.Tensor | None:
        """(m, h) similarity of `items` to `others` (for "because you liked ..."); cosine of item vectors."""
        vectors = self.item_vectors()
        if vectors is None:
            return None
        v = nn.functional.normalize(vectors.detach().float(), dim=1)
        return v[items] @ v[others].T

    def set_history(self, users: torch.Tensor, items: torch.Tensor) -> None:
        """Store the interactions (given in time order) that scoring reads: the training ones, or for the test
        under the time protocol training and validation (as many more as there are validation items)."""
        if not self.uses_history:
            return
        order = torch.argsort(users, stable=True)
        counts = torch.bincount(users, minlength=self.n_users)
        self.hist_ptr.copy_(torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]))
        self.hist_items = items[order].to(self.hist_items.device)  # a buffer still: its length may change

    def history_matrix(self, users: torch.Tensor) -> torch.Tensor:
        """(B, n_items) 0/1 rows of the stored training interactions."""
        starts, ends = self.hist_ptr[users], self.hist_ptr[users + 1]
        lengths = ends - starts
        rows = torch.repeat_interleave(torch.arange(len(users), device=users.device), lengths)
        offsets = torch.arange(int(lengths.sum()), device=users.device) - torch.repeat_interleave(
            lengths.cumsum(0) - lengths, lengths
        )
        cols = self.hist_items[torch.repeat_interleave(starts, lengths) + offsets]
        out = torch.zeros(len(users), self.n_items, device=users.device)
        out[rows, cols] = 1.0
        return out

    def history_csr(self, users: torch.Tensor) -> sparse.csr_matrix:
        """(B, n_items) sparse 0/1 rows of the stored training interactions, float32."""
        ptr, stored = self.hist_ptr.cpu().numpy(), self.hist_items.cpu().numpy()
        u = users.cpu().numpy()
        starts, lengths = ptr[u], ptr[u + 1] - ptr[u]
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        cols = stored[np.repeat(starts, lengths) + offsets]
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        out = sparse.csr_matrix((np.ones(len(cols), np.float32), cols, indptr), shape=(len(u), self.n_items))
        out.sum_duplicates()
        out.data[:] = 1.0  # an item seen twice counts once, as in history_matrix
        return out

    def visitor_vector(self, items: torch.Tensor) -> torch.Tensor:
        x = torch.zeros(self.n_items, device=items.device)
        x[items] = 1.0
        return x


def check_memory(model: type[Recommender], n_users: int, n_items: int, n_train: int = 0, **options) -> int:
    """`model.memory_bytes(...)`, or a DataError naming the need and the limit when over: DLSTUDIO_RECSYS_MAX_GB,
    or what this process may still use (the machine's memory, an rlimit, a cgroup: core.exec.memory) if that is less."""
    need = model.memory_bytes(n_users, n_items, n_train, **options)
    limit = env_limit("DLSTUDIO_RECSYS_MAX_GB", MAX_GB) * 1e9
    what = f"the limit of {limit / 1e9:.1f} GB for one recommender (DLSTUDIO_RECSYS_MAX_GB)"
    room = memory_room()
    if room is not None and room[0] < limit:
        limit, what = room[0], f"the {room[0] / 1e9:.1f} GB this process may still use ({room[1]})"
    if need > limit:
        raise DataError(
            f"{model.__name__} on {n_users:,} users and {n_items:,} items would need about {need / 1e9:.1f} GB of "
            f"memory, over {what}; pick a model or setting that needs less, or fewer items"
        )
    return need


def _adam_bytes(parameters: int) -> int:
    """Weights, gradients and Adam's two moments, float32."""
    return parameters * 4 * 4


def learned_size(model: nn.Module) -> int:
    """Learned numbers: parameters plus fitted buffers (not the stored training history)."""
    params = sum(p.numel() for p in model.parameters())
    return params + sum(b.numel() for n, b in model.named_buffers() if not n.startswith("hist_") and n != "seq")


@register_model(
    "recsys",
    "pop",
    "Popularity: everyone gets the most interacted-with items they have not seen",
    label="popularity",
    closed_form=True,
    good_for="the baseline every recommender must beat",
    fold_in="no personal signal: the most popular items you have not rated",
)
class Popularity(Recommender):
    def __init__(self, n_users: int, n_items: int, **_) -> None:
        super().__init__(n_users, n_items)
        self.register_buffer("counts", torch.zeros(n_items))

    @classmethod
    def memory_bytes(cls, n_users: int, n_items: int, n_train: int = 0, **options) -> int:
        return super().memory_bytes(n_users, n_items, n_train) + n_items * 12  # counts, and counting them

    def fit(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray) -> Popularity:
        self.counts.copy_(torch.from_numpy(np.bincount(items, minlength=self.n_items)).float())
        return self

    def score_users(self, users):
        return self.counts.expand(len(users), -1)

    def score_visitor(self, items, ratings):
        return self.counts.clone()


@register_model(
    "recsys",
    "itemknn",
    "Item-item cosine similarity on who interacted with what (k nearest neighbours)",
    closed_form=True,
    options=(
        Option("k", "Neighbours per item", 100, 1, 1000, 10, kind="int"),
        Option("shrink", "Similarity shrinkage", 10.0, 0.0, 1000.0, 1.0),
    ),
    good_for="explainable lists: 'because you liked …'",
    fold_in="sums the similarities of the items you liked (4+) to every other item",
)
class ItemKNN(Recommender):
    uses_history = True

    def __init__(self, n_users: int, n_items: int, n_train: int = 0, k: int = 100, shrink: float = 0.0, **_) -> None:
        super().__init__(n_users, n_items, n_train, k=k)
        self.k, self.shrink = min(k, n_items - 1), shrink
        self.register_buffer("nbr_items", torch.zeros(n_items, self.k, dtype=torch.long))
        self.register_buffer("nbr_sims", torch.zeros(n_items, self.k))

    @classmethod
    def memory_bytes(cls, n_users: int, n_items: int, n_train: int = 0, k: int = 100, **options) -> int:
        k = min(k, n_items - 1)
        neighbours = n_items * k * 12  # nbr_items (int64) and nbr_sims (float32)
        fit = n_train * 48 + KNN_BLOCK_CELLS * 40  # the 0/1 matrix both ways; one block of similarity rows
        ranking = n_items * k * 40  # the sparse similarity matrix, made for each batch of users
        return super().memory_bytes(n_users, n_items, n_train) + neighbours + fit + ranking

    def fit(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray) -> ItemKNN:
        """Each item's k most similar items, a block of rows at a time: never an items x items matrix."""
        x = sparse.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(self.n_users, self.n_items))
        x.data[:] = 1.0  # repeated pairs count once
        xt = x.T.tocsr()
        norms = np.sqrt(np.asarray(xt.sum(1), dtype=np.float32).ravel())  # sqrt of each item's own co-occurrence
        rows = max(1, KNN_BLOCK_CELLS // self.n_items)
        for start in range(0, self.n_items, rows):
            top, sims = self._neighbours((xt[start : start + rows] @ x).tocsr(), start, norms)
            self.nbr_items[start : start + len(top)] = torch.from_numpy(top)
            self.nbr_sims[start : start + len(top)] = torch.from_numpy(sims)
        return self

    def _neighbours(self, co: sparse.csr_matrix, start: int, norms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, k) neighbours and similarities of items start.. from their (rows, n_items) co-occurrence counts.

        A row with at most k similar items keeps them all (the other slots point at the item itself with 0);
        a row with more picks its top k from the dense row, as the full matrix would.
        """
        k, n_rows = self.k, co.shape[0]
        row_of = np.repeat(np.arange(n_rows), np.diff(co.indptr))
        sims = co.data / (norms[start + row_of] * norms[co.indices] + self.shrink + 1e-8)
        sims[co.indices == start + row_of] = 0.0  # an item is not its own neighbour
        counts = np.bincount(row_of[sims != 0], minlength=n_rows)
        top = np.repeat(start + np.arange(n_rows)[:, None], k, axis=1)
        values = np.zeros((n_rows, k), np.float32)
        keep = (sims != 0) & (counts[row_of] <= k)
        rows, cols = row_of[keep], co.indices[keep]
        slot = np.arange(len(rows)) - np.searchsorted(rows, rows)  # place within its row (rows are sorted)
        top[rows, slot], values[rows, slot] = cols, sims[keep]
        crowded = np.flatnonzero(counts > k)
        if len(crowded):
            dense = sparse.csr_matrix((sims, co.indices, co.indptr), shape=co.shape)[crowded].toarray()
            best = np.argpartition(-dense, k - 1, axis=1)[:, :k]
            top[crowded], values[crowded] = best, np.take_along_axis(dense, best, 1)
        return top, values

    def similarity_matrix(self) -> torch.Tensor:
        """Dense (n_items, n_items): row i holds i's k neighbours' similarities, zeros elsewhere (small catalogues)."""
        dense = torch.zeros(self.n_items, self.n_items, device=self.nbr_sims.device)
        return dense.scatter_(1, self.nbr_items, self.nbr_sims)

    def similarity_csr(self) -> sparse.csr_matrix:
        """Sparse (n_items, n_items) float32: row i holds i's k neighbours' similarities."""
        n, k = self.nbr_items.shape
        values, cols = self.nbr_sims.cpu().numpy().ravel(), self.nbr_items.cpu().numpy().ravel()
        return sparse.csr_matrix((values, (np.repeat(np.arange(n), k), cols)), shape=(n, n))

    def score_users(self, users):
        # score(u, i) = sum of sim(i, j) over i's neighbours j in u's history
        scores = (self.history_csr(users) @ self.similarity_csr().T).toarray()
        return torch.from_numpy(scores).to(users.device)

    def score_visitor(self, items, ratings):
        seen = np.zeros(self.n_items, np.float32)
        seen[items.cpu().numpy()] = 1.0
        return torch.from_numpy(self.similarity_csr() @ seen).to(items.device)

    def item_similarity(self, items, others):
        rows = self.similarity_csr()[items.cpu().numpy()][:, others.cpu().numpy()]
        return torch.from_numpy(rows.toarray()).to(items.device)

    def item_vectors(self):
        return self.similarity_matrix() if self.n_items <= MAP_MAX_ITEMS else None


@register_model(
    "recsys",
    "ease",
    "EASE: a linear item-to-item autoencoder solved in closed form (Steck, 2019)",
    closed_form=True,
    options=(Option("reg", "Regularisation (L2)", 250.0, 0.0, 1e5, 10.0),),
    good_for="the best top-10 here, fitted in a second (catalogues up to a few thousand items)",
    fold_in="passes the items you liked (4+) through the learned item-to-item weights",
)
class EASE(Recommender):
    uses_history = True

    def __init__(self, n_users: int, n_items: int, n_train: int = 0, reg: float = 250.0, **_) -> None:
        super().__init__(n_users, n_items, n_train)
        self.reg = reg
        self.register_buffer("weights", torch.zeros(n_items, n_items))

    @classmethod
    def memory_bytes(cls, n_users: int, n_items: int, n_train: int = 0, **options) -> int:
        # items x items: the float64 Gram matrix, its inverse and the weights formed from it, then float32 twice
        return super().memory_bytes(n_users, n_items, n_train) + n_items**2 * 40

    def fit(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray) -> EASE:
        x = sparse.csr_matrix((np.ones(len(users)), (users, items)), shape=(self.n_users, self.n_items))
        x.data[:] = 1.0
        gram = (x.T @ x).toarray() + self.reg * np.eye(self.n_items)
        p = np.linalg.inv(gram)
        b = -p / np.diag(p)[None, :]  # B = I - P diag(1/diag(P)), with a zero diagonal
        np.fill_diagonal(b, 0.0)
        self.weights.copy_(torch.from_numpy(b).float())
        return self

    def score_users(self, users):
        return self.history_matrix(users) @ self.weights

    def score_visitor(self, items, ratings):
        return self.visitor_vector(items) @ self.weights

    def item_similarity(self, items, others):
        return self.weights[others][:, items].T  # how much each history item adds to each candidate's score

    def item_vectors(self):
        return self.weights


class _EmbeddingRecommender(Recommender):
    """Shared: a visitor's vectors are found by a few steps of a pairwise loss on the items they liked."""

    def _fold_in(self, items: torch.Tensor, init: list[torch.Tensor], score, steps: int = 60) -> torch.Tensor:
        vectors = [v.detach().clone().requires_grad_(True) for v in init]
        optimizer = torch.optim.Adam(vectors, lr=0.05)
        liked = torch.zeros(self.n_items, dtype=torch.bool, device=items.device)
        liked[items] = True
        with torch.enable_grad():
            for _ in range(steps):
                s = score(*vectors)  # (n_items,)
                diff = s[liked][:, None] - s[~liked][None, :]
                loss = -nn.functional.logsigmoid(diff).mean() + 1e-3 * sum((v**2).sum() for v in vectors)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        with torch.no_grad():
            return score(*vectors)


@register_model(
    "recsys",
    "mf",
    "Biased matrix factorisation of ratings (SVD-style, squared error)",
    objective="rating",
    # validation RMSE 0.875 at lr 3e-3 (1e-2: 0.880, 3e-2: 0.930); 10 epochs and 20 end alike (early stopping)
    defaults={**TRAINING, "epochs": 10, "lr": 3e-3, "batch_size": 1024, "patience": 3},
    options=(DIM64, Option("reg", "Regularisation (L2)", 0.05, 0.0, 10.0, 0.01), RANK_WEIGHT),
    good_for="predicting star ratings (RMSE)",
    defaults_from="selected on movies' validation split by scripts/tune_defaults.py (lr x epochs, 3 seeds; "
    "by validation RMSE)",
    fold_in="fits your own factors and bias to your ratings by ridge regression (all ratings count, low ones too)",
    rating_model=True,
)
class MatrixFactorization(_EmbeddingRecommender):
    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int = 64,
        global_mean: float = 3.5,
        rating_min: float = 1.0,
        rating_max: float = 5.0,
        rank_weight: float = 2.0,
        **_,
    ) -> None:
        super().__init__(n_users, n_items, dim=dim)
        self.rank_weight = rank_weight  # 0: rank by predicted rating; else by the ranking head (see RatingObjective)
        self.user_emb, self.item_emb = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
        self.user_bias, self.item_bias = nn.Embedding(n_users, 1), nn.Embedding(n_items, 1)
        self.rank_bias = nn.Embedding(n_items, 1)  # the ranking head's own item term: how often an item is chosen
        for emb in (self.user_emb, self.item_emb):
            nn.init.normal_(emb.weight, std=0.1)
        for emb in (self.user_bias, self.item_bias, self.rank_bias):
            nn.init.zeros_(emb.weight)
        self.register_buffer("global_mean", torch.tensor(float(global_mean)))
        self.register_buffer("rating_range", torch.tensor([float(rating_min), float(rating_max)]))

    @classmethod
    def memory_bytes(cls, n_users: int, n_items: int, n_train: int = 0, dim: int = 64, **options) -> int:
        parameters = (n_users + n_items) * (dim + 1) + n_items
        return super().memory_bytes(n_users, n_items, n_train) + _adam_bytes(parameters)

    def predict(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:  # (B,), (B,) -> (B,)
        dot = (self.user_emb(users) * self.item_emb(items)).sum(-1)
        return self.global_mean + self.user_bias(users)[:, 0] + self.item_bias(items)[:, 0] + dot

    def predict_rating(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.predict(users, items).clamp(*self.rating_range.tolist())

    def rank_pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """The ranking head: shared factors plus an item term of its own."""
        return (self.user_emb(users) * self.item_emb(items)).sum(-1) + self.rank_bias(items)[:, 0]

    def l2(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        terms = (self.user_emb(users), self.item_emb(items), self.user_bias(users), self.item_bias(items))
        return sum((t**2).sum(-1) for t in terms).mean()

    def score_users(self, users):
        dot = self.user_emb(users) @ self.item_emb.weight.T
        if self.rank_weight:
            return dot + self.rank_bias.weight[:, 0][None, :]
        return self.global_mean + self.user_bias(users) + self.item_bias.weight[:, 0][None, :] + dot

    def score_visitor(self, items, ratings, reg: float = 1.0):
        """Fold-in by ridge regression: the visitor's factors and bias that best explain their ratings."""
        q = self.item_emb.weight[items].detach()
        a = torch.cat([q, torch.ones(len(items), 1, device=q.device)], 1)  # (m, d + 1)
        residual = ratings.float() - self.global_mean - self.item_bias.weight[items, 0].detach()
        solution = torch.linalg.solve(a.T @ a + reg * torch.eye(a.shape[1], device=q.device), a.T @ residual)
        p, bias = solution[:-1], solution[-1]
        out = self.global_mean + bias + self.item_bias.weight[:, 0] + self.item_emb.weight @ p
        return out.detach()

    def item_vectors(self):
        return self.item_emb.weight


@register_model(
    "recsys",
    "bpr",
    "BPR: matrix factorisation trained to rank each seen item above an unseen one",
    objective="pairwise",
    defaults={**TRAINING, "epochs": 60, "lr": 1e-3, "batch_size": 2048},
    # reg 0: on validation 1e-4 and 1e-3 did no better (NDCG@10 0.2839 and 0.2847 against 0.2844, one seed)
    options=(DIM64, Option("reg", "Regularisation (L2)", 0.0, 0.0, 1.0, 1e-4)),
    good_for="top-10 lists from clicks or ratings alike",
    defaults_from="selected on movies' validation split by scripts/tune_defaults.py (batch size x lr x epochs, "
    "3 seeds; validation NDCG@10 0.286)",
    fold_in="a few gradient steps find your vector from the items you liked (4+)",
)
class BPR(_EmbeddingRecommender):
    def __init__(self, n_users: int, n_items: int, dim: int = 64, **_) -> None:
        super().__init__(n_users, n_items, dim=dim)
        self.user_emb, self.item_emb = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
        self.item_bias = nn.Embedding(n_items, 1)
        nn.init.xavier_normal_(self.user_emb.weight)
        nn.init.xavier_normal_(self.item_emb.weight)
        nn.init.zeros_(self.item_bias.weight)

    @classmethod
    def memory_bytes(cls, n_users: int, n_items: int, n_train: int = 0, dim: int = 64, **options) -> int:
        parameters = (n_users + n_items) * dim + n_items
        return super().memory_bytes(n_users, n_items, n_train) + _adam_bytes(parameters)

    def pairwise_loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, reg: float = 0.0):
        """BPR's loss on (B,) triples: -log sigmoid(score(u, pos) - score(u, neg)), plus `reg` times the mean
        squared norm of the rows involved.

        The hot loop of BPR's training, kept lean: each row is read once per batch (the L2 term used to read the
        user table three times), by `index_select`, whose backward (one index_add) costs less on the CPU than
        nn.Embedding's, and the L2 term is only formed when `reg` is not 0.
        """
        u = self.user_emb.weight.index_select(0, users)  # (B, d)
        vp, vn = self.item_emb.weight.index_select(0, pos), self.item_emb.weight.index_select(0, neg)  # (B, d) each
        bias = self.item_bias.weight[:, 0]
        bp, bn = bias.index_select(0, pos), bias.index_select(0, neg)  # (B,) each
        loss = -nn.functional.logsigmoid((u * (vp - vn)).sum(-1) + bp - bn).mean()
        if reg:
            loss = loss + reg * ((u**2).sum(-1) + (vp**2).sum(-1) + (vn**2).sum(-1) + bp**2 + bn**2).mean()
        return loss

    def score_users(self, users):
        return self.user_emb(users) @ self.item_emb.weight.T + self.item_bias.weight[:, 0]

    def score_visitor(self, items, ratings):
        def score(p):
            return self.item_emb.weight.detach() @ p + self.item_bias.weight[:, 0].detach()

        return self._fold_in(items, [self.user_emb.weight.mean(0)], score)

    def item_vectors(self):
        return self.item_emb.weight


@register_model(
    "recsys",
    "neumf",
    "Neural collaborative filtering: GMF and an MLP over user and item embeddings",
    objective="pointwise",
    defaults={**TRAINING, "epochs": 15, "lr": 2e-3, "batch_size": 2048, "patience": 2},
    options=(
        Option("dim", "Embedding size", 32, 4, 512, 4, kind="int"),
        Option("negatives", "Negatives per positive", 4, 1, 50, 1, kind="int"),
        Option("dropout", "Dropout", 0.0, 0.0, 0.9, 0.05),
    ),
    good_for="non-linear user-item interactions",
    # re-checked on validation only (movies, split seeds 0 and 1): lr 1e-3 / 2e-3 / 6e-3 gave NDCG@10 0.2767 /
    # 0.2769 / 0.2525; 15 and 30 epochs the same (early stopping ends both by epoch 15)
    defaults_from="re-chosen on movies' validation splits 0 and 1 by scripts/tune_defaults.py (lr x epochs, 1 seed "
    "each): the earlier defaults kept",
    fold_in="a few gradient steps find your user vectors from the items you liked (4+)",
)
class NeuMF(_EmbeddingRecommender):
    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int = 32,
        layers: tuple[int, ...] = (64, 32, 16),
        dropout: float = 0.0,
        **_,
    ) -> None:
        super().__init__(n_users, n_items, dim=dim, layers=layers)
        self.user_gmf, self.item_gmf = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
        self.user_mlp, self.item_mlp = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
        for emb in (self.user_gmf, self.item_gmf, self.user_mlp, self.item_mlp):
            nn.init.normal_(emb.weight, std=0.01)
        blocks, width = [], 2 * dim
        for size in layers:
            blocks += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.mlp = nn.Sequential(*blocks)
        self.head = nn.Linear(dim + width, 1)

    @classmethod
    def memory_bytes(
        cls, n_users: int, n_items: int, n_train: int = 0, dim: int = 32, layers: tuple[int, ...] = (64, 32, 16), **_
    ) -> int:
        parameters = (n_users + n_items) * 2 * dim + sum(a * b for a, b in zip((2 * dim, *layers), layers))
        per_pair = 4 * (4 * dim + 2 * sum(layers))  # the MLP's input and each layer's output, for one (user, item)
        scoring = min(NEUMF_PAIRS, 256 * n_items) * per_pair
        return super().memory_bytes(n_users, n_items, n_train) + _adam_bytes(parameters) + scoring

    def score_chunk(self) -> int:
        """Users scored at once: 256, fewer for catalogues over 2,048 items so a chunk stays NEUMF_PAIRS pairs."""
        return max(1, min(256, NEUMF_PAIRS // self.n_items))

    def _logits(self, gmf_u, mlp_u, gmf_i, mlp_i) -> torch.Tensor:
        # (B, d) user vectors and (B, d) item vectors -> (B,) logits of "this user interacts with this item"
        h = torch.cat([gmf_u * gmf_i, self.mlp(torch.cat([mlp_u, mlp_i], -1))], -1)
        return self.head(h)[..., 0]

    def score_pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self._logits(self.user_gmf(users), self.user_mlp(users), self.item_gmf(items), self.item_mlp(items))

    def _score_all(self, gmf_u: torch.Tensor, mlp_u: torch.Tensor) -> torch.Tensor:
        b, n = gmf_u.shape[0], self.n_items
        expand = lambda t: t[:, None, :].expand(b, n, t.shape[-1])  # noqa: E731
        items = lambda w: w[None].expand(b, n, w.shape[-1])  # noqa: E731
        return self._logits(expand(gmf_u), expand(mlp_u), items(self.item_gmf.weight), items(self.item_mlp.weight))

    def score_users(self, users):
        chunks = users.split(self.score_chunk())
        return torch.cat([self._score_all(self.user_gmf(u), self.user_mlp(u)) for u in chunks])

    def score_visitor(self, items, ratings):
        init = [self.user_gmf.weight.mean(0), self.user_mlp.weight.mean(0)]
        return self._fold_in(items, init, lambda g, m: self._score_all(g[None], m[None])[0])

    def item_vectors(self):
        return torch.cat([self.item_gmf.weight, self.item_mlp.weight], 1)


class _CausalBlock(nn.Module):
    """Pre-norm self-attention block that only looks back in time."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ff = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, d)
        b, length, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, length, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0
        h = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)  # (B, heads, L, d/h)
        x = x + self.drop(self.out(h.transpose(1, 2).reshape(b, length, d)))
        return x + self.drop(self.ff(self.norm2(x)))


@register_model(
    "recsys",
    "sasrec",
    "SASRec: self-attention over each user's time-ordered history predicts the next item",
    objective="sequence",
    defaults={**TRAINING, "epochs": 10, "lr": 5e-3, "batch_size": 128, "patience": 2},
    split_defaults={"protocol": "time"},  # RecBole's sequential leave-one-out: the fair test of a next-item model
    options=(
        DIM64,
        Option("max_len", "History length", 50, 2, 500, 1, kind="int"),
        Option("blocks", "Attention blocks", 2, 1, 8, 1, kind="int"),
        Option("heads", "Attention heads", 2, 1, 8, 1, kind="int"),
        Option("dropout", "Dropout", 0.2, 0.0, 0.9, 0.05),
    ),
    good_for="what comes next in a time-ordered history",
    # re-checked on validation only (movies, time protocol, split seeds 0 and 1): lr 2e-3 / 5e-3 / 1e-2 gave NDCG@10
    # 0.1747 / 0.1715 / 0.1522; 2e-3 is within one standard error and takes more steps; 10 and 20 epochs the same
    # (early stopping)
    defaults_from="re-chosen on movies' validation splits 0 and 1 (time protocol) by scripts/tune_defaults.py (lr x "
    "epochs, 1 seed each): the earlier defaults kept, the cheapest within one standard error of the best",
    fold_in="reads the items you rated, in the order you rated them, as your history",
)
class SASRec(Recommender):
    uses_history = True

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_train: int = 0,
        dim: int = 64,
        max_len: int = 50,
        blocks: int = 2,
        heads: int = 2,
        dropout: float = 0.2,
        **_,
    ) -> None:
        super().__init__(n_users, n_items, n_train, dim=dim, max_len=max_len, blocks=blocks)
        self.max_len = max_len
        self.item_emb = nn.Embedding(n_items + 1, dim, padding_idx=0)  # item i is row i + 1; row 0 pads
        self.pos_emb = nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList(_CausalBlock(dim, heads, dropout) for _ in range(blocks))
        self.norm, self.drop = nn.LayerNorm(dim), nn.Dropout(dropout)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        self.register_buffer("seq", torch.zeros(n_users, max_len, dtype=torch.long))  # last items, left-padded

    @classmethod
    def memory_bytes(
        cls,
        n_users: int,
        n_items: int,
        n_train: int = 0,
        dim: int = 64,
        max_len: int = 50,
        blocks: int = 2,
        batch_size: int = 128,
        **_,
    ) -> int:
        parameters = (n_items + 1 + max_len) * dim + blocks * 6 * dim * dim
        logits = batch_size * max_len * (n_items + 1) * 16  # a batch's logits, log-softmax and both gradients
        validation = n_users * n_items * 8  # every validation user's scores, gathered (SequenceObjective)
        own = _adam_bytes(parameters) + n_users * max_len * 8 + logits + validation
        return super().memory_bytes(n_users, n_items, n_train) + own

    def set_history(self, users, items):
        super().set_history(users, items)
        self.seq.copy_(self.sequences(torch.arange(self.n_users, device=self.seq.device)))

    def sequences(self, users: torch.Tensor) -> torch.Tensor:
        """(B, max_len) the last max_len training items of each user (+1), left-padded with 0."""
        starts, ends = self.hist_ptr[users], self.hist_ptr[users + 1]
        pos = ends[:, None] - self.max_len + torch.arange(self.max_len, device=users.device)[None, :]
        valid = pos >= starts[:, None]
        items = self.hist_items[pos.clamp(min=0, max=max(len(self.hist_items) - 1, 0))] + 1
        return torch.where(valid, items, torch.zeros_like(items))

    def hidden(self, seq: torch.Tensor) -> torch.Tensor:  # (B, L) item ids + 1 -> (B, L, d)
        length = seq.shape[1]
        x = self.item_emb(seq) * self.item_emb.embedding_dim**0.5 + self.pos_emb.weight[-length:][None]
        pad = (seq == 0)[..., None]
        x = self.drop(x).masked_fill(pad, 0.0)
        for block in self.blocks:
            x = block(x).masked_fill(pad, 0.0)
        return self.norm(x)

    def sequence_logits(self, seq: torch.Tensor) -> torch.Tensor:  # (B, L) -> (B, L, n_items + 1)
        return self.hidden(seq) @ self.item_emb.weight.T

    def score_users(self, users):
        return self.hidden(self.seq[users])[:, -1] @ self.item_emb.weight[1:].T

    def score_visitor(self, items, ratings):
        seq = torch.zeros(1, self.max_len, dtype=torch.long, device=items.device)
        last = items[-self.max_len :] + 1
        seq[0, self.max_len - len(last) :] = last
        return (self.hidden(seq)[:, -1] @ self.item_emb.weight[1:].T)[0]

    def item_vectors(self):
        return self.item_emb.weight[1:]
