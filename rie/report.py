"""Execute the notebooks headlessly with papermill: ``python -m rie.report`` (``make report``).

Each notebook is executed into a temporary file and moved over the source only when it
succeeds, so an interrupted or failing run never leaves a half-executed report behind.
After a run of the committed reports, the README's claims ledger and its table of run times
are written from the executed notebooks (``--ledger-only`` rewrites them without executing):
every verdict line a notebook printed (``rie.evaluation.verdicts.claims_text``), never a figure
copied by hand.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import sys
import time
from pathlib import Path

from .common.checks import RIEInputError
from .common.constants import DEFAULT_PROFILE, PROFILES
from .evaluation.verdicts import VERDICTS, interval_text, parse_claims

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
README = ROOT / "README.md"
TIMES = ROOT / "docs" / "report_times.json"  # seconds per notebook of the last default-profile report
LEDGER_START, LEDGER_END = "<!-- claims-ledger:start -->", "<!-- claims-ledger:end -->"


def notebooks(directory: Path = NOTEBOOK_DIR, only: list[str] | None = None) -> list[Path]:
    found = sorted(p for p in directory.glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [p for p in found if any(key in p.stem for key in only)]
        if not found:
            raise SystemExit(f"no notebook in {directory} matches {only}")
    return found


def execute(path: Path, output: Path, profile: str, extra: dict | None = None) -> float:
    """Run one notebook with papermill (PROFILE injected); returns seconds taken."""
    import papermill as pm

    # The kernel inherits these: interactive cells draw static figures, no progress widgets.
    os.environ["RIE_HEADLESS"] = "1"
    os.environ.setdefault("TQDM_DISABLE", "1")
    start = time.perf_counter()
    pm.execute_notebook(
        str(path), str(output), parameters={"PROFILE": profile, **(extra or {})},
        cwd=str(path.parent), kernel_name="python3", progress_bar=False,
    )
    return time.perf_counter() - start


def fold_injected_parameters(path: Path) -> None:
    """Move papermill's injected values into the ``parameters`` cell and drop the injected cell.

    A committed report must not hold the injected cell: it would silently override a
    student's edit of the ``parameters`` cell in JupyterLab.
    """
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    if not injected:
        return
    params = next((c for c in nb.cells if "parameters" in c.metadata.get("tags", [])), None)
    for cell in injected:
        values = {}
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                values[node.targets[0].id] = ast.get_source_segment(cell.source, node.value)
        if params is not None:
            params.source = _set_assignments(params.source, values)
        nb.cells.remove(cell)
    nbformat.write(nb, str(path))


def _set_assignments(source: str, values: dict) -> str:
    """Replace ``NAME = ...`` lines of ``source`` by the given values; keep trailing comments."""
    lines = source.splitlines()
    missing = dict(values)
    for i, line in enumerate(lines):
        match = re.match(r"^(\w+)(\s*=\s*)(.*)$", line)
        if not match or match.group(1) not in values:
            continue
        name, eq, rest = match.groups()
        code, sep, tail = rest.partition("  #")
        comment = f"  #{tail}" if sep and _parses(code) else ""
        lines[i] = f"{name}{eq}{values[name]}{comment}"
        missing.pop(name)
    lines += [f"{name} = {value}" for name, value in missing.items()]
    return "\n".join(lines)


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def notebook_claims(path: Path) -> list[dict]:
    """The verdict lines an executed notebook printed, in order; a claim printed twice (a section's
    table, then the notebook's summary) counts once."""
    cells = json.loads(Path(path).read_text())["cells"]
    text = "\n".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code"
                     for o in c.get("outputs", []) if o.get("output_type") == "stream")
    first: dict[str, dict] = {}
    for claim in parse_claims(text):
        first.setdefault(claim["claim"], claim)
    return list(first.values())


def ledger(paths, times: dict | None = None) -> str:
    """The README's block: run times, then per notebook the count of each verdict and every claim."""
    times = times or {}
    lines = ["Written by `make report` from the executed notebooks' verdict lines (`rie/report.py`); "
             "each claim is a paired effect with its 95 % interval over n seed pairs "
             "(`rie/evaluation/verdicts.py`).", ""]
    if times:
        lines += ["| notebook | minutes (this 2-core CPU, default profile, one `make report` run) |", "| --- | --- |"]
        lines += [f"| {name} | {sec / 60:.1f} |" for name, sec in times.items()]
        lines += [f"| **all** | **{sum(times.values()) / 60:.1f}** |", ""]
    lines += ["| notebook | claims | holds | within spread | reversed |", "| --- | --- | --- | --- | --- |"]
    found = {Path(p).stem: notebook_claims(p) for p in paths}
    found = {k: v for k, v in found.items() if v}
    for name, claims in found.items():
        counts = [sum(c["verdict"] == v for c in claims) for v in VERDICTS[:3]]
        lines.append(f"| {name} | {len(claims)} | " + " | ".join(map(str, counts)) + " |")
    for name, claims in found.items():
        lines += ["", f"<details><summary>{name}: every claim</summary>", "",
                  "| verdict | claim | effect, 95 % CI, n |", "| --- | --- | --- |"]
        lines += [f"| {c['verdict']} | {c['claim'].replace('|', '/')} | "
                  f"{interval_text(c['effect'], c['lo'], c['hi'], c['n'], c['unit'])} |" for c in claims]
        lines += ["", "</details>"]
    return "\n".join(lines)


def write_ledger(readme: Path = README, notebook_dir: Path = NOTEBOOK_DIR, times_file: Path = TIMES) -> None:
    """Replace the README's text between the ledger markers with ``ledger`` of the committed reports."""
    text = readme.read_text()
    if LEDGER_START not in text or LEDGER_END not in text:
        raise RIEInputError(f"{readme} has no claims-ledger markers ({LEDGER_START} ... {LEDGER_END})")
    times = json.loads(times_file.read_text()) if times_file.exists() else {}
    head, rest = text.split(LEDGER_START, 1)
    tail = rest.split(LEDGER_END, 1)[1]
    readme.write_text(f"{head}{LEDGER_START}\n{ledger(notebooks(notebook_dir), times)}\n{LEDGER_END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=DEFAULT_PROFILE, choices=PROFILES)
    parser.add_argument("--only", nargs="*", help="run only notebooks whose name contains one of these")
    parser.add_argument("--output-dir", type=Path, default=None, help="write here instead of in place")
    parser.add_argument("--ledger-only", action="store_true", help="rewrite the README's ledger, execute nothing")
    args = parser.parse_args(argv)
    committed = args.output_dir is None and args.profile == DEFAULT_PROFILE
    if args.ledger_only:
        write_ledger()
        return 0
    times = json.loads(TIMES.read_text()) if committed and TIMES.exists() else {}
    for path in notebooks(only=args.only):
        target = (args.output_dir / path.name) if args.output_dir else path
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.stem}.running.ipynb")
        print(f"[report] {path.name} (profile={args.profile}) ...", flush=True)
        try:
            seconds = execute(path, tmp, args.profile)
        except Exception as exc:  # keep the committed report; show where it failed
            print(f"[report] FAILED {path.name}: {type(exc).__name__}: ...{str(exc)[-3000:]}", file=sys.stderr)
            print(f"[report] the partial run is in {tmp}", file=sys.stderr)
            return 1
        fold_injected_parameters(tmp)
        os.replace(tmp, target)
        print(f"[report] {path.name} done in {seconds:.0f} s -> {target}", flush=True)
        if committed:
            times[path.stem] = round(seconds, 1)
            TIMES.write_text(json.dumps(dict(sorted(times.items())), indent=1) + "\n")
    if committed:
        write_ledger()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
