"""Our classification numbers against scikit-learn, and the footprint measurements."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from core.eval.metrics import (
    ci95_accuracy,
    ci95_cluster_accuracy,
    ci95_macro_f1,
    ci95_mean,
    classification_ci95,
    classification_metrics,
    footprint,
    rating_ci95,
    worst_mistakes,
)


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


def test_macro_f1_averages_only_the_classes_present_in_truth_or_prediction():
    # a perfect model on a test split that lacks class "z": 1.0, as scikit-learn's f1_score(average="macro")
    m = classification_metrics([0, 0, 1, 1], [0, 0, 1, 1], ["x", "y", "z"])
    assert m["macro_f1"] == 1.0 == f1_score([0, 0, 1, 1], [0, 0, 1, 1], average="macro")
    assert np.array(m["confusion_matrix"]).shape == (3, 3) and "z" in m["report"]
    # a class only predicted (a false alarm) still counts
    y_true, y_pred = [0, 0, 1, 1], [0, 2, 1, 1]
    assert classification_metrics(y_true, y_pred, ["x", "y", "z"])["macro_f1"] == f1_score(
        y_true, y_pred, average="macro"
    )


def test_wilson_interval_matches_the_reference():
    from scipy.stats import binomtest

    assert ci95_accuracy(8, 10) == pytest.approx([0.4902, 0.9433], abs=1e-4)  # the textbook 8 of 10
    for k, n in [(0, 20), (19, 20), (500, 1000), (357, 360)]:
        ref = binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert ci95_accuracy(k, n) == pytest.approx([ref.low, ref.high], abs=1e-9)


def test_macro_f1_bootstrap_matches_scikit_learn_on_the_same_resamples():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 4, 150)
    y_pred = np.where(rng.random(150) < 0.6, y_true, rng.integers(0, 4, 150))
    draws = np.random.default_rng(0).integers(0, 150, size=(1000, 150))  # what the helper draws with seed 0
    ref = [f1_score(y_true[i], y_pred[i], average="macro", zero_division=0) for i in draws]
    assert ci95_macro_f1(y_true, y_pred, 4) == pytest.approx(np.percentile(ref, [2.5, 97.5]).tolist())


def test_intervals_hold_the_estimate_and_shrink_with_more_data():
    rng = np.random.default_rng(2)
    widths = []
    for n in (100, 400, 1600):
        y_true = rng.integers(0, 3, n)
        y_pred = np.where(rng.random(n) < 0.8, y_true, rng.integers(0, 3, n))
        m, ci = classification_metrics(y_true, y_pred, ["a", "b", "c"]), classification_ci95(y_true, y_pred, 3)
        for name in ("accuracy", "macro_f1"):
            assert ci[name][0] <= m[name] <= ci[name][1]
        err = rng.normal(0, 1, n)
        rmse, mae = np.sqrt(np.mean(err**2)), np.mean(np.abs(err))
        rating = rating_ci95(np.zeros(n), err, users=np.arange(n))
        assert rating["rmse"][0] <= rmse <= rating["rmse"][1] and rating["mae"][0] <= mae <= rating["mae"][1]
        widths.append([ci["accuracy"][1] - ci["accuracy"][0], ci["macro_f1"][1] - ci["macro_f1"][0]])
    widths = np.array(widths)
    assert np.all(widths[1:] < widths[:-1])  # four times the data: about half the width
    assert ci95_mean(np.ones(50)) == [1.0, 1.0]  # no spread, no width


def test_the_reports_macro_avg_row_is_the_headline_macro_f1():
    # issue 18: true [0,0,1,1,1], predicted [0,1,1,1,1], classes a/b/c: headline 0.762, the row said 0.508
    m = classification_metrics([0, 0, 1, 1, 1], [0, 1, 1, 1, 1], ["a", "b", "c"])
    assert m["report"]["macro avg"]["f1-score"] == pytest.approx(m["macro_f1"]) == pytest.approx(0.7619, abs=1e-4)
    assert set(m["report"]) >= {"a", "b", "c", "macro avg", "weighted avg"}  # every class keeps its row
    all_right = classification_metrics([0, 0], [0, 0], ["a", "b"])["report"]["macro avg"]
    assert all_right["f1-score"] == all_right["precision"] == all_right["recall"] == 1.0


def test_rating_intervals_resample_users_not_ratings():
    # issue 18 item 5: a user's ratings are not independent, so RMSE/MAE are bootstrapped over users
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(100), 20)
    err = rng.normal(0, 1, 100)[users] + rng.normal(0, 0.3, len(users))  # each user's own bias
    by_users = rating_ci95(np.zeros(len(err)), err, users)
    by_ratings = ci95_mean(err**2, transform=np.sqrt)
    assert by_users["rmse"][0] <= np.sqrt(np.mean(err**2)) <= by_users["rmse"][1]
    assert by_users["rmse"][1] - by_users["rmse"][0] > 2 * (by_ratings[1] - by_ratings[0])
    # one rating per user: the same resamples as the bootstrap over ratings
    one = rating_ci95(np.zeros(50), err[:50], np.arange(50))
    assert one["rmse"] == ci95_mean(err[:50] ** 2, transform=np.sqrt) and one["mae"] == ci95_mean(np.abs(err[:50]))


def test_speaker_intervals_resample_whole_speakers():
    # issue 18 item 6: errors come in speaker-word blocks, so with speakers known the interval resamples speakers
    rng = np.random.default_rng(4)
    speakers = np.repeat(np.arange(30), 20)
    y_true = rng.integers(0, 3, len(speakers))
    hard = rng.random(30) < 0.3  # a third of the voices the model gets mostly wrong
    right = rng.random(len(speakers)) < np.where(hard[speakers], 0.3, 0.95)
    y_pred = np.where(right, y_true, (y_true + 1) % 3)
    ci = classification_ci95(y_true, y_pred, 3, groups=speakers)
    assert ci["accuracy"] == ci95_cluster_accuracy(y_true == y_pred, speakers)
    by_clip = classification_ci95(y_true, y_pred, 3)
    for name in ("accuracy", "macro_f1"):
        assert ci[name][1] - ci[name][0] > 1.5 * (by_clip[name][1] - by_clip[name][0])
    # one clip per speaker: the same resamples as the bootstrap over clips
    one = classification_ci95(y_true, y_pred, 3, groups=np.arange(len(y_true)))
    assert one["macro_f1"] == pytest.approx(by_clip["macro_f1"])
    assert one["accuracy"] == pytest.approx(by_clip["accuracy"], abs=0.01)  # design effect about 1: Wilson's
    # near 100% a percentile bootstrap cannot hold more errors than it saw; the design-effect Wilson can
    right = np.ones(600, bool)
    right[:2] = False
    assert np.diff(ci95_cluster_accuracy(right, speakers)) >= np.diff(ci95_accuracy(598, 600))
