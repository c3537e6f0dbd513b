"""Vectorised drawing of procedural faces, and the camera that degrades them.

This module holds the pixel work behind :mod:`rie.data.synth`; use that module's
``render`` rather than these functions directly.

Coordinates: every image lives on the square ``[-1, 1] x [-1, 1]`` (x to the
right, y *down*), whatever its pixel size, so a face drawn at 224 px and the
same face at 8 px share one geometry. A face is a stack of soft implicit shapes
(ellipses, some sheared or bent) composited back to front on a whole batch at
once: background, long hair, shoulders, neck, ears, face oval, beard, nose,
mouth, eyes, brows, fringe, glasses, occluder. Each shape is an alpha map with a
one-pixel soft edge, blended with ``lerp_``; most shapes are separable in x and
y, so the per-pixel work is a couple of broadcast adds.

Pose is drawn as a 3-D effect on a 2-D face: yaw and pitch move each feature by
``depth * sin(angle)`` (the nose moves most, the ears least, the far eye gets
narrower); roll, crop shift and zoom are one affine warp of the finished
drawing, applied by the camera. Illumination is a Lambertian shading of the
head seen as a flattened ellipsoid, plus a gradient over the background.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# Identity parameters: every entry is drawn uniformly in [0, 1] and decoded here.
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# Soft shapes, computed only inside the window that can hold them
# ---------------------------------------------------------------------------
def _col(v: torch.Tensor) -> torch.Tensor:
    """(N,) -> (N, 1, 1) for broadcasting against (N, h, w) maps."""
    return v[:, None, None]


class Alpha:
    """A soft mask ``a`` (N, h, w) that is zero outside the pixel window starting at (r0, c0).

    Small features (an eye, a nostril) only touch a few percent of the image;
    computing them in the window that holds the feature for every image of the
    batch is what makes drawing fast.
    """

    __slots__ = ("a", "r0", "c0")

    def __init__(self, a: torch.Tensor, r0: int, c0: int):
        self.a, self.r0, self.c0 = a, r0, c0

    @property
    def r1(self) -> int:
        return self.r0 + self.a.shape[1]

    @property
    def c1(self) -> int:
        return self.c0 + self.a.shape[2]

    def crop(self, r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        return self.a[:, r0 - self.r0:r1 - self.r0, c0 - self.c0:c1 - self.c0]

    def __mul__(self, other) -> "Alpha":
        """Product with another Alpha (on the intersection of the windows) or a per-image weight."""
        if isinstance(other, Alpha):
            r0, r1 = max(self.r0, other.r0), min(self.r1, other.r1)
            c0, c1 = max(self.c0, other.c0), min(self.c1, other.c1)
            r1, c1 = max(r0, r1), max(c0, c1)
            return Alpha(self.crop(r0, r1, c0, c1) * other.crop(r0, r1, c0, c1), r0, c0)
        return Alpha(self.a * other, self.r0, self.c0)

    def rows(self, v: torch.Tensor) -> "Alpha":
        """Multiply by a full-height column map v (N, R, 1), e.g. a soft horizontal edge."""
        return Alpha(self.a * v[:, self.r0:self.r1], self.r0, self.c0)

    def full(self, size: int) -> torch.Tensor:
        out = self.a.new_zeros(self.a.shape[0], size, size)
        out[:, self.r0:self.r1, self.c0:self.c1] = self.a
        return out


class Canvas:
    """An R x R pixel grid on the [-1, 1] square, and soft shapes on it."""

    def __init__(self, size: int, device: torch.device):
        lin = (torch.arange(size, device=device, dtype=torch.float32) + 0.5) / size * 2 - 1
        self.x = lin.view(1, 1, size)  # broadcasts along rows
        self.y = lin.view(1, size, 1)  # broadcasts along columns
        self.size = size
        self.px = 2.0 / size  # one pixel in image units: the width of every soft edge

    def window(self, x0, x1, y0, y1) -> tuple[int, int, int, int]:
        """Pixel rows/cols (r0, r1, c0, c1) covering [x0, x1] x [y0, y1] for every image, plus a margin."""
        def lo(v):
            return min(max(int(math.floor((float(v.min()) + 1) / self.px)) - 2, 0), self.size)

        def hi(v):
            return max(min(int(math.ceil((float(v.max()) + 1) / self.px)) + 2, self.size), 0)

        r0, c0 = lo(y0), lo(x0)
        return r0, max(r0, hi(y1)), c0, max(c0, hi(x1))

    def ellipse(self, cx, cy, ax, ay, shear=None, bend=None) -> Alpha:
        """Soft alpha of the ellipse ((x-cx)/ax)^2 + ((y-cy')/ay)^2 <= 1, edge about one pixel wide.

        ``shear`` tilts it (cy' = cy + shear*(x-cx)); ``bend`` curves it
        (cy' += bend*(x-cx)^2, negative bends the ends up, like a smile).
        """
        ax = ax.clamp(min=1e-3)
        ay = ay.clamp(min=1e-3)
        ext = ay.clone()
        if shear is not None:
            ext = ext + shear.abs() * ax
        if bend is not None:
            ext = ext + bend.abs() * ax * ax
        r0, r1, c0, c1 = self.window(cx - ax, cx + ax, cy - ext, cy + ext)
        x, y = self.x[:, :, c0:c1], self.y[:, r0:r1]
        dx = x - _col(cx)  # (N, 1, w)
        tx = (dx / _col(ax)) ** 2
        dy = y - _col(cy)  # (N, h, 1)
        if shear is not None or bend is not None:
            off = 0.0
            if shear is not None:
                off = off + _col(shear) * dx
            if bend is not None:
                off = off + _col(bend) * dx * dx
            dy = dy - off  # (N, h, w)
        ty = (dy / _col(ay)) ** 2
        # slope so that alpha goes 1 -> 0 over about one pixel across the boundary
        s = _col(torch.minimum(ax, ay) / (2 * self.px))
        return Alpha((s * (1 - tx) + 0.5 - s * ty).clamp_(0, 1), r0, c0)

    def ramp(self, coord, edge, sign: float = 1.0) -> torch.Tensor:
        """Soft half-plane: 1 where sign*(coord - edge) > 0, one pixel wide transition."""
        return (sign * (coord - edge) / self.px + 0.5).clamp(0, 1)


def _paint(img: torch.Tensor, color: torch.Tensor, alpha: Alpha, opacity=None, idx=None) -> None:
    """Composite a flat-coloured layer (colour (N, 3)) with an Alpha over img in place.

    With ``idx`` the layer belongs to those images only (alpha, colour and
    opacity then have len(idx) rows): only their window is read and written back.
    """
    a = alpha.a
    if a.numel() == 0:
        return
    if opacity is not None:
        a = a * _col(opacity)
    view = img[:, :, alpha.r0:alpha.r1, alpha.c0:alpha.c1]
    if idx is None:
        view.lerp_(color[:, :, None, None].expand_as(view), a.unsqueeze(1))
    else:
        region = view[idx]
        region.lerp_(color[:, :, None, None].expand_as(region), a.unsqueeze(1))
        view[idx] = region


def _on_subset(mask: torch.Tensor, draw) -> None:
    """Run draw(idx) for the images where mask is true only (rare layers: beards, glasses, occluders)."""
    idx = mask.nonzero().flatten()
    if idx.numel():
        draw(idx)


# ---------------------------------------------------------------------------
# The face
# ---------------------------------------------------------------------------
def draw_faces(theta: torch.Tensor, nz: dict[str, torch.Tensor], size: int):
    """Draw N faces at size x size.

    Returns ``(img, boxes, occlusion)``: img (N, 3, size, size) float in [0, 1],
    boxes (N, 3, 4) of eyes / nose / mouth as (x0, y0, x1, y1) in image units
    after the roll/shift/zoom warp, and the fraction of the face oval hidden by
    the occluder.
    """
    n, dev = theta.shape[0], theta.device
    g = decode_identity(theta)
    cv = Canvas(size, dev)
    X, Y = cv.x, cv.y
    ones = torch.ones(n, device=dev)
    zeros = torch.zeros(n, device=dev)
    fw, fh = g["fw"], g["fh"]
    cy = FACE_CY * ones

    yaw = torch.deg2rad(nz["yaw"])
    pitch = torch.deg2rad(nz["pitch"])
    sy, cyw = torch.sin(yaw), torch.cos(yaw)
    sp, cp = torch.sin(pitch), torch.cos(pitch)

    def px_(x, depth):  # x position of a feature at (x, depth*fw) after yaw
        return x * cyw + depth * fw * sy

    def py_(y, depth):  # y position after pitch (positive pitch = looking down)
        return cy + (y - cy) * cp + depth * fw * sp * 0.8

    def width_scale(x):  # foreshortening of a feature at horizontal position x
        a = torch.asin((x / fw).clamp(-0.95, 0.95))
        return (torch.cos(a + yaw) / torch.cos(a)).clamp(0.25, 1.3)

    smile, mopen, squint = nz["smile"], nz["mouth_open"], nz["squint"]

    # --- background: base colour, a gradient and a plaid of two sinusoids
    # (colours are pulled towards their grey: walls and sky are rarely saturated)
    bg = torch.stack([nz["bg_r"], nz["bg_g"], nz["bg_b"]], 1)
    bg = 0.45 * bg + 0.55 * bg.mean(1, keepdim=True)
    freq = 1 + 5 * nz["bg_freq"]
    pat = (torch.sin(math.pi * _col(freq) * X + _col(nz["bg_phase"]))
           + torch.sin(math.pi * _col(freq * 0.7) * Y + _col(2 * nz["bg_phase"])))  # fmt: skip
    pat = 1 + _col(nz["bg_texture"]) * 0.12 * pat + 0.25 * (Y - 0.5 * X) * _col(nz["bg_texture"] - 0.5)
    img = bg[:, :, None, None] * pat.unsqueeze(1)

    # --- long hair behind the head (length > 0.35 reaches below the ears)
    hair = g["hair"]
    # short hair hugs the skull; longer hair gets its own volume
    short = ((g["hair_len"] - 0.06) / 0.25).clamp(0, 1)
    vol = 1.01 + (0.02 + 0.14 * g["hair_vol"]) * short
    hcx = px_(zeros, -0.2)
    long_len = (g["hair_len"] - 0.35).clamp(min=0)
    top = cy - fh * vol
    bottom = cy - 0.2 + 2.6 * long_len
    back = cv.ellipse(hcx, (top + bottom) / 2, fw * (vol + 0.12), (bottom - top) / 2)
    _paint(img, hair * 0.85, back, opacity=(long_len > 0).float())

    # --- shoulders (clothes are per image: a nuisance) and neck
    cloth = torch.stack([nz["cloth_r"], nz["cloth_g"], nz["cloth_b"]], 1)
    _paint(img, cloth, cv.ellipse(0.3 * px_(zeros, 0.3), 1.55 * ones, 1.05 * ones, 0.72 * ones))
    skin = g["skin"]
    _paint(img, skin * 0.72, cv.ellipse(px_(zeros, 0.1) * 0.6, cy + fh * 0.95, fw * 0.52, 0.5 * ones))

    # --- ears at the sides, drawn before the face so a turned head hides one
    ear_y = py_(g["ey"] + 0.12, 0.0)
    for side in (-1.0, 1.0):
        ex = px_(side * fw * 0.97, -0.25)
        ear = cv.ellipse(ex, ear_y, g["ear"] * 0.55 * width_scale(side * fw * 0.9), g["ear"])
        _paint(img, skin * 0.85, ear)

    # --- face oval, narrowing towards the chin (jaw) and slightly at the forehead
    fcx = px_(zeros, 0.05)
    r0, r1, c0, c1 = cv.window(fcx - fw, fcx + fw, cy - fh, cy + fh)
    dy_face = (Y[:, r0:r1] - _col(cy)) / _col(fh)  # (N, h, 1)
    taper = 1 - _col(g["jaw"]) * dy_face.clamp(min=0) ** 2 - 0.08 * (-dy_face).clamp(min=0)
    tx = ((X[:, :, c0:c1] - _col(fcx)) / (_col(fw) * taper.clamp(min=0.2))) ** 2
    face = Alpha((_col(fw / (2 * cv.px)) * (1 - tx - dy_face**2) + 0.5).clamp_(0, 1), r0, c0)
    _paint(img, skin, face)

    # feature anchor positions after pose
    ey = py_(g["ey"], 0.75)
    eye_x = [px_(-g["eye_dx"], 0.75), px_(g["eye_dx"], 0.75)]
    eye_w = [g["ew"] * width_scale(-g["eye_dx"]), g["ew"] * width_scale(g["eye_dx"])]
    tip_y = py_(g["ey"] + g["nose_len"], 1.15)
    tip_x = px_(zeros, 1.15)
    bridge_x = px_(zeros, 0.95)
    my_rest = g["ey"] + g["nose_len"] + g["mouth_gap"]
    my_rest = torch.minimum(my_rest, cy + fh * 0.78 - g["mt"])
    mx, my = px_(zeros, 0.85), py_(my_rest, 0.85)
    mw = g["mw"] * (1 + 0.15 * smile) * width_scale(zeros)
    bend = -smile * 0.6 / g["mw"]  # corners up when smiling

    # --- facial hair: full beard, goatee or moustache in the hair colour
    style = g["beard_style"]
    beard_col = hair * 0.9
    cheek_y = (tip_y + my) / 2 - 0.06

    def draw_beard(i):
        full = (style[i] > 0.66).float()
        goatee = ((style[i] > 0.33) & (style[i] <= 0.66)).float()
        sub_face = Alpha(face.a[i], face.r0, face.c0)
        _paint(img, beard_col[i], sub_face.rows(cv.ramp(Y, _col(cheek_y[i]))), opacity=full * 0.92, idx=i)
        chin = cv.ellipse(mx[i], my[i] + g["mt"][i] + 0.1, g["mw"][i] * 0.6, 0.15 * ones[i]) * sub_face
        _paint(img, beard_col[i], chin, opacity=goatee * 0.92, idx=i)
        stache = cv.ellipse(mx[i], (tip_y[i] + my[i]) / 2 + 0.02, g["mw"][i] * 1.05, 0.035 * ones[i],
                            bend=bend[i] * 0.5)  # fmt: skip
        _paint(img, beard_col[i], stache, opacity=0.92 * ones[i], idx=i)

    _on_subset(g["beard"] > 0, draw_beard)

    # --- nose: shadow along the bridge, tip, the shadow below it and two nostrils
    nw = g["nw"]
    light_x = torch.cos(torch.deg2rad(nz["light_dir"]))
    shadow_side = torch.where((nz["light_strength"] > 0.05) & (light_x > 0), -ones, ones)
    bridge = cv.ellipse((bridge_x + tip_x) / 2 + shadow_side * nw * 0.55, (ey + tip_y) / 2,
                        nw * 0.28, (tip_y - ey) / 2)  # fmt: skip
    _paint(img, skin * 0.78, bridge, opacity=0.55 * ones)
    _paint(img, skin * 0.72, cv.ellipse(tip_x, tip_y + nw * 0.42, nw * 1.05, nw * 0.32), opacity=0.6 * ones)
    _paint(img, (skin * 1.08).clamp(max=1), cv.ellipse(tip_x, tip_y - nw * 0.1, nw * 0.7, nw * 0.5),
           opacity=0.45 * ones)  # fmt: skip
    for side in (-1.0, 1.0):
        nostril = cv.ellipse(tip_x + side * nw * 0.55, tip_y + nw * 0.22, nw * 0.3, nw * 0.19)
        _paint(img, skin * 0.3, nostril, opacity=0.85 * ones)

    # --- mouth: lips, the dark opening with teeth, or the line between the lips
    lip_h = g["mt"] + mopen * 0.05
    _paint(img, g["lip"], cv.ellipse(mx, my, mw, lip_h, bend=bend))
    inner_h = mopen * 0.055
    is_open = mopen > 0.05

    def draw_open_mouth(i):
        inner = cv.ellipse(mx[i], my[i], mw[i] * 0.78, inner_h[i], bend=bend[i])
        _paint(img, torch.tensor([0.25, 0.06, 0.06], device=dev).expand(len(i), 3), inner, idx=i)
        teeth = cv.ellipse(mx[i], my[i] - inner_h[i] * 0.55, mw[i] * 0.6, inner_h[i] * 0.4, bend=bend[i]) * inner
        _paint(img, torch.tensor([0.92, 0.90, 0.85], device=dev).expand(len(i), 3), teeth, idx=i)

    _on_subset(is_open, draw_open_mouth)
    line = cv.ellipse(mx, my, mw * 0.95, 0.016 * ones, bend=bend)
    _paint(img, g["lip"] * 0.45, line, opacity=(1 - mopen).clamp(0, 1) * 0.9 * (~is_open).float())

    # --- eyes: lash outline, white, iris, pupil, clipped by the (squinting) lids
    eh = g["eh"] * (1 - 0.65 * squint)
    white = torch.tensor([0.94, 0.93, 0.90], device=dev).expand(n, 3)
    lash = (hair * 0.3 + 0.04).clamp(max=0.2)
    gaze = torch.sin(yaw) * 0.25  # the eyes look at the camera a little
    ir = g["eh"] * 0.95
    for ex, ew in zip(eye_x, eye_w):
        _paint(img, lash, cv.ellipse(ex, ey - eh * 0.2, ew * 1.12, eh * 1.3 + 0.006))
        sclera = cv.ellipse(ex, ey, ew, eh)
        _paint(img, white, sclera)
        ix = ex - gaze * ew
        _paint(img, g["iris"], cv.ellipse(ix, ey, ir * width_scale(ex).clamp(0.5, 1), ir) * sclera)
        _paint(img, 0.05 * torch.ones_like(white), cv.ellipse(ix, ey, ir * 0.48, ir * 0.48) * sclera)

    # --- brows: thick sheared arcs in a darker hair colour
    brow_col = torch.where(g["hair"].sum(1, keepdim=True) > 2.0, hair * 0.6, hair * 0.8)
    by = ey - g["eh"] - g["brow_gap"] - 0.5 * g["brow_t"]
    for side, ex, ew in zip((1.0, -1.0), eye_x, eye_w):
        brow = cv.ellipse(ex + side * 0.1 * ew, by, ew * 1.3, g["brow_t"],
                          shear=side * g["brow_slant"], bend=g["brow_arch"])  # fmt: skip
        _paint(img, brow_col, brow)

    # --- hair on top: a cap bounded below by a curved, parted hairline
    cap = cv.ellipse(hcx, cy - 0.04, fw * vol, fh * vol * 0.98)
    dxh = X[:, :, cap.c0:cap.c1] - _col(px_(zeros, 0.6))
    line_y = _col(py_(cy - fh * g["hairline"], 0.6)) + _col(g["hair_part"]) * dxh + 1.4 * dxh**2  # temples lower
    below = ((line_y - Y[:, cap.r0:cap.r1]) / cv.px + 0.5).clamp_(0, 1)
    _paint(img, hair, Alpha(cap.a * below, cap.r0, cap.c0), opacity=(g["hair_len"] > 0.06).float())  # else bald

    # --- glasses: two rings, a bridge, arms to the ears and a faint tint
    def draw_glasses(i):
        k = len(i)
        th = 0.024
        frame = g["frame"][i]
        gx = [eye_x[0][i], eye_x[1][i]]
        gw = [eye_w[0][i], eye_w[1][i]]
        gy = ey[i]
        for ex, ew in zip(gx, gw):
            ax_, ay_ = ew * 1.6, g["ew"][i] * 1.15 * g["lens_round"][i]
            outer = cv.ellipse(ex, gy + 0.01, ax_, ay_)
            inner = cv.ellipse(ex, gy + 0.01, ax_ - th, ay_ - th)
            _paint(img, torch.tensor([0.62, 0.72, 0.80], device=dev).expand(k, 3), inner, 0.15 * ones[i], idx=i)
            ring = Alpha(outer.a.clone(), outer.r0, outer.c0)
            ring.a[:, inner.r0 - outer.r0:inner.r1 - outer.r0, inner.c0 - outer.c0:inner.c1 - outer.c0] -= inner.a
            ring.a.clamp_(0, 1)
            _paint(img, frame, ring, idx=i)
        half_gap = ((gx[1] - gw[1] * 1.6) - (gx[0] + gw[0] * 1.6)).clamp(min=0.02) / 2 + 0.01
        _paint(img, frame, cv.ellipse((gx[0] + gx[1]) / 2, gy - 0.02, half_gap, 0.013 * ones[i]), idx=i)
        for side, ex, ew in ((-1.0, gx[0], gw[0]), (1.0, gx[1], gw[1])):
            start = ex + side * ew * 1.6
            end = px_(side * fw, -0.1)[i]
            arm_half = ((end - start) * side).clamp(min=0) / 2
            _paint(img, frame, cv.ellipse((start + end) / 2, gy - 0.02, arm_half, 0.012 * ones[i]),
                   opacity=(arm_half > 0.01).float(), idx=i)  # fmt: skip

    _on_subset(g["glasses"] > 0, draw_glasses)

    # --- occluder: 1 = block, 2 = scarf over the lower face, 3 = a hand
    kind = nz["occluder"]
    occlusion = zeros.clone()

    def draw_occluder(i):
        k, kd = len(i), kind[i]
        size_o, ox, oy = nz["occ_size"][i], nz["occ_x"][i], nz["occ_y"][i]
        hw, hh = size_o * 0.75, size_o * 0.55
        block = (cv.ramp(X, _col(ox - hw)) * cv.ramp(X, _col(ox + hw), -1.0)
                 * cv.ramp(Y, _col(oy - hh)) * cv.ramp(Y, _col(oy + hh), -1.0))  # fmt: skip
        top_s = _col(my[i] - 0.05 - 0.35 * size_o) + 0.25 * (X - _col(ox * 0.3)) ** 2
        scarf = ((Y - top_s) / cv.px + 0.5).clamp(0, 1) * cv.ellipse(
            fcx[i], cy[i] + 0.5, fw[i] * 1.25, 0.9 * ones[i]).full(size)
        hand = cv.ellipse(ox, oy, size_o * 0.55, size_o * 0.8, shear=0.6 * (nz["occ_g"][i] - 0.4)).full(size)
        occ = torch.where(_col(kd == 1), block, torch.where(_col(kd == 2), scarf, hand))
        color = torch.stack([nz["occ_r"][i], nz["occ_g"][i], nz["occ_b"][i]], 1)
        color = torch.where((kd == 3)[:, None], skin[i] * 0.95, color)
        # a hand or a scarf has texture: fingers / folds as stripes
        stripes = 1 + 0.12 * torch.sin(X * 14 * math.pi) * _col((kd >= 2).float())
        sub = img[i]
        sub.lerp_(color[:, :, None, None] * stripes.unsqueeze(1), occ.unsqueeze(1))
        img[i] = sub
        f = face.a[i]
        hidden = (f * occ[:, face.r0:face.r1, face.c0:face.c1]).sum((1, 2))
        occlusion[i] = hidden / f.sum((1, 2)).clamp(min=1e-6)

    _on_subset(kind > 0, draw_occluder)

    # --- illumination: Lambert shading of the head (a flattened ellipsoid) and
    # a gradient over the background; ambient 0.45 keeps the dark side visible
    theta_l = torch.deg2rad(nz["light_dir"])
    elev = nz["light_strength"].clamp(0, 1) * math.radians(78)
    lx, ly, lz = torch.sin(elev) * torch.cos(theta_l), torch.sin(elev) * torch.sin(theta_l), torch.cos(elev)
    bgx = 0.3 * torch.sin(elev) * torch.cos(theta_l)
    bgy = 0.3 * torch.sin(elev) * torch.sin(theta_l)
    shade = 1 + _col(bgx) * X + _col(bgy) * Y  # (N, R, R)
    hax, hay, hcy = fw * 1.12, fh * 1.1, cy - 0.05
    r0, r1, c0, c1 = cv.window(fcx - hax, fcx + hax, hcy - hay, hcy + hay)
    hx = (X[:, :, c0:c1] - _col(fcx)) / _col(hax)
    hy = (Y[:, r0:r1] - _col(hcy)) / _col(hay)
    q = hx * hx + hy * hy
    nzh = (1 - 0.5 * q).clamp_(min=0).sqrt_()
    head = (_col(lx * 0.7) * hx + _col(ly * 0.7) * hy + _col(lz) * nzh).clamp_(min=0).mul_(0.55).add_(0.45)
    mask = ((1 - q) * _col(fw / cv.px) * 0.5 + 0.5).clamp_(0, 1)
    win = shade[:, r0:r1, c0:c1]
    win += (head - win) * mask
    img.mul_(shade.unsqueeze(1))

    # --- boxes (before the warp, image units)
    eyes_box = torch.stack([eye_x[0] - eye_w[0] * 1.12, ey - eh * 1.5 - 0.01,
                            eye_x[1] + eye_w[1] * 1.12, ey + eh + 0.01], 1)  # fmt: skip
    nose_x0 = torch.minimum(tip_x - nw * 1.05, bridge_x - nw)
    nose_x1 = torch.maximum(tip_x + nw * 1.05, bridge_x + nw)
    nose_box = torch.stack([nose_x0, ey + g["eh"], nose_x1, tip_y + nw * 0.75], 1)
    lift = (-bend).clamp(min=0) * mw * mw
    mouth_box = torch.stack([mx - mw, my - lip_h - lift, mx + mw, my + lip_h], 1)
    boxes = torch.stack([eyes_box, nose_box, mouth_box], 1)

    # the crop (roll, zoom, shift) is applied to the image by the camera, at sensor resolution
    return img.clamp_(0, 1), warp_boxes(boxes, nz), occlusion


def _affine(nz: dict[str, torch.Tensor]):
    """The crop transform: a face point p goes to ``scale * Rot(roll) p + shift`` (image units)."""
    r = torch.deg2rad(nz["roll"])
    c, s = torch.cos(r), torch.sin(r)
    fwd = torch.stack([torch.stack([c, -s], 1), torch.stack([s, c], 1)], 1) * nz["scale"][:, None, None]
    t = torch.stack([nz["shift_x"], nz["shift_y"]], 1)
    return fwd, t


def warp_boxes(boxes: torch.Tensor, nz: dict[str, torch.Tensor]) -> torch.Tensor:
    """Map (N, K, 4) boxes through the crop transform: the axis-aligned box around the moved corners."""
    fwd, t = _affine(nz)
    x0, y0, x1, y1 = boxes.unbind(-1)
    corners = torch.stack([torch.stack([x0, y0], -1), torch.stack([x1, y0], -1),
                           torch.stack([x0, y1], -1), torch.stack([x1, y1], -1)], 2)  # (N, K, 4, 2) fmt: skip
    moved = torch.einsum("nij,nkcj->nkci", fwd, corners) + t[:, None, None, :]
    return torch.cat([moved.amin(2), moved.amax(2)], -1)


def warp_images(img: torch.Tensor, nz: dict[str, torch.Tensor]) -> torch.Tensor:
    """Rotate by roll, zoom by scale and shift: the face detector's imprecise crop, at any resolution.

    The sampling grid is built by broadcasting (output pixel -> face point, the
    inverse transform), then one bilinear ``grid_sample`` with mirrored borders.
    """
    if bool((nz["roll"] == 0).all() & (nz["shift_x"] == 0).all() & (nz["shift_y"] == 0).all()
            & (nz["scale"] == 1).all()):  # fmt: skip
        return img
    n, _, h, w = img.shape
    fwd, t = _affine(nz)
    inv = torch.linalg.inv(fwd)
    xo = ((torch.arange(w, device=img.device) + 0.5) / w * 2 - 1).view(1, 1, w) - _col(t[:, 0])
    yo = ((torch.arange(h, device=img.device) + 0.5) / h * 2 - 1).view(1, h, 1) - _col(t[:, 1])
    gx = _col(inv[:, 0, 0]) * xo + _col(inv[:, 0, 1]) * yo
    gy = _col(inv[:, 1, 0]) * xo + _col(inv[:, 1, 1]) * yo
    grid = torch.stack([gx, gy], -1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


# ---------------------------------------------------------------------------
# The camera: sampling, optics, sensor, compression
# ---------------------------------------------------------------------------
_NOISE_BANK: dict[str, torch.Tensor] = {}
NOISE_BANK_SIZE = 1 << 21


def seeded_normal(seed: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Standard normal noise of shape (N, *shape) that depends only on each image's integer seed.

    Each image reads a window of a fixed bank of 2M normals (drawn once from
    seed 0) at an offset given by its seed, so an image's noise is the same in
    whatever batch or chunk it is rendered, at the cost of a gather.
    """
    count = math.prod(shape)
    key = str(seed.device)
    if key not in _NOISE_BANK:
        bank = torch.randn(NOISE_BANK_SIZE, generator=torch.Generator().manual_seed(0))
        _NOISE_BANK[key] = bank.to(seed.device)
    bank = _NOISE_BANK[key]
    if count > NOISE_BANK_SIZE // 4:
        raise ValueError(f"noise for {shape} needs more than the bank holds; render smaller sensor images")
    offset = seed.long() % (NOISE_BANK_SIZE - count)
    idx = offset[:, None] + torch.arange(count, device=seed.device)[None, :]
    return bank[idx].view(seed.shape[0], *shape)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image of x (n, C, H, W) with its own Gaussian sigma (pixels), separably."""
    n, ch, h, w = x.shape
    smax = float(sigma.max())
    if smax < 0.05:
        return x
    rad = max(1, min(int(math.ceil(3 * smax)), (min(h, w) - 1)))
    k = torch.arange(-rad, rad + 1, device=x.device, dtype=x.dtype)
    sig = sigma.clamp(min=1e-3)[:, None]
    ker = torch.exp(-0.5 * (k[None, :] / sig) ** 2)
    ker = ker / ker.sum(1, keepdim=True)  # (n, K); sigma ~ 0 gives a delta
    ker = ker.repeat_interleave(ch, 0)  # one kernel per channel of each image
    y = x.reshape(1, n * ch, h, w)
    y = F.pad(y, (rad, rad, rad, rad), mode="replicate")
    y = F.conv2d(y, ker[:, None, None, :], groups=n * ch)
    y = F.conv2d(y, ker[:, None, :, None], groups=n * ch)
    return y.view(n, ch, h, w)


# The JPEG standard's (Annex K) luminance and chrominance quantisation tables.
_Q_LUMA = torch.tensor([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55], [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62], [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]], dtype=torch.float32)  # fmt: skip
_Q_CHROMA = torch.full((8, 8), 99.0)
_Q_CHROMA[:4, :4] = torch.tensor([[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]])


def _dct_matrix(device) -> torch.Tensor:
    k = torch.arange(8, dtype=torch.float32, device=device)
    d = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    d[0] /= math.sqrt(2)
    return d  # orthonormal DCT-II: coefficients = D @ block @ D.T


def jpeg_compress(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG-like compression of x (n, 3, H, W) in [0, 1], per-image quality in [1, 100].

    YCbCr, 8x8 block DCT, quantisation with the standard tables scaled as the
    IJG encoder does, and back. No chroma subsampling or entropy coding (lossless
    steps that change nothing here).
    """
    n, _, h, w = x.shape
    dev = x.device
    ycc = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], device=dev)
    z = (ycc[None, :, :, None, None] * x[:, None]).sum(2) * 255
    z[:, 0] -= 128
    ph, pw = (-h) % 8, (-w) % 8
    if ph or pw:
        z = F.pad(z, (0, pw, 0, ph), mode="replicate")
    hb, wb = z.shape[2] // 8, z.shape[3] // 8
    blocks = z.view(n, 3, hb, 8, wb, 8).permute(0, 1, 2, 4, 3, 5).reshape(n, 3, hb, wb, 64)
    # the 2-D DCT of a flattened 8x8 block is one 64x64 matrix: kron(D, D)
    d = _dct_matrix(dev)
    k2 = torch.kron(d, d)
    coef = blocks @ k2.T
    q = quality.clamp(1, 100)
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q)  # IJG quality scaling
    tables = torch.stack([_Q_LUMA, _Q_CHROMA, _Q_CHROMA]).to(dev)
    qt = ((tables[None] * scale[:, None, None, None] + 50) / 100).floor().clamp(1, 255)  # (n, 3, 8, 8)
    qt = qt.reshape(n, 3, 1, 1, 64)
    coef = torch.round(coef / qt) * qt
    blocks = (coef @ k2).view(n, 3, hb, wb, 8, 8)
    z = blocks.permute(0, 1, 2, 4, 3, 5).reshape(n, 3, hb * 8, wb * 8)[:, :, :h, :w] / 255
    z[:, 0] += 128 / 255
    inv = torch.linalg.inv(ycc)
    return (inv[None, :, :, None, None] * z[:, None]).sum(2)


def downsize(img: torch.Tensor, size: int) -> torch.Tensor:
    """Area-average a drawing down to size x size (an exact box filter for integer factors)."""
    r = img.shape[-1]
    if r == size:
        return img
    if r % size == 0:
        return F.avg_pool2d(img, r // size)
    return F.interpolate(img, size=(size, size), mode="area")


def camera(img: torch.Tensor, nz: dict[str, torch.Tensor], out_size: int) -> torch.Tensor:
    """Photograph the drawn scenes: (n, 3, R, R) in [0, 1] -> (n, 3, out_size, out_size) in [0, 1].

    ``render`` passes scenes already area-averaged to ``out_size`` (R = out_size):
    every sensor is at most that large, and averaging a 64 px drawing to 32 px and
    then to the sensor size is, up to a little blur, the same as averaging it once.

    Per image, in this order: sample the scene at ``resolution_px`` (area
    averaging, or plain bilinear sampling with aliasing where ``down_bilinear``),
    the crop's roll / zoom / shift (resampled at sensor size: cheap, and only a
    little softer than warping the drawing), exposure (a soft tone curve) /
    colour cast / grey sensor, Gaussian blur (``blur_sigma`` in sensor pixels),
    clipping, sensor noise (``noise_std`` per channel, 64 % of its variance shared by
    the three channels), JPEG (``jpeg_quality``), then the
    upsampling back to the model's input size (bilinear), as a VLR face is fed
    to a network. Images are grouped by sensor size so each group is one batched call.
    """
    n = img.shape[0]
    out = torch.empty(n, 3, out_size, out_size, device=img.device)
    res = nz["resolution_px"].round().long()
    bil = nz["down_bilinear"] > 0.5
    key = res * 2 + bil.long()
    cast = torch.stack([nz["cast_r"], nz["cast_g"], nz["cast_b"]], 1)
    # exposure as a soft tone curve 1 - (1 - x)^(2^stops): brighter or darker without a hard
    # clip at white, so an over-exposed face fades rather than vanishing into a flat patch
    power = 2.0 ** nz["exposure"]
    for k in torch.unique(key).tolist():
        idx = (key == k).nonzero().flatten()
        r, bilinear = k // 2, bool(k % 2)
        x = img[idx]
        if r != img.shape[-1]:
            if bilinear:
                x = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False, antialias=False)
            else:
                x = F.interpolate(x, size=(r, r), mode="area")
        # roll / zoom / shift of the crop, resampled at sensor resolution (cheap; adds a little blur)
        x = warp_images(x, {k: nz[k][idx] for k in ("roll", "scale", "shift_x", "shift_y")})
        if bool((nz["exposure"][idx] != 0).any()):
            x = 1 - (1 - x.clamp(0, 1)) ** _col(power[idx]).unsqueeze(1)
        x = x * cast[idx][:, :, None, None]
        grey = nz["grayscale"][idx]
        if bool((grey > 0).any()):
            lum = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device)[None, :, None, None]).sum(1, keepdim=True)
            x = x + (lum - x) * grey[:, None, None, None]
        x = gaussian_blur(x, nz["blur_sigma"][idx]).clamp(0, 1)
        std = nz["noise_std"][idx]
        if bool((std > 0).any()):
            # mostly luminance noise with some chroma, as after a camera's demosaicing
            z = seeded_normal(nz["noise_seed"][idx], (4, r, r))
            x = x + (0.8 * z[:, 3:] + 0.6 * z[:, :3]) * std[:, None, None, None]
            x = x.clamp(0, 1)
        qual = nz["jpeg_quality"][idx]
        if bool((qual < 100).any()):
            x = jpeg_compress(x, qual)
        x = x.clamp(0, 1)
        if r != out_size:
            x = F.interpolate(x, size=(out_size, out_size), mode="bilinear", align_corners=False)
        out[idx] = x
    return out.clamp_(0, 1)
