import json

import nbformat
import pytest

from rie import report


def _notebook(path, source):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('PROFILE = "default"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_lists_only_numbered_notebooks(tmp_path):
    for name in ("01_a.ipynb", "00_b.ipynb", "scratch.ipynb"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in report.notebooks(tmp_path)] == ["00_b.ipynb", "01_a.ipynb"]
    assert [p.name for p in report.notebooks(tmp_path, only=["01"])] == ["01_a.ipynb"]


def test_failed_run_keeps_the_committed_report(tmp_path, monkeypatch):
    good, bad = tmp_path / "00_good.ipynb", tmp_path / "01_bad.ipynb"
    _notebook(good, "print(PROFILE)")
    _notebook(bad, "raise RuntimeError('boom')")
    before = bad.read_text()
    monkeypatch.setattr(report, "NOTEBOOK_DIR", tmp_path)
    monkeypatch.setattr(report, "notebooks", lambda only=None: [good, bad])
    assert report.main(["--profile", "smoke"]) == 1
    assert bad.read_text() == before
    executed = json.loads(good.read_text())
    assert "".join(executed["cells"][-1]["outputs"][0]["text"]) == "smoke\n"


def test_injected_values_are_folded_into_the_parameters_cell(tmp_path):
    path = tmp_path / "00_a.ipynb"
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('PROFILE = "default"  # "smoke" | "default"\nSEED = 0\nSEEDS = [0, 1]')
    params.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell('# Parameters\nPROFILE = "smoke"\nSEEDS = [3]\nEXTRA = 1.5\n')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells = [params, injected, nbformat.v4.new_code_cell("print(PROFILE)")]
    nbformat.write(nb, path)
    report.fold_injected_parameters(path)
    cells = nbformat.read(path, as_version=4).cells
    assert len(cells) == 2 and not any("injected-parameters" in c.metadata.get("tags", []) for c in cells)
    assert cells[0].source == 'PROFILE = "smoke"  # "smoke" | "default"\nSEED = 0\nSEEDS = [3]\nEXTRA = 1.5'
    assert cells[0].metadata["tags"] == ["parameters"]


def test_a_report_run_leaves_no_injected_cell(tmp_path, monkeypatch):
    good = tmp_path / "00_good.ipynb"
    _notebook(good, "print(PROFILE)")
    monkeypatch.setattr(report, "notebooks", lambda only=None: [good])
    assert report.main(["--profile", "smoke"]) == 0
    cells = json.loads(good.read_text())["cells"]
    assert [c["metadata"].get("tags", []) for c in cells] == [["parameters"], []]
    assert "".join(cells[0]["source"]) == 'PROFILE = "smoke"'
    assert "".join(cells[-1]["outputs"][0]["text"]) == "smoke\n"
