"""Notebook parameters ``DATA`` and ``CHECKPOINT`` -> the data and the model a notebook uses.

    DATA = None                       # the synthetic world (the default)
    DATA = "tinyface:/data/tinyface"  # or "scface:/path", "survface:/path"
    CHECKPOINT = None                 # the notebook's own trained model
    CHECKPOINT = "adaface:/models/adaface_ir50_ms1mv2.ckpt"   # or arcface_torch, crfiqa, magface, rie

    data = notebook_data(DATA, world)          # data["train"].images / .labels / .difficulty, ...
    external = notebook_model(CHECKPOINT)      # None, or .model fed like rie's own models

A real set's roles come as :class:`Faces`, in memory like the world's ``FaceSet`` (uint8 images,
labels), with ``None`` where the set knows nothing (``difficulty``, ``boxes``); ``data.missing``
says what, and ``data.skipping(what)`` words the line a notebook prints for a step it skips.
A published checkpoint is wrapped (:class:`Preprocessed`) so that it takes the notebooks' images
(RGB floats in [-1, 1] at the world's size) and applies its own convention (size, order, range).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch

from ..common.checks import RIEInputError
from ..data.evaluation_data import KINDS, EvalData, evaluation_data, from_world
from ..evaluation.evaluate import flat_results, input_size, run_protocols, unwrap_model
from ..method.checkpoints import FORMATS, Preprocessed, load_checkpoint

REAL_KINDS = tuple(k for k in KINDS if k != "synthetic")
CHECKPOINT_FORMATS = FORMATS + ("rie",)
ROLES = ("train", "gallery", "probe", "distractor", "ui")


def parse_spec(spec: str, known, what: str) -> tuple[str, Path]:
    """``"kind:/path"`` -> ``(kind, Path)``; ``kind`` must be in ``known``."""
    if not isinstance(spec, str) or ":" not in spec:
        raise RIEInputError(f"{what} must be None or '<kind>:<path>' with kind one of {', '.join(known)}; got {spec!r}")
    kind, path = spec.split(":", 1)
    if kind not in known:
        raise RIEInputError(f"{what}: unknown kind {kind!r} in {spec!r}; known: {', '.join(known)}")
    if not path:
        raise RIEInputError(f"{what}: no path after '{kind}:'")
    return kind, Path(path).expanduser()


@dataclass
class Faces:
    """A real set's role in memory, with the fields notebooks read from a ``FaceSet``."""

    images: torch.Tensor  # uint8 (N, 3, S, S) RGB
    labels: torch.Tensor  # int64 (N,), -1 = unlabelled
    role: str
    paths: list[str] = field(default_factory=list)
    difficulty: torch.Tensor | None = None  # unknown on real faces
    boxes: torch.Tensor | None = None  # no part annotation
    params: dict = field(default_factory=dict)  # nuisance parameters: none known

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1 if (self.labels >= 0).any() else 0

    def masks(self):
        raise RIEInputError(f"{self.role}: a real set has no part boxes (eyes, nose, mouth), so no part masks")


def to_faces(dataset, role: str, batch_size: int = 256) -> Faces:
    """Read a ``(image in [-1, 1], label, index)`` dataset into memory as uint8 images."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    images = [((x + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8) for x, _, _ in loader]
    return Faces(torch.cat(images), dataset.labels.clone(), role, list(getattr(dataset, "paths", [])))


def _join(a: Faces, b: Faces, role: str) -> Faces:
    return Faces(torch.cat([a.images, b.images]), torch.cat([a.labels, b.labels]), role, a.paths + b.paths)


@dataclass
class NotebookData:
    """Role -> ``FaceSet`` (synthetic) or :class:`Faces` (real), and what the source cannot provide."""

    kind: str
    roles: dict
    source: str
    missing: list[str] = field(default_factory=list)
    streamed: EvalData | None = None  # a real set as read from disk (the synthetic world's is built when asked)
    ui_dir: str | None = None

    @property
    def evaluation(self) -> EvalData:
        """The same set as ``EvalData``, for ``rie.evaluation.evaluate.run_protocols``."""
        if self.streamed is None:
            self.streamed = from_world(self.roles)
        return self.streamed

    def evaluation_at(self, image_size: int) -> EvalData:
        """The set as ``EvalData`` read at ``image_size`` px (a published checkpoint's own input size)."""
        have = self.evaluation
        if self.kind == "synthetic" or int(have["probe"][0][0].shape[-1]) == image_size:
            return have
        return evaluation_data(self.kind, self.source, image_size=image_size, ui_dir=self.ui_dir)

    @property
    def real(self) -> bool:
        return self.kind != "synthetic"

    def __getitem__(self, role: str):
        if role not in self.roles:
            raise RIEInputError(f"{self.kind} data has no {role!r} role; it has {sorted(self.roles)}")
        return self.roles[role]

    def __contains__(self, role: str) -> bool:
        return role in self.roles

    def skipping(self, what: str) -> str:
        """The line a notebook prints for a step that needs what this source lacks."""
        return f"skipped on {self.kind} data: {what}"

    def summary(self) -> str:
        sizes = ", ".join(f"{r} {len(s)}" for r, s in self.roles.items())
        text = f"{self.kind} ({self.source}): {sizes}"
        return text + ("".join(f"\n  not available: {m}" for m in self.missing))


def notebook_data(DATA, world, image_size: int | None = None, ui_dir=None) -> NotebookData:
    """``DATA`` (None or ``"kind:/path"``) as the roles a notebook reads.

    None: the synthetic ``world`` itself. A real set: its roles read into memory at
    ``image_size`` (default: the world's image size, so the notebook's models take them), a
    ``train`` role even where the set has none (SCFace: gallery and probes together, the
    labelled faces there are), and the world's UI faces when no ``ui_dir`` is given (said in ``missing``).
    """
    if DATA is None:
        if ui_dir is not None:
            raise RIEInputError("UI_DIR (ui_dir) is for a real set given by DATA; the synthetic world has its own UI faces")
        return NotebookData("synthetic", dict(world), "the synthetic world")
    kind, path = parse_spec(DATA, REAL_KINDS, "DATA")
    size = image_size or int(world["probe"].images.shape[-1])
    data = evaluation_data(kind, path, image_size=size, ui_dir=ui_dir)
    roles = {r: to_faces(data[r], r) for r in ROLES if r in data}
    missing = [m for m in data.missing if not m.startswith(("a UI set", "a training split"))]
    if "train" not in roles:
        roles["train"] = _join(roles["gallery"], roles["probe"], "train")
        missing.append("a training split: gallery and probes stand in as the labelled set")
    if "ui" not in roles:
        roles["ui"] = world["ui"]
        missing.append("UI faces: the synthetic world's are used (pass ui_dir for real ones)")
    return NotebookData(kind, roles, str(path), missing, data, None if ui_dir is None else str(ui_dir))


def evaluate_models(models: dict, data: NotebookData, *, flip: bool = False, **protocol_kw) -> list[dict]:
    """``{(method, seed): model}`` -> one row per model: every protocol of ``data``'s kind
    (``protocols_of``), rates in % (``flat_results``), with ``method`` and ``seed``."""
    return [{"method": method, "seed": seed, **flat_results(protocols_of(model, data, flip=flip, **protocol_kw))}
            for (method, seed), model in models.items()]


def protocols_of(model, data: NotebookData, **protocol_kw) -> dict:
    """``run_protocols`` of one model on ``data``; a published checkpoint (``Preprocessed``) sees a
    real set read at its own input size, rie's models see it at the notebook's size."""
    net, preprocess = unwrap_model(model)
    size = input_size(net, preprocess)
    source = data.evaluation if preprocess is None or size is None else data.evaluation_at(size)
    return run_protocols(model, source, **protocol_kw)


# ----------------------------------------------------------------------------- models


class ExternalModel(NamedTuple):
    """A model given by ``CHECKPOINT``, with the fields notebooks read from a ``TrainResult``."""

    model: nn.Module
    name: str
    loaded: bool = True
    seconds: float = 0.0


def notebook_model(CHECKPOINT) -> ExternalModel | None:
    """``CHECKPOINT`` (None or ``"format:/path"``) as a model; None means the notebook trains its own."""
    if CHECKPOINT is None:
        return None
    fmt, path = parse_spec(CHECKPOINT, CHECKPOINT_FORMATS, "CHECKPOINT")
    if fmt == "rie":
        from ..training.train import load_trained

        model = load_trained(path).model
    else:
        loaded = load_checkpoint(path, fmt)
        model = Preprocessed(loaded.model, loaded.preprocess, loaded.quality_head)
    return ExternalModel(model.eval(), f"{fmt}:{path.name}")
