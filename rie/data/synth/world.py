"""The world: ``FaceSet`` (one dataset role) and its ``torch`` ``FaceDataset``, how each
role is drawn (its people, its tier mix, its own random stream), and ``build_world``,
which generates every role or reads it from the cache (:mod:`rie.data.synth.cache`).

The roles and what each one plays are listed in the package docstring (:mod:`rie.data.synth`).
All roles have disjoint identities (``params["identity"]`` is the global id).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ...common.checks import RIEInputError
from ...common.utils import config_hash
from . import cache
from .config import ROLES, TIER_CODES, WorldConfig
from .rendering import _float_images, boxes_to_masks, render
from .sampling import sample_identities, sample_nuisance


# ---------------------------------------------------------------------------
# Labelled sets and the world
# ---------------------------------------------------------------------------
@dataclass
class FaceSet:
    """One dataset role. ``labels`` are contiguous 0..C-1 (-1 = unknown / unlabelled);
    ``params["identity"]`` is the global identity id; ``boxes`` (N, 3, 4) in pixels."""

    images: torch.Tensor
    labels: torch.Tensor
    difficulty: torch.Tensor
    params: dict[str, torch.Tensor]
    boxes: torch.Tensor
    role: str
    num_classes: int

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def identities(self) -> torch.Tensor:
        """Global identity id of every image (int64)."""
        return self.params["identity"]

    def subset(self, idx) -> "FaceSet":
        """The images at idx (indices or a boolean mask); labels and num_classes are kept as they are."""
        idx = torch.as_tensor(idx)
        if idx.dtype == torch.bool:
            if idx.shape != (len(self),):
                raise RIEInputError(f"boolean index must have shape ({len(self)},), got {tuple(idx.shape)}")
            idx = idx.nonzero().flatten()
        idx = idx.long().flatten()
        if idx.numel() and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise RIEInputError(f"subset index out of range for a set of {len(self)} images")
        return FaceSet(
            images=self.images[idx], labels=self.labels[idx], difficulty=self.difficulty[idx],
            params={k: v[idx] for k, v in self.params.items()}, boxes=self.boxes[idx],
            role=self.role, num_classes=self.num_classes,
        )  # fmt: skip

    def to_float(self) -> torch.Tensor:
        """Images as float in [-1, 1], as the models expect."""
        return _float_images(self.images)

    def masks(self) -> torch.Tensor:
        """(N, 3, H, W) boolean masks of the eyes / nose / mouth boxes."""
        return boxes_to_masks(self.boxes, self.images.shape[-1])

    def as_dataset(self) -> "FaceDataset":
        return FaceDataset(self)

    def state(self) -> dict:
        return {"images": self.images, "labels": self.labels, "difficulty": self.difficulty, "params": self.params,
                "boxes": self.boxes, "role": self.role, "num_classes": self.num_classes}  # fmt: skip


class FaceDataset(Dataset):
    """``torch.utils.data.Dataset`` over a FaceSet: item i is ``(image in [-1, 1], label, i)``,
    like the real-data loaders in :mod:`rie.data.datasets`."""

    def __init__(self, faces: FaceSet):
        self.faces = faces
        self.num_classes = faces.num_classes
        self.labels = faces.labels
        self.role = faces.role

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, i: int):
        return _float_images(self.faces.images[i]), int(self.faces.labels[i]), i


def _role_seed(seed: int, role: str) -> int:
    return int(config_hash({"seed": seed, "role": role}, length=15), 16)


def _mixed_nuisance(n: int, gen: torch.Generator, config: WorldConfig) -> dict[str, torch.Tensor]:
    """Nuisance for a VLR role: each image is hard with probability frac_hard, else moderate."""
    hard = torch.rand(n, generator=gen) < config.frac_hard
    nm = sample_nuisance(int((~hard).sum()), gen, config.tier_moderate, config.image_size)
    nh = sample_nuisance(int(hard.sum()), gen, config.tier_hard, config.image_size)
    nm["tier"].fill_(TIER_CODES["moderate"])
    nh["tier"].fill_(TIER_CODES["hard"])
    out = {}
    for k in nm:
        v = torch.empty(n)
        v[~hard], v[hard] = nm[k], nh[k]
        out[k] = v
    return out


def _world_identities(config: WorldConfig) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Identity vectors and global ids for each group of roles, all disjoint."""
    counts = config.identity_counts()
    total = sum(counts.values())
    theta = sample_identities(total, _role_seed(config.seed, "identities"), config.min_identity_distance)
    out, start = {}, 0
    for group, c in counts.items():
        out[group] = (theta[start:start + c], torch.arange(start, start + c))
        start += c
    return out


def group_identities(config: WorldConfig, group: str) -> torch.Tensor:
    """The identity vectors of one group of roles (``WorldConfig.identity_counts``' keys), in label order:
    e.g. ``"test"`` for the people of the gallery and probe roles, to photograph them anew."""
    people = _world_identities(config)
    if group not in people:
        raise RIEInputError(f"unknown identity group {group!r}; known: {list(people)}")
    return people[group][0]


def _build_role(role: str, config: WorldConfig, people) -> FaceSet:
    gen = torch.Generator().manual_seed(_role_seed(config.seed, role))
    group = {"gallery": "test", "probe": "test"}.get(role, role)
    theta, gid = people[group]
    c = len(gid)
    if role == "pretrain":
        per = config.pretrain_images_per_id
        local = torch.arange(c).repeat_interleave(per)
        nz = sample_nuisance(len(local), gen, config.tier_hr, config.image_size)
        nz["tier"].fill_(TIER_CODES["hr"])
    elif role == "ui":
        local = torch.arange(config.ui_images) // config.ui_images_per_id
        nz = sample_nuisance(len(local), gen, config.tier_ui, config.image_size)
        nz["tier"].fill_(TIER_CODES["ui"])
    else:
        if role in ("gallery", "probe"):
            # gallery and probe draw from one stream so the split is stable
            gen = torch.Generator().manual_seed(_role_seed(config.seed, "test"))
            per = config.gallery_per_id + config.probe_per_id
        else:
            per = {"train": config.train_images_per_id, "distractor": config.distractor_images_per_id}[role]
        local = torch.arange(c).repeat_interleave(per)
        nz = _mixed_nuisance(len(local), gen, config)
        if role in ("gallery", "probe"):
            slot = torch.arange(len(local)) % per
            keep = slot < config.gallery_per_id if role == "gallery" else slot >= config.gallery_per_id
            local = local[keep]
            nz = {k: v[keep] for k, v in nz.items()}
    batch = render(theta[local], nz, config.image_size, render_size=config.render_size)
    labelled = role in ("pretrain", "train", "gallery", "probe")
    labels = local.clone() if labelled else torch.full((len(local),), -1, dtype=torch.int64)
    params = dict(batch.params)
    params["identity"] = gid[local]
    return FaceSet(
        images=batch.images, labels=labels.long(), difficulty=batch.difficulty, params=params,
        boxes=batch.boxes, role=role, num_classes=c if labelled else 0,
    )  # fmt: skip


def _face_set_from_state(state: dict, role: str, expected: int, image_size: int) -> FaceSet:
    fs = FaceSet(**state)
    cache.check_face_set(fs, role, expected, image_size)
    return fs


def build_world(config: WorldConfig | None = None, cache_dir: str | Path | None = "data/cache",
                verbose: bool = False) -> dict[str, FaceSet]:  # fmt: skip
    """Generate (or load from cache) every role: keys ``ROLES``.

    The cache lives in ``cache_dir/world_<hash>/`` with ``config.json`` beside one
    ``<role>.pt`` per role. It is used only when the stored config equals this
    config; a mismatching cache is rebuilt, and an unreadable or malformed role
    file is rebuilt with a warning. ``cache_dir=None`` builds in memory only.
    """
    config = WorldConfig() if config is None else config
    if not isinstance(config, WorldConfig):
        raise RIEInputError(f"config must be a WorldConfig, got {type(config).__name__}")
    sizes = config.role_sizes()
    folder = None if cache_dir is None else Path(cache_dir) / cache.cache_key(config)
    stored_ok = folder is not None and cache.stored_config_matches(folder, config)
    reuse = stored_ok  # read role files only from a cache made for this very config
    world: dict[str, FaceSet] = {}
    people = None
    for role in ROLES:
        path = None if folder is None else folder / f"{role}.pt"
        if reuse and path.exists():
            try:
                state = cache.read_role(path)
                world[role] = _face_set_from_state(state, role, sizes[role], config.image_size)
                continue
            except Exception as err:  # a truncated or tampered file: rebuild just this role
                cache.warn_corrupt(path, err)
        if people is None:
            people = _world_identities(config)
        if verbose:
            print(f"[synth] building {role}: {sizes[role]} images", flush=True)
        world[role] = _build_role(role, config, people)
        if folder is not None:
            if not stored_ok:
                cache.write_config(folder, config)
                stored_ok = True
            cache.write_role(path, world[role].state())
    return world
