"""Datasets a person makes on a page (recorded words, camera shots): where they are kept, the picker that offers
them as data, the message of the last action, and the save and discard buttons."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from core.data import DataError
from core.data.audio import safe_name
from ui.text import plain


def saved_sets(root: Path) -> list[str]:
    """The names of the sets saved under `root` (one folder each)."""
    return sorted(d.name for d in root.iterdir() if d.is_dir()) if root.is_dir() else []


def pick_saved_set(root: Path, key: str, label: str, empty: str) -> str | None:
    """A data choice: one of the saved sets under `root` (its folder), or None with `empty` shown."""
    saved = saved_sets(root)
    if not saved:
        st.info(empty)
        return None
    if st.session_state.get(key) not in saved:
        st.session_state.pop(key, None)
    return str(root / st.selectbox(label, saved, key=key))


def classes_and_name(typed: str, name: str, what: str, fewer: str) -> tuple[list[str], str] | None:
    """The comma-separated class names typed (each a safe `what` name, repeats dropped) and the dataset's name;
    None, with the reason shown, when a name is not usable or fewer than two classes are given (`fewer`)."""
    try:
        classes = list(dict.fromkeys(safe_name(c, what) for c in typed.split(",") if c.strip()))
        name = safe_name(name, "dataset")
    except DataError as exc:
        st.error(plain(exc))
        return None
    if len(classes) < 2:
        st.info(fewer)
        return None
    return classes, name


def pick_class(label: str, classes: list[str], key: str) -> int:
    """Which class the next item is of (a row of radio buttons); a choice left from a longer list is dropped."""
    if st.session_state.get(key, 0) >= len(classes):
        st.session_state.pop(key)
    return st.radio(label, range(len(classes)), format_func=lambda i: plain(classes[i]), key=key, horizontal=True)


def show_message(key: str) -> None:
    """The last action's (kind, text) kept under `key`: error, warning or success."""
    message = st.session_state.get(key)
    if message:
        {"error": st.error, "warning": st.warning}.get(message[0], st.success)(plain(message[1]))


def save_or_discard(
    prefix: str, kept: dict[str, list], names: list[str], minimum: int, unit: str, save: Callable, args: tuple
) -> None:
    """'Save as dataset' (once there are `minimum` items of two or more classes) and 'Discard kept …'."""
    total = sum(len(kept.get(n, [])) for n in names)
    ready = total >= minimum and sum(bool(kept.get(n)) for n in names) >= 2
    c1, c2, _ = st.columns([1, 1, 2])
    c1.button(
        "Save as dataset",
        key=f"{prefix}_save_btn",
        type="primary",
        disabled=not ready,
        on_click=save,
        args=args,
        help=None if ready else f"Needs at least {minimum} {unit} of two or more classes.",
        width="stretch",
    )
    if c2.button(f"Discard kept {unit}", key=f"{prefix}_clear_btn", disabled=not total, width="stretch"):
        kept.clear()
        st.rerun()
