"""Execute the notebooks headlessly with papermill: ``python -m rie.report`` (``make report``).

Each notebook is executed into a temporary file and moved over the source only when it
succeeds, so an interrupted or failing run never leaves a half-executed report behind.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
PROFILES = ("smoke", "default", "paper")


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", choices=PROFILES)
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
        os.replace(tmp, target)
        print(f"[report] {path.name} done in {seconds:.0f} s -> {target}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
