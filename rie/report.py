"""Execute the notebooks headlessly with papermill: ``python -m rie.report`` (``make report``).

Each notebook is executed into a temporary file and moved over the source only when it
succeeds, so an interrupted or failing run never leaves a half-executed report behind.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
import time
from pathlib import Path

from .common.constants import DEFAULT_PROFILE, PROFILES

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=DEFAULT_PROFILE, choices=PROFILES)
    parser.add_argument("--only", nargs="*", help="run only notebooks whose name contains one of these")
    parser.add_argument("--output-dir", type=Path, default=None, help="write here instead of in place")
    args = parser.parse_args(argv)
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
