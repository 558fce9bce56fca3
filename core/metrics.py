"""Classification metrics (scikit-learn) and model footprint measurements (size, latency)."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import torch
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score
from torch import nn


def classification_metrics(y_true, y_pred, class_names: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, the per-class report and the confusion matrix, all from scikit-learn."""
    labels = list(range(len(class_names)))
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    report = classification_report(
        y_true, y_pred, labels=labels, target_names=class_names, output_dict=True, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "report": report,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def worst_mistakes(y_true, probs: np.ndarray, k: int = 12) -> list[int]:
    """Indices of wrong predictions, most confident first."""
    y_true = np.asarray(y_true)
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != y_true)
    conf = probs[wrong, pred[wrong]]
    return wrong[np.argsort(-conf)][:k].tolist()


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_megabytes(model: nn.Module) -> float:
    """Size of the saved state dict in MB (what a checkpoint of the weights costs on disk)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes / 1e6


@torch.no_grad()
def latency_ms(model: nn.Module, example: torch.Tensor, repeats: int = 30) -> float:
    """Median wall time of one forward pass on a single example (batch of one), in milliseconds."""
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    example = example.to(device)
    for _ in range(3):
        model(example)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(example)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def footprint(model: nn.Module, example: torch.Tensor) -> dict[str, float]:
    return {
        "parameters": parameter_count(model),
        "size_mb": model_megabytes(model),
        "latency_ms": latency_ms(model, example),
    }
