"""Tune (core/lab/tune.py): the search space's words, pruning fed by each epoch's validation score, resuming a stored
study, stopping every trial, a killed trial marked, and the best trial the only run that reads the test split."""

from __future__ import annotations

import dataclasses
import json
import threading
from types import SimpleNamespace

import pytest
from optuna.trial import TrialState

import core.lab.tune as tune
from core.cli import main
from core.exec.jobs import DONE, JobManager
from core.lab.tune import Dim, Tuner, TuneSpec, parse_search, storage_url, trial_config
from core.run.config import make_config
from core.run.store import RunStore

DIMS = ["lr=0.0001:0.01:log", "batch_norm=on,off"]


def test_search_words_parse_into_ranges_and_values():
    assert parse_search("lr=1e-4:1e-2:log", "image") == Dim("lr", 1e-4, 1e-2, True)
    assert parse_search("batch_norm=on,off", "image") == Dim("batch_norm", choices=(True, False))
    assert parse_search("batch-size=16:256", "image") == Dim("batch_size", 16, 256, False)
    assert parse_search("optimizer=sgd,adam,sgd", "image").choices == ("sgd", "adam")
    assert parse_search("model=cnn,mlp", "image").choices == ("cnn", "mlp")
    for item in DIMS:  # the words a study stores give the same dimension back
        assert parse_search(parse_search(item, "image").text(), "image").text() == item


@pytest.mark.parametrize(
    "item, says",
    [
        ("lr=0:1", "outside"),  # the setting's own range (1e-06 to 10)
        ("lr=1e-2:1e-4", "LOW must be below HIGH"),
        ("weight_decay=0:0.1:log", "log range needs LOW above 0"),
        ("lr=1e-4:1e-2:ln", "LOW:HIGH or LOW:HIGH:log"),
        ("optimizer=sgd:adam", "takes values"),
        ("batch_norm=maybe", "on/off"),
        ("seed=1:5", "not a setting the tuner searches"),
        ("lr", "KEY=LOW:HIGH"),
        ("model=nosuch", "nosuch"),
    ],
)
def test_bad_search_words_say_what_is_wrong(item, says):
    with pytest.raises(ValueError, match=says):
        parse_search(item, "image")


def test_a_trials_settings_go_into_the_config_through_the_labs_axes():
    base = make_config("image", "cnn_bn", dataset="digits")
    config = trial_config(base, {"lr": 0.005, "batch_norm": False})
    assert config.model == "cnn" and config.lr == 0.005  # no batch norm: the family member without it


class FakeJob:
    """A job that trains one epoch per look: validation accuracy climbs to `score` over `epochs`."""

    def __init__(self, id_: int, config: dict, score: float, test: bool, epochs: int = 10, dies: bool = False):
        self.id, self.config, self.run_id, self.test = id_, config, f"run-{id_}", test
        self.score, self.epochs, self.dies = score, epochs, dies
        self.status, self.error, self.result, self.history = "running", None, None, []
        if test:  # the best trial's tested run: done at once
            self.status, self.result = "finished", SimpleNamespace(metrics={"accuracy": score})

    @property
    def done(self) -> bool:
        return self.status in DONE

    def snapshot(self) -> dict:
        if not self.done:
            epoch = len(self.history) + 1
            self.history.append({"epoch": epoch, "val_accuracy": self.score * epoch / self.epochs})
            if self.dies and epoch == 2:
                self.status, self.error = "failed", "the worker process running it died (signal 9; killed)"
            elif epoch == self.epochs:
                metrics = {"val_accuracy": self.score, "parameters": 1000.0 if self.config.model == "cnn" else 1e6}
                self.result, self.status = SimpleNamespace(metrics=metrics), "finished"
        return {"history": list(self.history), "epochs": self.epochs}


class FakeJobs:
    """JobManager's surface the tuner uses; a trial's score is its learning rate's share of 0.01."""

    max_workers = 1

    def __init__(self, dies: tuple[int, ...] = (), hold: bool = False) -> None:
        self.jobs: list[FakeJob] = []
        self.dies, self.hold = dies, hold

    def submit(self, config, label="", owner="", limit=3, client="", test=True):
        job = FakeJob(len(self.jobs), config, min(1.0, config.lr / 0.01), test, dies=len(self.jobs) in self.dies)
        if self.hold:  # never ends by itself: only a stop ends it
            job.snapshot = lambda job=job: {"history": [], "epochs": 10}
        self.jobs.append(job)
        return job

    def check_room(self, owner="", client="", limit=3, count=1) -> None:
        pass

    def stop(self, job_id: int) -> None:
        job = self.jobs[job_id]
        if not job.done:
            job.status = "stopped"

    def wait(self, job_id: int, timeout: float = 60.0):
        return self.jobs[job_id]


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(tune, "POLL", 0.001)


def spec(trials: int = 4, **more) -> TuneSpec:
    return TuneSpec(make_config("image", "cnn_bn", dataset="digits"), DIMS, trials, **more)


def states(study) -> list[str]:
    return [t.user_attrs.get("ended") for t in study.trials]


def test_pruning_reads_each_epochs_validation_score(tmp_path):
    jobs = FakeJobs()
    tuner = Tuner(spec(3), storage_url(tmp_path), jobs, parallel=1)
    tuner.study.enqueue_trial({"lr": 0.01, "batch_norm": False})  # climbs to 1.0
    tuner.study.enqueue_trial({"lr": 0.0001, "batch_norm": False})  # climbs to 0.01: behind at the first rung
    tuner.run()
    base, first, second = tuner.study.trials[:3]
    assert base.params == {"lr": 0.003, "batch_norm": True}  # the base setup (its spec defaults) goes first
    assert first.state == TrialState.COMPLETE and first.value == 1.0
    assert first.intermediate_values == {10 * e: e / 10 for e in range(1, 11)}  # percent of the epochs: the score
    assert second.state == TrialState.PRUNED and second.user_attrs["pruned_at"] == 1
    assert jobs.jobs[2].status == "stopped" and len(jobs.jobs[2].history) == 1  # its job stopped after one epoch
    assert [j.test for j in jobs.jobs] == [False, False, False, True]  # trials on validation; the best's re-run tested
    assert jobs.jobs[3].config.lr == 0.01 and tuner.study.user_attrs["best_run"] == "run-3"


def test_a_killed_trial_is_marked_and_the_study_goes_on(tmp_path):
    tuner = Tuner(spec(3, pruner="none"), storage_url(tmp_path), FakeJobs(dies=(1,)), parallel=1)
    tuner.run()
    assert states(tuner.study)[1] == "killed" and tuner.study.trials[1].state == TrialState.FAIL
    assert len(tuner.study.trials) == 3 and tuner.study.user_attrs["state"] == "done"


def test_a_size_limit_keeps_big_trials_from_winning(tmp_path):
    tuner = Tuner(spec(1, limits={"parameters": 5000}), storage_url(tmp_path), FakeJobs(), parallel=1)
    tuner.run()  # the one trial, the base setup: cnn_bn, with 1e6 parameters in the fake
    assert states(tuner.study) == ["over limit: parameters 1e+06 over the limit of 5,000"]
    assert "no trial finished" in tuner.study.user_attrs["best_error"]


def test_a_restart_resumes_the_stored_study(tmp_path):
    url, first = storage_url(tmp_path), spec(3)
    study = tune.open_study(first, url)
    study.tell(study.ask(), state=TrialState.FAIL)  # one trial ended before the restart...
    study.ask()  # ...and one was running when the server died
    tuner = Tuner(spec(3), url, FakeJobs(), parallel=1)  # the same spec after a restart: the same study
    assert tuner.name == study.study_name
    tuner.run()
    assert states(tuner.study)[:2] == [None, "interrupted"]
    # the interrupted trial gives its place in the budget back: 3 counted trials besides it
    assert len(tuner.study.trials) == 4 and tune.counted(tuner.study) == 3
    assert tuner.study.user_attrs["state"] == "done" and "best_run" in tuner.study.user_attrs


def test_a_study_stored_before_a_setting_existed_resumes_as_itself(tmp_path):
    import hashlib

    import optuna

    url = storage_url(tmp_path)
    stored = dataclasses.asdict(spec(3))
    stored["base"].pop("freeze_backbone")  # a study started before that setting: its spec and its name without it
    text = json.dumps(stored, sort_keys=True, default=str)
    name = f"image-cnn_bn-{hashlib.sha1(text.encode()).hexdigest()[:10]}"
    study = optuna.create_study(storage=tune._storage(url), study_name=name, direction="maximize")
    study.set_user_attr("spec", stored)
    resumed = tune.spec_of(tune.load_study(name, url))  # the page's Resume starts the stored spec again
    assert resumed.name == name
    assert Tuner(resumed, url, FakeJobs(), parallel=1).study._study_id == study._study_id


def test_stop_stops_every_trial_and_the_study_can_resume(tmp_path):
    jobs = FakeJobs(hold=True)
    tuner = Tuner(spec(6), storage_url(tmp_path), jobs, parallel=3)
    thread = threading.Thread(target=tuner.run)
    thread.start()
    while len(jobs.jobs) < 3:
        thread.join(0.01)
    tuner.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert [j.status for j in jobs.jobs] == ["stopped"] * 3
    assert states(tuner.study) == ["stopped"] * 3 and tuner.study.user_attrs["state"] == "stopped"
    assert tune.counted(tuner.study) == 0  # stopped trials give the budget back
    again = Tuner(spec(6), storage_url(tmp_path), FakeJobs(), parallel=1)
    again.run()
    assert tune.counted(again.study) == 6 and again.study.user_attrs["state"] == "done"


def test_the_best_trial_is_the_only_run_that_reads_the_test_split(tmp_path, monkeypatch):
    from core.tasks import get_task

    task, tested = get_task("image"), []
    evaluate = type(task).evaluate

    def spy(self, model, data):
        tested.append(threading.current_thread().name)
        return evaluate(self, model, data)

    monkeypatch.setattr(type(task), "evaluate", spy)
    store = RunStore(tmp_path / "runs")
    jobs = JobManager(store, max_workers=2, backend="thread")
    base = make_config("image", "mlp", dataset="digits", epochs=2, baseline=False, min_steps=0)
    try:
        tuner = Tuner(TuneSpec(base, ["lr=0.001:0.01:log"], 3), storage_url(store.root), jobs)
        tuner.run()
    finally:
        jobs.shutdown()
    runs = {r["id"]: r for r in store.list()}
    best = tuner.study.user_attrs["best_run"]
    assert len(tested) == 1 and len(runs) == 4
    assert "accuracy" in runs[best]["metrics"]  # tested
    trials = [r for r in runs.values() if r["id"] != best]
    assert all("accuracy" not in r["metrics"] and "val_accuracy" in r["metrics"] for r in trials)
    assert runs[best]["config"].lr == pytest.approx(tuner.study.best_trial.params["lr"])


def test_the_cli_tunes_with_a_tiny_budget(tmp_path, capsys):
    runs = tmp_path / "runs"
    argv = ["tune", "image", "--dataset", "digits", "--model", "mlp", "--epochs", "2", "--min-steps", "0"]
    argv += ["--no-baseline"]
    argv += ["--search", "lr=1e-3:1e-2:log", "--search", "batch_size=16,64", "--trials", "2", "--workers", "1"]
    argv += ["--runs", str(runs), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["trials"] == 2 and out["state"] == "done" and out["metric"] == "val_accuracy"
    assert 0 <= out["metrics"]["accuracy"] <= 1 and set(out["best"]["params"]) == {"lr", "batch_size"}
    assert main(argv) == 0  # the same command again: the stored study, its budget spent, nothing trains
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["study"] == out["study"] and again["best_run"] == out["best_run"]
    assert len(RunStore(runs).list()) == 3
