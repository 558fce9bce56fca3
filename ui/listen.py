"""The speech page's Listen tab: the trained model on a running stream (up to 30 s recorded or uploaded), with its
detections, and Calibrate: false rejections and false alarms per hour on a stream made from the test split."""

from __future__ import annotations

import time

import numpy as np
import streamlit as st
import torch

from core.data import DataError
from core.data.audio import AUDIO_EXTENSIONS, to_wav_bytes
from core.models.speech import LogMel
from core.tasks.speech import heard_logmel
from core.tasks.speech_calibration import SNR_DB, calibrate
from core.tasks.speech_streaming import (
    HOP_RANGE,
    HOP_SECONDS,
    MAX_LISTEN_SECONDS,
    REFRACTORY_SECONDS,
    SMOOTH_SECONDS,
    THRESHOLD,
    detect,
    hop_samples,
    is_keyword,
    load_stream,
    smooth,
    stream_posteriors,
)
from core.views.streaming_charts import det_figure, timeline_figure
from ui.services import run_model
from ui.task_page import run_data
from ui.text import plain

P = "speech"


@st.cache_data(show_spinner="Listening…", max_entries=8)
def listen(run_id: str, raw: bytes, name: str, hop: float) -> dict:
    """The stream, the model's posteriors every `hop` seconds and how long they took; cached, so moving a slider
    does not run the model again."""
    model, ckpt = run_model(run_id)
    meta = ckpt["meta"]
    wave = load_stream(raw, name, meta["sample_rate"])
    began = time.perf_counter()
    times, probs = stream_posteriors(model, wave, meta["clip_samples"], hop_samples(hop, meta["sample_rate"]),
                                     meta["sample_rate"])  # fmt: skip
    taken = time.perf_counter() - began
    logmel = heard_logmel(model, wave)
    return {"wave": wave, "times": times, "probs": probs, "taken": taken, "logmel": logmel}


def stream_source() -> tuple[bytes, str] | None:
    mic_tab, upload_tab = st.tabs(["Microphone", "Upload"])
    source = None
    with mic_tab:
        said = st.audio_input(f"Talk for up to {MAX_LISTEN_SECONDS:.0f} s", key=f"{P}_listen_mic_file")
        if said is not None:
            source = (said.getvalue(), "your recording")
    with upload_tab:
        types = sorted(e.strip(".") for e in AUDIO_EXTENSIONS)
        file = st.file_uploader(f"A recording of up to {MAX_LISTEN_SECONDS:.0f} s", type=types, key=f"{P}_listen_file")
        if file is not None:
            source = (file.getvalue(), file.name)
    return source


def detection_settings() -> tuple[float, float, float, float]:
    """(threshold, smoothing seconds, refractory seconds, hop seconds) from the sliders."""
    c1, c2, c3, c4 = st.columns(4)
    threshold = c1.slider("Threshold", 0.05, 0.99, THRESHOLD, 0.01, key=f"{P}_listen_threshold")
    smoothing = c2.slider("Smoothing window (s)", 0.0, 1.0, SMOOTH_SECONDS, 0.1, key=f"{P}_listen_smooth")
    refractory = c3.slider("Refractory time (s)", 0.2, 2.0, REFRACTORY_SECONDS, 0.1, key=f"{P}_listen_refractory")
    hop = c4.select_slider("Hop (s)", [HOP_RANGE[0], 0.075, HOP_RANGE[1]], HOP_SECONDS, key=f"{P}_listen_hop")
    return threshold, smoothing, refractory, float(hop)


def listen_tab(run: dict) -> None:
    _, ckpt = run_model(run["id"])
    meta = ckpt["meta"]
    names = meta["class_names"]
    keywords = [i for i, c in enumerate(names) if is_keyword(c)]
    st.caption(
        f"The model slides over a longer recording ({meta['clip_samples'] / meta['sample_rate']:g}-s window) and "
        "marks each keyword it hears: " + plain(", ".join(names[i] for i in keywords)) + "."
    )
    threshold, smoothing, refractory, hop = detection_settings()
    source = stream_source()
    if source is not None:
        try:
            heard = listen(run["id"], *source, hop)
        except DataError as exc:
            st.error(plain(exc))
        else:
            show_stream(heard, meta, keywords, threshold, smoothing, refractory, hop)
    else:
        st.caption("Record or upload a recording with a few keywords in it to see where the model hears them.")
    with st.expander("Calibrate: false rejections and false alarms per hour on the test split"):
        calibrate_section(run, threshold, smoothing, refractory, hop)


def show_stream(heard: dict, meta: dict, keywords: list[int], threshold, smoothing, refractory, hop) -> None:
    rate, names = meta["sample_rate"], meta["class_names"]
    probs = smooth(heard["probs"], max(1, round(smoothing / hop)))
    found = detect(heard["times"], probs, keywords, threshold, refractory)
    seconds = len(heard["wave"]) / rate
    st.markdown(f"**{len(found)} detection{'s' * (len(found) != 1)}** in {seconds:.1f} s")
    st.caption(
        f"Heard in {heard['taken']:.2f} s: {seconds / max(heard['taken'], 1e-9):.0f}× faster than real time "
        f"({len(heard['times'])} windows, hop {hop * 1000:.0f} ms, {torch.get_num_threads()} CPU threads)."
    )
    hop_seconds = LogMel(rate).hop_seconds
    figure = timeline_figure(heard["wave"], rate, heard["logmel"], hop_seconds, heard["times"], probs, names,
                             keywords, found, threshold)  # fmt: skip
    st.plotly_chart(figure, key=f"{P}_listen_timeline")
    half = meta["clip_samples"] // 2
    cols = st.columns(4)
    for n, d in enumerate(found):
        centre = int(d.time * rate)
        window = heard["wave"][max(0, centre - half) : centre + half]
        with cols[n % 4].container(border=True):
            st.markdown(f"**{plain(names[d.label])}** at {d.time:.1f} s ({d.score:.2f})")
            st.audio(to_wav_bytes(window, rate), format="audio/wav")


def calibrate_section(run: dict, threshold, smoothing, refractory, hop) -> None:
    st.caption(
        "Test clips of the words are placed at known times in background noise (the test split's `_silence_` "
        "clips when the data has them, else generated pink noise) at the SNR below; the model listens with the "
        "settings above, and for each threshold the missed keywords and the false alarms are counted. Test data "
        "only; 95% intervals: Wilson on independent speakers (false rejections), exact Poisson (false alarms)."
    )
    words = [c for c in run_model(run["id"])[1]["meta"]["class_names"] if is_keyword(c)]
    chosen = st.multiselect(
        "Keywords (the other words are placed too, as words it must not fire on)", words, words,
        key=f"{P}_cal_keywords",
    )  # fmt: skip
    c1, c2 = st.columns(2)
    minutes = c1.slider("Stream length (minutes)", 1, 60, 5, key=f"{P}_cal_minutes")
    snr = c2.slider("Signal-to-noise ratio (dB)", 0, 40, int(SNR_DB), 5, key=f"{P}_cal_snr")
    if not chosen:
        st.info("Choose at least one keyword.")
        return
    settings = (run["id"], tuple(chosen), minutes, snr, smoothing, refractory, hop)
    if st.button("Calibrate", key=f"{P}_cal_btn"):
        data = run_data(run)
        if data is None:
            return
        model, _ = run_model(run["id"])
        with st.spinner(f"Listening to {minutes} minutes of test clips in noise…"):
            result = calibrate(model, data, chosen, minutes / 60, snr, hop, smoothing, refractory, threshold)
        st.session_state[f"{P}_calibration"] = (settings, result)
    kept = st.session_state.get(f"{P}_calibration")
    if kept is None or kept[0] != settings:
        st.caption("Press Calibrate to measure these settings.")
        return
    show_calibration(kept[1], threshold)


def show_calibration(result: dict, threshold: float) -> None:
    op = min(result["curve"], key=lambda r: abs(r["threshold"] - threshold))
    c1, c2, c3 = st.columns(3)
    c1.metric("False rejections", f"{op['frr']:.1%}", help=f"{op['missed']} of {op['keywords']} keywords missed")
    c1.caption(f"95% interval [{op['frr_ci95'][0]:.1%}, {op['frr_ci95'][1]:.1%}]")
    alarms = f"{op['false_alarms']} false alarms, {op['false_alarms_in_words']} of them inside another word"
    c2.metric("False alarms per hour", f"{op['fa_per_hour']:.1f}", help=alarms)
    c2.caption(f"95% interval [{op['fa_per_hour_ci95'][0]:.1f}, {op['fa_per_hour_ci95'][1]:.1f}]")
    c3.metric("Faster than real time", f"{result['times_real_time']:.0f}×")
    c3.caption(f"threshold {op['threshold']:.2f}")
    st.caption(
        f"{result['hours'] * 60:.0f} minutes of the {plain(result['dataset'])} test split: "
        f"{result['keywords_placed']} keywords ({result['distinct_keyword_clips']} distinct clips) and "
        f"{result['other_words_placed']} other words in {plain(result['noise'])} at {result['snr_db']:g} dB SNR."
    )
    st.plotly_chart(det_figure(result["curve"], threshold), key=f"{P}_cal_det")
    rows = np.array([[r["threshold"], 100 * r["frr"], r["fa_per_hour"]] for r in result["curve"]])
    st.dataframe(
        {"threshold": rows[:, 0], "false rejections (%)": rows[:, 1], "false alarms/h": rows[:, 2]},
        key=f"{P}_cal_table", height=220, hide_index=True,
        column_config={"false rejections (%)": st.column_config.NumberColumn(format="%.1f")},
    )  # fmt: skip
