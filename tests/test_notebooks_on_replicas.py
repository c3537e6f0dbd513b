"""Notebooks 02, 03, 04, 06 and 07 under papermill at the smoke profile on tiny on-disk replicas of
every real layout (TinyFace, SCFace, QMUL-SurvFace, and a UI folder), with ``DATA`` and ``CHECKPOINT``.

One synthetic world and one set of pretrained encoders serve every run (a module-wide cache);
the models fine-tuned on a replica are its own. Each run must finish without an error and print
what it skipped for the lack of ground truth."""

from __future__ import annotations

import json

import pytest
import torch
from layouts import TO_TRAIN_ON, make_ui_folder

from rie.report import NOTEBOOK_DIR, execute

KINDS = tuple(TO_TRAIN_ON)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """``{kind: path}`` of every layout, a UI folder, and the caches the runs share."""
    base = tmp_path_factory.mktemp("replicas")
    found = {kind: make(base / kind) for kind, make in TO_TRAIN_ON.items()}
    found["ui"] = make_ui_folder(base / "ui")
    found["cache"], found["models"] = base / "cache", base / "models"
    return found


@pytest.fixture(scope="module")
def mobilefacenet(tmp_path_factory):
    """A published-format checkpoint (arcface_torch's MobileFaceNet names, random weights)."""
    from rie.method.backbones import MobileFaceNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("checkpoint") / "mbf.pth"
    torch.save(MobileFaceNet().eval().state_dict(), path)
    return path


def run_notebook(name: str, replicas, out_dir, **params) -> str:
    """Execute ``notebooks/<name>.ipynb`` at the smoke profile; its printed text (no error allowed)."""
    out = out_dir / f"{name}.ipynb"
    extra = {"CACHE_DIR": str(replicas["cache"]), "MODEL_DIR": str(replicas["models"]), **params}
    execute(NOTEBOOK_DIR / f"{name}.ipynb", out, profile="smoke", extra=extra)
    outputs = [o for c in json.loads(out.read_text())["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o["output_type"] == "error"]
    assert not errors, errors[0].get("evalue")
    return "".join("".join(o.get("text", "")) for o in outputs)


@pytest.mark.parametrize("kind", KINDS)
def test_notebook_03_on_every_layout(kind, replicas, tmp_path):
    text = run_notebook("03_recognizability_index", replicas, tmp_path, DATA=f"{kind}:{replicas[kind]}")
    n_train = {"tinyface": 144, "scface": 160, "survface": 144}[kind]
    assert f"{kind} (" in text and f"train {n_train}" in text and f"{n_train} VLR images, 16 prototypes" in text
    assert f"skipped on {kind} data: Spearman rho" in text and "not available: difficulty" in text


@pytest.fixture(scope="module")
def rie_folder(replicas):
    """A ``rie:`` model folder: an RIE fine-tune (one epoch, no pretrained state) of random faces."""
    from rie.training.recipes import finetune_config
    from rie.training.train import train_or_load

    torch.manual_seed(0)
    images = torch.randint(0, 256, (128, 3, 32, 32), dtype=torch.uint8)
    config = finetune_config("smoke", "rie").replace(epochs=1, freeze_backbone_epochs=0)
    result = train_or_load(config, images, torch.arange(16).repeat_interleave(8), images[:32], cache_dir=replicas["models"],
                           progress=False)
    return replicas["models"] / result.key


# Every layout runs; DATA alone (the models fine-tuned on the replica) on SCFace, the one with the most
# test faces; a published checkpoint and a rie folder on the two small ones (a MobileFaceNet runs at 112 px).
NOTEBOOK_07 = {"tinyface": "arcface_torch", "scface": None, "survface": "rie"}


@pytest.mark.parametrize("kind", KINDS)
def test_notebook_07_on_every_layout(kind, replicas, mobilefacenet, request, tmp_path):
    fmt = NOTEBOOK_07[kind]
    params = {"DATA": f"{kind}:{replicas[kind]}"}
    if fmt is not None:
        path = mobilefacenet if fmt == "arcface_torch" else request.getfixturevalue("rie_folder")
        params["CHECKPOINT"] = f"{fmt}:{path}"
    text = run_notebook("07_quality_and_erc", replicas, tmp_path, **params)
    n_test = {"tinyface": 8, "scface": 160, "survface": 12}[kind]
    assert f"{kind} (" in text and "not available: difficulty" in text
    assert f"{n_test} test images of" in text
    assert f"skipped on {kind} data: Spearman rho against the true difficulty" in text
    assert "Spearman rho with difficulty" not in text  # nor its claims
    if fmt is None:  # five fine-tuned models per seed pair, two recognition models, the claims without the rho ones
        assert "7 fine-tuned models" in text and "recognition model: arcface " in text and "recognition model: rie " in text
        assert "RI's distribution is negatively skewed" in text and "RI has a smaller ERC area than ERS" in text
        assert "RI follows the true difficulty" not in text and f"skipped on {kind} data: the claims against the true difficulty" in text
    else:  # one model: the scores it has, it recognises the pairs, no paired claims
        name = f"{fmt}:{path.name}"
        scores = {"arcface_torch": ["feature norm", "ERS"], "rie": ["RI (ours)", "feature norm", "ERS"]}[fmt]
        assert f"using {name}: nothing fine-tuned" in text and f"recognition model: {name} " in text
        assert [line.split(" skew ")[0].strip() for line in text.splitlines() if " skew " in line and "over 1 seed pairs" in line] == scores
        assert "CR-FIQA" not in text and "MagFace" not in text
        assert "skipped: the claims compare the notebook's own methods" in text and "claims hold" not in text
