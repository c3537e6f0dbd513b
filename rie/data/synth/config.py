"""The world's configuration: quality tiers (the ranges nuisance and camera are drawn
from), the role names and tier codes, and ``WorldConfig`` with the profiles' sizes.

A ``WorldConfig`` determines a generated world completely; its hash (with
``GENERATOR_VERSION``) is the cache key (:mod:`rie.data.synth.cache`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from ...common.checks import RIEInputError
from ...common.constants import WORLD_SIZES, check_profile

_DEFAULT = WORLD_SIZES["default"]  # WorldConfig() is the default profile's world: one place for its sizes

ROLES = ("pretrain", "train", "gallery", "probe", "distractor", "ui")
TIER_CODES = {"clean": 0, "hr": 1, "moderate": 2, "hard": 3, "ui": 4, "custom": 5}


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
    # TinyFace's easier half: 14-22 px, mild blur / noise, ordinary pose
    "moderate": TierConfig(
        resolution=(14, 22), blur_sigma=(0.1, 0.6), noise_std=(0.0, 0.03), jpeg_quality=(50, 95),
        yaw=30, pitch=15, roll=12, expression=0.8, light_strength=(0.0, 0.5), exposure=0.35,
        color_cast=0.08, grayscale_prob=0.05, occlusion_prob=0.05, occlusion_size=(0.25, 0.45),
        shift=0.05, scale=(0.92, 1.08), down_bilinear_prob=0.2,
    ),
    # TinyFace's hard half: 8-11 px sensors, but the nuisance of ordinary photographs (mild blur, noise,
    # pose and light): hard but recognisable. Calibrated (notebook 02's table) so that the fine-tuned
    # ArcFace baseline finds 15-25 % of these probes at rank 1 and 40-70 % of the moderate ones; with the
    # UI tier's nuisance at these sizes it found under 1 %, and no method could improve on chance.
    "hard": TierConfig(
        resolution=(8, 11), blur_sigma=(0.4, 0.9), noise_std=(0.02, 0.06), jpeg_quality=(40, 90),
        yaw=35, pitch=20, roll=15, expression=0.8, light_strength=(0.2, 0.6), exposure=0.4,
        color_cast=0.08, grayscale_prob=0.05, occlusion_prob=0.15, occlusion_size=(0.25, 0.45),
        shift=0.06, scale=(0.9, 1.1), down_bilinear_prob=0.2,
    ),
    # LPW / MARS detections: unrecognisable faces of unseen people (at most twice chance as probes of
    # their own identities, notebook 02's table)
    "ui": TierConfig(
        resolution=(6, 8), blur_sigma=(1.0, 2.4), noise_std=(0.05, 0.15), jpeg_quality=(10, 45),
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
    pretrain_identities: int = _DEFAULT["pretrain_identities"]
    pretrain_images_per_id: int = _DEFAULT["pretrain_images_per_id"]
    train_identities: int = _DEFAULT["train_identities"]
    train_images_per_id: int = _DEFAULT["train_images_per_id"]
    test_identities: int = _DEFAULT["test_identities"]
    gallery_per_id: int = _DEFAULT["gallery_per_id"]
    probe_per_id: int = _DEFAULT["probe_per_id"]
    distractor_identities: int = _DEFAULT["distractor_identities"]
    distractor_images_per_id: int = _DEFAULT["distractor_images_per_id"]
    ui_images: int = _DEFAULT["ui_images"]
    ui_images_per_id: int = _DEFAULT["ui_images_per_id"]
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

