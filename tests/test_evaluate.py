"""One evaluation path for the synthetic world and the real test sets (rie.data.evaluation_data,
rie.evaluation.evaluate, ``rie evaluate``), on tiny replicas whose answers are worked out by hand."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import FlattenModel, PixelModel
from layouts import PX, make_scface, make_survface, make_tinyface

from rie.cli import main
from rie.common.checks import RIEInputError
from rie.data.evaluation_data import ConcatRoles, EvalData, evaluation_data, from_world
from rie.evaluation import protocols
from rie.evaluation.evaluate import extract_embeddings, format_results, run_protocols
from rie.method.checkpoints import Preprocess

pytestmark = pytest.mark.filterwarnings("ignore:FAR .* needs at least", "ignore:FPIR .* needs at least",
                                        "ignore:.* requested but only")


class _Images(torch.utils.data.Dataset):
    """uint8-valued float images in [-1, 1], as the loaders make them: (image, label, i)."""

    def __init__(self, n, size, seed=0):
        gen = torch.Generator().manual_seed(seed)
        self.u8 = torch.randint(0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8)
        self.labels = torch.arange(n)

    def __len__(self):
        return len(self.u8)

    def __getitem__(self, i):
        return self.u8[i].float() / 127.5 - 1.0, int(self.labels[i]), i


# ----------------------------------------------------------------------------- the synthetic world


@pytest.fixture(scope="module")
def world():
    from rie.data.synth import WorldConfig, build_world

    return build_world(WorldConfig.from_profile("smoke", seed=0), cache_dir=None)


def test_the_synthetic_world_gives_the_numbers_of_the_tensor_protocols(world):
    from rie.method.backbones import make_backbone
    from rie.method.model import RIEModel

    torch.manual_seed(0)
    model = RIEModel(make_backbone("small_facenet", embedding_size=16, input_size=32)).eval()
    data = from_world(world)
    assert set(data.roles) == {"train", "gallery", "probe", "distractor", "ui"} and not data.missing
    assert torch.equal(data.difficulty["probe"], world["probe"].difficulty)
    for scoring in ("v", "v+v_attn"):
        got = run_protocols(model, data, scoring=scoring, n_mated=60, n_nonmated=400, seed=3, batch_size=512)
        assert got["identification"] == protocols.identification(model, world, scoring=scoring)
        assert got["rank1_by_resolution"]["rank-1"] == dict(protocols.rank1_by_resolution(model, world, scoring=scoring))
        assert got["verification"]["TPR@FAR"] == protocols.verification(model, world, 60, 400, seed=3, scoring=scoring)
        assert got["open_set"]["TPIR20@FPIR"] == protocols.open_set(model, world, scoring=scoring)
    assert got["counts"]["probe"] == len(world["probe"]) and "TPIR20@FPIR=0.1" in format_results(got)


# ----------------------------------------------------------------------------- extraction


def test_extraction_applies_preprocess_resize_and_flip_in_index_order():
    data = _Images(7, size=8)
    bgr01 = Preprocess("BGR", (0.0, 1.0), 8)
    want = (data.u8.flip(1).float() / 255.0).flatten(1)  # channels reversed, x / 255
    got = extract_embeddings(FlattenModel(), data, preprocess=bgr01, batch_size=3)
    assert torch.allclose(got, want)
    flipped = extract_embeddings(FlattenModel(), data, preprocess=bgr01, batch_size=3, flip=True)
    mirror = (data.u8.flip(1).flip(-1).float() / 255.0).flatten(1)
    assert torch.allclose(flipped, want + mirror)  # the sum of the image's and its mirror's embeddings
    # rie's own convention (no Preprocess): the dataset's floats go in unchanged
    assert torch.equal(extract_embeddings(FlattenModel(), data), torch.stack([data[i][0] for i in range(7)]).flatten(1))
    # a set at another size is resized to the model's input size
    assert extract_embeddings(FlattenModel(), data, preprocess=Preprocess("RGB", (-1, 1), 12)).shape == (7, 3 * 12 * 12)
    with pytest.raises(RIEInputError, match="scoring must be one of"):
        extract_embeddings(FlattenModel(), data, scoring="w")
    with pytest.raises(RIEInputError, match="num_workers"):
        extract_embeddings(FlattenModel(), data, num_workers=-1)


def test_concatenated_roles_return_global_indices_and_labels():
    a, b = _Images(2, 4, seed=1), _Images(3, 4, seed=2)
    both = ConcatRoles([a, b])
    assert len(both) == 5 and both.labels.tolist() == [0, 1, 0, 1, 2]
    assert both[3][2] == 3 and torch.equal(both[3][0], b[1][0]) and both[-1][2] == 4
    with pytest.raises(IndexError):
        both[5]


# ----------------------------------------------------------------------------- real layouts, by hand


def test_tinyface_cmc_with_and_without_distractors_by_hand(tmp_path):
    data = evaluation_data("tinyface", make_tinyface(tmp_path / "tinyface"), image_size=PX)
    assert isinstance(data, EvalData) and data.counts() == {"train": 2, "gallery": 3, "probe": 2, "distractor": 1}
    assert any("difficulty" in m for m in data.missing) and any("part boxes" in m for m in data.missing)
    got = run_protocols(PixelModel(pool=PX), data, num_workers=1)  # through a DataLoader worker
    assert got["identification"] == {"w/o dis": {1: 0.5, 5: 1.0, 20: 1.0}, "w/ dis": {1: 0.0, 5: 1.0, 20: 1.0}}
    # uniform faces are their own mirror images: flip fusion doubles the embedding, the ranks stay
    assert run_protocols(PixelModel(pool=PX), data, flip=True)["identification"] == got["identification"]
    assert "rank-1" in format_results(got) and "w/ dis" in format_results(got)


def test_scface_rank1_per_distance_by_hand(tmp_path):
    data = evaluation_data("scface", make_scface(tmp_path / "SCface_database"), image_size=PX)
    assert data.probe_groups == ["4.2m", "4.2m", "2.6m", "1.0m"] and "train" not in data
    assert any("infrared" in reason for _, reason in data.skipped())
    got = run_protocols(PixelModel(pool=PX), data)["rank1_by_distance"]
    assert got["rank-1"] == {"4.2m": 0.5, "2.6m": 1.0, "1.0m": 0.0, "all": 0.5}
    assert list(got["probes"].items()) == [("4.2m", 2), ("2.6m", 1), ("1.0m", 1), ("all", 4)]


def test_survface_verification_and_open_set_by_hand(tmp_path):
    base = make_survface(tmp_path / "QMUL-SurvFace")
    data = evaluation_data("survface", base, image_size=PX)
    assert data.counts() == {"train": 2, "gallery": 3, "probe": 2, "distractor": 1, "pairs": 5}
    got = run_protocols(PixelModel(pool=PX), data)
    assert got["verification"]["TPR@FAR"] == {0.3: 0.5, 0.1: 0.5, 0.01: 0.5, 0.001: 0.5}
    assert got["verification"]["pairs"] == {"mated": 2, "non-mated": 3}
    assert got["open_set"]["TPIR20@FPIR"] == {0.3: 0.5, 0.2: 0.5, 0.1: 0.5}
    # without the verification folder the open-set half still runs, and the gap is named
    (base / "Face_Verification_Test_Set").rename(tmp_path / "moved")
    data = evaluation_data("survface", base, image_size=PX)
    assert data.pairs is None and any("verification pairs" in m for m in data.missing)
    assert "verification" not in run_protocols(PixelModel(pool=PX), data)


def test_a_copy_of_the_test_split_alone_is_evaluated(tmp_path):
    import shutil

    tiny = make_tinyface(tmp_path / "tinyface")
    shutil.rmtree(tiny / "Training_Set")
    data = evaluation_data("tinyface", tiny, image_size=PX)
    assert "train" not in data and any("training split" in m for m in data.missing)
    assert run_protocols(PixelModel(pool=PX), data)["identification"]["w/o dis"] == {1: 0.5, 5: 1.0, 20: 1.0}
    surv = make_survface(tmp_path / "QMUL-SurvFace")
    shutil.rmtree(surv / "Training_Set")
    data = evaluation_data("survface", surv, image_size=PX)
    assert set(data.roles) == {"gallery", "probe", "distractor"}
    assert run_protocols(PixelModel(pool=PX), data)["open_set"]["TPIR20@FPIR"] == {0.3: 0.5, 0.2: 0.5, 0.1: 0.5}


def test_bad_input_is_named(tmp_path):
    with pytest.raises(RIEInputError, match="unknown evaluation data kind"):
        evaluation_data("lfw", tmp_path)
    with pytest.raises(RIEInputError, match="no such folder"):
        evaluation_data("tinyface", tmp_path / "nowhere")
    with pytest.raises(RIEInputError, match="TinyFace: expected folder"):
        evaluation_data("tinyface", make_scface(tmp_path / "sc"))
    with pytest.raises(RIEInputError, match="v_prime"):
        run_protocols(PixelModel(pool=PX), evaluation_data("scface", tmp_path / "sc", image_size=PX), scoring="v_prime")
    with pytest.raises(RIEInputError, match="EvalData"):
        run_protocols(PixelModel(pool=PX), {"probe": None})


# ----------------------------------------------------------------------------- the command line


def test_cli_evaluate_prints_the_table_and_writes_json(tmp_path, capsys):
    from rie.method.backbones import MobileFaceNet, iresnet18

    ckpt, other = tmp_path / "mbf.pth", tmp_path / "r18.pth"
    torch.manual_seed(0)
    torch.save(MobileFaceNet().state_dict(), ckpt)
    root = make_tinyface(tmp_path / "tinyface")
    out = tmp_path / "res.json"
    argv = ["evaluate", "--protocol", "tinyface", "--data", str(root), "--checkpoint", str(ckpt),
            "--format", "arcface_torch", "--flip", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "identification (CMC, %)" in printed and "w/ dis" in printed
    res = json.loads(out.read_text())
    assert res["flip"] is True and res["format"] == "arcface_torch" and res["counts"]["probe"] == 2
    rates = [r for row in res["identification"].values() for r in row.values()]
    assert len(rates) == 6 and all(r in (0.0, 0.5, 1.0) for r in rates)  # 2 probes
    assert res["identification"]["w/o dis"]["20"] == 1.0  # 3 gallery images: every probe within rank 20
    # the other protocols' tables
    assert main(["evaluate", "--protocol", "scface", "--data", str(make_scface(tmp_path / "sc")), "--checkpoint",
                 str(ckpt), "--format", "arcface_torch", "--device", "cpu"]) == 0
    assert "rank-1 by distance" in capsys.readouterr().out
    assert main(["evaluate", "--protocol", "survface", "--data", str(make_survface(tmp_path / "sf")), "--checkpoint",
                 str(ckpt), "--format", "arcface_torch", "--scoring", "v", "--out", str(out)]) == 0
    assert "TPIR20@FPIR" in capsys.readouterr().out
    res = json.loads(out.read_text())
    assert set(res["verification"]["TPR@FAR"]) == {"0.3", "0.1", "0.01", "0.001"} and "open_set" in res
    assert any("difficulty" in m for m in res["not_available"])
    # bad input: one line on stderr, status 2, no traceback
    for args, message in (
        (["--data", str(tmp_path / "nowhere")], "no such file or folder"),
        (["--data", str(tmp_path / "sc")], "TinyFace: expected folder"),
        (["--data", str(root), "--checkpoint", str(other), "--arch", "mbf"], "another architecture"),
        (["--data", str(root), "--device", "abacus"], "--device abacus"),
        (["--data", str(root), "--batch-size", "0"], "batch_size must be"),
    ):
        if "--checkpoint" in args:
            torch.save(iresnet18().state_dict(), other)
        base = ["evaluate", "--protocol", "tinyface", "--checkpoint", str(ckpt), "--format", "arcface_torch"]
        assert main(base + args) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_evaluate_a_rie_model_folder_on_the_synthetic_world(tmp_path, capsys, world):
    from rie.common.utils import save_json
    from rie.training.train import TrainConfig, build

    config = TrainConfig()
    model, head = build(config, 3)
    folder = tmp_path / "model"
    folder.mkdir()
    torch.save(model.state_dict(), folder / "model.pt")
    torch.save(head.state_dict(), folder / "head.pt")
    save_json({"config": config.to_dict(), "history": [], "ui_center": None, "num_classes": 3}, folder / "config.json")
    out = tmp_path / "synthetic.json"
    assert main(["evaluate", "--protocol", "synthetic", "--data", str(tmp_path / "cache"), "--profile", "smoke",
                 "--checkpoint", str(folder), "--format", "rie", "--scoring", "v_prime", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for title in ("identification (CMC, %)", "rank-1 by probe resolution", "verification", "open-set"):
        assert title in printed
    res = json.loads(out.read_text())
    assert res["scoring"] == "v_prime" and res["counts"]["probe"] == len(world["probe"])  # the same smoke world
    assert all(0.0 <= r <= 1.0 for r in res["open_set"]["TPIR20@FPIR"].values())
