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
