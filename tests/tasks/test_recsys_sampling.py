"""BPR's hot loop against plain formulas: negative sampling never returns a seen item, whichever lookup answers,
and the lean pairwise loss equals the textbook one."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.models import get_model
from core.tasks import recsys
from core.tasks.recsys import SeenPairs, sample_negatives


@pytest.fixture
def interactions():
    g = torch.Generator().manual_seed(0)
    n_users, n_items = 50, 40
    keys = torch.unique(torch.randint(n_users * n_items, (900,), generator=g))  # about half of each row seen
    return keys // n_items, keys % n_items, n_users, n_items


@pytest.mark.parametrize("dense", [True, False])
def test_negatives_are_never_seen_by_either_lookup(interactions, monkeypatch, dense):
    users, items, n_users, n_items = interactions
    monkeypatch.setattr(recsys, "DENSE_SEEN_CELLS", 10**9 if dense else 0)
    seen = SeenPairs(users, items, n_users, n_items)
    assert (seen.bitmap is not None) == dense
    everything = set(zip(users.tolist(), items.tolist()))
    probe_u, probe_i = torch.arange(n_users).repeat_interleave(n_items), torch.arange(n_items).repeat(n_users)
    expected = [(u, i) in everything for u, i in zip(probe_u.tolist(), probe_i.tolist())]
    assert seen.contains(probe_u, probe_i).tolist() == expected
    neg = sample_negatives(users, n_items, seen, torch.Generator().manual_seed(1), rounds=50)
    assert not any((u, j) in everything for u, j in zip(users.tolist(), neg.tolist()))


def test_pairwise_loss_is_the_textbook_bpr_loss():
    torch.manual_seed(0)
    model = get_model("recsys", "bpr", n_users=7, n_items=9, dim=4)
    nn.init.normal_(model.item_bias.weight)
    users, pos, neg = torch.tensor([0, 3, 6, 3]), torch.tensor([1, 2, 8, 2]), torch.tensor([0, 5, 4, 7])
    scores = model.score_users(users)
    diff = scores.gather(1, pos[:, None])[:, 0] - scores.gather(1, neg[:, None])[:, 0]
    textbook = -nn.functional.logsigmoid(diff).mean()
    l2 = (
        model.user_emb(users).pow(2).sum(1)
        + model.item_emb(pos).pow(2).sum(1)
        + model.item_emb(neg).pow(2).sum(1)
        + model.item_bias(pos)[:, 0] ** 2
        + model.item_bias(neg)[:, 0] ** 2
    ).mean()
    assert model.pairwise_loss(users, pos, neg).item() == pytest.approx(textbook.item(), abs=1e-6)
    assert model.pairwise_loss(users, pos, neg, 0.1).item() == pytest.approx((textbook + 0.1 * l2).item(), abs=1e-6)
