"""The log-mel's band, on validation: scripts/tune_defaults.py with every speech model's mel bands spanning either
the recordings' band (the default since 2026-12-03: 0-4 kHz for 8 kHz files) or the whole 16 kHz band up to its
Nyquist frequency, 8 kHz (before). Everything after `--band` goes to tune_defaults; `--seed-offset` shifts the
initial seeds, so a second seed runs without repeating the first:

    .venv/bin/python -m benchmarks.speech_band --band nyquist --seed-offset 1 speech --models crnn_attention \\
        --set fsdd-own=/tmp/real/fsdd-own --set fsdd-loso=/tmp/real/fsdd-loso-jackson,... \\
        --grid example_budget=24000 --seeds 1 --threads 1 --no-test

The split layouts come from `python -m benchmarks.real_data layouts --out /tmp/real`; results in
docs/benchmarks/real_data.md ("Speech: the log-mel's band").
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

import core.models.speech as speech_models
import core.run.config as run_config

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "tune_defaults.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)  # --help: the script's
    parser.add_argument("--band", choices=("recordings", "nyquist"), required=True)
    parser.add_argument("--seed-offset", type=int, default=0)
    args, rest = parser.parse_known_args()
    if args.band == "nyquist":
        recorded = speech_models.LogMel

        class WholeBand(recorded):
            def __init__(self, sample_rate: int = 16_000, n_mels: int = speech_models.N_MELS, band=None) -> None:
                super().__init__(sample_rate, n_mels, band=None)

        speech_models.LogMel = WholeBand  # read when a model is built, after this
    make_config = run_config.make_config
    run_config.make_config = lambda *a, seed=0, **k: make_config(*a, seed=seed + args.seed_offset, **k)
    sys.argv = [str(SCRIPT), *rest]
    runpy.run_path(str(SCRIPT), run_name="__main__")


if __name__ == "__main__":
    main()
