"""Keyword spotting on a stream: smoothing, detection, refractory time, matching, false alarms per hour, stream
synthesis, sliding the model, and `python -m core calibrate` on a tiny trained run."""

import json

import numpy as np
import pytest
import torch
from scipy.stats import chi2
from torch import nn

from core.models import get_model
from core.tasks.speech_calibration import (
    GAP_SECONDS,
    NOISE_RMS,
    noise_bed,
    pink_noise,
    real_time_factor,
    synthesize_stream,
)
from core.tasks.speech_streaming import (
    Detection,
    Placed,
    detect,
    in_words,
    load_stream,
    match,
    poisson_rate_ci95,
    smooth,
    spectrogram_windows,
    stream_posteriors,
)

HOP = 0.1
YES, NO, SILENCE = 0, 1, 2


def bump(times, centre, height, width=0.2):
    return height * np.exp(-0.5 * ((times - centre) / width) ** 2)


def posteriors(bumps, seconds=10.0):
    """(times, probs) with class YES / NO posteriors shaped as the given (class, centre, height) bumps."""
    times = np.arange(0, seconds, HOP)
    probs = np.zeros((len(times), 3))
    for label, centre, height in bumps:
        probs[:, label] += bump(times, centre, height)
    probs[:, SILENCE] = 1 - probs[:, :2].sum(1)
    return times, probs


def test_smoothing_keeps_a_constant_and_spreads_an_impulse_evenly():
    probs = np.zeros((9, 2)) + [0.25, 0.75]
    assert np.allclose(smooth(probs, 3), probs)
    probs[4] = [1.0, 0.0]
    out = smooth(probs, 3)
    assert np.allclose(out[3:6, 0], 0.25 + 0.75 / 3) and np.allclose(out[[2, 6], 0], 0.25)
    assert np.allclose(out.sum(1), 1)  # still a distribution
    assert smooth(probs, 1) is probs


def test_detection_fires_once_per_bump_at_its_peak_with_its_keyword():
    times, probs = posteriors([(YES, 2.0, 0.9), (NO, 5.0, 0.8), (YES, 8.0, 0.3)])
    found = detect(times, probs, [YES, NO], threshold=0.5, refractory=1.0)
    assert [(d.label, round(d.time, 1)) for d in found] == [(YES, 2.0), (NO, 5.0)]
    assert found[0].score == pytest.approx(0.9)
    assert detect(times, probs, [NO], 0.5, 1.0)[0].label == NO  # only the keywords asked for
    assert detect(times, probs, [], 0.5, 1.0) == []


def test_a_higher_threshold_only_removes_detections():
    rng = np.random.default_rng(0)
    times = np.arange(0, 60, HOP)
    probs = smooth(rng.dirichlet([0.3, 0.3, 1.0], len(times)), 3)
    previous = None
    for threshold in np.arange(0.05, 1.0, 0.05):
        found = {(d.time, d.label) for d in detect(times, probs, [YES, NO], threshold, 1.0)}
        assert previous is None or found <= previous
        previous = found


def test_refractory_time_keeps_one_detection_per_word():
    # one word whose posterior wobbles: two peaks 0.4 s apart, both over the threshold
    times, probs = posteriors([(YES, 3.0, 0.9), (YES, 3.4, 0.7)])
    probs[:, YES] = np.maximum(bump(times, 3.0, 0.9, 0.1), bump(times, 3.4, 0.7, 0.1))
    assert len(detect(times, probs, [YES], 0.5, refractory=1.0)) == 1
    assert len(detect(times, probs, [YES], 0.5, refractory=0.1)) == 2


def test_matching_counts_hits_misses_and_false_alarms():
    truth = [
        Placed(YES, 1.0, 2.0, True, 0),
        Placed(NO, 4.0, 5.0, True, 1),
        Placed(SILENCE + 1, 7.0, 8.0, False, 2),  # another word: no keyword
        Placed(YES, 10.0, 11.0, True, 3),
    ]
    found = [
        Detection(1.5, YES, 0.9),  # hit
        Detection(1.8, YES, 0.9),  # the same word again: a false alarm
        Detection(4.5, YES, 0.9),  # the wrong keyword inside "no": a false alarm, and "no" is missed
        Detection(7.5, NO, 0.9),  # fires on another word
        Detection(9.0, YES, 0.9),  # in the background
        Detection(11.0, YES, 0.9),  # at the very end of the last keyword's span: a hit
    ]
    hit, false_alarms = match(found, truth)
    assert hit.tolist() == [True, False, True] and false_alarms == [found[i] for i in (1, 2, 3, 4)]
    assert in_words(false_alarms, truth) == 3  # all but the one in the background
    hit, false_alarms = match([], truth)
    assert hit.tolist() == [False] * 3 and false_alarms == []


def test_false_alarm_interval_is_garwoods_exact_poisson_interval():
    assert poisson_rate_ci95(0, 1.0) == pytest.approx([0.0, -np.log(0.025)])  # 3.689: the rule of three, exactly
    assert poisson_rate_ci95(5, 1.0) == pytest.approx([1.6235, 11.6683], abs=1e-4)  # Garwood's table
    assert poisson_rate_ci95(5, 0.5) == pytest.approx([3.2470, 23.3366], abs=1e-3)  # per hour over half an hour
    k = 40
    assert poisson_rate_ci95(k, 2.0)[1] == pytest.approx(chi2.ppf(0.975, 2 * k + 2) / 4)


def test_pink_noise_has_unit_rms_and_falling_power():
    noise = pink_noise(160_000, np.random.default_rng(0))
    assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0)
    power = np.abs(np.fft.rfft(noise)) ** 2
    freqs = np.fft.rfftfreq(len(noise), 1 / 16_000)
    low, high = power[(freqs > 100) & (freqs < 200)].mean(), power[(freqs > 1000) & (freqs < 2000)].mean()
    assert 5 < low / high < 20  # 1/f: ten times the frequency, a tenth of the power


def test_noise_from_recordings_has_unit_rms_and_no_seams():
    rng = np.random.default_rng(0)
    recordings = [np.full(16_000, 0.3, np.float32) + 0.01 * rng.standard_normal(16_000).astype(np.float32)] * 3
    bed = noise_bed(80_000, rng, recordings)
    assert len(bed) == 80_000 and np.sqrt(np.mean(bed**2)) == pytest.approx(1.0, rel=1e-3)
    assert np.abs(np.diff(bed)).max() < 0.2  # Hann windows at half overlap sum to one: a constant stays constant


def test_synthesized_stream_places_each_clip_at_its_stated_time_and_snr():
    rate, length = 16_000, 16_000
    rng = np.random.default_rng(0)
    clips = np.zeros((4, length), np.float32)
    t = np.arange(4000) / rate
    for i in range(4):  # a tone burst in the middle of each clip, each its own pitch
        clips[i, 6000:10000] = 0.3 * np.sin(2 * np.pi * (300 + 200 * i) * t)
    labels = np.array([YES, NO, YES, 5])
    wave, placed = synthesize_stream(clips, labels, {YES, NO}, 40.0, 20.0, rate, rng)
    assert len(wave) == 40 * rate and len(placed) >= 8
    assert [p.keyword for p in placed] == [int(labels[p.clip]) in (YES, NO) for p in placed]
    assert {p.clip for p in placed[:4]} == {0, 1, 2, 3}  # each clip once before any comes again
    for before, after in zip(placed, placed[1:]):
        assert GAP_SECONDS[0] - 1e-3 <= after.start - before.end <= GAP_SECONDS[1]
    for p in placed:
        assert p.end - p.start == pytest.approx(1.0) and p.label == labels[p.clip]
        part = wave[round(p.start * rate) : round(p.end * rate)].astype(np.float64)
        burst = part[6000:10000]
        corr = np.corrcoef(burst, clips[p.clip, 6000:10000])[0, 1]
        assert corr > 0.99  # the clip is where the stream says, not shifted
        assert 10 * np.log10(np.mean(burst**2) / NOISE_RMS**2) == pytest.approx(20.0, abs=0.5)
    gap = wave[round(placed[0].end * rate) : round(placed[1].start * rate)]
    assert np.sqrt(np.mean(gap**2)) == pytest.approx(NOISE_RMS, rel=0.3)


class Marker(nn.Module):
    """Class 0's logit is the window's energy at its centre: it sees a click when the click is mid-window."""

    def forward(self, x):
        mid = x.shape[1] // 2
        energy = x[:, mid - 400 : mid + 400].pow(2).sum(1)
        return torch.stack([100 * energy, torch.zeros_like(energy)], 1)


def test_sliding_the_model_times_each_posterior_at_its_windows_centre():
    rate = 16_000
    wave = np.zeros(5 * rate, np.float32)
    wave[int(3.2 * rate)] = 1.0
    times, probs = stream_posteriors(Marker(), wave, rate, 1600, rate, batch=7)
    assert len(times) == 51 and times[1] == pytest.approx(0.1)  # centres from 0 to the end, every hop
    assert times[probs[:, 0].argmax()] == pytest.approx(3.2)
    assert np.allclose(probs.sum(1), 1)


def test_real_time_factor_is_the_streams_length_over_the_time_taken():
    rtf = real_time_factor(Marker(), 16_000, 16_000, 0.1, seconds=5.0)
    assert rtf["seconds_audio"] == 5.0 and rtf["times_real_time"] == pytest.approx(5.0 / rtf["seconds_taken"])


def test_windows_cut_from_the_streams_log_mel_are_each_windows_own():
    rate, window, hop = 16_000, 16_000, 1600
    model = get_model("speech", "cnn", num_classes=3, sample_rate=rate, clip_samples=window).eval()
    wave = torch.from_numpy(0.1 * pink_noise(4 * rate, np.random.default_rng(1)))
    shared = spectrogram_windows(model, wave, window, hop)
    own = model.spectrogram(wave.unfold(0, window, hop).contiguous())
    assert shared.shape == own.shape == (31, 40, 101)
    assert torch.allclose(shared[:, :, 2:-2], own[:, :, 2:-2], atol=1e-3)  # the end frames hear real neighbours
    assert spectrogram_windows(model, wave, window, 1000) is None  # not a whole number of 10-ms frames
    assert spectrogram_windows(Marker(), wave, window, hop) is None  # no log-mel front end of its own
    _, fast = stream_posteriors(model, wave.numpy(), window, hop, rate)
    _, plain = stream_posteriors(model, wave.numpy(), window, hop, rate, shared=False)
    assert np.abs(fast - plain).max() < 0.02


def test_a_stream_is_read_at_the_models_rate_and_a_too_long_one_is_refused(tmp_path):
    import soundfile as sf

    from core.data import DataError

    stereo = np.stack([np.sin(np.arange(44_100 * 3) / 10), np.zeros(44_100 * 3)], 1).astype(np.float32)
    sf.write(tmp_path / "talk.wav", stereo, 44_100)
    wave = load_stream(str(tmp_path / "talk.wav"), "talk.wav", 16_000)
    assert wave.dtype == np.float32 and len(wave) == 48_000  # mixed to mono, resampled
    with pytest.raises(DataError, match="talk.wav: 3 s long; Listen takes up to 2 s"):
        load_stream(str(tmp_path / "talk.wav"), "talk.wav", 16_000, max_seconds=2)


def test_cli_calibrate_prints_the_curve_as_json(tmp_path, capsys):
    from core.cli import main
    from core.run.config import make_config
    from core.run.experiment import run_experiment
    from core.run.store import RunStore

    store = RunStore(tmp_path / "runs")
    config = make_config("speech", "cnn", epochs=1, max_batches=2, baseline=False)
    run_id = run_experiment(config, store).run_id
    args = ["calibrate", run_id, "--runs", str(tmp_path / "runs"), "--hours", "0.01", "--snr", "20"]
    assert main([*args, "--keywords", "yes,no", "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert "false rejections" in out and result["run_id"] == run_id and result["split"] == "test"
    assert result["keywords"] == ["yes", "no"] and result["hours"] == 0.01 and result["snr_db"] == 20
    assert result["noise"].startswith("the test split's _silence_ clips")
    assert result["keywords_placed"] >= 1 and result["other_words_placed"] >= 1
    curve = result["curve"]
    assert [r["threshold"] for r in curve] == sorted(r["threshold"] for r in curve)
    alarms = [r["false_alarms"] for r in curve]
    assert alarms == sorted(alarms, reverse=True)  # a higher threshold only removes detections
    for row in curve:
        assert row["frr_ci95"][0] <= row["frr"] <= row["frr_ci95"][1]
        assert row["fa_per_hour"] == pytest.approx(row["false_alarms"] / 0.01)
        assert 0 <= row["false_alarms_in_words"] <= row["false_alarms"]
        assert row["fa_per_hour_ci95"][0] <= row["fa_per_hour"] <= row["fa_per_hour_ci95"][1]
    assert result["operating_point"]["threshold"] == 0.5 and result["times_real_time"] > 0
    assert main([*args, "--keywords", "maybe"]) == 2
    assert "maybe not among the classes" in capsys.readouterr().err
    assert main(["calibrate", "nope", "--runs", str(tmp_path / "runs")]) == 2
