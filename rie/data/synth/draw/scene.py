"""Around the face: the background, the shoulders and neck, and the illumination."""

from __future__ import annotations

import math

import torch

from .canvas import _col, _paint
from .face import Face


def draw_background(f: Face) -> None:
    """Base colour, a gradient and a plaid of two sinusoids; creates ``f.img``.
    (Colours are pulled towards their grey: walls and sky are rarely saturated.)"""
    nz, X, Y = f.nz, f.X, f.Y
    bg = torch.stack([nz["bg_r"], nz["bg_g"], nz["bg_b"]], 1)
    bg = 0.45 * bg + 0.55 * bg.mean(1, keepdim=True)
    freq = 1 + 5 * nz["bg_freq"]
    pat = (torch.sin(math.pi * _col(freq) * X + _col(nz["bg_phase"]))
           + torch.sin(math.pi * _col(freq * 0.7) * Y + _col(2 * nz["bg_phase"])))  # fmt: skip
    pat = 1 + _col(nz["bg_texture"]) * 0.12 * pat + 0.25 * (Y - 0.5 * X) * _col(nz["bg_texture"] - 0.5)
    f.img = bg[:, :, None, None] * pat.unsqueeze(1)


def draw_body(f: Face) -> None:
    """Shoulders (clothes are per image: a nuisance) and neck."""
    nz, cv, img, ones, zeros = f.nz, f.cv, f.img, f.ones, f.zeros
    cloth = torch.stack([nz["cloth_r"], nz["cloth_g"], nz["cloth_b"]], 1)
    _paint(img, cloth, cv.ellipse(0.3 * f.px(zeros, 0.3), 1.55 * ones, 1.05 * ones, 0.72 * ones))
    skin = f.g["skin"]
    _paint(img, skin * 0.72, cv.ellipse(f.px(zeros, 0.1) * 0.6, f.cy + f.fh * 0.95, f.fw * 0.52, 0.5 * ones))


def light(f: Face) -> None:
    """Lambert shading of the head (a flattened ellipsoid) and a gradient over the
    background; ambient 0.45 keeps the dark side visible."""
    nz, cv, X, Y, fw, fh, cy, fcx = f.nz, f.cv, f.X, f.Y, f.fw, f.fh, f.cy, f.fcx
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
    f.img.mul_(shade.unsqueeze(1))
