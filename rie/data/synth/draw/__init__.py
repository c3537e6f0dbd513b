"""Vectorised drawing of procedural faces, one module per part of the picture.

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

==================  ====================================================
module              draws
==================  ====================================================
``identity``        (decodes identity vectors into geometry and colours)
``canvas``          (soft shapes, compositing, the crop transform)
``face``            (the batch being drawn, pose, feature anchors, boxes)
``scene``           background, shoulders and neck, illumination
``head``            long hair, ears, face oval, beard, hair on top
``nose``            the nose
``mouth``           the mouth
``eyes``            eyes and brows
``accessories``     glasses and occluders
==================  ====================================================

:func:`rie.data.synth.render` is the entry point; these functions are its pixel work.
"""

from __future__ import annotations

import torch

from .accessories import draw_glasses, draw_occluder
from .canvas import warp_boxes
from .eyes import draw_brows, draw_eyes
from .face import Face
from .head import draw_back_hair, draw_beard, draw_ears, draw_face_oval, draw_hair_cap
from .mouth import draw_mouth
from .nose import draw_nose
from .scene import draw_background, draw_body, light


def draw_faces(theta: torch.Tensor, nz: dict[str, torch.Tensor], size: int):
    """Draw N faces at size x size, part by part, back to front.

    Returns ``(img, boxes, occlusion)``: img (N, 3, size, size) float in [0, 1],
    boxes (N, 3, 4) of eyes / nose / mouth as (x0, y0, x1, y1) in image units
    after the roll/shift/zoom warp, and the fraction of the face oval hidden by
    the occluder.
    """
    f = Face(theta, nz, size)
    draw_background(f)
    draw_back_hair(f)
    draw_body(f)
    draw_ears(f)
    draw_face_oval(f)
    f.place_features()
    draw_beard(f)
    draw_nose(f)
    draw_mouth(f)
    draw_eyes(f)
    draw_brows(f)
    draw_hair_cap(f)
    draw_glasses(f)
    occlusion = draw_occluder(f)
    light(f)
    boxes = f.part_boxes()
    # the crop (roll, zoom, shift) is applied to the image by the camera, at sensor resolution
    return f.img.clamp_(0, 1), warp_boxes(boxes, nz), occlusion
