"""The eyes (lash outline, white, iris, pupil, clipped by the squinting lids) and the brows."""

from __future__ import annotations

import torch

from .canvas import _paint
from .face import Face


def draw_eyes(f: Face) -> None:
    """Sets ``f.eh`` (the eyes' half height after squinting) for the boxes."""
    g, cv, img, dev, n = f.g, f.cv, f.img, f.dev, f.n
    ey, eye_x, eye_w, hair = f.ey, f.eye_x, f.eye_w, g["hair"]
    f.eh = eh = g["eh"] * (1 - 0.65 * f.squint)
    white = torch.tensor([0.94, 0.93, 0.90], device=dev).expand(n, 3)
    lash = (hair * 0.3 + 0.04).clamp(max=0.2)
    gaze = torch.sin(f.yaw) * 0.25  # the eyes look at the camera a little
    ir = g["eh"] * 0.95
    for ex, ew in zip(eye_x, eye_w):
        _paint(img, lash, cv.ellipse(ex, ey - eh * 0.2, ew * 1.12, eh * 1.3 + 0.006))
        sclera = cv.ellipse(ex, ey, ew, eh)
        _paint(img, white, sclera)
        ix = ex - gaze * ew
        _paint(img, g["iris"], cv.ellipse(ix, ey, ir * f.width_scale(ex).clamp(0.5, 1), ir) * sclera)
        _paint(img, 0.05 * torch.ones_like(white), cv.ellipse(ix, ey, ir * 0.48, ir * 0.48) * sclera)


def draw_brows(f: Face) -> None:
    """Thick sheared arcs in a darker hair colour."""
    g, cv, img, ey, hair = f.g, f.cv, f.img, f.ey, f.g["hair"]
    brow_col = torch.where(g["hair"].sum(1, keepdim=True) > 2.0, hair * 0.6, hair * 0.8)
    by = ey - g["eh"] - g["brow_gap"] - 0.5 * g["brow_t"]
    for side, ex, ew in zip((1.0, -1.0), f.eye_x, f.eye_w):
        brow = cv.ellipse(ex + side * 0.1 * ew, by, ew * 1.3, g["brow_t"],
                          shear=side * g["brow_slant"], bend=g["brow_arch"])  # fmt: skip
        _paint(img, brow_col, brow)
