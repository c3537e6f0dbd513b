"""The mouth: lips, the dark opening with teeth, or the line between the lips."""

from __future__ import annotations

import torch

from .canvas import _on_subset, _paint
from .face import Face


def draw_mouth(f: Face) -> None:
    """Sets ``f.lip_h`` (the lips' half height) for the boxes."""
    g, cv, img, dev, ones, mopen = f.g, f.cv, f.img, f.dev, f.ones, f.mopen
    mx, my, mw, bend = f.mx, f.my, f.mw, f.bend
    f.lip_h = lip_h = g["mt"] + mopen * 0.05
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
