"""The embedded default data: a synthetic very-low-resolution face world.

No real face data can be downloaded here, so every dataset role of the paper is
played by procedurally drawn faces, deterministic by seed (the drawing itself is
in :mod:`rie.data.render`):

===============  =====================================  ===============================
role             plays                                  images
===============  =====================================  ===============================
``pretrain``     VGGFace2 (HR labelled, pretraining)    full resolution, mild nuisance
``train``        TinyFace training split                VLR, moderate + hard tiers
``gallery``      TinyFace Gallery_Match                 VLR, test identities
``probe``        TinyFace Probe                         VLR, the same test identities
``distractor``   TinyFace Gallery_Distractor            VLR, other people, label -1
``ui``           LPW / MARS face detections (UIs)       heavily degraded, label -1
===============  =====================================  ===============================

All roles have disjoint identities (``params["identity"]`` is the global id).

An *identity* is a vector of ``NUM_IDENTITY_PARAMS`` numbers in [0, 1] (face
shape, skin, hair, eyes, brows, nose, mouth, ears, glasses, beard; see
``rie.data.render.IDENTITY_PARAMS``). An *image* adds nuisance (pose, expression,
illumination, exposure and colour cast, background, clothes, occlusion, crop
jitter) and camera degradation (sensor resolution, blur, noise, JPEG), all kept
per image in ``params``.

Ground-truth difficulty (``difficulty_score``), in [0, 1]: a weighted sum of
severities, each clipped to [0, 1]::

    res   = (log2 32 - log2 resolution_px) / (log2 32 - log2 8)   1 at <= 8 px, 0 at >= 32 px
    blur  = blur_sigma / 2            (sensor pixels)
    noise = noise_std / 0.15          (intensity, images in [0, 1])
    jpeg  = (95 - jpeg_quality) / 85
    occ   = occlusion / 0.5           (fraction of the face oval hidden)
    pose  = sqrt((yaw/70)^2 + (pitch/45)^2 + (roll/90)^2)     (degrees)
    light = 0.7 * light_strength + 0.3 * |exposure| / 1.5     (exposure in stops)

    difficulty = 0.40 res + 0.14 blur + 0.10 noise + 0.05 jpeg
               + 0.12 occ + 0.11 pose + 0.08 light              (weights sum to 1)

Resolution dominates, as in the paper's observation that VLR faces fall into
the UI cluster; expression, background and colour cast do not count.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..common.checks import RIEInputError
from ..common.constants import WORLD_SIZES, check_profile
from ..common.utils import atomic_write, config_hash, save_json
from . import render as _render
from .render import IDENTITY_PARAMS, NUM_IDENTITY_PARAMS

GENERATOR_VERSION = 4  # bump when drawing changes: it is part of the cache key
ROLES = ("pretrain", "train", "gallery", "probe", "distractor", "ui")
PARTS = ("eyes", "nose", "mouth")  # the order of boxes[:, k]
TIER_CODES = {"clean": 0, "hr": 1, "moderate": 2, "hard": 3, "ui": 4, "custom": 5}

__all__ = [
    "IDENTITY_PARAMS", "NUM_IDENTITY_PARAMS", "ROLES", "PARTS", "TIER_CODES", "NUISANCE_KEYS",
    "TierConfig", "TIERS", "WorldConfig", "sample_identities", "sample_nuisance",
    "neutral_nuisance", "render", "difficulty_score", "difficulty_terms", "boxes_to_masks",
    "raw_pixel_identification", "FaceBatch", "FaceSet", "FaceDataset", "build_world", "cache_key",
]  # fmt: skip


# ---------------------------------------------------------------------------
# Tiers: the ranges nuisance and degradation are drawn from
# ---------------------------------------------------------------------------
@dataclass
class TierConfig:
    """Ranges for one quality tier. ``(lo, hi)`` pairs are uniform ranges; single
    numbers are a maximum magnitude (drawn uniformly in ``[-max, max]``) or a probability.

    resolution: sensor size in pixels (inclusive integer range); ``None`` means
    the full output size (no downsampling).
    """

    resolution: tuple[int, int] | None = None
    blur_sigma: tuple[float, float] = (0.0, 0.0)  # Gaussian blur in sensor pixels
    noise_std: tuple[float, float] = (0.0, 0.0)  # additive Gaussian noise, image in [0, 1]
    jpeg_quality: tuple[float, float] = (100.0, 100.0)  # 100 = (almost) no compression
    yaw: float = 0.0  # degrees
    pitch: float = 0.0
    roll: float = 0.0
    expression: float = 0.0  # max intensity of smile / open mouth / squint
    light_strength: tuple[float, float] = (0.0, 0.0)  # 0 frontal light, 1 grazing side light
    exposure: float = 0.0  # stops
    color_cast: float = 0.0  # per-channel gain deviation
    grayscale_prob: float = 0.0
    occlusion_prob: float = 0.0
    occlusion_size: tuple[float, float] = (0.3, 0.5)  # image units
    shift: float = 0.0  # crop jitter, image units
    scale: tuple[float, float] = (1.0, 1.0)  # crop zoom
    down_bilinear_prob: float = 0.0  # sample without anti-aliasing (aliasing) instead of area

    def validate(self, name: str = "tier", image_size: int | None = None) -> "TierConfig":
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "resolution" and v is None:
                continue
            if isinstance(v, (tuple, list)):
                if len(v) != 2 or not all(isinstance(x, (int, float)) for x in v):
                    raise RIEInputError(f"{name}.{f.name} must be a (lo, hi) pair of numbers, got {v!r}")
                if v[0] > v[1]:
                    raise RIEInputError(f"{name}.{f.name} has lo > hi: {v!r}")
                if v[0] < 0:
                    raise RIEInputError(f"{name}.{f.name} must be non-negative, got {v!r}")
            elif not isinstance(v, (int, float)) or v < 0:
                raise RIEInputError(f"{name}.{f.name} must be a non-negative number, got {v!r}")
        if self.resolution is not None:
            lo, hi = self.resolution
            if int(lo) != lo or int(hi) != hi or lo < 4:
                raise RIEInputError(f"{name}.resolution must be whole pixels >= 4, got {self.resolution!r}")
            if image_size is not None and hi > image_size:
                raise RIEInputError(
                    f"{name}.resolution {self.resolution!r} exceeds the image size {image_size}: "
                    "a sensor cannot have more pixels than the image it produces"
                )
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise RIEInputError(f"{name}.jpeg_quality must lie in [1, 100], got {self.jpeg_quality!r}")
        for p in ("grayscale_prob", "occlusion_prob", "down_bilinear_prob"):
            if getattr(self, p) > 1:
                raise RIEInputError(f"{name}.{p} is a probability, got {getattr(self, p)}")
        if self.light_strength[1] > 1:
            raise RIEInputError(f"{name}.light_strength must lie in [0, 1], got {self.light_strength!r}")
        if self.scale[0] <= 0:
            raise RIEInputError(f"{name}.scale must be positive, got {self.scale!r}")
        return self

    def replace(self, **changes) -> "TierConfig":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise RIEInputError(f"unknown tier field(s) {sorted(unknown)}; known: {[f.name for f in dataclasses.fields(self)]}")
        changes = {k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()}
        return dataclasses.replace(self, **changes)


TIERS: dict[str, TierConfig] = {
    # no nuisance at all: a frontal passport photo (for figures)
    "clean": TierConfig(),
    # VGGFace2's role: full resolution, mild pose / light / expression
    # (colour casts, exposure and grey photos vary as much as in web photos: a model
    # pretrained here must find identity in shape more than in average colour)
    "hr": TierConfig(
        resolution=None, blur_sigma=(0.0, 0.4), noise_std=(0.0, 0.01), jpeg_quality=(75, 100),
        yaw=30, pitch=15, roll=10, expression=0.8, light_strength=(0.0, 0.5), exposure=0.5,
        color_cast=0.15, grayscale_prob=0.1, occlusion_prob=0.05, occlusion_size=(0.25, 0.45),
        shift=0.04, scale=(0.95, 1.05),
    ),
    # TinyFace's easier half: 16-24 px, mild blur / noise, ordinary pose
    "moderate": TierConfig(
        resolution=(16, 24), blur_sigma=(0.0, 0.4), noise_std=(0.0, 0.02), jpeg_quality=(50, 95),
        yaw=30, pitch=15, roll=12, expression=0.8, light_strength=(0.0, 0.5), exposure=0.35,
        color_cast=0.08, grayscale_prob=0.05, occlusion_prob=0.05, occlusion_size=(0.25, 0.45),
        shift=0.05, scale=(0.92, 1.08), down_bilinear_prob=0.2,
    ),
    # TinyFace's hard half: 8-10 px, strong blur / noise, extreme pose and light, occluders.
    # Close to the UI tier on purpose: these are the faces that fall into the UI cluster.
    "hard": TierConfig(
        resolution=(8, 10), blur_sigma=(0.6, 1.4), noise_std=(0.04, 0.10), jpeg_quality=(20, 60),
        yaw=65, pitch=35, roll=30, expression=1.0, light_strength=(0.5, 1.0), exposure=1.0,
        color_cast=0.25, grayscale_prob=0.25, occlusion_prob=0.5, occlusion_size=(0.35, 0.7),
        shift=0.12, scale=(0.8, 1.2), down_bilinear_prob=0.5,
    ),
    # LPW / MARS detections: unrecognisable faces of unseen people
    "ui": TierConfig(
        resolution=(8, 10), blur_sigma=(0.8, 2.0), noise_std=(0.05, 0.15), jpeg_quality=(10, 45),
        yaw=75, pitch=40, roll=35, expression=1.0, light_strength=(0.5, 1.0), exposure=1.0,
        color_cast=0.3, grayscale_prob=0.3, occlusion_prob=0.5, occlusion_size=(0.35, 0.7),
        shift=0.15, scale=(0.75, 1.25), down_bilinear_prob=0.5,
    ),
}


# ---------------------------------------------------------------------------
# World configuration and profiles
# ---------------------------------------------------------------------------
@dataclass
class WorldConfig:
    """Everything that determines a generated world (its hash is the cache key).

    Sizes are identities x images per identity. ``frac_hard`` is the share of
    the VLR roles (train, gallery, probe, distractor) drawn from ``tier_hard``;
    the rest come from ``tier_moderate``. ``render_size`` (internal drawing
    resolution) defaults to ``max(64, 2 * image_size)``.
    """

    profile: str = "default"
    seed: int = 0
    image_size: int = 32
    render_size: int | None = None
    pretrain_identities: int = 500
    pretrain_images_per_id: int = 40
    train_identities: int = 300
    train_images_per_id: int = 20
    test_identities: int = 150
    gallery_per_id: int = 2
    probe_per_id: int = 8
    distractor_identities: int = 400
    distractor_images_per_id: int = 5
    ui_images: int = 6000
    ui_images_per_id: int = 4
    frac_hard: float = 0.45
    tier_hr: TierConfig = field(default_factory=lambda: TIERS["hr"])
    tier_moderate: TierConfig = field(default_factory=lambda: TIERS["moderate"])
    tier_hard: TierConfig = field(default_factory=lambda: TIERS["hard"])
    tier_ui: TierConfig = field(default_factory=lambda: TIERS["ui"])
    min_identity_distance: float = 0.8  # in the [0, 1]^P identity space

    _SIZE_FIELDS = (
        "pretrain_identities", "pretrain_images_per_id", "train_identities", "train_images_per_id",
        "test_identities", "gallery_per_id", "probe_per_id", "distractor_identities",
        "distractor_images_per_id", "ui_images", "ui_images_per_id",
    )  # fmt: skip

    def __post_init__(self):
        for name in ("tier_hr", "tier_moderate", "tier_hard", "tier_ui"):
            t = getattr(self, name)
            if isinstance(t, dict):  # a partial override of the default tier
                base = TIERS[name[len("tier_"):]]
                t = base.replace(**t)
            elif not isinstance(t, TierConfig):
                raise RIEInputError(f"{name} must be a TierConfig or a dict of its fields, got {type(t).__name__}")
            else:
                t = t.replace()  # a copy with lists turned into tuples
            setattr(self, name, t)
        if not isinstance(self.image_size, int) or self.image_size < 8:
            raise RIEInputError(f"image_size must be an integer >= 8, got {self.image_size!r}")
        if self.render_size is None:
            self.render_size = max(64, 2 * self.image_size)
        if not isinstance(self.render_size, int) or self.render_size < self.image_size:
            raise RIEInputError(f"render_size ({self.render_size!r}) must be an integer >= image_size ({self.image_size})")
        for name in self._SIZE_FIELDS:
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise RIEInputError(f"{name} must be a positive integer, got {v!r}")
        if self.pretrain_images_per_id < 2 or self.train_images_per_id < 2:
            raise RIEInputError("labelled roles need at least 2 images per identity")
        if self.test_identities < 2:
            raise RIEInputError(f"test_identities must be >= 2 for identification, got {self.test_identities}")
        if not isinstance(self.frac_hard, (int, float)) or not 0 <= self.frac_hard <= 1:
            raise RIEInputError(f"frac_hard must lie in [0, 1], got {self.frac_hard!r}")
        if not isinstance(self.seed, int):
            raise RIEInputError(f"seed must be an integer, got {self.seed!r}")
        if self.min_identity_distance < 0:
            raise RIEInputError(f"min_identity_distance must be >= 0, got {self.min_identity_distance}")
        for name in ("tier_hr", "tier_moderate", "tier_hard", "tier_ui"):
            getattr(self, name).validate(name, self.image_size)

    @classmethod
    def from_profile(cls, profile: str = "default", **overrides) -> "WorldConfig":
        """The named profile's sizes ("smoke", "default", "paper"), with any field overridden.

        Tier fields accept a dict of the fields to change, e.g.
        ``WorldConfig.from_profile("default", frac_hard=0.5, tier_hard={"resolution": (8, 10)})``.
        """
        check_profile(profile)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise RIEInputError(f"unknown WorldConfig field(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{"profile": profile, **WORLD_SIZES[profile], **overrides})

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists), the form stored beside a cache."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def role_sizes(self) -> dict[str, int]:
        """Number of images in each role."""
        return {
            "pretrain": self.pretrain_identities * self.pretrain_images_per_id,
            "train": self.train_identities * self.train_images_per_id,
            "gallery": self.test_identities * self.gallery_per_id,
            "probe": self.test_identities * self.probe_per_id,
            "distractor": self.distractor_identities * self.distractor_images_per_id,
            "ui": self.ui_images,
        }

    def identity_counts(self) -> dict[str, int]:
        """Number of distinct people in each group of roles (gallery and probe share theirs)."""
        return {
            "pretrain": self.pretrain_identities,
            "train": self.train_identities,
            "test": self.test_identities,
            "distractor": self.distractor_identities,
            "ui": math.ceil(self.ui_images / self.ui_images_per_id),
        }


# ---------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------
def _generator(generator) -> torch.Generator:
    if generator is None:
        return torch.Generator().manual_seed(0)
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(generator)
    if isinstance(generator, torch.Generator):
        return generator
    raise RIEInputError(f"generator must be a torch.Generator, an int seed or None, got {type(generator).__name__}")


def _count(n, name="n") -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise RIEInputError(f"{name} must be a non-negative integer, got {n!r}")
    return n


def sample_identities(n: int, generator=None, min_distance: float = 0.8, max_rounds: int = 50) -> torch.Tensor:
    """n identity vectors (n, NUM_IDENTITY_PARAMS) uniform in [0, 1], pairwise at least
    ``min_distance`` apart (Euclidean), so no two people are near-twins.

    Random draws in 29 dimensions are typically ~2.2 apart; the few pairs closer
    than ``min_distance`` get their later member redrawn. ``generator`` is a
    ``torch.Generator`` or an int seed.
    """
    n = _count(n)
    gen = _generator(generator)
    theta = torch.rand(n, NUM_IDENTITY_PARAMS, generator=gen)
    if min_distance <= 0 or n < 2:
        return theta
    for _ in range(max_rounds):
        bad = torch.zeros(n, dtype=torch.bool)
        for start in range(0, n, 2048):  # pairwise distances in blocks of rows
            d = torch.cdist(theta[start:start + 2048], theta)
            rows = torch.arange(start, min(start + 2048, n))
            d[rows - start, rows] = float("inf")
            # redraw row i if it is too close to an earlier row j < i
            earlier = torch.arange(n)[None, :] < rows[:, None]
            bad[rows] = ((d < min_distance) & earlier).any(1)
        if not bad.any():
            return theta
        theta[bad] = torch.rand(int(bad.sum()), NUM_IDENTITY_PARAMS, generator=gen)
    raise RIEInputError(
        f"could not draw {n} identities at least {min_distance} apart in {max_rounds} rounds: lower min_distance"
    )


NUISANCE_KEYS = (
    "tier", "yaw", "pitch", "roll", "smile", "mouth_open", "squint", "expression", "light_dir", "light_strength",
    "exposure", "cast_r", "cast_g", "cast_b", "grayscale", "bg_r", "bg_g", "bg_b", "bg_texture", "bg_freq",
    "bg_phase", "cloth_r", "cloth_g", "cloth_b", "occluder", "occ_x", "occ_y", "occ_size", "occ_r", "occ_g",
    "occ_b", "shift_x", "shift_y", "scale", "resolution_px", "down_bilinear", "blur_sigma", "noise_std",
    "jpeg_quality", "noise_seed",
)  # fmt: skip
CAMERA_KEYS = ("resolution_px", "down_bilinear", "blur_sigma", "noise_std", "jpeg_quality")


def _tier(tier) -> tuple[TierConfig, str]:
    if isinstance(tier, TierConfig):
        return tier, "custom"
    if isinstance(tier, str) and tier in TIERS:
        return TIERS[tier], tier
    raise RIEInputError(f"tier must be a TierConfig or one of {sorted(TIERS)}, got {tier!r}")


def sample_nuisance(n: int, generator=None, tier="moderate", image_size: int = 32) -> dict[str, torch.Tensor]:
    """Per-image nuisance and camera parameters for n images, drawn from a tier.

    ``tier`` is a name in ``TIERS`` ("clean", "hr", "moderate", "hard", "ui") or a
    ``TierConfig``. Returns a dict of (n,) float tensors with keys ``NUISANCE_KEYS``
    (angles in degrees, ``exposure`` in stops, ``resolution_px`` in pixels).
    ``occlusion`` (the hidden fraction of the face) is measured by ``render``.
    """
    n = _count(n)
    cfg, name = _tier(tier)
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise RIEInputError(f"image_size must be an integer >= 8, got {image_size!r}")
    cfg.validate(f"tier {name!r}", image_size)
    gen = _generator(generator)

    def u(lo=0.0, hi=1.0):
        return lo + (hi - lo) * torch.rand(n, generator=gen)

    def sym(m):
        return u(-m, m)

    def flag(p):
        return (torch.rand(n, generator=gen) < p).float()

    nz: dict[str, torch.Tensor] = {"tier": torch.full((n,), float(TIER_CODES[name]))}
    nz["yaw"], nz["pitch"], nz["roll"] = sym(cfg.yaw), sym(cfg.pitch), sym(cfg.roll)
    # each expression is present in some images only, with a random intensity
    nz["smile"] = cfg.expression * u() * flag(0.5)
    nz["mouth_open"] = cfg.expression * u() * flag(0.3)
    nz["squint"] = cfg.expression * u() * flag(0.3)
    nz["expression"] = torch.stack([nz["smile"], nz["mouth_open"], nz["squint"]]).amax(0)
    nz["light_dir"] = u(0, 360)
    nz["light_strength"] = u(*cfg.light_strength)
    nz["exposure"] = sym(cfg.exposure)
    for c in "rgb":
        nz[f"cast_{c}"] = 1 + sym(cfg.color_cast)
    nz["grayscale"] = flag(cfg.grayscale_prob)
    for c in "rgb":
        nz[f"bg_{c}"] = u(0.08, 0.92)
    nz["bg_texture"], nz["bg_freq"], nz["bg_phase"] = u(), u(), u(0, 2 * math.pi)
    for c in "rgb":
        nz[f"cloth_{c}"] = u(0.05, 0.9)
    kind = (1 + (torch.rand(n, generator=gen) * 3).floor()).clamp(max=3)
    nz["occluder"] = kind * flag(cfg.occlusion_prob)
    nz["occ_x"], nz["occ_y"], nz["occ_size"] = u(-0.45, 0.45), u(-0.25, 0.6), u(*cfg.occlusion_size)
    for c in "rgb":
        nz[f"occ_{c}"] = u(0.05, 0.95)
    nz["shift_x"], nz["shift_y"], nz["scale"] = sym(cfg.shift), sym(cfg.shift), u(*cfg.scale)
    if cfg.resolution is None:
        nz["resolution_px"] = torch.full((n,), float(image_size))
    else:
        lo, hi = cfg.resolution
        nz["resolution_px"] = torch.randint(int(lo), int(hi) + 1, (n,), generator=gen).float()
    nz["down_bilinear"] = flag(cfg.down_bilinear_prob)
    nz["blur_sigma"] = u(*cfg.blur_sigma)
    nz["noise_std"] = u(*cfg.noise_std)
    nz["jpeg_quality"] = u(*cfg.jpeg_quality).round()
    nz["noise_seed"] = torch.randint(0, 2**31 - 1, (n,), generator=gen).float()
    return nz


def neutral_nuisance(n: int, image_size: int = 32) -> dict[str, torch.Tensor]:
    """The "clean" tier with every image alike: frontal, neutral, frontal light, a plain
    grey-blue background, a dark-blue shirt, no occluder, no camera degradation.
    ``render`` fills any key missing from its nuisance dict from here."""
    n = _count(n)
    nz = {k: v[:1].expand(n).clone() for k, v in sample_nuisance(1, 0, "clean", image_size).items()}
    nz["tier"].fill_(TIER_CODES["clean"])
    for k, v in (("bg_r", 0.55), ("bg_g", 0.62), ("bg_b", 0.70), ("bg_texture", 0.0), ("bg_freq", 0.0),
                 ("bg_phase", 0.0), ("cloth_r", 0.15), ("cloth_g", 0.2), ("cloth_b", 0.4)):  # fmt: skip
        nz[k].fill_(v)
    nz["light_dir"].fill_(0.0)
    nz["noise_seed"] = torch.arange(n, dtype=torch.float32)
    return nz


# ---------------------------------------------------------------------------
# Difficulty, boxes
# ---------------------------------------------------------------------------
DIFFICULTY_WEIGHTS = {"res": 0.40, "blur": 0.14, "noise": 0.10, "jpeg": 0.05, "occ": 0.12, "pose": 0.11, "light": 0.08}


def difficulty_terms(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The per-factor severities in [0, 1] that ``difficulty_score`` weighs (module docstring)."""
    p = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in params.items()}
    res = p["resolution_px"].clamp(min=1)
    occ = p.get("occlusion", torch.zeros_like(res))
    terms = {
        "res": (math.log2(32) - torch.log2(res)) / (math.log2(32) - math.log2(8)),
        "blur": p["blur_sigma"] / 2.0,
        "noise": p["noise_std"] / 0.15,
        "jpeg": (95 - p["jpeg_quality"]) / 85,
        "occ": occ / 0.5,
        "pose": torch.sqrt((p["yaw"] / 70) ** 2 + (p["pitch"] / 45) ** 2 + (p["roll"] / 90) ** 2),
        "light": 0.7 * p["light_strength"] + 0.3 * p["exposure"].abs() / 1.5,
    }
    return {k: v.clamp(0, 1) for k, v in terms.items()}


def difficulty_score(params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Ground-truth difficulty in [0, 1] from the nuisance and camera parameters (formula in the module docstring)."""
    terms = difficulty_terms(params)
    return sum(DIFFICULTY_WEIGHTS[k] * terms[k] for k in DIFFICULTY_WEIGHTS).clamp(0, 1)


def boxes_to_masks(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Boolean masks (N, K, size, size) of (N, K, 4) pixel boxes (x0, y0, x1, y1): a pixel is in
    a box when its centre is."""
    if not isinstance(boxes, torch.Tensor) or boxes.ndim != 3 or boxes.shape[-1] != 4:
        raise RIEInputError(f"boxes must be a (N, K, 4) tensor, got {getattr(boxes, 'shape', type(boxes))}")
    c = torch.arange(size, dtype=torch.float32, device=boxes.device) + 0.5
    b = boxes.float()
    in_x = (c >= b[..., 0:1]) & (c <= b[..., 2:3])  # (N, K, size)
    in_y = (c >= b[..., 1:2]) & (c <= b[..., 3:4])
    return in_y[..., :, None] & in_x[..., None, :]


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------
def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255 + 0.5).clamp(0, 255).to(torch.uint8)


def _float_images(images: torch.Tensor) -> torch.Tensor:
    return images.float().div(127.5).sub(1.0)


@dataclass
class FaceBatch:
    """Rendered faces: ``images`` uint8 (N, 3, H, W); ``params`` dict of (N,) tensors;
    ``boxes`` (N, 3, 4) eyes / nose / mouth as (x0, y0, x1, y1) in pixels; ``difficulty`` (N,)."""

    images: torch.Tensor
    params: dict[str, torch.Tensor]
    boxes: torch.Tensor
    difficulty: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def to_float(self) -> torch.Tensor:
        """Images as float in [-1, 1], as the models expect."""
        return _float_images(self.images)

    def masks(self) -> torch.Tensor:
        """(N, 3, H, W) boolean masks of the eyes / nose / mouth boxes."""
        return boxes_to_masks(self.boxes, self.images.shape[-1])


def _broadcast_params(nuisance: dict, n: int) -> dict[str, torch.Tensor]:
    if not isinstance(nuisance, dict):
        raise RIEInputError(f"nuisance must be a dict of per-image parameters, got {type(nuisance).__name__}")
    unknown = set(nuisance) - set(NUISANCE_KEYS) - {"identity", "occlusion"}
    if unknown:
        raise RIEInputError(f"unknown nuisance key(s) {sorted(unknown)}; known: {list(NUISANCE_KEYS)}")
    out = {}
    for k, v in nuisance.items():
        t = torch.as_tensor(v, dtype=torch.float32).detach().cpu()
        if t.ndim == 0:
            t = t.expand(n).clone()
        if t.shape != (n,):
            raise RIEInputError(f"nuisance[{k!r}] must be a scalar or have shape ({n},), got {tuple(t.shape)}")
        if not torch.isfinite(t).all():
            raise RIEInputError(f"nuisance[{k!r}] contains NaN or inf")
        out[k] = t
    return out


def render(
    identities: torch.Tensor,
    nuisance: dict | None = None,
    image_size: int = 32,
    degrade: bool | dict = True,
    render_size: int | None = None,
    chunk: int = 512,
    device: str | torch.device | None = None,
) -> FaceBatch:
    """Draw and photograph faces: identity i with nuisance row i.

    identities: (N, NUM_IDENTITY_PARAMS) in [0, 1] (``sample_identities``).
    nuisance:   dict of per-image parameters (``sample_nuisance``); missing keys
                take the "clean" tier's values and scalars are broadcast, so
                ``render(ids, {"yaw": 30.0})`` is a frontal-light clean face turned 30 degrees.
    degrade:    True applies the camera in ``nuisance``; False skips it (full
                resolution, no blur, noise or compression); a dict overrides
                camera keys, e.g. ``{"resolution_px": 8, "blur_sigma": 1.0}``.
    render_size: internal drawing resolution, default ``max(64, 2 * image_size)``.
    """
    if not isinstance(identities, torch.Tensor) or identities.ndim != 2 or identities.shape[1] != NUM_IDENTITY_PARAMS:
        raise RIEInputError(
            f"identities must be a (N, {NUM_IDENTITY_PARAMS}) tensor from sample_identities, "
            f"got {getattr(identities, 'shape', type(identities).__name__)}"
        )
    if not identities.is_floating_point() or not torch.isfinite(identities).all():
        raise RIEInputError("identities must be finite floating-point values in [0, 1]")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise RIEInputError(f"image_size must be an integer >= 8, got {image_size!r}")
    render_size = max(64, 2 * image_size) if render_size is None else render_size
    if isinstance(render_size, bool) or not isinstance(render_size, int) or render_size < image_size:
        raise RIEInputError(f"render_size ({render_size!r}) must be an integer >= image_size ({image_size})")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise RIEInputError(f"chunk must be a positive integer, got {chunk!r}")
    n = identities.shape[0]
    params = neutral_nuisance(n, image_size)  # defaults for missing keys
    params.update(_broadcast_params(nuisance or {}, n))
    if degrade is False:
        params.update(resolution_px=torch.full((n,), float(image_size)), down_bilinear=torch.zeros(n),
                      blur_sigma=torch.zeros(n), noise_std=torch.zeros(n), jpeg_quality=torch.full((n,), 100.0))  # fmt: skip
    elif isinstance(degrade, dict):
        bad = set(degrade) - set(CAMERA_KEYS) - {"noise_seed"}
        if bad:
            raise RIEInputError(f"degrade may only set camera keys {list(CAMERA_KEYS)}, got {sorted(bad)}")
        params.update(_broadcast_params(degrade, n))
    elif degrade is not True:
        raise RIEInputError(f"degrade must be True, False or a dict of camera parameters, got {degrade!r}")
    res = params["resolution_px"]
    if n and (res.min() < 2 or res.max() > image_size or (res != res.round()).any()):
        raise RIEInputError(
            f"resolution_px must be whole pixels in [2, image_size={image_size}], got range "
            f"[{float(res.min()):g}, {float(res.max()):g}]"
        )
    if n and (params["blur_sigma"].min() < 0 or params["noise_std"].min() < 0):
        raise RIEInputError("blur_sigma and noise_std must be non-negative")
    if n and (params["jpeg_quality"].min() < 1 or params["jpeg_quality"].max() > 100):
        raise RIEInputError("jpeg_quality must lie in [1, 100]")
    if n and (params["scale"].min() <= 0):
        raise RIEInputError("scale must be positive")

    dev = torch.device(device) if device is not None else torch.device("cpu")
    images = torch.empty(n, 3, image_size, image_size, dtype=torch.uint8)
    boxes = torch.empty(n, 3, 4)
    occlusion = torch.empty(n)
    # Draw in chunks of `chunk`, average each drawing down to the output size at once
    # (no sensor is larger), and run the camera on up to ~50 MB of those at a time:
    # the camera works per sensor size, so bigger batches mean fewer, fuller groups.
    cam_chunk = max(chunk, min(4 * chunk, int(50e6 // (12 * image_size * image_size))))
    with torch.inference_mode():
        for c0 in range(0, n, cam_chunk):
            c1 = min(c0 + cam_chunk, n)
            scenes = torch.empty(c1 - c0, 3, image_size, image_size, device=dev)
            for s in range(c0, c1, chunk):
                sl = slice(s, min(s + chunk, c1))
                nz = {k: v[sl].to(dev) for k, v in params.items()}
                drawn, b, occ = _render.draw_faces(identities[sl].float().clamp(0, 1).to(dev), nz, render_size)
                scenes[s - c0:sl.stop - c0] = _render.downsize(drawn, image_size)
                boxes[sl] = ((b + 1) / 2 * image_size).clamp(0, image_size).cpu()
                occlusion[sl] = occ.cpu()
            nz = {k: v[c0:c1].to(dev) for k, v in params.items()}
            images[c0:c1] = _to_uint8(_render.camera(scenes, nz, image_size)).cpu()
    params["occlusion"] = occlusion
    return FaceBatch(images=images, params=params, boxes=boxes, difficulty=difficulty_score(params))


def raw_pixel_identification(tier="hr", n_identities: int = 10, images_per_id: int = 16, image_size: int = 32,
                             degrade: bool | dict = True, seed: int = 0) -> float:  # fmt: skip
    """How much identity the pixels themselves carry: nearest-centroid identification accuracy.

    Renders ``images_per_id`` images of each of ``n_identities`` people with
    nuisance from ``tier``; half of each person's images form their centroid
    (mean of raw pixels in [-1, 1]), the other half are classified by the nearest
    centroid. Chance is ``1 / n_identities``. No learning: a floor on what a
    model can find, and a check that degradation destroys identity.
    """
    if n_identities < 2 or images_per_id < 2:
        raise RIEInputError("need at least 2 identities and 2 images per identity")
    ids = sample_identities(n_identities, seed)
    labels = torch.arange(n_identities).repeat_interleave(images_per_id)
    nz = sample_nuisance(len(labels), seed + 1, tier, image_size)
    x = render(ids[labels], nz, image_size, degrade=degrade).to_float().flatten(1)
    fit = torch.arange(len(labels)) % images_per_id < images_per_id // 2
    centroids = torch.stack([x[fit & (labels == c)].mean(0) for c in range(n_identities)])
    pred = torch.cdist(x[~fit], centroids).argmin(1)
    return float((pred == labels[~fit]).float().mean())


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
    n = len(fs.images)
    ok = (
        fs.role == role and n == expected and fs.images.dtype == torch.uint8
        and tuple(fs.images.shape[1:]) == (3, image_size, image_size)
        and fs.labels.shape == (n,) and fs.difficulty.shape == (n,) and fs.boxes.shape == (n, 3, 4)
        and all(v.shape == (n,) for v in fs.params.values()) and "identity" in fs.params
    )  # fmt: skip
    if not ok:
        raise ValueError(f"stored {role!r} set does not have the expected contents ({expected} images of {image_size} px)")
    return fs


def cache_key(config: WorldConfig) -> str:
    """The cache folder name of a config: a hash of its fields and the generator version."""
    return f"world_{config_hash({'config': config.to_dict(), 'generator_version': GENERATOR_VERSION})}"


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
    folder = None if cache_dir is None else Path(cache_dir) / cache_key(config)
    stored_ok = False
    if folder is not None and (folder / "config.json").exists():
        try:
            stored_ok = json.loads((folder / "config.json").read_text()) == {
                "config": config.to_dict(), "generator_version": GENERATOR_VERSION}  # fmt: skip
        except (OSError, ValueError) as err:
            warnings.warn(f"cache config {folder / 'config.json'} is unreadable ({err}); rebuilding the world")
        if not stored_ok:
            warnings.warn(f"cache {folder} was made for another config; rebuilding it")
    reuse = stored_ok  # read role files only from a cache made for this very config
    world: dict[str, FaceSet] = {}
    people = None
    for role in ROLES:
        path = None if folder is None else folder / f"{role}.pt"
        if reuse and path.exists():
            try:
                state = torch.load(path, weights_only=True)
                world[role] = _face_set_from_state(state, role, sizes[role], config.image_size)
                continue
            except Exception as err:  # a truncated or tampered file: rebuild just this role
                warnings.warn(f"cache file {path} is corrupt ({type(err).__name__}: {str(err)[:200]}); rebuilding it")
        if people is None:
            people = _world_identities(config)
        if verbose:
            print(f"[synth] building {role}: {sizes[role]} images", flush=True)
        world[role] = _build_role(role, config, people)
        if folder is not None:
            if not stored_ok:
                folder.mkdir(parents=True, exist_ok=True)
                # config first, but marked only after it is complete (atomic)
                save_json({"config": config.to_dict(), "generator_version": GENERATOR_VERSION}, folder / "config.json")
                stored_ok = True
            state = world[role].state()
            atomic_write(path, lambda tmp, state=state: torch.save(state, tmp))
    return world
