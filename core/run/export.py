"""Export a trained model to ONNX and TorchScript, each checked against the PyTorch model on real inputs."""

from __future__ import annotations

import re
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.run.settings import RunConfig
from core.run.store import RunStore
from core.tasks import get_task, load_run_model

FORMATS = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
ATOL, RTOL = 1e-4, 1e-4  # float32 kernels differ in summation order; predictions must not


@dataclass
class ExportCheck:
    """An exported file and how closely it reproduces the PyTorch model's outputs."""

    format: str
    path: str
    examples: int
    max_abs_diff: float | None = None
    same_predictions: bool | None = None  # argmax agrees on every example (classifiers)
    dynamic_batch: bool | None = None  # the file also runs a batch of another size
    ok: bool = False
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Inputs = torch.Tensor | tuple[torch.Tensor, ...]


def _as_tuple(inputs: Inputs) -> tuple[torch.Tensor, ...]:
    return inputs if isinstance(inputs, tuple) else (inputs,)


def _first(out: Any) -> np.ndarray:
    out = out[0] if isinstance(out, list | tuple) else out
    return out.detach().cpu().numpy() if torch.is_tensor(out) else np.asarray(out)


def _compare(check: ExportCheck, reference: np.ndarray, got: np.ndarray) -> None:
    if got.shape != reference.shape:
        check.error = f"output shape {got.shape} differs from the model's {reference.shape}"
        return
    check.max_abs_diff = float(np.max(np.abs(got - reference))) if reference.size else 0.0
    close = bool(np.allclose(got, reference, atol=ATOL, rtol=RTOL))
    if reference.ndim == 2 and reference.shape[1] > 1:
        check.same_predictions = bool((got.argmax(1) == reference.argmax(1)).all())
    check.ok = close and check.same_predictions is not False


def _batch_of(inputs: Inputs, n: int) -> tuple[torch.Tensor, ...]:
    return tuple(t[:n] for t in _as_tuple(inputs))


# torch.export keeps per-thread state: exporting from a second thread after the first one has ended
# segfaults the process (torch 2.11). Streamlit runs each rerun on a new thread, so every export runs
# on this one long-lived thread instead.
_EXPORT_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export")


def export_onnx(model: nn.Module, examples: Inputs, path: str | Path) -> ExportCheck:
    """torch.onnx.export (dynamo) with a dynamic batch dimension, then onnxruntime vs PyTorch on `examples`."""
    return _EXPORT_THREAD.submit(_export_onnx, model, examples, path).result()


def export_torchscript(model: nn.Module, examples: Inputs, path: str | Path) -> ExportCheck:
    """torch.jit.trace on `examples`, saved, loaded back and compared with PyTorch on the same examples."""
    return _EXPORT_THREAD.submit(_export_torchscript, model, examples, path).result()


@torch.no_grad()
def _export_onnx(model: nn.Module, examples: Inputs, path: str | Path) -> ExportCheck:
    import onnxruntime as ort

    model = model.eval().cpu()
    inputs = _as_tuple(examples)
    check = ExportCheck("onnx", str(path), len(inputs[0]))
    start = time.perf_counter()
    try:
        batch = torch.export.Dim("batch")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                inputs,
                str(path),
                dynamic_shapes=tuple({0: batch} for _ in inputs),
                external_data=False,  # one self-contained file to download
                verbose=False,
            )
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]

        def run(batch_inputs: tuple[torch.Tensor, ...]) -> np.ndarray:
            return session.run(None, {n: t.numpy() for n, t in zip(names, batch_inputs)})[0]

        _compare(check, _first(model(*inputs)), run(inputs))
        check.dynamic_batch = _runs_other_batch(run, inputs)
    except Exception as exc:  # an architecture the exporter cannot express: say so, never crash the page
        check.error, check.ok = _reason(exc), False
    check.seconds = time.perf_counter() - start
    return check


@torch.no_grad()
def _export_torchscript(model: nn.Module, examples: Inputs, path: str | Path) -> ExportCheck:
    model = model.eval().cpu()
    inputs = _as_tuple(examples)
    check = ExportCheck("torchscript", str(path), len(inputs[0]))
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # our own comparison below replaces trace's re-trace check (which trips on attention fast paths)
            traced = torch.jit.trace(model, inputs, check_trace=False)
            traced.save(str(path))
            loaded = torch.jit.load(str(path), map_location="cpu")
        loaded.eval()
        _compare(check, _first(model(*inputs)), _first(loaded(*inputs)))
        check.dynamic_batch = _runs_other_batch(lambda b: _first(loaded(*b)), inputs)
    except Exception as exc:
        check.error, check.ok = _reason(exc), False
    check.seconds = time.perf_counter() - start
    return check


def _reason(exc: Exception) -> str:
    first_line = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first_line[:300]}"


def _runs_other_batch(run, inputs: tuple[torch.Tensor, ...]) -> bool:
    """Does the exported model also take a batch of one (when it was exported with more)?"""
    if len(inputs[0]) < 2:
        return False
    try:
        return run(_batch_of(inputs, 1)).shape[0] == 1
    except Exception:
        return False


def example_batch(task_name: str, data: Any, n: int = 16) -> Inputs:
    """Up to `n` real test inputs: `data.x['test']` when the task keeps tensors, `n` user ids for a recommender,
    else the task's example input."""
    x = getattr(data, "x", None)
    if isinstance(x, dict) and torch.is_tensor(x.get("test")) and len(x["test"]):
        return x["test"][:n].cpu()
    example = get_task(task_name).example_input(data)
    users = (getattr(data, "meta", None) or {}).get("n_users")
    if torch.is_tensor(example) and example.dtype == torch.long and example.ndim == 1 and users:
        # a recommender scores the whole catalogue for a batch of user ids: check it on several users
        return torch.arange(min(n, int(users)), dtype=torch.long)
    return example


def export_run(
    store: RunStore, run_id: str, examples: Inputs | None = None, formats=tuple(FORMATS)
) -> list[ExportCheck]:
    """Export a stored run's model into its run folder in each format and check each file.

    `examples` defaults to 16 inputs of the run's own test split (the data is loaded again).
    """
    model, ckpt = load_run_model(store, run_id)
    config = RunConfig.from_dict(ckpt["config"])
    if examples is None:
        examples = example_batch(config.task, get_task(config.task).load_data(config))
    exporters = {"onnx": export_onnx, "torchscript": export_torchscript}
    folder = store.run_dir(run_id)
    folder.mkdir(parents=True, exist_ok=True)  # made here, then kept with the run's files (core/run/artifacts.py)
    checks = [exporters[f](model, examples, folder / FORMATS[f]) for f in formats]
    for check in checks:
        store.keep_file(run_id, check.path)
    return checks
