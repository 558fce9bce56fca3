"""What image and speech share: tensor classification over in-memory splits, scored the same way."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import nn

from core.eval.metrics import classification_ci95, classification_metrics, footprint, interval_note, worst_mistakes
from core.models import freeze_backbone, spec_of
from core.models.embeddings import backbone_frozen, can_embed, embeddings
from core.run.settings import RunConfig


class ClassificationTask:
    """Base for tasks whose data has `x`/`y` split dicts, `class_names`, `split_note` and `meta`."""

    predict_batch = 512

    def new_model(self, config: RunConfig, meta: dict[str, Any]) -> nn.Module:
        """The task's model for `config`, with its published or given weights, as the task builds it."""
        raise NotImplementedError

    def build_model(self, config: RunConfig, meta: dict[str, Any]) -> nn.Module:
        """The run's model (`new_model`), its backbone frozen when the run trains only the head: one place for
        every classification task."""
        model = self.new_model(config, meta)
        if config.freeze_backbone:
            freeze_backbone(model)
        return model

    def fit_closed_form(self, model: nn.Module, data, config: RunConfig) -> None:
        # a model that picks its hyper-parameters (the SVM's C and gamma) does so on the validation split only
        val = {"val": (data.x["val"], data.y["val"])} if spec_of(model).uses_validation else {}
        model.fit_sklearn(data.x["train"], data.y["train"], seed=config.seed, **val)

    @torch.no_grad()
    def predict_proba(self, model: nn.Module, x: torch.Tensor) -> np.ndarray:
        model.eval()
        device = next(iter(model.parameters()), next(iter(model.buffers()), torch.empty(0))).device  # SVM: buffers
        if can_embed(model) and backbone_frozen(model):  # the head on the frozen backbone's cached embeddings
            return torch.softmax(model.head(embeddings(model, x)[0].to(device)), 1).cpu().numpy()
        step = self.predict_batch
        out = [torch.softmax(model(x[i : i + step].to(device)), 1).cpu() for i in range(0, len(x), step)]
        return torch.cat(out).numpy()

    def data_settings(self, config: RunConfig) -> dict[str, Any]:
        return {}

    def train_size(self, data) -> int:
        return len(data.y["train"])

    def sample_train(self, data, most: int, seed: int):
        """The data with a seeded sample of `most` training examples (all of them up to that), and a note."""
        n = len(data.y["train"])
        if n <= most:
            return data, ""
        keep = torch.from_numpy(np.sort(np.random.default_rng(seed).choice(n, most, replace=False)))
        x, y = {**data.x, "train": data.x["train"][keep]}, {**data.y, "train": data.y["train"][keep]}
        note = f"Fitted on a seeded sample of {most:,} of the {n:,} training examples."
        return dataclasses.replace(data, x=x, y=y), note

    def validation_score(self, model: nn.Module, data) -> float | None:
        """Accuracy on the validation split (None without one)."""
        if len(data.y["val"]) == 0:
            return None
        return float((self.predict_proba(model, data.x["val"]).argmax(1) == data.y["val"].numpy()).mean())

    def example_input(self, data) -> torch.Tensor:
        return data.x["test"][:1].cpu()

    def evaluate(self, model: nn.Module, data):
        """Test-split metrics, report, confusion matrix, model cost, and the most confident mistakes."""
        probs = self.predict_proba(model, data.x["test"])
        y_true = data.y["test"].numpy()
        cls = classification_metrics(y_true, probs.argmax(1), data.class_names)
        worst = worst_mistakes(y_true, probs)
        foot = footprint(model.cpu(), self.example_input(data))
        metrics = {"accuracy": cls["accuracy"], "macro_f1": cls["macro_f1"], **foot}
        groups = getattr(data, "test_speakers", None)  # who speaks each test clip, when the names say
        details = {
            "report": cls["report"],
            "confusion_matrix": cls["confusion_matrix"],
            "class_names": data.class_names,
            "split_note": data.split_note,
            "test_size": len(y_true),
            "ci95": classification_ci95(y_true, probs.argmax(1), len(data.class_names), groups),
            "ci95_note": interval_note(groups),
            **self.mistake_details(data, worst),
        }
        x_test = data.x["test"]
        artifacts = {
            "y_true": y_true,
            "probs": probs.astype(np.float32),
            "mistake_index": np.array(worst, dtype=np.int64),
            "mistake_inputs": x_test[worst].numpy() if worst else np.zeros((0, *x_test.shape[1:]), np.float32),
        }
        if groups is not None:  # paired tests of two runs resample speakers too (core.eval.significance)
            artifacts["groups"] = groups
        return metrics, details, artifacts

    def mistake_details(self, data, worst: list[int]) -> dict[str, Any]:
        """Extra details about the mistaken examples (e.g. their file names); none by default."""
        return {}
