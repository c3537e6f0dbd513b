"""Notebook parameters DATA and CHECKPOINT (rie.experiments.notebook_data); the notebooks themselves
run on replicas in test_notebooks_on_replicas.py."""

from __future__ import annotations

import pytest
import torch
from layouts import PX, make_scface, make_tinyface

from rie.common.checks import RIEInputError
from rie.evaluation.inference import extract
from rie.experiments.notebook_data import notebook_data, notebook_model, parse_spec
from rie.method.checkpoints import Preprocess, Preprocessed, preprocess_float


class _World(dict):
    """The two roles notebook_data reads from a world: the image size (probe) and the UI faces."""

    def __init__(self, size=PX):
        gen = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (6, 3, size, size), generator=gen, dtype=torch.uint8)
        role = type("Role", (), {"images": images, "labels": torch.full((6,), -1), "difficulty": torch.rand(6)})
        super().__init__(probe=role, ui=role)


def test_specs_are_parsed_and_bad_ones_named(tmp_path):
    assert parse_spec(f"tinyface:{tmp_path}", ("tinyface",), "DATA") == ("tinyface", tmp_path)
    assert parse_spec("adaface:/m/a:b.ckpt", ("adaface",), "CHECKPOINT")[1].as_posix() == "/m/a:b.ckpt"
    for spec, message in (("tinyface", "'<kind>:<path>'"), ("lfw:/x", "unknown kind 'lfw'"), ("scface:", "no path")):
        with pytest.raises(RIEInputError, match=message):
            parse_spec(spec, ("tinyface", "scface"), "DATA")
    with pytest.raises(RIEInputError, match="no such folder"):
        notebook_data(f"tinyface:{tmp_path / 'nowhere'}", _World())
    assert notebook_model(None) is None
    with pytest.raises(RIEInputError, match="UI_DIR"):
        notebook_data(None, _World(), ui_dir=tmp_path)


def test_a_real_set_comes_in_memory_with_what_it_lacks_named(tmp_path):
    world = _World()
    assert notebook_data(None, world).roles == dict(world) and not notebook_data(None, world).real
    data = notebook_data(f"tinyface:{make_tinyface(tmp_path / 'tinyface')}", world)
    probe = data["probe"]
    assert probe.images.dtype == torch.uint8 and probe.images.shape == (2, 3, PX, PX)
    assert probe.images[0, :, 0, 0].tolist() == [255, 40, 0]  # the reddish probe, exactly
    assert probe.labels.tolist() == [0, 1] and probe.difficulty is None and probe.boxes is None
    assert data["ui"] is world["ui"] and any("synthetic world's" in m for m in data.missing)
    assert any("difficulty" in m for m in data.missing) and "skipped on tinyface data" in data.skipping("x")
    with pytest.raises(RIEInputError, match="no part boxes"):
        probe.masks()
    # SCFace has no training split: its gallery and probes stand in as the labelled set
    sc = notebook_data(f"scface:{make_scface(tmp_path / 'sc')}", world)
    assert len(sc["train"]) == len(sc["gallery"]) + len(sc["probe"]) == 7
    assert any("stand in" in m for m in sc.missing)


def test_a_published_checkpoint_is_fed_its_own_convention(tmp_path):
    from rie.method.backbones import MobileFaceNet

    torch.manual_seed(0)
    net = MobileFaceNet().eval()
    torch.save(net.state_dict(), tmp_path / "mbf.pth")
    external = notebook_model(f"arcface_torch:{tmp_path / 'mbf.pth'}")
    assert isinstance(external.model, Preprocessed) and external.name == "arcface_torch:mbf.pth"
    u8 = torch.randint(0, 256, (2, 3, 112, 112), dtype=torch.uint8)
    bgr = Preprocess("BGR", (0.0, 1.0), 112)
    assert torch.allclose(preprocess_float(u8.float() / 127.5 - 1.0, bgr), bgr(u8), atol=1e-6)
    with torch.no_grad():  # RGB floats in [-1, 1] in, the same embedding as the checkpoint's own preprocessing
        assert torch.allclose(extract(external.model, u8).v, net(u8.float() / 127.5 - 1.0), atol=1e-4)
    assert extract(external.model, torch.zeros(1, 3, 32, 32, dtype=torch.uint8)).v.shape == (1, 512)  # resized
    with pytest.raises(RIEInputError, match="unknown kind 'onnx'"):
        notebook_model(f"onnx:{tmp_path / 'mbf.pth'}")
