"""The command line of DESIGN.md."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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

    import core.run.experiment
    from core.cli import main
    from core.run.command import command_for
    from core.run.config import make_config
    from core.run.experiment import RunResult

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
            freeze_backbone=True,
            weights_path="/w/resnet18.pth",
            init_from="20260101-000000-image-resnet18-abcd",
            device="cpu",
            amp=True,
        ),
        make_config("speech", "cnn", augment={"noise_snr": None, "shift": 0.1, "time_mask": 10, "freq_mask": 5}),
        make_config("speech", "crnn_attention", example_budget=0),  # no budget: written --example-budget 0
        make_config("speech", "crnn_attention", example_budget=5_000, augment={"speed": 0.1}),
    ]
    seen = []
    monkeypatch.setattr(
        core.run.experiment, "run_experiment", lambda config, *a, **k: seen.append(config) or RunResult("x", "finished")
    )
    for config in configs:
        words = shlex.split(command_for(config), comments=True)
        assert words[:4] == ["python", "-m", "core", "train"]
        assert main(words[3:]) == 0
        assert seen[-1] == config


def test_command_for_names_settings_the_cli_cannot_take():
    from core.run.command import command_for
    from core.run.config import make_config

    line = command_for(make_config("image", "mlp", split_seed=3))
    assert "python -m core train image --model mlp" in line
    assert line.endswith("# not settable from the command line: split_seed=3") or "--split-seed 3" in line


def test_command_for_shows_only_what_differs_from_the_spec():
    from core.run.command import command_for
    from core.run.config import make_config

    line = command_for(make_config("image", "cnn_bn", dataset="digits", seed=0))
    assert line == "python -m core train image --model cnn_bn --dataset digits --seed 0"


TINY = ("--epochs", "1", "--max-batches", "2")
TIMINGS = ("train_seconds", "latency_ms")  # wall-clock numbers: never equal twice


def test_cli_trains_exactly_what_the_page_trains(tmp_path):
    """Parity: the CLI line and the page's path (make_config -> run_experiment) give the same metrics."""
    import os

    import torch

    from core.run.config import make_config
    from core.run.experiment import run_experiment

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    args = ["train", "image", "--dataset", "digits", "--model", "cnn_bn", "--seed", "0", *TINY]
    out = subprocess.run(
        [sys.executable, "-m", "core", *args, "--runs", str(tmp_path / "cli"), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    cli_result = json.loads(out.stdout.strip().splitlines()[-1])
    page = run_experiment(make_config("image", "cnn_bn", dataset="digits", seed=0, epochs=1, max_batches=2))
    assert _untimed(cli_result["metrics"]) == _untimed(page.metrics)
    assert cli_result["ci95"] == page.details["ci95"]


def _untimed(metrics):
    return {k: v for k, v in metrics.items() if k not in TIMINGS}


@pytest.fixture(scope="module")
def store_with_runs(tmp_path_factory):
    """A run store holding one tiny image run and one recsys run, trained through the CLI."""
    from core.cli import main

    root = tmp_path_factory.mktemp("store")
    assert main(["train", "image", "--dataset", "digits", "--model", "mlp", *TINY, "--runs", str(root)]) == 0
    assert main(["train", "recsys", "--model", "pop", "--runs", str(root)]) == 0
    from core.run.store import RunStore

    ids = {r["task"]: r["id"] for r in RunStore(root).list()}
    return root, ids


def test_runs_lists_the_store(store_with_runs, capsys):
    from core.cli import main

    root, ids = store_with_runs
    assert main(["runs", "--runs", str(root)]) == 0
    table = capsys.readouterr().out
    assert ids["image"] in table and ids["recsys"] in table and "finished" in table
    assert "Test accuracy" in table and "NDCG@10" in table
    assert main(["runs", "--task", "recsys", "--json", "--runs", str(root)]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["id"] for r in listed] == [ids["recsys"]] and listed[0]["status"] == "finished"
    assert main(["runs", "--runs", str(root / "none yet")]) == 0  # reading never creates a store
    assert "no runs" in capsys.readouterr().out and not (root / "none yet").exists()


def test_show_prints_metrics_with_intervals_and_the_command(store_with_runs, capsys):
    from core.cli import main

    root, ids = store_with_runs
    assert main(["show", ids["image"], "--runs", str(root)]) == 0
    text = capsys.readouterr().out
    assert "Test accuracy" in text and "95% CI" in text and "Macro-F1" in text
    assert "split: " in text and "epochs run: 1" in text
    assert "python -m core train image --model mlp --dataset digits" in text
    assert main(["show", ids["recsys"], "--json", "--runs", str(root)]) == 0
    shown = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert shown["id"] == ids["recsys"] and "ndcg@10" in shown["metrics"] and "ndcg@10" in shown["details"]["ci95"]
    assert shown["command"].startswith("python -m core train recsys --model pop")


def test_unknown_run_is_an_error_naming_the_store(store_with_runs, capsys):
    from core.cli import main

    root, _ = store_with_runs
    for command in (["show", "nope"], ["export", "nope", "--format", "onnx"], ["report", "nope", "-o", "x.html"]):
        assert main([*command, "--runs", str(root)]) == 2
        assert f"error: no run nope in {root}/" in capsys.readouterr().err


def test_export_writes_the_file_and_reports_the_check(store_with_runs, tmp_path, capsys):
    from core.cli import main

    root, ids = store_with_runs
    out = tmp_path / "model.pt"
    assert main(["export", ids["image"], "--format", "torchscript", "-o", str(out), "--runs", str(root)]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text and "check: ok" in text and "same predictions" in text
    assert out.stat().st_size > 0 and (root / ids["image"] / "model.torchscript.pt").exists()


def test_report_writes_self_contained_html(store_with_runs, tmp_path, capsys):
    from core.cli import main

    root, ids = store_with_runs
    out = tmp_path / "report.html"
    assert main(["report", ids["image"], "-o", str(out), "--runs", str(root)]) == 0
    html = out.read_text(encoding="utf-8")
    assert ids["image"] in html and "python -m core train image --model mlp" in html and "<script" in html


def test_race_prints_variants_and_a_verdict(tmp_path, capsys):
    from core.cli import main
    from core.run.store import RunStore

    args = ["race", "image", "--vary", "optimizer=sgd,adam", "--seeds", "1", "--model", "mlp", *TINY]
    assert main([*args, "--json", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    race = json.loads(out.strip().splitlines()[-1])
    assert race["task"] == "image" and [v["label"] for v in race["variants"]] == ["SGD", "Adam"]
    assert all(len(v["runs"]) == 1 and len(v["values"]) == 1 and 0 <= v["mean"] <= 1 for v in race["variants"])
    assert "won" in race["verdict"] and "**" not in race["verdict"] and race["skipped"] == []
    assert "SGD" in out.splitlines()[1] and "Test accuracy" in out.splitlines()[0]  # the table above the JSON
    stored = {r["id"]: r for r in RunStore(tmp_path).list()}
    assert {v["runs"][0] for v in race["variants"]} == set(stored)
    assert {r["config"].optimizer for r in stored.values()} == {"sgd", "adam"}


@pytest.mark.parametrize(
    "vary, message",
    [
        ("nope=1,2", "unknown axis 'nope'"),
        ("lr=abc", "lr takes numbers"),
        ("lr=-1", "outside"),
        ("optimizer=sgd,fast", "must be one of"),
        ("batch_norm=maybe", "on/off"),
        ("model=mlp,nope", "unknown image model 'nope'"),
        ("init_from=scratch,20260101-000000-image-mlp-abcd", "no run 20260101-000000-image-mlp-abcd"),
        ("lr", "needs values"),
    ],
)
def test_race_bad_axis_or_value_exits_2(tmp_path, capsys, vary, message):
    from core.cli import main

    assert main(["race", "image", "--vary", vary, "--model", "mlp", *TINY, "--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_race_caps_the_number_of_runs(tmp_path, capsys):
    from core.cli import main
    from core.lab.whatif import MAX_RUNS
    from core.run.store import RunStore

    lrs = ",".join(str(0.001 * (i + 1)) for i in range(MAX_RUNS // 2 + 1))
    args = ["race", "image", "--vary", f"lr={lrs}", "--seeds", "2", "--model", "mlp", "--runs", str(tmp_path)]
    assert main(args) == 2
    assert f"at most {MAX_RUNS}" in capsys.readouterr().err
    assert not RunStore(tmp_path).list()  # refused before any run


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "mlp", "--weights", "w.pt"], "mlp cannot start from a weights file"),
        (["--option", "width=-5"], "width = -5 is outside"),
        (["--option", "nope=1"], "unknown option(s) for cnn_bn: nope"),
        (["--augment", "rotate=abc"], "rotate must be a number"),
        (["--augment", "blur=1"], "unknown augmentation(s): blur"),
        (["--option", "width"], "--option expects KEY=VALUE"),
    ],
)
def test_bad_train_settings_exit_2_with_make_configs_message(tmp_path, capsys, args, message):
    from core.cli import main

    assert main(["train", "image", *args, "--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "runs.db").exists()  # refused before any run was created


def test_weights_for_speech_exit_2(tmp_path, capsys):
    from core.cli import main

    assert main(["train", "speech", "--weights", "w.pt", "--runs", str(tmp_path)]) == 2
    assert "cannot start from a weights file" in capsys.readouterr().err


def test_runs_folder_that_is_a_file_exits_2(tmp_path, capsys):
    from core.cli import main

    a_file = tmp_path / "runs"
    a_file.write_text("not a folder")
    for command in (["runs"], ["show", "x"], ["train", "recsys", "--model", "pop"]):
        assert main([*command, "--runs", str(a_file)]) == 2
        assert f"error: {a_file} is a file, not a run store folder" in capsys.readouterr().err


def test_corrupt_or_unopenable_runs_db_exits_2_naming_it(tmp_path, capsys):
    from core.cli import main

    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "runs.db").write_bytes(b"\x00garbage" * 512)
    assert main(["runs", "--runs", str(corrupt)]) == 2
    assert f"{corrupt / 'runs.db'} is not a readable run store database" in capsys.readouterr().err
    assert main(["train", "recsys", "--model", "pop", "--runs", str(corrupt)]) == 2
    assert "runs.db is not a readable run store database" in capsys.readouterr().err
    unopenable = tmp_path / "unopenable"
    (unopenable / "runs.db").mkdir(parents=True)  # sqlite cannot open a folder
    assert main(["train", "recsys", "--model", "pop", "--runs", str(unopenable)]) == 2
    assert f"cannot write the run store {unopenable / 'runs.db'}" in capsys.readouterr().err


def test_read_only_runs_folder_exits_2(tmp_path, capsys):
    import os

    from core.cli import main

    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: permissions do not stop writes")
        assert main(["train", "recsys", "--model", "pop", "--runs", str(folder)]) == 2
        assert f"the run store folder {folder} is read-only" in capsys.readouterr().err
    finally:
        folder.chmod(0o755)


def test_read_only_check_names_the_folder(tmp_path, monkeypatch):
    """The same check where permissions cannot be tested (as root): os.access says the folder is read-only."""
    import os

    from core.run.store import RunStore, RunStoreError

    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(RunStoreError, match="read-only"):
        RunStore(tmp_path / "store")


def test_full_disk_during_checkpoint_save_fails_the_run_and_cleans_up(tmp_path, monkeypatch, capsys):
    import errno

    import torch

    from core.cli import main
    from core.run.store import RunStore

    real_save = torch.save

    def full_disk(obj, path, *a, **k):
        if not isinstance(path, Path):  # the model-size measurement saves to memory
            return real_save(obj, path, *a, **k)
        path.write_bytes(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    assert main(["train", "image", "--model", "mlp", *TINY, "--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error: could not save the checkpoint" in err and "No space left on device" in err
    (run,) = RunStore(tmp_path).list()
    assert run["status"] == "failed" and "No space left on device" in run["error"]
    assert not list(tmp_path.glob("*/checkpoint.*"))  # neither the temporary file nor a checkpoint


def test_stale_checkpoint_tmp_is_removed_when_the_store_opens(tmp_path):
    from core.run.settings import RunConfig
    from core.run.store import RunStore

    store = RunStore(tmp_path)
    done = store.create("image", RunConfig(task="image", model="mlp"))
    store.finish(done, "finished", {}, {}, 1.0)
    # 'running' in this (live) process: its save may be under way
    live = store.create("image", RunConfig(task="image", model="mlp"))
    for run_id in (done, live, "killed-before-it-was-stored"):
        (tmp_path / run_id).mkdir(exist_ok=True)
        (tmp_path / run_id / "checkpoint.tmp").write_bytes(b"half")
    RunStore(tmp_path)
    assert not (tmp_path / done / "checkpoint.tmp").exists()
    assert not (tmp_path / "killed-before-it-was-stored" / "checkpoint.tmp").exists()
    assert (tmp_path / live / "checkpoint.tmp").exists()


def test_ctrl_c_during_training_saves_the_stopped_run_and_exits_130(tmp_path, monkeypatch, capsys):
    import core.cli
    from core.cli import main
    from core.run.store import RunStore

    def interrupt(self, trainer, logs):
        raise KeyboardInterrupt

    monkeypatch.setattr(core.cli.ProgressBar, "on_epoch_end", interrupt)
    args = ["train", "image", "--model", "mlp", "--epochs", "3", "--max-batches", "2", "--json"]
    assert main([*args, "--runs", str(tmp_path)]) == core.cli.INTERRUPTED == 130
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["status"] == "stopped" and "accuracy" in result["metrics"]
    run = RunStore(tmp_path).get(result["run_id"])
    assert run["status"] == "stopped" and "Ctrl-C" in run["details"]["stop_reason"]
    assert (tmp_path / result["run_id"] / "checkpoint.pt").exists()
