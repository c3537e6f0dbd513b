"""Sampling: identity vectors, per-image nuisance and camera parameters drawn from a
tier, and the ground-truth difficulty those parameters give.

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

import math

import torch

from ...common.checks import RIEInputError
from .config import TIER_CODES, TIERS, TierConfig
from .draw.identity import NUM_IDENTITY_PARAMS


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
# Difficulty
# ---------------------------------------------------------------------------
DIFFICULTY_WEIGHTS = {"res": 0.40, "blur": 0.14, "noise": 0.10, "jpeg": 0.05, "occ": 0.12, "pose": 0.11, "light": 0.08}


def difficulty_terms(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The per-factor severities in [0, 1] that ``difficulty_score`` weighs (this module's docstring)."""
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
    """Ground-truth difficulty in [0, 1] from the nuisance and camera parameters (formula in this module's docstring)."""
    terms = difficulty_terms(params)
    return sum(DIFFICULTY_WEIGHTS[k] * terms[k] for k in DIFFICULTY_WEIGHTS).clamp(0, 1)
