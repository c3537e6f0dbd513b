"""The nose: a shadow along the bridge (on the side away from the light), the tip, the
shadow below it and two nostrils."""

from __future__ import annotations

import torch

from .canvas import _paint
from .face import Face


def draw_nose(f: Face) -> None:
    """Sets ``f.nw`` (the nose half width) for the boxes."""
    g, cv, img, nz, ones, skin = f.g, f.cv, f.img, f.nz, f.ones, f.g["skin"]
    ey, tip_x, tip_y, bridge_x = f.ey, f.tip_x, f.tip_y, f.bridge_x
    f.nw = nw = g["nw"]
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
