"""Hostile input, third pass (issue 23): odd sample rates, memory limits other than the machine's, addresses and
peers that never answer, files that are not what they seem, numbers that overflow, a full disk and a store we may
not write. Markdown from strangers is tests/pages/test_strangers_text.py; the job queue's bounds and the sidebar's keys,
tests/exec/test_job_control.py. Memory is measured in a fresh interpreter (tests/data/test_hostile.py's `measured`)."""

import os
import re
import wave
from pathlib import Path

import numpy as np
import pytest

from core.data.audio import resampling_note
from core.run.settings import RunConfig
from core.run.store import RunStoreError
from tests.data.test_hostile import measured


def write_wav(path, rate: int, seconds: float = 1.0, amplitude: float = 0.5):
    t = np.arange(int(rate * seconds)) / rate
    samples = (amplitude * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


# ---------------------------------------------------------------- 1. sample rates that share no factor with 16 kHz


@pytest.mark.parametrize("rate", [8001, 16001, 44101])
def test_a_clip_at_an_odd_sample_rate_resamples_in_bounded_memory_and_time(tmp_path, rate):
    clip = write_wav(tmp_path / f"odd{rate}.wav", rate)
    out = measured(f"""
        import time
        import numpy as np
        from core.data.audio import load_clip
        start()
        began = time.perf_counter()
        x = load_clip({str(clip)!r})
        seconds = time.perf_counter() - began
        spectrum = np.abs(np.fft.rfft(x))
        done(seconds=seconds, shape=list(x.shape), peak_hz=float(np.argmax(spectrum)))
    """)
    # torchaudio's kernel for the exact ratio was 2-2.8 GB (8,001 Hz: 11 s; 16,001 and 44,101 Hz: out of memory)
    assert out["growth_mb"] < 100 and out["seconds"] < 2, out
    assert out["shape"] == [16000] and out["peak_hz"] == pytest.approx(440, abs=1)  # the tone is where it was


def test_the_split_note_says_which_rates_were_resampled_by_a_near_ratio(tmp_path):
    from core.tasks.speech import load_folder

    for word in ("yes", "no"):
        for i in range(6):
            write_wav(tmp_path / "words" / word / f"clip{i}.wav", 8001 if i == 0 else 16000, seconds=0.2)
    note = load_folder(tmp_path / "words", group_by="none").split_note
    assert note.endswith("; clips at 8,001 Hz as if at 8,000.0 Hz (pitch off by 0.0125%): the nearest ratio of "
                         "small whole numbers, so resampling stays fast")  # fmt: skip
    assert resampling_note([16000, 44100, 22050, 48000, 8000, 11025]) == ""  # common rates resample exactly


# ---------------------------------------------------------------- 2. memory limits other than the machine's


def test_the_memory_pre_checks_read_the_address_space_limit(tmp_path):
    ratings = tmp_path / "big.csv"
    rng = np.random.default_rng(0)
    rows = np.column_stack([rng.integers(0, 20_000, 1_500_000), rng.integers(0, 5_000, 1_500_000)])
    np.savetxt(ratings, np.column_stack([rows, rng.integers(1, 6, len(rows))]), fmt="%d", delimiter=",")
    out = measured(
        f"""
        import contextlib, io, resource
        from core.cli import main
        from core.data import DataError
        from core.models.recsys import SASRec, check_memory
        from core.exec.memory import _status_bytes
        start()
        room = 300 << 20  # 300 MB more address space than the imports took; the machine has far more free
        resource.setrlimit(resource.RLIMIT_AS, (_status_bytes("VmSize") + room, resource.RLIM_INFINITY))
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["train", "recsys", "--data", {str(ratings)!r}, "--model", "pop", "--runs", {str(tmp_path)!r}])
        try:
            check_memory(SASRec, n_users=20_000, n_items=30_000, n_train=1_000_000)
            refused = None
        except DataError as exc:
            refused = str(exc)
        done(code=code, err=err.getvalue(), refused=refused)
    """,
        OMP_NUM_THREADS="1",
        MALLOC_ARENA_MAX="2",
    )  # thread pools started under the limit reserve address space
    # of their own (a 64 MB malloc arena a thread), more than the 300 MB room holds with a thread per core
    # was exit 1 with numpy's _ArrayMemoryError: the pre-check read only the machine's free memory
    # exit 2 naming the limit: by the pre-check ("big.csv: about 2 million rows would need ~0.3 GB ... GB this
    # process may still use") or, when parsing the file already took the room, by the allocation failure's message
    assert out["code"] == 2 and "(the address-space limit, ulimit -v (RLIMIT_AS))" in out["err"]
    assert out["err"].startswith(("error: big.csv: about 2 million rows would need ~0.3 GB", "error: out of memory"))
    assert out["refused"].startswith("SASRec on 20,000 users and 30,000 items would need about ")
    assert "GB this process may still use (the address-space limit, ulimit -v (RLIMIT_AS))" in out["refused"]


def test_an_allocation_that_fails_anyway_exits_2_with_what_it_asked_and_the_limit(monkeypatch, capsys):
    import core.cli

    monkeypatch.setattr(core.cli, "cmd_train", lambda args: np.empty((10**7, 10**7)))  # 800 TB: numpy says no
    assert core.cli.main(["train", "recsys", "--model", "pop"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory: Unable to allocate 728. TiB for an array with shape ")
    assert "GB is left to this process (" in err and err.count("\n") == 1


# ---------------------------------------------------------------- 8. a Ray address nobody answers at


def test_an_unreachable_ray_address_exits_2_naming_it_without_waiting(tmp_path, capsys, monkeypatch):
    import socket
    import time

    from core.cli import main

    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("Ray is already connected in this process")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    silent = socket.socket()  # a host that drops every connection: a full accept queue answers no SYN
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)
    first = socket.create_connection(silent.getsockname(), timeout=1)
    dropped = f"127.0.0.1:{silent.getsockname()[1]}"
    monkeypatch.setenv("DLSTUDIO_RAY_TIMEOUT", "1")
    for address, why in ((closed, "Connection refused"), (dropped, "no answer")):
        began = time.monotonic()
        args = ["train", "image", "--model", "mlp", "--backend", "ray", "--ray-address", address]
        assert main([*args, "--runs", str(tmp_path / "runs")]) == 2  # was over 300 s of Ray's retries
        err = capsys.readouterr().err
        assert time.monotonic() - began < 10 and f"error: no Ray cluster at {address}: {why}" in err, err
        assert "within 1 s" in err and not ray.is_initialized()
    first.close()
    silent.close()


# ---------------------------------------------------------------- 9. multi-machine DDP that waits for peers


def test_a_node_rank_outside_the_machines_is_refused(tmp_path, capsys):
    from core.cli import main

    args = ["train", "image", "--model", "mlp", "--nproc-per-node", "1", "--nnodes", "2", "--node-rank", "5"]
    assert main([*args, "--runs", str(tmp_path / "runs")]) == 2
    assert "error: --node-rank 5 is outside 0 to 1 (--nnodes 2)" in capsys.readouterr().err


def ddp_waiting_for_a_peer(tmp_path, timeout: str):
    """`core train` as node 0 of 2 machines whose peer never comes, in its own process."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--nproc-per-node", "1", "--nnodes", "2", "--node-rank", "0", "--master-port", str(port)]
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "DLSTUDIO_RENDEZVOUS_TIMEOUT": timeout, "TMPDIR": str(temp), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "core", "train", "image", "--model", "mlp", *args, "--runs", str(tmp_path / "runs")]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), temp, port


def test_a_rendezvous_that_never_completes_times_out_with_a_message(tmp_path):
    from core.run.store import RunStore

    proc, temp, port = ddp_waiting_for_a_peer(tmp_path, "15")
    out, err = proc.communicate(timeout=120)  # was: waiting for ever
    assert proc.returncode == 2, err[-2000:]
    assert f"error: the DDP group did not form within 15 s (DLSTUDIO_RENDEZVOUS_TIMEOUT): 2 machines were to meet at " \
           f"127.0.0.1:{port} (this one is --node-rank 0)" in err  # fmt: skip
    (run,) = RunStore(tmp_path / "runs").list()
    assert run["status"] == "failed" and "did not form" in run["error"]
    assert not list(temp.glob("dlstudio-ddp-*"))


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_a_kill_while_waiting_for_peers_ends_at_once_and_cleans_up(tmp_path, sig):
    import signal
    import time

    from core.run.store import RunStore

    proc, temp, _ = ddp_waiting_for_a_peer(tmp_path, "600")
    deadline = time.monotonic() + 60
    while not list(temp.glob("dlstudio-ddp-*/config.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(10)  # torchrun is waiting for the other machine now (3 s was not always enough on a busy machine)
    proc.send_signal(getattr(signal, sig))
    began = time.monotonic()
    proc.communicate(timeout=60)  # was alive 30 s after SIGINT; a kill left dlstudio-ddp-* behind
    assert time.monotonic() - began < 15
    assert not list(temp.glob("dlstudio-ddp-*"))
    if sig == "SIGINT":
        (run,) = RunStore(tmp_path / "runs").list()
        assert proc.returncode == 130 and run["status"] == "cancelled"


def test_a_killed_launchers_temp_folder_is_removed_by_the_next(tmp_path, monkeypatch):
    import subprocess
    import tempfile

    from core.exec.distributed import remove_stale_temporaries

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    killed = subprocess.Popen(["true"])  # a launcher that has ended without cleaning up
    killed.wait()
    for name, pid in (("dlstudio-ddp-killed", killed.pid), ("dlstudio-ddp-alive", os.getpid())):
        (tmp_path / name).mkdir()
        (tmp_path / name / "pid").write_text(str(pid))
    assert remove_stale_temporaries() == 1
    assert [p.name for p in tmp_path.glob("dlstudio-ddp-*")] == ["dlstudio-ddp-alive"]


# ---------------------------------------------------------------- 10. a weights file that is a pipe


def test_weights_naming_a_fifo_is_refused_without_reading_it(tmp_path, capsys):
    import os

    from core.cli import main

    fifo = tmp_path / "weights.pt"
    os.mkfifo(fifo)  # torch.load would wait for a writer for ever
    args = ["train", "image", "--model", "resnet18", "--weights", str(fifo), "--runs", str(tmp_path / "runs")]
    assert main(args) == 2
    message = f"error: {fifo}: not a regular file (a folder, device, pipe or socket); give a weights file (.pt or .pth)"
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------- 11. links out of a data folder


def test_a_link_inside_a_data_folder_to_a_file_outside_is_refused_not_read(tmp_path):
    from PIL import Image

    from core.data import DataError
    from core.data.interactions import find_files
    from core.tasks.image import load_folder

    (tmp_path / "outside").mkdir()
    secret = tmp_path / "outside" / "secret.csv"
    secret.write_text("1,2,SECRET-TOKEN-42\n")
    films = tmp_path / "user_data" / "x"
    films.mkdir(parents=True)
    (films / "ratings.csv").symlink_to(secret)
    with pytest.raises(DataError) as err:
        find_files(films)  # was read: "rating 'SECRET-TOKEN-42' is not a number"
    assert str(err.value) == "x/ratings.csv: a link to a file outside this folder, which is not read; copy the file in"
    assert "SECRET" not in str(err.value)
    photos = tmp_path / "user_data" / "photos"
    for c in ("a", "b"):
        (photos / c).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (8, 8)).save(photos / c / f"{i}.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "outside" / "private.png")
    (photos / "a" / "joined.png").symlink_to(tmp_path / "outside" / "private.png")
    (photos / "b" / "again.png").symlink_to(photos / "b" / "0.png")  # a link within the folder is fine
    with pytest.raises(DataError, match=r"^photos/a/joined.png: a link to a file outside this folder"):
        load_folder(photos)
    (photos / "a" / "joined.png").unlink()
    assert load_folder(photos).class_names == ["a", "b"]


# ---------------------------------------------------------------- 12. numbers that overflow


@pytest.mark.parametrize("value", ["Infinity", "1e999", "-1e999"])
def test_an_infinite_whole_number_option_exits_2_naming_it(tmp_path, capsys, value):
    from core.cli import main

    args = ["train", "image", "--model", "cnn_bn", "--option", f"width={value}", "--runs", str(tmp_path / "runs")]
    assert main(args) == 2  # was an OverflowError traceback (int(inf))
    err = capsys.readouterr().err
    assert re.search(r"error: cnn_bn: width = -?inf is outside \d+ to \d+$", err, re.M), err


# ---------------------------------------------------------------- 13. a full disk


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB file system of its own (tmpfs; needs the right to mount, else skipped)."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a small file system here")
    yield disk
    subprocess.run(["umount", "-l", str(disk)])


def test_a_full_disk_keeps_the_real_error_and_marks_the_run_failed(small_disk):
    from core.run.config import make_config
    from core.run.experiment import run_experiment
    from core.run.store import RunStore
    from core.run.training import Callback

    class FillTheDisk(Callback):  # someone else's download fills the disk while the model trains
        def on_fit_end(self, trainer, status):
            with open(small_disk / "filler", "wb") as f:
                try:
                    while True:
                        f.write(bytes(1 << 16))
                        f.flush()
                except OSError:
                    pass

    store = RunStore(small_disk / "runs")
    config = make_config("image", "cnn", epochs=1, max_batches=1, baseline=False)
    with pytest.raises(RunStoreError) as err:
        run_experiment(config, store, callbacks=[FillTheDisk()])
    assert str(err.value).startswith("could not save the checkpoint ")  # was "run store …: disk I/O error"
    assert "MiB free on that disk" in str(err.value)
    (run,) = store.list()
    assert run["status"] == "failed" and run["error"].startswith("RunStoreError: could not save the checkpoint")


# ---------------------------------------------------------------- 14. samples out of any audio range


def test_out_of_range_samples_are_named_by_file_for_every_model(tmp_path, capsys):
    import soundfile as sf

    from core.cli import main

    for word in ("yes", "no"):
        for i in range(6):
            (tmp_path / "words" / word).mkdir(parents=True, exist_ok=True)
            loud = 1e30 if (word, i) == ("no", 3) else 0.5
            sf.write(tmp_path / "words" / word / f"clip{i}.wav", np.full(1600, loud, np.float32), 16000, "FLOAT")
    args = ["train", "speech", "--data", str(tmp_path / "words"), "--model", "logreg", "--runs", str(tmp_path / "r")]
    assert main(args) == 2  # was scikit-learn's "Input X contains NaN" for logreg
    err = capsys.readouterr().err
    assert "error: no/clip3.wav: samples reach 1e+30, out of range (audio is within ±1; over ±1,000 is refused)" in err


# ---------------------------------------------------------------- 15. zip entries whose names no disk takes


@pytest.mark.parametrize(
    "entry,message",
    [
        ("data/" + "n" * 300 + "/0.png", "has a name of 300 bytes, over the 255 a file or folder name may have"),
        ("/".join(["d"] * 3000) + "/0.png", "is 3001 levels deep, over the limit of 32"),
    ],
)
def test_a_zip_entry_too_long_or_too_deep_is_refused_briefly_without_a_server_path(tmp_path, capsys, entry, message):
    import zipfile

    from core.cli import main
    from core.data import DataError
    from core.data.archive import extraction_cache
    from core.data.folders import open_data_path

    archive = tmp_path / "odd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(entry, b"x")
    with pytest.raises(DataError) as err:
        open_data_path(archive)
    text = str(err.value)  # was "[Errno 36] File name too long: '<the cache folder>/…'", 6 KB
    assert text.startswith("odd.zip: entry '") and text.endswith(message) and len(text) < 200, text
    assert str(extraction_cache().resolve()) not in text and str(tmp_path) not in text
    assert main(["train", "image", "--data", str(archive), "--runs", str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {text}"


def test_an_entry_the_disk_refuses_is_named_without_a_server_path(tmp_path, monkeypatch):
    import errno
    import zipfile

    from core.data import DataError
    from core.data.archive import extract_zip

    archive = tmp_path / "odd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("data/a/0.png", b"x")

    mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):  # as a path over the system's limit is refused
        if self.name != "a":
            return mkdir(self, *args, **kwargs)
        raise OSError(errno.ENAMETOOLONG, "File name too long", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(DataError, match=r"^odd.zip: entry 'data/a/0.png' cannot be unpacked \(File name too long\)$"):
        extract_zip(archive, tmp_path / "out")


# ---------------------------------------------------------------- 16. a run store we may not write


@pytest.fixture
def read_only():
    """Make paths read-only for this process, root included (chmod, and the immutable attribute when root)."""
    import os
    import shutil
    import subprocess

    made = []

    def make(*paths):
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
            root = os.geteuid() == 0  # chmod does not stop root; the immutable attribute does
            if root and (not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(path)]).returncode):
                pytest.skip("root, and no chattr +i here: cannot make a folder read-only")
            made.append(path)

    yield make
    for path in made:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)])
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_a_read_only_run_store_can_be_listed_and_shown(tmp_path, capsys, read_only):
    from core.cli import main
    from core.run.store import RunStore

    store = RunStore(tmp_path / "runs")
    run_id = store.create("image", RunConfig(task="image", model="mlp", dataset="digits"), status="running")
    store.finish(run_id, "finished", {"accuracy": 0.9}, {}, 1.0)
    read_only(tmp_path / "runs" / "runs.db", tmp_path / "runs" / run_id, tmp_path / "runs")
    with pytest.raises(RunStoreError, match="is read-only"):
        RunStore(tmp_path / "runs")  # a store to write to must be writable ...
    assert main(["runs", "--runs", str(tmp_path / "runs")]) == 0  # ... one to read need not be
    assert run_id in capsys.readouterr().out
    assert main(["show", run_id, "--runs", str(tmp_path / "runs")]) == 0
    assert f"run {run_id}" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted([".reserve", "runs.db", run_id])  # no more
