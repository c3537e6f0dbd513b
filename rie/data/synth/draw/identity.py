"""Identity parameters: every entry of an identity vector is drawn uniformly in [0, 1]
and decoded here into geometry (image units) and colours."""

from __future__ import annotations

import torch

IDENTITY_PARAMS = (
    "face_width", "face_height", "jaw", "skin_tone", "skin_warmth",
    "hair_color", "hair_length", "hair_volume", "hairline", "hair_part",
    "eye_spacing", "eye_size", "eye_height", "iris_color",
    "brow_thickness", "brow_slant", "brow_height", "brow_arch",
    "nose_length", "nose_width",
    "mouth_width", "mouth_thickness", "mouth_height", "lip_color",
    "ear_size", "glasses", "glasses_style", "beard", "beard_style",
)  # fmt: skip
NUM_IDENTITY_PARAMS = len(IDENTITY_PARAMS)
GLASSES_THRESHOLD = 0.72  # identities with glasses > this wear glasses (28 %)
BEARD_THRESHOLD = 0.70  # identities with beard > this have facial hair (30 %)

# Skin runs continuously from light to dark; hair, iris and frame colours are a
# few shared categories, so many people share them and colour alone is a weak
# identity cue (as in real faces) once geometry is blurred away.
SKIN = torch.tensor([[0.98, 0.84, 0.74], [0.93, 0.74, 0.60], [0.80, 0.58, 0.42],
                     [0.63, 0.43, 0.30], [0.44, 0.29, 0.19], [0.28, 0.18, 0.12]])  # fmt: skip
HAIR = torch.tensor([[0.07, 0.06, 0.05], [0.22, 0.13, 0.07], [0.42, 0.27, 0.13], [0.80, 0.64, 0.36],
                     [0.55, 0.22, 0.09], [0.60, 0.60, 0.61], [0.90, 0.89, 0.86]])  # fmt: skip
IRIS = torch.tensor([[0.33, 0.20, 0.09], [0.16, 0.10, 0.05], [0.45, 0.37, 0.16],
                     [0.25, 0.47, 0.26], [0.28, 0.48, 0.80], [0.46, 0.53, 0.60]])  # fmt: skip
FRAME = torch.tensor([[0.05, 0.05, 0.05], [0.35, 0.20, 0.10], [0.70, 0.70, 0.74], [0.55, 0.08, 0.10]])

FACE_CY = 0.08  # vertical centre of the face oval in the (aligned) crop


def _pick(palette: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A palette row for t in [0, 1] and the fractional position inside its bin."""
    k = palette.shape[0]
    pos = t.clamp(0, 1 - 1e-6) * k
    idx = pos.long()
    return palette.to(t.device)[idx], pos - idx


def decode_identity(theta: torch.Tensor) -> dict[str, torch.Tensor]:
    """Turn (N, P) identity vectors in [0, 1] into geometry (image units) and colours."""
    p = {name: theta[:, i] for i, name in enumerate(IDENTITY_PARAMS)}
    g: dict[str, torch.Tensor] = {}
    g["fw"] = 0.50 + 0.14 * p["face_width"]  # half width of the face oval
    g["fh"] = 0.68 + 0.14 * p["face_height"]  # half height
    g["jaw"] = 0.05 + 0.40 * p["jaw"]  # how much the oval narrows towards the chin
    # skin: interpolate along the light-to-dark palette, then warm/cool it a little
    pos = p["skin_tone"].clamp(0, 1) * (SKIN.shape[0] - 1)
    lo = pos.floor().long().clamp(max=SKIN.shape[0] - 2)
    f = (pos - lo)[:, None]
    skin_pal = SKIN.to(theta.device)
    skin = skin_pal[lo] * (1 - f) + skin_pal[lo + 1] * f
    warm = (p["skin_warmth"] - 0.5)[:, None] * torch.tensor([0.06, 0.0, -0.06], device=theta.device)
    g["skin"] = (skin + warm).clamp(0, 1)
    hair, frac = _pick(HAIR, p["hair_color"])
    g["hair"] = (hair * (0.85 + 0.3 * frac[:, None])).clamp(0, 1)
    g["hair_len"] = p["hair_length"]
    g["hair_vol"] = p["hair_volume"]
    g["hairline"] = 0.45 + 0.30 * p["hairline"]  # fraction of fh above the centre: higher = more forehead
    g["hair_part"] = 0.5 * (p["hair_part"] - 0.5)
    g["eye_dx"] = g["fw"] * (0.40 + 0.14 * p["eye_spacing"])
    g["ew"] = 0.085 + 0.045 * p["eye_size"]
    g["eh"] = g["ew"] * 0.48
    g["ey"] = FACE_CY - g["fh"] * (0.05 + 0.15 * p["eye_height"])
    g["iris"], _ = _pick(IRIS, p["iris_color"])
    g["brow_t"] = 0.016 + 0.028 * p["brow_thickness"]
    g["brow_slant"] = 0.7 * (p["brow_slant"] - 0.5)
    g["brow_gap"] = 0.05 + 0.07 * p["brow_height"]
    g["brow_arch"] = 2.5 * p["brow_arch"]
    g["nose_len"] = 0.22 + 0.16 * p["nose_length"]
    g["nw"] = 0.065 + 0.055 * p["nose_width"]
    g["mw"] = 0.15 + 0.10 * p["mouth_width"]
    g["mt"] = 0.022 + 0.032 * p["mouth_thickness"]
    g["mouth_gap"] = 0.13 + 0.12 * p["mouth_height"]
    red = torch.tensor([0.75, 0.25, 0.28], device=theta.device)
    lip_mix = (0.25 + 0.45 * p["lip_color"])[:, None]
    g["lip"] = g["skin"] * 0.8 * (1 - lip_mix) + red * lip_mix
    g["ear"] = 0.09 + 0.05 * p["ear_size"]
    g["glasses"] = (p["glasses"] > GLASSES_THRESHOLD).float()
    g["frame"], frac = _pick(FRAME, p["glasses_style"])
    g["lens_round"] = 0.75 + 0.4 * frac
    g["beard"] = (p["beard"] > BEARD_THRESHOLD).float()
    g["beard_style"] = p["beard_style"]
    return g

