"""The what-if lab: races of variants and the Optuna tuner."""
