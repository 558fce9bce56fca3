"""Look inside: filters, feature maps and class activations against plain forward passes; attention weights
against attention computed by hand; the Look-inside tabs on the image and speech pages."""

import numpy as np
import pytest
import torch

from core.models import get_model
from core.views.charts import attention_figure, class_activations_figure, feature_maps_figure, filters_figure
from core.views.inside import (
    attention_over_time,
    class_activations,
    conv_layers,
    describe_conv,
    feature_maps,
    first_filters,
    has_attention,
)
from tests.support.apptest import has_confusion_matrix, open_page, open_tab, rerun_until


def _image_model(name: str = "cnn_bn"):
    torch.manual_seed(0)
    return get_model("image", name, channels=1, size=8, num_classes=3).eval()


def _speech_model(name: str):
    torch.manual_seed(0)
    return get_model("speech", name, num_classes=4, sample_rate=16_000, clip_samples=16_000).eval()


def test_feature_maps_are_the_convolutions_own_output():
    model, x = _image_model(), torch.rand(1, 1, 8, 8)
    convs = conv_layers(model)
    assert list(convs)[:2] == ["features.0.0", "features.1.0"]
    assert np.allclose(feature_maps(model, x, "features.0.0"), convs["features.0.0"](x)[0].detach().numpy())
    deeper = model.features[:3](x)  # two blocks and a pooling, then the third block's convolution
    assert np.allclose(feature_maps(model, x, "features.3.0"), convs["features.3.0"](deeper)[0].detach().numpy())
    assert np.array_equal(first_filters(model), model.features[0][0].weight.detach().numpy())
    with pytest.raises(ValueError, match="not a convolution"):
        feature_maps(model, x, "head")


def test_describe_conv_names_depthwise_and_pointwise():
    labels = [describe_conv(c) for c in conv_layers(_image_model("dscnn")).values()]
    assert labels[:3] == ["1 → 32, 3×3", "32 → 32, 3×3 depthwise", "32 → 32, 1×1 pointwise"]


def test_class_activations_are_per_class_means_of_what_the_head_reads():
    model = _image_model()
    x, y = torch.rand(12, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 0, 0, 1, 2, 2, 0, 1])
    out = class_activations(model, x, y, 3)
    with torch.no_grad():
        feats = model.pool(model.features(x)).numpy()
    expected = np.stack([feats[y.numpy() == c].mean(0) for c in range(3)])
    assert np.allclose(out["mean"], expected[:, out["order"]], atol=1e-6)
    assert sorted(out["order"]) == list(range(feats.shape[1])) and list(out["count"]) == [5, 4, 3]
    preferred = out["mean"].argmax(0)
    assert list(preferred) == sorted(preferred)  # units grouped by the class they respond to most


def test_crnn_attention_weights_are_the_ones_its_pooling_uses():
    model = _speech_model("crnn_attention")
    wave = torch.randn(2, 16_000) * 0.1
    with torch.no_grad():
        logmel = model.spectrogram(wave)
        weights = model.attention_weights(logmel)  # (B, 1, steps)
        h = model.sequence(logmel)
        pooled = (weights.transpose(1, 2) * h).sum(1)
        assert torch.allclose(model.head(pooled), model.classify(logmel), atol=1e-5)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 1))


def test_kwt_attention_matches_attention_computed_by_hand():
    model = _speech_model("kwt")
    with torch.no_grad():
        logmel = model.spectrogram(torch.randn(1, 16_000) * 0.1)
        ours = model.attention_weights(logmel)[0]  # (depth, tokens)
        x = model.tokens(logmel)
        for depth, layer in enumerate(model.encoder.layers):
            attn = layer.self_attn
            h = layer.norm1(x)
            q, k, _ = torch.nn.functional.linear(h, attn.in_proj_weight, attn.in_proj_bias).chunk(3, -1)
            heads, d = attn.num_heads, attn.head_dim
            q, k = (t.view(1, -1, heads, d).transpose(1, 2) for t in (q, k))  # (1, heads, L, d)
            by_hand = torch.softmax(q @ k.transpose(-1, -2) / d**0.5, -1).mean(1)[0]  # (L, L), heads averaged
            assert torch.allclose(ours[depth], by_hand[0, 1:], atol=1e-5)
            x = layer(x)
        # the layer-by-layer pass is the encoder's own: the same logits
        assert torch.allclose(model.head(model.out_norm(x[:, 0])), model.classify(logmel), atol=1e-5)


@pytest.mark.parametrize("name", ["crnn_attention", "kwt"])
def test_attention_over_time_lines_up_with_the_spectrogram(name):
    model = _speech_model(name)
    out = attention_over_time(model, torch.randn(16_000) * 0.1)
    frames = out["spectrogram"].shape[1]
    assert out["weights"].shape[1] == frames and out["spectrogram"].shape[0] == 40
    assert np.allclose(out["steps"].sum(1), 1.0, atol=1e-5) or name == "kwt"  # kwt: the class token keeps some
    assert (out["weights"] >= 0).all() and out["weights"].sum(1).max() <= 1.0 + 1e-5
    assert not has_attention(_speech_model("cnn"))
    with pytest.raises(ValueError, match="no attention"):
        attention_over_time(_speech_model("cnn"), torch.zeros(16_000))


def test_the_figures_draw_tiles_and_lines():
    model = _image_model()
    fig = filters_figure(first_filters(model))
    assert fig.data[0].z.shape == (4 * 4 - 1, 8 * 4 - 1)  # 32 filters of 3x3 in rows of 8, one pixel between
    rgb = filters_figure(np.random.rand(8, 3, 3, 3))
    assert rgb.data[0].type == "image"
    maps = feature_maps_figure(np.random.rand(100, 4, 4))
    assert maps.data[0].z.shape == (8 * 5 - 1, 8 * 5 - 1)  # the first 64 maps
    assert class_activations_figure(np.random.rand(3, 10), ["a", "b", "c"]).data[0].z.shape == (3, 10)
    att = attention_figure(np.random.rand(40, 101), np.random.rand(2, 101), 0.01, ["layer 1", "layer 2"])
    assert [t.type for t in att.data] == ["heatmap", "scatter", "scatter"]


def _is_attention_shown(at) -> bool:
    return any("the model attends most" in m.value for m in at.markdown)


def test_the_image_page_looks_inside_a_trained_cnn():
    at = open_page("app_pages/image.py")
    at.selectbox(key="image_model").select("cnn").run()
    at.number_input(key="image_epochs").set_value(2).run()
    at.button(key="image_train_btn").click().run()
    rerun_until(at, has_confusion_matrix)
    assert not any("First layer's filters" in m.value for m in at.markdown)  # a closed tab does not run
    open_tab(at, "image", "Look inside")
    assert any("First layer's filters" in m.value for m in at.markdown)
    assert not has_confusion_matrix(at)
    assert at.selectbox(key="image_inside_layer").value == "features.0.0"
    at.selectbox(key="image_inside_layer").select("features.4.0").run()
    at.number_input(key="image_inside_index").set_value(5).run()
    assert not at.exception
    assert any("64 maps of 4×4" in c.value for c in at.caption)


def test_the_speech_page_shows_attention_over_time():
    at = open_page("app_pages/speech.py")
    assert at.selectbox(key="speech_model").value == "crnn_attention"
    at.number_input(key="speech_epochs").set_value(2).run()
    at.button(key="speech_train_btn").click().run()
    rerun_until(at, has_confusion_matrix, timeout=240)
    assert not _is_attention_shown(at)
    open_tab(at, "speech", "Look inside")
    assert _is_attention_shown(at)
    at.selectbox(key="speech_inside_clip").set_value(3).run()
    assert not at.exception and _is_attention_shown(at)
