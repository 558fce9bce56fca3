"""Keyword spotting on a stream: each speech model's real-time factor, and a trained model's calibration.

Run by hand: `.venv/bin/python benchmarks/streaming.py [--threads 2] [--models cnn,dscnn] [--seconds 60]
[--hours 1] [--snr 10] [--calibrate-model crnn_attention] [--no-calibrate] [--no-speed]`.
Prints markdown tables (docs/listen.md holds them).

Real-time factor: how many times faster than real time a model listens to a 60-s stream of pink noise with its
1-s window and the default hop (100 ms) and the short one (50 ms):
core.tasks.speech_calibration.real_time_factor, windows
batched, on `--threads` intra-op threads; weights as built (training changes no cost). The pretrained encoders
are built without their LibriSpeech weights (the same cost, no download). Target: at least 10x for every model at
the default hop on 2 cores.

Calibration: the model `--calibrate-model` trained with its spec defaults on `commands` (split seed 0), then
`python -m core calibrate RUN --hours H --snr S` (core.tasks.speech_calibration): the test split's clips placed in its
`_silence_` recordings, false rejections and false alarms per hour per threshold, with 95% intervals.
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from core.models import get_model, list_models
from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.settings import RunConfig
from core.run.store import RunStore
from core.tasks import get_task, load_run_model
from core.tasks.speech_calibration import calibrate, real_time_factor
from core.tasks.speech_streaming import HOP_RANGE, HOP_SECONDS

TARGET = 10.0  # times faster than real time at the default hop, 2 cores
META = {"num_classes": 11, "sample_rate": 16_000, "clip_samples": 16_000}  # the bundled commands set


def real_time_table(models: list[str], seconds: float) -> None:
    hops = (HOP_SECONDS, HOP_RANGE[0])
    print("| model | " + " | ".join(f"hop {h * 1000:.0f} ms: {seconds:g} s heard in (s) | x real time" for h in hops)
          + f" | target {TARGET:g}x at {HOP_SECONDS * 1000:.0f} ms |")  # fmt: skip
    print("|---|" + "---|---|" * len(hops) + "---|")
    for name in models:
        model = get_model("speech", name, **META).eval()
        cells, factors = [], []
        for hop in hops:
            rtf = real_time_factor(model, META["clip_samples"], META["sample_rate"], hop, seconds)
            cells += [f"{rtf['seconds_taken']:.2f}", f"{rtf['times_real_time']:.1f}"]
            factors.append(rtf["times_real_time"])
        print(f"| {name} | " + " | ".join(cells) + f" | {'met' if factors[0] >= TARGET else 'missed'} |", flush=True)


def calibration_table(model_name: str, hours: float, snr: float) -> None:
    with tempfile.TemporaryDirectory() as runs:
        store = RunStore(runs)
        run = run_experiment(make_config("speech", model_name, dataset="commands", baseline=False), store)
        model, ckpt = load_run_model(store, run.run_id)
        data = get_task("speech").load_data(RunConfig.from_dict(ckpt["config"]))
        result = calibrate(model, data, hours=hours, snr_db=snr)
    op = result["operating_point"]
    print(
        f"\n{model_name} trained with its spec defaults on commands (test accuracy {run.metrics['accuracy']:.4f}, "
        f"{run.metrics['train_seconds']:.0f} s); {hours:g} h stream: {result['keywords_placed']} keywords "
        f"({result['distinct_keyword_clips']} distinct test clips) in {result['noise']} at {snr:g} dB SNR, heard "
        f"{result['times_real_time']:.1f}x faster than real time\n"
    )
    print("| threshold | false rejections [95% interval] | false alarms per hour [95% interval] | missed | alarms |")
    print("|---|---|---|---|---|")
    for r in result["curve"]:
        if round(r["threshold"] * 100) % 10 and r is not op:
            continue
        mark = " (operating point)" if r is op else ""
        print(
            f"| {r['threshold']:.2f}{mark} | {r['frr']:.1%} [{r['frr_ci95'][0]:.1%}, {r['frr_ci95'][1]:.1%}] "
            f"| {r['fa_per_hour']:.1f} [{r['fa_per_hour_ci95'][0]:.1f}, {r['fa_per_hour_ci95'][1]:.1f}] "
            f"| {r['missed']} | {r['false_alarms']} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default=",".join(list_models("speech")))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60.0, help="the stream the real-time factor is timed on")
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--snr", type=float, default=10.0)
    parser.add_argument("--calibrate-model", default="crnn_attention")
    parser.add_argument("--no-calibrate", dest="calibrate", action="store_false")
    parser.add_argument("--no-speed", dest="speed", action="store_false")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)\n")
    if args.speed:
        real_time_table(args.models.split(","), args.seconds)
    if args.calibrate:
        calibration_table(args.calibrate_model, args.hours, args.snr)


if __name__ == "__main__":
    main()
