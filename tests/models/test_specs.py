"""Model and task specs, the one run config, and the trainer paths that every fit now goes through."""

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.models import get_model, get_spec, list_models, register_model, spec_of
from core.run.config import BATCH_RULE, RUN_OPTIONS, fit_rule, fit_to_data, make_config
from core.run.experiment import run_experiment
from core.run.store import RunStore
from core.run.training import (
    Callback,
    Diverged,
    EarlyStopped,
    StopFlag,
    StopRequested,
    TensorClassification,
    TrainConfig,
    Trainer,
)
from core.tasks import get_task, task_names, task_specs


def test_every_task_is_found_and_every_model_has_a_spec():
    specs = Path(__file__).resolve().parents[2] / "core" / "tasks" / "specs"
    assert sorted(task_names()) == sorted(p.stem for p in specs.glob("*.py") if p.stem != "__init__")
    for spec in task_specs():
        assert spec.default_model in list_models(spec.name)
        assert spec.dataset_names and spec.primary_metric in spec.headline
        for name in list_models(spec.name):
            model = get_spec(spec.name, name)
            assert model.description
            if not model.closed_form:  # every trained model recommends its own training settings
                assert {"epochs", "lr", "batch_size"} <= set(model.defaults)


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(ValueError, match="registered twice"):
        register_model("image", "cnn_bn", "again")(lambda **kw: None)


def test_a_recommender_that_does_not_say_how_it_folds_in_a_visitor_cannot_register():
    list_models("recsys")  # its models module states the facts every recommender must give
    with pytest.raises(ValueError, match="must state fold_in"):
        register_model("recsys", "new_recommender", "no fold-in text")(lambda **kw: None)
    assert "new_recommender" not in list_models("recsys")
    assert all(get_spec("recsys", name).fold_in for name in list_models("recsys"))


def test_a_built_model_carries_its_spec_and_its_facts_come_from_the_registry():
    for task in task_names():
        for name in list_models(task):
            spec = get_spec(task, name)
            assert not hasattr(spec.builder, "uses_validation") and not hasattr(spec.builder, "rating_model")
    model = get_model("recsys", "mf", n_users=3, n_items=4, n_train=5)
    assert spec_of(model) is get_spec("recsys", "mf") and spec_of(model).rating_model
    assert get_spec("image", "pca_svm").uses_validation and not get_spec("image", "logreg").uses_validation
    with pytest.raises(ValueError, match="not built by core.models.get_model"):
        spec_of(torch.nn.Linear(2, 2))


def test_no_setting_given_means_the_models_spec():
    config = make_config("image", "cnn_bn")
    spec = get_spec("image", "cnn_bn")
    assert {k: getattr(config, k) for k in spec.defaults} == dict(spec.defaults)
    assert config.augment == dict(spec.augment) and config.dataset == "digits"
    assert make_config("image").model == get_task("image").spec.default_model
    assert make_config("image", "logreg").augment == {}  # closed form: nothing to augment
    given = make_config("image", "cnn_bn", lr=0.01, augment={"rotate": 0.0})
    assert given.lr == 0.01 and given.augment == {**spec.augment, "rotate": 0.0}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epochs": 0}, "epochs = 0 is outside 1 to 500"),
        ({"batch_size": -5}, "batch_size = -5 is outside"),
        ({"max_batches": 0}, "max_batches = 0 is outside"),
        ({"lr": float("inf")}, "lr = inf is outside"),
        ({"lr": float("nan")}, "lr = nan is outside"),
        ({"optimizer": "lion"}, "optimizer must be one of sgd"),
        ({"model_options": {"width": -5}}, "width = -5 is outside 8 to 128"),
        ({"model_options": {"depth": 3}}, "unknown option(s) for cnn: depth (it takes: width, dropout, batch_norm)"),
        ({"augment": {"rotate": "abc"}}, "rotate must be a number"),
        ({"augment": {"zoom": 2}}, "unknown augmentation(s): zoom"),
        ({"weights_path": "w.pth"}, "cnn cannot start from a weights file (models that can: mobilenet_v3_small"),
        ({"freeze_backbone": True}, "cnn has no backbone to freeze (models that have one: mobilenet_v3_small"),
        ({"protocol": "time"}, "protocol is a setting of another task"),
        ({"colour": "red"}, "unknown setting(s): colour"),
    ],
)
def test_nonsense_settings_are_refused_with_the_setting_named(settings, message):
    with pytest.raises(ValueError) as err:
        make_config("image", "cnn", **settings)
    assert message in str(err.value)


def test_patience_zero_means_off_as_the_widget_and_cli_write_it():
    assert get_spec("recsys", "mf").defaults["patience"] == 3
    assert make_config("recsys", "mf").patience == 3
    assert make_config("recsys", "mf", patience=0).patience is None


def test_small_data_gets_enough_steps_and_says_so():
    config = make_config("image", "cnn_bn", min_steps=0)
    fitted, note = fit_to_data(config, 115)
    assert fitted.batch_size == 16 and "64 → 16" in note  # 8 steps per epoch instead of 2
    assert fit_to_data(config, 1257) == (config, None)  # digits: untouched
    assert fit_to_data(replace(config, fit_batch=False), 115) == (replace(config, fit_batch=False), None)
    assert "at least 4 optimizer steps" in BATCH_RULE and RUN_OPTIONS["fit_batch"].help == BATCH_RULE


def test_a_step_floor_trains_small_data_for_more_epochs_and_says_so():
    config = make_config("image", "cnn_bn", min_steps=600, epochs=15)
    fitted, note = fit_to_data(config, 200)  # 40 people x 5 photos: batch 32, 7 steps an epoch
    assert fitted.batch_size == 32 and fitted.epochs == 86  # 86 x 7 = 602 steps
    assert "epochs 15 → 86 for 200 training examples (at least 600 optimizer steps" in note
    assert fit_to_data(config, 20_000)[0].epochs == 15  # 313 steps an epoch: the floor does not bind
    assert fit_to_data(replace(config, max_batches=1), 200)[0].epochs == 15  # a smoke run stays short
    assert fit_to_data(replace(config, fit_batch=False), 200)[0].epochs == 15  # the switch turns it off
    assert make_config("image", "cnn_bn", min_steps=0).min_steps is None  # 0 = no floor
    assert "600 optimizer steps" in fit_rule(None, 600)


def test_large_data_trains_fewer_epochs_within_the_models_example_budget():
    config = make_config("speech", "crnn_attention", example_budget=36_000, epochs=60)
    fitted, note = fit_to_data(config, 2_362)  # the free-spoken-digit set's train/ less its validation
    assert fitted.epochs == 16 and fitted.batch_size == config.batch_size
    assert "epochs 60 → 16 for 2,362 training examples" in note and "36,000" in note
    assert fit_to_data(config, 500) == (config, None)  # 30,000 examples: within the budget, untouched
    assert fit_to_data(config, 1_000_000)[0].epochs == 5  # never fewer than MIN_FITTED_EPOCHS
    assert fit_to_data(replace(config, fit_batch=False), 2_362)[0].epochs == 60  # the switch turns it off
    assert fit_to_data(replace(config, example_budget=None), 2_362) == (replace(config, example_budget=None), None)
    assert make_config("speech", "crnn_attention", example_budget=0).example_budget is None  # 0 = no budget
    small, both = fit_to_data(replace(make_config("image", "cnn_bn"), example_budget=100), 115)
    assert small.batch_size == 16 and small.epochs == 5 and "; epochs" in both  # both rules, one note


def test_a_tiny_folder_trains_with_the_fitted_batch_and_the_run_records_it(tmp_path):
    rng = np.random.default_rng(0)
    for c, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        folder = tmp_path / "tiny" / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(20):
            arr = (rng.random((16, 16, 3)) * 60 + np.array(colour) * 0.7).clip(0, 255).astype(np.uint8)
            Image.fromarray(arr).save(folder / f"{i}.png")
    store = RunStore(tmp_path / "runs")
    config = make_config("image", "cnn_bn", data=str(tmp_path / "tiny"), epochs=1, device="cpu")
    result = run_experiment(config, store)
    assert result.config.batch_size == 8 and "batch size 64 → 8" in result.details["settings_note"]
    assert store.get(result.run_id)["config"].batch_size == 8  # the stored run says what trained


def tiny_objective(n=600, val=600):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g)
    xv, yv = torch.randn(val, 1, 4, 4, generator=g), torch.randint(0, 3, (val,), generator=g)
    return TensorClassification(x, y, xv, yv)


def mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))


def test_validation_sees_every_example_at_large_batch_sizes():
    objective = tiny_objective(val=1500)
    for batch_size in (32, 512, 1024):
        seen = sum(len(y) for _, y in objective.val_batches(batch_size))
        assert seen == 1500, batch_size


def test_a_stop_request_is_typed_not_read_from_its_message():
    event = threading.Event()
    event.set()
    trainer = Trainer(mlp(), tiny_objective(), TrainConfig(epochs=3), [StopFlag(event)]).fit()
    assert trainer.status == "stopped"

    class Quiet(Callback):
        def on_epoch_end(self, trainer, logs):
            raise StopRequested("the user's cat sat on the keyboard")  # 'user' in a message decides nothing

    assert Trainer(mlp(), tiny_objective(), TrainConfig(epochs=3), [Quiet()]).fit().status == "stopped"

    class Early(Callback):
        def on_epoch_end(self, trainer, logs):
            raise EarlyStopped("stopped by the user? no: early stopping")

    assert Trainer(mlp(), tiny_objective(), TrainConfig(epochs=3), [Early()]).fit().status == "finished"


def test_ctrl_c_stops_cleanly_and_keeps_the_model():
    class Interrupt(Callback):
        def on_epoch_end(self, trainer, logs):
            if logs["epoch"] == 2:
                raise KeyboardInterrupt

    trainer = Trainer(mlp(), tiny_objective(), TrainConfig(epochs=5), [Interrupt()]).fit()
    assert trainer.status == "stopped" and "Ctrl-C" in trainer.stop_reason and len(trainer.history) == 2


def test_a_diverging_loss_is_diverged_not_finished(tmp_path):
    events = []

    class Recorder(Callback):
        def on_fit_end(self, trainer, status):
            events.append(status)

    trainer = Trainer(mlp(), tiny_objective(), TrainConfig(epochs=5, lr=10.0, optimizer="sgd"), [Recorder()])
    trainer.objective.x_train = trainer.objective.x_train * 1e30  # extreme values, as in audio of 1e30
    with pytest.raises(Diverged, match="lower the learning rate"):
        trainer.fit()
    assert trainer.status == "diverged" and events == ["diverged"]


def test_a_diverged_run_is_stored_as_diverged(tmp_path, monkeypatch):
    def exploding(self, model, batch):
        logits = model(batch[0])
        return logits.sum() * float("inf"), len(batch[1]), {"correct": 0}

    monkeypatch.setattr(TensorClassification, "loss", exploding)
    store = RunStore(tmp_path / "runs")
    config = make_config("image", "mlp", epochs=3, device="cpu")
    with pytest.raises(Diverged):
        run_experiment(config, store)
    (run,) = store.list()
    assert run["status"] == "diverged" and "lower the learning rate" in run["error"]


def test_closed_form_fits_go_through_the_trainer_with_the_same_events(tmp_path):
    seen = []

    class Recorder(Callback):
        def on_fit_start(self, trainer):
            seen.append("fit_start")

        def on_epoch_end(self, trainer, logs):
            seen.append(f"epoch {logs['epoch']}")

        def on_fit_end(self, trainer, status):
            seen.append(f"fit_end:{status}")

    result = run_experiment(make_config("image", "logreg", device="cpu"), RunStore(tmp_path / "runs"), [Recorder()])
    assert seen == ["fit_start", "epoch 1", "fit_end:finished"]
    assert result.details["closed_form"] and result.metrics["accuracy"] > 0.9


def test_a_bundled_set_added_to_a_spec_loads_through_the_task_with_no_other_edit(monkeypatch):
    """A DatasetSpec says how its set loads: one entry in the task's spec, no branch anywhere else."""
    import dataclasses

    import core.tasks.image as image
    from core.run.settings import RunConfig
    from core.tasks import DatasetSpec

    def stripes(name: str, seed: int = 0):
        x = np.stack([np.full((1, 8, 8), i % 2, np.float32) for i in range(40)])
        return image._split_set(name, x, np.arange(40) % 2, ["dark", "light"], seed)

    tiny = DatasetSpec("stripes", "40 plain 8x8 images, dark or light", stripes)
    monkeypatch.setattr(image, "SPEC", dataclasses.replace(image.SPEC, datasets=(*image.SPEC.datasets, tiny)))
    data = image.TASK.load_data(RunConfig(task="image", dataset="stripes", split_seed=3))
    assert data.class_names == ["dark", "light"] and data.meta["dataset"] == "stripes"
    assert sum(len(y) for y in data.y.values()) == 40
    with pytest.raises(ValueError, match="unknown image dataset 'plaid'; choose one of digits, faces, shapes, stripes"):
        image.TASK.load_data(RunConfig(task="image", dataset="plaid"))


def test_a_config_stored_with_freeze_backbone_among_its_model_options_still_loads_and_reproduces():
    """Before `freeze_backbone` was a run setting it sat in model_options: such a stored config (the store's, a
    checkpoint's) reads back with it as today's setting, so its command line and rebuilt model freeze as the run did."""
    from core.run.command import command_for
    from core.run.config import check_config
    from core.run.settings import RunConfig

    config = make_config("image", "mobilenet_v3_small", freeze_backbone=True)
    old = {**config.to_dict(), "model_options": {"freeze_backbone": True}}
    del old["freeze_backbone"]
    stored = RunConfig.from_dict(old)
    assert stored == config and check_config(stored) == config
    assert "--freeze-backbone" in command_for(stored) and "--option" not in command_for(stored)
    model = get_task("image").build_model(stored, {"channels": 3, "size": 32, "class_names": ["a", "b"]})
    assert {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad} == {"head"}
