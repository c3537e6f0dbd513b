import os
import warnings

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


# ----------------------------------------------------------------------------- issue 17: bad input never silent


def test_nan_image_is_named_by_data_set_index_before_any_update(monkeypatch):
    images, labels, _ = _data()
    x = images.float() / 127.5 - 1
    x[77, 1, 3, 4] = float("nan")
    x[5, 0, 0, 0] = float("inf")
    steps = {"n": 0}
    real = train_module.compute_loss
    monkeypatch.setattr(train_module, "compute_loss", lambda *a, **k: (steps.__setitem__("n", steps["n"] + 1), real(*a, **k))[1])
    with pytest.raises(RIEInputError, match=r"training images contain NaN or inf in 2 image\(s\): data-set indices \[5, 77\]"):
        fit(_config(), x, labels, progress=False)
    assert steps["n"] == 0


@pytest.mark.parametrize(
    "labels, message",
    [
        ([0, 1] * 48, "labels must be a torch.Tensor"),
        (torch.zeros(96), "integer class indices"),
        (torch.zeros(0, dtype=torch.long), r"shape \(96,\)"),
        (torch.zeros(96, 1, dtype=torch.long), r"shape \(96,\)"),
    ],
)
def test_bad_labels_are_named(labels, message):
    images, _, _ = _data()
    with pytest.raises(RIEInputError, match=message):
        fit(_config(), images, labels, progress=False)


def test_label_gaps_warn_with_the_count_of_empty_classes(tmp_path):
    images, labels, _ = _data()
    labels = torch.tensor([0, 1, 2, 999])[labels]
    with pytest.warns(UserWarning, match="996 of the 1000 classes"):
        result = fit(_config(epochs=1), images, labels, progress=False)
    assert result.head.weight.shape[0] == 1000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_or_load(_config(epochs=1), images, labels, cache_dir=tmp_path, progress=False)
    assert sum("have no image" in str(w.message) for w in caught) == 1  # said once, not once per layer


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(lr=float("nan")), "lr must be finite"),
        (dict(lr=float("inf")), "lr must be finite"),
        (dict(lr=-1.0), "lr must be >"),
        (dict(batch_size=31.5), "batch_size must be an integer"),
        (dict(epochs=True), "epochs must be an integer"),
        (dict(momentum=1.5), "momentum must be <"),
        (dict(weight_decay=float("nan")), "weight_decay must be finite"),
        (dict(regression_dropout=1.0), "regression_dropout must be <"),
        (dict(clip_grad_norm=0.0), "clip_grad_norm must be >"),
        (dict(warmup_epochs="1"), "warmup_epochs must be a number"),
        (dict(loss={"alpha": float("nan")}), "alpha must be finite"),
        (dict(loss={"gamma": float("inf")}), "gamma must be finite"),
        (dict(loss={"tau": float("nan")}), "tau must be finite"),
        (dict(loss={"smooth_l1_beta": 0.0}), "smooth_l1_beta must be >"),
    ],
)
def test_config_with_nan_or_out_of_range_values_is_refused(changes, message):
    with pytest.raises(RIEInputError, match=message):
        _config(**changes)


def _unwritable_dirs(tmp_path):
    """Cache folders no run can write to: under a file (for any user), read-only (unless root)."""
    blocker = tmp_path / "a_file"
    blocker.write_text("a file, not a folder")
    dirs = [blocker / "models"]
    if os.geteuid() != 0:  # root writes through chmod 0o500
        ro = tmp_path / "read_only"
        ro.mkdir(mode=0o500)
        dirs.append(ro)
    return dirs


def test_unwritable_cache_dir_fails_before_the_first_epoch(tmp_path, monkeypatch):
    images, labels, _ = _data()
    monkeypatch.setattr(train_module, "compute_loss", lambda *a, **k: pytest.fail("trained before the check"))
    for cache in _unwritable_dirs(tmp_path):
        with pytest.raises(RIEInputError, match=f"cannot write to {cache}"):
            train_or_load(_config(epochs=1), images, labels, cache_dir=cache, progress=False)
        with pytest.raises(RIEInputError, match=f"cannot write to {cache}"):
            fit(_config(epochs=1), images, labels, checkpoint_path=cache / "checkpoint.pt", progress=False)


DIVERGING = {  # (lr, epochs, config changes): each measured to reach NaN or inf on _data()
    "cosface-1e30": (1e30, 2, dict()),
    "rie-1e30": (1e30, 2, dict(loss=RIE)),
    "rie-ema-1e30": (1e30, 2, dict(loss=RIE, ui_center_mode="ema", ui_batch_size=8)),
    "rie-estimated-1e30": (1e30, 2, dict(loss={**RIE, "ui_stats": "estimated"}, ui_stats_k=40)),
    "rie-epoch-1e30": (1e30, 2, dict(loss=RIE, ui_center_mode="epoch")),
    "crfiqa-1e30": (1e30, 2, dict(crfiqa_weight=10.0)),
    "arcface-noclip-1e30": (1e30, 2, dict(clip_grad_norm=None, head="arcface", head_kwargs={})),
    "rie-1e4": (1e4, 8, dict(loss=RIE)),  # the gradient norm overflows
    "noclip-1e4": (1e4, 8, dict(clip_grad_norm=None)),  # BN running statistics overflow
    "rie-noclip-1e4": (1e4, 3, dict(loss=RIE, clip_grad_norm=None)),  # the weights overflow
}


@pytest.mark.parametrize("case", list(DIVERGING))
def test_divergence_is_reported_as_divergence(case):
    lr, epochs, kw = DIVERGING[case]
    images, labels, ui = _data()
    with pytest.raises(TrainingDivergedError, match=r"diverged.*epoch \d+, step \d+"):
        fit(_config(lr=lr, epochs=epochs, **kw), images, labels, ui, progress=False)


def test_one_step_to_nan_weights_is_never_cached(tmp_path):
    images, labels, _ = _data()
    config = _config(lr=1e30, epochs=1, batch_size=96, clip_grad_norm=None)
    with pytest.raises(TrainingDivergedError, match=r"epoch 0, step 0"):
        train_or_load(config, images, labels, cache_dir=tmp_path, progress=False)
    assert not list(tmp_path.rglob("*.pt"))


def test_weights_become_nan_after_an_update_are_caught_at_epoch_end(monkeypatch):
    images, labels, _ = _data()
    real_step = torch.optim.SGD.step
    calls = {"n": 0}

    def poisoned(self, *a, **k):  # every loss finite; the last update of the epoch leaves NaN weights
        out = real_step(self, *a, **k)
        calls["n"] += 1
        if calls["n"] == 3:
            self.param_groups[0]["params"][0].data.fill_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.SGD, "step", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"weights \['model\.backbone\..*end of epoch 0, step 2"):
        fit(_config(epochs=2), images, labels, progress=False)


def test_cached_model_with_nan_weights_is_retrained(tmp_path):
    images, labels, _ = _data()
    config = _config(epochs=1)
    first = train_or_load(config, images, labels, cache_dir=tmp_path, progress=False)
    state = first.model.state_dict()
    state[next(iter(state))].fill_(float("nan"))
    torch.save(state, tmp_path / first.key / "model.pt")
    with pytest.warns(UserWarning, match="NaN or inf"):
        again = train_or_load(config, images, labels, cache_dir=tmp_path, progress=False)
    assert not again.loaded


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04 truncated zip"])
def test_damaged_checkpoint_is_reported_and_training_restarts(tmp_path, content):
    images, labels, _ = _data()
    config = _config(epochs=1)
    fresh = fit(config, images, labels, progress=False)
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(content)
    with pytest.warns(UserWarning, match=f"checkpoint {ckpt} is damaged"):
        again = fit(config, images, labels, checkpoint_path=ckpt, progress=False)
    for a, b in zip(fresh.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    # through train_or_load too: the rerun is no longer blocked
    key = cache_key(config, images, labels)
    (tmp_path / key).mkdir()
    (tmp_path / key / "checkpoint.pt").write_bytes(content)
    with pytest.warns(UserWarning, match="checkpoint.pt is damaged"):
        result = train_or_load(config, images, labels, cache_dir=tmp_path, progress=False)
    assert not result.loaded and not (tmp_path / key / "checkpoint.pt").exists()


def test_checkpoint_with_nan_weights_or_wrong_shapes_restarts(tmp_path):
    images, labels, _ = _data()
    config = _config(epochs=2)
    ckpt = tmp_path / "checkpoint.pt"
    fit(config, images, labels, checkpoint_path=ckpt, progress=False, max_steps=4)
    state = torch.load(ckpt, weights_only=False)
    state["model"][next(iter(state["model"]))].fill_(float("nan"))
    torch.save(state, ckpt)
    with pytest.warns(UserWarning, match="NaN or inf"):
        fit(config, images, labels, checkpoint_path=ckpt, progress=False)
    fit(config, images, labels, checkpoint_path=ckpt, progress=False, max_steps=4)
    state = torch.load(ckpt, weights_only=False)
    state["head"] = {"weight": torch.zeros(2, 2)}
    torch.save(state, ckpt)
    with pytest.warns(UserWarning, match="does not fit this run"):
        fit(config, images, labels, checkpoint_path=ckpt, progress=False)


@pytest.mark.parametrize("scale, span", [(lambda x: x.float(), r"\[0, 255\]"), (lambda x: x.float() / 255, r"\[0, 1\]")])
def test_float_images_on_the_wrong_scale_warn(scale, span):
    images, labels, _ = _data()
    with pytest.warns(UserWarning, match=f"span {span}; the package expects"):
        fit(_config(epochs=1), scale(images), labels, progress=False)


def test_warmup_freezes_the_backbone_then_trains_it():
    images, labels, ui = _data()
    start = fit(_config(epochs=1), images, labels, progress=False).model.state_dict()
    config = _config(epochs=2, freeze_backbone_epochs=1, loss=RIE)
    warm = fit(config, images, labels, ui, init_state=start, progress=False, max_steps=images.shape[0] // 32)
    for k, v in warm.model.state_dict().items():  # weights and batch-norm statistics both kept
        if k.startswith("backbone."):
            assert torch.equal(v, start[k]), k
    assert not any(torch.equal(v, start[k]) for k, v in warm.model.state_dict().items() if k.startswith("regression."))
    assert all(p.requires_grad for p in warm.model.parameters())  # unfrozen again on return
    full = fit(config, images, labels, ui, init_state=start, progress=False)
    moved = [k for k, v in full.model.state_dict().items() if k.startswith("backbone.") and not torch.equal(v, start[k])]
    assert moved and [h["frozen"] for h in full.history] == [True, False]
    assert not any(k.startswith("grad/") for k in full.history[0]) and any(k.startswith("grad/") for k in full.history[1])


def test_history_logs_the_gradient_norm_before_clipping():
    images, labels, _ = _data()
    free = fit(_config(epochs=1, clip_grad_norm=None), images, labels, progress=False).history[0]
    tight = fit(_config(epochs=1, clip_grad_norm=1e-3), images, labels, progress=False).history[0]
    assert free["clip_frac"] == 0.0 and tight["clip_frac"] == 1.0
    assert 0 < free["grad_norm"] <= free["grad_norm_max"]
    assert tight["grad_norm"] > 1e-3  # measured before the clip


def test_warmup_must_leave_epochs_to_train():
    with pytest.raises(RIEInputError, match="freeze_backbone_epochs"):
        _config(epochs=2, freeze_backbone_epochs=2)


def test_plateau_change_reads_the_last_two_epochs():
    from rie.training.train import plateau_change

    history = [{"cls": 40.0}, {"cls": 20.0}, {"cls": 10.0}, {"cls": 9.9}, {"cls": 9.8}]
    assert plateau_change(history) == pytest.approx(0.2 / 10.0)
    assert plateau_change(history, epochs=1) == pytest.approx(0.1 / 9.9)
    with pytest.raises(RIEInputError, match="needs more than 2 epochs"):
        plateau_change(history[:2])
