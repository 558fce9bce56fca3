"""Record your own words into a speech dataset: name the words, record and keep clips, save them as class folders."""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from core.data import DataError
from core.data.audio import load_clip, recording_counts, save_recording
from ui.own_sets import classes_and_name, pick_class, pick_saved_set, save_or_discard, show_message
from ui.text import plain
from ui.uploads import user_data_dir

P = "speech"
RECORDED = "your recordings"
MIN_CLIPS = 10  # what the loader needs to split a dataset


def recordings_root() -> Path:
    return user_data_dir() / "recordings"


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
    form = classes_and_name(typed, name, "word", "Type at least two words to record.")
    if form is None:
        return
    words, name = form
    i = pick_class("Record", words, f"{P}_rec_word")
    word = words[i]
    clip = st.audio_input(f"Say “{plain(word)}”", key=_recording_key(i))
    st.button(
        f"Keep this clip of “{plain(word)}”",
        key=f"{P}_rec_keep_btn",
        disabled=clip is None,
        on_click=_keep_clip,
        args=(i, word),
    )
    show_message(f"{P}_rec_message")
    kept = _kept()
    st.caption("Kept: " + " · ".join(f"{plain(w)} {len(kept.get(w, []))}" for w in words))
    save_or_discard(f"{P}_rec", kept, words, MIN_CLIPS, "clips", _save_dataset, (name, words))


def recorded_source() -> str | None:
    """The "your recordings" data choice: pick one of the saved recording datasets."""
    empty = "Nothing saved yet: record clips under **Record your own words** below, then save them."
    return pick_saved_set(recordings_root(), f"{P}_recording", "Recorded dataset", empty)
