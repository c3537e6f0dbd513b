"""What covers the face: glasses (an identity trait) and occluders (a nuisance)."""

from __future__ import annotations

import math

import torch

from .canvas import Alpha, _col, _on_subset, _paint
from .face import Face


def draw_glasses(f: Face) -> None:
    """Two rings, a bridge, arms to the ears and a faint tint (identities with glasses only)."""
    g, cv, img, dev, ones, fw = f.g, f.cv, f.img, f.dev, f.ones, f.fw
    eye_x, eye_w, ey = f.eye_x, f.eye_w, f.ey

    def draw(i):
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
            end = f.px(side * fw, -0.1)[i]
            arm_half = ((end - start) * side).clamp(min=0) / 2
            _paint(img, frame, cv.ellipse((start + end) / 2, gy - 0.02, arm_half, 0.012 * ones[i]),
                   opacity=(arm_half > 0.01).float(), idx=i)  # fmt: skip

    _on_subset(g["glasses"] > 0, draw)


def draw_occluder(f: Face) -> torch.Tensor:
    """1 = block, 2 = scarf over the lower face, 3 = a hand. Returns the fraction of the
    face oval each image's occluder hides (0 without one)."""
    nz, cv, img, X, Y, size, face = f.nz, f.cv, f.img, f.X, f.Y, f.size, f.face
    ones, fw, cy, fcx, my, skin = f.ones, f.fw, f.cy, f.fcx, f.my, f.g["skin"]
    kind = nz["occluder"]
    occlusion = f.zeros.clone()

    def draw(i):
        kd = kind[i]
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
        a = face.a[i]
        hidden = (a * occ[:, face.r0:face.r1, face.c0:face.c1]).sum((1, 2))
        occlusion[i] = hidden / a.sum((1, 2)).clamp(min=1e-6)

    _on_subset(kind > 0, draw)
    return occlusion
