"""`rie train CONFIG [--set ...]`: the run files in configs/, synthetic and folder data, clear errors."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from rie.cli import main
from rie.common.checks import RIEInputError
from rie.training.runs import KNOWN_KEYS, data_fingerprint, load_run, parse_set, train_config
from rie.training.train import load_trained

from test_loop import _png_folder

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _train(*argv):
    return main(["train", *map(str, argv), "--quiet"])


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smoke")
    out = tmp / "run"
    rc = _train(CONFIGS / "smoke.yaml", "--set", "max_steps=2", "--set", f"output={out}",
                "--set", f"data.cache_dir={tmp / 'cache'}")
    return rc, out


def test_smoke_config_trains_two_steps_on_the_synthetic_world(smoke_run):
    rc, out = smoke_run
    assert rc == 0
    meta = json.loads((out / "config.json").read_text())
    assert meta["steps"] == 2 and meta["run_file"]["max_steps"] == 2 and meta["data"]
    assert load_trained(out).config.name == "pretrain-smoke"
    assert len((out / "log.csv").read_text().splitlines()) == 3  # header + 2 steps


def test_trains_from_a_png_folder(tmp_path, capsys):
    _png_folder(tmp_path / "faces")
    run = tmp_path / "run.yaml"
    run.write_text(yaml.safe_dump({
        "base": str(CONFIGS / "base.yaml"), "recipe": {"stage": "pretrain", "profile": "smoke"},
        "data": {"kind": "folder", "path": str(tmp_path / "faces")}, "batch_size": 8, "embedding_size": 16,
        "num_workers": 0, "output": str(tmp_path / "out"),
    }))
    assert _train(run, "--set", "max_steps=2") == 0
    assert "trained pretrain-smoke" in capsys.readouterr().out
    assert load_trained(tmp_path / "out").config.batch_size == 8


def test_recipe_values_are_reused_and_set_overrides_win():
    run = load_run(CONFIGS / "tinyface_mbf.yaml", ["lr=0.02", "loss.alpha=0"])
    config = train_config(run)
    assert (config.backbone, config.input_size, config.embedding_size) == ("mobilefacenet", 112, 512)
    assert config.lr == 0.02 and config.loss.alpha == 0 and config.loss.beta == 2  # beta from the recipe
    assert run["low_res_prob"] == 0.2 and run["data"]["kind"] == "tinyface"
    assert parse_set(["a.b=1", "c=x"]) == {"a": {"b": 1}, "c": "x"}


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_config_file_reads(name):
    run = load_run(CONFIGS / name)
    assert set(run) - {"_file"} <= set(KNOWN_KEYS)
    train_config(run)


def test_errors_are_one_line_with_exit_code_2(tmp_path, capsys, smoke_run):
    assert _train(CONFIGS / "smoke.yaml", "--set", "lrr=1") == 2
    err = capsys.readouterr().err
    assert "unknown config key(s) ['lrr']" in err and "known keys:" in err and "batch_size" in err
    assert _train(CONFIGS / "tinyface_r50.yaml", "--set", f"data.path={tmp_path / 'nowhere'}", "--set", "init_from=") == 2
    assert f"data: path {tmp_path / 'nowhere'} does not exist" in capsys.readouterr().err
    _png_folder(tmp_path / "flat")  # not TinyFace's layout
    assert _train(CONFIGS / "tinyface_r50.yaml", "--set", f"data.path={tmp_path / 'flat'}", "--set", "init_from=") == 2
    assert "TinyFace" in capsys.readouterr().err
    assert _train(tmp_path / "missing.yaml") == 2
    assert "does not exist" in capsys.readouterr().err
    # a checkpoint of another architecture: the smoke model (small_facenet, 128-D) into a 64-D one
    _, out = smoke_run
    assert _train(CONFIGS / "smoke.yaml", "--set", f"init_from.path={out}", "--set", "init_from.format=rie",
                  "--set", "embedding_size=64", "--set", f"output={tmp_path / 'x'}") == 2
    err = capsys.readouterr().err
    assert "does not fit backbone 'small_facenet'" in err and len(err.strip().splitlines()) == 1


def test_folder_fingerprint_reads_stats_not_images(tmp_path, monkeypatch):
    from rie.data.datasets import FaceFolderSet, load_image_folder

    faces = load_image_folder(_png_folder(tmp_path / "faces"), image_size=32)
    before = data_fingerprint(faces)
    monkeypatch.setattr(FaceFolderSet, "__getitem__", lambda *a: pytest.fail("an image was read"))
    assert data_fingerprint(faces) == before
    path = Path(faces.paths[0])
    path.write_bytes(path.read_bytes() + b"\0")  # one file changed: another key
    assert data_fingerprint(faces) != before
    with pytest.raises(RIEInputError, match="kind"):
        from rie.training.runs import build_data

        build_data({"data": {"kind": "imagenet"}}, train_config(load_run(CONFIGS / "smoke.yaml")))
    assert torch.is_tensor(faces.labels)


def test_init_from_a_published_format_checks_the_architecture(tmp_path, capsys):
    from rie.method.backbones import make_backbone
    from rie.training.runs import init_state

    torch.save(make_backbone("mobilefacenet", embedding_size=512, input_size=112).state_dict(), tmp_path / "mbf.pth")
    run = load_run(CONFIGS / "tinyface_mbf.yaml", [f"init_from.path={tmp_path / 'mbf.pth'}"])
    state = init_state(run, train_config(run))
    assert all(k.startswith("backbone.") for k in state) and len(state) > 100
    assert _train(CONFIGS / "tinyface_r50.yaml", "--set", f"init_from.path={tmp_path / 'mbf.pth'}",
                  "--set", f"data.path={tmp_path}") == 2
    err = capsys.readouterr().err
    assert "does not fit backbone 'iresnet50'" in err and "unexpected ['layers.0.layers.0.weight'" in err
