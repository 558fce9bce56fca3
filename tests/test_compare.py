"""The race statistics (mean, std over seeds, winner, margin vs pooled spread, Pareto front) and the variant plan."""

import math

import numpy as np
import pytest

from core.compare import (
    Metric,
    VariantStats,
    epoch_band,
    pareto_front,
    pooled_std,
    primary_metric,
    summary_text,
    variant_stats,
    verdict,
)
from core.experiment import make_config
from core.whatif import available_axes, expand, switch_trait

ACC = primary_metric("image")


def test_primary_metric_per_task():
    assert primary_metric("image").name == primary_metric("speech").name == "accuracy"
    assert primary_metric("recsys").name == "ndcg@10" and primary_metric("recsys").higher_is_better


def test_variant_stats_match_numpy_and_skip_unfinished_runs():
    runs = [{"accuracy": 0.90, "train_seconds": 2.0}, {"accuracy": 0.94, "train_seconds": 4.0}, {}]
    s = variant_stats("Adam", runs, "accuracy")
    assert s.n == 2
    assert s.mean == pytest.approx(np.mean([0.90, 0.94]))
    assert s.std == pytest.approx(np.std([0.90, 0.94], ddof=1))
    assert s.costs == {"train_seconds": 3.0}
    assert variant_stats("one", [{"accuracy": 0.5}], "accuracy").std == 0.0


def test_pooled_std_is_the_textbook_formula():
    a, b = VariantStats("a", [0.90, 0.92, 0.97]), VariantStats("b", [0.80, 0.85])
    expected = math.sqrt((2 * np.var(a.values, ddof=1) + 1 * np.var(b.values, ddof=1)) / 3)
    assert pooled_std(a, b) == pytest.approx(expected)
    assert pooled_std(VariantStats("a", [0.9]), VariantStats("b", [0.8])) is None


def test_a_gap_larger_than_the_seed_spread_is_called_clear():
    v = verdict([VariantStats("SGD", [0.80, 0.82, 0.81]), VariantStats("Adam", [0.95, 0.96, 0.94])], ACC)
    assert v.winner.label == "Adam" and v.runner_up.label == "SGD"
    assert v.margin == pytest.approx(0.14)
    assert v.spread == pytest.approx(0.01)
    assert v.clear is True
    text = summary_text(v)
    assert text.startswith("**Adam** won with accuracy 95.0%")
    assert "14.0 points ahead of **SGD**" in text and "14.0× the seed-to-seed spread" in text


def test_a_gap_within_the_seed_spread_is_not_called_clear():
    v = verdict([VariantStats("A", [0.90, 0.96]), VariantStats("B", [0.92, 0.93])], ACC)
    assert v.winner.label == "A" and v.margin == pytest.approx(0.005)
    assert v.clear is False
    assert "not reliably different" in summary_text(v)


def test_one_seed_says_the_spread_is_unknown():
    v = verdict([VariantStats("A", [0.9]), VariantStats("B", [0.8])], ACC)
    assert v.spread is None and v.clear is None
    assert "spread is unknown" in summary_text(v)


def test_lower_is_better_metrics_rank_the_other_way():
    rmse = Metric("rmse", higher_is_better=False)
    v = verdict([VariantStats("big", [1.1, 1.0]), VariantStats("small", [0.9, 0.95])], rmse)
    assert v.winner.label == "small"


def test_no_finished_variant_gives_no_verdict():
    assert verdict([VariantStats("A", [])], ACC) is None
    assert "nothing to compare" in summary_text(None)


def test_pareto_front_against_brute_force():
    rng = np.random.default_rng(0)
    points = [(float(m), float(c)) for m, c in rng.random((40, 2))]
    front = pareto_front(points)
    for (m, c), on in zip(points, front):
        dominated = any(m2 >= m and c2 <= c and (m2, c2) != (m, c) for m2, c2 in points)
        assert on == (not dominated)
    # the best metric and the lowest cost are always on the front
    assert front[int(np.argmax([p[0] for p in points]))] and front[int(np.argmin([p[1] for p in points]))]


def test_pareto_front_small_cases():
    assert pareto_front([(0.9, 10), (0.95, 20), (0.85, 30), (0.9, 5)]) == [False, True, False, True]
    assert pareto_front([(0.9, math.nan), (0.8, 1.0)]) == [False, True]
    assert pareto_front([(1.0, 5.0), (2.0, 5.0)], higher_is_better=False) == [True, False]


def test_epoch_band_counts_seeds_still_training():
    histories = [
        [{"epoch": 1, "val_accuracy": 0.5}, {"epoch": 2, "val_accuracy": 0.7}],
        [{"epoch": 1, "val_accuracy": 0.6}],
    ]
    band = epoch_band(histories, "val_accuracy")
    assert band.epochs == [1, 2] and band.n == [2, 1]
    assert band.mean == pytest.approx([0.55, 0.7])
    assert band.std == pytest.approx([np.std([0.5, 0.6], ddof=1), 0.0])


def test_expand_crosses_two_axes_and_seeds():
    base = make_config("image", "cnn_bn", epochs=3, seed=10)
    plan = expand(base, {"optimizer": ["sgd", "adam"], "batch_norm": [False, True]}, seeds=3)
    assert [v.label for v in plan.variants] == [
        "SGD · no batch norm",
        "SGD · batch norm",
        "Adam · no batch norm",
        "Adam · batch norm",
    ]
    assert plan.runs == 12 and not plan.skipped
    first = plan.variants[0]
    assert [c["seed"] for c in first.configs] == [10, 11, 12]
    assert first.configs[0]["model"] == "cnn" and first.configs[0]["optimizer"] == "sgd"
    assert plan.variants[1].configs[0]["model"] == "cnn_bn"
    assert base["optimizer"] == "adam" and base["seed"] == 10  # the base is not changed
    # interleaved: the first runs to start are one of each variant
    assert [v.label for v, _ in plan.interleaved()[:4]] == [v.label for v in plan.variants]


def test_architecture_switches_pick_the_model_or_option():
    base = make_config("image", "cnn")
    assert switch_trait(base, "batch_norm", True)["model"] == "cnn_bn"
    separable = switch_trait(base, "separable", True)
    assert separable["model"] == "dscnn" and separable["model_options"] == {"batch_norm": False}
    back = switch_trait(separable, "separable", False)
    assert back["model"] == "cnn" and back["model_options"] == {}
    assert "attention" not in available_axes("image", "cnn_bn")
    assert {"batch_norm", "separable"} <= set(available_axes("image", "cnn_bn"))
    assert available_axes("image", "logreg", gradient=False) == ["model"]


def test_speech_attention_and_impossible_combinations_are_skipped():
    base = make_config("speech", "cnn", epochs=1)
    plan = expand(base, {"attention": [False, True], "separable": [False, True]})
    assert [v.configs[0]["model"] for v in plan.variants] == ["cnn", "dscnn", "crnn_attention"]
    assert len(plan.skipped) == 1 and "attention" in plan.skipped[0]


def test_expand_rejects_empty_axes_and_unknown_names():
    base = make_config("image", "mlp")
    with pytest.raises(ValueError, match="at least one value"):
        expand(base, {"optimizer": []})
    with pytest.raises(ValueError, match="unknown axis"):
        expand(base, {"colour": ["red"]})


def test_the_model_axis_brings_each_models_recommended_settings_unless_the_user_changed_them():
    from core.whatif import model_defaults

    base = make_config("recsys", "pop", seed=3)  # closed form: the page gives it no training settings
    plan = expand(base, {"model": ["pop", "mf"], "lr": [0.01]})
    mf = plan.variants[1].configs[0]
    recommended = model_defaults("recsys", "mf")
    assert mf["model"] == "mf" and mf["epochs"] == recommended["epochs"]
    assert mf["batch_size"] == recommended["batch_size"]
    assert mf["lr"] == 0.01 and mf["seed"] == 3  # another axis and the seed are not undone by the model
    changed = make_config("recsys", "pop", epochs=2)
    assert expand(changed, {"model": ["mf"]}).variants[0].configs[0]["epochs"] == 2


def test_the_summary_compares_costs_in_plain_words_and_names_ndcg_as_people_write_it():
    fast = VariantStats("itemknn", [0.34], {"train_seconds": 0.48, "parameters": 336_400})
    slow = VariantStats("mf", [0.27], {"train_seconds": 23.0, "parameters": 172_310})
    text = summary_text(verdict([slow, fast], primary_metric("recsys")))
    assert text.startswith("**itemknn** won with NDCG@10 0.340 (one seed), 0.070 ahead of **mf** (0.270).")
    assert text.endswith(
        "It trained 48× faster than the runner-up (0.48 s vs 23.0 s) with 2× as many parameters (336,400 vs 172,310)."
    )
    same = VariantStats("b", [0.2], {"train_seconds": 23.5, "parameters": 3 * 172_310})
    text = summary_text(verdict([slow, same], primary_metric("recsys")))
    assert "in about the same time as the runner-up (23.0 s vs 23.5 s) with 3× fewer parameters" in text


def test_closed_form_models_are_not_raced_against_themselves():
    plan = expand(
        make_config("image", "mlp", dataset="digits"), {"model": ["logreg", "mlp"], "optimizer": ["sgd", "adam"]}
    )
    assert [v.label for v in plan.variants] == ["logreg (closed form)", "mlp · SGD", "mlp · Adam"]
    assert plan.skipped == [
        "logreg · Adam: logreg is fitted in closed form, so optimizer changes nothing (the same run as "
        "logreg (closed form))"
    ]
