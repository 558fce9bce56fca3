"""The task-page skeleton: data -> model -> training -> results, drawn from the task's and the models' specs.

A task page describes only what is its own (`TaskPage`: its uploads, preview, extra sections and result tabs)
and calls `render`. Widget keys are `{task}_{setting}`, so tests, shared links and page changes name them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from core.data import DataError
from core.models import ModelSpec, get_spec, list_models
from core.run.config import RUN_OPTIONS, fit_rule, make_config
from core.run.settings import RunConfig
from core.tasks import TaskSpec, get_task
from ui.pretrained import cached_pretrained_model, pretrained_panel, start_label
from ui.results_panel import results_panel
from ui.services import keep_settings
from ui.share import Parser, flag, one_of, parser_for, share_settings, text
from ui.text import plain
from ui.training_panel import (
    TRAINING_SETTINGS,
    apply_defaults,
    finished_runs,
    option_widget,
    training_controls,
    training_panel,
)
from ui.uploads import data_stamp, load_and_preview, save_upload, user_path


def split_caption(note: str) -> None:
    """How the data will be split, before anything is trained: the note as a caption, its warnings (a class
    with no test or no training examples) as warnings."""
    parts = note.split("; warning: ")
    st.caption(f"Split: {plain(parts[0])}")
    for warning in parts[1:]:
        said, _, rest = warning.partition("; ")  # what follows the warning is the note's next part
        st.warning(plain(said[:1].upper() + said[1:]), icon=":material/warning:")
        if rest:
            st.caption(plain(rest))


@dataclass
class TaskPage:
    """What one task page adds to the skeleton."""

    task: str
    caption: str
    preview: Callable[[Any], None]
    own_label: str = "your own (.zip or folder)"
    own_types: tuple[str, ...] = ("zip",)
    own_help: str = "A .zip of class folders (optionally train/ and test/ folders of them)"
    own_uploads: Callable[[], str | None] | None = None  # replaces the one-file uploader (recsys: two files)
    own_note: str = ""  # under your own data's inputs
    data_note: str = ""  # under the data step, whatever the data
    sources: dict[str, Callable[[], str | None]] = field(default_factory=dict)  # more data choices
    # sources of a few examples per class (camera, microphone): they start from a frozen pretrained backbone whose
    # weights are in the cache (a head trains in seconds on its embeddings)
    few_shot: tuple[str, ...] = ()
    sections: Callable[[Any], None] | None = None  # below the three columns (features, recording)
    tabs: dict[str, Callable[[dict], None]] = field(default_factory=dict)
    metrics_view: Callable[[dict], None] | None = None
    settings: dict[str, Parser] = field(default_factory=dict)  # the page's own shared settings


@st.cache_resource(show_spinner="Loading data…", max_entries=8)
def load_data(
    task: str,
    dataset: str | None,
    data: str | None,
    stamp: float = 0.0,
    data_settings: dict[str, Any] | None = None,
    **split: Any,
):
    """A task's data, split as `split` says (split_seed, group_by, protocol), loaded as the task's `data_settings`
    say (image: a folder's decode size); cached for every session.

    A folder of the user's shows how far its decoding got. The bar is made in here, not passed in: the cache
    replays what this function drew when it serves the data again, and the replay ends with the bar emptied.
    """
    config, settings = RunConfig(task=task, dataset=dataset, data=data, **split), data_settings or {}
    if not data:
        return get_task(task).load_data(config, **settings)
    bar = st.empty()
    try:
        text = f"Reading {data.rstrip('/').rsplit('/', 1)[-1]}…"
        return get_task(task).load_data(
            config, progress=lambda done, total: bar.progress(done / total, text=text), **settings
        )
    finally:
        bar.empty()


def split_settings(config: RunConfig) -> dict[str, Any]:
    """The settings that decide a run's split: its split seed and its task's own (group_by, protocol)."""
    spec = get_task(config.task).spec
    return {"split_seed": config.split_seed, **{k: getattr(config, k) for k in spec.settings}}


def run_data(run: dict[str, Any]):
    """The data a run was trained on, split as it was; None (with the reason shown) when it cannot be read now."""
    config = run["config"]
    sized = get_task(config.task).data_settings(config)
    try:
        return load_data(config.task, config.dataset, config.data, 0.0, sized, **split_settings(config))
    except DataError as exc:
        st.error(f"The data of run {run['id']} cannot be read any more: {plain(exc)}")
        return None


def data_section(page: TaskPage, spec: TaskSpec) -> tuple[str | None, str | None]:
    key = f"{page.task}_dataset"
    choices = [*spec.dataset_names, page.own_label, *page.sources]
    choice = st.selectbox("Dataset", choices, key=key, on_change=_dataset_changed, args=(page.task, page.few_shot))
    if spec.dataset(choice):
        st.caption(plain(spec.dataset(choice).description))
        return choice, None
    if choice in page.sources:
        return None, page.sources[choice]()
    if page.own_uploads is not None:
        uploaded = page.own_uploads()
    else:
        upload = st.file_uploader(page.own_help, type=list(page.own_types), key=f"{page.task}_upload_file")
        uploaded = str(save_upload(upload, "uploads")) if upload is not None else None
    typed = st.text_input("…or a folder on this machine", key=f"{page.task}_folder", placeholder="a data folder")
    if page.own_note:
        st.caption(page.own_note)
    return None, uploaded or user_path(typed)


def data_step(page: TaskPage, spec: TaskSpec) -> tuple[str | None, str | None, dict[str, Any], Any]:
    """The data column: the choice, the split settings of the task, the loaded data with its preview."""
    task = page.task
    dataset, data_path = data_section(page, spec)
    split = {n: option_widget(RUN_OPTIONS[n], f"{task}_{n}") for n in spec.settings}
    data = None
    if dataset or data_path:
        stamp = data_stamp(data_path)
        sized = get_task(task).data_settings(_chosen(task, data_path))  # at the chosen model's size
        data = load_and_preview(
            lambda: load_data(task, dataset, data_path, stamp, sized, **split), page.preview, data_path or dataset
        )
    elif st.session_state.get(f"{task}_dataset") == page.own_label:
        st.info("Upload a file or give a folder inside the app's data folders to use your own data.")
    if page.data_note:
        st.caption(page.data_note)
    return dataset, data_path, split, data


def _chosen(task: str, data_path: str | None) -> RunConfig:
    """The model and weights chosen so far (the model column comes after the data, its choice is in the session)."""
    model = st.session_state.get(f"{task}_model")
    model = model if model in list_models(task) else get_task(task).spec.default_model
    return RunConfig(task=task, data=data_path, model=model, pretrained=st.session_state.get(f"{task}_init_from"))


def _dataset_changed(task: str, few_shot: tuple[str, ...]) -> None:
    """A few shots per class (a capture): the first model whose published weights are in the cache, starting from
    them with the backbone frozen. Without cached weights the model stays as it is."""
    if st.session_state.get(f"{task}_dataset") not in few_shot:
        return
    spec = cached_pretrained_model(task)
    if spec is None:
        return
    st.session_state[f"{task}_model"] = spec.name
    _model_changed(task)
    st.session_state[f"{task}_init_from"] = spec.pretrained.source
    st.session_state[f"{task}_freeze"] = True


def _model_changed(task: str) -> None:
    """A new model brings its own recommended settings (training, augmentation, the split it is measured on, such
    as a sequential recommender's time protocol) into the widgets."""
    config = make_config(task, st.session_state[f"{task}_model"])
    apply_defaults(task, config)
    models = [get_spec(task, m) for m in list_models(task)]
    for name in get_task(task).spec.settings:  # only those some model names (a speech group_by choice stays)
        if any(name in m.split_defaults for m in models):
            st.session_state[f"{task}_{name}"] = getattr(config, name)
    apply_augment(task, config, overwrite=True)


def apply_augment(task: str, config: RunConfig, overwrite: bool = False) -> None:
    for option in get_task(task).spec.augment_options:
        value = config.augment.get(option.name, None if option.optional else option.default)
        defaults = {f"{task}_aug_{option.name}": option.default if value is None else value}
        if option.optional:
            defaults[f"{task}_aug_{option.name}_on"] = value is not None
        for key, v in defaults.items():
            if overwrite or key not in st.session_state:
                st.session_state[key] = v


def augment_controls(task: str, spec: TaskSpec, dataset: str | None) -> dict[str, Any]:
    """The task's augmentation options as sliders and switches; returns the `augment` dict."""
    out: dict[str, Any] = {}
    mirror_ok = spec.dataset(dataset) is None or spec.dataset(dataset).mirror_safe
    for option in spec.augment_options:
        key = f"{task}_aug_{option.name}"
        if option.kind == "bool":
            off = option.name == "flip" and not mirror_ok
            out[option.name] = bool(option_widget(option, key, disabled=off)) and not off
            if off:
                st.caption("A mirrored example here means something else: flipping is off for this dataset.")
            continue
        on = st.checkbox(option.label.split(":")[0], key=f"{key}_on") if option.optional else True
        label = option.label.split(": ")[-1]
        cast = int if option.kind == "int" else float
        value = st.slider(label, cast(option.low), cast(option.high), step=cast(option.step), key=key, disabled=not on)
        out[option.name] = cast(value) if on else None
    return out


def model_options(task: str, spec: ModelSpec) -> dict[str, Any]:
    """The model's own options (width, dropout, embedding size, ...) in an expander; returns those changed."""
    if not spec.options:
        return {}
    out = {}
    with st.expander("Model settings"):
        for option in spec.options:
            key = f"{task}_{spec.name}_{option.name}"
            st.session_state.setdefault(key, option.default)
            out[option.name] = option_widget(option, key)
    return {k: v for k, v in out.items() if v != spec.option_defaults()[k]}  # as the CLI: only what was changed


def model_section(task: str, spec: TaskSpec, dataset: str | None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The model, the options its widgets set, and its default config (which the training widgets start from)."""
    st.session_state.setdefault(f"{task}_model", spec.default_model)
    model = st.selectbox("Model", list_models(task), key=f"{task}_model", on_change=_model_changed, args=(task,))
    mspec = get_spec(task, model)
    defaults = make_config(task, model)  # first visit: the model's own augmentation in its widgets
    apply_augment(task, defaults)
    st.caption(mspec.description)
    if mspec.good_for:
        st.caption(f":material/lightbulb: {mspec.good_for[0].upper()}{mspec.good_for[1:]}.")
    options: dict[str, Any] = {"model_options": model_options(task, mspec), "augment": {}}
    if mspec.accepts_weights:
        weights = st.file_uploader(
            "Pretrained weights (.pt/.pth state dict, optional)", type=["pt", "pth"], key=f"{task}_weights_file"
        )
        if weights is not None:
            options["weights_path"] = str(save_upload(weights, "weights"))
        options["freeze_backbone"] = option_widget(RUN_OPTIONS["freeze_backbone"], f"{task}_freeze")
    if mspec.closed_form:
        return model, options, defaults
    init = start_from(task, mspec)
    if mspec.publishes(init):
        options["pretrained"] = init
        options["weights_ready"] = pretrained_panel(task, mspec.pretrained)
    else:
        options["init_from"] = init or None
    if spec.augment_options:
        with st.expander("Augmentation"):
            options["augment"] = augment_controls(task, spec, dataset)
    return model, options, defaults


def start_from(task: str, mspec: ModelSpec) -> str:
    """Scratch, the weights the model's spec publishes ("imagenet"), or one of the saved runs of this model."""
    published = [mspec.pretrained.source] if mspec.pretrained is not None else []
    sources = {r["id"]: r["dataset"] for r in finished_runs(task) if r["model"] == mspec.name}
    if st.session_state.get(f"{task}_init_from") not in ("", None, *published, *sources):
        st.session_state.pop(f"{task}_init_from", None)

    def label(choice: str) -> str:
        if choice in published:
            return start_label(mspec.pretrained)
        return f"run {choice} ({sources[choice]})" if choice else "scratch (random weights)"

    return st.selectbox(
        "Start from",
        ["", *published, *sources],
        format_func=label,
        key=f"{task}_init_from",
        on_change=_start_changed,
        args=(task, mspec),
        help="Published pretrained weights (transfer learning: freeze the backbone to train only the head, in "
        "seconds), or one of your saved runs of this model; a new head is made when the classes differ.",
    )


def _start_changed(task: str, mspec: ModelSpec) -> None:
    """Pretrained weights start with the backbone frozen (the head trains on cached embeddings), as users know it."""
    if mspec.publishes(st.session_state.get(f"{task}_init_from")):
        st.session_state[f"{task}_freeze"] = True


def shared_settings(page: TaskPage, spec: TaskSpec) -> dict[str, Parser]:
    """Every setting of the page that a link can carry, parsed with the same ranges as its widget."""
    parsers: dict[str, Parser] = {
        "dataset": one_of([*spec.dataset_names, page.own_label, *page.sources]),
        "folder": text,
        "model": one_of(list_models(page.task)),
        "freeze": flag,
        "init_from": text,
        "fit_batch": flag,
        **{name: parser_for(RUN_OPTIONS[name]) for name in (*TRAINING_SETTINGS, *spec.settings)},
    }
    for option in spec.augment_options:
        parsers[f"aug_{option.name}"] = parser_for(option)
        if option.optional:
            parsers[f"aug_{option.name}_on"] = flag
    return {**parsers, **page.settings}


def render(page: TaskPage) -> None:
    """The whole page: settings kept and shared, three columns, the page's sections, Train, results."""
    task, spec = page.task, get_task(page.task).spec
    keep_settings()
    share_settings(task, shared_settings(page, spec))
    st.title(f"{spec.icon} {spec.title}")
    st.caption(page.caption)
    data_col, model_col, train_col = st.columns(3, gap="medium")
    with data_col.container(border=True):
        st.markdown("**1 · Data**")
        dataset, data_path, split, data = data_step(page, spec)
    with model_col.container(border=True):
        st.markdown("**2 · Model**")
        model, options, defaults = model_section(task, spec, dataset)
    with train_col.container(border=True):
        st.markdown("**3 · Training**")
        closed_form = get_spec(task, model).closed_form
        options.update(training_controls(task, defaults, closed_form))
        if not closed_form:
            st.session_state.setdefault(f"{task}_fit_batch", True)
            options["fit_batch"] = bool(option_widget(RUN_OPTIONS["fit_batch"], f"{task}_fit_batch"))
            rule = fit_rule(defaults.example_budget, defaults.min_steps)
            st.caption(f"{rule[0].upper()}{rule[1:]}.")
            nproc = RUN_OPTIONS["nproc_per_node"]
            st.session_state.setdefault(f"{task}_nproc_per_node", nproc.default)
            options["nproc_per_node"] = int(option_widget(nproc, f"{task}_nproc_per_node"))
    if page.sections is not None:
        page.sections(data)
    ready = options.pop("weights_ready", True)  # published weights not in the cache yet: download them first
    run_options = {**options, **split, "dataset": dataset, "data": data_path}
    run_id = training_panel(task, task, model, run_options, disabled=data is None or not ready)
    if run_id:
        # the task's own tabs in its spec's order, then any the page adds
        tabs = {n: page.tabs[n] for n in spec.result_tabs if n in page.tabs} | page.tabs
        results_panel(run_id, task, tabs, page.metrics_view)
