"""One home for profiles and constants (rie/common/constants.py): nothing else defines them."""

import json
import re
from pathlib import Path

import pytest

from rie.common import constants as C
from rie.common.checks import RIEInputError
from rie.method.heads import HEADS

ROOT = Path(__file__).resolve().parent.parent


def test_the_papers_weights():
    # Eq. 10 with the paper's choice (Section 4.2, Fig. 3): alpha 5, beta 2, gamma 1
    assert dict(C.PAPER_WEIGHTS) == {"alpha": 5.0, "beta": 2.0, "gamma": 1.0}
    assert dict(C.NO_RIE_TERMS) == {"alpha": 0.0, "beta": 0.0, "gamma": 0.0}
    with pytest.raises(TypeError):
        C.PAPER_WEIGHTS["alpha"] = 1.0  # read-only


def test_every_table_is_keyed_by_the_profiles():
    assert C.PROFILES == ("smoke", "default", "paper") and C.DEFAULT_PROFILE in C.PROFILES
    for table in (C.WORLD_SIZES, C.PRETRAIN_EPOCHS, C.FINETUNE_EPOCHS, *C.NOTEBOOK_SIZES.values()):
        assert tuple(table) == C.PROFILES


def test_each_notebook_has_the_same_sizes_in_every_profile():
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    for name, table in C.NOTEBOOK_SIZES.items():
        assert name in notebooks, f"{name} is not a notebook"
        fields = {tuple(sorted(sizes)) for sizes in table.values()}
        assert len(fields) == 1, f"{name}: the profiles hold different fields {fields}"


def test_notebook_sizes():
    assert C.notebook_sizes("00_quickstart", "smoke").epochs == 3
    s = C.notebook_sizes("07_quality_and_erc", "default", n_mated=10)
    assert (s.n_mated, s.n_nonmated) == (10, 50000)
    assert C.NOTEBOOK_SIZES["07_quality_and_erc"]["default"]["n_mated"] == 6000  # the override copied
    with pytest.raises(RIEInputError, match="unknown profile"):
        C.notebook_sizes("00_quickstart", "huge")
    with pytest.raises(RIEInputError, match="no sizes"):
        C.notebook_sizes("99_nothing", "smoke")
    with pytest.raises(RIEInputError, match="unknown size"):
        C.notebook_sizes("00_quickstart", "smoke", epoch=1)


def test_method_labels_are_keyed_by_recipe_names():
    methods = set(HEADS) | {C.OURS_METHOD}
    for labels in (C.TABLE4_LABELS, C.SHORT_LABELS):
        assert set(labels) <= methods
    assert C.BASELINE_METHOD in HEADS
    assert set(C.SCORE_LABELS) <= methods | {"crfiqa", "ers"}


def _code(path: Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return path.read_text()


def _sources():
    home = ROOT / "rie" / "common" / "constants.py"
    paths = [*(ROOT / "rie").rglob("*.py"), *(ROOT / "notebooks").glob("*.ipynb"), *(ROOT / "benchmarks").glob("*.py")]
    return [p for p in sorted(paths) if p != home and "__pycache__" not in p.parts]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_second_home(path):
    code = _code(path)
    assert not re.search(r"^\s*PROFILES\s*[:=]", code, re.M), "defines PROFILES: import it from rie.common.constants"
    assert not re.search(r"[\"']smoke[\"']\s*:", code), "a per-profile table: put it in rie.common.constants"
    assert not re.search(r"alpha[\"']?\s*[:=]\s*5(\.0)?\b.*beta[\"']?\s*[:=]\s*2", code), (
        "the paper's weights: import PAPER_WEIGHTS from rie.common.constants")
