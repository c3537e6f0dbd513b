"""The trainer at paper scale: any map-style dataset through a ``DataLoader``, on any device.

``fit_loader`` trains the same model with the same loss as ``train.fit`` (which keeps its own
loop for in-memory tensors, so the notebooks' cached models are unchanged), adding what a run
on TinyFace or SurvFace needs, as insightface's arcface_torch does:

- data: a ``Dataset`` whose item is ``(image float 3xSxS in [-1, 1], label, index)`` (the synthetic
  world's ``FaceSet.as_dataset()``, a ``FaceFolderSet``), read by ``num_workers`` workers into
  pinned memory; augmentation on the batch (horizontal flip, AdaFace's low-resolution augmentation);
- device: ``cuda`` when present (``RunOptions.device`` overrides), mixed precision on CUDA
  (bf16, or fp16 with a ``GradScaler``), a determinism switch (on for the reports, off for speed);
- ``torchrun``: ``DistributedDataParallel`` when a process group is initialised; ``batch_size`` is
  the *global* batch, split over the ranks, so ``lr`` holds for any number of processes (no scaling
  rule to apply by hand); a ``DistributedSampler`` reseeded every epoch (``set_epoch``); log and
  checkpoints from rank 0 only;
- checkpoints every ``checkpoint_every`` steps and at every epoch end; a run killed at any step
  resumes from the last checkpoint and, on the CPU, ends with bit-identical weights: every random
  draw of a step (order, flips, low-resolution sizes) comes from a generator seeded by (seed, epoch,
  step), never from a stream that a restart would have to replay;
- ``log.csv``: one row per ``log_every`` steps with every loss term, the gradient norm and the
  learning rate (and TensorBoard's ``events`` when ``tensorboard`` is installed).
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from ..common.checks import RIEInputError, check_number
from ..common.utils import atomic_write, config_hash, save_json
from ..evaluation.inference import as_float_images, extract
from .train import (
    TRAINER_VERSION, TrainConfig, TrainingDivergedError, TrainResult, _check_images, _check_outputs, _check_weights,
    _check_writable, _divergence, fingerprint, _lr_at, _start, _ui_embeddings, compute_loss, load_modules,
)

AMP_MODES = ("auto", "bf16", "fp16", "off")


@dataclass
class RunOptions:
    """How a run executes, not what it learns: none of these enters a cache key.

    (``low_res_prob`` and ``flip`` change the data a model sees; ``low_res_prob`` is here because
    ``TrainConfig`` is part of the notebooks' cache keys, which must not move.)
    """

    device: str = "auto"  # "auto" = cuda:<local rank> when present, else cpu; or "cpu", "cuda", "cuda:1"
    # "auto" = fp16 with a GradScaler on CUDA (arcface_torch's choice: fp16 keeps 3 more mantissa
    # bits than bf16 in the scaled cosine logits), off on the CPU; "bf16" (CUDA or CPU), "fp16", "off"
    amp: str = "auto"
    deterministic: bool = True  # deterministic kernels (reports); False = cudnn.benchmark (speed)
    num_workers: int = 0
    pin_memory: bool = True  # only on CUDA
    low_res_prob: float = 0.0  # AdaFace's low_res_augmentation_prob (0.2 in its scripts)
    checkpoint_every: int = 0  # steps between checkpoints; 0 = at epoch ends only
    log_every: int = 1  # steps between rows of log.csv
    sync_bn: bool = False  # SyncBatchNorm across ranks (batch statistics of the global batch); CUDA only
    # Batch-norm layers in eval mode (running statistics used, not updated; their scale and shift
    # still train): for fine-tuning with small per-GPU batches, and N processes then equal 1 exactly.
    freeze_bn: bool = False

    def __post_init__(self):
        if self.amp not in AMP_MODES:
            raise RIEInputError(f"amp must be one of {AMP_MODES}, got {self.amp!r}")
        check_number(self.num_workers, "num_workers", low=0, integer=True)
        check_number(self.low_res_prob, "low_res_prob", low=0, high=1)
        check_number(self.checkpoint_every, "checkpoint_every", low=0, integer=True)
        check_number(self.log_every, "log_every", low=1, integer=True)

    def to_dict(self) -> dict:
        return asdict(self)


RUN_OPTION_KEYS = tuple(f.name for f in fields(RunOptions))


# ---------------------------------------------------------------------------
# Augmentation hooks: functions (x, generator) -> x on a batch, on its device
# ---------------------------------------------------------------------------
def step_generator(seed: int, epoch: int, step: int) -> torch.Generator:
    """The random stream of one global step: what a resumed run draws again without replaying."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1_000_003 + step) % (2**63))


def flip_batch(x: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
    """Mirror the images whose draw (uniform [0, 1)) is below 0.5."""
    flip = (draws < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


_LOW_RES_MODES = ("nearest", "bilinear", "bicubic", "area")


def low_res_batch(x: torch.Tensor, prob: float, generator: torch.Generator, n_global: int, rank: int, world: int):
    """AdaFace's low-resolution augmentation on a batch: with probability ``prob`` an image is shrunk
    to ``int(r * S)`` pixels, r ~ U(0.2, 1), and enlarged back, each way with a random interpolation.

    After mk-minchul/AdaFace ``dataset/augmenter.py`` (``low_res_augmentation``: side_ratio
    ``np.random.uniform(0.2, 1.0)``, cv2 nearest/linear/area/cubic/lanczos, both ways), on the batch
    with torch's interpolations instead of cv2 (no lanczos). The draws are made for the whole global
    batch and each rank takes its rows (``rank::world``), so 1 process and N processes agree.
    """
    apply = torch.rand(n_global, generator=generator) < prob
    ratio = torch.empty(n_global).uniform_(0.2, 1.0, generator=generator)
    modes = torch.randint(len(_LOW_RES_MODES), (n_global, 2), generator=generator)
    apply, ratio, modes = apply[rank::world], ratio[rank::world], modes[rank::world]
    if not apply.any():
        return x
    x = x.clone()
    size = x.shape[-1]
    for i in apply.nonzero().flatten().tolist():
        small = max(int(float(ratio[i]) * size), 1)
        down, up = (_LOW_RES_MODES[int(m)] for m in modes[i])
        kw = lambda mode: {} if mode in ("nearest", "area") else {"align_corners": False}  # noqa: E731
        img = F.interpolate(x[i : i + 1], size=(small, small), mode=down, **kw(down))
        x[i : i + 1] = F.interpolate(img, size=(size, size), mode=up, **kw(up)).clamp_(-1, 1)
    return x


# ---------------------------------------------------------------------------
# Sampling, devices, distribution
# ---------------------------------------------------------------------------
class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` (one permutation per epoch, seeded by seed + epoch, ``set_epoch``) over
    whole batches, that can skip the batches of an epoch a resumed run has already trained on.

    With ``num_replicas`` ranks, global batch k of the epoch is ``perm[k*B:(k+1)*B]`` and rank r
    gets its rows ``r::num_replicas``: the same global batches as one process with batch B.
    """

    def __init__(self, dataset, num_replicas: int, rank: int, seed: int, local_batch: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.local_batch = local_batch
        self.skip_batches = 0

    def __iter__(self):
        idx = list(super().__iter__())
        idx = idx[: len(idx) // self.local_batch * self.local_batch]
        return iter(idx[self.skip_batches * self.local_batch :])

    def __len__(self) -> int:
        return (self.num_samples // self.local_batch - self.skip_batches) * self.local_batch


def distributed() -> tuple[int, int]:
    """(rank, world size): (0, 1) without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise RIEInputError(f"device {name!r} is not a device name ({exc})") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RIEInputError(f"device {name!r} asked for, but torch sees no CUDA device")
    return device


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None (``off``; ``auto`` on the CPU)."""
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "fp16" and device.type != "cuda":
        raise RIEInputError("amp: fp16 needs CUDA (on the CPU use bf16 or off)")
    return torch.bfloat16 if mode == "bf16" else torch.float16


def set_determinism(on: bool) -> None:
    torch.use_deterministic_algorithms(on, warn_only=True)
    torch.backends.cudnn.deterministic = on
    torch.backends.cudnn.benchmark = not on


class _Net(nn.Module):
    """Model and head as one module, so that ``DistributedDataParallel`` sees every parameter."""

    def __init__(self, model: nn.Module, head: nn.Module):
        super().__init__()
        self.model, self.head = model, head

    def forward(self, x, y, u, criterion, crfiqa_weight, crfiqa_beta, groups=None):
        return compute_loss(self.model, self.head, criterion, x, y, u, crfiqa_weight, crfiqa_beta, groups)


# ---------------------------------------------------------------------------
# Data checks
# ---------------------------------------------------------------------------
def dataset_labels(dataset) -> torch.Tensor:
    labels = getattr(dataset, "labels", None)
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or len(labels) != len(dataset):
        raise RIEInputError(
            f"the training set ({type(dataset).__name__}) must have a .labels tensor of {len(dataset)} class indices "
            "(FaceFolderSet and FaceSet.as_dataset() have one)"
        )
    return labels


def _check_dataset(config: TrainConfig, dataset, world: int) -> int:
    """Checks before any work; returns the number of classes."""
    if not isinstance(dataset, Dataset) or not hasattr(dataset, "__len__"):
        raise RIEInputError(f"the training set must be a map-style torch Dataset, got {type(dataset).__name__}")
    labels = dataset_labels(dataset)
    if config.batch_size % world:
        raise RIEInputError(f"batch_size {config.batch_size} (global) does not split over {world} processes")
    if len(dataset) < config.batch_size:
        raise RIEInputError(f"{len(dataset)} training images is fewer than one batch of {config.batch_size}")
    if len(labels) and labels.min() < 0:
        bad = (labels < 0).nonzero().flatten()[:10].tolist()
        raise RIEInputError(f"training labels must be >= 0 (unlabelled images belong in the UI set); negative at {bad}")
    x, _, _ = dataset[0]
    if not isinstance(x, torch.Tensor) or tuple(x.shape) != (3, config.input_size, config.input_size):
        raise RIEInputError(
            f"the training set's images are {tuple(getattr(x, 'shape', ()))}, the config wants (3, {config.input_size}, "
            f"{config.input_size}): set input_size, or the data's image_size"
        )
    return int(getattr(dataset, "num_classes", 0) or int(labels.max()) + 1)


def stack_images(dataset, limit: int | None = None) -> torch.Tensor:
    """The images of a (small) dataset as one float tensor: the UI set, the end-of-epoch check."""
    n = len(dataset) if limit is None else min(limit, len(dataset))
    return torch.stack([dataset[i][0] for i in range(n)])


def data_fingerprint(dataset) -> str:
    """A short hash of what a training set holds, never reading its images: a folder-backed set by
    its file list and each file's size and modification time; a tensor-backed one (``.images``, or a
    ``FaceDataset``'s ``.faces``) by its tensors; any other by its labels only (``labels-`` prefix)."""
    h = hashlib.sha256()
    paths = getattr(dataset, "paths", None)
    if paths is not None:
        for p, label in zip(paths, dataset.labels.tolist()):
            try:
                st = os.stat(p)
                h.update(f"{p}\0{label}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{p}\0{label}\0missing\n".encode())
        return h.hexdigest()[:12]
    images = getattr(getattr(dataset, "faces", dataset), "images", None)
    if isinstance(images, torch.Tensor):
        return fingerprint(images, dataset.labels)
    return "labels-" + fingerprint(dataset_labels(dataset))


def dataset_cache_key(config: TrainConfig, dataset, ui_images=None, init_state=None) -> str:
    """``train_or_load``'s key for a dataset: the config, ``data_fingerprint`` and the trainer."""
    key = data_fingerprint(dataset)
    if key.startswith("labels-"):
        raise RIEInputError(
            f"train_or_load cannot key a {type(dataset).__name__} by its content (no .paths or .images): "
            "train it with fit, or give it one of those attributes")
    ui = ui_images if config.uses_rie else None
    if ui is not None and not isinstance(ui, torch.Tensor):
        ui = data_fingerprint(ui)
    data = [key, ui if isinstance(ui, str) else fingerprint(ui), fingerprint(init_state)]
    return f"{config.name}-{config_hash({'config': config.to_dict(), 'data': data, 'trainer': ['loader', TRAINER_VERSION]})}"


# ---------------------------------------------------------------------------
# Log
# ---------------------------------------------------------------------------
class RunLog:
    """``log.csv`` (one row per logged step) and, when installed, TensorBoard; rank 0 only."""

    def __init__(self, folder: Path | None, resume_step: int):
        self.path = folder / "log.csv" if folder else None
        self.columns: list[str] | None = None
        self.tb = None
        if self.path is None:
            return
        if self.path.exists():  # keep the rows up to the checkpoint: a resumed run writes the rest again
            with open(self.path, newline="") as f:
                rows = list(csv.DictReader(f))
            if rows:
                self.columns = list(rows[0])
                rows = [r for r in rows if int(r["step"]) <= resume_step]
            with open(self.path, "w", newline="") as f:
                if self.columns:
                    w = csv.DictWriter(f, self.columns)
                    w.writeheader()
                    w.writerows(rows)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(folder / "tensorboard"), purge_step=resume_step + 1)
        except Exception:  # tensorboard not installed: the CSV is the log
            self.tb = None

    def write(self, step: int, epoch: int, lr: float, values: dict) -> None:
        if self.path is None:
            return
        row = {"step": step, "epoch": epoch, "lr": lr, **{k: v for k, v in values.items() if not k.startswith("grad/")}}
        new = self.columns is None
        if new:
            self.columns = list(row)
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, self.columns, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)
        if self.tb is not None:
            for k, v in row.items():
                if k != "step":
                    self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


# ---------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------
_CKPT_KEYS = ("config", "epoch", "step", "step_global", "history", "seconds", "model", "head", "optimizer",
              "criterion", "ui_center", "scaler", "torch_rng", "partial")


def _read(path: Path | None, config: TrainConfig) -> dict | None:
    if path is None or not path.exists():
        return None
    try:
        ckpt = torch.load(path, weights_only=False, map_location="cpu")
        if not isinstance(ckpt, dict) or any(k not in ckpt for k in _CKPT_KEYS):
            raise ValueError("not a training checkpoint of fit_loader (keys missing)")
    except Exception as exc:
        warnings.warn(f"checkpoint {path} is damaged ({type(exc).__name__}: {exc}); training from scratch")
        return None
    if ckpt["config"] != config.to_dict():
        raise RIEInputError(f"checkpoint {path} was written by a different config")
    return ckpt


def fit_loader(
    config: TrainConfig,
    dataset,
    ui_images=None,
    init_state: dict | None = None,
    checkpoint_path: str | Path | None = None,
    progress: bool = True,
    max_steps: int | None = None,
    options: RunOptions | None = None,
    out_dir: str | Path | None = None,
    augment=(),
) -> TrainResult:
    """Train (or resume) from a map-style dataset; see the module docstring.

    ``ui_images``: a tensor or a dataset of UI images (read into memory: the UI set is small).
    ``checkpoint_path``: where the resumable state goes (default ``out_dir/checkpoint.pt``).
    ``out_dir``: ``log.csv`` and, at the end, ``model.pt``, ``head.pt``, ``config.json`` as
    ``train_or_load`` writes them (``load_trained(out_dir)``, ``rie score --format rie`` read them).
    ``augment``: more hooks after the flip and the low-resolution augmentation, each called as
    ``hook(x, generator)`` on the rank's batch (on its device) with the step's generator.
    ``max_steps`` stops after that many global steps without a checkpoint of its own, as a killed
    run would stop: the last interval or epoch-end checkpoint is the one a rerun resumes from.
    """
    options = options or RunOptions()
    if not isinstance(config, TrainConfig):
        raise RIEInputError(f"config must be a TrainConfig, got {type(config).__name__}")
    check_number(max_steps, "max_steps", low=1, integer=True, allow_none=True)
    rank, world = distributed()
    num_classes = _check_dataset(config, dataset, world)
    if options.sync_bn and world > 1 and not torch.cuda.is_available():
        raise RIEInputError("sync_bn needs CUDA (torch's SyncBatchNorm runs on GPUs only); use freeze_bn on the CPU")
    if world > 1 and config.freeze_backbone_epochs:
        raise RIEInputError("freeze_backbone_epochs is not supported under torchrun (DDP): set it to 0")
    if ui_images is not None and not isinstance(ui_images, torch.Tensor):
        ui_images = stack_images(ui_images)
    if config.uses_rie:
        if ui_images is None or len(ui_images) == 0:
            raise RIEInputError("the RIE terms need a UI set (ui_data) to define the UI centre")
        _check_images(ui_images, "UI images", config)
    if ui_images is not None:
        ui_images = as_float_images(ui_images)
    out_dir = Path(out_dir) if out_dir else None
    checkpoint_path = Path(checkpoint_path) if checkpoint_path else (out_dir / "checkpoint.pt" if out_dir else None)
    if rank == 0:
        for folder in {p for p in (out_dir, checkpoint_path.parent if checkpoint_path else None) if p}:
            _check_writable(folder)
    ckpt = _read(checkpoint_path, config)
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = resolve_device(options.device, local_rank)
    autocast = amp_dtype(options.amp, device)

    model, head, params, optimizer, criterion, _, center = _start(config, num_classes, init_state, ui_images)
    set_determinism(options.deterministic)
    scaler = torch.amp.GradScaler("cuda") if autocast == torch.float16 else None
    local_batch = config.batch_size // world
    sampler = ResumableSampler(dataset, world, rank, config.seed, local_batch)
    steps_per_epoch = len(sampler) // local_batch
    if steps_per_epoch < 1:
        raise RIEInputError(f"{len(dataset)} images make no batch of {config.batch_size} over {world} processes")
    total_steps = steps_per_epoch * config.epochs
    history, start_epoch, start_step, seconds, partial = [], 0, 0, 0.0, None
    if ckpt is not None:
        try:
            load_modules(ckpt, model, head, optimizer, criterion, center)
            if scaler is not None and ckpt["scaler"]:
                scaler.load_state_dict(ckpt["scaler"])
            torch.set_rng_state(ckpt["torch_rng"])
            if ckpt.get("cuda_rng") is not None and device.type == "cuda":
                torch.cuda.set_rng_state(ckpt["cuda_rng"], device)
        except Exception as exc:  # e.g. the data set gained classes since: the head no longer fits
            raise RIEInputError(
                f"checkpoint {checkpoint_path} does not fit this run ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                "delete it to start afresh, or set another output") from exc
        history, start_epoch, start_step = ckpt["history"], ckpt["epoch"], ckpt["step"]
        seconds, partial = ckpt["seconds"], ckpt["partial"]
    model.to(device)
    head.to(device)
    if center is not None:
        center.to(device)
    for state in optimizer.state.values():  # momentum buffers follow their parameters
        for k, v in state.items():
            if isinstance(v, torch.Tensor):
                state[k] = v.to(device)
    net = _Net(model, head)
    if world > 1:
        if options.sync_bn:
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
            model, head = net.model, net.head
        net = nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)
    log = RunLog(out_dir if rank == 0 else None, start_epoch * steps_per_epoch + start_step)
    groups = None
    if config.uses_rie and world == 1:
        from ..method.gradient_paths import parameter_groups

        groups = parameter_groups(model, head)
    check_images = stack_images(dataset, 32)
    step_global = start_epoch * steps_per_epoch + start_step
    bar = tqdm(total=total_steps, initial=step_global, desc=config.name, disable=not progress or rank, leave=False)

    def save(epoch_next: int, step_next: int, part) -> None:
        if rank != 0 or checkpoint_path is None:
            return
        state = {
            "config": config.to_dict(), "epoch": epoch_next, "step": step_next, "step_global": step_global,
            "history": history, "seconds": seconds, "model": model.state_dict(), "head": head.state_dict(),
            "optimizer": optimizer.state_dict(), "criterion": criterion.state_dict(),
            "ui_center": center.state_dict() if center else None, "scaler": scaler.state_dict() if scaler else None,
            "torch_rng": torch.get_rng_state(), "partial": part,
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        }
        atomic_write(checkpoint_path, lambda tmp: torch.save(state, tmp))

    stopped, epoch, step = False, start_epoch, start_step
    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        first = start_step if epoch == start_epoch else 0
        sums, paths, norms = (partial["sums"], partial["paths"], partial["norms"]) if first and partial else ({}, {}, [])
        with _divergence(config, epoch, 0, step_global):
            if config.uses_rie and config.ui_center_mode == "epoch" and epoch > 0 and not first:
                center.refresh(_ui_embeddings(model, ui_images).to(device))
            if config.loss.ui_stats == "estimated" and config.loss.beta > 0:
                criterion.set_ui_statistics(extract(model, ui_images[: config.ui_stats_k]).xi_hat.to(device))
        frozen = epoch < config.freeze_backbone_epochs
        for p in model.backbone.parameters():
            p.requires_grad_(not frozen)
        net.train()
        if frozen:
            model.backbone.eval()
        if options.freeze_bn:
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        sampler.set_epoch(epoch)
        sampler.skip_batches = first
        loader = DataLoader(
            dataset, batch_size=local_batch, sampler=sampler, num_workers=options.num_workers, drop_last=True,
            pin_memory=options.pin_memory and device.type == "cuda", persistent_workers=False,
            generator=torch.Generator().manual_seed(config.seed + epoch),  # not the global stream (resume)
        )
        for step, (x, y, _) in enumerate(loader, start=first):
            g = step_generator(config.seed, epoch, step)
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            if config.flip:
                x = flip_batch(x, torch.rand(config.batch_size, generator=g)[rank::world])
            if options.low_res_prob:
                x = low_res_batch(x, options.low_res_prob, g, config.batch_size, rank, world)
            for hook in augment:
                x = hook(x, g)
            lr = _lr_at(config, step_global, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with _divergence(config, epoch, step, step_global):
                if config.uses_rie and config.ui_center_mode == "ema":
                    ui_idx = torch.randint(len(ui_images), (config.ui_batch_size,), generator=g)
                    with torch.no_grad():
                        center.ema_update(model.backbone(ui_images[ui_idx].to(device)))
                with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
                    loss, terms = net(x, y, center() if center else None, criterion if config.uses_rie else None,
                                      config.crfiqa_weight, config.crfiqa_beta, groups if step == 0 and not frozen else None)
            if world > 1:  # the logged terms are the global batch's means
                keys = sorted(k for k in terms if not k.startswith("grad/"))
                t = torch.tensor([terms[k] for k in keys], dtype=torch.float64)
                dist.all_reduce(t)
                terms.update({k: float(v) / world for k, v in zip(keys, t)})
                if "xi_clipped" in terms:
                    terms["xi_clipped"] *= world  # a count, not a mean
            bad = [k for k, val in terms.items() if not math.isfinite(val)]
            if bad:
                raise TrainingDivergedError(
                    f"{config.name}: training diverged: loss term(s) {bad} became {terms[bad[0]]} at epoch {epoch}, "
                    f"step {step} (global step {step_global}); lower lr ({config.lr}) or the term's weight")
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            norm = float(torch.nn.utils.clip_grad_norm_(params, config.clip_grad_norm or math.inf))
            if not math.isfinite(norm) and scaler is None:
                raise TrainingDivergedError(
                    f"{config.name}: training diverged: the gradient norm became {norm} at epoch {epoch}, step {step} "
                    f"(global step {step_global}); lower lr ({config.lr}) or the terms' weights")
            if scaler is not None:
                scaler.step(optimizer)  # fp16: a step whose gradients overflowed is skipped and the scale lowered
                scaler.update()
            else:
                optimizer.step()
            if math.isfinite(norm):
                norms.append(norm)
            for k, val in terms.items():
                if k.startswith("grad/"):
                    paths[k] = val
                else:
                    sums[k] = sums.get(k, 0.0) + val
            step_global += 1
            bar.update(1)
            if rank == 0 and step_global % options.log_every == 0:
                log.write(step_global, epoch, lr, {**terms, "grad_norm": norm})
            if max_steps is not None and step_global >= max_steps:
                stopped = True
                break
            if options.checkpoint_every and step_global % options.checkpoint_every == 0 and step + 1 < steps_per_epoch:
                save(epoch, step + 1, {"sums": sums, "paths": paths, "norms": norms})
        if stopped:
            break
        seconds += time.perf_counter() - t0
        _check_weights(config, model, head, epoch, step, step_global)
        _check_outputs(config, model, check_images, center() if center is not None else None, epoch, step, step_global)
        n = len(norms) or 1
        means = {k: s / steps_per_epoch for k, s in sums.items() if k != "xi_clipped"}
        if "xi_clipped" in sums:
            means["xi_clip_frac"] = sums["xi_clipped"] / (steps_per_epoch * config.batch_size)
        means["grad_norm"], means["grad_norm_max"] = sum(norms) / n, max(norms, default=0.0)
        means["clip_frac"] = sum(v > config.clip_grad_norm for v in norms) / n if config.clip_grad_norm else 0.0
        history.append({"epoch": epoch, "frozen": frozen, **means, **paths})
        save(epoch + 1, 0, None)
    bar.close()
    log.close()
    for p in model.backbone.parameters():
        p.requires_grad_(True)
    u = center().detach().cpu().clone() if center is not None else None
    model.cpu()
    head.cpu()
    if stopped:
        _check_weights(config, model, head, epoch, step, step_global)
    _check_outputs(config, model, check_images, u, epoch, step, step_global)
    model.eval()
    head.eval()
    if rank == 0 and out_dir is not None:
        atomic_write(out_dir / "model.pt", lambda tmp: torch.save(model.state_dict(), tmp))
        atomic_write(out_dir / "head.pt", lambda tmp: torch.save(head.state_dict(), tmp))
        save_json({"config": config.to_dict(), "history": history, "seconds": seconds, "steps": step_global,
                   "finished": not stopped, "ui_center": u.tolist() if u is not None else None,
                   "num_classes": num_classes, "run": options.to_dict()}, out_dir / "config.json")
    return TrainResult(model, head, config, history, u, seconds, False, "")
