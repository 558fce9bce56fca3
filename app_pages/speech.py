"""Speech commands: train a keyword spotter, look at the features, record your own words, then talk to it."""

from __future__ import annotations

import streamlit as st
import torch

from core.data import DataError
from core.data.audio import AUDIO_EXTENSIONS, to_wav_bytes
from core.models.speech import LogMel
from core.tasks.speech import clip_features, heard_logmel, prepare_clip, recording_band, spectrogram_saliency
from core.views.charts import probability_bar_figure, spectrogram_figure, waveform_figure
from ui.inside import speech_inside_tab
from ui.listen import listen_tab
from ui.maps import data_map_section, map_tab
from ui.recordings import RECORDED, record_section, recorded_source
from ui.results_panel import worst_mistakes
from ui.services import run_model
from ui.share import text
from ui.task_page import TaskPage, render, split_caption
from ui.text import plain

P = "speech"
HOP_SECONDS = LogMel().hop_seconds


def data_preview(data) -> None:
    counts = " / ".join(f"{split} {len(y)}" for split, y in data.y.items())
    rate, source = data.meta["sample_rate"], data.meta.get("source_rate", data.meta["sample_rate"])
    made = f" (recorded at {source / 1000:g} kHz: nothing above {source / 2000:g} kHz)" if source < rate else ""
    st.caption(f"{len(data.class_names)} classes · 1-s clips at {rate // 1000} kHz{made} · {counts}")
    st.caption("Classes: " + plain(", ".join(data.class_names)))
    split_caption(data.split_note)


def features_section(data) -> None:
    """One clip as the models hear it: playback, waveform, log-mel spectrogram, MFCC."""
    names = data.files.get("train") or [f"clip {i}" for i in range(len(data.y["train"]))]
    if st.session_state.get(f"{P}_clip", 0) >= len(names):
        st.session_state.pop(f"{P}_clip")
    i = st.selectbox("Clip (training split)", range(len(names)), format_func=names.__getitem__, key=f"{P}_clip")
    wave = data.x["train"][i].numpy()
    st.audio(to_wav_bytes(wave, data.meta["sample_rate"]), format="audio/wav")
    band = recording_band(data.meta)
    feats = clip_features(wave, data.meta["sample_rate"], band)
    c1, c2, c3 = st.columns(3)
    c1.markdown("**Waveform**")
    c1.plotly_chart(waveform_figure(wave, data.meta["sample_rate"]), key=f"{P}_feat_wave")
    top = f"0-{band / 1000:g} kHz, " if band else ""
    c2.markdown(f"**Log-mel spectrogram** (40 bins, {top}10 ms frames)")
    c2.plotly_chart(spectrogram_figure(feats["logmel"], HOP_SECONDS, height=220), key=f"{P}_feat_mel")
    c3.markdown("**MFCC** (20 coefficients, each standardised)")
    m = feats["mfcc"]
    m = (m - m.mean(1, keepdims=True)) / (m.std(1, keepdims=True) + 1e-6)  # else the loudness term c0 swamps the rest
    mfcc = spectrogram_figure(m, HOP_SECONDS, "coefficient", height=220, colorscale="RdBu")
    c3.plotly_chart(mfcc, key=f"{P}_feat_mfcc")


def mistakes_tab(run: dict) -> None:
    files = run["details"].get("mistake_files") or []
    try:
        model, _ = run_model(run["id"])  # to draw each clip as it heard it
    except FileNotFoundError:
        model = None
    cols = st.columns(3)
    for m in worst_mistakes(run, "clips (listen, and look at what it heard)"):
        n = m["n"]
        with cols[n % 3].container(border=True):
            st.markdown(f"true **{plain(m['true'])}** → predicted **{plain(m['pred'])}** ({m['p']:.0%})")
            if n < len(files):
                st.caption(plain(files[n]))
            st.audio(to_wav_bytes(m["input"]), format="audio/wav")
            spec = heard_logmel(model, m["input"])
            st.plotly_chart(spectrogram_figure(spec, HOP_SECONDS, height=170), key=f"{P}_mistake_{n}")


def try_tab(run: dict) -> None:
    model, ckpt = run_model(run["id"])
    meta = ckpt["meta"]
    mic_tab, upload_tab = st.tabs(["Microphone", "Upload"])
    source = None
    with mic_tab:
        said = st.audio_input("Say one of: " + plain(", ".join(meta["class_names"])), key=f"{P}_try_mic_file")
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
        st.error(plain(exc))
        return
    with torch.no_grad():
        probs = torch.softmax(model(x), 1)[0].numpy()
    target = int(probs.argmax())
    spec, saliency = spectrogram_saliency(model, x, target)
    c1, c2 = st.columns([2, 3])
    c1.markdown(f"**Prediction: {plain(meta['class_names'][target])}** ({probs[target]:.1%})")
    c1.plotly_chart(probability_bar_figure(probs, meta["class_names"], top=5), key=f"{P}_try_probs")
    c2.markdown("**Where it listened** · gradient saliency (red) on the log-mel spectrogram of the 1-s window")
    c2.audio(to_wav_bytes(x[0].numpy(), meta["sample_rate"]), format="audio/wav")
    c2.plotly_chart(spectrogram_figure(spec, HOP_SECONDS, saliency=saliency), key=f"{P}_try_saliency")


def sections(data) -> None:
    if data is not None:
        with st.expander("Features of a clip: listen, waveform, mel spectrogram, MFCC"):
            features_section(data)
    with st.expander("Record your own words"):
        record_section()
    data_map_section(P, data)


render(
    TaskPage(
        task=P,
        caption="Train a keyword spotter on this machine, then talk to it. Every number is on a held-out test "
        "split; clips are 16 kHz mono, padded or cropped to one second the same way in training and prediction.",
        preview=data_preview,
        own_help="A .zip of class folders of audio (optionally train/ and test/ folders of them)",
        own_note="WAV, FLAC, OGG or MP3 at any sample rate, mono or stereo: resampled to 16 kHz mono 1-s clips.",
        sources={RECORDED: recorded_source},
        few_shot=(RECORDED,),
        sections=sections,
        tabs={
            "Worst mistakes": mistakes_tab,
            "Try it": try_tab,
            "Listen": listen_tab,
            "Look inside": speech_inside_tab,
            "Map": map_tab,
        },
        settings={"recording": text},
    )
)
