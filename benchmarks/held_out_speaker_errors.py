"""Which words a held-out speaker's clips are mistaken for: the errors behind a validation score.

Run by hand: `.venv/bin/python benchmarks/held_out_speaker_errors.py --data DIR [--split-seed 3] [--seed 0]
[--model crnn_attention]`, with DIR a folder of speech (e.g. `benchmarks/speech_proxy.py --keep DIR`). It trains
the model with its spec defaults on the training part of one split (validation carved from DIR's train/ by
speaker, as `scripts/tune_defaults.py` carves it; the test/ folder is never read) and prints the validation
split's confusion matrix (scikit-learn) and its mistakes, clip by clip. On the 8 kHz proxy, split seeds 0, 1,
2, 3, 8 and 13 hold out usm1, rpm7, usf4, scotm3, caribf1 and enf2.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import torch
from sklearn.metrics import confusion_matrix

from core.run.config import fit_to_data, make_config, train_config
from core.run.training import Trainer, seed_everything
from core.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a speech folder (train/ and test/, or class folders)")
    parser.add_argument("--split-seed", type=int, default=0, help="which validation split (held-out speakers)")
    parser.add_argument("--seed", type=int, default=0, help="the initial seed")
    parser.add_argument("--model", default="crnn_attention")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = get_task("speech")
    config = make_config("speech", args.model, device="cpu", data=args.data, split_seed=args.split_seed, seed=args.seed)
    data = task.load_data(config)
    config, _ = fit_to_data(config, task.train_size(data))
    seed_everything(config.seed)
    model = task.build_model(config, data.meta)
    Trainer(model, task.make_objective(config, data), train_config(config)).fit()
    predicted = task.predict_proba(model, data.x["val"]).argmax(1)
    truth = data.y["val"].numpy()
    names = data.class_names
    print(f"split seed {args.split_seed}: {data.split_note}")
    print(f"validation accuracy {np.mean(predicted == truth):.3f} on {len(truth)} clips\n")
    print("confusion matrix (rows: the word said; columns: the word predicted)")
    width = max(map(len, names)) + 1
    print(" " * width + "".join(f"{n:>{width}}" for n in names))
    for name, row in zip(names, confusion_matrix(truth, predicted, labels=range(len(names)))):
        print(f"{name:>{width}}" + "".join(f"{v:>{width}}" for v in row))
    wrong = Counter((names[t], names[p]) for t, p in zip(truth, predicted) if t != p)
    print("\nmistakes: " + (", ".join(f'"{t}" as "{p}" x{n}' for (t, p), n in wrong.most_common()) or "none"))


if __name__ == "__main__":
    main()
