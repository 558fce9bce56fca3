"""What the model benchmarks share: a model's spec defaults run over split seeds x initial seeds, summarised."""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from core.models import get_spec
from core.run.config import make_config
from core.run.experiment import RunResult, run_experiment


def sample_std(values: list[float]) -> float:
    """The sample standard deviation (ddof=1), as races report it; 0.0 for a single value."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass
class Repeated:
    """A model's runs: each run's test metrics by split seed (`metrics[split][i]`), and the first run whole."""

    model: str
    metric: str  # the benchmark's own metric (accuracy, ndcg@10)
    metrics: list[list[dict[str, float]]] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # the whole run's CPU time: steadier on a busy machine
    first: RunResult | None = None

    def values(self, metric: str | None = None) -> list[list[float]]:
        return [[m[metric or self.metric] for m in split] for split in self.metrics]

    def flat(self, metric: str | None = None) -> list[float]:
        return [v for split in self.values(metric) for v in split]

    def mean(self, metric: str | None = None) -> float:
        return statistics.mean(self.flat(metric))

    def summary(self, metric: str | None = None, digits: int = 4) -> str:
        """mean ± std over every run, then the spread between split seeds and between initial seeds."""
        values, f = self.values(metric), f".{digits}f"
        flat = [v for split in values for v in split]
        text = f"{statistics.mean(flat):{f}} ± {sample_std(flat):{f}}"
        parts = []
        if len(values) > 1:
            parts.append(f"splits ± {sample_std([statistics.mean(s) for s in values]):{f}}")
        if len(values[0]) > 1:
            parts.append(f"seeds ± {statistics.mean(sample_std(s) for s in values):{f}}")
        return f"{text} ({', '.join(parts)})" if parts else text

    def interval(self, metric: str | None = None, digits: int = 4) -> str:
        """The 95% interval of the first run (split 0, seed 0), as every run reports it (details["ci95"])."""
        low, high = self.first.details["ci95"][metric or self.metric]
        return f"[{low:.{digits}f}, {high:.{digits}f}]"


def run_over_seeds(task: str, model: str, metric: str, split_seeds: int, seeds: int, **given: Any) -> Repeated:
    """Train the model's spec defaults (plus `given`, such as the dataset and device) on split seeds
    0..split_seeds-1, each with initial seeds 0..seeds-1; a closed-form model, which seeds do not change, once
    per split."""
    out = Repeated(model, metric)
    seeds = 1 if get_spec(task, model).closed_form else seeds
    for split in range(split_seeds):
        out.metrics.append([])
        for seed in range(seeds):
            cpu = time.process_time()
            result = run_experiment(make_config(task, model, split_seed=split, seed=seed, **given))
            out.cpu_seconds.append(time.process_time() - cpu)
            out.metrics[-1].append(result.metrics)
            out.first = out.first or result
            print(
                f"  {model} split {split} seed {seed}: {metric} {result.metrics[metric]:.4f} in "
                f"{result.metrics['train_seconds']:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    return out
