"""Image data: bundled sets, your own folders and zips, and every kind of bad input."""

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import DataError
from core.data.archive import extract_zip
from core.tasks.image import load_bundled, load_folder, make_augment, prepare_drawing


def save(path, mode="RGB", size=(12, 12), color=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        Image.fromarray((np.random.rand(*size) * 65535).astype(np.uint16)).save(path)
    else:
        Image.new(mode, size, color if color is not None else (0 if mode in ("L", "P", "1") else (10, 20, 30))).save(
            path
        )


def make_folder(root, classes=("cat", "dog"), n=6):
    for c in classes:
        for i in range(n):
            save(root / c / f"{i}.png")
    return root


@pytest.mark.parametrize("name,classes", [("digits", 10), ("faces", 2), ("shapes", 6)])
def test_bundled_sets_split_without_overlap(name, classes):
    data = load_bundled(name, seed=0)
    assert len(data.class_names) == classes
    sizes = {k: len(v) for k, v in data.y.items()}
    assert sizes["test"] > 0 and sizes["val"] > 0
    total = sum(sizes.values())
    assert abs(sizes["test"] / total - 0.2) < 0.02
    assert float(data.x["train"].min()) >= 0 and float(data.x["train"].max()) <= 1


def test_own_folder_with_mixed_sizes_and_modes(tmp_path):
    root = tmp_path / "pets"
    for i, (mode, size) in enumerate(
        [("RGB", (10, 20)), ("RGBA", (40, 40)), ("P", (7, 9)), ("L", (64, 32)), ("I;16", (16, 16))] * 2
    ):
        save(root / "cat" / f"{i}.png", mode, size)
        save(root / "dog" / f"{i}.png", mode, size)
    Image.new("CMYK", (20, 20)).save(root / "dog" / "cmyk.jpg")
    data = load_folder(root, seed=0)
    assert data.class_names == ["cat", "dog"]
    assert data.x["train"].shape[1:] == (3, 32, 32)
    assert sum(len(v) for v in data.y.values()) == 21


def test_given_train_test_split_is_used_and_val_comes_from_train(tmp_path):
    make_folder(tmp_path / "ds" / "train", n=16)
    make_folder(tmp_path / "ds" / "test", n=3)
    data = load_folder(tmp_path / "ds")
    assert len(data.y["test"]) == 6
    assert len(data.y["train"]) + len(data.y["val"]) == 32
    assert "your test/ folder" in data.split_note


@pytest.mark.parametrize("val_name", ["val", "valid", "validation", "dev"])
def test_train_and_val_folders_without_test_carve_the_test_from_train(tmp_path, val_name):
    make_folder(tmp_path / "ds" / "train", n=10)
    make_folder(tmp_path / "ds" / val_name, n=2)
    data = load_folder(tmp_path / "ds")
    assert data.class_names == ["cat", "dog"]  # not "train" and "val" as two classes
    assert len(data.y["val"]) == 4  # the given validation folder, as it is
    assert len(data.y["test"]) == 4 and len(data.y["train"]) == 16  # a fifth of train/, stratified
    assert np.bincount(data.y["test"].numpy()).tolist() == [2, 2]
    assert f"your {val_name}/ folder" in data.split_note and "test: 1/5 of your train/ folder" in data.split_note
    again = load_folder(tmp_path / "ds")
    assert all(torch.equal(data.x[s], again.x[s]) for s in data.x)  # seeded


def test_a_zip_of_a_folder_loads(tmp_path):
    root = make_folder(tmp_path / "pets")
    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in root.rglob("*.png"):
            zf.write(f, f"pets/{f.relative_to(root)}")
    data = load_folder(archive)
    assert data.class_names == ["cat", "dog"]


def test_corrupt_image_names_the_file(tmp_path):
    root = make_folder(tmp_path / "pets")
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(DataError, match="dog/broken.png: not a readable image"):
        load_folder(root)


def test_non_image_file_names_the_file(tmp_path):
    root = make_folder(tmp_path / "pets")
    (root / "cat" / "notes.jpg").write_text("hello, I am not a picture")
    with pytest.raises(DataError, match="cat/notes.jpg"):
        load_folder(root)


@pytest.mark.parametrize(
    "train_name,test_name",
    [("training", "testing"), ("train", "eval"), ("train", "holdout"), ("Train", "Evaluation"), ("TRAINING", "Test")],
)
def test_other_common_split_folder_names_are_splits_not_classes(tmp_path, train_name, test_name):
    # issue 18 item 3: training/ + testing/ loaded as two classes, and the model learnt which folder a file was in
    make_folder(tmp_path / "ds" / train_name, n=16)
    make_folder(tmp_path / "ds" / test_name, n=3)
    data = load_folder(tmp_path / "ds")
    assert data.class_names == ["cat", "dog"]
    assert len(data.y["test"]) == 6 and f"your {test_name}/ folder" in data.split_note


def test_eval_beside_a_test_folder_is_the_validation_split(tmp_path):
    for name, n in (("train", 10), ("eval", 2), ("test", 3)):
        make_folder(tmp_path / "ds" / name, n=n)
    data = load_folder(tmp_path / "ds")
    assert (len(data.y["train"]), len(data.y["val"]), len(data.y["test"])) == (20, 4, 6)


@pytest.mark.parametrize("classes", [("training", "validation"), ("Train", "cat"), ("cat", "holdout")])
def test_class_folders_named_like_splits_are_refused(tmp_path, classes):
    root = make_folder(tmp_path / "pets", classes=classes)
    with pytest.raises(DataError, match="look like split folders, not classes"):
        load_folder(root)


def test_empty_class_folder(tmp_path):
    root = make_folder(tmp_path / "pets")
    (root / "bird").mkdir()
    with pytest.raises(DataError, match="bird: class folder is empty"):
        load_folder(root)


def test_one_class_is_not_enough(tmp_path):
    root = make_folder(tmp_path / "pets", classes=("cat",))
    with pytest.raises(DataError, match="at least two class subfolders, found only 'cat'"):
        load_folder(root)


def test_not_a_zip(tmp_path):
    path = tmp_path / "data.zip"
    path.write_text("no zip here")
    with pytest.raises(DataError, match="data.zip: not a readable .zip"):
        load_folder(path)


def test_zip_slip_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escape.txt", "gotcha")
    with pytest.raises(DataError, match="evil.zip: entry '../../escape.txt' points outside"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_absolute_paths_and_links_are_refused(tmp_path):
    archive = tmp_path / "abs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("/etc/passwd2", "x")
    with pytest.raises(DataError, match="points outside"):
        extract_zip(archive, tmp_path / "out")
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(DataError, match="symbolic link"):
        extract_zip(archive, tmp_path / "out2")


def test_zip_bomb_stops_at_the_size_limit(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/big.bin", b"\0" * 5_000_000)
    assert archive.stat().st_size < 100_000
    with pytest.raises(DataError, match="bomb.zip: unpacks to more than"):
        extract_zip(archive, tmp_path / "out", max_bytes=1_000_000)


def test_too_few_images_to_split(tmp_path):
    root = make_folder(tmp_path / "pets", n=2)
    with pytest.raises(DataError, match="at least 10"):
        load_folder(root)


def test_augment_keeps_shapes_and_changes_pixels():
    import torch

    x = torch.rand(8, 1, 8, 8)
    aug = make_augment(shift=0.1, rotate=15, flip=True)
    out = aug(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and not torch.equal(out, x)
    assert make_augment() is None


def test_drawing_is_centred_and_scaled():
    canvas = np.zeros((100, 100, 4), np.uint8)
    canvas[10:30, 60:70] = 255  # a stroke in a corner
    x = prepare_drawing(canvas, {"channels": 1, "size": 8})
    assert x.shape == (1, 1, 8, 8)
    assert float(x.max()) == pytest.approx(1.0)
    ys, xs = np.nonzero(x[0, 0].numpy() > 0.3)
    assert 2 <= ys.mean() <= 5 and 2 <= xs.mean() <= 5
    assert prepare_drawing(np.zeros((50, 50, 4), np.uint8), {"channels": 1, "size": 8}) is None


def test_decompression_bomb_image(tmp_path):
    from core.data.images import open_image

    buf = io.BytesIO()
    Image.new("L", (9000, 9000)).save(buf, "PNG")
    with pytest.raises(DataError, match="huge.png"):
        open_image(buf.getvalue(), "huge.png")
