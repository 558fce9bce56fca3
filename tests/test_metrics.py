"""Our classification numbers against scikit-learn, and the footprint measurements."""

import numpy as np
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from core.metrics import classification_metrics, footprint, worst_mistakes


def test_classification_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.integers(0, 4, 200))
    m = classification_metrics(y_true, y_pred, ["a", "b", "c", "d"])
    assert m["accuracy"] == accuracy_score(y_true, y_pred)
    assert m["macro_f1"] == f1_score(y_true, y_pred, average="macro")
    assert m["confusion_matrix"] == confusion_matrix(y_true, y_pred).tolist()
    assert m["report"]["b"]["support"] == (y_true == 1).sum()


def test_classes_missing_from_the_test_split_keep_their_row():
    m = classification_metrics([0, 0, 1], [0, 1, 1], ["x", "y", "z"])
    assert np.array(m["confusion_matrix"]).shape == (3, 3)
    assert m["report"]["z"]["support"] == 0


def test_worst_mistakes_are_the_confident_wrong_ones():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.05, 0.95]])
    y = np.array([0, 0, 0, 1])
    assert worst_mistakes(y, probs) == [1, 2]


def test_footprint_counts_parameters_and_bytes():
    model = torch.nn.Linear(10, 5)
    f = footprint(model, torch.rand(1, 10))
    assert f["parameters"] == 55
    assert 55 * 4 / 1e6 < f["size_mb"] < 0.01
    assert f["latency_ms"] > 0
