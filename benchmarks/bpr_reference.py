"""A plain BPR-MF written here, beside our `bpr`, on the same split and scored by the same ranking code.

Run by hand: `.venv/bin/python benchmarks/bpr_reference.py [--seeds 3] [--threads 1]`.
The reference is the textbook recipe (Rendle et al. 2009, as RecBole trains it): 64-d user and item factors
(Xavier-normal), Adam at 1e-3, batches of 2,048 (user, seen item, one uniform unseen item) triples, 60 epochs,
no regularisation, no validation during training. Ours is `make_config("recsys", "bpr")`: the spec's defaults.
Both are ranked by core.tasks.recsys.per_user_ranking (full ranking, RecBole's protocol, K = 10).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

from benchmarks.over_seeds import sample_std
from core.eval.metrics import ci95_mean
from core.run.config import make_config
from core.run.experiment import run_experiment
from core.tasks.recsys import RecsysData, load_bundled, per_user_ranking


class PlainBPR(nn.Module):
    """Two embedding tables; a score is a dot product."""

    def __init__(self, n_users: int, n_items: int, dim: int = 64) -> None:
        super().__init__()
        self.user, self.item = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
        nn.init.xavier_normal_(self.user.weight)
        nn.init.xavier_normal_(self.item.weight)

    def score_users(self, users: torch.Tensor) -> torch.Tensor:  # (B,) -> (B, n_items)
        return self.user(users) @ self.item.weight.T


def train_plain_bpr(data: RecsysData, seed: int, epochs: int = 60, batch: int = 2048, lr: float = 1e-3) -> PlainBPR:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train = data.splits["train"]
    users, items = train.users.numpy(), train.items.numpy()
    seen = np.unique(users * data.n_items + items)
    model = PlainBPR(data.n_users, data.n_items)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        neg = rng.integers(data.n_items, size=len(users))  # one uniform item per triple, redrawn while seen
        todo = np.arange(len(users))
        while len(todo):
            keys = users[todo] * data.n_items + neg[todo]
            todo = todo[seen[np.searchsorted(seen, keys).clip(max=len(seen) - 1)] == keys]
            neg[todo] = rng.integers(data.n_items, size=len(todo))
        order = rng.permutation(len(users))
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            u, p, n = (torch.from_numpy(a[idx]) for a in (users, items, neg))
            pu = model.user(u)
            diff = (pu * model.item(p)).sum(-1) - (pu * model.item(n)).sum(-1)
            loss = -nn.functional.logsigmoid(diff).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def test_ndcg(model: nn.Module, data: RecsysData) -> tuple[float, list[float], float]:
    per_user, _, _ = per_user_ranking(model, data, "test")
    values = per_user["ndcg@10"]
    return float(values.mean()), ci95_mean(values), float(per_user["recall@10"].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=60, help="the reference's epochs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_bundled("movies", 0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); movies, split seed 0, test users ranked")
    rows: dict[str, dict[str, list]] = {}
    for seed in range(args.seeds):
        start = time.perf_counter()
        model = train_plain_bpr(data, seed, epochs=args.epochs)
        seconds = time.perf_counter() - start
        ndcg, ci, recall = test_ndcg(model, data)
        row = rows.setdefault(f"plain BPR-MF ({args.epochs} epochs, Adam 1e-3, batch 2048)", {})
        for key, value in (("ndcg", ndcg), ("ci", ci), ("recall", recall), ("seconds", seconds)):
            row.setdefault(key, []).append(value)
        print(f"  reference seed {seed}: NDCG@10 {ndcg:.4f} in {seconds:.1f} s", file=sys.stderr, flush=True)

        result = run_experiment(make_config("recsys", "bpr", device="cpu", seed=seed))
        config = result.config
        name = f"ours: bpr ({config.epochs} epochs, Adam {config.lr:g}, batch {config.batch_size})"
        row = rows.setdefault(name, {})
        values = (
            result.metrics["ndcg@10"],
            result.details["ci95"]["ndcg@10"],
            result.metrics["recall@10"],
            result.metrics["train_seconds"],
        )
        for key, value in zip(("ndcg", "ci", "recall", "seconds"), values):
            row.setdefault(key, []).append(value)
        print(f"  ours seed {seed}: NDCG@10 {values[0]:.4f} in {values[3]:.1f} s", file=sys.stderr, flush=True)
    print("\n| model | NDCG@10 (mean ± std) | 95% interval (seed 0) | recall@10 (mean) | train seconds (mean) |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        low, high = row["ci"][0]
        ndcg = f"{statistics.mean(row['ndcg']):.4f} ± {sample_std(row['ndcg']):.4f}"
        recall, seconds = statistics.mean(row["recall"]), statistics.mean(row["seconds"])
        print(f"| {name} | {ndcg} | [{low:.4f}, {high:.4f}] | {recall:.4f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
