"""The embedded default data: a synthetic very-low-resolution face world.

No real face data can be downloaded here, so every dataset role of the paper is
played by procedurally drawn faces, deterministic by seed:

===============  =====================================  ===============================
role             plays                                  images
===============  =====================================  ===============================
``pretrain``     VGGFace2 (HR labelled, pretraining)    full resolution, mild nuisance
``train``        TinyFace training split                VLR, moderate + hard tiers
``gallery``      TinyFace Gallery_Match                 VLR, test identities
``probe``        TinyFace Probe                         VLR, the same test identities
``distractor``   TinyFace Gallery_Distractor            VLR, other people, label -1
``ui``           LPW / MARS face detections (UIs)       heavily degraded, label -1
===============  =====================================  ===============================

All roles have disjoint identities (``params["identity"]`` is the global id).

An *identity* is a vector of ``NUM_IDENTITY_PARAMS`` numbers in [0, 1] (face
shape, skin, hair, eyes, brows, nose, mouth, ears, glasses, beard; see
``IDENTITY_PARAMS``). An *image* adds nuisance (pose, expression,
illumination, exposure and colour cast, background, clothes, occlusion, crop
jitter) and camera degradation (sensor resolution, blur, noise, JPEG), all kept
per image in ``params``; its ground-truth difficulty is ``difficulty_score``
(formula in :mod:`rie.data.synth.sampling`).

The sub-package, one job per module (everything below is importable from here):

====================  ==============================================================
module                job
====================  ==============================================================
``config``            quality tiers (``TIERS``), ``WorldConfig`` and its profiles
``sampling``          identities, nuisance, the difficulty of a parameter set
``draw``              drawing a face, one module per part (head, eyes, nose, ...)
``rendering``         ``render``: drawing then the camera, ``FaceBatch``, part boxes
``world``             ``FaceSet``, the roles, ``build_world``
``cache``             the on-disk cache: ``cache_key``, reading, writing, validation
====================  ==============================================================
"""

from .cache import GENERATOR_VERSION, cache_key
from .config import ROLES, TIER_CODES, TIERS, TierConfig, WorldConfig
from .draw import draw_faces
from .draw.canvas import Alpha, Canvas, warp_boxes, warp_images
from .draw.identity import (
    BEARD_THRESHOLD,
    FACE_CY,
    FRAME,
    GLASSES_THRESHOLD,
    HAIR,
    IDENTITY_PARAMS,
    IRIS,
    NUM_IDENTITY_PARAMS,
    SKIN,
    decode_identity,
)
from .rendering import (
    NOISE_BANK_SIZE,
    PARTS,
    FaceBatch,
    boxes_to_masks,
    camera,
    downsize,
    gaussian_blur,
    jpeg_compress,
    raw_pixel_identification,
    render,
    seeded_normal,
)
from .sampling import (
    CAMERA_KEYS,
    DIFFICULTY_WEIGHTS,
    NUISANCE_KEYS,
    difficulty_score,
    difficulty_terms,
    neutral_nuisance,
    sample_identities,
    sample_nuisance,
)
from .world import FaceDataset, FaceSet, build_world, group_identities

__all__ = [
    "IDENTITY_PARAMS", "NUM_IDENTITY_PARAMS", "ROLES", "PARTS", "TIER_CODES", "NUISANCE_KEYS",
    "TierConfig", "TIERS", "WorldConfig", "sample_identities", "sample_nuisance",
    "neutral_nuisance", "render", "difficulty_score", "difficulty_terms", "boxes_to_masks",
    "raw_pixel_identification", "FaceBatch", "FaceSet", "FaceDataset", "build_world", "group_identities", "cache_key",
    # also public: the cache's version, the camera keys, the difficulty weights
    "GENERATOR_VERSION", "CAMERA_KEYS", "DIFFICULTY_WEIGHTS",
    # the drawing and the camera (formerly rie.data.render)
    "GLASSES_THRESHOLD", "BEARD_THRESHOLD", "SKIN", "HAIR", "IRIS", "FRAME", "FACE_CY", "decode_identity",
    "Alpha", "Canvas", "draw_faces", "warp_boxes", "warp_images", "NOISE_BANK_SIZE", "seeded_normal",
    "gaussian_blur", "jpeg_compress", "downsize", "camera",
]  # fmt: skip
