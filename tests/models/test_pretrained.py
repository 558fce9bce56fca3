"""Pretrained weights through torchvision's and torchaudio's own loaders, with a generated file put where they look
(this machine has no network), the offline message, and the embedding cache (hit, miss, invalidation)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import torchaudio
import torchvision
from torch import nn

from core.models import get_spec, list_models
from core.models.embeddings import cache_dir, embedding_key, embeddings
from core.models.image import TorchvisionNet
from core.models.pretrained import Pretrained, WeightsUnavailable, cache_file, facts, fetch, load_state_dict
from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.store import RunStore

pytestmark = pytest.mark.usefixtures("torch_home")  # an empty hub cache behind a firewall

IMAGENET = [get_spec("image", m).pretrained for m in list_models("image") if get_spec("image", m).pretrained]


def seed_cache(pretrained: Pretrained) -> dict[str, torch.Tensor]:
    """The architecture's random initial weights saved under the file name its weights' URL maps to."""
    state = torchvision.models.get_model(pretrained.name, weights=None).state_dict()
    path = cache_file(pretrained)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


def test_imagenet_models_are_the_three_named_in_their_specs():
    assert {p.name for p in IMAGENET} >= {"mobilenet_v3_small", "resnet18", "efficientnet_b0"}
    assert {p.source for p in IMAGENET} == {"imagenet"}


@pytest.mark.parametrize("pretrained", IMAGENET, ids=lambda p: p.name)
def test_cache_file_is_where_torch_hub_puts_the_weights_url(pretrained, torch_home):
    url = torchvision.models.get_model_weights(pretrained.name).DEFAULT.url
    assert cache_file(pretrained) == torch_home / "hub" / "checkpoints" / Path(url).name


def test_seeded_cache_loads_through_torchvisions_own_loader_without_the_network():
    pretrained = get_spec("image", "mobilenet_v3_small").pretrained
    state = seed_cache(pretrained)
    loaded = load_state_dict(pretrained, progress=lambda done, total: None)  # the download would raise
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    # and the model built from the spec starts from exactly those tensors, at the weights' own preprocessing
    model = TorchvisionNet("mobilenet_v3_small", 3, pretrained=pretrained)
    assert model.loaded_tensors > 0 and model.min_size == 224
    assert torch.equal(model.backbone.features[0][0].weight, state["features.0.0.weight"])


def test_efficientnet_takes_its_weights_preprocessing_and_forwards_at_small_size():
    pretrained = get_spec("image", "efficientnet_b0").pretrained
    seed_cache(pretrained)
    model = TorchvisionNet("efficientnet_b0", 4, pretrained=pretrained)
    assert model.interpolation == "bicubic" and model.head.in_features == 1280
    model.input_size.fill_(32)  # a small forward: the test checks the wiring, not ImageNet accuracy
    assert model(torch.rand(2, 3, 16, 16)).shape == (2, 4)


def test_empty_cache_offline_names_the_file_and_the_exact_path(torch_home):
    pretrained = get_spec("image", "resnet18").pretrained
    with pytest.raises(WeightsUnavailable) as info:
        fetch(pretrained, progress=lambda done, total: None)
    message = str(info.value)
    assert "resnet18-f37072fd.pth" in message
    assert str(torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert "download.pytorch.org" in message and "Network is unreachable" in message


def test_cli_pretrained_offline_exits_2_with_the_path(capsys, torch_home):
    from core.cli import main

    code = main(["train", "image", "--model", "resnet18", "--pretrained", "imagenet", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "resnet18-f37072fd.pth" in err and str(torch_home / "hub" / "checkpoints") in err


def test_pretrained_is_refused_for_a_model_without_published_weights():
    with pytest.raises(ValueError, match="no 'imagenet' weights"):
        make_config("image", "cnn_bn", pretrained="imagenet")
    with pytest.raises(ValueError, match="not both"):
        make_config("image", "resnet18", pretrained="imagenet", weights_path="w.pt")


def test_facts_come_from_the_weights_meta():
    f = facts(get_spec("image", "mobilenet_v3_small").pretrained)
    assert f["top1"] == pytest.approx(67.668) and f["params"] == 2542856
    assert f["size_mb"] == pytest.approx(9.829) and f["file"] == "mobilenet_v3_small-047dcff4.pth"
    assert f["recipe"].startswith("https://") and f["licence"].startswith("https://")


SMALL_WAV2VEC2 = {
    **torchaudio.pipelines.WAV2VEC2_BASE._params,
    "extractor_conv_layer_config": [(8, 10, 5), (8, 3, 2)],
    "encoder_embed_dim": 16,
    "encoder_pos_conv_kernel": 4,
    "encoder_pos_conv_groups": 2,
    "encoder_num_layers": 1,
    "encoder_num_heads": 2,
    "encoder_ff_interm_features": 16,
}


@pytest.fixture
def tiny_wav2vec2(monkeypatch) -> Pretrained:
    """WAV2VEC2_BASE with a tiny architecture of the same family: the real file name and loader, not a 380 MB file."""
    bundle = dataclasses.replace(torchaudio.pipelines.WAV2VEC2_BASE, _params=SMALL_WAV2VEC2)
    monkeypatch.setattr(torchaudio.pipelines, "WAV2VEC2_BASE", bundle)
    return get_spec("speech", "wav2vec2_base").pretrained


def seed_speech_cache(pretrained: Pretrained) -> dict[str, torch.Tensor]:
    state = torchaudio.models.wav2vec2_model(**SMALL_WAV2VEC2).state_dict()
    cache_file(pretrained).parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, cache_file(pretrained))
    return state


def test_torchaudio_bundle_loads_through_its_own_loader_from_the_seeded_cache(tiny_wav2vec2):
    assert cache_file(tiny_wav2vec2).name == "wav2vec2_fairseq_base_ls960.pth"
    with pytest.raises(WeightsUnavailable, match="wav2vec2_fairseq_base_ls960.pth"):
        load_state_dict(tiny_wav2vec2)
    state = seed_speech_cache(tiny_wav2vec2)
    loaded = load_state_dict(tiny_wav2vec2)
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    assert torchaudio.pipelines.WAV2VEC2_BASE.get_model(dl_kwargs={"progress": False}) is not None
    assert get_spec("speech", "hubert_base").pretrained.weights() is torchaudio.pipelines.HUBERT_BASE


def test_speech_encoder_head_trains_on_cached_embeddings(tiny_wav2vec2, tmp_path):
    from tests.tasks.test_speech import make_folder

    state = seed_speech_cache(tiny_wav2vec2)
    make_folder(tmp_path / "words", per_class=6)
    given = {"freeze_backbone": True, "epochs": 2, "baseline": False}
    config = make_config("speech", "wav2vec2_base", data=str(tmp_path / "words"), pretrained="librispeech", **given)
    result = run_experiment(config, RunStore(tmp_path / "runs"))
    assert result.details["head_only"] and 0 <= result.metrics["accuracy"] <= 1
    assert torch.equal(result.model.backbone.encoder.transformer.layers[0].attention.k_proj.weight,
                       state["encoder.transformer.layers.0.attention.k_proj.weight"])  # fmt: skip


class Tiny(nn.Module):
    """A backbone of one convolution with a preprocessing size, and a head."""

    def __init__(self, size: int = 8) -> None:
        super().__init__()
        self.size = size
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4, 2)
        self.calls = 0

    @property
    def preprocessing(self) -> str:
        return f"resize to {self.size}"

    def embed(self, x):
        self.calls += 1
        return self.body(nn.functional.interpolate(x, size=(self.size, self.size)))

    def forward(self, x):
        return self.head(self.embed(x))


def test_embeddings_miss_then_hit_and_a_new_head_keeps_them():
    torch.manual_seed(0)
    model, x = Tiny(), torch.rand(70, 1, 6, 6)
    first, cached = embeddings(model, x)
    assert not cached and model.calls == 2  # 64 + 6: bounded batches
    again, cached = embeddings(model, x)
    assert cached and model.calls == 2 and torch.equal(first, again)
    nn.init.normal_(model.head.weight)  # the head is not part of the key
    assert embeddings(model, x)[1]
    assert len(list(cache_dir().glob("*.npy"))) == 1


def test_embeddings_invalidate_on_preprocessing_data_or_backbone_change():
    torch.manual_seed(0)
    model, x = Tiny(), torch.rand(10, 1, 6, 6)
    key = embedding_key(model, x)
    embeddings(model, x)
    model.size = 12  # another input size: another key, embedded afresh
    assert embedding_key(model, x) != key and not embeddings(model, x)[1]
    x2 = x.clone()
    x2[0, 0, 0, 0] += 0.5  # one pixel of the data
    assert not embeddings(model, x2)[1]
    with torch.no_grad():
        model.body[0].weight.add_(0.1)  # other backbone weights
    assert not embeddings(model, x)[1]


def test_embedding_cache_is_bounded(monkeypatch):
    monkeypatch.setenv("DLSTUDIO_FEATURE_CACHE_MB", "0.0005")  # 500 bytes: room for one 10 x 4 float array
    model = Tiny()
    for seed in range(3):
        embeddings(model, torch.rand(10, 1, 6, 6, generator=torch.Generator().manual_seed(seed)))
    assert len(list(cache_dir().glob("*.npy"))) == 1


def test_frozen_backbone_trains_the_head_on_cached_embeddings(tmp_path):
    """A second run of another what-if variant reads the embeddings back; the saved model is the whole network
    with the trained head, and its test metrics come from the whole network."""
    store = RunStore(tmp_path / "runs")
    given = {"freeze_backbone": True, "epochs": 2, "baseline": False, "max_batches": 2}
    first = run_experiment(make_config("image", "resnet18", **given), store)
    assert first.details["head_only"] and len(list(cache_dir().glob("*.npy"))) == 3  # train, validation, test
    ckpt = store.load_checkpoint(first.run_id)
    assert any(k.startswith("backbone.") for k in ckpt["model"]) and "head.weight" in ckpt["model"]
    again = run_experiment(make_config("image", "resnet18", **given, optimizer="sgd"), store)
    assert again.details["head_only"] and len(list(cache_dir().glob("*.npy"))) == 3  # the same embeddings


def test_fine_tuning_stays_the_whole_network():
    config = make_config("image", "resnet18", epochs=1, baseline=False, max_batches=1)
    result = run_experiment(config)
    assert "head_only" not in result.details
    assert not list(cache_dir().glob("*.npy"))


def test_speech_encoder_saliency_is_over_time(tiny_wav2vec2):
    from core.models import get_model
    from core.tasks.speech import spectrogram_saliency

    model = get_model("speech", "wav2vec2_base", num_classes=3, sample_rate=16_000, clip_samples=16_000)
    spec, saliency = spectrogram_saliency(model, torch.randn(1, 16_000) * 0.1, 1)
    assert spec.shape == saliency.shape and spec.shape[0] == 40 and saliency.max() == pytest.approx(1.0)


def test_a_frozen_backbone_predicts_from_cached_embeddings_as_the_whole_network_does():
    from core.models import freeze_backbone
    from core.tasks import get_task

    torch.manual_seed(0)
    model, x = TorchvisionNet("mobilenet_v3_small", 3), torch.rand(20, 3, 16, 16)
    task = get_task("image")
    whole = task.predict_proba(model, x)
    assert not list(cache_dir().glob("*.npy"))  # fine-tuned: no cache
    freeze_backbone(model)
    np.testing.assert_allclose(task.predict_proba(model, x), whole, atol=1e-5)
    assert len(list(cache_dir().glob("*.npy"))) == 1


def test_the_baseline_advice_names_other_pretrained_backbones():
    from core.eval.baseline import advice

    said = advice("image", "pca_svm", "mobilenet_v3_small")
    assert "resnet18 from ImageNet-1K" in said and "mobilenet_v3_small" not in said


def test_the_cli_line_of_a_pretrained_run_parses_back_to_its_config(monkeypatch):
    import shlex

    import core.run.experiment
    from core.cli import main
    from core.run.command import command_for
    from core.run.experiment import RunResult

    seed_cache(get_spec("image", "efficientnet_b0").pretrained)
    config = make_config("image", "efficientnet_b0", pretrained="imagenet", freeze_backbone=True)
    line = command_for(config)
    assert "--pretrained imagenet" in line and "--freeze-backbone" in line
    seen = []
    monkeypatch.setattr(
        core.run.experiment, "run_experiment", lambda c, *a, **k: seen.append(c) or RunResult("x", "done")
    )
    assert main(shlex.split(line)[3:]) == 0 and seen[-1] == config


def test_speech_facts_link_the_licence_the_bundle_names():
    f = facts(get_spec("speech", "wav2vec2_base").pretrained)
    assert f["licence"].startswith("https://github.com/pytorch/fairseq") and f["sample_rate"] == 16_000


def test_a_reloaded_pretrained_run_preprocesses_as_it_trained(tmp_path):
    """The weights' input size (224) and interpolation travel in the checkpoint: Try it, exports and the Map see
    what training saw, without the weights file; a checkpoint from before keeps 32 pixels."""
    from core.tasks import get_task, load_run_model
    from core.tasks.image import load_bundled

    seed_cache(get_spec("image", "efficientnet_b0").pretrained)
    store = RunStore(tmp_path / "runs")
    config = make_config("image", "efficientnet_b0", dataset="faces", pretrained="imagenet", epochs=1, baseline=False,
                         freeze_backbone=True)  # fmt: skip
    result = run_experiment(config, store)
    cache_file(get_spec("image", "efficientnet_b0").pretrained).unlink()  # another machine: no weights file
    model, _ = load_run_model(store, result.run_id)
    assert (model.min_size, model.interpolation) == (224, "bicubic")
    probs = store.load_artifacts(result.run_id)["probs"]
    x_test = load_bundled("faces", 0).x["test"]
    np.testing.assert_allclose(get_task("image").predict_proba(model, x_test), probs, atol=1e-4)
    old = {k: v for k, v in model.state_dict().items() if k not in ("input_size", "interpolation_code")}
    fresh = TorchvisionNet("efficientnet_b0", 2)
    fresh.load_state_dict(old)
    assert (fresh.min_size, fresh.interpolation) == (32, "bilinear")


def test_a_job_reports_the_embedding_pass(tmp_path):
    """A page's job hears how far the frozen backbone's pass got (the live view's bar), in a worker process."""
    from core.exec.jobs import JobManager

    seed_cache(get_spec("image", "mobilenet_v3_small").pretrained)
    jobs = JobManager(RunStore(tmp_path / "runs"), max_workers=1)
    try:
        given = {"freeze_backbone": True, "epochs": 1, "baseline": False}
        job = jobs.submit(make_config("image", "mobilenet_v3_small", dataset="faces", pretrained="imagenet", **given))
        jobs.wait(job.id, timeout=240)
        assert job.status == "finished", job.error
        assert job.snapshot()["embedded"] == (20, 20)  # the last pass before the fit: the validation split
    finally:
        jobs.shutdown()


def photo_folder(root: Path, per_class: int = 6, side: int = 64) -> Path:
    """A folder of small photos: two classes of random colour noise, `side` pixels square."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    return root


@pytest.mark.slow
def test_a_folder_is_decoded_at_the_pretrained_weights_size_and_cached_per_size(tmp_path, monkeypatch):
    """Photos for an ImageNet backbone are decoded at its weights' own 224 (not at 32 and resized up); cnn_bn on the
    same folder keeps 32; each size is decoded once and read back from the decoded-image cache."""
    from core.data import image_cache
    from core.tasks import get_task

    seed_cache(get_spec("image", "mobilenet_v3_small").pretrained)
    folder = str(photo_folder(tmp_path / "pets"))
    store = RunStore(tmp_path / "runs")
    given = {"data": folder, "epochs": 1, "baseline": False, "max_batches": 1}
    pretrained = make_config("image", "mobilenet_v3_small", pretrained="imagenet", **given,
                             freeze_backbone=True)  # fmt: skip
    small = make_config("image", "cnn_bn", **given)
    first = run_experiment(pretrained, store)
    assert store.load_checkpoint(first.run_id)["meta"]["size"] == 224
    assert run_experiment(small, store).status == "finished"
    assert len(list(image_cache.cache_dir().glob("*.npy"))) == 2  # one decoded copy per size

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(image_cache, "decode_images", no_decoding)
    task = get_task("image")
    assert task.load_data(pretrained).x["train"].shape[1:] == (3, 224, 224)
    assert task.load_data(small).x["train"].shape[1:] == (3, 32, 32)
    assert task.data_settings(pretrained) == {"image_size": 224} and task.data_settings(small) == {"image_size": 32}
    assert task.data_settings(make_config("image", "mobilenet_v3_small", dataset="faces")) == {}  # bundled: own size


def test_a_photo_decoded_at_224_counts_224_squared_against_the_dataset_limit(tmp_path, monkeypatch):
    from core.data import DataError
    from core.tasks.image import load_folder

    folder = photo_folder(tmp_path / "pets", per_class=6, side=16)
    monkeypatch.setenv("DLSTUDIO_MAX_DATASET_PIXELS", str(12 * 224 * 224 - 1))
    assert load_folder(folder, size=32).meta["size"] == 32  # 12 x 32^2 fits
    with pytest.raises(DataError, match="DLSTUDIO_MAX_DATASET_PIXELS"):
        load_folder(folder, size=224)
