"""Capture your own images: name the classes (people), take camera snapshots per class, save them as a dataset."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import streamlit as st

from core.data import DataError
from core.data.captures import MIN_SHOTS, capture_counts, capture_info, png_bytes, save_captures, take_snapshot
from core.data.images import open_image
from core.tasks.image import SPEC, prepare_image
from core.tasks.image_faces import CROP_SIDE, crop_face
from ui.own_sets import classes_and_name, pick_class, pick_saved_set, save_or_discard, show_message
from ui.text import plain
from ui.uploads import user_data_dir

P = "image"
CAPTURED = "your captures"
GRID = 8  # thumbnails per row


def captures_root() -> Path:
    return user_data_dir() / "captures"


def kept_shots() -> dict[str, list[bytes]]:
    """Shots kept in this session, PNG bytes per class, until they are saved or discarded."""
    return st.session_state.setdefault(f"{P}_cap_shots", {})


def _camera_key() -> str:
    # a new key after each kept shot gives a fresh camera for the next one
    return f"{P}_cap_camera_{st.session_state.get(f'{P}_cap_taken', 0)}_file"


def keep_shot(class_name: str, raw: bytes, face_mode: bool) -> None:
    """Square (or face-crop) one snapshot and keep it under `class_name`; the outcome goes to the message line."""
    try:
        img, crop = take_snapshot(raw, f"snapshot of {class_name}", face_mode)
    except DataError as exc:
        st.session_state[f"{P}_cap_message"] = ("error", str(exc))
        return
    shots = kept_shots().setdefault(class_name, [])
    shot = png_bytes(img)
    if all(hashlib.sha1(s).digest() != hashlib.sha1(shot).digest() for s in shots):
        shots.append(shot)
    st.session_state[f"{P}_cap_taken"] = st.session_state.get(f"{P}_cap_taken", 0) + 1
    if crop is None:
        st.session_state[f"{P}_cap_message"] = ("success", f"Kept a shot of {class_name}.")
    else:
        st.session_state[f"{P}_cap_message"] = ("success" if crop.found else "warning", crop.note)


def _keep_from_camera(class_name: str, face_mode: bool) -> None:
    shot = st.session_state.get(_camera_key())
    if shot is not None:
        keep_shot(class_name, shot.getvalue(), face_mode)


def _delete_shot(class_name: str, i: int) -> None:
    shots = kept_shots().get(class_name, [])
    if 0 <= i < len(shots):
        shots.pop(i)
    st.session_state[f"{P}_cap_message"] = ("success", f"Deleted a shot of {class_name}.")


def save_dataset(name: str, classes: list[str], face_mode: bool) -> None:
    """Write the kept shots as captures/<name>/<class>/shot_N.png, then select that dataset for training."""
    try:
        folder = save_captures(captures_root(), name, {c: kept_shots().get(c, []) for c in classes}, face_mode)
    except DataError as exc:
        st.session_state[f"{P}_cap_message"] = ("error", str(exc))
        return
    total = sum(capture_counts(captures_root(), folder.name).values())
    st.session_state[f"{P}_cap_shots"] = {}
    st.session_state[f"{P}_dataset"] = CAPTURED
    st.session_state[f"{P}_capture"] = folder.name
    message = f"Saved: {total} pictures in {folder}. It is selected under Data: press Train."
    st.session_state[f"{P}_cap_message"] = ("success", message)


def shot_grid(class_name: str, shots: list[bytes]) -> None:
    """A class's kept shots as thumbnails, each with its delete button."""
    st.markdown(f"**{plain(class_name)}** · {len(shots)} shot{'s' * (len(shots) != 1)}")
    for start in range(0, len(shots), GRID):
        cols = st.columns(GRID)
        for col, i in zip(cols, range(start, min(start + GRID, len(shots)))):
            col.image(shots[i], width=72)
            col.button(
                ":material/delete:",
                key=f"{P}_cap_del_{class_name}_{i}_btn",
                help=f"Delete this shot of {plain(class_name)}",
                on_click=_delete_shot,
                args=(class_name, i),
            )


def capture_section() -> None:
    st.caption(
        f"Name the classes (say, three colleagues), take several snapshots of each with the camera (at least "
        f"{MIN_SHOTS} in all; 8 or more per class is better, from slightly different angles and distances), "
        "then save them as a dataset and train on it. Face mode finds and crops the face before keeping a shot, "
        "and again before predicting."
    )
    c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
    typed = c1.text_input("Classes (comma separated)", key=f"{P}_cap_classes", placeholder="Ada, Grace, Alan")
    st.session_state.setdefault(f"{P}_cap_name", "my_people")
    name = c2.text_input("Dataset name", key=f"{P}_cap_name")
    st.session_state.setdefault(f"{P}_cap_face", True)
    face_mode = c3.toggle("Face mode", key=f"{P}_cap_face", help="Detect and crop the face (OpenCV Haar cascade)")
    form = classes_and_name(typed, name, "class", "Type at least two class names to take pictures of.")
    if form is None:
        return
    classes, name = form
    i = pick_class("Taking", classes, f"{P}_cap_class")
    shot = st.camera_input(f"A snapshot of {plain(classes[i])}", key=_camera_key())
    st.button(
        f"Keep this shot of {plain(classes[i])}",
        key=f"{P}_cap_keep_btn",
        disabled=shot is None,
        on_click=_keep_from_camera,
        args=(classes[i], face_mode),
    )
    show_message(f"{P}_cap_message")
    shots = kept_shots()
    for class_name in classes:
        shot_grid(class_name, shots.get(class_name, []))
    save_or_discard(f"{P}_cap", shots, classes, MIN_SHOTS, "shots", save_dataset, (name, classes, face_mode))


def captured_source() -> str | None:
    """The "your captures" data choice: pick one of the saved camera datasets."""
    empty = "Nothing saved yet: take pictures under **Capture your own images** below, then save them."
    folder = pick_saved_set(captures_root(), f"{P}_capture", "Captured dataset", empty)
    if folder is not None:
        counts = capture_counts(captures_root(), Path(folder).name)
        st.caption(" · ".join(f"{plain(c)} {n}" for c, n in counts.items()))
    return folder


def photo_input(raw: bytes, name: str, meta: dict, face_mode: bool):
    """A photo (upload or snapshot) as the model's input (1, C, H, W): face-cropped in face mode, the colours
    inverted if asked (for models trained on bright-on-dark data). None, with the reason shown, if unreadable."""
    try:
        img = open_image(raw, name, size=4 * CROP_SIDE if face_mode else meta["size"])  # decoded near its use
    except DataError as exc:
        st.error(plain(exc))
        return None
    if face_mode:
        crop = crop_face(img)
        (st.caption if crop.found else st.warning)(crop.note)
        img = crop.image
    bright = float(np.asarray(img.convert("L")).mean()) > 127
    invert = st.checkbox(
        "Invert colours (the training images have dark backgrounds)",
        value=bright and getattr(SPEC.dataset(meta.get("dataset")), "bright_on_dark", False),
        key=f"{P}_invert_{name}",
    )
    return prepare_image(img, meta, invert)


def face_mode_toggle(run: dict, key: str) -> bool:
    """Face mode for predictions: on by default when the run trained on face-cropped captures."""
    default = bool(capture_info(run["config"].data).get("face_mode", False))
    return st.toggle(
        "Face mode: crop the face first",
        value=default,
        key=f"{key}_{run['id']}",
        help="Find the face (OpenCV Haar cascade) and use only it, as the captures were saved",
    )
