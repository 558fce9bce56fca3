"""What one run gives back: the same object whichever way it trained (here, a worker, torchrun, Ray)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from core.run.settings import RunConfig


@dataclass
class RunResult:
    run_id: str | None
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    model: nn.Module | None = None
    stop_reason: str | None = None
    config: RunConfig | None = None  # what trained, after the small-data rule
