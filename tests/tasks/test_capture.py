"""Camera datasets: face detection and cropping, saving snapshots as a dataset, training on it, predicting.

A real camera cannot be driven headless, so the snapshots are scikit-image's sample photos (the astronaut has a
face the Haar cascade finds; the cameraman's is too small and turned), jittered as a hand-held camera would.
"""

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance
from skimage import data as samples

from core.data.captures import INFO_FILE, capture_counts, capture_info, save_captures, take_snapshot
from core.tasks.image import load_folder, prepare_image
from core.tasks.image_faces import CROP_SIDE, crop_face, detect_faces, square_box
from tests.support.apptest import has_confusion_matrix, open_page, open_tab, rerun_until

PAGE = "app_pages/image.py"
ASTRONAUT_FACE = (177, 66, 94, 94)  # where the cascade finds it in the 512x512 photo (left, top, width, height)


def photos(kind: str, n: int, seed: int = 0) -> list[bytes]:
    """`n` PNG snapshots of a sample photo, each shifted, scaled and lit a little differently."""
    base = Image.fromarray(samples.astronaut() if kind == "astronaut" else samples.camera()).convert("RGB")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        side = int(rng.integers(400, 512))
        left, top = (int(v) for v in rng.integers(0, 512 - side + 1, 2))
        shot = base.crop((left, top, left + side, top + side)).resize((480, 480))
        shot = ImageEnhance.Brightness(shot).enhance(float(rng.uniform(0.8, 1.2)))
        buffer = io.BytesIO()
        shot.save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def test_the_cascade_finds_the_astronauts_face_and_the_crop_holds_it():
    img = Image.fromarray(samples.astronaut())
    assert detect_faces(img)[0] == pytest.approx(ASTRONAUT_FACE, abs=4)
    crop = crop_face(img)
    assert crop.found and crop.image.size == (CROP_SIDE, CROP_SIDE) and crop.image.mode == "RGB"
    left, top, right, bottom = crop.box
    fx, fy, fw, fh = ASTRONAUT_FACE
    assert left <= fx and top <= fy and right >= fx + fw and bottom >= fy + fh  # the whole face, with a margin
    assert right - left == bottom - top < 2 * fw  # square, and about the face, not the whole photo


def test_a_big_photo_is_searched_small_and_the_box_comes_back_in_its_own_pixels():
    img = Image.fromarray(samples.astronaut()).resize((2048, 2048))
    left, top, w, _ = detect_faces(img)[0]
    assert (left, top, w) == pytest.approx((4 * 177, 4 * 66, 4 * 94), rel=0.1)


def test_without_a_face_the_centre_square_is_used_and_the_note_says_so():
    crop = crop_face(Image.fromarray(samples.coffee()))  # 600 x 400, no face
    assert not crop.found
    assert crop.box == (100, 0, 500, 400)
    assert "No face found" in crop.note and "centre" in crop.note


def test_square_box_stays_inside_the_picture():
    assert square_box((100, 50), (95, 5), 80) == (50, 0, 100, 50)


def test_snapshots_saved_as_a_dataset_load_like_an_uploaded_folder(tmp_path):
    shots = {
        "eileen": [take_snapshot(raw, "shot", True)[0] for raw in photos("astronaut", 6)],
        "cameraman": [take_snapshot(raw, "shot", True)[0] for raw in photos("camera", 6)],
    }
    as_png = {c: [_png(img) for img in imgs] for c, imgs in shots.items()}
    folder = save_captures(tmp_path, "people", as_png, face_mode=True)
    save_captures(tmp_path, "people", {"eileen": as_png["eileen"][:2]}, face_mode=True)  # more shots later
    assert capture_counts(tmp_path, "people") == {"cameraman": 6, "eileen": 8}
    assert sorted(p.name for p in (folder / "eileen").iterdir())[:3] == ["shot_1.png", "shot_2.png", "shot_3.png"]
    assert capture_info(folder) == {"face_mode": True, "side": CROP_SIDE}
    data = load_folder(folder)
    assert data.class_names == ["cameraman", "eileen"] and sum(len(y) for y in data.y.values()) == 14
    assert (folder / INFO_FILE).exists() and capture_info(tmp_path) == {}


def test_a_bad_class_name_is_refused(tmp_path):
    from core.data import DataError

    with pytest.raises(DataError, match="not a usable class name"):
        save_captures(tmp_path, "people", {"../x": [b""]}, face_mode=False)


def _png(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def test_capture_save_train_and_predict_through_the_page(tmp_path):
    at = open_page(PAGE)
    at.text_input(key="image_cap_classes").input("eileen, cameraman").run()
    assert at.toggle(key="image_cap_face").value  # face mode is on by default
    at.session_state["image_cap_shots"] = {
        "eileen": [_png(take_snapshot(raw, "shot", True)[0]) for raw in photos("astronaut", 9, seed=1)],
        "cameraman": [_png(take_snapshot(raw, "shot", True)[0]) for raw in photos("camera", 9, seed=2)],
    }
    at.run()
    assert any(m.value == "**eileen** · 9 shots" for m in at.markdown)
    at.button(key="image_cap_del_eileen_0_btn").click().run()  # a bad shot goes
    assert any(m.value == "**eileen** · 8 shots" for m in at.markdown)
    at.button(key="image_cap_save_btn").click().run()
    assert not at.exception
    assert any("Saved: 17 pictures" in s.value for s in at.success)
    assert at.selectbox(key="image_dataset").value == "your captures"
    assert at.selectbox(key="image_capture").value == "my_people"
    folder = tmp_path / "user_data" / "captures" / "my_people"
    assert capture_counts(folder.parent, "my_people") == {"cameraman": 9, "eileen": 8}
    at.number_input(key="image_epochs").set_value(15).run()
    at.button(key="image_train_btn").click().run()
    rerun_until(at, has_confusion_matrix)
    open_tab(at, "image", "Try it")
    assert at.toggle(key=f"image_try_face_{at.session_state['image_run']}").value  # predictions crop faces too

    # predict a new snapshot of each person the way the Try-it tab does: face crop, then the model
    from core.tasks import load_run_model
    from ui.services import get_store

    model, ckpt = load_run_model(get_store(), at.session_state["image_run"])
    for kind, name in (("astronaut", "eileen"), ("camera", "cameraman")):
        img, crop = take_snapshot(photos(kind, 1, seed=9)[0], "new shot", True)
        assert crop.found == (kind == "astronaut")
        with torch.no_grad():
            probs = torch.softmax(model(prepare_image(img, ckpt["meta"])), 1)[0]
        assert ckpt["meta"]["class_names"][int(probs.argmax())] == name
