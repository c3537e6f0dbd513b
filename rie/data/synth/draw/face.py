"""The batch of faces being drawn: identity geometry, pose, the canvas and the image,
shared by the part modules; where the features sit after pose; and their boxes.

Pose is drawn as a 3-D effect on a 2-D face: yaw and pitch move each feature by
``depth * sin(angle)`` (the nose moves most, the ears least, the far eye gets
narrower); roll, crop shift and zoom are one affine warp of the finished drawing,
applied by the camera.
"""

from __future__ import annotations

import torch

from .canvas import Canvas
from .identity import FACE_CY, decode_identity


class Face:
    """N faces at size x size: ``g`` (decoded identity), ``nz`` (nuisance), the canvas ``cv``
    with its coordinates ``X``, ``Y``, and ``img`` (N, 3, size, size), painted part by part.
    The part functions store here what later parts and the boxes need (``face``, ``fcx``, ...)."""

    def __init__(self, theta: torch.Tensor, nz: dict[str, torch.Tensor], size: int):
        n, dev = theta.shape[0], theta.device
        self.n, self.dev, self.nz, self.size = n, dev, nz, size
        self.g = g = decode_identity(theta)
        self.cv = Canvas(size, dev)
        self.X, self.Y = self.cv.x, self.cv.y
        self.ones = torch.ones(n, device=dev)
        self.zeros = torch.zeros(n, device=dev)
        self.fw, self.fh = g["fw"], g["fh"]
        self.cy = FACE_CY * self.ones

        self.yaw = torch.deg2rad(nz["yaw"])
        pitch = torch.deg2rad(nz["pitch"])
        self.sy, self.cyw = torch.sin(self.yaw), torch.cos(self.yaw)
        self.sp, self.cp = torch.sin(pitch), torch.cos(pitch)
        self.smile, self.mopen, self.squint = nz["smile"], nz["mouth_open"], nz["squint"]
        self.img: torch.Tensor | None = None  # set by the background

    def px(self, x, depth):
        """x position of a feature at (x, depth*fw) after yaw."""
        return x * self.cyw + depth * self.fw * self.sy

    def py(self, y, depth):
        """y position after pitch (positive pitch = looking down)."""
        return self.cy + (y - self.cy) * self.cp + depth * self.fw * self.sp * 0.8

    def width_scale(self, x):
        """Foreshortening of a feature at horizontal position x."""
        a = torch.asin((x / self.fw).clamp(-0.95, 0.95))
        return (torch.cos(a + self.yaw) / torch.cos(a)).clamp(0.25, 1.3)

    def place_features(self) -> None:
        """Anchor positions of the eyes, nose and mouth after pose."""
        g, zeros = self.g, self.zeros
        self.ey = self.py(g["ey"], 0.75)
        self.eye_x = [self.px(-g["eye_dx"], 0.75), self.px(g["eye_dx"], 0.75)]
        self.eye_w = [g["ew"] * self.width_scale(-g["eye_dx"]), g["ew"] * self.width_scale(g["eye_dx"])]
        self.tip_y = self.py(g["ey"] + g["nose_len"], 1.15)
        self.tip_x = self.px(zeros, 1.15)
        self.bridge_x = self.px(zeros, 0.95)
        my_rest = g["ey"] + g["nose_len"] + g["mouth_gap"]
        my_rest = torch.minimum(my_rest, self.cy + self.fh * 0.78 - g["mt"])
        self.mx, self.my = self.px(zeros, 0.85), self.py(my_rest, 0.85)
        self.mw = g["mw"] * (1 + 0.15 * self.smile) * self.width_scale(zeros)
        self.bend = -self.smile * 0.6 / g["mw"]  # corners up when smiling

    def part_boxes(self) -> torch.Tensor:
        """(N, 3, 4) boxes of eyes / nose / mouth as (x0, y0, x1, y1), image units, before the crop warp."""
        g, ey, eh, nw = self.g, self.ey, self.eh, self.nw
        eye_x, eye_w, tip_x, tip_y, bridge_x = self.eye_x, self.eye_w, self.tip_x, self.tip_y, self.bridge_x
        mx, my, mw, lip_h = self.mx, self.my, self.mw, self.lip_h
        eyes_box = torch.stack([eye_x[0] - eye_w[0] * 1.12, ey - eh * 1.5 - 0.01,
                                eye_x[1] + eye_w[1] * 1.12, ey + eh + 0.01], 1)  # fmt: skip
        nose_x0 = torch.minimum(tip_x - nw * 1.05, bridge_x - nw)
        nose_x1 = torch.maximum(tip_x + nw * 1.05, bridge_x + nw)
        nose_box = torch.stack([nose_x0, ey + g["eh"], nose_x1, tip_y + nw * 0.75], 1)
        lift = (-self.bend).clamp(min=0) * mw * mw
        mouth_box = torch.stack([mx - mw, my - lip_h - lift, mx + mw, my + lip_h], 1)
        return torch.stack([eyes_box, nose_box, mouth_box], 1)
