"""The two install routes (pip via pyproject.toml, conda via environment.yml) list the same pins."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_pins():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {re.split("==", d)[0].lower(): d for d in deps}


def _environment_pins():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    pins = [l.strip()[2:].strip() for l in lines if re.match(r"\s+- [A-Za-z0-9_.-]+==", l)]
    return {p.split("==")[0].lower(): p for p in pins}


def test_every_dependency_is_pinned_exactly():
    for name, spec in _pyproject_pins().items():
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", spec), f"{spec} is not an exact pin"


def test_environment_yml_matches_pyproject():
    assert _environment_pins() == _pyproject_pins()


def test_torch_and_torchvision_are_a_matching_pair():
    import torch
    import torchvision

    pins = _pyproject_pins()
    assert torch.__version__.split("+")[0] == pins["torch"].split("==")[1]
    assert torchvision.__version__.split("+")[0] == pins["torchvision"].split("==")[1]
    # torchvision's compiled ops load only with the torch it was built for
    import torchvision.ops

    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    assert torchvision.ops.nms(boxes, torch.tensor([1.0, 0.5]), 0.5).tolist() == [0]


def test_grad_cam_imports():
    import pytorch_grad_cam  # noqa: F401
    from pytorch_grad_cam import GradCAM  # noqa: F401
