"""The Map: penultimate-layer embeddings projected to 2-D (PCA against scikit-learn's, t-SNE), the figure's classes and
rings, and the image page's Map tab after training."""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.decomposition import PCA

from core.models import get_model
from core.models.embeddings import penultimate
from core.views.charts import embedding_map_figure
from core.views.maps import MAX_POINTS, features_of, project, split_map
from tests.support.apptest import has_confusion_matrix, open_page, open_tab, rerun_until


def _blobs(n: int = 60, d: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return rng.normal(size=(n, d)) + 6 * np.eye(3, d)[y], y


def test_pca_is_scikit_learns_on_standardised_features():
    z, _ = _blobs()
    standard = (z - z.mean(0)) / z.std(0)
    expected = PCA(n_components=2, random_state=0).fit_transform(standard)
    np.testing.assert_allclose(np.abs(project(z, "PCA")), np.abs(expected), atol=1e-9)


def test_tsne_keeps_separable_classes_apart():
    z, y = _blobs()
    xy = project(z, "t-SNE")
    centres = np.stack([xy[y == c].mean(0) for c in range(3)])
    spread = max(np.linalg.norm(xy[y == c] - centres[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a + 1, 3)]
    assert min(gaps) > 2 * spread


def test_penultimate_is_the_heads_input():
    model = get_model("image", "cnn_bn", channels=1, size=8, num_classes=3).eval()
    x = torch.rand(5, 1, 8, 8)
    z = penultimate(model, x)
    with torch.no_grad():
        expected = model.pool(model.features(x))
        assert torch.allclose(model.head(torch.from_numpy(z)), model(x), atol=1e-5)
    np.testing.assert_allclose(z, expected.numpy(), atol=1e-6)


def test_a_model_without_a_head_maps_its_inputs():
    model = get_model("image", "pca_svm", channels=1, size=8, num_classes=3)
    z, what = features_of(model, torch.rand(4, 1, 8, 8))
    assert z.shape == (4, 64) and what.startswith("the inputs")


def test_a_large_split_is_mapped_on_a_seeded_sample():
    model = get_model("image", "mlp", channels=1, size=4, num_classes=2)
    smap = split_map(model, torch.rand(MAX_POINTS + 50, 1, 4, 4), "PCA")
    assert smap.xy.shape == (MAX_POINTS, 2) and np.all(np.diff(smap.index) > 0) and "sample" in smap.note


def test_the_figure_colours_by_true_class_and_rings_the_mistakes():
    xy, y = np.random.default_rng(0).normal(size=(2000, 2)), np.arange(2000) % 4
    pred = y.copy()
    pred[:10] = (y[:10] + 1) % 4
    start = time.perf_counter()
    fig = embedding_map_figure(xy, y, pred, ["a", "b", "c", "d"], [str(i) for i in range(2000)])
    fig.to_json()  # what Streamlit sends
    assert time.perf_counter() - start < 2.0  # 2,000 points, once the projection is cached
    assert [t.name for t in fig.data] == ["a (500)", "b (500)", "c (500)", "d (500)"]
    ringed = sum(int(np.count_nonzero(np.asarray(t.marker.line.width))) for t in fig.data)
    assert ringed == 10


def test_the_image_page_maps_a_trained_model():
    at = open_page("app_pages/image.py")
    at.selectbox(key="image_model").select("mlp").run()
    at.number_input(key="image_epochs").set_value(2).run()
    at.button(key="image_train_btn").click().run()
    rerun_until(at, has_confusion_matrix)
    open_tab(at, "image", "Map")
    assert any("PCA of the head's input" in c.value for c in at.caption)
    at.radio(key="image_map_method").set_value("t-SNE").run()
    assert not at.exception and any("t-SNE of the head's input" in c.value for c in at.caption)
    # a box or lasso in the browser sends the points' customdata; AppTest sets the chart's state as that event would
    at.session_state["image_map_chart"] = {"selection": {"points": [{"customdata": n} for n in (0, 1, 2)]}}
    at.run()
    assert not at.exception and any(m.value.startswith("**3 selected**") for m in at.markdown)
    captions = at.image[-1].captions
    assert len(captions) == 3 and all(c.startswith("#") and ("✓" in c or "→" in c) for c in captions)


def _selection_page(clips: bool) -> None:
    from types import SimpleNamespace

    import numpy as np
    import torch

    from ui.maps import show_selection

    x = torch.rand(6, 800) if clips else torch.rand(6, 3, 8, 8)
    data = SimpleNamespace(class_names=["cat", "dog"], x={"test": x}, y={"test": torch.tensor([0, 0, 0, 1, 1, 1])},
                           meta={"sample_rate": 8000})  # fmt: skip
    show_selection(data, "test", np.array([4, 1, 2]), np.array([0, 0, 1, 1, 0, 1]))


def test_a_selection_lists_its_images_with_true_and_predicted_class():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_selection_page, args=(False,)).run()
    assert not at.exception
    assert at.image[0].captions == ["#4 dog → cat", "#1 cat ✓", "#2 cat → dog"]
    assert "true class → predicted" in at.markdown[0].value


def test_a_selection_of_clips_gives_each_a_player_with_its_classes():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_selection_page, args=(True,)).run()
    assert not at.exception
    assert [c.value for c in at.caption] == ["#4 dog → cat", "#1 cat ✓", "#2 cat → dog"]
    assert len(at.get("audio")) == 3


def test_selected_points_list_the_mistakes_first_then_each_class_in_turn():
    from ui.maps import _mistakes_first

    y_true, y_pred = np.array([0, 0, 0, 1, 1, 2]), np.array([0, 0, 1, 1, 1, 2])
    assert _mistakes_first([0, 1, 2, 3, 4, 5], y_true, y_pred) == [2, 0, 3, 5, 1, 4]


def test_umap_is_offered_only_where_umap_learn_imports(monkeypatch):
    """umap-learn is optional (it brings numba): without it the choice is PCA and t-SNE, and UMAP is refused; with
    it (a stand-in module here, umap-learn is not installed) UMAP is offered and runs umap.UMAP."""
    import importlib.util
    import sys
    import types

    import pytest

    from core.views.maps import methods

    real = importlib.util.find_spec

    def umap_is(installed: bool) -> None:
        found = object() if installed else None
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: found if name == "umap" else real(name))

    umap_is(False)
    assert methods() == ("PCA", "t-SNE")
    with pytest.raises(ValueError, match="choose one of PCA, t-SNE"):
        project(np.zeros((5, 3)), "UMAP")

    seen = {}

    class UMAP:
        def __init__(self, **kw):
            seen.update(kw)

        def fit_transform(self, z):
            return z[:, :2]

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=UMAP))
    umap_is(True)
    assert methods() == ("PCA", "t-SNE", "UMAP")
    z, _ = _blobs(n=9)
    assert project(z, "UMAP", seed=3).shape == (9, 2)
    assert seen == {"n_components": 2, "n_neighbors": 8, "random_state": 3}
