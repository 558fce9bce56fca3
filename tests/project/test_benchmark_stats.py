"""The benchmarks' summaries: the sample standard deviation (ddof=1), as races and the compare page use."""

import statistics

from benchmarks.over_seeds import Repeated, sample_std


def test_benchmark_spreads_are_sample_standard_deviations():
    # issue 18 item 8: with 2 split seeds the population std (ddof=0) made "splits ±" 29% too small
    run = Repeated(
        "m", "accuracy", [[{"accuracy": 0.90}, {"accuracy": 0.92}], [{"accuracy": 0.80}, {"accuracy": 0.84}]]
    )
    flat, splits = [0.90, 0.92, 0.80, 0.84], [0.91, 0.82]
    seeds = statistics.mean([statistics.stdev([0.90, 0.92]), statistics.stdev([0.80, 0.84])])
    expected = f"{statistics.mean(flat):.4f} ± {statistics.stdev(flat):.4f} "
    expected += f"(splits ± {statistics.stdev(splits):.4f}, seeds ± {seeds:.4f})"
    assert run.summary() == expected
    assert sample_std([0.5]) == 0.0  # one value: no spread
