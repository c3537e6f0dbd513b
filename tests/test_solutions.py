"""The exercises: every report ends with exercises and a "Next:" line; every solution notebook runs.

The solutions (``notebooks/solutions/NN_<name>_solutions.ipynb``) are not reports: they are
committed without outputs, ``make report`` does not list them and nbval does not collect them
(the Makefile's ``--ignore=notebooks/solutions``). Here each one is executed with papermill on the
smoke profile, into a temporary folder, as the reports are in ``test_notebooks.py``.
"""

import json

import pytest

from rie.report import NOTEBOOK_DIR, execute, notebooks

SOLUTION_DIR = NOTEBOOK_DIR / "solutions"
REPORTS = notebooks()
SOLUTIONS = sorted(SOLUTION_DIR.glob("[0-9][0-9]_*_solutions.ipynb"))


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _markdown(path):
    return ["".join(c["source"]) for c in _cells(path) if c["cell_type"] == "markdown"]


def test_one_solution_notebook_per_report():
    assert [p.name for p in SOLUTIONS] == [f"{p.stem}_solutions.ipynb" for p in REPORTS]


def test_solutions_are_not_reports():
    assert not set(notebooks()) & set(SOLUTIONS), "make report would execute (and overwrite) a solution"


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.stem)
def test_report_ends_with_exercises_and_next(path):
    cells = _markdown(path)
    heads = [i for i, s in enumerate(cells) if s.startswith("## Exercises")]
    assert len(heads) == 1, "needs one '## Exercises' markdown cell"
    conclusion = [i for i, s in enumerate(cells) if s.startswith("## Conclusion")]
    assert conclusion and heads[0] > conclusion[-1], "the exercises come after the conclusion"
    exercises = cells[heads[0]]
    assert 2 <= sum(line[:3] in {f"{k}. " for k in range(1, 10)} for line in exercises.splitlines()) <= 3
    assert f"solutions/{path.stem}_solutions.ipynb" in exercises, "the exercises name their solution notebook"
    assert cells[-1].startswith("**Next:**"), "the notebook ends with a 'Next:' line"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_solution_is_committed_without_outputs(path):
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", []), "first code cell must be tagged 'parameters'"
    assert 'PROFILE = "smoke"' in "".join(code[0]["source"])
    assert not [o for c in code for o in c.get("outputs", [])], "solutions are committed without outputs"
    assert all(c.get("execution_count") is None for c in code)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_solution_executes_on_the_quick_profile(path, tmp_path):
    execute(path, tmp_path / path.name, profile="smoke")
    code = [c for c in _cells(tmp_path / path.name) if c["cell_type"] == "code"]
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert [o for o in outputs if o["output_type"] == "stream"], "a solution prints what its answer refers to"
