"""The CUDA path: training on `device=cuda`, with and without mixed precision, for every task.

Skipped where no CUDA device is present (CI has none); run on a GPU machine with
`python -m pytest -q tests/exec/test_cuda.py`.
"""

import pytest
import torch

from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.store import RunStore
from core.run.training import resolve_device
from core.tasks import load_run_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _train(tmp_path, task, model, **options):
    store = RunStore(tmp_path / "runs")
    config = make_config(task, model, device="cuda", **options)
    return store, run_experiment(config, store)


def test_auto_picks_cuda():
    assert resolve_device("auto").type == "cuda"


@pytest.mark.parametrize("amp", [False, True])
def test_image_trains_on_cuda(tmp_path, amp):
    store, result = _train(tmp_path, "image", "cnn_bn", dataset="digits", epochs=3, amp=amp)
    assert result.status == "finished"
    assert result.metrics["accuracy"] > 0.9
    # the stored checkpoint loads and predicts on the CPU
    model, _ = load_run_model(store, result.run_id)
    assert next(model.parameters()).device.type == "cpu"


def test_cuda_and_cpu_learn_the_same(tmp_path):
    _, gpu = _train(tmp_path, "image", "mlp", dataset="digits", epochs=5, seed=3)
    cpu = run_experiment(make_config("image", "mlp", dataset="digits", epochs=5, seed=3, device="cpu"))
    assert abs(gpu.metrics["accuracy"] - cpu.metrics["accuracy"]) < 0.03


@pytest.mark.parametrize("model", ["mf", "bpr", "sasrec"])
def test_recsys_trains_on_cuda(tmp_path, model):
    _, result = _train(tmp_path, "recsys", model, dataset="movies", epochs=2, amp=True)
    assert result.status == "finished"
    assert result.metrics["ndcg@10"] > 0.05


def test_speech_trains_on_cuda(tmp_path):
    pytest.importorskip("soundfile")
    _, result = _train(tmp_path, "speech", "dscnn", dataset="commands", epochs=8, lr=3e-3, batch_size=32, amp=True)
    assert result.status == "finished"
    assert result.metrics["accuracy"] > 0.3
