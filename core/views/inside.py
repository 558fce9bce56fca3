"""Look inside a trained network: first-layer filters, feature maps, per-class activations, attention over time."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


def conv_layers(model: nn.Module) -> dict[str, nn.Conv2d]:
    """The model's 2-D convolutions by module name, in the order they are defined (for these nets, the order run)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def describe_conv(conv: nn.Conv2d) -> str:
    """'32 → 64, 3×3' with 'depthwise' or 'pointwise' where that is what it is."""
    kh, kw = conv.kernel_size
    kind = " depthwise" if conv.groups > 1 and conv.groups == conv.in_channels else ""
    kind = " pointwise" if (kh, kw) == (1, 1) else kind
    stride = f", stride {conv.stride[0]}" if conv.stride[0] > 1 else ""
    return f"{conv.in_channels} → {conv.out_channels}, {kh}×{kw}{kind}{stride}"


def first_filters(model: nn.Module) -> np.ndarray | None:
    """The first convolution's weights (filters, in channels, kh, kw); None for a model without convolutions."""
    convs = list(conv_layers(model).values())
    return convs[0].weight.detach().cpu().numpy().copy() if convs else None


def _capture(model: nn.Module, layer: nn.Module, x: torch.Tensor, output: bool = True) -> torch.Tensor:
    """What `layer` puts out (or takes in) when `model` runs on `x`, in eval mode without gradients."""
    store: dict[str, torch.Tensor] = {}

    def hook(module, inputs, out):
        store["value"] = (out if output else inputs[0]).detach()

    handle = layer.register_forward_hook(hook)
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return store["value"]


def feature_maps(model: nn.Module, x: torch.Tensor, layer: str) -> np.ndarray:
    """The named convolution's output for one input x (1, C, H, W): (channels, h, w), before any norm or ReLU."""
    convs = conv_layers(model)
    if layer not in convs:
        raise ValueError(f"{layer!r} is not a convolution of this model; choose one of {', '.join(convs)}")
    return _capture(model, convs[layer], x)[0].cpu().numpy()


def last_linear(model: nn.Module) -> nn.Linear | None:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def penultimate(model: nn.Module, x: torch.Tensor, batch: int = 256) -> np.ndarray:
    """What the last layer (the classifier) sees for each input: (N, features), computed in batches."""
    head = last_linear(model)
    if head is None:
        raise ValueError("this model has no linear last layer to look at")
    return torch.cat([_capture(model, head, x[i : i + batch], output=False) for i in range(0, len(x), batch)]).numpy()


def class_activations(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_classes: int) -> dict[str, Any]:
    """The last layer's inputs averaged per true class: `mean` (classes, units), units ordered by the class they
    respond to most (`order` holds the original unit numbers), and `count` examples per class."""
    feats, labels = penultimate(model, x), np.asarray(y)
    mean = np.zeros((n_classes, feats.shape[1]), np.float32)
    count = np.bincount(labels, minlength=n_classes)
    for c in range(n_classes):
        if count[c]:
            mean[c] = feats[labels == c].mean(0)
    preferred = mean.argmax(0)
    order = np.lexsort((-mean.max(0), preferred))  # grouped by preferred class, strongest first within a group
    return {"mean": mean[:, order], "order": order, "count": count}


def has_attention(model: nn.Module) -> bool:
    """Whether a speech model can say where in time it attends (crnn_attention, kwt)."""
    return callable(getattr(model, "attention_weights", None))


def attention_over_time(model: nn.Module, wave: torch.Tensor) -> dict[str, np.ndarray]:
    """One clip (L,) -> its log-mel `spectrogram` (40, frames) and the attention `weights` (rows, frames).

    A row per attention layer (one for attention pooling, one per transformer layer for the class token), each
    step's weight spread over the spectrogram frames it covers, so rows line up with the spectrogram in time.
    Rows sum to 1 over the steps (`steps`); spread over frames (`weights`), each step's weight is shared by its
    frames, so a row sums to 1 over frames too, less what falls on frames the pooling or padding cut off.
    """
    if not has_attention(model):
        raise ValueError(f"{type(model).__name__} has no attention weights to show")
    model.eval()
    with torch.no_grad():
        logmel = model.spectrogram(wave[None])  # (1, 40, frames)
        weights = model.attention_weights(logmel)[0].cpu().numpy()  # (rows, steps)
    frames = logmel.shape[-1]
    per_step = int(model.frames_per_step)
    spread = np.repeat(weights, per_step, axis=1)[:, :frames] / per_step
    spread = np.pad(spread, ((0, 0), (0, frames - spread.shape[1])))  # frames past the last whole step: none
    return {"spectrogram": logmel[0].cpu().numpy(), "weights": spread, "steps": weights}
