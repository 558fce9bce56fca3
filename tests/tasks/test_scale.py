"""Large folders: decoding reports its progress, and a second load reads the decoded-image cache, bit for bit."""

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import image_cache
from core.data.images import decode_images
from core.tasks.image import load_folder


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("dots", "stripes"):
        (tmp_path / "pics" / label).mkdir(parents=True)
        for i in range(15):
            pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "pics" / label / f"{i}.png")
    return tmp_path / "pics"


def test_a_second_load_reads_the_cache(folder, monkeypatch):
    calls = []
    first = load_folder(folder, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (60, 60) and all(a <= b for (a, _), (b, _) in zip(calls, calls[1:]))  # headers, then images
    assert len(list(image_cache.cache_dir().glob("*.npy"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(image_cache, "decode_images", no_decoding)
    second = load_folder(folder)
    for split in first.x:
        assert torch.equal(first.x[split], second.x[split]) and torch.equal(first.y[split], second.y[split])


def test_cached_pixels_are_exactly_the_decoded_floats(folder):
    files = sorted(folder.rglob("*.png"))
    names = [f.name for f in files]
    decoded, _ = decode_images(files, names, 32, "pics")
    pixels = image_cache.decoded_pixels(files, names, 32, "pics")
    assert np.array_equal(torch.from_numpy(pixels).float().div_(255.0).numpy(), decoded)


def test_an_edited_or_added_image_is_decoded_afresh(folder):
    files = sorted(folder.rglob("*.png"))
    stamp = image_cache.content_stamp(files, 32)
    assert image_cache.content_stamp(files, 24) != stamp  # another size
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(files[0])
    assert image_cache.content_stamp(files, 32) != stamp
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(folder / "dots" / "new.png")
    assert image_cache.content_stamp(sorted(folder.rglob("*.png")), 32) != stamp
