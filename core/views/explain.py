"""Where did the model look: Grad-CAM for convolutional models, input-gradient saliency for the rest."""

from __future__ import annotations

import torch
from torch import nn


def last_conv(model: nn.Module) -> nn.Conv2d | None:
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None


def saliency(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """|d logit_target / d input|, max over channels, scaled to [0, 1]. x: (1, ...) -> (...) without channels."""
    model.eval()
    x = x.clone().requires_grad_(True)
    model(x)[0, target].backward()
    grad = x.grad.abs()[0]
    grad = grad.amax(0) if grad.dim() == 3 else grad
    return grad / grad.max().clamp_min(1e-12)


def grad_cam(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor | None:
    """Grad-CAM on the last Conv2d layer, upsampled to the input's (H, W), in [0, 1]; None without convs."""
    layer = last_conv(model)
    if layer is None:
        return None
    store: dict[str, torch.Tensor] = {}
    fwd = layer.register_forward_hook(lambda m, i, o: store.__setitem__("act", o))
    bwd = layer.register_full_backward_hook(lambda m, gi, go: store.__setitem__("grad", go[0]))
    try:
        model.eval()
        x = x.clone().requires_grad_(True)
        model(x)[0, target].backward()
    finally:
        fwd.remove()
        bwd.remove()
    weights = store["grad"].mean(dim=(2, 3), keepdim=True)  # (1, K, 1, 1)
    cam = torch.relu((weights * store["act"]).sum(1, keepdim=True))  # (1, 1, h, w)
    cam = nn.functional.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    return (cam / cam.max().clamp_min(1e-12)).detach()


def explain(model: nn.Module, x: torch.Tensor, target: int) -> tuple[torch.Tensor, str]:
    """Grad-CAM where the model has convolutions and it is not flat, else input saliency. Returns (map, method)."""
    cam = grad_cam(model, x, target)
    if cam is not None and float(cam.max()) > 0:
        return cam, "Grad-CAM (last convolution)"
    return saliency(model, x, target).detach(), "input-gradient saliency"
