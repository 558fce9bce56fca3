"""Recommenders: every model scores all items for a batch of users (`score_users`) and for a new visitor.

Gradient-trained: `mf` (biased MF of ratings), `bpr`, `neumf`, `sasrec`. Closed form / counting
(`sklearn_fitted = True`, fitted by the task's `fit_baseline`): `pop`, `itemknn`, `ease`. Everything a model
needs to score, including the training interactions of the models that read a user's history, lives in
parameters or buffers, so a checkpoint's state_dict rebuilds it.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse
from torch import nn

from core.models import register

MAX_DENSE_ITEMS = 20_000  # EASE keeps an items x items matrix in memory


class Recommender(nn.Module):
    """Base: `score_users(users) -> (B, n_items)`; higher is better. Models reading histories set `uses_history`."""

    sklearn_fitted = False
    rating_model = False  # predicts ratings on the data's scale (RMSE/MAE apply)
    uses_history = False

    def __init__(self, n_users: int, n_items: int, n_train: int = 0) -> None:
        super().__init__()
        self.n_users, self.n_items = n_users, n_items
        if self.uses_history:  # the training interactions as CSR: user u's items are items[ptr[u]:ptr[u+1]]
            self.register_buffer("hist_ptr", torch.zeros(n_users + 1, dtype=torch.long))
            self.register_buffer("hist_items", torch.zeros(n_train, dtype=torch.long))

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
        """Store the training interactions (given in time order) that scoring reads."""
        if not self.uses_history:
            return
        order = torch.argsort(users, stable=True)
        counts = torch.bincount(users, minlength=self.n_users)
        self.hist_ptr.copy_(torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]))
        self.hist_items.copy_(items[order])

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

    def visitor_vector(self, items: torch.Tensor) -> torch.Tensor:
        x = torch.zeros(self.n_items, device=items.device)
        x[items] = 1.0
        return x


def learned_size(model: nn.Module) -> int:
    """Learned numbers: parameters plus fitted buffers (not the stored training history)."""
    params = sum(p.numel() for p in model.parameters())
    return params + sum(b.numel() for n, b in model.named_buffers() if not n.startswith("hist_") and n != "seq")


@register("recsys", "pop", "Popularity: everyone gets the most interacted-with items they have not seen")
class Popularity(Recommender):
    sklearn_fitted = True

    def __init__(self, n_users: int, n_items: int, **_) -> None:
        super().__init__(n_users, n_items)
        self.register_buffer("counts", torch.zeros(n_items))

    def fit(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray) -> Popularity:
        self.counts.copy_(torch.from_numpy(np.bincount(items, minlength=self.n_items)).float())
        return self

    def score_users(self, users):
        return self.counts.expand(len(users), -1)

    def score_visitor(self, items, ratings):
        return self.counts.clone()


@register("recsys", "itemknn", "Item-item cosine similarity on who interacted with what (k nearest neighbours)")
class ItemKNN(Recommender):
    sklearn_fitted = True
    uses_history = True

    def __init__(self, n_users: int, n_items: int, n_train: int = 0, k: int = 100, shrink: float = 0.0, **_) -> None:
        super().__init__(n_users, n_items, n_train)
        self.k, self.shrink = min(k, n_items - 1), shrink
        self.register_buffer("nbr_items", torch.zeros(n_items, self.k, dtype=torch.long))
        self.register_buffer("nbr_sims", torch.zeros(n_items, self.k))

    def fit(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray) -> ItemKNN:
        x = sparse.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(self.n_users, self.n_items))
        x.data[:] = 1.0  # repeated pairs count once
        co = (x.T @ x).toarray()  # (n_items, n_items) co-occurrence counts
        norms = np.sqrt(np.diag(co))
        sims = co / (np.outer(norms, norms) + self.shrink + 1e-8)
        np.fill_diagonal(sims, 0.0)
        top = np.argpartition(-sims, self.k - 1, axis=1)[:, : self.k]  # each item's k nearest neighbours
        self.nbr_items.copy_(torch.from_numpy(top))
        self.nbr_sims.copy_(torch.from_numpy(np.take_along_axis(sims, top, 1)).float())
        return self

    def similarity_matrix(self) -> torch.Tensor:
        """Dense (n_items, n_items): row i holds i's k neighbours' similarities, zeros elsewhere."""
        dense = torch.zeros(self.n_items, self.n_items, device=self.nbr_sims.device)
        return dense.scatter_(1, self.nbr_items, self.nbr_sims)

    def score_users(self, users):
        # score(u, i) = sum of sim(i, j) over i's neighbours j in u's history
        return self.history_matrix(users) @ self.similarity_matrix().T

    def score_visitor(self, items, ratings):
        return self.similarity_matrix() @ self.visitor_vector(items)

    def item_similarity(self, items, others):
        return self.similarity_matrix()[items][:, others]

    def item_vectors(self):
        return self.similarity_matrix()


@register("recsys", "ease", "EASE: a linear item-to-item autoencoder solved in closed form (Steck, 2019)")
class EASE(Recommender):
    sklearn_fitted = True
    uses_history = True

    def __init__(self, n_users: int, n_items: int, n_train: int = 0, reg: float = 250.0, **_) -> None:
        if n_items > MAX_DENSE_ITEMS:
            raise ValueError(f"ease keeps an items x items matrix: {n_items:,} items is over {MAX_DENSE_ITEMS:,}")
        super().__init__(n_users, n_items, n_train)
        self.reg = reg
        self.register_buffer("weights", torch.zeros(n_items, n_items))

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


@register("recsys", "mf", "Biased matrix factorisation of ratings (SVD-style, squared error)")
class MatrixFactorization(_EmbeddingRecommender):
    rating_model = True

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
        super().__init__(n_users, n_items)
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


@register("recsys", "bpr", "BPR: matrix factorisation trained to rank each seen item above an unseen one")
class BPR(_EmbeddingRecommender):
    def __init__(self, n_users: int, n_items: int, dim: int = 64, **_) -> None:
        super().__init__(n_users, n_items)
        self.user_emb, self.item_emb = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
        self.item_bias = nn.Embedding(n_items, 1)
        nn.init.xavier_normal_(self.user_emb.weight)
        nn.init.xavier_normal_(self.item_emb.weight)
        nn.init.zeros_(self.item_bias.weight)

    def score_pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:  # (B,), (B,) -> (B,)
        return (self.user_emb(users) * self.item_emb(items)).sum(-1) + self.item_bias(items)[:, 0]

    def l2(self, users: torch.Tensor, *item_sets: torch.Tensor) -> torch.Tensor:
        total = (self.user_emb(users) ** 2).sum(-1)
        for items in item_sets:
            total = total + (self.item_emb(items) ** 2).sum(-1) + self.item_bias(items)[:, 0] ** 2
        return total.mean()

    def score_users(self, users):
        return self.user_emb(users) @ self.item_emb.weight.T + self.item_bias.weight[:, 0]

    def score_visitor(self, items, ratings):
        def score(p):
            return self.item_emb.weight.detach() @ p + self.item_bias.weight[:, 0].detach()

        return self._fold_in(items, [self.user_emb.weight.mean(0)], score)

    def item_vectors(self):
        return self.item_emb.weight


@register("recsys", "neumf", "Neural collaborative filtering: GMF and an MLP over user and item embeddings")
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
        super().__init__(n_users, n_items)
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
        return torch.cat([self._score_all(self.user_gmf(u), self.user_mlp(u)) for u in users.split(256)])

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


@register("recsys", "sasrec", "SASRec: self-attention over each user's time-ordered history predicts the next item")
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
        super().__init__(n_users, n_items, n_train)
        self.max_len = max_len
        self.item_emb = nn.Embedding(n_items + 1, dim, padding_idx=0)  # item i is row i + 1; row 0 pads
        self.pos_emb = nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList(_CausalBlock(dim, heads, dropout) for _ in range(blocks))
        self.norm, self.drop = nn.LayerNorm(dim), nn.Dropout(dropout)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        self.register_buffer("seq", torch.zeros(n_users, max_len, dtype=torch.long))  # last items, left-padded

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
