"""The package's folders are its layers, and nothing imports upwards (README, Architecture).

common <- method <- data <- evaluation <- training, plots <- experiments <- the runner (rie/*.py).
A module may import from its own folder and from any layer to its left; training and plots stand
side by side and do not import each other.
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rie"
LAYERS = {"common": 0, "method": 1, "data": 2, "evaluation": 3, "training": 4, "plots": 4, "experiments": 5}
TOP = 6  # modules directly in rie/: the report runner and the command line


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _layer_of(parts: tuple[str, ...]) -> tuple[str, int]:
    """(folder, rank) of a module given its dotted parts below ``rie``."""
    if len(parts) >= 2 and parts[0] in LAYERS:
        return parts[0], LAYERS[parts[0]]
    return "", TOP


def _imports(path: Path) -> list[tuple[tuple[str, ...], int]]:
    """Every ``rie`` module imported by ``path``, as dotted parts below ``rie``, with its line."""
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    package = rel[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = base + tuple(node.module.split(".")) if node.module else base
            elif node.module and node.module.split(".")[0] == "rie":
                target = tuple(node.module.split(".")[1:])
            else:
                continue
            for alias in node.names:  # "from rie.data import synth" imports rie.data.synth
                found.append((target + (alias.name,) if len(target) == 1 else target, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "rie":
                    found.append((tuple(alias.name.split(".")[1:]), node.lineno))
    return found


def test_every_module_is_in_a_layer_or_is_the_runner():
    for path in _modules():
        parts = path.relative_to(PACKAGE).parts
        assert len(parts) == 1 or parts[0] in LAYERS, f"{path}: folder {parts[0]!r} is not a layer {sorted(LAYERS)}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_imports_upwards(path):
    own_folder, own_rank = _layer_of(path.relative_to(PACKAGE).with_suffix("").parts)
    for target, line in _imports(path):
        folder, rank = _layer_of(target)
        if folder == own_folder:
            continue
        assert rank < own_rank, (
            f"{path.name}:{line} imports rie.{'.'.join(target)} ({folder or 'runner'}, layer {rank}) "
            f"from layer {own_rank} ({own_folder or 'runner'}): imports must point to a layer to the left"
        )


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    # A method module that imports the trainer must be caught.
    fake = tmp_path / "rie"
    (fake / "method").mkdir(parents=True)
    bad = fake / "method" / "bad.py"
    bad.write_text("from ..training.train import fit\nfrom rie.evaluation import metrics\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    with pytest.raises(AssertionError, match="layer 4"):
        test_nothing_imports_upwards(bad)
