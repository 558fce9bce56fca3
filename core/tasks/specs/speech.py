"""The speech commands task's spec (the task itself: core/tasks/speech.py)."""

from core.run.options import Option
from core.tasks import DatasetSpec, TaskSpec

SPEC = TaskSpec(
    name="speech",
    title="Speech commands",
    icon=":material/mic:",
    blurb="Keyword spotting on spoken commands: train, then say “yes” into the microphone.",
    datasets=(
        DatasetSpec(
            "commands",
            "spoken commands yes no up down left right on off stop go + _silence_ "
            "(synthesised with espeak-ng, 352 one-second clips at 16 kHz)",
            "core.tasks.speech:load_sample",
            mirror_safe=False,
        ),
    ),
    default_model="crnn_attention",
    primary_metric="accuracy",
    baselines=("svm",),
    more_data="more recordings of each word, from more speakers",
    headline=("accuracy", "macro_f1", "parameters", "size_mb", "latency_ms", "train_seconds"),
    result_tabs=("Worst mistakes", "Try it"),
    augment_options=(
        Option(
            "noise_snr",
            "Background noise (pink, within the recordings' band): signal-to-noise ratio (dB)",
            15.0,
            0.0,
            40.0,
            5.0,
            optional=True,
        ),
        Option("shift", "Random time shift (up to, seconds)", 0.0, 0.0, 0.3, 0.05),
        Option("speed", "Speed perturbation (up to ±, as a fraction)", 0.0, 0.0, 0.3, 0.05),
        Option("time_mask", "SpecAugment time mask (up to, 10 ms frames)", 0, 0, 40, 5, kind="int"),
        Option("freq_mask", "SpecAugment frequency mask (up to, mel bins)", 0, 0, 15, 1, kind="int"),
        Option("freq_warp", "Vocal tract length perturbation (frequency warp, up to ±)", 0.0, 0.0, 0.3, 0.05),
    ),
    settings=("group_by",),
    lab_model="cnn",  # the plain CNN has both switches: separable convolutions and attention
    order=2,
    metric_labels={"latency_ms": "Latency per 1-s clip"},  # features included
)
