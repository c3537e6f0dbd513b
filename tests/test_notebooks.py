"""Every notebook runs headless under papermill with the smoke profile, and is committed as a report.

nbval (``pytest --nbval notebooks``) separately re-executes the committed notebooks and
compares their outputs; this module checks the rest.
"""

import json

import pytest

from rie.report import NOTEBOOK_DIR, execute, notebooks

NOTEBOOKS = notebooks()


def _code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_as_a_report(path):
    code = _code_cells(path)
    assert "parameters" in code[0]["metadata"].get("tags", []), "first code cell must be tagged 'parameters'"
    assert "PROFILE" in "".join(code[0]["source"]), "the parameters cell holds the profile"
    injected = [c for c in code if "injected-parameters" in c["metadata"].get("tags", [])]
    assert not injected, "holds papermill's injected cell: it would override a student's edit of the parameters cell"
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert outputs, "committed without outputs"
    assert not [o for o in outputs if o["output_type"] == "error"], "holds an error output"
    counts = [c["execution_count"] for c in code if c.get("execution_count") is not None]
    assert counts == sorted(counts), "cells executed out of order"
    nb = json.loads(path.read_text())
    assert nb["metadata"].get("papermill", {}).get("parameters", {}).get("PROFILE") == "default", (
        "reports are committed from the default profile (make report)"
    )


NBVAL_TAGS = {"nbval-ignore-output", "nbval-check-output", "nbval-skip", "nbval-raises-exception", "raises-exception"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_nbval_tags_are_spelled_right(path):
    # A misspelt tag is silently compared: it passes on the machine that wrote the report and fails
    # on any other CPU, where trained numbers differ (README, Tests).
    tags = {t for c in _code_cells(path) for t in c["metadata"].get("tags", [])}
    unknown = {t for t in tags if ("nbval" in t or "raises" in t) and t not in NBVAL_TAGS}
    assert not unknown, f"unknown nbval tag(s) {sorted(unknown)}; nbval knows {sorted(NBVAL_TAGS)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_headless_with_smoke_profile(path, tmp_path):
    execute(path, tmp_path / path.name, profile="smoke")
    outputs = [o for c in _code_cells(tmp_path / path.name) for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
