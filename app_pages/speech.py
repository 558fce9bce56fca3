"""Speech commands: train a keyword spotter, look at the features, record your own words, then talk to it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st
import torch

from core.charts import probability_bar_figure, spectrogram_figure, waveform_figure
from core.data import DataError
from core.data.audio import AUDIO_EXTENSIONS, load_clip, recording_counts, safe_name, save_recording, to_wav_bytes
from core.models import describe_model, list_models
from core.models.speech import LogMel
from core.tasks import get_task
from core.tasks.speech import AUGMENT_DEFAULTS, DATASETS, DEFAULTS, clip_features, prepare_clip, spectrogram_saliency
from ui.results_panel import METRIC_LABELS, metric_row, results_panel
from ui.services import get_store, keep_settings, run_model
from ui.share import TRAINING_SETTINGS, flag, float_in, int_in, one_of, share_settings, text
from ui.training_panel import apply_defaults, finished_runs, training_controls, training_panel
from ui.uploads import data_stamp, load_and_preview, save_upload, user_data_dir

P = "speech"
OWN = "your own (.zip or folder)"
RECORDED = "your recordings"
DEFAULT_MODEL = "crnn_attention"  # the most accurate on commands in under a minute (benchmarks/speech_models.py)
TASK = get_task("speech")
HOP_SECONDS = LogMel().hop_seconds
MIN_CLIPS = 10  # what the loader needs to split a dataset
LABELS = {**METRIC_LABELS, "latency_ms": ("Latency per 1-s clip", "{:.2f} ms")}  # features included


def md_text(text: str) -> str:
    """Plain text for st.markdown/st.caption: `_silence_` would otherwise turn italic."""
    return text.replace("_", "\\_")


def model_defaults(model: str) -> dict:
    return {"schedule": "constant", **DEFAULTS.get(model, {})}


def recordings_root() -> Path:
    return user_data_dir() / "recordings"


def saved_recordings() -> list[str]:
    root = recordings_root()
    return sorted(d.name for d in root.iterdir() if d.is_dir()) if root.is_dir() else []


@st.cache_resource(show_spinner="Loading audio…", max_entries=8)
def load_data(dataset: str | None, data: str | None, stamp: float = 0.0):
    return TASK.load_data({"dataset": dataset, "data": data})


def data_section() -> tuple[str | None, str | None]:
    choice = st.selectbox("Dataset", [*DATASETS, OWN, RECORDED], key=f"{P}_dataset")
    if choice in DATASETS:
        st.caption(md_text(DATASETS[choice]))
        return choice, None
    if choice == RECORDED:
        saved = saved_recordings()
        if not saved:
            st.info("Nothing saved yet: record clips under **Record your own words** below, then save them.")
            return None, None
        if st.session_state.get(f"{P}_recording") not in saved:
            st.session_state.pop(f"{P}_recording", None)
        name = st.selectbox("Recorded dataset", saved, key=f"{P}_recording")
        return None, str(recordings_root() / name)
    upload = st.file_uploader(
        "A .zip of class folders of audio (optionally train/ and test/ folders of them)",
        type=["zip"],
        key=f"{P}_upload_file",
    )
    folder = st.text_input("…or a folder on this machine", key=f"{P}_folder", placeholder="/path/to/clips")
    st.caption("WAV, FLAC, OGG or MP3 at any sample rate, mono or stereo: resampled to 16 kHz mono 1-s clips.")
    if upload is not None:
        return None, str(save_upload(upload, "uploads"))
    return None, folder.strip() or None


def data_preview(data) -> None:
    counts = " / ".join(f"{split} {len(y)}" for split, y in data.y.items())
    st.caption(f"{len(data.class_names)} classes · 1-s clips at {data.meta['sample_rate'] // 1000} kHz · {counts}")
    st.caption(md_text("Classes: " + ", ".join(data.class_names)))


def features_section(data) -> None:
    """One clip as the models hear it: playback, waveform, log-mel spectrogram, MFCC."""
    names = data.files.get("train") or [f"clip {i}" for i in range(len(data.y["train"]))]
    if st.session_state.get(f"{P}_clip", 0) >= len(names):
        st.session_state.pop(f"{P}_clip")
    i = st.selectbox("Clip (training split)", range(len(names)), format_func=names.__getitem__, key=f"{P}_clip")
    wave = data.x["train"][i].numpy()
    st.audio(to_wav_bytes(wave, data.meta["sample_rate"]), format="audio/wav")
    feats = clip_features(wave, data.meta["sample_rate"])
    c1, c2, c3 = st.columns(3)
    c1.markdown("**Waveform**")
    c1.plotly_chart(waveform_figure(wave, data.meta["sample_rate"]), key=f"{P}_feat_wave")
    c2.markdown("**Log-mel spectrogram** (40 bins, 10 ms frames)")
    c2.plotly_chart(spectrogram_figure(feats["logmel"], HOP_SECONDS, height=220), key=f"{P}_feat_mel")
    c3.markdown("**MFCC** (20 coefficients, each standardised)")
    m = feats["mfcc"]
    m = (m - m.mean(1, keepdims=True)) / (m.std(1, keepdims=True) + 1e-6)  # else the loudness term c0 swamps the rest
    mfcc = spectrogram_figure(m, HOP_SECONDS, "coefficient", height=220, colorscale="RdBu")
    c3.plotly_chart(mfcc, key=f"{P}_feat_mfcc")


def model_section() -> tuple[str, dict]:
    models = list_models("speech")
    st.session_state.setdefault(f"{P}_model", DEFAULT_MODEL)
    model = st.selectbox(
        "Model",
        models,
        key=f"{P}_model",
        on_change=lambda: apply_defaults(P, model_defaults(st.session_state[f"{P}_model"])),
    )
    st.caption(describe_model("speech", model))
    options: dict = {"model_options": {}, "augment": {}}
    sources = [r for r in finished_runs("speech") if r["model"] == model]
    datasets = {r["id"]: r["dataset"] for r in sources}
    if st.session_state.get(f"{P}_init_from") not in ("", *datasets):
        st.session_state.pop(f"{P}_init_from", None)
    init = st.selectbox(
        "Start from",
        ["", *datasets],
        format_func=lambda r: f"run {r} ({datasets[r]})" if r else "scratch (random weights)",
        key=f"{P}_init_from",
        help="Fine-tune from a saved run of this model (say, on commands before your own recordings); "
        "a new head is made when the classes differ.",
    )
    options["init_from"] = init or None
    if model != "logreg":
        with st.expander("Augmentation"):
            options["augment"] = augment_controls()
    return model, options


def augment_controls() -> dict:
    """Waveform noise and shift, SpecAugment masks: the `augment` dict core.tasks.speech reads."""
    defaults = {
        "aug_noise": AUGMENT_DEFAULTS["noise_snr"] is not None,
        "aug_snr": int(AUGMENT_DEFAULTS["noise_snr"] or 20),
        "aug_shift": float(AUGMENT_DEFAULTS["shift"]),
        "aug_time_mask": int(AUGMENT_DEFAULTS["time_mask"]),
        "aug_freq_mask": int(AUGMENT_DEFAULTS["freq_mask"]),
    }
    for name, value in defaults.items():
        st.session_state.setdefault(f"{P}_{name}", value)
    noise = st.checkbox("Background noise (pink)", key=f"{P}_aug_noise")
    snr = st.slider("Signal-to-noise ratio (dB)", 0, 40, step=5, key=f"{P}_aug_snr", disabled=not noise)
    shift = st.slider("Random time shift (up to, seconds)", 0.0, 0.3, step=0.05, key=f"{P}_aug_shift")
    time_mask = st.slider("SpecAugment time mask (up to, 10 ms frames)", 0, 40, step=5, key=f"{P}_aug_time_mask")
    freq_mask = st.slider("SpecAugment frequency mask (up to, mel bins)", 0, 15, key=f"{P}_aug_freq_mask")
    return {"noise_snr": float(snr) if noise else None, "shift": shift, "time_mask": time_mask, "freq_mask": freq_mask}


# --- Record your own -------------------------------------------------------------------------------------------


def _kept() -> dict[str, list[bytes]]:
    return st.session_state.setdefault(f"{P}_rec_clips", {})


def _recording_key(i: int) -> str:
    # a new key after each kept clip gives an empty recorder for the next one
    return f"{P}_rec_{i}_{st.session_state.get(f'{P}_rec_taken', 0)}_file"


def _keep_clip(i: int, word: str) -> None:
    clip = st.session_state.get(_recording_key(i))
    if clip is None:
        return
    raw = clip.getvalue()
    try:
        load_clip(raw, f"recording for {word!r}", allow_silent=word == "_silence_")
    except DataError as exc:
        st.session_state[f"{P}_rec_message"] = ("error", str(exc))
        return
    clips = _kept().setdefault(word, [])
    if all(hashlib.sha1(c).digest() != hashlib.sha1(raw).digest() for c in clips):
        clips.append(raw)
    st.session_state[f"{P}_rec_taken"] = st.session_state.get(f"{P}_rec_taken", 0) + 1
    st.session_state.pop(f"{P}_rec_message", None)


def _save_dataset(name: str, words: list[str]) -> None:
    """Write the kept clips as recordings/<name>/<word>/clip_N.wav, then select that dataset for training."""
    try:
        for word in words:
            for raw in _kept().get(word, []):
                save_recording(raw, recordings_root(), name, word)
    except DataError as exc:
        st.session_state[f"{P}_rec_message"] = ("error", str(exc))
        return
    total = sum(recording_counts(recordings_root(), name).values())
    st.session_state[f"{P}_rec_clips"] = {}
    st.session_state[f"{P}_dataset"] = RECORDED
    st.session_state[f"{P}_recording"] = name
    where = recordings_root() / name
    st.session_state[f"{P}_rec_message"] = ("success", f"Saved: {total} clips in {where}. It is selected under Data.")


def record_section() -> None:
    st.caption(
        f"Name a few words, record each several times (about a second each; at least {MIN_CLIPS} clips in all, "
        "5 or more per word is better), then save them as a dataset and train on it. Add `_silence_` for a "
        "no-word class."
    )
    c1, c2 = st.columns([3, 1])
    typed = c1.text_input("Words (comma separated)", key=f"{P}_rec_words", placeholder="yes, no, maybe")
    st.session_state.setdefault(f"{P}_rec_name", "my_words")
    name = c2.text_input("Dataset name", key=f"{P}_rec_name")
    try:
        words = list(dict.fromkeys(safe_name(w, "word") for w in typed.split(",") if w.strip()))
        name = safe_name(name, "dataset")
    except DataError as exc:
        st.error(str(exc))
        return
    if len(words) < 2:
        st.info("Type at least two words to record.")
        return
    if st.session_state.get(f"{P}_rec_word", 0) >= len(words):
        st.session_state.pop(f"{P}_rec_word")
    i = st.radio("Record", range(len(words)), format_func=words.__getitem__, key=f"{P}_rec_word", horizontal=True)
    word = words[i]
    clip = st.audio_input(f"Say “{word}”", key=_recording_key(i))
    st.button(
        f"Keep this clip of “{word}”",
        key=f"{P}_rec_keep_btn",
        disabled=clip is None,
        on_click=_keep_clip,
        args=(i, word),
    )
    message = st.session_state.get(f"{P}_rec_message")
    if message:
        (st.error if message[0] == "error" else st.success)(message[1])
    kept = _kept()
    st.caption("Kept: " + " · ".join(f"{w} {len(kept.get(w, []))}" for w in words))
    total = sum(len(kept.get(w, [])) for w in words)
    ready = total >= MIN_CLIPS and sum(bool(kept.get(w)) for w in words) >= 2
    c1, c2, _ = st.columns([1, 1, 2])
    c1.button(
        "Save as dataset",
        key=f"{P}_rec_save_btn",
        type="primary",
        disabled=not ready,
        on_click=_save_dataset,
        args=(name, words),
        help=None if ready else f"Needs at least {MIN_CLIPS} clips of two or more words.",
        width="stretch",
    )
    if c2.button("Discard kept clips", key=f"{P}_rec_clear_btn", disabled=not total, width="stretch"):
        st.session_state[f"{P}_rec_clips"] = {}
        st.rerun()


# --- Results tabs ------------------------------------------------------------------------------------------------


def mistakes_tab(run: dict) -> None:
    art = get_store().load_artifacts(run["id"])
    names = run["details"]["class_names"]
    files = run["details"].get("mistake_files") or []
    if art.get("mistake_index") is None or len(art["mistake_index"]) == 0:
        st.success("No mistakes on the test split.")
        return
    st.caption("The test clips the model got wrong with the most confidence: listen, and look at what it heard.")
    cols = st.columns(3)
    for n, (i, wave) in enumerate(zip(art["mistake_index"], art["mistake_inputs"])):
        probs = art["probs"][i]
        pred = int(probs.argmax())
        with cols[n % 3].container(border=True):
            st.markdown(f"true **{names[art['y_true'][i]]}** → predicted **{names[pred]}** ({probs[pred]:.0%})")
            if n < len(files):
                st.caption(files[n])
            st.audio(to_wav_bytes(wave), format="audio/wav")
            spec = clip_features(wave)["logmel"]
            st.plotly_chart(spectrogram_figure(spec, HOP_SECONDS, height=170), key=f"{P}_mistake_{n}")


def try_tab(run: dict) -> None:
    model, ckpt = run_model(run["id"])
    meta = ckpt["meta"]
    mic_tab, upload_tab = st.tabs(["Microphone", "Upload"])
    source = None
    with mic_tab:
        said = st.audio_input("Say one of: " + ", ".join(meta["class_names"]), key=f"{P}_try_mic_file")
        if said is not None:
            source = (said.getvalue(), "your recording")
    with upload_tab:
        file = st.file_uploader(
            "An audio file", type=sorted(e.strip(".") for e in AUDIO_EXTENSIONS), key=f"{P}_try_file"
        )
        if file is not None:
            source = (file.getvalue(), file.name)
    if source is None:
        st.caption("Record a word or upload a clip to see what the model hears.")
        return
    try:
        x = prepare_clip(*source, meta)
    except DataError as exc:
        st.error(str(exc))
        return
    with torch.no_grad():
        probs = torch.softmax(model(x), 1)[0].numpy()
    target = int(probs.argmax())
    spec, saliency = spectrogram_saliency(model, x, target)
    c1, c2 = st.columns([2, 3])
    c1.markdown(f"**Prediction: {meta['class_names'][target]}** ({probs[target]:.1%})")
    c1.plotly_chart(probability_bar_figure(probs, meta["class_names"], top=5), key=f"{P}_try_probs")
    c2.markdown("**Where it listened** · gradient saliency (red) on the log-mel spectrogram of the 1-s window")
    c2.audio(to_wav_bytes(x[0].numpy(), meta["sample_rate"]), format="audio/wav")
    c2.plotly_chart(spectrogram_figure(spec, HOP_SECONDS, saliency=saliency), key=f"{P}_try_saliency")


# --- Page --------------------------------------------------------------------------------------------------------

keep_settings()
share_settings(
    P,
    {
        "dataset": one_of([*DATASETS, OWN, RECORDED]),
        "folder": text,
        "recording": text,
        "model": one_of(list_models("speech")),
        "init_from": text,
        "aug_noise": flag,
        "aug_snr": int_in(0, 40),
        "aug_shift": float_in(0.0, 0.3),
        "aug_time_mask": int_in(0, 40),
        "aug_freq_mask": int_in(0, 15),
        "schedule": one_of(["constant", "cosine"]),
        **TRAINING_SETTINGS,
    },
)
st.title(":material/mic: Speech commands")
st.caption(
    "Train a keyword spotter on this machine, then talk to it. Every number is on a held-out test split; "
    "clips are 16 kHz mono, padded or cropped to one second the same way in training and prediction."
)

data_col, model_col, train_col = st.columns(3, gap="medium")
with data_col.container(border=True):
    st.markdown("**1 · Data**")
    dataset, data_path = data_section()
    data = None
    if dataset or data_path:
        stamp = data_stamp(data_path)
        data = load_and_preview(lambda: load_data(dataset, data_path, stamp), data_preview, data_path or dataset)
    elif st.session_state.get(f"{P}_dataset") == OWN:
        st.info("Upload a .zip or give a folder to use your own clips.")
with model_col.container(border=True):
    st.markdown("**2 · Model**")
    model, options = model_section()
with train_col.container(border=True):
    st.markdown("**3 · Training**")
    defaults = model_defaults(model)
    apply_defaults(P, defaults, overwrite=False)
    options.update(training_controls(P, defaults, gradient=model != "logreg", schedule=True))

if data is not None:
    with st.expander("Features of a clip: listen, waveform, mel spectrogram, MFCC"):
        features_section(data)
with st.expander("Record your own words"):
    record_section()

run_id = training_panel(P, "speech", model, {**options, "dataset": dataset, "data": data_path}, disabled=data is None)
if run_id:
    tabs = {"Worst mistakes": mistakes_tab, "Try it": try_tab}
    results_panel(run_id, P, tabs, metrics_view=lambda run: metric_row(run["metrics"], LABELS))
