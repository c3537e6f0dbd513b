"""Score a folder of face crops with a quality method and write the scores to a file.

    score_folder("faces/", loaded, method="crfiqa", out="scores.csv")

writes ``scores.csv`` (``path,score``: one row per readable image, higher = more recognisable)
and ``scores_unreadable.csv`` (``path,reason``: every file that was not scored: corrupt, not an
image, vanished while the run read it). A bad file is skipped and listed; the run goes on.
Images are read through ``rie.data.datasets`` (the UI-folder scan: every image under the
folder, recursively; hidden files ignored), converted to 8-bit RGB, resized (bicubic) to the
model's input size when they are not already that size, then fed through the model's
``Preprocess`` (channel order, value range).

Methods (``rie.evaluation.quality``):

- ``ri``: the RIE model's learned RI ``xi_hat`` (needs an ``RIEModel``);
- ``crfiqa``: CR-FIQA's quality head on the embedding (a CR-FIQA checkpoint, or an
  ``RIEModel`` trained with ``crfiqa=True``);
- ``magface``: the embedding norm (MagFace's quality; AdaFace's norm too);
- ``ers``: ``1 - cos(v, u)``, ``u`` the UI centre of the images in ``ui_dir`` (Deng et al.).
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ..common.checks import RIEInputError
from ..common.utils import atomic_write
from ..data.datasets import FaceFolderSet, check_image_file, load_ui_folder, to_rgb
from ..method.checkpoints import Preprocess
from ..method.ri import ui_center
from .evaluate import input_size, unwrap_model
from .inference import extract
from .quality import crfiqa_score, ers, feature_norm, learned_ri

SCORE_METHODS = ("ri", "crfiqa", "magface", "ers")


class ScoreResult(NamedTuple):
    scores_path: Path
    unreadable_path: Path
    scored: int
    unreadable: int
    resized: int  # images that were not at the model's input size


class Uint8Transform:
    """PIL image -> uint8 RGB tensor (3, S, S), resized (bicubic) only when needed."""

    def __init__(self, size: int):
        self.size = int(size)
        self.resized = 0  # counted in this process (score_folder reads with num_workers=0)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        img = to_rgb(img)
        if img.size != (self.size, self.size):
            self.resized += 1
            img = img.resize((self.size, self.size), Image.BICUBIC)
        return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1)


def unreadable_path_for(out: Path) -> Path:
    """``scores.csv`` -> ``scores_unreadable.csv`` beside it."""
    return out.with_name(f"{out.stem}_unreadable{out.suffix or '.csv'}")


def _unwrap(model, preprocess, quality_head):
    """(network, preprocess, CR-FIQA head or None) from a LoadedCheckpoint, a Preprocessed wrapper, an
    RIEModel or a backbone (``evaluate.unwrap_model``, with rie's own convention made explicit)."""
    net, preprocess = unwrap_model(model, preprocess)
    if preprocess is None:  # rie's own convention: RGB in [-1, 1] at the backbone's input size
        size = input_size(net, None)
        if size is None:
            raise RIEInputError(f"{type(model).__name__} has no input_size: pass preprocess=Preprocess(...)")
        preprocess = Preprocess("RGB", (-1.0, 1.0), size)
    return net, preprocess, quality_head or getattr(model, "quality_head", None) or getattr(net, "crfiqa", None)


def _check_method(method, net, head, ui_dir):
    if method not in SCORE_METHODS:
        raise RIEInputError(f"method must be one of {SCORE_METHODS}, got {method!r}")
    if method == "ri" and not hasattr(net, "regression"):
        raise RIEInputError(f"method 'ri' (the learned RI) needs an RIE model with its regression branch; "
                            f"{type(net).__name__} has none (use crfiqa, magface or ers)")
    if method == "crfiqa" and head is None:
        raise RIEInputError("method 'crfiqa' needs CR-FIQA's quality head: a format='crfiqa' checkpoint "
                            "or an RIEModel trained with crfiqa=True")
    if method == "ers" and ui_dir is None:
        raise RIEInputError("method 'ers' needs a folder of unrecognisable-identity images (ui_dir / --ui-dir) "
                            "to compute the UI centre")


def _scan(images_dir: Path, size: int, transform, role: str) -> tuple[FaceFolderSet | None, list[tuple[str, str]]]:
    """The readable images as a set, or None with every file's reason when none is readable."""
    try:
        dataset = load_ui_folder(images_dir, image_size=size, name=role)
    except RIEInputError:
        if not images_dir.is_dir():
            raise
        # no usable image at all: list every file with its reason, score nothing
        skipped = []
        for p in sorted(q for q in images_dir.rglob("*") if q.is_file() and not q.name.startswith(".")):
            reason = check_image_file(str(p))[2]
            skipped.append((str(p), reason or "not an image file extension"))
        return None, skipped
    dataset.transform = transform
    return dataset, []


def _batches(dataset: FaceFolderSet, batch_size: int):
    """(uint8 images, indices) batches; a file that went bad while read is not scored twice."""
    seen: set[int] = set()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    for images, _labels, idx in loader:
        keep = [k for k, j in enumerate(idx.tolist()) if j not in seen]
        seen.update(idx.tolist())
        if keep:
            yield images[keep], idx[keep]


@torch.no_grad()
def score_folder(images_dir, model, method: str = "ri", ui_dir=None, out="scores.csv", *,
                 preprocess: Preprocess | None = None, quality_head=None, batch_size: int = 64) -> ScoreResult:
    """Score every readable image under ``images_dir``; write ``out`` and the unreadable-file list.

    model: a ``LoadedCheckpoint`` (``rie.method.checkpoints.load_checkpoint``), an ``RIEModel`` or a
    backbone (``preprocess`` then defaults to rie's RGB [-1, 1] at its input size).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise RIEInputError(f"batch_size must be a positive int, got {batch_size!r}")
    images_dir = Path(images_dir)
    out = Path(out)
    net, preprocess, head = _unwrap(model, preprocess, quality_head)
    _check_method(method, net, head, ui_dir)
    if not images_dir.is_dir():
        raise RIEInputError(f"images folder {images_dir}: {'not a folder' if images_dir.exists() else 'no such folder'}")
    size = preprocess.input_size

    u = None
    if method == "ers":
        ui_transform = Uint8Transform(size)
        ui_set, _ = _scan(Path(ui_dir), size, ui_transform, "UI folder")
        if ui_set is None:
            raise RIEInputError(f"UI folder {ui_dir}: no readable image to compute the UI centre from")
        vs = [extract(net, preprocess(x), batch_size).v for x, _ in _batches(ui_set, batch_size)]
        u = ui_center(torch.cat(vs))

    transform = Uint8Transform(size)
    dataset, skipped = _scan(images_dir, size, transform, "images")
    rows: list[tuple[str, float]] = []
    if dataset is not None:
        for images, idx in _batches(dataset, batch_size):
            x = preprocess(images)
            if method == "ri":
                s = learned_ri(net, x, batch_size)
            elif method == "crfiqa":
                s = crfiqa_score(net, head, x, batch_size)
            elif method == "magface":
                s = feature_norm(net, x, batch_size)
            else:
                s = ers(net, x, u, batch_size)
            rows.extend((dataset.paths[j], float(v)) for j, v in zip(idx.tolist(), s.flatten().tolist()))
        skipped = dataset.skipped
        scored = {p for p, _ in rows}
        skipped = [(p, r) for p, r in skipped if p not in scored]

    def write_scores(tmp):
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "score"])
            w.writerows((p, repr(v)) for p, v in rows)

    def write_unreadable(tmp):
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "reason"])
            w.writerows(skipped)

    bad_path = unreadable_path_for(out)
    atomic_write(out, write_scores)
    atomic_write(bad_path, write_unreadable)
    if transform.resized:
        warnings.warn(f"{transform.resized} of {len(rows)} images were not {size}x{size} and were resized; "
                      f"the model expects aligned {size}x{size} crops", stacklevel=2)
    return ScoreResult(out, bad_path, len(rows), len(skipped), transform.resized)
