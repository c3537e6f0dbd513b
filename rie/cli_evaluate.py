"""``rie evaluate``: a dataset's protocol on a checkpoint; prints the table and writes JSON.

    python -m rie evaluate --protocol tinyface --data /data/tinyface --checkpoint adaface_ir101.ckpt \\
        --format adaface --flip --out tinyface.json

``--protocol``: ``tinyface`` (CMC with and without distractors), ``scface`` (rank-1 per distance),
``survface`` (TPR@FAR on the official pairs, TPIR20@FPIR), ``synthetic`` (all of them on the
synthetic world; ``--data`` is then the world cache folder, default ``data/cache``).
Images are loaded at the model's input size. Bad input (a missing folder, a layout that is not
the dataset's, a checkpoint of another architecture) prints one line and exits with status 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .common.checks import RIEInputError
from .common.constants import PROFILES
from .common.utils import atomic_write
from .data.evaluation_data import KINDS, evaluation_data
from .evaluation.evaluate import format_results, input_size, run_protocols, unwrap_model
from .evaluation.inference import SCORING


def _evaluate(args) -> int:
    from .cli import _load  # the one checkpoint loader of the command line (rie.cli imports this module)

    if args.data is None and args.protocol != "synthetic":
        raise RIEInputError(f"--protocol {args.protocol} needs --data: the dataset's folder")
    if args.protocol != "synthetic" and not Path(args.data).exists():  # the world cache is made when absent
        raise RIEInputError(f"--data {args.data}: no such file or folder")
    model, preprocess = _load(args.checkpoint, args.format, args.arch)
    net, preprocess = unwrap_model(model, preprocess)
    try:
        device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError as exc:
        raise RIEInputError(f"--device {args.device}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RIEInputError(f"--device {args.device}: no CUDA device on this machine")
    net = net.to(device)
    size = input_size(net, preprocess)
    data = evaluation_data(args.protocol, args.data, image_size=size or 32, ui_dir=args.ui_dir,
                           profile=args.profile, check_identities=not args.no_identity_check)
    results = run_protocols(net, data, preprocess=preprocess, scoring=args.scoring, flip=args.flip,
                            batch_size=args.batch_size, num_workers=args.workers, device=device)
    print(format_results(results))
    skipped = data.skipped()
    results |= {"data": data.source, "checkpoint": str(args.checkpoint), "format": args.format,
                "skipped_files": len(skipped), "not_available": data.missing}
    if skipped:
        print(f"\n{len(skipped)} files skipped by the loaders (unreadable, or outside the protocol); first: "
              f"{skipped[0][0]}: {skipped[0][1]}")
    if args.out:
        atomic_write(args.out, lambda tmp: Path(tmp).write_text(json.dumps(results, indent=2) + "\n"))
        print(f"\nresults -> {args.out}")
    return 0


def add_evaluate(sub) -> None:
    from .cli import CLI_FORMATS

    p = sub.add_parser("evaluate", help="run a dataset's evaluation protocol on a checkpoint",
                       description="TinyFace CMC with and without distractors, SCFace rank-1 per distance, "
                                   "SurvFace TPR@FAR and TPIR20@FPIR, or all of them on the synthetic world.")
    p.add_argument("--protocol", required=True, choices=KINDS, help="dataset and its protocol")
    p.add_argument("--data", default=None, help="the dataset's folder (synthetic: the world cache folder)")
    p.add_argument("--checkpoint", required=True, help="checkpoint file, or a rie model folder with --format rie")
    p.add_argument("--format", default="rie", choices=CLI_FORMATS, help="checkpoint format (default rie)")
    p.add_argument("--arch", default=None, help="architecture; read from the checkpoint's keys when left out")
    p.add_argument("--flip", action="store_true", help="flip fusion: sum the embeddings of each image and its mirror")
    p.add_argument("--scoring", default="v", choices=SCORING, help="the embedding compared (default v)")
    p.add_argument("--ui-dir", default=None, help="folder of unrecognisable faces (for --scoring v_prime on real data)")
    p.add_argument("--profile", default="default", choices=PROFILES, help="synthetic world's profile (default default)")
    p.add_argument("--no-identity-check", action="store_true",
                   help="skip the train/test identity-disjointness check (a copy numbered independently)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when there is one)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.set_defaults(run=_evaluate)
