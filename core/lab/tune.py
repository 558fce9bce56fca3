"""Tune: an Optuna search over a run's settings. Trials are jobs like any other, scored on the validation split and
pruned on their per-epoch validation metric; the best trial is trained once more and tested, the only test read.

The driver (`Tuner`) runs in the process that owns the job manager (the web server or the CLI): it asks Optuna for a
trial, queues it as a job, reports each epoch's validation score back to the trial, stops the job when the pruner
says so, and tells the study how the trial ended. The study lives in Optuna's RDB storage, a SQLite file beside the
run store (`tune.db`), so a page reload or a restart finds it and resumes it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from core.lab.whatif import AXES, SWITCHES
from core.run.config import RUN_OPTIONS, check_config
from core.run.settings import RunConfig

TUNABLE = ("lr", "weight_decay", "batch_size", "epochs", "optimizer", "schedule", *SWITCHES, "model")
PRUNERS = {"halving": "successive halving", "median": "median", "none": "no pruning"}
LIMITS = {"parameters": "parameters", "latency_ms": "latency (ms)"}  # what a trial may be held under
STORAGE_FILE = "tune.db"
MAX_TRIALS = 200
POLL = 0.2  # seconds between looks at the trials' jobs
BEAT = 2.0  # seconds between the driver's writes of the time used and its heartbeat
STALE = 30.0  # a 'running' study whose heartbeat is older than this lost its driver (a restart): it can be resumed
ENDED = ("pruned", "finished")  # trial ends that count towards the budget, with failed, diverged and killed ones
NOT_COUNTED = ("interrupted", "stopped")  # cut short by a restart or by Stop: the budget gets them back


@dataclass(frozen=True)
class Dim:
    """One setting the search varies: a range (low:high, log-scaled or not) or a list of values."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()

    def suggest(self, trial) -> Any:
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        if RUN_OPTIONS[self.name].kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def text(self) -> str:
        """The command-line word that gives this dimension back (`lr=0.0001:0.01:log`, `batch_norm=on,off`)."""
        if self.choices:
            return f"{self.name}=" + ",".join(_word(self.name, v) for v in self.choices)
        return f"{self.name}={self.low:g}:{self.high:g}" + (":log" if self.log else "")


def _word(name: str, value: Any) -> str:
    if name in SWITCHES or isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_search(item: str, task: str) -> Dim:
    """`KEY=LOW:HIGH[:log]` (a range of a number setting) or `KEY=V1,V2,...` (values); ValueError saying what is
    wrong. Every bound and value is checked against the setting's own range (core/run/config.py)."""
    key, eq, words = item.partition("=")
    key = key.strip().replace("-", "_")
    if not eq or not words.strip():
        raise ValueError(f"--search {item!r}: write KEY=LOW:HIGH[:log] or KEY=V1,V2")
    if key not in TUNABLE:
        raise ValueError(f"--search {key!r} is not a setting the tuner searches; choose from {', '.join(TUNABLE)}")
    if ":" in words:
        return _parse_range(key, words.strip())
    values = [_value(key, w.strip(), task) for w in words.split(",") if w.strip()]
    return Dim(key, choices=tuple(dict.fromkeys(values)))


def _parse_range(key: str, words: str) -> Dim:
    option = RUN_OPTIONS.get(key)
    if option is None or option.kind not in ("int", "float"):
        raise ValueError(f"--search {key} takes values (V1,V2), not a range")
    parts = words.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].strip().lower() != "log"):
        raise ValueError(f"--search {key}={words}: a range is LOW:HIGH or LOW:HIGH:log")
    low, high = (_number(key, p.strip()) for p in parts[:2])
    if not low < high:
        raise ValueError(f"--search {key}={words}: LOW must be below HIGH")
    log = len(parts) == 3
    if log and low <= 0:
        raise ValueError(f"--search {key}={words}: a log range needs LOW above 0")
    return Dim(key, low, high, log)


def _number(key: str, word: str) -> float:
    option = RUN_OPTIONS[key]
    try:
        value = int(word) if option.kind == "int" else float(word)
    except ValueError:
        raise ValueError(f"--search {key} takes numbers ({option.range_text()}), not {word!r}") from None
    return option.check(value, "--search")


def _value(key: str, word: str, task: str) -> Any:
    if key in AXES:
        from core.cli.race import axis_value

        return axis_value(key, word, task, None)  # on/off switches, models, named optimizers (the race's words)
    option = RUN_OPTIONS[key]
    return _number(key, word) if option.kind in ("int", "float") else option.check(word, "--search")


def trial_config(base: RunConfig, params: dict[str, Any]) -> RunConfig:
    """The base config with a trial's values in it (a switch through the what-if lab's axis); checked."""
    config = base
    for name, value in sorted(params.items(), key=lambda nv: nv[0] != "model"):  # the model first, as a race does
        config = AXES[name].apply(config, value) if name in AXES else replace(config, **{name: value})
    return check_config(config)


@dataclass
class TuneSpec:
    """What a tune searches and for how long: JSON-able, stored with its study, the same from page and CLI."""

    base: RunConfig
    dims: list[str]  # each Dim's text()
    trials: int = 20
    minutes: float | None = None
    pruner: str = "halving"
    limits: dict[str, float] = field(default_factory=dict)  # LIMITS key -> the most a trial may have
    seed: int = 0
    # the study it was read from (spec_of): its stored name, which a spec stored before a run setting existed would
    # not hash to again, so Resume goes on with that study rather than starting another
    study_name: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.trials <= MAX_TRIALS:
            raise ValueError(f"trials must be between 1 and {MAX_TRIALS}")
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError("minutes must be above 0")
        if self.pruner not in PRUNERS:
            raise ValueError(f"unknown pruner {self.pruner!r}; choose one of {', '.join(PRUNERS)}")
        unknown = sorted(set(self.limits) - set(LIMITS))
        if unknown:
            raise ValueError(f"unknown limit(s) {', '.join(unknown)}; choose from {', '.join(LIMITS)}")
        if not self.dims:
            raise ValueError("pick at least one setting to search")
        from core.models import get_spec

        if get_spec(self.base.task, self.base.model).closed_form:
            raise ValueError(f"{self.base.model} is fitted in closed form: it has no training settings to tune")

    @property
    def task(self) -> str:
        return self.base.task

    def parsed(self) -> list[Dim]:
        return [parse_search(d, self.task) for d in self.dims]

    @property
    def metric(self) -> str:
        """The validation twin of the task's primary metric (val_accuracy, val_ndcg@10)."""
        from core.tasks import get_task

        return "val_" + get_task(self.task).spec.primary_metric

    @property
    def direction(self) -> str:
        from core.eval.compare import primary_metric

        return "maximize" if primary_metric(self.task).higher_is_better else "minimize"

    @property
    def name(self) -> str:
        """The study's name: the same spec is the same study, so running it again resumes it."""
        if self.study_name:
            return self.study_name
        spec = {k: v for k, v in asdict(self).items() if k != "study_name"}
        text = json.dumps(spec, sort_keys=True, default=str)
        return f"{self.task}-{self.base.model}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


def storage_url(store_root: str | Path) -> str:
    """Optuna's RDB storage: a SQLite file beside the run store's own database."""
    path = Path(store_root).resolve() / STORAGE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


_STORAGES: dict[str, Any] = {}  # one storage (a connection pool) per URL: a live page reads it every 2 s


def _storage(url: str):
    import optuna

    if url not in _STORAGES:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        _STORAGES[url] = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 30}})
    return _STORAGES[url]


def make_pruner(name: str):
    """The pruner over a trial's reported steps, which are percent of its epochs done (`progress_step`)."""
    import optuna

    if name == "median":  # after 5 trials, stop one below the median of the others at the same point, after 10%
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10)
    if name == "halving":  # asynchronous successive halving: a third goes on at 10%, 30% and 90% of the epochs
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=10, reduction_factor=3)
    return optuna.pruners.NopPruner()


def progress_step(epoch: int, epochs: int | None) -> int:
    """The step a trial reports an epoch at: percent of its epochs done. Trials of one study can train different
    numbers of epochs (the fit-to-data rule scales them with the batch size), so the pruner compares trials at the
    same share of their run, not at the same epoch."""
    return max(1, min(100, round(100 * epoch / max(epochs or epoch, 1))))


def open_study(spec: TuneSpec, url: str):
    """The spec's study, created or (the same spec again, a reload, a restart) loaded from storage."""
    import optuna

    sampler = optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=min(10, max(2, spec.trials // 3)))
    study = optuna.create_study(
        storage=_storage(url),
        sampler=sampler,
        pruner=make_pruner(spec.pruner),
        study_name=spec.name,
        direction=spec.direction,
        load_if_exists=True,
    )
    if "spec" not in study.user_attrs:
        study.set_user_attr("spec", {k: v for k, v in asdict(spec).items() if k != "study_name"})
        start = base_params(spec.base, spec.parsed())
        if start is not None:  # the base setup first: the tuned best is at least as good on validation
            study.enqueue_trial(start, user_attrs={"base": True})
    return study


def base_params(base: RunConfig, dims: list[Dim]) -> dict[str, Any] | None:
    """The base config's own values of the searched settings; None when one lies outside its range."""
    from core.lab.whatif import _traits

    traits = _traits(base) if any(d.name in SWITCHES for d in dims) else {}
    params = {d.name: traits.get(d.name) if d.name in SWITCHES else getattr(base, d.name) for d in dims}
    for d in dims:
        value = params[d.name]
        inside = value in d.choices if d.choices else value is not None and d.low <= value <= d.high
        if not inside:
            return None
    return params


def load_study(name: str, url: str):
    import optuna

    return optuna.load_study(study_name=name, storage=_storage(url))


def study_names(url: str) -> list[str]:
    """Every stored study, newest first (none, and no file made, before the first tune)."""
    import optuna

    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return []

    summaries = optuna.get_all_study_summaries(_storage(url), include_best_trial=False)
    return [s.study_name for s in sorted(summaries, key=lambda s: s.datetime_start or 0, reverse=True)]


def orphaned(study) -> bool:
    """A study left 'running' by a driver that is gone (a restart of the server or an ended CLI)."""
    return study.user_attrs.get("state") == "running" and time.time() - study.user_attrs.get("beat", 0) > STALE


def spec_of(study) -> TuneSpec:
    """The spec a study was started with (stored as JSON: its base config as a dict)."""
    stored = study.user_attrs["spec"]
    return TuneSpec(**{**stored, "base": RunConfig.from_dict(stored["base"]), "study_name": study.study_name})


def counted(study) -> int:
    """Trials that use up the budget: every trial but those cut short by a restart or by Stop."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)  # enqueued (WAITING) ones are still to run
    return sum(1 for t in trials if t.state != TrialState.WAITING and t.user_attrs.get("ended") not in NOT_COUNTED)


def _limit_breach(spec: TuneSpec, metrics: dict[str, float]) -> str | None:
    for name, most in spec.limits.items():
        value = metrics.get(name)
        if value is not None and value > most:
            return f"{LIMITS[name]} {value:,.4g} over the limit of {most:,.4g}"
    return None


@dataclass
class _Running:
    trial: Any
    job: Any
    reported: int = 0
    pruned: bool = False


class Tuner:
    """Drives one study on a job manager until its budget is spent, then re-trains and tests the best trial."""

    def __init__(self, spec: TuneSpec, url: str, jobs, owner: str = "", client: str = "", parallel: int = 0):
        self.spec, self.url, self.jobs, self.owner, self.client = spec, url, jobs, owner, client
        self.dims = spec.parsed()
        self.study = open_study(spec, url)
        self.parallel = parallel or jobs.max_workers
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.error: str | None = None
        self.best_job = None
        self._running: dict[int, _Running] = {}

    @property
    def name(self) -> str:
        return self.study.study_name

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> Tuner:
        self.thread = threading.Thread(target=self.run, name=f"tune {self.name}", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop the search and every trial it has running (and the best run's re-training)."""
        self.stop_event.set()
        for running in list(self._running.values()):
            self.jobs.stop(running.job.id)
        if self.best_job is not None:
            self.jobs.stop(self.best_job.id)

    def run(self) -> None:
        """The search, then the best trial's test run; every end is written to the study's user attributes."""
        try:
            self._set("state", "running")
            self._set("beat", time.time())
            self._search()
            if self.stop_event.is_set():
                self._set("state", "stopped")
                return
            self._train_best()
            self._set("state", "stopped" if self.stop_event.is_set() else "done")
        except Exception as exc:  # the study stays in storage; the page and the CLI say what went wrong
            self.error = f"{type(exc).__name__}: {exc}"
            self._set("state", f"failed: {self.error}")
            if threading.current_thread() is threading.main_thread():
                raise

    def _set(self, key: str, value: Any) -> None:
        self.study.set_user_attr(key, value)

    def _search(self) -> None:
        self._mark_interrupted()
        used = float(self.study.user_attrs.get("seconds", 0.0))
        started = beat = time.monotonic()
        while not self.stop_event.is_set():
            elapsed = used + time.monotonic() - started
            open_budget = self.spec.minutes is None or elapsed < self.spec.minutes * 60
            while open_budget and len(self._running) < self.parallel and counted(self.study) < self.spec.trials:
                if not self._ask():
                    break
            for number in list(self._running):
                self._follow(number)
            if time.monotonic() - beat >= BEAT:  # the time the budget has used, and a sign the driver lives
                beat = time.monotonic()
                self._set("seconds", round(elapsed, 1))
                self._set("beat", time.time())
            if not self._running and (not open_budget or counted(self.study) >= self.spec.trials):
                return
            time.sleep(POLL)
        for number in list(self._running):  # stopped: stop each trial's job (one queued as Stop came too), wait
            running = self._running[number]
            self.jobs.stop(running.job.id)
            self.jobs.wait(running.job.id, 120)
            self._end(number, "stopped")

    def _mark_interrupted(self) -> None:
        """Trials left running by a process that is gone (a restart) end failed, marked, and give the budget back."""
        from optuna.trial import TrialState

        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.study._storage.set_trial_user_attr(t._trial_id, "ended", "interrupted")
            self.study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)

    def _ask(self) -> bool:
        """Ask for a trial and queue it as a job; False when the queue has no room (try again later)."""
        from optuna.trial import TrialState

        try:
            self.jobs.check_room(self.owner, self.client, self.parallel + 3)
        except ValueError:  # the queue is full (other people's jobs): ask again on a later look
            return False
        trial = self.study.ask()
        params = {d.name: d.suggest(trial) for d in self.dims}
        try:
            config = trial_config(self.spec.base, params)
        except ValueError as exc:  # a combination with no model (say, attention with separable convolutions)
            trial.set_user_attr("ended", "skipped")
            trial.set_user_attr("error", str(exc))
            self.study.tell(trial, state=TrialState.FAIL)
            return True
        label = f"tune trial {trial.number} · " + ", ".join(f"{k}={_word(k, v)}" for k, v in params.items())
        try:
            job = self.jobs.submit(config, label, self.owner, self.parallel + 3, self.client, test=False)
        except ValueError:
            trial.set_user_attr("ended", "interrupted")
            self.study.tell(trial, state=TrialState.FAIL)
            return False
        trial.set_user_attr("run_id", job.run_id)
        self._running[trial.number] = _Running(trial, job)
        return True

    def _follow(self, number: int) -> None:
        """Report the trial's new epochs to Optuna; stop its job when the pruner says so; end it when it ends."""
        running = self._running[number]
        snap = running.job.snapshot()
        history = snap["history"]
        for logs in history[running.reported :]:
            value = logs.get(self.spec.metric)
            if value is not None and not running.pruned:
                running.trial.report(float(value), progress_step(int(logs["epoch"]), snap["epochs"]))
                if running.trial.should_prune():
                    running.pruned = True
                    running.trial.set_user_attr("pruned_at", int(logs["epoch"]))
                    self.jobs.stop(running.job.id)
        running.reported = len(history)
        if running.job.done:
            self._end(number, None)

    def _end(self, number: int, forced: str | None) -> None:
        from optuna.trial import TrialState

        running = self._running.pop(number)
        trial, job = running.trial, running.job
        if job.error:
            trial.set_user_attr("error", job.error)
        if running.pruned:
            trial.set_user_attr("ended", "pruned")
            self.study.tell(trial, state=TrialState.PRUNED)
            return
        metrics = job.result.metrics if job.result is not None else {}
        value = metrics.get(self.spec.metric)
        if forced is None and job.status == "finished" and value is not None:
            breach = _limit_breach(self.spec, metrics)
            trial.set_user_attr("ended", f"over limit: {breach}" if breach else "finished")
            if breach:
                self.study.tell(trial, state=TrialState.FAIL)
            else:
                self.study.tell(trial, float(value))
            return
        ended = forced or ("killed" if "died" in (job.error or "") else job.status)
        if self.stop_event.is_set():
            ended = "stopped"
        trial.set_user_attr("ended", ended)
        self.study.tell(trial, state=TrialState.FAIL)

    def _train_best(self) -> None:
        """The best trial's settings trained once more, as a run like any other, and tested: the one test read."""
        from core.exec.jobs import JobFailed, result_of

        if "best_run" in self.study.user_attrs:
            return  # a resumed study whose best run is already trained
        try:
            best = self.study.best_trial
        except ValueError:
            self._set("best_error", "no trial finished, so there is no best to train")
            return
        config = trial_config(self.spec.base, best.params)
        label = f"tune best (trial {best.number})"
        self.best_job = self.jobs.submit(config, label, self.owner, self.parallel + 3, self.client)
        self._set("best_trial", best.number)
        while not self.best_job.done:
            if self.stop_event.is_set():
                self.jobs.stop(self.best_job.id)
            time.sleep(POLL)
        try:
            result_of(self.best_job)
        except (JobFailed, ValueError) as exc:
            self._set("best_error", str(exc))
            return
        if self.best_job.status == "finished":
            self._set("best_run", self.best_job.run_id)


_TUNERS: dict[str, Tuner] = {}
_LOCK = threading.Lock()


def start_tune(spec: TuneSpec, url: str, jobs, owner: str = "", client: str = "") -> Tuner:
    """Start (or resume) the spec's study in the background; the one already running when there is one."""
    with _LOCK:
        tuner = _TUNERS.get(spec.name)
        if tuner is not None and tuner.alive:
            return tuner
        tuner = Tuner(spec, url, jobs, owner, client).start()
        _TUNERS[spec.name] = tuner
        return tuner


def running_tuner(name: str) -> Tuner | None:
    """The study's driver in this process while it runs (a page reload finds it here)."""
    tuner = _TUNERS.get(name)
    return tuner if tuner is not None and tuner.alive else None


def trials_table(study) -> list[dict[str, Any]]:
    """One row per trial: number, how it ended, its score, its settings, the epochs it reported and its run."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        ended = t.user_attrs.get("ended") or t.state.name.lower()
        rows.append(
            {
                "trial": t.number,
                "state": ended,
                "value": t.value,
                **{k: _word(k, v) for k, v in t.params.items()},
                "epochs": len(t.intermediate_values),
                "seconds": round(t.duration.total_seconds(), 1) if t.duration else None,
                "run": t.user_attrs.get("run_id"),
            }
        )
    return rows
