"""The install routes agree: pyproject.toml declares compatible ranges, constraints.txt the exact
versions the reports were made with (``make`` installs with ``pip install -c``), environment.yml
(conda/mamba) the same exact pins; torch and torchvision are a matching pair."""

import re
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
# torch minor -> the torchvision minor built for it (the pair the ranges and the lock must keep)
TORCHVISION_FOR_TORCH = {"2.15": "0.29"}
BROKEN_TORCH = "2.13.0"  # the machine's CPU-only wheel, with which torchvision's compiled ops fail to load


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _ranges() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + [d for extra in project.get("optional-dependencies", {}).values() for d in extra]
    reqs = [Requirement(d) for d in deps]
    return {_name(r.name): r for r in reqs}


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.fullmatch(r"\s*(?:- )?([A-Za-z0-9_.-]+)==([0-9][0-9A-Za-z.]*)\s*", line)
        if match:
            pins[_name(match.group(1))] = match.group(2)
    return pins


def _lock() -> dict[str, str]:
    text = (ROOT / "constraints.txt").read_text().splitlines()
    body = [line for line in text if line.strip() and not line.lstrip().startswith("#")]
    pins = _pins(body)
    assert len(pins) == len(body), f"constraints.txt holds a line that is not an exact pin: {body}"
    return pins


def _environment_pins() -> dict[str, str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    return _pins(line for line in lines if re.match(r"\s+- [A-Za-z0-9_.-]+==", line))


def test_pyproject_declares_ranges_not_pins():
    for name, req in _ranges().items():
        assert req.specifier, f"{name} has no version range"
        exact = [s for s in req.specifier if s.operator == "==" and "*" not in s.version]
        assert not exact, f"{req} is an exact pin: exact versions go in constraints.txt"


def test_every_locked_version_lies_in_its_range():
    ranges, lock = _ranges(), _lock()
    assert set(lock) == set(ranges), f"only in the lock: {set(lock) - set(ranges)}; only in pyproject: {set(ranges) - set(lock)}"
    for name, version in lock.items():
        assert ranges[name].specifier.contains(version, prereleases=True), f"{name}=={version} is outside {ranges[name]}"


def test_environment_yml_equals_the_lock():
    assert _environment_pins() == _lock()
    assert "- -e .[notebooks,test]" in (ROOT / "environment.yml").read_text()


def test_the_ranges_keep_torch_and_torchvision_a_matching_pair():
    ranges, lock = _ranges(), _lock()
    torch_minor = ".".join(lock["torch"].split(".")[:2])
    assert ".".join(lock["torchvision"].split(".")[:2]) == TORCHVISION_FOR_TORCH[torch_minor]
    assert not ranges["torch"].specifier.contains(BROKEN_TORCH)
    for version in ("2.13.0", "2.14.0", "2.15.0", "2.15.9", "2.16.0", "3.0.0"):
        allowed = Version(version).release[:2] == (2, 15)
        assert ranges["torch"].specifier.contains(version) == allowed, f"{ranges['torch']} on torch {version}"
    for version in ("0.28.0", "0.29.0", "0.29.7", "0.30.0"):
        allowed = version.startswith(TORCHVISION_FOR_TORCH["2.15"] + ".")
        assert ranges["torchvision"].specifier.contains(version) == allowed, f"{ranges['torchvision']} on {version}"


def test_the_makefile_installs_with_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^LOCK\s*:=\s*constraints\.txt$", makefile, re.M)
    assert re.search(r"^\$\(STAMP\):.*pyproject\.toml.*\$\(LOCK\)", makefile, re.M), "the stamp must depend on both files"
    assert "pip install --quiet -c $(LOCK) -e" in makefile


def test_torch_and_torchvision_are_a_matching_pair():
    import torch
    import torchvision

    lock = _lock()
    assert torch.__version__.split("+")[0] == lock["torch"]
    assert torchvision.__version__.split("+")[0] == lock["torchvision"]
    # torchvision's compiled ops load only with the torch it was built for
    import torchvision.ops

    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    assert torchvision.ops.nms(boxes, torch.tensor([1.0, 0.5]), 0.5).tolist() == [0]


def test_grad_cam_imports():
    import pytorch_grad_cam  # noqa: F401
    from pytorch_grad_cam import GradCAM  # noqa: F401
