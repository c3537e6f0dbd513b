"""The README's claims ledger is written from the notebooks' own verdict lines (rie/report.py)."""

import json

import pytest

from rie import report
from rie.common.checks import RIEInputError
from rie.evaluation import verdicts


def _notebook(path, *texts):
    cells = [{"cell_type": "code", "source": "", "outputs": [{"output_type": "stream", "name": "stdout", "text": t}]}
             for t in texts]
    path.write_text(json.dumps({"cells": cells + [{"cell_type": "markdown", "source": "HOLDS  not: +1 pp"}]}))


def test_ledger_reads_the_printed_claims(tmp_path):
    claims = [verdicts.make_claim("Ours > baseline", verdicts.effect([1.0, 2.0, 1.5, 1.8])),
              verdicts.make_claim("RI | better", verdicts.effect([-1.0, -2.0, -1.5]), unit="x")]
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    _notebook(nb_dir / "04_a.ipynb", "table\n" + verdicts.claims_text(claims[:1]) + "\n", verdicts.claims_text(claims[1:]))
    _notebook(nb_dir / "05_b.ipynb", "no claims here\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.LEDGER_START}\nold text\n{report.LEDGER_END}\noutro\n")
    times = tmp_path / "times.json"
    times.write_text(json.dumps({"04_a": 600.0, "05_b": 60.0}))
    report.write_ledger(readme, nb_dir, times)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old text" not in text
    assert "| 04_a | 2 | 1 | 0 | 1 |" in text and "05_b |" in text.split("| notebook | claims")[0]
    assert "| **all** | **11.0** |" in text and "| reversed | RI / better |" in text
    report.write_ledger(readme, nb_dir, times)  # idempotent
    assert readme.read_text() == text
    readme.write_text("no markers")
    with pytest.raises(RIEInputError, match="markers"):
        report.write_ledger(readme, nb_dir, times)


def test_a_claim_printed_twice_counts_once(tmp_path):
    line = verdicts.claims_text([verdicts.make_claim("c", verdicts.effect([1.0, 2.0, 1.5]))])
    other = verdicts.claims_text([verdicts.make_claim("d", verdicts.effect([-1.0, -2.0, -1.5]))])
    path = tmp_path / "n.ipynb"
    _notebook(path, line + "\n" + other, "summary\n" + line)
    assert [c["claim"] for c in report.notebook_claims(path)] == ["c", "d"]
