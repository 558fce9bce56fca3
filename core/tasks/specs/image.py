"""The image recognition task's spec (the task itself: core/tasks/image.py)."""

from core.run.options import Option
from core.tasks import DatasetSpec, TaskSpec

SHAPES = ("circle", "square", "triangle", "star", "hexagon", "cross")  # the generated `shapes` set
SPEC = TaskSpec(
    name="image",
    title="Image recognition",
    icon=":material/image:",
    blurb="Digits, faces and shapes, or your own folder of images. CNNs with and without batch norm, "
    "depthwise-separable convolutions, ResNets and transfer learning.",
    datasets=(
        DatasetSpec(
            "digits",
            "scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes)",
            "core.tasks.image:digits_set",
            mirror_safe=False,
            bright_on_dark=True,
        ),
        DatasetSpec(
            "faces", "scikit-image's LFW subset, 25x25: face vs not a face (200 images)", "core.tasks.image:faces_set"
        ),
        DatasetSpec(
            "shapes",
            "generated 32x32 colour shapes: " + ", ".join(SHAPES) + " (1,800 images)",
            "core.tasks.image:shapes_set",
        ),
    ),
    default_model="cnn_bn",
    primary_metric="accuracy",
    baselines=("logreg", "pca_svm"),
    more_data="more photos per class",
    headline=("accuracy", "macro_f1", "parameters", "size_mb", "latency_ms", "train_seconds"),
    result_tabs=("Worst mistakes", "Try it"),
    augment_options=(
        Option("shift", "Random shift (fraction of the size)", 0.0, 0.0, 0.25, 0.05),
        Option("rotate", "Random rotation (degrees)", 0.0, 0.0, 45.0, 5.0),
        Option("flip", "Random horizontal flip", False, kind="bool"),
    ),
    order=1,
)
