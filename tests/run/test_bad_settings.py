"""Nonsense settings and data that make training diverge: a message and exit status 2, never a 'finished' run."""

import re

import numpy as np
import pytest
import soundfile as sf
import torch
from streamlit.testing.v1 import AppTest

from core.cli import main
from core.models import get_spec
from core.run.store import RunStore
from tests.support.apptest import APP


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "0"], "epochs = 0 is outside 1 to 500"),
        (["--batch-size", "-5"], "batch_size = -5 is outside 1 to 8192"),
        (["--max-batches", "0"], "max_batches = 0 is outside"),
        (["--lr", "inf"], "lr = inf is outside"),
        (["--lr", "nan"], "lr = nan is outside"),
        (["--weight-decay", "-1"], "weight_decay = -1.0 is outside 0 to 1"),
        (["--epochs", "100000"], "epochs = 100000 is outside 1 to 500"),
    ],
)
def test_nonsense_settings_exit_2_before_any_run(tmp_path, capsys, flags, message):
    assert main(["train", "image", "--model", "mlp", *flags, "--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "runs.db").exists()


def test_nonsense_settings_in_a_shared_link_are_ignored_not_used():
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"epochs": "0", "lr": "inf", "batch_size": "-5", "weight_decay": "nan"})
    at.run()
    at.switch_page("app_pages/image.py").run()
    assert not at.exception
    defaults = get_spec("image", "cnn_bn").defaults  # cnn_bn's own defaults, not 0 or inf
    assert at.number_input(key="image_epochs").value == defaults["epochs"]
    assert at.number_input(key="image_lr").value == pytest.approx(defaults["lr"])
    assert at.selectbox(key="image_batch_size").value == defaults["batch_size"]


def test_a_weights_file_of_non_tensors_is_named(tmp_path, capsys):
    path = tmp_path / "odd.pth"
    torch.save({"conv.weight": [1, 2, 3]}, path)
    args = ["train", "image", "--model", "resnet18", "--weights", str(path), "--epochs", "1", "--max-batches", "1"]
    assert main([*args, "--runs", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "odd.pth: 'conv.weight' holds a list, not a tensor" in err


def test_audio_of_absurd_loudness_is_refused_naming_the_file(tmp_path, capsys):
    """Samples of 1e30 overflow float32 in the features: every model would see NaN (the deep ones diverged, logreg
    gave scikit-learn's NaN message), so the file is refused when it is read (issue 23, item 14)."""
    rng = np.random.default_rng(0)
    for word in ("a", "b"):
        (tmp_path / "loud" / word).mkdir(parents=True)
        for i in range(8):
            sf.write(
                tmp_path / "loud" / word / f"{i}.wav",
                (rng.standard_normal(16000) * 1e30).astype(np.float32),
                16000,
                subtype="FLOAT",
            )
    runs = tmp_path / "runs"
    code = main(
        ["train", "speech", "--data", str(tmp_path / "loud"), "--model", "cnn", "--epochs", "2", "--runs", str(runs)]
    )
    err = capsys.readouterr().err
    assert code == 2 and re.search(r"error: [ab]/\d\.wav: samples reach [\d.]+e\+30, out of range", err), err
    (run,) = RunStore(runs).list()
    assert run["status"] == "failed"  # not 'finished' with NaN metrics
