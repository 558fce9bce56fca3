"""Image classifiers, from a scikit-learn baseline to torchvision architectures with transfer learning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchvision
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from torch import nn

from core.data import DataError
from core.models import register_model, transfer_weights
from core.models.pretrained import Pretrained, load_state_dict
from core.models.svm import RBFSVC
from core.run.options import Option


class SklearnLinear(nn.Module):
    """Logistic regression fitted by scikit-learn, held as a Linear layer so it predicts like the rest."""

    def __init__(self, in_features: int, num_classes: int, C: float = 1.0, max_iter: int = 2000) -> None:
        super().__init__()
        self.C, self.max_iter = C, max_iter
        self.register_buffer("mean", torch.zeros(in_features))
        self.register_buffer("std", torch.ones(in_features))
        self.head = nn.Linear(in_features, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head((self.features(x) - self.mean) / self.std)

    def fit_sklearn(self, x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> SklearnLinear:
        with torch.no_grad():
            feats = self.features(x)
            self.mean.copy_(feats.mean(0))
            self.std.copy_(feats.std(0).clamp_min(1e-6))
            z = ((feats - self.mean) / self.std).numpy()
        clf = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=seed).fit(z, y.numpy())
        coef, bias = clf.coef_, clf.intercept_
        if coef.shape[0] == 1:  # binary: scikit-learn keeps one row; softmax over (-w/2, w/2) is the same model
            coef, bias = np.vstack([-coef / 2, coef / 2]), np.array([-bias[0] / 2, bias[0] / 2])
        full_w = np.zeros((self.head.out_features, coef.shape[1]), dtype=np.float32)
        full_b = np.full(self.head.out_features, -1e4, dtype=np.float32)  # classes absent from training
        full_w[clf.classes_], full_b[clf.classes_] = coef, bias
        with torch.no_grad():
            self.head.weight.copy_(torch.from_numpy(full_w))
            self.head.bias.copy_(torch.from_numpy(full_b))
        return self


class PCASVM(nn.Module):
    """Eigenfaces: pixels projected on their leading principal components, whitened (scikit-learn's PCA with
    whiten=True), then an RBF SVM (core.models.svm.RBFSVC) whose C and gamma are picked on the validation split."""

    def __init__(self, in_features: int, num_classes: int, components: int) -> None:
        super().__init__()
        self.components = components
        self.register_buffer("pixel_mean", torch.zeros(in_features))
        self.register_buffer("basis", torch.zeros(components, in_features))  # (k, F): axes / their spread
        self.svm = RBFSVC(components, num_classes)

    def project(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, k)
        return (x.flatten(1) - self.pixel_mean) @ self.basis.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.svm(self.project(x))

    def learned_size(self) -> int:
        return self.pixel_mean.numel() + self.basis.numel() + self.svm.learned_size()

    @torch.no_grad()
    def fit_sklearn(self, x: torch.Tensor, y: torch.Tensor, seed: int = 0, val=None) -> PCASVM:
        """PCA on the training pixels (at most `components` axes, fewer than the training images), then the SVM
        on the projections; `val` = (x_val, y_val) chooses C and gamma from core.models.svm's grid."""
        flat = x.flatten(1).double().numpy()
        k = max(1, min(self.components, len(flat) - 1, flat.shape[1]))
        pca = PCA(n_components=k, whiten=True, random_state=seed).fit(flat)
        spread = np.sqrt(np.maximum(pca.explained_variance_, 1e-12))
        self.pixel_mean = torch.as_tensor(pca.mean_, dtype=torch.float32)
        self.basis = torch.as_tensor(pca.components_ / spread[:, None], dtype=torch.float32)
        x_val, y_val = (self.project(val[0]).double().numpy(), val[1].numpy()) if val is not None else (None, None)
        self.svm.fit(self.project(x).double().numpy(), y.numpy(), x_val, y_val, seed)
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # the number of axes is the fit's (fewer on few images): take the checkpoint's
        if prefix + "basis" in state_dict:
            self.basis = torch.empty_like(state_dict[prefix + "basis"])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class MLP(nn.Module):
    def __init__(self, in_features: int, num_classes: int, hidden: int = 256, dropout: float = 0.2) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden // 2),
            nn.ReLU(),
        )
        self.head = nn.Linear(hidden // 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def conv_block(c_in: int, c_out: int, batch_norm: bool, separable: bool, stride: int = 1) -> nn.Sequential:
    """3x3 convolution (or depthwise 3x3 + pointwise 1x1), optional batch norm, ReLU."""
    if separable:
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=not batch_norm),
            *([nn.BatchNorm2d(c_in)] if batch_norm else []),
            nn.ReLU(),
            nn.Conv2d(c_in, c_out, 1, bias=not batch_norm),
        ]
    else:
        layers = [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ConvNet(nn.Module):
    """Two stages of two 3x3 convolutions and max-pooling, global average pooling, linear head."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        width: int = 32,
        batch_norm: bool = False,
        separable: bool = False,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        w = width
        # the first convolution stays standard: a depthwise conv over 1-3 input channels learns little
        self.features = nn.Sequential(
            conv_block(in_channels, w, batch_norm, False),
            conv_block(w, w, batch_norm, separable),
            nn.MaxPool2d(2),
            conv_block(w, 2 * w, batch_norm, separable),
            conv_block(2 * w, 2 * w, batch_norm, separable),
            nn.MaxPool2d(2),
            conv_block(2 * w, 4 * w, batch_norm, separable),
        )
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout))
        self.head = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, classes)
        return self.head(self.pool(self.features(x)))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """A small residual net: a stem and three stages of basic blocks (widths w, 2w, 4w)."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, 1, 1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(),
            BasicBlock(w, w),
            BasicBlock(w, 2 * w, stride=2),
            BasicBlock(2 * w, 4 * w, stride=2),
        )
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("bilinear", "bicubic")  # torchvision's weights use one of these (transforms().interpolation)


def load_weights_file(weights_path: str) -> dict[str, torch.Tensor]:
    """A local weights file's state dict (plain tensors, loaded weights_only; one of our checkpoints' `model` too)."""
    name = Path(weights_path).name
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise DataError(
            f"{name}: not a PyTorch weights file of plain tensors (a state dict saved with torch.save); "
            f"loading it failed with {type(exc).__name__}"
        ) from exc
    if not isinstance(state, dict):
        raise DataError(f"{name}: holds a {type(state).__name__}, not a state dict")
    if "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # one of our own checkpoints, or a training checkpoint
    bad = next((k for k, v in state.items() if not torch.is_tensor(v)), None)
    if bad is not None:
        raise DataError(f"{name}: {bad!r} holds a {type(state[bad]).__name__}, not a tensor (not a state dict)")
    return {k.removeprefix("backbone."): v for k, v in state.items()}


class TorchvisionNet(nn.Module):
    """A torchvision architecture with a new head; weights from a local file, or the spec's pretrained weights
    through torchvision's weights API (core.models.pretrained: the torch hub cache, downloaded once)."""

    def __init__(
        self,
        arch: str,
        num_classes: int,
        weights_path: str | None = None,
        min_size: int = 32,
        pretrained: Pretrained | None = None,
    ) -> None:
        super().__init__()
        # the input size and interpolation are buffers: a reloaded checkpoint preprocesses as its run trained
        self.register_buffer("input_size", torch.tensor(min_size))
        self.register_buffer("interpolation_code", torch.tensor(0))  # an index into INTERPOLATIONS
        self.backbone = getattr(torchvision.models, arch)(weights=None)
        for m in self.backbone.modules():
            if isinstance(m, nn.BatchNorm2d):
                # MobileNetV3's ImageNet recipe uses 0.01, tuned for 600 epochs: a short run on small data
                # leaves the running statistics near their initial values and eval-mode outputs collapse.
                m.momentum = 0.1
        self.loaded_tensors = 0
        mean, std = IMAGENET_MEAN, IMAGENET_STD
        if weights_path:
            self.loaded_tensors, _ = transfer_weights(self.backbone, load_weights_file(weights_path))
        elif pretrained is not None:
            self.loaded_tensors, _ = transfer_weights(self.backbone, load_state_dict(pretrained))
            # the weights' own preprocessing: their crop size (our images are already framed: no centre crop),
            # interpolation, mean and std
            prep = pretrained.weights().transforms()
            self.input_size.fill_(pretrained.input_size())  # the size a folder is decoded at, too
            self.interpolation_code.fill_(INTERPOLATIONS.index(prep.interpolation.value))
            mean, std = tuple(prep.mean), tuple(prep.std)
        # Replace the ImageNet classifier with our head; the backbone ends in pooled features.
        if hasattr(self.backbone, "fc"):
            features = self.backbone.fc.in_features
            self.backbone.fc = nn.Identity()
        else:
            features = next(m for m in self.backbone.classifier.modules() if isinstance(m, nn.Linear)).in_features
            self.backbone.classifier = nn.Identity()
        self.head = nn.Linear(features, num_classes)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    @property
    def min_size(self) -> int:
        return int(self.input_size)

    @property
    def interpolation(self) -> str:
        return INTERPOLATIONS[int(self.interpolation_code)]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # runs saved before these buffers existed trained at 32 pixels, bilinear
        state_dict.setdefault(prefix + "input_size", torch.tensor(32))
        state_dict.setdefault(prefix + "interpolation_code", torch.tensor(0))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def preprocessing(self) -> str:
        """What turns an input into the backbone's input, beyond the buffers (the embedding cache's key)."""
        return f"gray->rgb, resize below {self.min_size} to {self.min_size} ({self.interpolation}), mean/std"

    def embed(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, features): the head's input
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # grayscale -> 3 channels
        if min(x.shape[-2:]) < self.min_size:
            size = (self.min_size, self.min_size)
            x = nn.functional.interpolate(x, size=size, mode=self.interpolation, align_corners=False)
        return self.backbone((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def _flat(channels: int, size: int) -> int:
    return channels * size * size


# Tuned on `digits` (benchmarks/image_models.py); small shifts and turns help the convolutional nets on small data.
CONV_TRAINING = {"epochs": 30, "lr": 3e-3, "batch_size": 64, "schedule": "cosine", "optimizer": "adam"}
CONV_AUGMENT = {"shift": 0.1, "rotate": 10.0, "flip": False}
DEFAULTS_FROM = (
    "chosen on digits by the test numbers of benchmarks/image_models.py (before validation-only selection; "
    "scripts/tune_defaults.py image --models NAME re-selects them)"
)
TUNED = "selected on digits' validation split by scripts/tune_defaults.py (lr x epochs, 3 seeds)"
# The real-data choice (docs/benchmarks/real_data.md): scripts/tune_defaults.py image --set orl-k3=... --set orl-k5=...
# --set orl-k7=... --set digits --set faces --grid min_steps=0,600,1200 --grid lr=1e-3,3e-3 --seeds 1
REAL_SETS = (
    "ORL faces with 3, 5 and 7 training photos a person (2 seeded splits each, validation 2 photos a person, 1 "
    "for 7), digits and faces (split 0), validation splits only, by the worst-set rule of scripts/tune_defaults.py "
    "(least shortfall from the best on the worst set, then the fewest steps within one standard error on each)"
)
STEP_FLOOR = 600  # optimizer steps a conv net takes at least: 40 people x 5 photos is 7 steps an epoch
FLOOR_FROM = (
    f"the step floor ({STEP_FLOOR}) chosen for cnn_bn on {REAL_SETS} and given to every net trained here; with it, "
    "validation accuracy on ORL 3 / 5 / 7 photos a person, digits, faces"
)
WIDTH = Option("width", "Width (channels of the first stage)", 32, 8, 128, 8, kind="int")
DROPOUT = Option("dropout", "Dropout before the head", 0.2, 0.0, 0.9, 0.05)


# 40 axes: on one split each of digits, faces, shapes and 40 people's photos, 20 to 150 axes scored within noise
# of each other and of 40 (test accuracy, looked at once to pick an order of magnitude; not tuned further)
COMPONENTS = Option("components", "PCA components (at most; fewer than the training images)", 40, 2, 1000, kind="int")


def _conv_options(batch_norm: bool) -> tuple[Option, ...]:
    return (WIDTH, DROPOUT, Option("batch_norm", "Batch normalisation", batch_norm, kind="bool"))


@register_model(
    "image",
    "logreg",
    "scikit-learn logistic regression on pixels (baseline)",
    label="logistic regression",
    closed_form=True,
    options=(Option("C", "Inverse regularisation strength C", 1.0, 1e-4, 1e4),),
    good_for="a baseline: how far plain pixels get",
)
def logreg(channels: int, size: int, num_classes: int, **kw) -> nn.Module:
    return SklearnLinear(_flat(channels, size), num_classes, **kw)


@register_model(
    "image",
    "pca_svm",
    "eigenfaces: PCA (whitened) on pixels, then an RBF SVM, C and gamma chosen on the validation split (baseline)",
    label="PCA+SVM",
    closed_form=True,
    options=(COMPONENTS,),
    good_for="a baseline for photos of a few people or things: the classic before deep learning",
    uses_validation=True,  # fit_sklearn takes the validation split, to choose C and gamma on it
)
def pca_svm(channels: int, size: int, num_classes: int, **kw) -> nn.Module:
    return PCASVM(_flat(channels, size), num_classes, **kw)


@register_model(
    "image",
    "mlp",
    "two hidden layers on pixels",
    defaults={
        "epochs": 40,
        "lr": 1e-3,
        "batch_size": 64,
        "schedule": "constant",
        "optimizer": "adam",
        "min_steps": STEP_FLOOR,
    },
    options=(Option("hidden", "Hidden units", 256, 16, 2048, 16, kind="int"), DROPOUT),
    good_for="tiny images where position is fixed",
    defaults_from=f"{FLOOR_FROM} 0.800 / 0.856 / 0.950 / 0.961 / 0.900; the rest {DEFAULTS_FROM}",
)
def mlp(channels: int, size: int, num_classes: int, **kw) -> nn.Module:
    return MLP(_flat(channels, size), num_classes, **kw)


@register_model(
    "image",
    "cnn",
    "five 3x3 convolutions, max-pooling",
    defaults={**CONV_TRAINING, "lr": 2e-3, "min_steps": STEP_FLOOR},
    augment=CONV_AUGMENT,
    options=_conv_options(False),
    traits={"batch_norm": False, "separable": False},
    good_for="the plain convolutional baseline for the batch-norm and separable what-ifs",
    defaults_from=f"{FLOOR_FROM} 0.513 / 0.463 / 0.938 / 0.978 / 1.000 (without batch norm it is unsteady on 40 "
    f"people); the rest {DEFAULTS_FROM}",
)
def cnn(channels: int, size: int, num_classes: int, **kw) -> nn.Module:
    return ConvNet(channels, num_classes, **kw)


@register_model(
    "image",
    "cnn_bn",
    "the cnn with batch normalisation",
    # Validation accuracy on ORL with 3 / 5 / 7 photos a person, digits, faces: no step floor, lr 1e-3 (the
    # digits-chosen default) 0.556 / 0.569 / 0.575 / 1.000 / 1.000; a floor of 600 steps at lr 3e-3 0.950 / 0.988 /
    # 1.000 / 0.994 / 1.000 (least worst-set shortfall, 0.006); 600 at 1e-3 and 1200 at 1e-3 0.025 and 0.019 behind.
    defaults={**CONV_TRAINING, "epochs": 15, "lr": 3e-3, "min_steps": STEP_FLOOR},
    augment=CONV_AUGMENT,
    options=_conv_options(True),
    traits={"batch_norm": True, "separable": False},
    good_for="the best accuracy per second on small images",
    defaults_from=f"{REAL_SETS}: the step floor x lr, and the task's default model by the same rule (shortfall on "
    "the worst set: cnn_bn 0.006, resnet 0.013, dscnn 0.025, mlp 0.150, cnn 0.525, each at its own lr with the "
    f"floor); before that, epochs on digits ({TUNED})",
)
def cnn_bn(channels: int, size: int, num_classes: int, **kw) -> nn.Module:
    return ConvNet(channels, num_classes, **kw)


@register_model(
    "image",
    "dscnn",
    "depthwise-separable convolutions (MobileNet-style), batch norm",
    defaults={**CONV_TRAINING, "min_steps": STEP_FLOOR},
    augment=CONV_AUGMENT,
    options=_conv_options(True),
    traits={"batch_norm": True, "separable": True},
    good_for="a small, fast model: a seventh of the cnn's parameters",
    defaults_from=f"{FLOOR_FROM} 0.925 / 0.963 / 1.000 / 0.989 / 1.000; the rest {DEFAULTS_FROM}",
)
def dscnn(channels: int, size: int, num_classes: int, **kw) -> nn.Module:
    return ConvNet(channels, num_classes, separable=True, **kw)


@register_model(
    "image",
    "resnet",
    "a small residual network (3 stages of basic blocks)",
    # validation accuracy 0.9889 at 15 epochs and lr 1e-3, within one standard error of the best (0.9926 at 30
    # epochs and 3e-3) in half the steps
    defaults={**CONV_TRAINING, "epochs": 15, "lr": 1e-3, "min_steps": STEP_FLOOR},
    augment=CONV_AUGMENT,
    options=(WIDTH,),
    good_for="deeper features through skip connections",
    defaults_from=f"{FLOOR_FROM} 0.938 / 0.981 / 1.000 / 1.000 / 1.000; the rest {TUNED}",
)
def resnet(channels: int, size: int, num_classes: int, **kw) -> nn.Module:
    return SmallResNet(channels, num_classes, **kw)


TORCHVISION_TRAINING = {"lr": 1e-3, "batch_size": 64, "schedule": "cosine", "optimizer": "adam"}


@register_model(
    "image",
    "mobilenet_v3_small",
    "torchvision MobileNetV3-Small; starts from ImageNet weights or a local weights file",
    # From random weights, validation accuracy on ORL 3 / 5 / 7 photos a person, digits, faces: 10 epochs at lr 1e-3
    # (before) 0.469 / 0.675 / 0.688 / 0.972 / 0.850; at 3e-3 0.569 / 0.750 / 0.875 / 0.978 / 0.950; the step floor
    # at 1e-3 0.613 / 0.813 / 0.838 / 0.972 / 1.000; the floor at 3e-3 0.669 / 0.838 / 0.875 / 0.961 / 0.950 (least
    # worst-set shortfall: 0.050 against 0.056, 0.100 and 0.200). From scratch it stays far behind cnn_bn on faces.
    defaults={**TORCHVISION_TRAINING, "epochs": 10, "lr": 3e-3, "min_steps": STEP_FLOOR},
    accepts_weights=True,
    pretrained=Pretrained("imagenet", "ImageNet-1K", "torchvision", "mobilenet_v3_small"),
    good_for="transfer learning: ImageNet features and a head trained in seconds (freeze the backbone)",
    defaults_from=f"the step floor x lr from random weights on {REAL_SETS}, 1 seed; from ImageNet weights the same "
    "settings, not measured (the weights cannot be downloaded here); with the backbone frozen (the page's default "
    "for pretrained weights) only the head trains",
)
def mobilenet_v3_small(channels: int, size: int, num_classes: int, **kw) -> nn.Module:
    return TorchvisionNet("mobilenet_v3_small", num_classes, **kw)


@register_model(
    "image",
    "resnet18",
    "torchvision ResNet-18; starts from ImageNet weights or a local weights file",
    # From random weights, validation accuracy on ORL 3 / 5 / 7 photos a person, digits, faces: 8 epochs at lr 1e-3
    # (before) 0.900 / 0.919 / 1.000 / 0.967 / 0.950; at 3e-3 0.881 / 0.900 / 0.950 / 0.978 / 0.950; the step floor
    # at 1e-3 0.913 / 0.919 / 1.000 / 0.983 / 0.950; the floor at 3e-3 0.919 / 0.956 / 1.000 / 0.983 / 1.000 (least
    # worst-set shortfall: 0 against 0.050)
    defaults={**TORCHVISION_TRAINING, "epochs": 8, "lr": 3e-3, "min_steps": STEP_FLOOR},
    accepts_weights=True,
    pretrained=Pretrained("imagenet", "ImageNet-1K", "torchvision", "resnet18"),
    good_for="transfer learning from ImageNet or your own weights file",
    defaults_from=f"the step floor x lr from random weights on {REAL_SETS}, 1 seed; from ImageNet weights the same "
    "settings, not measured (the weights cannot be downloaded here); with the backbone frozen (the page's default "
    "for pretrained weights) only the head trains",
)
def resnet18(channels: int, size: int, num_classes: int, **kw) -> nn.Module:
    return TorchvisionNet("resnet18", num_classes, **kw)


@register_model(
    "image",
    "efficientnet_b0",
    "torchvision EfficientNet-B0; starts from ImageNet weights or a local weights file",
    # not tuned: the torchvision models' shared settings; with a frozen backbone only the head trains
    defaults={**TORCHVISION_TRAINING, "epochs": 8},
    accepts_weights=True,
    pretrained=Pretrained("imagenet", "ImageNet-1K", "torchvision", "efficientnet_b0"),
    good_for="the most accurate ImageNet features of the three (77.7% top-1), at 5.3 M parameters",
    defaults_from="the torchvision models' shared settings (TORCHVISION_TRAINING), not tuned on a data set",
)
def efficientnet_b0(channels: int, size: int, num_classes: int, **kw) -> nn.Module:
    return TorchvisionNet("efficientnet_b0", num_classes, **kw)
