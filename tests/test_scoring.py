"""score_folder and ``rie score``: a tiny folder of generated PNGs with a corrupt and an unreadable file."""

import csv
import os

import numpy as np
import pytest
import torch
from PIL import Image

from rie.cli import main
from rie.common.checks import RIEInputError
from rie.evaluation.scoring import score_folder
from rie.method.backbones import MobileFaceNet, make_backbone
from rie.method.checkpoints import PREPROCESS, LoadedCheckpoint
from rie.method.crfiqa import CRFIQAHead
from rie.method.model import RIEModel

torch.set_num_threads(1)


def _faces(folder, n=3, size=112, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"face_{i}.png")
    return folder


@pytest.fixture
def folder(tmp_path):
    d = _faces(tmp_path / "faces")
    (d / "sub").mkdir()
    Image.fromarray(np.full((112, 112), 90, dtype=np.uint8)).save(d / "sub" / "grey.png")  # grey: read as RGB
    (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    os.symlink(d / "gone.png", d / "dangling.png")  # listed, but cannot be read
    (d / "notes.txt").write_text("not an image")
    return d


@pytest.fixture(scope="module")
def mbf():
    torch.manual_seed(0)
    return LoadedCheckpoint(MobileFaceNet().eval(), PREPROCESS["magface"], "magface", "mbf",
                            quality_head=CRFIQAHead(512).eval())


def _read(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_scores_readable_images_and_lists_the_rest(folder, tmp_path, mbf):
    out = tmp_path / "res" / "scores.csv"
    result = score_folder(folder, mbf, method="magface", out=out)
    rows = _read(out)
    assert rows[0] == ["path", "score"]
    scored = sorted(os.path.basename(p) for p, _ in rows[1:])
    assert scored == ["face_0.png", "face_1.png", "face_2.png", "grey.png"]
    assert all(float(s) > 0 for _, s in rows[1:])  # embedding norms
    bad = {os.path.basename(p): r for p, r in _read(result.unreadable_path)[1:]}
    assert set(bad) == {"corrupt.png", "dangling.png", "notes.txt"}
    assert "not a readable image" in bad["corrupt.png"] and "cannot read" in bad["dangling.png"]
    assert result.unreadable_path.name == "scores_unreadable.csv"
    assert (result.scored, result.unreadable, result.resized) == (4, 3, 0)


def test_scores_match_the_quality_functions(folder, tmp_path, mbf):
    score_folder(folder, mbf, method="crfiqa", out=tmp_path / "cr.csv")
    rows = {os.path.basename(p): float(s) for p, s in _read(tmp_path / "cr.csv")[1:]}
    img = torch.from_numpy(np.array(Image.open(folder / "face_1.png"))).permute(2, 0, 1)
    with torch.no_grad():
        want = mbf.quality_head(mbf.model(mbf.preprocess(img))).item()
    assert rows["face_1.png"] == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_ri_needs_an_rie_model_and_runs_on_one(tmp_path):
    faces = _faces(tmp_path / "small", n=2, size=40)  # not 32 px: resized, and counted
    model = RIEModel(make_backbone("small_facenet")).eval()
    with pytest.warns(UserWarning, match="resized"):
        result = score_folder(faces, model, method="ri", out=tmp_path / "ri.csv")
    assert result.scored == 2 and result.resized == 2
    with pytest.raises(RIEInputError, match="regression branch"):
        score_folder(faces, make_backbone("small_facenet"), method="ri", out=tmp_path / "x.csv")
    with pytest.raises(RIEInputError, match="quality head"):
        score_folder(faces, model, method="crfiqa", out=tmp_path / "x.csv")
    with pytest.raises(RIEInputError, match="method must be one of"):
        score_folder(faces, model, method="serfiq", out=tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_ers_uses_the_ui_folder(tmp_path):
    faces = _faces(tmp_path / "faces", n=2, size=32)
    ui = _faces(tmp_path / "ui", n=3, size=32, seed=1)
    model = RIEModel(make_backbone("small_facenet")).eval()
    with pytest.raises(RIEInputError, match="ui_dir"):
        score_folder(faces, model, method="ers", out=tmp_path / "e.csv")
    result = score_folder(faces, model, method="ers", ui_dir=ui, out=tmp_path / "e.csv")
    scores = [float(s) for _, s in _read(result.scores_path)[1:]]
    assert len(scores) == 2 and all(0.0 <= s <= 2.0 for s in scores)  # 1 - cos


def test_a_folder_without_readable_images_writes_both_files(tmp_path, mbf):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "a.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 30)
    result = score_folder(d, mbf, method="magface", out=tmp_path / "s.csv")
    assert result.scored == 0 and _read(result.scores_path) == [["path", "score"]]
    assert [os.path.basename(p) for p, _ in _read(result.unreadable_path)[1:]] == ["a.jpg"]
    with pytest.raises(RIEInputError, match="no such folder"):
        score_folder(tmp_path / "nowhere", mbf, method="magface", out=tmp_path / "s.csv")


def test_cli_scores_with_a_checkpoint(folder, tmp_path, capsys):
    ckpt = tmp_path / "mbf.pth"
    torch.save(MobileFaceNet().state_dict(), ckpt)
    out = tmp_path / "cli.csv"
    argv = ["score", str(folder), "--checkpoint", str(ckpt), "--format", "arcface_torch", "--method", "magface",
            "--out", str(out)]
    assert main(argv) == 0
    assert "scored 4 images" in capsys.readouterr().out
    assert len(_read(out)) == 5 and len(_read(tmp_path / "cli_unreadable.csv")) == 4
    # ers without --ui-dir, a wrong checkpoint: one line on stderr, status 2, no traceback
    assert main(argv[:-4] + ["--method", "ers", "--out", str(out)]) == 2
    assert "--ui-dir" in capsys.readouterr().err
    assert main(["score", str(folder), "--checkpoint", str(tmp_path / "none.pth"), "--format", "adaface",
                 "--method", "magface"]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: unknown format
        main(["score", str(folder), "--checkpoint", str(ckpt), "--format", "insightface", "--method", "magface"])


def test_cli_scores_with_a_rie_model_folder(tmp_path, capsys):
    from rie.common.utils import save_json
    from rie.training.train import TrainConfig, build

    config = TrainConfig()
    model, head = build(config, 3)
    folder = tmp_path / "model"
    folder.mkdir()
    torch.save(model.state_dict(), folder / "model.pt")
    torch.save(head.state_dict(), folder / "head.pt")
    save_json({"config": config.to_dict(), "history": [], "ui_center": None, "num_classes": 3}, folder / "config.json")
    faces = _faces(tmp_path / "faces", n=2, size=model.backbone.input_size)
    out = tmp_path / "ri.csv"
    assert main(["score", str(faces), "--checkpoint", str(folder), "--format", "rie", "--method", "ri",
                 "--out", str(out)]) == 0
    with torch.no_grad():
        img = torch.from_numpy(np.array(Image.open(faces / "face_0.png"))).permute(2, 0, 1)[None]
        want = model.eval().quality(img.float() / 127.5 - 1.0).item()  # rie's own convention: RGB in [-1, 1]
    rows = {os.path.basename(p): float(s) for p, s in _read(out)[1:]}
    assert rows["face_0.png"] == pytest.approx(want, rel=1e-5, abs=1e-6)
    assert main(["score", str(faces), "--checkpoint", str(tmp_path), "--format", "rie", "--method", "ri"]) == 2
    assert "not a trained-model folder" in capsys.readouterr().err
