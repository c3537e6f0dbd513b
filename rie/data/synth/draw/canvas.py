"""The canvas: soft shapes on the ``[-1, 1]`` square, compositing, and the crop transform.

Every image lives on the square ``[-1, 1] x [-1, 1]`` (x to the right, y *down*),
whatever its pixel size. A shape is an alpha map with a one-pixel soft edge,
computed only inside the pixel window that can hold it, and blended with ``lerp_``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


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
# The crop transform (roll, zoom, shift): boxes here, images by the camera
# ---------------------------------------------------------------------------
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

