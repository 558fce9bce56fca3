"""Hostile input on the data side: archive bombs, the extraction cache, huge images, recommender memory, the web
app's data roots and listening address, device files, absurd ratings, and splits that cannot measure anything.

Memory is measured in a fresh interpreter (peak RSS from /proc/self/status, reset after the imports), so the
numbers belong to the case alone.
"""

import io
import json
import os
import re
import struct
import subprocess
import sys
import textwrap
import time
import tomllib
import wave
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.data import DataError
from core.data.archive import cached_extraction, extract_zip, extraction_cache
from core.data.folders import index_folder, open_data_path
from core.data.images import open_image
from core.data.interactions import read_interactions
from core.data.roots import resolve_in_roots

ROOT = Path(__file__).resolve().parents[2]
MB = 1 << 20

MEASURE = """
import json


def _status(key):
    return next(int(line.split()[1]) // 1024 for line in open("/proc/self/status") if line.startswith(key))


def start():
    global _base
    try:
        with open("/proc/self/clear_refs", "w") as f:  # the peak counts from here, not from the imports
            f.write("5")
    except OSError:
        pass
    _base = _status("VmRSS")


def done(**extra):
    print(json.dumps({{"base_mb": _base, "peak_mb": _status("VmHWM"), **extra}}))
"""


def measured(body: str, **env: str) -> dict:
    """Run `body` in a fresh interpreter (it calls start() after its imports and done() last): sizes in MB."""
    script = MEASURE.format(root=str(ROOT)) + textwrap.dedent(body)
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, **env}
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    out["growth_mb"] = out["peak_mb"] - out["base_mb"]
    return out


def cache_entries() -> list[str]:
    cache = extraction_cache()
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


# ---------------------------------------------------------------- 1. compression bombs


def zeros_zip(path: Path, method: int, megabytes: int, declared: int | None = None) -> Path:
    """A zip of one member holding `megabytes` MB of zeros, written in chunks; `declared` forges its stated size."""
    info = zipfile.ZipInfo("data/zeros.bin")
    info.compress_type = method
    with zipfile.ZipFile(path, "w") as zf, zf.open(info, "w") as member:
        for _ in range(megabytes):
            member.write(bytes(MB))
    if declared is not None:
        raw = bytearray(path.read_bytes())
        struct.pack_into("<I", raw, 22, declared)  # the local header's uncompressed size
        struct.pack_into("<I", raw, raw.rindex(b"PK\x01\x02") + 24, declared)  # the central directory's
        path.write_bytes(bytes(raw))
    return path


def test_a_bzip2_bomb_with_a_lying_header_is_refused_in_bounded_memory(tmp_path):
    """128 MB of zeros in a 250-byte bzip2 member that claims 1 KB: zipfile's reader would inflate it whole."""
    bomb = zeros_zip(tmp_path / "bomb.zip", zipfile.ZIP_BZIP2, 128, declared=1000)
    assert bomb.stat().st_size < 2000
    out = measured(f"""
        from core.data import DataError
        from core.data.folders import open_data_path
        start()
        try:
            open_data_path({str(bomb)!r})
            message = None
        except DataError as exc:
            message = str(exc)
        done(message=message)
    """)
    assert out["message"] == "bomb.zip: entry 'data/zeros.bin' unpacks to more than its header says (corrupt)"
    assert out["growth_mb"] < 40, out
    assert cache_entries() == []  # nothing left behind


def test_a_deflate_bomb_is_refused_by_its_compression_ratio_before_unpacking(tmp_path, capsys):
    bomb = zeros_zip(tmp_path / "bomb.zip", zipfile.ZIP_DEFLATED, 300)
    assert bomb.stat().st_size < 1 * MB
    message = "bomb.zip: entry 'data/zeros.bin' is compressed more than 100 to 1, the limit"
    with pytest.raises(DataError, match=message):
        open_data_path(bomb)
    assert main(["train", "image", "--data", str(bomb), "--runs", str(tmp_path / "runs")]) == 2
    assert f"error: {message}" in capsys.readouterr().err
    assert cache_entries() == []


def test_the_unpacked_size_is_limited_by_the_headers_and_while_streaming(tmp_path, monkeypatch):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("data/a.bin", os.urandom(2 * MB))
    monkeypatch.setenv("DLSTUDIO_ZIP_MAX_MB", "1")
    message = "big.zip: unpacks to more than 1 MB, the size limit (its entries add up to 2 MB)"
    with pytest.raises(DataError, match=f"^{re.escape(message)}$"):
        open_data_path(archive)
    # a header that understates the size is caught while streaming: a member never outgrows what it declared
    raw = bytearray(archive.read_bytes())
    struct.pack_into("<I", raw, raw.rindex(b"PK\x01\x02") + 24, 1000)
    archive.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"^big.zip: entry 'data/a.bin' unpacks to more than its header says"):
        extract_zip(archive, tmp_path / "out")
    assert cache_entries() == []


def test_every_compression_method_zipfile_writes_still_extracts(tmp_path):
    archive = tmp_path / "ok.zip"
    payload = os.urandom(3000) + b"abc" * 100_000
    methods = {"s": zipfile.ZIP_STORED, "d": zipfile.ZIP_DEFLATED, "b": zipfile.ZIP_BZIP2, "l": zipfile.ZIP_LZMA}
    with zipfile.ZipFile(archive, "w") as zf:
        for name, method in methods.items():
            zf.writestr(f"top/{name}.bin", payload, compress_type=method)
    out = extract_zip(archive, tmp_path / "out")
    assert all((out / "top" / f"{name}.bin").read_bytes() == payload for name in methods)


# ---------------------------------------------------------------- 2. the extraction cache


def image_zip(path: Path, classes=("a", "b"), per_class: int = 6, prefix: str = "photos/") -> Path:
    rng = np.random.default_rng(len(path.name))
    with zipfile.ZipFile(path, "w") as zf:
        for c in classes:
            for i in range(per_class):
                buf = io.BytesIO()
                Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(buf, "PNG")
                zf.writestr(f"{prefix}{c}/{i}.png", buf.getvalue())
    return path


def test_an_archive_is_extracted_once_into_user_data_and_reused(tmp_path):
    archive = image_zip(tmp_path / "photos.zip")
    temp = Path(os.environ.get("TMPDIR", "/tmp"))
    before = {p.name for p in temp.glob("dlstudio-*")}
    first = open_data_path(archive)
    marker = first / "a" / "0.png"
    stamp = marker.stat().st_mtime_ns
    time.sleep(0.02)
    again = open_data_path(archive)
    assert again == first and marker.stat().st_mtime_ns == stamp  # reused, not unpacked again
    assert first.is_relative_to(extraction_cache().resolve()) or first.is_relative_to(extraction_cache())
    assert len(cache_entries()) == 1
    assert {p.name for p in temp.glob("dlstudio-*")} == before  # nothing in the temp folder


def test_the_cache_removes_the_least_recently_used_extractions_to_stay_under_its_cap(tmp_path, monkeypatch):
    monkeypatch.setenv("DLSTUDIO_EXTRACT_CACHE_GB", "0.00005")  # 50 KB
    zips = {}
    for name in ("one", "two", "three"):
        zips[name] = tmp_path / f"{name}.zip"
        with zipfile.ZipFile(zips[name], "w") as zf:
            zf.writestr(f"{name}/blob.bin", os.urandom(20_000))
    paths = {}
    for name in ("one", "two", "one", "three"):  # "two" is now the least recently used
        paths[name] = cached_extraction(zips[name])
        time.sleep(0.05)
    assert paths["one"].exists() and paths["three"].exists() and not paths["two"].exists()
    assert len(cache_entries()) == 2


# ---------------------------------------------------------------- 3. decoded image size


@pytest.fixture(scope="module")
def big_images_zip(tmp_path_factory) -> Path:
    """Three 7700x7700 PNGs and one JPEG of that size (59 million pixels each), and small ones: 2 MB zipped."""
    path = tmp_path_factory.mktemp("big") / "big.zip"
    big = Image.new("RGB", (7700, 7700), (200, 40, 40))
    png, jpeg = io.BytesIO(), io.BytesIO()
    big.save(png, "PNG")
    big.save(jpeg, "JPEG", quality=80)
    del big
    small = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 10)).save(small, "PNG")
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(3):
            zf.writestr(f"big/huge{i}.png", png.getvalue())
        zf.writestr("big/huge.jpg", jpeg.getvalue())
        for i in range(8):
            zf.writestr(f"{'big' if i < 2 else 'small'}/s{i}.png", small.getvalue())
    return path


def test_huge_images_decode_one_at_a_time_in_bounded_memory(big_images_zip):
    out = measured(f"""
        from core.data.folders import index_folder, open_data_path
        from core.data.images import decode_images
        start()
        root = open_data_path({str(big_images_zip)!r})
        index = index_folder(root, {{".png", ".jpg"}})
        x, channels = decode_images(index.all_files, [f.name for f in index.all_files], 32, root.name)
        done(shape=list(x.shape), red=float(x[0, 0].mean()))
    """)
    assert out["shape"] == [12, 3, 32, 32] and out["red"] == pytest.approx(200 / 255, abs=0.01)
    # one 7700x7700 RGB image decoded is 178 MB; holding all four (the old way) came to over 700 MB
    assert out["growth_mb"] < 400 and out["peak_mb"] < 600, out


def test_an_image_whose_header_claims_too_many_pixels_is_refused_by_name(tmp_path):
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "PNG")
    raw = bytearray(buf.getvalue())
    struct.pack_into(">II", raw, 16, 100_000, 100_000)  # IHDR width and height ...
    struct.pack_into(">I", raw, 29, zlib.crc32(bytes(raw[12:29])))  # ... and its checksum
    (tmp_path / "huge.png").write_bytes(bytes(raw))
    limit = r"over the limit of 60 million per image \(DLSTUDIO_MAX_IMAGE_PIXELS\)$"
    with pytest.raises(DataError, match=rf"^huge.png: the image has 10,000 million pixels, {limit}"):
        open_image(tmp_path / "huge.png")
    Image.new("L", (9000, 9000)).save(tmp_path / "big.png")  # 81 million: under twice the limit, refused by ours
    with pytest.raises(DataError, match=rf"^big.png: the image has 81 million pixels, {limit}"):
        open_image(tmp_path / "big.png")


def test_a_dataset_over_the_total_pixel_cap_is_refused_before_decoding(tmp_path, monkeypatch):
    from core.tasks.image import load_folder

    for c in ("a", "b"):
        (tmp_path / "set" / c).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (400, 400)).save(tmp_path / "set" / c / f"{i}.png")
    monkeypatch.setenv("DLSTUDIO_MAX_DATASET_PIXELS", "1000000")
    message = (
        "set: its 12 images decode to 2 million pixels, over the limit of 1 million per dataset "
        "(DLSTUDIO_MAX_DATASET_PIXELS); use fewer or smaller images"
    )
    with pytest.raises(DataError, match=f"^{re.escape(message)}$"):
        load_folder(tmp_path / "set")


# ---------------------------------------------------------------- 4. recommender memory

RECSYS_BODY = """
import numpy as np
from scipy import sparse
import torch
from core.models import get_model
from core.models.recsys import check_memory, {cls}
from core.tasks.recsys import rank_users

rng = np.random.default_rng(0)
n_users, n_items = 3000, 30000
users = np.repeat(np.arange(n_users), 20)
items = rng.integers(0, n_items, len(users))
seen = sparse.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(n_users, n_items))
start()
sizes = dict(n_users=n_users, n_items=n_items, n_train=len(users))
estimate = check_memory({cls}, **sizes)
model = get_model("recsys", {name!r}, **sizes)
model.set_history(torch.from_numpy(users), torch.from_numpy(items))
model.fit(users, items, np.ones(len(users), np.float32))
top = rank_users(model, np.arange(n_users), seen)
done(estimate_mb=estimate / 2**20, top=top.shape[0])
"""


@pytest.mark.parametrize("name,cls", [("itemknn", "ItemKNN"), ("pop", "Popularity")])
def test_a_recommender_on_30000_items_stays_within_its_stated_memory(name, cls):
    out = measured(RECSYS_BODY.format(name=name, cls=cls))
    assert out["top"] == 3000
    # a dense items x items matrix alone would be 3,433 MB
    assert out["growth_mb"] <= out["estimate_mb"] < 1024, out
    assert out["estimate_mb"] < 4 * out["growth_mb"] + 64, out  # the estimate is an estimate, not a guess


def test_a_recommender_over_the_memory_limit_is_refused_before_it_allocates(monkeypatch):
    from core.models import get_model

    with pytest.raises(DataError, match=r"^EASE on 3,000 users and 30,000 items would need about 36\.3 GB"):
        get_model("recsys", "ease", n_users=3000, n_items=30_000, n_train=60_000)
    monkeypatch.setenv("DLSTUDIO_RECSYS_MAX_GB", "0.05")
    with pytest.raises(DataError, match=r"over the limit of 0\.1 GB for one recommender \(DLSTUDIO_RECSYS_MAX_GB\)"):
        get_model("recsys", "itemknn", n_users=3000, n_items=30_000, n_train=60_000)


# ---------------------------------------------------------------- 5. data roots


def test_paths_resolve_only_inside_the_data_roots(tmp_path, monkeypatch):
    monkeypatch.delenv("DLSTUDIO_DATA_ROOTS", raising=False)  # conftest makes each test's folder a root
    user_data = Path(os.environ["DLSTUDIO_USER_DATA"])
    (user_data / "photos").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (tmp_path / "extra").mkdir()
    (user_data / "link").symlink_to(tmp_path / "secret")
    assert resolve_in_roots(str(user_data / "photos")) == (user_data / "photos").resolve()
    assert resolve_in_roots(str(ROOT / "sample_data" / "movies")) == ROOT / "sample_data" / "movies"
    messages = []
    for text in (
        str(tmp_path / "secret"),  # exists, outside
        str(tmp_path / "no" / "such"),  # does not exist, outside
        str(user_data / "photos" / ".." / ".." / "secret"),  # `..` out of a root
        str(user_data / "link" / "file"),  # a symlink out of a root
        "/etc/passwd",
    ):
        with pytest.raises(DataError) as err:
            resolve_in_roots(text)
        messages.append(str(err.value).replace(text, "PATH"))
    assert len(set(messages)) == 1  # the same words whether or not the path exists
    assert messages[0].startswith("PATH: is not inside the app's data folders (")
    assert str(user_data.resolve()) in messages[0] and str(ROOT / "sample_data") in messages[0]
    monkeypatch.setenv("DLSTUDIO_DATA_ROOTS", str(tmp_path / "extra"))
    assert resolve_in_roots(str(tmp_path / "extra")) == (tmp_path / "extra").resolve()


def test_user_path_shows_one_error_and_gives_none_outside_the_roots(monkeypatch):
    from ui import uploads

    shown = []
    monkeypatch.setattr(uploads.st, "error", shown.append)
    assert uploads.user_path("") is None and uploads.user_path(None) is None and shown == []
    assert uploads.user_path("/etc") is None and len(shown) == 1 and "not inside the app's data folders" in shown[0]
    inside = Path(os.environ["DLSTUDIO_USER_DATA"]) / "mine"
    assert uploads.user_path(str(inside)) == str(inside.resolve()) and len(shown) == 1


# ---------------------------------------------------------------- 6. listening address


def test_the_app_serves_on_localhost_unless_told_otherwise():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["browser"]["gatherUsageStats"] is False
    assert '--server.address "${DLSTUDIO_ADDRESS:-127.0.0.1}"' in (ROOT / "scripts" / "start.sh").read_text()


# ---------------------------------------------------------------- 7. device files, odd archives, absurd values


@pytest.mark.parametrize("task,device", [("image", "/dev/zero"), ("speech", "/dev/urandom"), ("recsys", "/dev/zero")])
def test_a_device_file_as_data_is_a_clear_error_not_a_hang(tmp_path, capsys, task, device):
    assert main(["train", task, "--data", device, "--runs", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert f"error: {device}: not a regular file or folder (a device, pipe or socket)" in err


def test_a_zip_holding_a_file_and_a_folder_of_the_same_name_is_refused(tmp_path):
    archive = tmp_path / "clash.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("data/a", b"a file")
        zf.writestr("data/a/x.png", b"a file in a folder of the same name")
    with pytest.raises(DataError, match=r"^clash.zip: 'data/a' is both a file and a folder in this archive$"):
        open_data_path(archive)
    assert cache_entries() == []


ROWS = "".join(f"{u},{i},4,{1000 + u * 10 + i}\n" for u in range(1, 4) for i in range(1, 5))


@pytest.mark.parametrize(
    "bad,message",
    [
        ("3,9,inf,2000", "line 15: rating 'inf' is not a finite number"),
        ("3,9,1e300,2000", "line 15: rating '1e300' is out of range (beyond ±1,000,000)"),
        ("3,9,4,yesterday", "line 15: timestamp 'yesterday' is not a number or a date"),
        ("3,9,4,-inf", "line 15: timestamp '-inf' is not a finite number"),
    ],
)
def test_absurd_ratings_and_timestamps_are_refused_naming_the_line(tmp_path, bad, message):
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating,timestamp\n" + ROWS + "\n" + bad + "\n")  # line 14 is blank
    with pytest.raises(DataError, match=r"^r\.csv: ") as err:
        read_interactions(path)
    assert message in str(err.value)


# ---------------------------------------------------------------- 8. splits that cannot measure anything


def image_folders(root: Path, layout: dict[str, int]) -> Path:
    """`layout` maps 'split/class' (or 'class') to a count of small images."""
    rng = np.random.default_rng(0)
    for folder, count in layout.items():
        (root / folder).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / folder / f"{i}.png")
    return root


def test_test_classes_never_seen_in_training_are_refused(tmp_path):
    root = image_folders(tmp_path / "set", {"train/a": 4, "train/b": 4, "test/c": 2, "test/d": 2})
    message = "set: test/ holds class(es) c, d that train/ lacks; a model cannot learn a class it never sees"
    with pytest.raises(DataError, match=f"^{re.escape(message)}"):
        index_folder(root)


def test_a_class_missing_from_the_test_split_is_named_in_the_split_note(tmp_path):
    from core.tasks.image import load_folder

    root = image_folders(tmp_path / "set", {"train/a": 8, "train/b": 8, "train/c": 1, "test/a": 2, "test/b": 2})
    note = load_folder(root).split_note
    assert "warning: no test examples of c, so accuracy on them is not measured" in note


def test_a_speech_class_missing_from_the_test_split_is_named_in_the_split_note(tmp_path):
    from core.tasks.speech import load_folder

    for folder, count in {"train/yes": 8, "train/no": 8, "train/up": 1, "test/yes": 2, "test/no": 2}.items():
        (tmp_path / "words" / folder).mkdir(parents=True)
        for i in range(count):
            with wave.open(str(tmp_path / "words" / folder / f"clip{i}.wav"), "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
                w.writeframes(np.zeros(1600, np.int16).tobytes())
    note = load_folder(tmp_path / "words", group_by="none").split_note
    assert "warning: no test examples of up, so accuracy on them is not measured" in note


def test_a_ratings_file_of_one_user_is_refused(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("".join(f"7,{i},4\n" for i in range(20)))
    with pytest.raises(DataError, match=r"^one\.csv: only one user; needs at least 2 users"):
        read_interactions(path)
