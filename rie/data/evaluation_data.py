"""One evaluation-data interface for the synthetic world and the real test sets.

    data = evaluation_data("tinyface", "/data/tinyface", image_size=112)
    data["probe"], data["gallery"], data["distractor"]      # map-style Datasets: (image, label, index)

``EvalData`` holds, per role, a ``torch.utils.data.Dataset`` whose item ``i`` is
``(image float (3, S, S) in [-1, 1], label, i)`` (``FaceFolderSet`` for files on disk,
``FaceDataset`` for the synthetic world), with ``.labels`` (int64, -1 = unlabelled) beside it.

- train: the world's ``train``; TinyFace and SurvFace ``Training_Set`` (optional: a copy of the
  test split alone is evaluated); SCFace has none.
- gallery: ``gallery``; ``Gallery_Match``; the frontal mugshots; SurvFace ``gallery``.
- probe: ``probe``; ``Probe``; SCFace cam1-5 at all three distances (``probe_groups``); ``mated_probe``.
- distractor: ``distractor``; ``Gallery_Distractor``; SCFace none; SurvFace ``unmated_probe`` (the
  open-set protocol's unmated probes, as the world's distractors are in ``protocols.open_set``).
- ui: the world's ``ui``; for a real set the folder ``ui_dir``, when given.

Metadata where the source knows it: ``difficulty`` and ``resolution`` per role (synthetic: the
true difficulty and the sensor resolution in px), ``part_boxes`` (synthetic: eyes/nose/mouth),
``probe_groups`` (SCFace: each probe's camera distance), ``pairs`` (SurvFace's official
verification pairs). ``missing`` lists, in words, what a source cannot provide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..common.checks import RIEInputError
from .datasets import (
    SCFACE_DISTANCES,
    _child_dir,
    _survface_base,
    load_scface, load_survface, load_survface_pairs, load_tinyface, load_ui_folder,
)

KINDS = ("synthetic", "tinyface", "scface", "survface")
ROLES = ("train", "gallery", "probe", "distractor", "ui")


class ConcatRoles(Dataset):
    """Several sets as one role (SCFace's three probe distances): item ``i`` is ``(image, label, i)``.

    Unlike ``torch.utils.data.ConcatDataset`` the index returned is global, and ``labels``,
    ``paths`` and ``skipped`` are the parts' joined.
    """

    def __init__(self, parts, role: str = "probe"):
        self.parts = list(parts)
        self.role = role
        sizes = [len(p) for p in self.parts]
        self.offsets = torch.tensor([0] + sizes).cumsum(0).tolist()
        self.labels = torch.cat([p.labels for p in self.parts])
        self.paths = [path for p in self.parts for path in getattr(p, "paths", [])]

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return [s for p in self.parts for s in getattr(p, "skipped", [])]

    def __len__(self) -> int:
        return self.offsets[-1]

    def __getitem__(self, i: int):
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} images")
        i %= n
        k = max(j for j in range(len(self.parts)) if self.offsets[j] <= i)
        image, label, j = self.parts[k][i - self.offsets[k]]
        return image, label, self.offsets[k] + j


@dataclass
class EvalData:
    """Role -> Dataset plus what the source knows about its images (module docstring)."""

    kind: str
    roles: dict[str, Dataset]
    source: str = ""
    difficulty: dict[str, torch.Tensor] = field(default_factory=dict)
    resolution: dict[str, torch.Tensor] = field(default_factory=dict)
    part_boxes: dict[str, torch.Tensor] = field(default_factory=dict)
    probe_groups: list[str] | None = None  # one name per probe (SCFace: the distance)
    pairs: dict | None = None  # {"images": Dataset, "pairs": (P, 2), "same": (P,)} (SurvFace)
    missing: list[str] = field(default_factory=list)

    def __getitem__(self, role: str) -> Dataset:
        if role not in self.roles:
            raise RIEInputError(f"{self.kind} data has no {role!r} role; it has {sorted(self.roles)}")
        return self.roles[role]

    def __contains__(self, role: str) -> bool:
        return role in self.roles

    def labels(self, role: str) -> torch.Tensor:
        return self[role].labels

    def counts(self) -> dict[str, int]:
        """Images per role (and verification pairs), for a report."""
        out = {role: len(ds) for role, ds in self.roles.items()}
        if self.pairs is not None:
            out["pairs"] = len(self.pairs["pairs"])
        return out

    def skipped(self) -> list[tuple[str, str]]:
        """``(path, reason)`` of every file a loader left out, over all roles."""
        sets = list(self.roles.values()) + ([self.pairs["images"]] if self.pairs else [])
        return [s for ds in sets for s in getattr(ds, "skipped", [])]


def from_world(world, source: str = "synthetic world") -> EvalData:
    """The synthetic world (``rie.data.synth.build_world``'s dict of ``FaceSet``) as ``EvalData``."""
    missing = [r for r in ("gallery", "probe") if r not in world]
    if missing:
        raise RIEInputError(f"the world has no {missing} role(s); it has {sorted(world)}")
    roles = {r: world[r].as_dataset() for r in ROLES if r in world}
    return EvalData(
        kind="synthetic",
        roles=roles,
        source=source,
        difficulty={r: world[r].difficulty for r in roles},
        resolution={r: world[r].params["resolution_px"] for r in roles if "resolution_px" in world[r].params},
        part_boxes={r: world[r].boxes for r in roles},
    )


_REAL_MISSING = ["difficulty (no ground truth on real faces)", "part boxes (no eyes/nose/mouth annotation)"]


def evaluation_data(kind: str, path=None, image_size: int = 32, *, ui_dir=None, world=None,
                    profile: str = "default", check_identities: bool = True) -> EvalData:
    """Load ``kind`` (one of ``KINDS``) from ``path`` as ``EvalData``, images at ``image_size`` px.

    synthetic: ``world`` (a built world) if given, else the ``profile``'s world built (or read
    from the cache) in ``path`` (default ``data/cache``). ``ui_dir``: a folder of unrecognisable
    faces for the real sets' ``ui`` role (needed only by the ``v_prime`` scoring embedding).
    """
    if kind not in KINDS:
        raise RIEInputError(f"unknown evaluation data kind {kind!r}; known: {', '.join(KINDS)}")
    if kind == "synthetic":
        if world is None:
            from .synth import WorldConfig, build_world

            cache = "data/cache" if path is None else path
            world = build_world(WorldConfig.from_profile(profile), cache_dir=cache)
            return from_world(world, source=f"synthetic world, profile {profile} (cache {cache})")
        return from_world(world)
    if path is None:
        raise RIEInputError(f"{kind} needs the dataset's folder")
    path = Path(path)
    if not path.exists():
        raise RIEInputError(f"{kind}: no such folder {path}")
    missing = list(_REAL_MISSING)
    if kind == "tinyface":
        sets = load_tinyface(path, image_size, check_identities=check_identities, require_train=False)
        data = EvalData(kind, {r: sets[r] for r in ROLES if r in sets}, str(path),
                        missing=missing + ["resolution per image (TinyFace gives none)"])
    elif kind == "scface":
        sets = load_scface(path, image_size)
        keys = list(SCFACE_DISTANCES.values())  # far to near
        probe = ConcatRoles([sets[k] for k in keys])
        groups = [k.removeprefix("probe_") for k in keys for _ in range(len(sets[k]))]
        data = EvalData(kind, {"gallery": sets["gallery"], "probe": probe}, str(path), probe_groups=groups,
                        missing=missing + ["a training split", "distractors"])
    else:
        sets = load_survface(path, image_size, check_identities=check_identities, require_train=False)
        roles = {r: sets[r] for r in ("train", "gallery", "probe") if r in sets} | {"distractor": sets["unmated"]}
        data = EvalData(kind, roles, str(path), missing=missing + ["resolution per image"])
        if _child_dir(_survface_base(path), "Face_Verification_Test_Set") is None:  # optional: open-set still runs
            data.missing.append("verification pairs (no Face_Verification_Test_Set folder)")
        else:
            pairs = load_survface_pairs(path, image_size)
            data.pairs = {k: pairs[k] for k in ("images", "pairs", "same")}
    if "train" not in data.roles and kind != "scface":
        data.missing.append("a training split (no Training_Set folder: the test split alone is evaluated)")
    if ui_dir is not None:
        data.roles["ui"] = load_ui_folder(ui_dir, image_size, name=f"{kind}/ui")
    else:
        data.missing.append("a UI set (pass ui_dir)")
    return data
