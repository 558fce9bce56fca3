"""The image page's "Start from: ImageNet": the weights' facts, the offline message with the cache path, and a head
trained on a frozen backbone from weights put in the cache beforehand (this machine has no network)."""

from __future__ import annotations

import pytest
import torch
import torchvision

from core.models import get_spec
from core.models.pretrained import cache_file
from tests.support.apptest import has_confusion_matrix, open_page, rerun_until

pytestmark = pytest.mark.usefixtures("torch_home")  # an empty hub cache behind a firewall


def _start_from_imagenet(model: str):
    at = open_page("app_pages/image.py")
    at.selectbox(key="image_model").select(model).run()
    at.selectbox(key="image_init_from").select("imagenet").run()
    assert not at.exception, at.exception
    return at


def _captions(at) -> str:
    return "\n".join(c.value for c in at.caption)


def test_imagenet_offline_shows_the_file_and_the_cache_path(torch_home):
    at = _start_from_imagenet("resnet18")
    assert "ImageNet top-1 69.8%" in _captions(at) and "11.7 M parameters" in _captions(at)
    assert at.button(key="image_train_btn").disabled  # the weights first
    at.button(key="image_pretrained_download_btn").click().run()
    error = at.error[0].value
    assert "resnet18-f37072fd.pth" in error
    assert str(torch_home / "hub" / "checkpoints").replace("_", "\\_") in error


def test_imagenet_in_the_cache_trains_the_head_on_a_frozen_backbone():
    pretrained = get_spec("image", "mobilenet_v3_small").pretrained
    cache_file(pretrained).parent.mkdir(parents=True)
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), cache_file(pretrained))
    at = _start_from_imagenet("mobilenet_v3_small")
    at.selectbox(key="image_dataset").select("faces").run()  # 200 images: a short embedding pass at 224 x 224
    assert "In the cache" in _captions(at)
    assert at.checkbox(key="image_freeze").value  # ImageNet starts frozen: the head trains on cached embeddings
    at.number_input(key="image_epochs").set_value(2).run()
    at.button(key="image_train_btn").click().run()
    rerun_until(at, has_confusion_matrix, timeout=300)


def test_a_camera_dataset_starts_from_cached_imagenet_weights_frozen():
    from ui.capture import CAPTURED

    at = open_page("app_pages/image.py")
    at.selectbox(key="image_dataset").select(CAPTURED).run()
    assert at.selectbox(key="image_model").value != "mobilenet_v3_small"  # nothing cached: the model stays
    pretrained = get_spec("image", "mobilenet_v3_small").pretrained
    cache_file(pretrained).parent.mkdir(parents=True)
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), cache_file(pretrained))
    at.selectbox(key="image_dataset").select("digits").run()
    at.selectbox(key="image_dataset").select(CAPTURED).run()
    assert at.selectbox(key="image_model").value == "mobilenet_v3_small"
    assert at.selectbox(key="image_init_from").value == "imagenet" and at.checkbox(key="image_freeze").value


def test_the_speech_page_offers_librispeech_encoders_and_names_their_cache_path(torch_home):
    at = open_page("app_pages/speech.py")
    at.selectbox(key="speech_model").select("hubert_base").run()
    at.selectbox(key="speech_init_from").select("librispeech").run()
    assert not at.exception and at.checkbox(key="speech_freeze").value
    assert "torchaudio.pipelines.HUBERT" in _captions(at).replace("\\", "") and "16 kHz audio" in _captions(at)
    at.button(key="speech_pretrained_download_btn").click().run()
    assert "hubert" in at.error[0].value and "fairseq" in at.error[0].value


def test_the_data_is_mapped_before_training_and_training_reuses_its_embeddings():
    from core.models.embeddings import cache_dir

    pretrained = get_spec("image", "mobilenet_v3_small").pretrained
    cache_file(pretrained).parent.mkdir(parents=True)
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), cache_file(pretrained))
    at = _start_from_imagenet("mobilenet_v3_small")
    at.selectbox(key="image_dataset").select("faces").run()
    at.toggle(key="image_datamap_on").set_value(True).run()
    assert not at.exception and any("pretrained features for 140 training examples" in c.value for c in at.caption)
    assert len(list(cache_dir().glob("*.npy"))) == 1
    at.number_input(key="image_epochs").set_value(2).run()
    at.button(key="image_train_btn").click().run()
    rerun_until(at, has_confusion_matrix, timeout=300)
    assert len(list(cache_dir().glob("*.npy"))) == 3  # validation and test added; the training split reused


@pytest.mark.slow
def test_a_folder_for_imagenet_is_read_at_224_and_training_reuses_the_maps_embeddings(tmp_path):
    """Your own photos with ImageNet weights chosen: the page reads them at the weights' 224 (as the training job
    does, so the map's embeddings are the ones training the head reads); cnn_bn reads the same folder at 32."""
    from core.models.embeddings import cache_dir
    from tests.models.test_pretrained import photo_folder

    photo_folder(tmp_path / "pets")  # 64 x 64 photos
    pretrained = get_spec("image", "mobilenet_v3_small").pretrained
    cache_file(pretrained).parent.mkdir(parents=True)
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), cache_file(pretrained))
    at = open_page("app_pages/image.py")
    at.selectbox(key="image_dataset").select("your own (.zip or folder)").run()
    at.text_input(key="image_folder").input(str(tmp_path / "pets")).run()
    assert "3×32×32" in _captions(at)  # the default model (from scratch): the small size
    at.selectbox(key="image_model").select("mobilenet_v3_small").run()
    at.selectbox(key="image_init_from").select("imagenet").run()
    assert not at.exception and "3×224×224" in _captions(at)
    at.toggle(key="image_datamap_on").set_value(True).run()
    assert len(list(cache_dir().glob("*.npy"))) == 1
    at.number_input(key="image_epochs").set_value(1).run()
    at.button(key="image_train_btn").click().run()
    rerun_until(at, has_confusion_matrix, timeout=300)
    assert len(list(cache_dir().glob("*.npy"))) == 3  # validation and test added; the training split reused
