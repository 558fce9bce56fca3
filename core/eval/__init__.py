"""The numbers: metrics, intervals, significance tests, comparisons, the classical baseline."""
