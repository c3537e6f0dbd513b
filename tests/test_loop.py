"""The DataLoader trainer (rie.training.loop): resume, log, augmentation, folder data."""

import csv

import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from rie.common.checks import RIEInputError
from rie.data.datasets import load_image_folder
from rie.training.loop import RunOptions, ResumableSampler, fit_loader, low_res_batch, step_generator
from rie.training.train import TrainConfig, fit, load_trained

from test_train import RIE, _config, _data


class TensorFaces(Dataset):
    """(float image in [-1, 1], label, index) over uint8 tensors, like FaceSet.as_dataset()."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels
        self.num_classes = int(labels.max()) + 1

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i].float() / 127.5 - 1, int(self.labels[i]), i


def _set():
    images, labels, ui = _data()
    return TensorFaces(images, labels), ui


def test_killed_mid_epoch_resumes_to_identical_weights(tmp_path):
    data, ui = _set()
    config = _config(loss=RIE, ui_center_mode="ema", epochs=2)
    options = RunOptions(checkpoint_every=2, low_res_prob=0.5)
    whole = fit_loader(config, data, ui, progress=False, options=options, out_dir=tmp_path / "whole")
    run = tmp_path / "run"
    # 96 images / 32 = 3 steps an epoch: stopped at global step 5 (inside epoch 2), the last
    # checkpoint is the interval one at step 4, as a run killed there would leave it
    fit_loader(config, data, ui, progress=False, max_steps=5, options=options, out_dir=run)
    ckpt = torch.load(run / "checkpoint.pt", weights_only=False)
    assert (ckpt["epoch"], ckpt["step"], ckpt["step_global"]) == (1, 1, 4)
    resumed = fit_loader(config, data, ui, progress=False, options=options, out_dir=run)
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert resumed.history == whole.history
    with open(run / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, 7))  # the rows after the checkpoint written once
    with open(tmp_path / "whole" / "log.csv") as f:
        assert rows == list(csv.DictReader(f))
    assert {"lr", "total", "cls", "l1", "id", "mse", "grad_norm"} <= set(rows[0])
    assert load_trained(run).config == config


def test_fit_takes_a_dataset_and_keeps_tensors_on_their_own_loop():
    data, ui = _set()
    config = _config(epochs=2)
    from_set = fit(config, data, None, progress=False)
    assert len(from_set.history) == 2 and from_set.history[1]["cls"] < from_set.history[0]["cls"]
    from_tensors = fit(config, data.images, data.labels, progress=False)
    assert from_tensors.history[0]["cls"] != from_set.history[0]["cls"]  # other sampling: another loop


def test_low_res_augmentation_is_drawn_per_step_and_split_over_ranks():
    x = torch.rand(8, 3, 16, 16) * 2 - 1
    none = low_res_batch(x, 0.0, step_generator(0, 0, 0), 8, 0, 1)
    assert none is x
    a = low_res_batch(x, 1.0, step_generator(0, 0, 0), 8, 0, 1)
    b = low_res_batch(x, 1.0, step_generator(0, 0, 0), 8, 0, 1)
    assert torch.equal(a, b) and not torch.equal(a, x) and a.abs().max() <= 1
    # rank 1 of 2 gets the rows 1::2 of what one process draws for the global batch
    r1 = low_res_batch(x[1::2], 1.0, step_generator(0, 0, 0), 8, 1, 2)
    assert torch.equal(r1, a[1::2])


def test_sampler_ranks_split_the_single_process_batches():
    data, _ = _set()
    one = ResumableSampler(data, 1, 0, seed=3, local_batch=32)
    ranks = [ResumableSampler(data, 2, r, seed=3, local_batch=16) for r in (0, 1)]
    for s in (one, *ranks):
        s.set_epoch(1)
    single = list(one)
    r0, r1 = list(ranks[0]), list(ranks[1])
    for k in range(3):
        assert sorted(r0[16 * k : 16 * k + 16] + r1[16 * k : 16 * k + 16]) == sorted(single[32 * k : 32 * k + 32])
    one.skip_batches = 2
    assert list(one) == single[64:]


def _png_folder(root, n_ids=4, per_id=8, size=40):
    g = torch.Generator().manual_seed(0)
    for k in range(n_ids):
        (root / f"id{k}").mkdir(parents=True)
        pattern = torch.rand(size, size, 3, generator=g)
        for j in range(per_id):
            x = (pattern + 0.1 * torch.randn(size, size, 3, generator=g)).clamp(0, 1)
            Image.fromarray((x * 255).to(torch.uint8).numpy()).save(root / f"id{k}" / f"{j}.png")
    return root


def test_trains_from_a_folder_of_pngs_with_workers(tmp_path):
    faces = load_image_folder(_png_folder(tmp_path / "faces"), image_size=32)
    config = _config(epochs=1, batch_size=8)
    result = fit_loader(config, faces, progress=False, options=RunOptions(num_workers=1), out_dir=tmp_path / "out")
    assert result.history[0]["cls"] > 0 and (tmp_path / "out" / "model.pt").exists()


def test_dataset_problems_are_named():
    data, _ = _set()
    with pytest.raises(RIEInputError, match="input_size"):
        fit_loader(_config(input_size=16), data, progress=False)
    with pytest.raises(RIEInputError, match="fewer than one batch"):
        fit_loader(_config(batch_size=128), data, progress=False)
    with pytest.raises(RIEInputError, match="UI set"):
        fit_loader(_config(loss=RIE), data, progress=False)
    with pytest.raises(RIEInputError, match="amp"):
        RunOptions(amp="fp8")


def test_train_or_load_keys_a_folder_by_its_file_stats(tmp_path, monkeypatch):
    from rie.data.datasets import FaceFolderSet
    from rie.training.train import train_or_load

    faces = load_image_folder(_png_folder(tmp_path / "faces"), image_size=32)
    config = _config(epochs=1, batch_size=8)
    first = train_or_load(config, faces, None, cache_dir=tmp_path / "models", progress=False)
    assert not first.loaded and not (tmp_path / "models" / first.key / "checkpoint.pt").exists()
    monkeypatch.setattr(FaceFolderSet, "__getitem__", lambda *a: pytest.fail("an image was read"))
    again = train_or_load(config, faces, None, cache_dir=tmp_path / "models", progress=False)
    assert again.loaded and again.key == first.key
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    path = faces.paths[0]
    with open(path, "ab") as f:
        f.write(b"\0")  # a file rewritten: another key, trained again
    from rie.training.loop import dataset_cache_key

    assert dataset_cache_key(config, faces) != first.key


def test_mixed_precision_path_runs_on_the_cpu_in_bf16():
    data, ui = _set()
    config = _config(loss=RIE, epochs=1)
    result = fit_loader(config, data, ui, progress=False, options=RunOptions(amp="bf16"))
    full = fit_loader(config, data, ui, progress=False)
    assert result.history[0]["total"] == pytest.approx(full.history[0]["total"], rel=0.05)
    assert result.history[0]["total"] != full.history[0]["total"]  # autocast did run in bf16


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_devices_that_are_not_there_are_named():
    data, _ = _set()
    with pytest.raises(RIEInputError, match="no CUDA"):
        fit_loader(_config(), data, progress=False, options=RunOptions(device="cuda"))
    with pytest.raises(RIEInputError, match="fp16 needs CUDA"):
        fit_loader(_config(), data, progress=False, options=RunOptions(amp="fp16"))


def test_a_checkpoint_that_no_longer_fits_is_named(tmp_path):
    data, _ = _set()
    config = _config(epochs=1)
    fit_loader(config, data, progress=False, out_dir=tmp_path)
    fewer = TensorFaces(data.images, data.labels.clamp(max=2))  # one class less: the head's shape changed
    with pytest.raises(RIEInputError, match="does not fit this run"):
        fit_loader(config, fewer, progress=False, out_dir=tmp_path)
    with pytest.raises(RIEInputError, match="different config"):
        fit_loader(config.replace(lr=0.01), data, progress=False, out_dir=tmp_path)


def test_augmentation_hooks_see_every_batch_with_the_step_generator():
    data, _ = _set()
    calls = []

    def hook(x, g):
        calls.append((x.shape, float(torch.rand(1, generator=g))))
        return x.flip(-2)

    fit_loader(_config(epochs=1), data, progress=False, max_steps=2, augment=[hook])
    assert [c[0] for c in calls] == [torch.Size([32, 3, 32, 32])] * 2
    assert calls[0][1] != calls[1][1]  # a generator per step
