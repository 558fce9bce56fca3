"""Speech: features against torchaudio, odd audio files through the loader, every model's shapes and learning."""

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.transforms as T

from core.data import DataError
from core.data.audio import CLIP_SAMPLES, decode, fit_window, load_clip, recording_counts, save_recording
from core.models import freeze_backbone, get_model, get_spec, list_models
from core.models.speech import MFCC, LogMel, SpecAugment, warp_frequency
from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.settings import RunConfig
from core.run.store import RunStore
from core.tasks import get_task, load_run_model
from core.tasks.speech import (
    add_noise,
    clip_features,
    heard_logmel,
    load_bundled,
    load_folder,
    make_augment,
    prepare_clip,
    sound_span,
    spec_augment_options,
    spectrogram_saliency,
    speed_perturb,
    time_shift,
)

SR = 16_000
MODELS = list_models("speech")
# trained from scratch in seconds; the pretrained encoders (95 M parameters) are in tests/models/test_pretrained.py
SMALL = [m for m in MODELS if get_spec("speech", m).pretrained is None]
SKLEARN = [m for m in MODELS if get_spec("speech", m).closed_form]  # fitted by scikit-learn


def tone(seconds: float = 1.0, rate: int = SR, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def make_folder(root: Path, classes=("low", "high"), per_class: int = 8, rate: int = SR) -> Path:
    """Two tone 'words' at different pitches and onsets, so every model can tell them apart."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            wave = np.zeros(rate, np.float32)
            start = int(rng.integers(0, rate // 2))
            burst = tone(0.3, rate, 300.0 * (c + 1) * (1 + 0.05 * i))
            wave[start : start + len(burst)] = burst
            wave += rng.normal(0, 0.01, rate).astype(np.float32)
            sf.write(root / name / f"{name}_{i}.wav", wave, rate)
    return root


# --- features -------------------------------------------------------------------------------------


def test_log_mel_matches_torchaudio():
    wave = torch.from_numpy(tone())
    ours = LogMel(SR)(wave[None])
    ref = T.MelSpectrogram(SR, n_fft=512, win_length=480, hop_length=160, n_mels=40)(wave[None])
    assert ours.shape == (1, 40, 101)
    torch.testing.assert_close(ours, torch.log(ref + 1e-6))


def test_mfcc_matches_torchaudio():
    wave = torch.from_numpy(tone(freq=1000.0))[None]
    ours = MFCC()(LogMel(SR)(wave))
    melkwargs = {"n_fft": 512, "win_length": 480, "hop_length": 160, "n_mels": 40}
    ref = T.MFCC(SR, n_mfcc=20, log_mels=True, melkwargs=melkwargs)(wave)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


def test_clip_features_for_display_are_the_models_features():
    wave = tone()
    feats = clip_features(wave)
    assert feats["logmel"].shape == (40, 101) and feats["mfcc"].shape == (20, 101)
    model = get_model("speech", "cnn", num_classes=2, sample_rate=SR, clip_samples=SR)
    np.testing.assert_allclose(model.spectrogram(torch.from_numpy(wave)[None])[0].detach().numpy(), feats["logmel"])


@pytest.mark.parametrize("name", ["svm", "crnn_attention"])
def test_models_of_8_khz_recordings_spend_their_mel_bands_below_4_khz(name):
    # 8 kHz recordings resampled to 16 kHz hold nothing above 4 kHz: every band goes below it, none to silence
    meta = {"sample_rate": SR, "source_rate": 8_000, "clip_samples": SR, "class_names": ["a", "b"]}
    task = get_task("speech")
    model = task.build_model(make_config("speech", name), meta)
    high, low = torch.from_numpy(tone(freq=6000.0))[None], torch.from_numpy(tone(freq=1000.0))[None]
    silent = torch.log(torch.tensor(1e-6))
    with torch.no_grad():
        inner = slice(3, -3)  # the frames at the ends hear the tone start and stop: a click, in every band
        assert model.spectrogram(high)[..., inner].max() < silent + 0.1  # 6 kHz is in no band (but a window's leak)
        assert (model.spectrogram(low) > 0).any()
        full = task.build_model(make_config("speech", name), meta | {"source_rate": SR}).spectrogram(high)
    assert (full[..., inner] > 0).any()  # recordings made at 16 kHz keep the whole band
    np.testing.assert_allclose(clip_features(tone(freq=1000.0), SR, 4_000.0)["logmel"], model.spectrogram(low)[0])
    # what the pages draw: the model's own filterbank; the whole band when there is no model
    np.testing.assert_allclose(heard_logmel(model, tone(freq=1000.0)), model.spectrogram(low)[0])
    np.testing.assert_allclose(heard_logmel(None, tone(freq=1000.0)), clip_features(tone(freq=1000.0))["logmel"])


@pytest.mark.parametrize("name", [m for m in SMALL if m not in SKLEARN])
def test_the_models_ignore_the_recording_level(name):
    # a louder clip shifts the whole log-mel by a constant; every network subtracts each clip's mean first
    noise = torch.from_numpy(np.random.default_rng(0).normal(0, 0.2, SR).astype(np.float32))[None]
    torch.manual_seed(0)
    model = get_model("speech", name, num_classes=3, sample_rate=SR, clip_samples=SR).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(noise), model(noise * 0.1), rtol=1e-3, atol=1e-3)


def test_chart_builders_for_clips():
    from core.views.charts import spectrogram_figure, waveform_figure

    wave = np.zeros(SR, np.float32)
    wave[1234] = 0.9  # one click: the envelope must keep it
    fig = waveform_figure(wave, SR)
    assert max(fig.data[0].y) == pytest.approx(0.9) and len(fig.data[0].y) <= 4000
    assert fig.data[0].x[-1] < 1.0
    spec = clip_features(tone())["logmel"]
    assert len(spectrogram_figure(spec, 0.01).data) == 1
    overlay = spectrogram_figure(spec, 0.01, saliency=np.random.default_rng(0).random(spec.shape))
    assert len(overlay.data) == 2 and overlay.data[1].zmax == 1


def test_spec_augment_masks_only_in_training():
    spec = torch.randn(4, 40, 101)
    aug = SpecAugment(time_mask=20, freq_mask=10)
    assert torch.equal(aug.eval()(spec), spec)
    torch.manual_seed(0)
    masked = aug.train()(spec)
    assert masked.shape == spec.shape and not torch.equal(masked, spec)
    mean = spec.mean(dim=(1, 2), keepdim=True).expand_as(spec)
    changed = ~torch.isclose(masked, spec, atol=1e-5)  # (spec - mean) + mean rounds the rest
    torch.testing.assert_close(masked[changed], mean[changed])  # masks hold each clip's mean


def test_frequency_warp_moves_a_formant_by_the_factor_and_only_in_training():
    spec = torch.zeros(64, 40, 5)
    spec[:, 20, :] = 1.0  # one formant at bin 20 of every clip
    torch.manual_seed(0)
    warped = warp_frequency(spec, 0.2)
    assert warped.shape == spec.shape
    centre = (warped[:, :, 0] * torch.arange(40)).sum(1) / warped[:, :, 0].sum(1)  # where the formant went
    assert centre.min() >= 20 * 0.8 - 0.5 and centre.max() <= 20 * 1.2 + 0.5  # within 1 ± 0.2 of bin 20
    assert centre.max() - centre.min() > 4  # higher and lower voices, not one
    assert torch.equal(warp_frequency(spec, 0.0), spec)
    aug = SpecAugment(freq_warp=0.2)
    assert torch.equal(aug.eval()(spec), spec) and not torch.equal(aug.train()(spec), spec)
    assert spec_augment_options({"freq_warp": 0.1}) == {"time_mask": 0, "freq_mask": 0, "freq_warp": 0.1}
    assert spec_augment_options({"time_mask": 0, "freq_warp": 0.0}) is None


# --- augmentation ---------------------------------------------------------------------------------


def test_noise_is_added_at_the_asked_snr():
    x = torch.from_numpy(np.stack([tone(amp=0.5), tone(amp=0.05)]))
    noisy = add_noise(x, 10.0, torch.Generator().manual_seed(0))
    noise = noisy - x
    snr = 10 * torch.log10(x.pow(2).mean(1) / noise.pow(2).mean(1))
    torch.testing.assert_close(snr, torch.tensor([10.0, 10.0]), rtol=0, atol=1e-3)


def test_noise_stays_in_the_recordings_band_and_off_the_padding():
    """8 kHz recordings padded to a 16 kHz second: noise only below 4 kHz and only where the recording is."""
    x = torch.zeros(2, SR)
    x[:, 4000:12000] = torch.from_numpy(tone(0.5, SR, 300.0))
    span = sound_span(x)
    assert span[:, 4010:11990].all() and not span[:, :3990].any() and not span[:, 12010:].any()
    noisy = add_noise(x, 10.0, torch.Generator().manual_seed(0), band=0.5, span=span)
    noise = noisy - x
    assert noise[:, :4000].abs().max() == 0 and noise[:, 12000:].abs().max() == 0
    power = torch.fft.rfft(noise).abs().pow(2)
    assert power[:, 4001:].sum() < 1e-3 * power.sum()  # above 4 kHz only the edges' leakage (full band: 8%)
    inside = x[:, 4000:12000].pow(2).mean(1) / noise[:, 4000:12000].pow(2).mean(1)
    torch.testing.assert_close(10 * torch.log10(inside), torch.tensor([10.0, 10.0]), rtol=0, atol=1e-3)


def test_speed_perturbation_stretches_about_the_centre():
    x = torch.zeros(1, 1001)
    x[0, 400:601] = 1.0  # a 201-sample block in the middle
    assert torch.equal(speed_perturb(x, 0.0, torch.Generator().manual_seed(0)), x)
    lengths = set()
    for seed in range(20):
        out = speed_perturb(x, 0.2, torch.Generator().manual_seed(seed))
        centre = (out * torch.arange(1001)).sum() / out.sum()
        assert out.shape == x.shape and abs(centre.item() - 500) < 1  # stretched about the window's centre
        lengths.add(round((out > 0.5).sum().item() / 10))
    assert min(lengths) <= 18 and max(lengths) >= 22  # faster and slower, up to 20% (201 / 1.2 .. 201 / 0.8)


def test_time_shift_moves_without_wrapping():
    x = torch.zeros(3, 100)
    x[:, 50] = 1.0
    shifted = time_shift(x, 10, torch.Generator().manual_seed(1))
    where = shifted.argmax(1)
    assert ((where >= 40) & (where <= 60)).all() and torch.allclose(shifted.sum(1), torch.ones(3))
    edge = torch.ones(1, 100)
    assert time_shift(edge, 10, torch.Generator().manual_seed(2)).sum() >= 90  # gaps are silence


def test_augment_is_off_by_default_and_keeps_shapes():
    assert make_augment() is None
    aug = make_augment(noise_snr=20.0, shift=0.1, speed=0.1, source_rate=8000)
    x = torch.from_numpy(np.stack([tone()] * 4))
    assert aug(x, torch.Generator().manual_seed(0)).shape == x.shape


# --- odd files through the loader ------------------------------------------------------------------


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_every_wav_sample_format_decodes_to_the_same_clip(tmp_path, subtype):
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, tone(), SR, subtype=subtype)
    clip = load_clip(path)
    assert clip.dtype == np.float32 and clip.shape == (CLIP_SAMPLES,)
    np.testing.assert_allclose(clip, tone(), atol=0.02)


def test_48k_stereo_is_mixed_down_and_resampled(tmp_path):
    left, right = tone(rate=48_000, amp=0.4), tone(rate=48_000, amp=0.2)
    sf.write(tmp_path / "stereo.wav", np.stack([left, right], 1), 48_000, subtype="PCM_24")
    clip = load_clip(tmp_path / "stereo.wav")
    assert clip.shape == (CLIP_SAMPLES,)
    np.testing.assert_allclose(np.abs(clip).max(), 0.3, atol=0.01)


def test_8k_speech_band_audio_is_upsampled(tmp_path):
    sf.write(tmp_path / "phone.wav", tone(rate=8000, freq=300.0), 8000)
    clip = load_clip(tmp_path / "phone.wav")
    spectrum = np.abs(np.fft.rfft(clip))
    assert clip.shape == (CLIP_SAMPLES,) and abs(int(spectrum.argmax()) - 300) <= 1
    make_folder(tmp_path / "mixed", per_class=6, rate=8000)
    sf.write(tmp_path / "mixed" / "low" / "wide.wav", tone(), SR)
    assert load_folder(tmp_path / "mixed").meta["source_rate"] == 8000  # the band the narrowest files hold


def test_the_noise_band_comes_from_the_training_files_only(tmp_path):
    # issue 18 item 7: 8 kHz test files narrowed the training noise band (rates.min() over every split)
    make_folder(tmp_path / "mine" / "train", per_class=8, rate=SR)
    make_folder(tmp_path / "mine" / "test", per_class=3, rate=8000)
    assert load_folder(tmp_path / "mine").meta["source_rate"] == SR


def test_flac_and_ogg_load(tmp_path):
    sf.write(tmp_path / "a.flac", tone(), SR)
    sf.write(tmp_path / "a.ogg", tone(), SR)
    assert load_clip(tmp_path / "a.flac").shape == load_clip(tmp_path / "a.ogg").shape == (CLIP_SAMPLES,)


def test_short_clips_are_centred_and_long_ones_cropped_to_their_loudest_second():
    short = np.ones(8000, np.float32)
    padded = fit_window(short)
    assert padded.shape == (CLIP_SAMPLES,) and padded[:4000].sum() == 0 and padded[4000:12000].all()
    long = np.zeros(48_000, np.float32)
    long[30_000:31_000] = 1.0
    cropped = fit_window(long)
    assert cropped.shape == (CLIP_SAMPLES,) and cropped.sum() == 1000


def bad(path: Path, match: str) -> None:
    with pytest.raises(DataError, match=match) as info:
        load_clip(path)
    assert str(info.value).startswith(path.name)  # the message names the file


def test_a_text_file_named_wav_is_refused(tmp_path):
    (tmp_path / "notes.wav").write_text("this is not audio at all")
    bad(tmp_path / "notes.wav", "not a readable audio file")


def test_an_empty_file_is_refused(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    bad(tmp_path / "empty.wav", "empty")


def test_a_wav_without_samples_is_refused(tmp_path):
    sf.write(tmp_path / "zero.wav", np.zeros(0, np.float32), SR)
    bad(tmp_path / "zero.wav", "no audio samples")


def test_truncated_wavs_are_refused(tmp_path):
    sf.write(tmp_path / "full.wav", tone(), SR)
    raw = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(raw[: len(raw) // 3])
    bad(tmp_path / "cut.wav", "truncated WAV")
    (tmp_path / "header.wav").write_bytes(raw[:30])
    bad(tmp_path / "header.wav", "not a readable audio file")


def test_nan_samples_are_refused(tmp_path):
    wave = tone()
    wave[100] = np.nan
    sf.write(tmp_path / "nan.wav", wave, SR, subtype="FLOAT")
    bad(tmp_path / "nan.wav", "NaN")


def test_a_silent_clip_loads_for_training_but_not_for_prediction(tmp_path):
    sf.write(tmp_path / "silent.wav", np.zeros(SR, np.float32), SR)
    assert not load_clip(tmp_path / "silent.wav").any()
    with pytest.raises(DataError, match="silent.wav: the clip is silent"):
        load_clip(tmp_path / "silent.wav", allow_silent=False)


def test_a_ten_minute_file_is_refused_quickly(tmp_path):
    path = tmp_path / "lecture.wav"
    sf.write(path, np.zeros(8000 * 600, np.int16), 8000, subtype="PCM_16")
    start = time.perf_counter()
    bad(path, "10.0 minutes long")
    assert time.perf_counter() - start < 1.0


def test_a_huge_file_is_refused_before_decoding(tmp_path, monkeypatch):
    monkeypatch.setattr("core.data.audio.MAX_BYTES", 1000)
    sf.write(tmp_path / "big.wav", tone(), SR)
    bad(tmp_path / "big.wav", "over the 0 MB limit")


def test_uploaded_bytes_decode_like_files(tmp_path):
    sf.write(tmp_path / "a.wav", tone(), SR)
    wave, rate = decode((tmp_path / "a.wav").read_bytes(), "upload.wav")
    assert rate == SR and wave.shape == (SR,)
    with pytest.raises(DataError, match="^upload.wav: not a readable audio file"):
        decode(b"RIFF1234WAVEjunk", "upload.wav")


def test_a_bad_file_in_a_folder_names_the_file(tmp_path):
    root = make_folder(tmp_path / "words")
    (root / "low" / "broken.wav").write_bytes(b"RIFF\x00\x00")
    with pytest.raises(DataError, match="low/broken.wav: not a readable audio file"):
        load_folder(root)


# --- data sets ------------------------------------------------------------------------------------


def test_bundled_commands_split_is_stratified():
    data = load_bundled("commands")
    assert data.class_names[0] == "_silence_" and len(data.class_names) == 11
    assert data.meta == {
        "sample_rate": SR,
        "source_rate": SR,
        "clip_samples": SR,
        "class_names": data.class_names,
        "dataset": "commands",
    }
    sizes = {k: len(v) for k, v in data.y.items()}
    assert sum(sizes.values()) == 352 and sizes["test"] > sizes["val"]
    assert torch.bincount(data.y["test"], minlength=11).min() >= 6
    assert len(data.files["test"]) == sizes["test"] and data.files["test"][0].endswith(".wav")
    # held-out voices: no espeak-ng voice (with its variant) speaks in two splits
    voices = {s: {f.split("/")[1].split("_nohash_")[0] for f in files} for s, files in data.files.items()}
    assert not (voices["train"] & voices["test"] or voices["train"] & voices["val"] or voices["val"] & voices["test"])
    assert "grouped by speaker: 161 speakers, none in two splits" in data.split_note


def test_own_folder_with_given_split_and_odd_rates(tmp_path):
    for split in ("train", "test"):
        make_folder(tmp_path / "mine" / split, per_class=8 if split == "train" else 3, rate=8000)
    data = load_folder(tmp_path / "mine")
    assert data.x["train"].shape[1] == SR and len(data.y["test"]) == 6
    assert "your test/ folder" in data.split_note and len(data.y["val"]) >= 1


def test_a_zip_of_a_folder_loads(tmp_path):
    import shutil

    make_folder(tmp_path / "words")
    archive = shutil.make_archive(str(tmp_path / "words"), "zip", tmp_path, "words")
    data = load_folder(archive)
    assert data.class_names == ["high", "low"]


def test_recordings_are_saved_as_a_reusable_dataset(tmp_path):
    raw = (make_folder(tmp_path / "src") / "low" / "low_0.wav").read_bytes()
    root = tmp_path / "user_data" / "speech"
    for name in ("cat", "dog"):
        for _ in range(5):
            path = save_recording(raw, root, "pets", name)
    assert path.name == "clip_5.wav" and sf.info(path).samplerate == SR
    assert recording_counts(root, "pets") == {"cat": 5, "dog": 5}
    assert load_folder(root / "pets").class_names == ["cat", "dog"]
    with pytest.raises(DataError, match="not a usable class name"):
        save_recording(raw, root, "pets", "../escape")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR, np.float32), SR)
    with pytest.raises(DataError, match="silent"):
        save_recording(silent.read_bytes(), root, "pets", "cat")


# --- speakers -------------------------------------------------------------------------------------

WORDS, SPEAKERS = ("yes", "no", "up"), [f"spk{i}" for i in range(6)]


def make_speakers(root: Path, layout: str, takes: int = 2, rate: int = 8000) -> Path:
    """6 speakers x 3 words x `takes` tiny clips, the speaker in the name (nohash, label_speaker_n) or a folder."""
    for w, word in enumerate(WORDS):
        for s, speaker in enumerate(SPEAKERS):
            for n in range(takes):
                wave = tone(0.2, rate, 200.0 * (w + 1) + 10 * s + n)
                name = {"nohash": f"{speaker}_nohash_{n}.wav", "fsdd": f"{word}_{speaker}_{n}.wav"}.get(layout)
                path = root / word / (name or f"{speaker}/take{n}.wav")
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, wave, rate)
    return root


def speakers_per_split(data) -> dict[str, set[str]]:
    from core.data.speakers import speaker_of

    return {
        s: {speaker_of(Path(f), f.split("/")[0]) or Path(f).parent.name for f in files}
        for s, files in data.files.items()
    }


@pytest.mark.parametrize("layout", ["nohash", "fsdd", "folder"])
def test_speakers_read_from_names_or_folders_never_cross_splits(tmp_path, layout):
    root = make_speakers(tmp_path / layout, layout)
    data = load_folder(root, seed=0)
    found = speakers_per_split(data)
    assert set().union(*found.values()) == set(SPEAKERS)
    assert not (found["train"] & found["val"] or found["train"] & found["test"] or found["val"] & found["test"])
    assert all(found[s] for s in ("train", "val", "test"))
    assert "grouped by speaker: 6 speakers, none in two splits" in data.split_note
    # every word in every split: stratified as far as the speakers allow (each speaker says every word)
    assert all(set(data.y[s].tolist()) == {0, 1, 2} for s in data.y)
    assert sum(len(v) for v in data.y.values()) == 36


def test_speech_intervals_and_paired_tests_resample_test_speakers(tmp_path):
    # issue 18 item 6: clips of one speaker are not independent; the note says what was resampled
    from core.eval.metrics import ci95_cluster_accuracy

    data = load_folder(make_speakers(tmp_path / "sc", "nohash", takes=3), seed=0, group_by="none")
    task = get_task("speech")
    model = task.build_model(make_config("speech", "mlp"), data.meta)
    _, details, artifacts = task.evaluate(model, data)
    test_speakers = {f.split("/")[1].split("_nohash_")[0] for f in data.files["test"]}
    assert set(artifacts["groups"]) == {f"speaker:{s}" for s in test_speakers}
    right = artifacts["probs"].argmax(1) == artifacts["y_true"]
    assert details["ci95"]["accuracy"] == ci95_cluster_accuracy(right, artifacts["groups"])
    assert f"95% intervals over the {len(test_speakers)} test speakers" in details["ci95_note"]
    unnamed = load_folder(make_folder(tmp_path / "tones"))
    _, details, artifacts = task.evaluate(task.build_model(make_config("speech", "mlp"), unnamed.meta), unnamed)
    assert "groups" not in artifacts and "Wilson" in details["ci95_note"]


def test_group_by_none_splits_clips_and_speaker_insists(tmp_path):
    root = make_speakers(tmp_path / "sc", "nohash")
    plain = load_folder(root, seed=0, group_by="none")
    assert "speaker" not in plain.split_note
    found = speakers_per_split(plain)
    assert found["train"] & found["test"]  # the leak grouping prevents
    unnamed = make_folder(tmp_path / "tones")
    assert "grouped by speaker" not in load_folder(unnamed).split_note  # auto: no speakers in the names, no grouping
    with pytest.raises(DataError, match="group_by=speaker: no speaker"):
        load_folder(unnamed, group_by="speaker")
    with pytest.raises(ValueError, match="group_by must be one of"):
        load_folder(root, group_by="person")


SPEAKERS_UNREAD = "warning: speakers not found in file names: voices may be in both training and test"


def test_unread_speakers_are_a_warning_in_the_split_note(tmp_path):
    # issue 18 item 10: names such as low_0.wav (or alice_01.wav) silently fell back to a split by clip
    assert SPEAKERS_UNREAD in load_folder(make_folder(tmp_path / "tones")).split_note
    assert SPEAKERS_UNREAD not in load_folder(make_folder(tmp_path / "t2"), group_by="none").split_note  # as asked
    assert SPEAKERS_UNREAD not in load_folder(make_speakers(tmp_path / "sc", "nohash")).split_note


def test_a_speakers_csv_beside_the_data_names_the_speakers(tmp_path):
    root = make_folder(tmp_path / "tones", per_class=12)
    rows = [f"{f.relative_to(root).as_posix()},person{i % 4}" for i, f in enumerate(sorted(root.rglob("*.wav")))]
    (root / "speakers.csv").write_text("file,speaker\n" + "\n".join(rows) + "\n")
    data = load_folder(root, seed=0)
    assert "grouped by speaker: 4 speakers, none in two splits" in data.split_note
    assert SPEAKERS_UNREAD not in data.split_note
    assert set(data.test_speakers) <= {f"speaker:person{i}" for i in range(4)}  # the intervals resample them too


def test_speaker_grouping_is_read_from_the_config_and_carves_val_from_given_train(tmp_path):
    make_speakers(tmp_path / "ds" / "train", "nohash")
    make_speakers(tmp_path / "ds" / "test", "nohash", takes=1)
    for name in SPEAKERS[:2]:  # the test/ folder's speakers are new voices: validation holds out whole speakers
        for p in (tmp_path / "ds" / "train").rglob(f"{name}_*"):
            p.unlink()
    for name in SPEAKERS[2:]:
        for p in (tmp_path / "ds" / "test").rglob(f"{name}_*"):
            p.unlink()
    data = get_task("speech").load_data(RunConfig(task="speech", data=str(tmp_path / "ds"), split_seed=0))
    found = speakers_per_split(data)
    assert not found["train"] & found["val"] and len(data.y["test"]) == 6
    assert "validation: 1/8 of your train/ folder" in data.split_note and "speakers" in data.split_note
    plain = get_task("speech").load_data(
        RunConfig(task="speech", data=str(tmp_path / "ds"), split_seed=0, group_by="none")
    )
    assert "speaker" not in plain.split_note


def test_validation_mirrors_a_test_folder_spoken_by_the_training_speakers(tmp_path):
    """Held-out takes of the same people (the free-spoken-digit split): validation by clip, every voice trains."""
    make_speakers(tmp_path / "ds" / "train", "fsdd", takes=6)
    make_speakers(tmp_path / "ds" / "test", "fsdd", takes=1)
    data = get_task("speech").load_data(RunConfig(task="speech", data=str(tmp_path / "ds"), split_seed=0))
    found = speakers_per_split(data)
    assert found["train"] == set(SPEAKERS) == found["test"]
    assert "by clip, not speaker: your test/ speakers all speak in train/ too" in data.split_note
    assert len(data.y["val"]) + len(data.y["train"]) == 6 * 3 * 6
    insist = get_task("speech").load_data(
        RunConfig(task="speech", data=str(tmp_path / "ds"), split_seed=0, group_by="speaker")
    )
    found = speakers_per_split(insist)
    assert not found["train"] & found["val"] and found["val"]  # "speaker" holds whole speakers out regardless


def make_speech_commands(root: Path) -> Path:
    """A Speech Commands-shaped folder: `<word>/<speaker>_nohash_<n>.wav`, its two split lists, and the
    `_background_noise_/` folder of long noise recordings (over the 60 s a clip may last) and its README."""
    make_speakers(root, "nohash", rate=16_000)
    noise = root / "_background_noise_"
    noise.mkdir()
    sf.write(noise / "white_noise.wav", np.random.default_rng(0).normal(0, 0.1, 61 * 8000).astype(np.float32), 8000)
    (noise / "README.md").write_text("long noise recordings\n")
    (root / "validation_list.txt").write_text("".join(f"{w}/spk4_nohash_{n}.wav\n" for w in WORDS for n in range(2)))
    (root / "testing_list.txt").write_text("".join(f"{w}/spk5_nohash_{n}.wav\n" for w in WORDS for n in range(2)))
    return root


def test_speech_commands_as_downloaded_loads_with_its_own_split(tmp_path):
    root = make_speech_commands(tmp_path / "speech_commands_v0.02")
    data = get_task("speech").load_data(RunConfig(task="speech", data=str(root), split_seed=0))
    assert data.class_names == sorted(WORDS)  # _background_noise_ is no word
    found = speakers_per_split(data)
    assert found == {"train": set(SPEAKERS[:4]), "val": {"spk4"}, "test": {"spk5"}}
    assert sorted(data.files["test"]) == sorted(f"{w}/spk5_nohash_{n}.wav" for w in WORDS for n in range(2))
    note = data.split_note
    assert "validation_list.txt and testing_list.txt name (Speech Commands' own split)" in note
    assert "6 speakers, none in two splits" in note and "_background_noise_/ left out" in note
    for seed in (1, 2):  # the lists decide, not the seed
        assert (
            get_task("speech").load_data(RunConfig(task="speech", data=str(root), split_seed=seed)).files == data.files
        )


def test_split_lists_that_name_none_of_the_files_are_not_used_and_the_note_says_why(tmp_path):
    root = make_speech_commands(tmp_path / "subset")
    (root / "testing_list.txt").write_text("left/abc_nohash_0.wav\n")  # a word this subset left out
    data = get_task("speech").load_data(RunConfig(task="speech", data=str(root), split_seed=0))
    assert "testing_list.txt names none of these files" in data.split_note
    assert "grouped by speaker" in data.split_note and len(data.y["test"]) > 0


def test_split_lists_written_elsewhere_read_the_same(tmp_path):
    """A byte-order mark, Windows line ends and separators, and `./` before a path name the same files."""
    clean = get_task("speech").load_data(
        RunConfig(task="speech", data=str(make_speech_commands(tmp_path / "clean")), split_seed=0)
    )
    root = make_speech_commands(tmp_path / "windows")
    for name in ("validation_list.txt", "testing_list.txt"):
        lines = (root / name).read_text().splitlines()
        text = "\r\n".join(f"./{line}".replace("/", "\\") for line in lines) + "\r\n"
        (root / name).write_bytes(b"\xef\xbb\xbf" + text.encode())
    data = get_task("speech").load_data(RunConfig(task="speech", data=str(root), split_seed=0))
    assert data.files == clean.files and "none in two splits" in data.split_note


def test_one_split_list_alone_is_not_used_and_the_note_says_which_is_missing(tmp_path):
    root = make_speech_commands(tmp_path / "half")
    (root / "validation_list.txt").unlink()
    data = get_task("speech").load_data(RunConfig(task="speech", data=str(root), split_seed=0))
    assert "testing_list.txt not used: validation_list.txt is missing" in data.split_note
    assert "grouped by speaker" in data.split_note


def test_speech_commands_zipped_with_its_readme_and_lists_loads_as_the_folder(tmp_path):
    import shutil

    root = make_speech_commands(tmp_path / "speech_commands_v0.02")
    (root / "README.md").write_text("Speech Commands\n")
    (root / "LICENSE").write_text("CC BY 4.0\n")
    archive = shutil.make_archive(str(tmp_path / "sc"), "zip", tmp_path, "speech_commands_v0.02")
    zipped = get_task("speech").load_data(RunConfig(task="speech", data=archive, split_seed=0))
    folder = get_task("speech").load_data(RunConfig(task="speech", data=str(root), split_seed=0))
    assert zipped.class_names == folder.class_names == sorted(WORDS)
    assert zipped.files == folder.files


def test_folder_loading_reports_progress_and_refuses_too_many_clips_before_decoding(tmp_path, monkeypatch):
    root = make_speakers(tmp_path / "ds", "nohash")  # 36 clips
    heard = []
    data = get_task("speech").load_data(
        RunConfig(task="speech", data=str(root), split_seed=0), lambda d, t: heard.append((d, t))
    )
    assert heard[-1] == (36, 36) and all(t == 36 for _, t in heard) and len(heard) == 36
    assert sum(len(y) for y in data.y.values()) == 36 and data.meta["source_rate"] == 8000
    monkeypatch.setenv("DLSTUDIO_MAX_CLIPS", "35")

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a clip of a folder over the limit")

    monkeypatch.setattr("core.tasks.speech.load_clip_and_rate", no_decoding)
    with pytest.raises(DataError, match=r"ds: 36 clips, more than the limit of 35 \(DLSTUDIO_MAX_CLIPS"):
        load_folder(root)


def test_free_spoken_digit_files_filed_under_word_folders_still_name_their_speakers(tmp_path):
    """`0_jackson_0.wav` in `zero/`: the file's label is the folder's own name for the class."""
    root = make_speakers(tmp_path / "fsdd", "fsdd", takes=2)
    for w, word in enumerate(WORDS):  # yes_spk0_0.wav -> 0_spk0_0.wav, kept in yes/
        for p in (root / word).iterdir():
            p.rename(p.with_name(p.name.replace(f"{word}_", f"{w}_", 1)))
    data = load_folder(root, seed=0)
    found = {s: {Path(f).stem.split("_")[1] for f in files} for s, files in data.files.items()}
    assert "grouped by speaker" in data.split_note and "6 speakers, none in two splits" in data.split_note
    assert not found["train"] & found["test"] and not found["val"] & (found["test"] | found["train"])


def test_too_few_speakers_fall_back_to_clips_under_auto(tmp_path):
    root = tmp_path / "two"
    for word in WORDS:
        for speaker in ("ann", "bob"):
            for n in range(4):
                (root / word).mkdir(parents=True, exist_ok=True)
                sf.write(root / word / f"{speaker}_nohash_{n}.wav", tone(0.2, 8000), 8000)
    assert "not grouped by speaker" in load_folder(root).split_note
    with pytest.raises(DataError, match="group_by=speaker"):
        load_folder(root, group_by="speaker")


# --- models ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [m for m in SMALL if m != "svm"])  # the SVM has support vectors, not a head
def test_model_shapes_and_head(name):
    model = get_model("speech", name, num_classes=5, sample_rate=SR, clip_samples=SR)
    assert model(torch.randn(3, SR) * 0.1).shape == (3, 5)
    assert isinstance(model.head, torch.nn.Linear)
    freeze_backbone(model)
    assert all(n.startswith("head.") for n, p in model.named_parameters() if p.requires_grad)
    if name != "logreg":
        assert sum(p.numel() for p in model.parameters()) < 150_000  # small enough for a CPU in seconds


@pytest.mark.parametrize("name", [m for m in SMALL if m not in SKLEARN])
def test_gradient_models_lower_their_loss(name, tmp_path):
    data = load_folder(make_folder(tmp_path / "w", per_class=12))
    torch.manual_seed(0)
    model = get_model(
        "speech", name, num_classes=2, sample_rate=SR, clip_samples=SR, spec_augment={"time_mask": 5, "freq_mask": 3}
    )
    x, y = data.x["train"], data.y["train"]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        model.train()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_logreg_baseline_fits_with_scikit_learn(tmp_path):
    data = load_folder(make_folder(tmp_path / "w", per_class=12))
    task = get_task("speech")
    config = make_config("speech", "logreg", data=str(tmp_path / "w"))
    model = task.build_model(config, data.meta)
    task.fit_closed_form(model, data, config)
    metrics, details, _ = task.evaluate(model, data)
    assert metrics["accuracy"] == 1.0 and details["class_names"] == ["high", "low"]


def test_svm_baseline_predicts_like_scikit_learns_svc_and_reloads(tmp_path):
    import io

    from sklearn.svm import SVC

    data = load_folder(make_folder(tmp_path / "w", classes=("low", "mid", "high"), per_class=14), group_by="none")
    task, config = get_task("speech"), make_config("speech", "svm", data=str(tmp_path / "w"))
    model = task.build_model(config, data.meta)
    task.fit_closed_form(model, data, config)  # C and gamma chosen on the validation split
    svm = model.svm
    assert float(svm.C) in (1.0, 10.0, 100.0) and len(svm.support_vectors) > 0
    train, every = model.features(data.x["train"]).double().numpy(), torch.cat(list(data.x.values()))
    mean, std = train.mean(0), train.std(0, ddof=1)
    ref = SVC(C=float(svm.C), gamma=float(svm.gamma)).fit((train - mean) / std, data.y["train"].numpy())
    with torch.no_grad():
        ours = model(every).argmax(1).numpy()
    theirs = ref.predict((model.features(every).double().numpy() - mean) / std)
    assert (ours == theirs).mean() >= 0.99
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    again = get_model("speech", "svm", num_classes=3, sample_rate=SR, clip_samples=SR)
    again.load_state_dict(torch.load(buffer, weights_only=True))
    with torch.no_grad():
        assert torch.equal(again(every), model(every))


# --- end to end -----------------------------------------------------------------------------------


def test_run_on_commands_stores_a_model_that_predicts_like_the_run(tmp_path):
    store = RunStore(tmp_path / "runs")
    config = make_config("speech", "cnn", dataset="commands", epochs=1, max_batches=2, device="cpu")
    result = run_experiment(config, store)
    assert result.status == "finished"
    assert {"accuracy", "macro_f1", "parameters", "size_mb", "latency_ms"} <= set(result.metrics)
    art = store.load_artifacts(result.run_id)
    assert art["probs"].shape == (71, 11) and art["mistake_inputs"].shape[1:] == (SR,)
    model, ckpt = load_run_model(store, result.run_id)
    data = load_bundled("commands")
    probs = get_task("speech").predict_proba(model, data.x["test"])
    np.testing.assert_allclose(probs, art["probs"], atol=1e-5)
    assert ckpt["config"]["augment"]["time_mask"] == get_spec("speech", "cnn").augment["time_mask"]


def test_prediction_input_and_saliency(tmp_path):
    sf.write(tmp_path / "say.wav", tone(seconds=1.7, rate=44_100), 44_100)
    meta = {"sample_rate": SR, "clip_samples": SR, "class_names": ["a", "b"], "dataset": "x"}
    x = prepare_clip((tmp_path / "say.wav").read_bytes(), "say.wav", meta)
    assert x.shape == (1, SR)
    for name in ("logreg", "kwt"):
        model = get_model("speech", name, num_classes=2, sample_rate=SR, clip_samples=SR)
        spec, heat = spectrogram_saliency(model, x, 1)
        assert spec.shape == heat.shape == (40, 101) and heat.min() >= 0 and heat.max() == pytest.approx(1.0)
