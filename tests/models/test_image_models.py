"""Every image model: output shape, a falling loss on a tiny batch, transfer learning from local weights."""

import pytest
import torch
import torchvision
from torch import nn

from core.data import DataError
from core.models import freeze_backbone, get_model, get_spec, list_models
from core.run.config import make_config
from core.run.experiment import run_experiment
from core.run.store import RunStore
from core.tasks import load_run_model
from core.views.explain import explain, grad_cam

MODELS = list_models("image")


def test_registry_names_the_choices():
    assert {"logreg", "mlp", "cnn", "cnn_bn", "dscnn", "resnet", "resnet18", "mobilenet_v3_small"} <= set(MODELS)
    with pytest.raises(ValueError, match="cnn_bn"):
        get_model("image", "vgg99", channels=1, size=8, num_classes=3)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("channels,size", [(1, 8), (3, 32)])
def test_output_shape(name, channels, size):
    model = get_model("image", name, channels=channels, size=size, num_classes=5).eval()
    assert model(torch.rand(2, channels, size, size)).shape == (2, 5)


@pytest.mark.parametrize("name", [m for m in MODELS if not get_spec("image", m).closed_form])
def test_loss_falls_on_a_tiny_batch(name):
    torch.manual_seed(0)
    y = torch.arange(16) % 4
    x = torch.rand(16, 3, 32, 32) * 0.3
    for i, label in enumerate(y.tolist()):  # each class lights up its own quadrant
        r, c = divmod(label, 2)
        x[i, :, r * 16 : r * 16 + 16, c * 16 : c * 16 + 16] += 0.7
    model = get_model("image", name, channels=3, size=32, num_classes=4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(25):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.7


def test_logreg_matches_scikit_learn():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    d = load_digits()
    x = torch.tensor(d.images[:, None] / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    model = get_model("image", "logreg", channels=1, size=8, num_classes=10).fit_sklearn(x[:1000], y[:1000])
    scaler = StandardScaler().fit(x[:1000].flatten(1).numpy())
    scaler.scale_ = x[:1000].flatten(1).std(0).clamp_min(1e-6).numpy()  # torch's std (n-1) in ours
    ref = LogisticRegression(max_iter=2000, random_state=0).fit(scaler.transform(x[:1000].flatten(1).numpy()), y[:1000])
    ours = torch.softmax(model(x[1000:]), 1).detach().numpy()
    theirs = ref.predict_proba(scaler.transform(x[1000:].flatten(1).numpy()))
    assert abs(ours - theirs).max() < 1e-4


def test_pca_svm_predicts_like_scikit_learns_whitened_pca_and_svc_and_reloads():
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    d = load_digits()
    x, y = torch.tensor(d.images[:, None] / 16.0, dtype=torch.float32), torch.tensor(d.target)
    model = get_model("image", "pca_svm", channels=1, size=8, num_classes=10, components=20)
    model.fit_sklearn(x[:600], y[:600], val=(x[600:800], y[600:800]))  # C and gamma chosen on these
    flat = x.flatten(1).double().numpy()
    pca = PCA(n_components=20, whiten=True, random_state=0).fit(flat[:600])
    scaler = StandardScaler().fit(pca.transform(flat[:600]))
    scaler.scale_ = pca.transform(flat[:600]).std(0, ddof=1)  # ours standardises with n - 1, as the speech SVM
    z = scaler.transform(pca.transform(flat[:600]))
    theirs = (
        SVC(C=float(model.svm.C), gamma=float(model.svm.gamma))
        .fit(z, y[:600])
        .predict(scaler.transform(pca.transform(flat[800:])))
    )
    ours = model(x[800:]).argmax(1).numpy()
    assert (ours == theirs).mean() > 0.99 and (ours == y[800:].numpy()).mean() > 0.9
    again = get_model("image", "pca_svm", channels=1, size=8, num_classes=10)  # built with 40 axes: 20 come back
    again.load_state_dict(model.state_dict())
    assert torch.equal(again(x[800:]), model(x[800:]))


def test_pca_svm_fits_fewer_axes_than_training_images():
    x, y = torch.rand(12, 3, 8, 8), torch.arange(12) % 3
    model = get_model("image", "pca_svm", channels=3, size=8, num_classes=3).fit_sklearn(x, y)
    assert model.basis.shape == (11, 192) and model(x).shape == (12, 3)


def test_binary_logreg_keeps_two_outputs():
    x, y = torch.rand(40, 1, 4, 4), torch.arange(40) % 2
    model = get_model("image", "logreg", channels=1, size=4, num_classes=2).fit_sklearn(x, y)
    assert model(x).shape == (40, 2)


def test_torchvision_model_starts_from_a_local_weights_file(tmp_path):
    source = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    model = get_model("image", "resnet18", channels=3, size=32, num_classes=4, weights_path=str(path))
    assert model.loaded_tensors > 100
    assert torch.equal(model.backbone.conv1.weight, source.conv1.weight)
    assert model.head.out_features == 4  # a new head for our classes
    freeze_backbone(model)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["head.weight", "head.bias"]


def test_weights_that_do_not_fit_are_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"something.else": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="share no layer"):
        get_model("image", "resnet18", channels=3, size=32, num_classes=4, weights_path=str(path))


def test_a_corrupt_weights_file_is_named_not_a_traceback(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"these are not tensors")
    with pytest.raises(DataError, match="broken.pth: not a PyTorch weights file"):
        get_model("image", "resnet18", channels=3, size=32, num_classes=4, weights_path=str(path))


def test_checkpoint_round_trip_and_fine_tune_from_a_run(tmp_path):
    store = RunStore(tmp_path / "runs")
    result = run_experiment(make_config("image", "cnn_bn", epochs=1, max_batches=3), store)
    model, ckpt = load_run_model(store, result.run_id)
    x = torch.rand(4, 1, 8, 8)
    assert torch.allclose(model(x), result.model.eval()(x), atol=1e-6)
    assert ckpt["meta"]["class_names"][:2] == ["0", "1"]
    # fine-tune that run's weights on another dataset with a different number of classes
    tuned = run_experiment(
        make_config("image", "cnn_bn", dataset="faces", epochs=1, max_batches=2, init_from=result.run_id), store
    )
    assert tuned.model.head.out_features == 2
    from core.models import transfer_weights

    fresh = get_model("image", "cnn_bn", channels=1, size=8, num_classes=2)
    copied, skipped = transfer_weights(fresh, ckpt["model"])
    assert skipped == 2  # only the new head (weight, bias) starts fresh
    assert torch.equal(fresh.features[0][0].weight, model.features[0][0].weight)
    assert store.get(tuned.run_id)["config"].init_from == result.run_id


@pytest.mark.parametrize("name", ["cnn", "mlp"])
def test_explanations_are_maps_over_the_input(name):
    model = get_model("image", name, channels=1, size=8, num_classes=3)
    heat, method = explain(model, torch.rand(1, 1, 8, 8), 1)
    assert heat.shape == (8, 8)
    assert float(heat.min()) >= 0 and float(heat.max()) <= 1
    assert ("Grad-CAM" in method) == (name == "cnn") or float(heat.max()) > 0
    if name == "mlp":
        assert grad_cam(model, torch.rand(1, 1, 8, 8), 0) is None
