"""A scikit-learn RBF support vector classifier held as tensors: fitted by scikit-learn, predicted in torch,
saved in a plain state dict (support vectors, dual coefficients, intercepts, gamma)."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from sklearn.svm import SVC
from torch import nn

GRID_C = (1.0, 10.0, 100.0)
GRID_GAMMA = (0.3, 1.0, 3.0)  # times 1 / n_features, scikit-learn's gamma="scale" on standardised features
ABSENT = -1e4  # the score of a class the training split lacks


class RBFSVC(nn.Module):
    """One-vs-one RBF SVMs (scikit-learn's SVC) over standardised features, scored in torch.

    `forward` returns scikit-learn's one-vs-rest scores (decision_function_shape="ovr"): each class's one-vs-one
    votes plus its summed decision values squashed into (-1/3, 1/3). Their argmax is SVC's prediction (ties
    aside); a softmax over them ranks the classes but is no calibrated probability.
    """

    # sized by the fit; the features' too where a fit decides how many there are (PCA's axes: core.models.image)
    VARIABLE = ("mean", "std", "support_vectors", "pair_weights", "intercept", "vote_for", "vote_against")

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.register_buffer("mean", torch.zeros(in_features))
        self.register_buffer("std", torch.ones(in_features))
        self.register_buffer("gamma", torch.tensor(1.0 / in_features))
        self.register_buffer("C", torch.tensor(1.0))
        self.register_buffer("support_vectors", torch.zeros(0, in_features))  # (nSV, F)
        self.register_buffer("pair_weights", torch.zeros(0, 0))  # (nSV, pairs): each pair's dual coefficients
        self.register_buffer("intercept", torch.zeros(0))  # (pairs,)
        self.register_buffer("vote_for", torch.zeros(0, num_classes))  # (pairs, classes): one-hot of pair (i, j)'s i
        self.register_buffer("vote_against", torch.zeros(0, num_classes))  # ... and of its j
        self.register_buffer("absent", torch.zeros(num_classes))  # ABSENT for classes never seen in training

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # (B, F) -> (B, classes)
        z = (feats - self.mean) / self.std
        kernel = torch.exp(-self.gamma * torch.cdist(z, self.support_vectors).pow(2))  # (B, nSV)
        dec = kernel @ self.pair_weights + self.intercept  # (B, pairs); > 0 votes for i
        votes = (dec > 0).to(z.dtype) @ self.vote_for + (dec <= 0).to(z.dtype) @ self.vote_against
        confidence = dec @ (self.vote_for - self.vote_against)
        return votes + confidence / (3 * (confidence.abs() + 1)) + self.absent

    def learned_size(self) -> int:
        """Fitted numbers: the standardisation, support vectors, dual coefficients and intercepts."""
        return sum(self.get_buffer(n).numel() for n in ("mean", "std", "support_vectors", "pair_weights", "intercept"))

    def fit(self, x: np.ndarray, y: np.ndarray, x_val=None, y_val=None, seed: int = 0) -> RBFSVC:
        """Standardise on `x`, pick C and gamma from the grid by accuracy on the validation split (the first
        best, smallest values first), fit on `x` and keep the fitted model as tensors."""
        mean = x.mean(0)
        std = np.maximum(x.std(0, ddof=1), 1e-6) if len(x) > 1 else np.ones(x.shape[1])
        z = (x - mean) / std
        best = (GRID_C[0], GRID_GAMMA[1] / x.shape[1])
        if x_val is not None and len(x_val) and len(np.unique(y)) > 1:
            z_val = (x_val - mean) / std
            grid = [(c, g / x.shape[1]) for c, g in itertools.product(GRID_C, GRID_GAMMA)]
            scores = [SVC(C=c, gamma=g, random_state=seed).fit(z, y).score(z_val, y_val) for c, g in grid]
            best = grid[int(np.argmax(scores))]
        self.load_fitted(SVC(C=best[0], gamma=best[1], random_state=seed).fit(z, y), mean, std)
        return self

    def load_fitted(self, svc: SVC, mean: np.ndarray, std: np.ndarray) -> None:
        """Copy a fitted SVC (and the standardisation it was fitted on) into the buffers."""
        classes, pairs = svc.classes_, list(itertools.combinations(range(len(svc.classes_)), 2))
        starts = np.concatenate([[0], np.cumsum(svc.n_support_)])
        dual = svc.dual_coef_ if len(classes) > 2 else -svc.dual_coef_  # binary: scikit-learn flips the signs
        intercept = svc.intercept_ if len(classes) > 2 else -svc.intercept_
        weights = np.zeros((len(svc.support_vectors_), len(pairs)))
        vote_for, vote_against = np.zeros((len(pairs), self.num_classes)), np.zeros((len(pairs), self.num_classes))
        for p, (i, j) in enumerate(pairs):  # libsvm's layout: class i's vectors weigh in row j - 1, j's in row i
            weights[starts[i] : starts[i + 1], p] = dual[j - 1, starts[i] : starts[i + 1]]
            weights[starts[j] : starts[j + 1], p] = dual[i, starts[j] : starts[j + 1]]
            vote_for[p, classes[i]], vote_against[p, classes[j]] = 1, 1
        absent = np.full(self.num_classes, ABSENT)
        absent[classes] = 0
        values = {
            "mean": mean, "std": std, "gamma": svc._gamma, "C": svc.C, "support_vectors": svc.support_vectors_,
            "pair_weights": weights, "intercept": intercept, "vote_for": vote_for, "vote_against": vote_against,
            "absent": absent,
        }  # fmt: skip
        for name, value in values.items():
            setattr(self, name, torch.as_tensor(np.asarray(value), dtype=torch.float32))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # the fitted sizes (support vectors, pairs) are not known when the model is built: take the checkpoint's
        for name in self.VARIABLE:
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
