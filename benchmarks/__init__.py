"""Benchmarks, run by hand (`python -m benchmarks.<name>`); results in docs/benchmarks/."""
