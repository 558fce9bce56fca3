"""The command line of DESIGN.md."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, runs):
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )


def test_list(tmp_path):
    out = cli("list", "image", runs=tmp_path)
    assert out.returncode == 0
    assert "digits" in out.stdout and "dscnn" in out.stdout


def test_train_json_last_line(tmp_path):
    out = cli(
        "train",
        "image",
        "--dataset",
        "digits",
        "--model",
        "cnn_bn",
        "--optimizer",
        "adagrad",
        "--lr",
        "0.01",
        "--epochs",
        "2",
        "--batch-size",
        "128",
        "--seed",
        "1",
        "--runs",
        str(tmp_path),
        "--json",
        runs=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["task"] == "image" and result["model"] == "cnn_bn" and result["dataset"] == "digits"
    assert 0 <= result["metrics"]["accuracy"] <= 1 and "macro_f1" in result["metrics"]
    assert result["seconds"] > 0
    assert (tmp_path / result["run_id"] / "checkpoint.pt").exists()


def test_bad_data_exits_non_zero_naming_the_file(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../evil.png", "x")
    out = cli("train", "image", "--data", str(bad), "--model", "cnn", "--runs", str(tmp_path / "runs"), runs=tmp_path)
    assert out.returncode == 2
    assert "bad.zip" in out.stderr and "outside" in out.stderr


def test_unknown_model_names_the_choices(tmp_path):
    out = cli("train", "image", "--model", "nope", "--runs", str(tmp_path), runs=tmp_path)
    assert out.returncode == 2 and "cnn_bn" in out.stderr


def test_command_for_parses_back_to_the_same_config(monkeypatch):
    import shlex

    import core.experiment
    from core.cli import command_for, main
    from core.experiment import RunResult, make_config

    configs = [
        make_config("image", "cnn_bn", optimizer="adagrad", lr=0.01, epochs=3, batch_size=128, seed=4),
        make_config(
            "image",
            "resnet18",
            data="/data/my photos.zip",
            weight_decay=1e-4,
            patience=3,
            max_batches=5,
            augment={"shift": 0.1, "rotate": 10.0, "flip": True},
            model_options={"freeze_backbone": True, "width": 16},
            weights_path="/w/resnet18.pth",
            init_from="20260101-000000-image-resnet18-abcd",
            device="cpu",
            amp=True,
        ),
        make_config("speech", "cnn", augment={"noise_snr": None, "shift": 0.1, "time_mask": 10, "freq_mask": 5}),
    ]
    seen = []
    monkeypatch.setattr(
        core.experiment, "run_experiment", lambda config, *a, **k: seen.append(config) or RunResult("x", "finished")
    )
    for config in configs:
        words = shlex.split(command_for(config), comments=True)
        assert words[:4] == ["python", "-m", "core", "train"]
        assert main(words[3:]) == 0
        assert seen[-1] == config


def test_command_for_names_settings_the_cli_cannot_take():
    from core.cli import command_for
    from core.experiment import make_config

    line = command_for(make_config("image", "mlp", split_seed=3))
    assert "python -m core train image --model mlp" in line
    assert line.endswith("# not settable from the command line: split_seed=3") or "--split-seed 3" in line
