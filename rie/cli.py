"""The ``rie`` command line: one subcommand per task (``rie score``; others add theirs to ``SUBCOMMANDS``).

    python -m rie score IMAGES_DIR --checkpoint PATH --format FMT --method METHOD [--ui-dir DIR] --out scores.csv

``--format`` is a published checkpoint's (``arcface_torch``, ``crfiqa``, ``magface``, ``adaface``;
see ``rie.method.checkpoints``) or ``rie`` for a model folder written by ``train_or_load``.
Errors in the input (``RIEInputError``) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from .cli_evaluate import add_evaluate
from .common.checks import RIEInputError
from .evaluation.scoring import SCORE_METHODS, score_folder
from .method.checkpoints import FORMATS, Preprocess, load_checkpoint

CLI_FORMATS = FORMATS + ("rie",)


def _load(path: str, fmt: str, arch: str | None):
    if fmt == "rie":
        from .training.train import load_trained

        model = load_trained(path).model
        return model, Preprocess("RGB", (-1.0, 1.0), int(model.backbone.input_size))
    return load_checkpoint(path, fmt, arch=arch), None


def _score(args) -> int:
    model, preprocess = _load(args.checkpoint, args.format, args.arch)
    result = score_folder(args.images_dir, model, method=args.method, ui_dir=args.ui_dir, out=args.out,
                          preprocess=preprocess, batch_size=args.batch_size)
    print(f"scored {result.scored} images -> {result.scores_path}; "
          f"{result.unreadable} not scored -> {result.unreadable_path}"
          + (f"; {result.resized} resized to the model's input size" if result.resized else ""))
    return 0


def _add_score(sub) -> None:
    p = sub.add_parser("score", help="score a folder of aligned face crops with a quality method",
                       description="Write one row per readable image (path, score; higher = more recognisable) "
                                   "and list unreadable files with their reason in <out>_unreadable.csv.")
    p.add_argument("images_dir", help="folder of aligned face crops (read recursively)")
    p.add_argument("--checkpoint", required=True, help="checkpoint file, or a rie model folder with --format rie")
    p.add_argument("--format", required=True, choices=CLI_FORMATS, help="checkpoint format")
    p.add_argument("--arch", default=None, help="architecture (r18|r34|r50|r100|mbf|mbf_large, AdaFace ir_50|ir_101...); "
                                                "read from the checkpoint's keys when left out")
    p.add_argument("--method", required=True, choices=SCORE_METHODS, help="quality method")
    p.add_argument("--ui-dir", default=None, help="folder of unrecognisable-identity images (needed by ers)")
    p.add_argument("--out", default="scores.csv", help="scores file (default scores.csv)")
    p.add_argument("--batch-size", type=int, default=64)
    p.set_defaults(run=_score)


def _train(args) -> int:
    from .training.runs import train_from_run

    result, out = train_from_run(args.config, args.set, progress=not args.quiet)
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports
        return 0
    last = result.history[-1] if result.history else {}
    print(f"trained {result.config.name}: {len(result.history)} epoch(s)"
          + (f", last loss {last['total']:.4f}" if "total" in last else "") + f" -> {out}")
    return 0


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train (or resume) a run from a YAML config (configs/*.yaml)",
                       description="Train a model from a run file; rerunning it resumes from OUTPUT/checkpoint.pt. "
                                   "Under torchrun --nproc_per_node=N each process trains 1/N of the global batch.")
    p.add_argument("config", help="YAML run file (see configs/base.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key (dotted for nested: loss.alpha=2, data.path=/data/tinyface); repeatable")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_train)


# name -> function adding the subparser (set_defaults(run=...))
SUBCOMMANDS = {"score": _add_score, "evaluate": add_evaluate, "train": _add_train}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rie", description="Recognizability Embedding Enhancement (CVPR 2023)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS.values():
        add(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except RIEInputError as exc:
        print(f"rie {args.command}: error: {exc}", file=sys.stderr)
        return 2
