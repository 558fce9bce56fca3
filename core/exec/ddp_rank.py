"""One rank of a distributed run: what `run_distributed` (core/exec/distributed.py) starts under torchrun.

`python -m core.exec.ddp_rank CONFIG.json --runs DIR [--run-id ID]`: the rank joins the group and trains its slice of
every batch through the one experiment path; rank 0 alone writes the run and its progress file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from core.exec.distributed import PROGRESS_FILE_ENV, ProgressFile
from core.run.experiment import run_experiment
from core.run.settings import RunConfig
from core.run.store import RunStore


def main(argv: list[str] | None = None) -> int:
    """A rank started by `run_distributed`: `python -m core.exec.ddp_rank CONFIG.json --runs DIR [--run-id ID]`."""
    from torch.distributed.elastic.multiprocessing.errors import record

    parser = argparse.ArgumentParser(prog="python -m core.exec.ddp_rank", description=main.__doc__)
    parser.add_argument("config", help="the run's config (JSON)")
    parser.add_argument("--runs", required=True, help="the run store folder")
    parser.add_argument("--run-id", help="the run, created by the launcher (default: rank 0 creates one)")
    args = parser.parse_args(argv)
    return record(_rank_main)(args)


def _rank_main(args) -> int:
    config = RunConfig.from_dict(json.loads(Path(args.config).read_text()))
    first = int(os.environ["RANK"]) == 0
    progress = os.environ.get(PROGRESS_FILE_ENV)
    run_experiment(
        config,
        RunStore(args.runs) if first else None,
        callbacks=[ProgressFile(progress)] if first and progress else [],
        run_id=args.run_id,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
