"""Record your own words into a speech dataset: name the words, record and keep clips, save them as class folders."""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from core.data import DataError
from core.data.audio import load_clip, recording_counts, safe_name, save_recording
from ui.uploads import user_data_dir

P = "speech"
RECORDED = "your recordings"
MIN_CLIPS = 10  # what the loader needs to split a dataset


def recordings_root() -> Path:
    return user_data_dir() / "recordings"


def saved_recordings() -> list[str]:
    root = recordings_root()
    return sorted(d.name for d in root.iterdir() if d.is_dir()) if root.is_dir() else []


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


def recorded_source() -> str | None:
    """The "your recordings" data choice: pick one of the saved recording datasets."""
    saved = saved_recordings()
    if not saved:
        st.info("Nothing saved yet: record clips under **Record your own words** below, then save them.")
        return None
    if st.session_state.get(f"{P}_recording") not in saved:
        st.session_state.pop(f"{P}_recording", None)
    name = st.selectbox("Recorded dataset", saved, key=f"{P}_recording")
    return str(recordings_root() / name)
