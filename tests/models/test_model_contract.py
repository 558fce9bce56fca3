"""One contract for every registered model, parametrized over the registry (torchvision's test_models.py style):
it builds from its spec, fits (one batch, or its closed form), is stored, reloads to the same test numbers, says
what it is, and its run has a command line that reproduces it. A model added to the registry is tested here with
no edit to this file."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from core.models import get_spec, list_models, spec_of
from core.run.command import command_for
from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.store import RunStore
from core.tasks import get_task, load_run_model, task_names

pytestmark = pytest.mark.slow


def _needs_download(task: str, model: str) -> bool:
    """A frozen speech encoder is nothing without its fetched weights (tests/models/test_pretrained.py covers it)."""
    pretrained = get_spec(task, model).pretrained
    return pretrained is not None and pretrained.library == "torchaudio"


REGISTERED = [(t, m) for t in task_names() for m in list_models(t) if not _needs_download(t, m)]


def _images(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for c, level in enumerate((40, 128, 215)):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(8):
            pixels = np.clip(rng.normal(level, 20, (16, 16)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / f"class{c}" / f"{i}.png")
    return root


def _sounds(root: Path) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 16_000
    for c, freq in enumerate((300.0, 900.0, 2000.0)):
        (root / f"word{c}").mkdir(parents=True)
        for i in range(8):
            wave = 0.4 * np.sin(2 * np.pi * freq * (1 + 0.02 * i) * t) + rng.normal(0, 0.01, t.size)
            sf.write(root / f"word{c}" / f"s{i}_nohash_{i}.wav", wave.astype(np.float32), 16_000)
    return root


def _ratings(root: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for u in range(40):
        liked = np.arange(15) if u % 2 == 0 else np.arange(15, 30)
        for t, i in enumerate(rng.choice(liked, size=10, replace=False)):
            rows.append(f"{u + 1},{i + 1},{rng.integers(3, 6)},{1000 + 20 * u + t}")
    root.mkdir(parents=True)
    (root / "ratings.csv").write_text("user,item,rating,timestamp\n" + "\n".join(rows) + "\n")
    return root / "ratings.csv"


MAKE_DATA = {"image": _images, "speech": _sounds, "recsys": _ratings}


@pytest.fixture(scope="module")
def data_of(tmp_path_factory):
    root = tmp_path_factory.mktemp("contract")
    return {task: make(root / task) for task, make in MAKE_DATA.items()}


@pytest.mark.parametrize("task,model", REGISTERED, ids=[f"{t}-{m}" for t, m in REGISTERED])
def test_every_model_builds_fits_stores_reloads_and_describes_itself(data_of, tmp_path, task, model):
    spec = get_spec(task, model)
    assert spec.description and spec.title
    if not spec.closed_form:  # a trained model recommends its own training settings
        assert {"epochs", "lr", "batch_size"} <= set(spec.defaults)
    # small generated data where this file makes some, else the task's first bundled set
    source = {"data": str(data_of[task])} if task in data_of else {"dataset": get_task(task).spec.dataset_names[0]}
    config = make_config(task, model, **source, epochs=1, max_batches=2, baseline=False, device="cpu")
    store = RunStore(tmp_path / "runs")
    result = run_experiment(config, store)
    assert result.status == "finished", result
    primary = get_task(task).spec.primary_metric
    assert np.isfinite(result.metrics[primary])
    assert spec_of(result.model) is spec

    reloaded, ckpt = load_run_model(store, result.run_id)
    assert spec_of(reloaded) is spec and ckpt["config"]["model"] == model
    handler = get_task(task)
    out = handler.evaluate(reloaded, handler.load_data(result.config))
    metrics = out[0] if isinstance(out, tuple) else out
    assert metrics[primary] == pytest.approx(result.metrics[primary], abs=1e-6)

    line = command_for(store.get(result.run_id)["config"])
    assert line.startswith(f"python -m core train {task}") and f"--model {model}" in line
