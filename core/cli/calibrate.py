"""Command line: `python -m core calibrate RUN --hours 1 --snr 10`, a keyword spotter's false rejections and false
alarms per hour on a stream built from its test split (core.tasks.speech_calibration), as a table or one JSON line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.cli.common import add_runs_flag, text_table
from core.tasks.speech_calibration import SNR_DB
from core.tasks.speech_streaming import HOP_RANGE, HOP_SECONDS, REFRACTORY_SECONDS, SMOOTH_SECONDS, THRESHOLD

MAX_HOURS = 24.0


def add_parser(sub) -> None:
    cal = sub.add_parser(
        "calibrate",
        help="a speech run on a long stream made of its test clips in noise: false rejections and false alarms/hour",
        description="Test clips are placed at known times in background noise (the test split's _silence_ clips, "
        "your --noise recordings, or generated pink noise) at the chosen SNR; the model slides over the stream and, "
        "for each threshold, the missed keywords and the false alarms per hour are counted, with 95%% intervals.",
    )
    cal.add_argument("run", help="a finished speech run's id, as `runs` lists them")
    cal.add_argument("--hours", type=float, default=1.0, help=f"length of the stream (up to {MAX_HOURS:g}; default 1)")
    cal.add_argument("--snr", type=float, default=SNR_DB, help=f"speech over the background, dB (default {SNR_DB:g})")
    cal.add_argument("--keywords", help="comma-separated classes to spot (default: every word class)")
    cal.add_argument("--noise", metavar="DIR", help="a folder of background recordings (default: see above)")
    cal.add_argument("--threshold", type=float, default=THRESHOLD, help=f"the operating point (default {THRESHOLD})")
    cal.add_argument("--hop", type=float, default=HOP_SECONDS, help=f"seconds between windows (default {HOP_SECONDS})")
    cal.add_argument("--smooth", type=float, default=SMOOTH_SECONDS, help="posterior smoothing span, seconds")
    cal.add_argument("--refractory", type=float, default=REFRACTORY_SECONDS, help="no detection this long after one")
    cal.add_argument("--seed", type=int, default=0, help="where clips and noise go (default 0)")
    cal.add_argument("--json", action="store_true", help="print the result as one JSON line at the end")
    add_runs_flag(cal)
    cal.set_defaults(func=cmd_calibrate)


def read_noise(folder: str) -> list[np.ndarray]:
    """Every audio file under `folder` (any rate, mono-mixed, at 16 kHz): the background to place clips in."""
    from core.data.audio import AUDIO_EXTENSIONS, SAMPLE_RATE, decode, resample

    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise ValueError(f"{folder}: no audio files (WAV, FLAC, OGG, MP3) to use as noise")
    waves = [resample(*decode(p), SAMPLE_RATE) for p in files]
    short = [p.name for p, w in zip(files, waves) if len(w) < SAMPLE_RATE]
    if short:
        raise ValueError(f"{folder}: noise recordings must be at least 1 s long; {', '.join(short[:3])} are not")
    return waves


def check_settings(args) -> None:
    if not 0 < args.hours <= MAX_HOURS:
        raise ValueError(f"--hours {args.hours:g}: choose more than 0 and at most {MAX_HOURS:g}")
    if not HOP_RANGE[0] <= args.hop <= HOP_RANGE[1]:
        raise ValueError(f"--hop {args.hop:g}: choose {HOP_RANGE[0]:g} to {HOP_RANGE[1]:g} s")
    if not 0 < args.threshold < 1:
        raise ValueError(f"--threshold {args.threshold:g}: a posterior between 0 and 1")
    if args.smooth < 0 or args.refractory < 0:
        raise ValueError("--smooth and --refractory are seconds, 0 or more")


def cmd_calibrate(args) -> int:
    from core.cli.runs import find_run
    from core.run.settings import RunConfig
    from core.tasks import get_task, load_run_model
    from core.tasks.speech_calibration import calibrate

    check_settings(args)
    store, run = find_run(args.runs, args.run)
    if run["task"] != "speech" or run["status"] not in ("finished", "stopped"):
        raise ValueError(f"{args.run}: a {run['status']} {run['task']} run; calibrate takes a finished speech run")
    model, ckpt = load_run_model(store, args.run)
    data = get_task("speech").load_data(RunConfig.from_dict(ckpt["config"]))
    noise = read_noise(args.noise) if args.noise else None
    keywords = [k.strip() for k in args.keywords.split(",") if k.strip()] if args.keywords else None
    result = calibrate(
        model, data, keywords, args.hours, args.snr, args.hop, args.smooth, args.refractory, args.threshold,
        args.seed, noise, args.noise or "",
    )  # fmt: skip
    result = {"run_id": args.run, "model": run["model"], **result}
    print(summary(result))
    if args.json:
        print(json.dumps(result))
    return 0


def summary(result: dict) -> str:
    """The operating point and every fifth threshold of the curve, as text."""
    op = result["operating_point"]
    head = (
        f"{result['run_id']} ({result['model']}) on {result['hours']:g} h of {result['dataset']} test clips in "
        f"{result['noise']} at {result['snr_db']:g} dB SNR: {result['keywords_placed']} keywords "
        f"({result['distinct_keyword_clips']} distinct clips), heard {result['times_real_time']:.0f}x faster than "
        f"real time\nat threshold {op['threshold']:g}: false rejections {op['frr']:.1%} "
        f"[{op['frr_ci95'][0]:.1%}, {op['frr_ci95'][1]:.1%}], false alarms {op['fa_per_hour']:.1f}/h "
        f"[{op['fa_per_hour_ci95'][0]:.1f}, {op['fa_per_hour_ci95'][1]:.1f}] (95% intervals)"
    )
    rows = [
        [f"{r['threshold']:.2f}", f"{r['frr']:.1%}", f"{r['fa_per_hour']:.1f}", r["missed"], r["false_alarms"],
         r["false_alarms_in_words"]]
        for r in result["curve"][::5]
    ]  # fmt: skip
    header = ["threshold", "false rejections", "false alarms/h", "missed", "alarms", "of them inside a word"]
    return head + "\n" + text_table(header, rows)
