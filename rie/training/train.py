"""Training: one config object, a resumable trainer, and ``train_or_load``.

The same loop pretrains the face model (ArcFace alone, on high-resolution faces) and
fine-tunes it with any margin head and any subset of the RIE terms (Eq. 10). A run
writes a checkpoint after every epoch; an interrupted run resumes from it and ends
with bit-identical weights. A finished model is a plain ``state_dict`` plus a JSON
config, cached under a key derived from the config *and* the data, so a changed
config or data set trains a new model and an unchanged one is loaded, never retrained.

Nothing starts before the config, the data and the cache folder pass their checks
(``RIEInputError`` naming the field or data-set index). A run that produces NaN or inf
raises ``TrainingDivergedError`` (epoch, step, term), so a diverged model is never
checkpointed or cached; a damaged checkpoint is reported and the run starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..common.checks import RIEInputError, check_number
from ..common.utils import atomic_write, config_hash, save_json, seed_everything
from ..evaluation.inference import as_float_images, extract
from ..method.backbones import make_backbone
from ..method.crfiqa import crfiqa_loss
from ..method.gradient_paths import gradient_paths, parameter_groups
from ..method.heads import make_head
from ..method.losses import RIELoss, RIELossConfig
from ..method.model import RIEModel
from ..method.ri import UICenter, ui_center

# Part of every cache key: bump it when a code change alters what training produces
# (e.g. how dropout draws its mask), so that no stale model is loaded under a new meaning.
TRAINER_VERSION = 3


class TrainingDivergedError(RuntimeError):
    """Training produced NaN or inf (a loss term, the forward pass, the gradients or the
    weights); the message names the epoch, step and where. The data are checked before the
    first update, so a non-finite value during training means the run diverged."""


@dataclass
class TrainConfig:
    """Every hyperparameter of a training run (printed by the notebooks)."""

    name: str = "model"
    backbone: str = "small_facenet"
    embedding_size: int = 128
    input_size: int = 32
    head: str = "arcface"
    head_kwargs: dict = field(default_factory=dict)
    # The RIE terms: alpha (L1), beta (ID), gamma (MSE); all 0 is the plain margin-head baseline.
    loss: RIELossConfig = field(default_factory=lambda: RIELossConfig(alpha=0.0, beta=0.0, gamma=0.0))
    ui_center_mode: str = "fixed"  # "fixed" (from the starting model) | "epoch" | "ema"
    ui_center_momentum: float = 0.99
    ui_batch_size: int = 128  # UI images per step for the "ema" mode
    ui_stats_k: int = 5000  # K of Eq. 6 in the "estimated" mode
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.0
    flip: bool = True
    # Gradient-norm clipping as in insightface's arcface_torch (5); None disables. The history
    # logs the norm before clipping (grad_norm, grad_norm_max) and clip_frac, the share of steps cut.
    clip_grad_norm: float | None = 5.0
    # Warm-up: the first epochs train the margin head's prototypes (and the new RIE branches)
    # with the backbone frozen (weights and batch-norm statistics), so that the new identities'
    # random prototypes do not pull the pretrained embedding around.
    freeze_backbone_epochs: int = 0
    regression_dropout: float = 0.4
    # The CR-FIQA baseline: CE + crfiqa_weight * SmoothL1(q_hat, CR; crfiqa_beta); 0 = off (paper: 10, 0.5).
    crfiqa_weight: float = 0.0
    crfiqa_beta: float = 0.5
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.loss, dict):
            self.loss = RIELossConfig(**self.loss)
        if not isinstance(self.loss, RIELossConfig):
            raise RIEInputError(f"TrainConfig.loss must be a RIELossConfig or a dict, got {type(self.loss).__name__}")
        if self.ui_center_mode not in UICenter.MODES:
            raise RIEInputError(f"ui_center_mode must be one of {UICenter.MODES}, got {self.ui_center_mode!r}")
        if not isinstance(self.name, str) or not self.name:
            raise RIEInputError(f"TrainConfig.name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.head_kwargs, dict):
            raise RIEInputError(f"TrainConfig.head_kwargs must be a dict, got {type(self.head_kwargs).__name__}")
        # Every number finite and in range: a NaN lr would pass "lr <= 0", train to NaN and,
        # since NaN != NaN, never match its own cache entry.
        for name in ("embedding_size", "input_size", "ui_batch_size", "ui_stats_k", "epochs", "batch_size"):
            check_number(getattr(self, name), f"TrainConfig.{name}", low=1, integer=True)
        check_number(self.seed, "TrainConfig.seed", integer=True)
        check_number(self.lr, "TrainConfig.lr", low=0, low_open=True)
        check_number(self.ui_center_momentum, "TrainConfig.ui_center_momentum", low=0, high=1)
        check_number(self.momentum, "TrainConfig.momentum", low=0, high=1, high_open=True)
        check_number(self.regression_dropout, "TrainConfig.regression_dropout", low=0, high=1, high_open=True)
        for name in ("weight_decay", "warmup_epochs", "crfiqa_weight"):
            check_number(getattr(self, name), f"TrainConfig.{name}", low=0)
        check_number(self.crfiqa_beta, "TrainConfig.crfiqa_beta", low=0, low_open=True)
        check_number(self.clip_grad_norm, "TrainConfig.clip_grad_norm", low=0, low_open=True, allow_none=True)
        check_number(self.freeze_backbone_epochs, "TrainConfig.freeze_backbone_epochs", low=0, integer=True)
        if self.freeze_backbone_epochs >= self.epochs:
            raise RIEInputError(
                f"freeze_backbone_epochs ({self.freeze_backbone_epochs}) must be below epochs ({self.epochs}): "
                "the backbone would never train"
            )
        if self.crfiqa_weight > 0 and (self.loss.alpha or self.loss.beta or self.loss.gamma):
            raise RIEInputError("CR-FIQA (crfiqa_weight > 0) is a baseline: train it without the RIE terms")

    @property
    def uses_rie(self) -> bool:
        return self.loss.alpha > 0 or self.loss.beta > 0 or self.loss.gamma > 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise RIEInputError(f"unknown TrainConfig fields: {sorted(unknown)}")
        return cls(**d)

    def replace(self, **changes) -> "TrainConfig":
        d = self.to_dict()
        loss_changes = changes.pop("loss", {})
        if isinstance(loss_changes, RIELossConfig):
            loss_changes = loss_changes.to_dict()
        d["loss"].update(loss_changes)
        d.update(changes)
        return TrainConfig.from_dict(d)

    def describe(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)


class TrainResult(NamedTuple):
    model: RIEModel
    head: nn.Module
    config: TrainConfig
    history: list  # one dict of mean losses per epoch
    ui_center: torch.Tensor | None
    seconds: float  # training time (0 when loaded)
    loaded: bool  # True when it came from the cache
    key: str


def fingerprint(*tensors) -> str:
    """A short hash of tensors' contents: ties a cached model to the data it was trained on."""
    h = hashlib.sha256()
    for t in tensors:
        if t is None:
            h.update(b"none")
            continue
        if isinstance(t, dict):
            for k in sorted(t):
                h.update(k.encode())
                h.update(t[k].detach().cpu().contiguous().numpy().tobytes())
            continue
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def build(config: TrainConfig, num_classes: int) -> tuple[RIEModel, nn.Module]:
    backbone = make_backbone(config.backbone, embedding_size=config.embedding_size, input_size=config.input_size)
    model = RIEModel(backbone, regression_dropout=config.regression_dropout, crfiqa=config.crfiqa_weight > 0)
    head = make_head(config.head, config.embedding_size, num_classes, **config.head_kwargs)
    return model, head


def _check_images(images, name: str, config: TrainConfig) -> None:
    """A (N, C, S, S) uint8 or floating tensor, S = config.input_size, every value finite.

    Checked once, in chunks (no second full-size copy): a bad row is named by its index in
    the data set, before any update, instead of inside whichever batch draws it first.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise RIEInputError(f"{name} must be a (N, 3, H, W) tensor, got {getattr(images, 'shape', type(images).__name__)}")
    if images.shape[-1] != config.input_size or images.shape[-2] != config.input_size:
        raise RIEInputError(f"{name} are {tuple(images.shape[-2:])} but config.input_size is {config.input_size}")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise RIEInputError(f"{name} must be uint8 in [0, 255] or floating in [-1, 1], got dtype {images.dtype}")
    if images.is_floating_point() and len(images):
        bad, low, high = [], math.inf, -math.inf
        for start in range(0, len(images), 4096):
            chunk = images[start : start + 4096]
            rows = ~torch.isfinite(chunk).flatten(1).all(dim=1)
            bad.extend((rows.nonzero().flatten() + start).tolist())
            if not bad:
                low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
        if bad:
            raise RIEInputError(f"{name} contain NaN or inf in {len(bad)} image(s): data-set indices {bad[:10]}")
        # A wrong scale trains without complaint and gives a model that fails on uint8 input:
        # [0, 255] floats, or [0, 1] (torchvision's ToTensor), where faces always have dark pixels < 0.
        if high > 1.0 + 1e-3 or low < -1.0 - 1e-3 or low >= 0.0:
            warnings.warn(
                f"float {name} span [{low:.3g}, {high:.3g}]; the package expects x / 127.5 - 1 in [-1, 1] "
                "(or pass uint8 images, converted automatically)",
                stacklevel=4,
            )


def _check_data(images, labels, ui_images, config, init_state=None):
    """Everything ``fit`` needs, checked before any work (and before any cache lookup)."""
    if not isinstance(config, TrainConfig):
        raise RIEInputError(f"config must be a TrainConfig, got {type(config).__name__}")
    _check_images(images, "training images", config)
    if not isinstance(labels, torch.Tensor):
        raise RIEInputError(f"labels must be a torch.Tensor of class indices, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise RIEInputError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise RIEInputError(f"labels must have shape ({len(images)},), got {tuple(labels.shape)}")
    if len(images) < config.batch_size:
        raise RIEInputError(f"{len(images)} training images is fewer than one batch of {config.batch_size}")
    if labels.min() < 0:
        bad = (labels < 0).nonzero().flatten()[:10].tolist()
        raise RIEInputError(
            f"training labels must be >= 0 (unlabelled images belong in the UI set); negative at data-set indices {bad}"
        )
    num_classes = int(labels.max()) + 1
    empty = num_classes - int(labels.unique().numel())
    if empty:  # e.g. {0, 1, 2, 999}: a 1000-class head, 996 prototypes that never see an image
        warnings.warn(
            f"training labels have gaps: {empty} of the {num_classes} classes (0..{num_classes - 1}) have no image; "
            "the head still gets one prototype per class. Relabel to 0..C-1 if that is not intended",
            stacklevel=3,
        )
    if config.uses_rie:
        if ui_images is None or (isinstance(ui_images, torch.Tensor) and len(ui_images) == 0):
            raise RIEInputError("the RIE terms need a UI set (ui_images) to define the UI centre")
        _check_images(ui_images, "UI images", config)
    if init_state is not None:
        if not isinstance(init_state, dict):
            raise RIEInputError(f"init_state must be a state_dict (dict), got {type(init_state).__name__}")
        bad = [k for k, v in init_state.items()
               if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise RIEInputError(f"init_state has NaN or inf in {bad[:5]}: the starting model has diverged")


def _check_writable(folder: Path) -> None:
    """Create ``folder`` and write a file in it now, not after the first epoch has trained."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise RIEInputError(f"cannot write to {folder} ({type(exc).__name__}: {exc.strerror or exc})") from exc


def _non_finite_state(**modules: nn.Module) -> list[str]:
    """Names of the parameters and float buffers that hold NaN or inf (one pass, no sync per tensor)."""
    names, tensors = [], []
    for prefix, module in modules.items():
        for k, t in list(module.named_parameters()) + list(module.named_buffers()):
            if t.is_floating_point():
                names.append(f"{prefix}.{k}")
                tensors.append(t.detach())
    if not tensors:
        return []
    finite = torch.stack([torch.isfinite(t).all() for t in tensors]).tolist()
    return [n for n, ok in zip(names, finite) if not ok]


def _check_weights(config, model, head, epoch: int, step: int, step_global: int) -> None:
    bad = _non_finite_state(model=model, head=head)
    if bad:
        raise TrainingDivergedError(
            f"{config.name}: training diverged: weights {bad[:5]}{' and more' if len(bad) > 5 else ''} became NaN or inf "
            f"by the end of epoch {epoch}, step {step} (global step {step_global}); lower lr ({config.lr})"
        )


# The first word of a failed finiteness check's message -> the loss term it was computing
_TERM_OF_CHECK = {"embeddings": "cls", "cos_theta": "cls", "xi_hat": "l1", "xi": "l1", "UI": "UI centre", "ui_center": "UI centre"}


@contextmanager
def _divergence(config: TrainConfig, epoch: int, step: int, step_global: int):
    """Re-raise a failed NaN/inf check inside training as ``TrainingDivergedError``.

    The data passed their checks before the first update, so NaN or inf inside the forward
    pass comes from the weights: divergence, not bad input (the check's own message would
    blame the input).
    """
    try:
        yield
    except RIEInputError as exc:
        if "NaN or inf" not in str(exc):
            raise
        term = _TERM_OF_CHECK.get(str(exc).split(" ")[0], "forward pass")
        raise TrainingDivergedError(
            f"{config.name}: training diverged: loss term(s) ['{term}'] could not be computed at epoch {epoch}, "
            f"step {step} (global step {step_global}): {exc}; lower lr ({config.lr}) or the term's weight"
        ) from exc


def _lr_at(config: TrainConfig, step: int, total: int) -> float:
    """Linear warm-up, then cosine decay to zero."""
    warm = int(config.warmup_epochs * total / config.epochs)
    if step < warm:
        return config.lr * (step + 1) / warm
    return 0.5 * config.lr * (1 + math.cos(math.pi * (step - warm) / max(total - warm, 1)))


def compute_loss(model: RIEModel, head: nn.Module, criterion: RIELoss | None, x, y, u=None, crfiqa_weight=0.0, crfiqa_beta=0.5,
                 groups: dict | None = None):
    """One batch's loss: the margin head alone (``criterion`` None), + CR-FIQA, or Eq. 10.

    Returns (loss, {term: float}); with Eq. 10 the terms include ``xi_clipped`` (how many xi
    the xi_max safeguard clipped) and, when ``groups`` (``parameter_groups``) is given, the
    gradient norm each weighted term sends to each group, as ``grad/<term>/<group>``.
    """
    if criterion is None:
        v = model.backbone(x)
        head_out = head(v, y)
        loss = head_out.loss
        terms = {"cls": float(loss.detach())}
        if crfiqa_weight > 0:
            l_cr = crfiqa_loss(model.crfiqa(v), head_out.cos_theta, y, crfiqa_beta)
            loss = loss + crfiqa_weight * l_cr
            terms["crfiqa"] = float(l_cr.detach())
        return loss, {"total": float(loss.detach()), **terms}
    out = model(x)
    parts = criterion(out.v, out.xi_hat, out.v_attn, head(out.v, y), y, u)
    terms = {**parts.items(), "xi_clipped": float(parts.xi_clipped)}
    if groups is not None:
        paths = gradient_paths(parts.weighted_terms(criterion.config), groups)
        terms.update({f"grad/{t}/{g}": n for t, norms in paths.items() for g, n in norms.items()})
    return parts.total, terms


def _ui_embeddings(model, ui_images):
    return extract(model, ui_images).v


def fit(
    config: TrainConfig,
    images: torch.Tensor,
    labels: torch.Tensor,
    ui_images: torch.Tensor | None = None,
    init_state: dict | None = None,
    checkpoint_path: str | Path | None = None,
    progress: bool = True,
    max_steps: int | None = None,
) -> TrainResult:
    """Train (or resume training) a model; see the module docstring.

    ``init_state`` is a ``RIEModel`` state_dict to start from (e.g. the pretrained model);
    missing branches (regression, attention) keep their fresh initialisation.
    ``max_steps`` stops early (for tests of interruption); the checkpoint is still written.

    ``images`` may also be a map-style ``Dataset`` of ``(image, label, index)`` (a ``FaceFolderSet``,
    ``FaceSet.as_dataset()``; ``labels`` is then unused): it is trained by ``loop.fit_loader``
    (``DataLoader``, device, mixed precision, DDP). Tensors keep this module's loop, bit for bit.
    """
    if not isinstance(images, torch.Tensor) and isinstance(images, Dataset):
        from .loop import fit_loader

        return fit_loader(config, images, ui_images, init_state, checkpoint_path, progress, max_steps)
    _check_data(images, labels, ui_images, config, init_state)
    return _fit(config, images, labels, ui_images, init_state, checkpoint_path, progress, max_steps)


def _fit(config, images, labels, ui_images, init_state, checkpoint_path, progress, max_steps) -> TrainResult:
    """``fit`` on data already checked (``train_or_load`` checks it before its cache lookup)."""
    check_number(max_steps, "max_steps", low=1, integer=True, allow_none=True)
    checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
    if checkpoint_path:
        _check_writable(checkpoint_path.parent)
    ckpt = _read_checkpoint(checkpoint_path, config)  # a config mismatch fails here, before any work
    num_classes = int(labels.max()) + 1
    model, head, params, optimizer, criterion, generator, center = _start(config, num_classes, init_state, ui_images)
    steps_per_epoch = len(images) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    history, start_epoch, seconds = [], 0, 0.0

    if ckpt is not None:
        try:
            load_modules(ckpt, model, head, optimizer, criterion, center)
            generator.set_state(ckpt["generator"])
            torch.set_rng_state(ckpt["torch_rng"])
            history, start_epoch, seconds = ckpt["history"], ckpt["epoch"], ckpt["seconds"]
        except Exception as exc:  # half-restored state is unusable: start again from the seed
            warnings.warn(f"checkpoint {checkpoint_path} does not fit this run ({type(exc).__name__}: {exc}); training from scratch")
            model, head, params, optimizer, criterion, generator, center = _start(config, num_classes, init_state, ui_images)
            history, start_epoch, seconds = [], 0, 0.0

    # Logged once per epoch (its first step): each term's gradient norm per parameter group.
    groups = parameter_groups(model, head) if config.uses_rie else None
    model.train()
    head.train()
    step_global = start_epoch * steps_per_epoch
    bar = tqdm(total=total_steps, initial=step_global, desc=config.name, disable=not progress, leave=False)
    stopped = False
    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        with _divergence(config, epoch, 0, step_global):
            if config.uses_rie and config.ui_center_mode == "epoch" and epoch > 0:
                center.refresh(_ui_embeddings(model, ui_images))
            if config.loss.ui_stats == "estimated" and config.loss.beta > 0:
                criterion.set_ui_statistics(extract(model, ui_images[: config.ui_stats_k]).xi_hat)
        frozen = epoch < config.freeze_backbone_epochs
        for p in model.backbone.parameters():
            p.requires_grad_(not frozen)  # no gradient is even computed for a frozen backbone
        model.train()
        if frozen:
            model.backbone.eval()  # its batch-norm statistics stay the pretrained ones too
        perm = torch.randperm(len(images), generator=generator)
        sums: dict[str, float] = {}
        paths: dict[str, float] = {}
        norms: list[float] = []
        for step in range(steps_per_epoch):
            idx = perm[step * config.batch_size : (step + 1) * config.batch_size]
            x = as_float_images(images[idx])
            if config.flip:
                flip = torch.rand(len(idx), generator=generator) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            y = labels[idx]
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(config, step_global, total_steps)
            with _divergence(config, epoch, step, step_global):
                if config.uses_rie and config.ui_center_mode == "ema":
                    ui_idx = torch.randint(len(ui_images), (config.ui_batch_size,), generator=generator)
                    with torch.no_grad():
                        center.ema_update(model.backbone(as_float_images(ui_images[ui_idx])))
                loss, terms = compute_loss(
                    model, head, criterion if config.uses_rie else None, x, y, center() if center else None,
                    config.crfiqa_weight, config.crfiqa_beta, groups if step == 0 and not frozen else None,
                )
            bad = [k for k, val in terms.items() if not math.isfinite(val)]
            if bad:
                raise TrainingDivergedError(
                    f"{config.name}: training diverged: loss term(s) {bad} became {terms[bad[0]]} at epoch {epoch}, step {step} "
                    f"(global step {step_global}); lower lr ({config.lr}) or the term's weight"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # the norm before clipping, always measured: it is what sets the clip (inf clips nothing)
            norm = float(torch.nn.utils.clip_grad_norm_(params, config.clip_grad_norm or math.inf))
            if not math.isfinite(norm):
                raise TrainingDivergedError(
                    f"{config.name}: training diverged: the gradient norm became {norm} at epoch {epoch}, "
                    f"step {step} (global step {step_global}); lower lr ({config.lr}) or the terms' weights"
                )
            norms.append(norm)
            optimizer.step()
            for k, val in terms.items():
                if k.startswith("grad/"):
                    paths[k] = val
                else:
                    sums[k] = sums.get(k, 0.0) + val
            step_global += 1
            bar.update(1)
            if max_steps is not None and step_global >= max_steps:
                stopped = True
                break
        if stopped:
            break
        seconds += time.perf_counter() - t0
        # Weights (and the embeddings of a few images) are checked once an epoch, not every
        # step (a per-step weight check cost ~10 % of a step), and always before a checkpoint
        # is written, so no checkpoint holds a diverged model.
        _check_weights(config, model, head, epoch, step, step_global)
        _check_outputs(config, model, images, center() if center is not None else None, epoch, step, step_global)
        means = {k: s / steps_per_epoch for k, s in sums.items() if k != "xi_clipped"}
        if "xi_clipped" in sums:  # the fraction of the epoch's images whose xi was clipped
            means["xi_clip_frac"] = sums["xi_clipped"] / (steps_per_epoch * config.batch_size)
        means["grad_norm"], means["grad_norm_max"] = sum(norms) / len(norms), max(norms)
        means["clip_frac"] = sum(n > config.clip_grad_norm for n in norms) / len(norms) if config.clip_grad_norm else 0.0
        history.append({"epoch": epoch, "frozen": frozen, **means, **paths})
        if checkpoint_path:
            state = {
                "config": config.to_dict(), "epoch": epoch + 1, "history": history, "seconds": seconds,
                "model": model.state_dict(), "head": head.state_dict(), "optimizer": optimizer.state_dict(),
                "criterion": criterion.state_dict(), "ui_center": center.state_dict() if center else None,
                "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
            }
            atomic_write(checkpoint_path, lambda tmp: torch.save(state, tmp))
    bar.close()
    for p in model.backbone.parameters():  # a run stopped inside the warm-up leaves it frozen
        p.requires_grad_(True)
    if stopped:  # a full epoch was checked above; a run stopped inside one is checked here
        _check_weights(config, model, head, epoch, step, step_global)
    u = center().detach().clone() if center is not None else None
    if stopped:
        _check_outputs(config, model, images, u, epoch, step, step_global)
    model.eval()
    head.eval()
    return TrainResult(model, head, config, history, u, seconds, False, "")


def _start(config: TrainConfig, num_classes: int, init_state, ui_images):
    """A fresh run from the seed: model, head, params, optimizer, criterion, generator, UI centre.

    The order of the random draws is fixed: a resumed run depends on it to end bit-identical.
    """
    seed_everything(config.seed)
    model, head = build(config, num_classes)
    if init_state is not None:
        missing, unexpected = model.load_state_dict(init_state, strict=False)
        if unexpected or any(k.startswith("backbone.") for k in missing):
            raise RIEInputError(f"init_state does not fit the backbone: missing {missing[:5]}, unexpected {unexpected[:5]}")
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    criterion = RIELoss(config.loss)
    generator = torch.Generator().manual_seed(config.seed)
    center = None
    if config.uses_rie:
        center = UICenter(ui_center(_ui_embeddings(model, ui_images)), config.ui_center_mode, config.ui_center_momentum)
    return model, head, params, optimizer, criterion, generator, center


def load_modules(ckpt: dict, model, head, optimizer, criterion, center) -> None:
    """A checkpoint's model, head, optimizer, criterion and UI-centre states (both training loops resume
    through it; each restores its own random-number state)."""
    model.load_state_dict(ckpt["model"])
    head.load_state_dict(ckpt["head"])
    optimizer.load_state_dict(ckpt["optimizer"])
    criterion.load_state_dict(ckpt["criterion"])
    if center is not None:
        center.load_state_dict(ckpt["ui_center"])


_CHECKPOINT_KEYS = ("config", "epoch", "history", "seconds", "model", "head", "optimizer", "criterion",
                    "ui_center", "generator", "torch_rng")


def _read_checkpoint(path: Path | None, config: TrainConfig) -> dict | None:
    """The checkpoint at ``path``, or None when there is none or it is damaged (then with a warning).

    A damaged checkpoint (empty, truncated, not a checkpoint, non-finite weights) costs the
    epochs it held, never the run: it is reported with its path and training starts again.
    """
    if path is None or not path.exists():
        return None
    try:
        ckpt = torch.load(path, weights_only=False)
        if not isinstance(ckpt, dict) or any(k not in ckpt for k in _CHECKPOINT_KEYS):
            raise ValueError("not a training checkpoint (keys missing)")
        bad = [k for k, v in {**ckpt["model"], **ckpt["head"]}.items()
               if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise ValueError(f"weights {bad[:3]} are NaN or inf")
    except Exception as exc:
        warnings.warn(f"checkpoint {path} is damaged ({type(exc).__name__}: {exc}); training from scratch")
        return None
    if ckpt["config"] != config.to_dict():
        raise RIEInputError(f"checkpoint {path} was written by a different config")
    return ckpt


# Images embedded by the end-of-epoch check: an overflow shows on any image, and 32 keep the
# check under 1 % of an epoch even on the tests' 512-image sets (256 cost about 10 %).
_OUTPUT_CHECK_IMAGES = 32


def _check_outputs(config, model, images, u, epoch: int, step: int, step_global: int) -> None:
    """The model's embeddings (and learned RI, UI centre) on a few training images are finite.

    Finite weights can still overflow in the forward pass; this is what a user of the model
    would see first, so a model that fails it is never returned, nor cached.
    """
    with _divergence(config, epoch, step, step_global):
        out = extract(model, images[:_OUTPUT_CHECK_IMAGES])
    bad = [name for name, t in (("embeddings", out.v), ("xi_hat", out.xi_hat), ("UI centre", u))
           if t is not None and not torch.isfinite(t).all()]
    if bad:
        raise TrainingDivergedError(
            f"{config.name}: training diverged: the trained model's {', '.join(bad)} are NaN or inf "
            f"after epoch {epoch}, step {step} (global step {step_global}); lower lr ({config.lr})"
        )


PLATEAU = 0.02  # "converged": the loss moved less than 2 % over the last two epochs


def plateau_change(history: list[dict], key: str = "cls", epochs: int = 2) -> float:
    """Relative change of ``key`` over the last ``epochs`` epochs of a history: |last - before| / |before|."""
    values = [h[key] for h in history if key in h]
    if len(values) <= epochs:
        raise RIEInputError(f"a plateau over {epochs} epochs needs more than {epochs} epochs of {key!r}, got {len(values)}")
    before, last = values[-1 - epochs], values[-1]
    return abs(last - before) / abs(before)


def cache_key(config: TrainConfig, images, labels, ui_images=None, init_state=None) -> str:
    data = fingerprint(images, labels, ui_images if config.uses_rie else None, init_state)
    return f"{config.name}-{config_hash({'config': config.to_dict(), 'data': data, 'trainer': TRAINER_VERSION})}"


def train_or_load(
    config: TrainConfig,
    images: torch.Tensor,
    labels: torch.Tensor,
    ui_images: torch.Tensor | None = None,
    init_state: dict | None = None,
    cache_dir: str | Path = "data/models",
    progress: bool = True,
) -> TrainResult:
    """Load the model trained with exactly this config and data, or train it (resuming if interrupted).

    ``images`` may be a map-style ``Dataset`` (``labels`` unused): trained by ``loop.fit_loader``, and
    keyed by ``loop.data_fingerprint`` (a folder-backed set's file list and file stats, no image read).

    Files in ``cache_dir/<name>-<hash>/``: ``model.pt`` (RIEModel state_dict), ``head.pt``
    (head state_dict), ``config.json`` (config, history, UI centre, training time);
    ``checkpoint.pt`` exists only while a run is unfinished.
    """
    if not isinstance(images, torch.Tensor) and isinstance(images, Dataset):  # keyed by file list and stats
        from .loop import dataset_cache_key, fit_loader

        key = dataset_cache_key(config, images, ui_images, init_state)
        folder = Path(cache_dir) / key
        if (folder / "model.pt").exists() and (folder / "config.json").exists():
            try:
                loaded = load_trained(folder)
                if loaded.config == config and json.loads((folder / "config.json").read_text()).get("finished"):
                    return loaded._replace(key=key)
            except Exception as exc:
                warnings.warn(f"cached model {folder} could not be loaded ({exc}); training it again")
        result = fit_loader(config, images, ui_images, init_state, folder / "checkpoint.pt", progress, out_dir=folder)
        (folder / "checkpoint.pt").unlink(missing_ok=True)
        return result._replace(key=key)
    _check_data(images, labels, ui_images, config, init_state)
    key = cache_key(config, images, labels, ui_images, init_state)
    folder = Path(cache_dir) / key
    model_file, head_file, meta_file = folder / "model.pt", folder / "head.pt", folder / "config.json"
    num_classes = int(labels.max()) + 1
    if model_file.exists() and head_file.exists() and meta_file.exists():
        try:
            loaded = load_trained(folder)
            if loaded.config != config:
                raise ValueError("config.json does not match the requested config")
            return loaded._replace(key=key)
        except Exception as exc:  # a damaged cache entry is retrained, loudly
            warnings.warn(f"cached model {folder} could not be loaded ({exc}); training it again")
    result = _fit(config, images, labels, ui_images, init_state, folder / "checkpoint.pt", progress, None)
    atomic_write(model_file, lambda tmp: torch.save(result.model.state_dict(), tmp))
    atomic_write(head_file, lambda tmp: torch.save(result.head.state_dict(), tmp))
    meta = {
        "config": config.to_dict(), "history": result.history, "seconds": result.seconds,
        "ui_center": result.ui_center.tolist() if result.ui_center is not None else None,
        "num_classes": num_classes,
    }
    save_json(meta, meta_file)
    (folder / "checkpoint.pt").unlink(missing_ok=True)
    return result._replace(key=key)


def load_trained(folder: str | Path) -> TrainResult:
    """Load a finished model folder written by ``train_or_load`` (e.g. to share a model)."""
    folder = Path(folder)
    meta_file = folder / "config.json"
    if not meta_file.exists():
        raise RIEInputError(f"{folder} holds no config.json: not a trained-model folder")
    meta = json.loads(meta_file.read_text())
    config = TrainConfig.from_dict(meta["config"])
    model, head = build(config, meta["num_classes"])
    model.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    head.load_state_dict(torch.load(folder / "head.pt", weights_only=True))
    bad = _non_finite_state(model=model, head=head)
    if bad:  # e.g. cached by a version that did not check: never serve a diverged model
        raise RIEInputError(f"{folder}: weights {bad[:5]} are NaN or inf")
    model.eval()
    head.eval()
    u = torch.tensor(meta["ui_center"]) if meta.get("ui_center") is not None else None
    return TrainResult(model, head, config, meta["history"], u, 0.0, True, folder.name)
