import pytest
import torch

import rie.training.train as train_module
from rie.common.checks import RIEInputError
from rie.training.train import TrainConfig, TrainingDivergedError, cache_key, fit, load_trained, train_or_load


def _data(n_classes=4, per_class=24, size=32, seed=0):
    """Separable toy images: each class is a fixed random pattern plus noise (uint8)."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.rand(n_classes, 3, size, size, generator=g)
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    x = patterns[labels] + 0.15 * torch.randn(len(labels), 3, size, size, generator=g)
    images = (x.clamp(0, 1) * 255).to(torch.uint8)
    ui = (torch.rand(40, 3, size, size, generator=g) * 255).to(torch.uint8)
    return images, labels, ui


def _config(**kw):
    base = dict(name="t", embedding_size=16, epochs=3, batch_size=32, lr=0.05, head="cosface", head_kwargs={"s": 16.0})
    base.update(kw)
    return TrainConfig(**base)


RIE = {"alpha": 1.0, "beta": 1.0, "gamma": 1.0, "tau": 0.5}


def test_loss_goes_down_with_all_terms():
    images, labels, ui = _data()
    result = fit(_config(epochs=4, loss=RIE), images, labels, ui, progress=False)
    first, last = result.history[0], result.history[-1]
    assert last["total"] < first["total"] and last["cls"] < first["cls"]
    assert set(first) >= {"total", "cls", "l1", "id", "mse"}
    assert result.ui_center is not None and result.ui_center.norm().item() == pytest.approx(1.0, abs=1e-5)


def test_interrupted_run_resumes_to_identical_weights(tmp_path):
    images, labels, ui = _data()
    config = _config(loss=RIE, ui_center_mode="epoch")
    whole = fit(config, images, labels, ui, progress=False)
    ckpt = tmp_path / "checkpoint.pt"
    fit(config, images, labels, ui, checkpoint_path=ckpt, progress=False, max_steps=3 + 1)  # stops inside epoch 2
    assert torch.load(ckpt, weights_only=False)["epoch"] == 1
    resumed = fit(config, images, labels, ui, checkpoint_path=ckpt, progress=False)
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert resumed.history == whole.history


def test_train_or_load_caches_by_config_and_data(tmp_path):
    images, labels, ui = _data()
    config = _config(epochs=1)
    first = train_or_load(config, images, labels, cache_dir=tmp_path, progress=False)
    again = train_or_load(config, images, labels, cache_dir=tmp_path, progress=False)
    assert not first.loaded and again.loaded and again.key == first.key
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    folder = tmp_path / first.key
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "head.pt", "model.pt"]
    assert load_trained(folder).config == config
    assert cache_key(config.replace(lr=0.01), images, labels) != first.key
    assert cache_key(config, images[:-1], labels[:-1]) != first.key


def test_damaged_cache_is_retrained_loudly(tmp_path):
    images, labels, _ = _data()
    config = _config(epochs=1)
    first = train_or_load(config, images, labels, cache_dir=tmp_path, progress=False)
    (tmp_path / first.key / "model.pt").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="could not be loaded"):
        again = train_or_load(config, images, labels, cache_dir=tmp_path, progress=False)
    assert not again.loaded


def test_nan_names_epoch_step_and_term(monkeypatch):
    images, labels, ui = _data()
    real = train_module.compute_loss
    calls = {"n": 0}

    def poisoned(*args, **kw):
        loss, terms = real(*args, **kw)
        calls["n"] += 1
        if calls["n"] == 5:
            terms = {**terms, "l1": float("nan")}
        return loss, terms

    monkeypatch.setattr(train_module, "compute_loss", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"\['l1'\].*epoch 1, step 1"):
        fit(_config(loss=RIE), images, labels, ui, progress=False)


def test_init_state_is_used():
    images, labels, ui = _data()
    pre = fit(_config(epochs=1), images, labels, progress=False)
    tuned = fit(_config(epochs=1, lr=1e-9, loss=RIE), images, labels, ui, init_state=pre.model.state_dict(), progress=False)
    w0 = pre.model.backbone.state_dict()
    w1 = tuned.model.backbone.state_dict()
    assert all(torch.allclose(w0[k].float(), w1[k].float(), atol=1e-4) for k in w0 if "running" not in k and "num_batches" not in k)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(images=torch.zeros(64, 3, 16, 16, dtype=torch.uint8)), "input_size"),
        (dict(labels=-torch.ones(96, dtype=torch.long)), ">= 0"),
        (dict(ui=None, loss=RIE), "UI set"),
        (dict(images=torch.zeros(8, 3, 32, 32, dtype=torch.uint8), labels=torch.zeros(8, dtype=torch.long)), "fewer than one batch"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    images, labels, ui = _data()
    images = kwargs.get("images", images)
    labels = kwargs.get("labels", labels)
    ui = kwargs.get("ui", ui)
    config = _config(loss=kwargs.get("loss", {}))
    with pytest.raises(RIEInputError, match=message):
        fit(config, images, labels, ui, progress=False)


def test_config_validation_and_roundtrip():
    c = _config(loss=RIE)
    assert TrainConfig.from_dict(c.to_dict()) == c
    assert c.replace(loss={"beta": 0.0}).loss.beta == 0.0 and c.loss.beta == 1.0
    with pytest.raises(RIEInputError, match="ui_center_mode"):
        _config(ui_center_mode="sometimes")
    with pytest.raises(RIEInputError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"epochz": 3})
