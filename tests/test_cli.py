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
