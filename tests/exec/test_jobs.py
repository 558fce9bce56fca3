"""The job manager: runs in worker processes, the worker limit, the FIFO queue, stop and cancel, failures that
say why; and the thread backend."""

import os
import time
from functools import partial

import pytest

from core.exec.jobs import JobManager
from core.run.config import make_config
from core.run.store import RunStore
from tests.support import waiting


def tiny(**options):
    return make_config("image", "mlp", **{"epochs": 1, "max_batches": 2, **options})


def long_running():
    """500 epochs of small batches: runs until stopped (about a minute on 2 cores)."""
    return tiny(epochs=500, max_batches=None, batch_size=8)


wait_for = partial(waiting.wait_for, timeout=30.0, poll=0.02)  # these jobs are tiny: fail sooner


@pytest.fixture
def manager(tmp_path):
    jobs = JobManager(RunStore(tmp_path), max_workers=1)
    yield jobs
    jobs.shutdown()


def test_a_job_runs_to_the_store(manager):
    job = manager.submit(tiny(), label="mlp")
    assert manager.store.get(job.run_id)["status"] in ("queued", "running", "finished")
    manager.wait(job.id)
    assert job.status == "finished" and job.error is None
    run = manager.store.get(job.run_id)
    assert run["status"] == "finished" and 0 <= run["metrics"]["accuracy"] <= 1
    snap = job.snapshot()
    assert snap["label"] == "mlp" and snap["epoch"] == 1 and len(snap["history"]) == 1
    assert manager.store.history(job.run_id) == snap["history"]
    assert job.result.metrics["accuracy"] == run["metrics"]["accuracy"] and job.result.model is None
    worker = run["pid"]  # it trained in a worker process, at a lower priority than this one
    assert worker != os.getpid()
    assert os.getpriority(os.PRIO_PROCESS, worker) > os.getpriority(os.PRIO_PROCESS, os.getpid())


def test_a_config_from_the_page_comes_back_from_the_store_as_it_went_in(manager):
    """make_config (as the page's Train button calls it) -> a job in a worker process -> the store -> RunConfig."""
    config = tiny(lr=0.002, augment={"rotate": 5.0}, model_options={"hidden": 32}, baseline=False)
    job = manager.submit(config)
    manager.wait(job.id)
    assert job.status == "finished" and job.result.config == config  # the digits are too many to fit the batch
    assert manager.store.get(job.run_id)["config"] == config


def test_stop_reaches_the_worker_process_within_a_second(manager):
    job = manager.submit(long_running())
    wait_for(lambda: job.status == "running" and job.batch > 0)
    asked = time.time()
    manager.stop(job.id)
    wait_for(lambda: manager.store.get(job.run_id)["status"] == "stopped", timeout=10)
    assert time.time() - asked < 1.5  # after one batch, then the evaluation and the checkpoint
    manager.wait(job.id)
    assert job.status == "stopped" and manager.store.load_checkpoint(job.run_id)["model"]


def test_the_thread_backend_runs_jobs_in_this_process(tmp_path):
    jobs = JobManager(RunStore(tmp_path), max_workers=1, backend="thread")
    try:
        job = jobs.submit(tiny())
        jobs.wait(job.id)
        assert job.status == "finished" and jobs.store.get(job.run_id)["pid"] == os.getpid()
    finally:
        jobs.shutdown()
    with pytest.raises(ValueError, match="unknown backend 'cloud'; choose one of process, thread, ray"):
        JobManager(RunStore(tmp_path), backend="cloud")


def test_the_worker_limit_queues_the_rest_in_order(manager):
    first = manager.submit(long_running())
    second, third = manager.submit(tiny()), manager.submit(tiny())
    wait_for(lambda: first.status == "running")
    time.sleep(0.3)
    assert second.status == "queued" and third.status == "queued"
    assert manager.store.get(second.run_id)["status"] == "queued"
    assert {j.id for j in manager.jobs(active_only=True)} == {first.id, second.id, third.id}
    manager.stop(first.id)
    manager.wait(third.id)
    assert first.status == "stopped" and second.status == third.status == "finished"
    assert first.ended <= second.started <= second.ended <= third.started  # one at a time, first in first out


def test_two_workers_run_two_jobs_at_once(tmp_path):
    jobs = JobManager(RunStore(tmp_path), max_workers=2)
    try:
        a, b, c = (jobs.submit(long_running()) for _ in range(3))
        wait_for(lambda: a.status == b.status == "running")
        assert c.status == "queued"
        for job in (a, b, c):
            jobs.stop(job.id)
        wait_for(lambda: all(j.done for j in (a, b, c)))
    finally:
        jobs.shutdown()


def test_cancel_a_queued_job_before_it_starts(manager):
    running = manager.submit(long_running())
    queued = manager.submit(tiny())
    wait_for(lambda: running.status == "running")
    manager.stop(queued.id)
    manager.stop(running.id)
    manager.wait(queued.id)
    assert queued.status == "cancelled" and queued.started is None
    assert manager.store.get(queued.run_id)["status"] == "cancelled"
    # a stopped run keeps the model trained so far
    manager.wait(running.id)
    assert running.status == "stopped"
    assert manager.store.get(running.run_id)["metrics"]["accuracy"] >= 0


def test_a_failing_job_says_why_on_its_run_and_the_next_job_still_runs(manager):
    bad = manager.submit(tiny(dataset="no-such-set"))
    good = manager.submit(tiny())
    manager.wait(good.id)
    assert bad.status == "failed" and "no-such-set" in bad.error
    run = manager.store.get(bad.run_id)
    assert run["status"] == "failed" and "no-such-set" in run["error"]
    assert good.status == "finished"


def test_a_job_shows_the_epochs_that_train_after_the_fit_to_data_rule():
    """The progress bar counts the epochs the worker will really train (the example budget may cut them)."""
    from core.exec.jobs import Job, JobManager

    job = Job(1, make_config("speech", "crnn_attention"))
    assert job.snapshot()["epochs"] == 60  # before the fit starts: what was asked
    JobManager._apply(None, job, "fit", {"epochs": 16})
    assert job.snapshot()["epochs"] == 16


def test_a_worker_reports_the_epochs_its_fit_will_train(manager):
    job = manager.submit(tiny(epochs=50, example_budget=1, max_batches=1), label="mlp")  # the budget cuts it to 5
    manager.wait(job.id, timeout=120)
    assert job.status == "finished" and job.snapshot()["epochs"] == 5 and len(job.history) == 5
