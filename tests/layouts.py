"""Tiny on-disk replicas of the TinyFace, SCFace and QMUL-SurvFace layouts with chosen colours.

Every face is a uniform 16 px colour (PNG, lossless), so a model that embeds an image by its
mean colour (``helpers.PixelModel(pool=16)``) places every embedding by hand: a test can work
out each protocol's answer from the colours alone. The layouts are those of ``test_datasets``.
"""

from __future__ import annotations

from test_datasets import make_image, make_text

PX = 16
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
REDDISH = (255, 40, 0)  # closest to RED
BLUISH = (10, 0, 250)  # closest to BLUE, farthest from GREEN
NEAR_REDDISH = (255, 30, 0)  # closer to REDDISH than RED is


def face(path, rgb):
    return make_image(path, "RGB", tuple(rgb), size=(PX, PX))


def make_tinyface(base):
    """Gallery 1 red, 2 green, 3 blue; probes 1 reddish (rank 1), 2 bluish (rank 3); one distractor
    nearer the red probe than its own gallery image. Expected CMC (ranks 1, 5, 20): w/o dis 1/2, 1, 1;
    w/ dis 0, 1, 1 (probe 1 falls to rank 2; probe 2 stays at rank 3)."""
    for ident, rgb in (("101", WHITE), ("102", BLACK)):
        face(base / "Training_Set" / ident / f"{ident}_1.png", rgb)
    test = base / "Testing_Set"
    for name, rgb in (("1_1.png", RED), ("2_1.png", GREEN), ("3_1.png", BLUE)):
        face(test / "Gallery_Match" / name, rgb)
    face(test / "Probe" / "1_2.png", REDDISH)
    face(test / "Probe" / "2_2.png", BLUISH)
    face(test / "Gallery_Distractor" / "d" / "x_1.png", NEAR_REDDISH)
    return base


def make_scface(base):
    """Mugshots 001 red, 002 green, 003 blue. Probes: 4.2 m: 001 reddish (hit), 002 bluish (miss);
    2.6 m: 003 blue (hit); 1.0 m: 002 bluish (miss). Rank-1: 4.2 m 1/2, 2.6 m 1, 1.0 m 0, all 2/4."""
    for ident, rgb in (("001", RED), ("002", GREEN), ("003", BLUE)):
        face(base / "mugshot_frontal_cropped_all" / f"{ident}_frontal.png", rgb)
    d = lambda k, c: base / f"surveillance_cameras_distance_{k}" / f"cam_{c}"
    face(d(1, 1) / "001_cam1_1.png", REDDISH)
    face(d(1, 2) / "002_cam2_1.png", BLUISH)
    face(d(2, 3) / "003_cam3_2.png", BLUE)
    face(d(3, 5) / "002_cam5_3.png", BLUISH)
    face(d(3, 6) / "001_cam6_3.png", RED)  # infrared camera: excluded by the protocol
    return base


def make_survface(base):
    """Identification: gallery 20 red (2 images), 21 green; mated probes 20 reddish, 21 bluish; one
    unmated black probe (top-1 cosine 1/3 with either template). TPIR20@FPIR = 1/2 at every FPIR.
    Verification: positives (red, reddish) and (white, black), negatives of distinct primaries
    (cosine -1/3 > -1): TPR@FAR = 1/2 at every FAR."""
    for person in ("10", "11"):
        face(base / "Training_Set" / person / f"{person}_1_1.png", WHITE)
    test = base / "Face_Identification_Test_Set"
    face(test / "gallery" / "20_c1_1.png", RED)
    face(test / "gallery" / "20_c1_2.png", RED)
    face(test / "gallery" / "21_c2_1.png", GREEN)
    face(test / "mated_probe" / "20_c3_1.png", REDDISH)
    face(test / "mated_probe" / "21_c1_5.png", BLUISH)
    face(test / "unmated_probe" / "30_c1_1.png", BLACK)
    ver = base / "Face_Verification_Test_Set"
    images = {"5_a.png": RED, "5_b.png": REDDISH, "6_a.png": WHITE, "6_b.png": BLACK, "7_a.png": GREEN,
              "8_a.png": BLUE}
    for name, rgb in images.items():
        face(ver / "verification_images" / name, rgb)
    make_text(ver / "positive_pairs_names.txt", "5_a.png 5_b.png\n6_a.png 6_b.png\n")
    make_text(ver / "negative_pairs_names.txt", "5_a.png 7_a.png\n5_a.png 8_a.png\n7_a.png 8_a.png\n")
    return base


def _colours(seed: int):
    import random

    rng = random.Random(seed)
    return lambda: tuple(rng.randrange(256) for _ in range(3))


def _training_split(base, identities: int, per_id: int, colour, name: str):
    """``Training_Set/<id>/`` of ``identities`` x ``per_id`` faces; ``name.format(id=..., n=...)`` names a file."""
    for i in range(100, 100 + identities):
        for n in range(per_id):
            face(base / "Training_Set" / f"{i}" / name.format(id=i, n=n), colour())


def make_tinyface_to_train_on(base, identities: int = 16, per_id: int = 9, seed: int = 0):
    """A TinyFace replica big enough to fine-tune on at the smoke profile (one batch of 128):
    ``identities`` x ``per_id`` training faces of random colours; a small test split."""
    colour = _colours(seed)
    _training_split(base, identities, per_id, colour, "{id}_{n}.png")
    test = base / "Testing_Set"
    for i in range(1, 5):
        face(test / "Gallery_Match" / f"{i}_1.png", colour())
        face(test / "Probe" / f"{i}_2.png", colour())
    face(test / "Gallery_Distractor" / "x_1.png", colour())
    return base


def make_scface_to_train_on(base, identities: int = 16, seed: int = 0):
    """An SCFace replica to fine-tune on (it has no training split: gallery and probes stand in):
    ``identities`` mugshots, each with probes from cameras 1-3 at the three distances (160 faces)."""
    colour = _colours(seed)
    for i in range(1, identities + 1):
        face(base / "mugshot_frontal_cropped_all" / f"{i:03d}_frontal.png", colour())
        for d in (1, 2, 3):
            for c in (1, 2, 3):
                face(base / f"surveillance_cameras_distance_{d}" / f"cam_{c}" / f"{i:03d}_cam{c}_{d}.png", colour())
    return base


def make_survface_to_train_on(base, identities: int = 16, per_id: int = 9, seed: int = 0):
    """A QMUL-SurvFace replica to fine-tune on: a training split of ``identities`` x ``per_id`` faces,
    4 gallery people (2 images each) with mated probes, 2 unmated probes, 3 verification pairs."""
    colour = _colours(seed)
    _training_split(base, identities, per_id, colour, "{id}_1_{n}.png")
    test = base / "Face_Identification_Test_Set"
    for i in range(20, 24):
        face(test / "gallery" / f"{i}_c1_1.png", colour())
        face(test / "gallery" / f"{i}_c1_2.png", colour())
        face(test / "mated_probe" / f"{i}_c2_1.png", colour())
    for i in (30, 31):
        face(test / "unmated_probe" / f"{i}_c1_1.png", colour())
    ver = base / "Face_Verification_Test_Set"
    for name in ("5_a.png", "5_b.png", "6_a.png", "6_b.png", "7_a.png", "8_a.png"):
        face(ver / "verification_images" / name, colour())
    make_text(ver / "positive_pairs_names.txt", "5_a.png 5_b.png\n6_a.png 6_b.png\n")
    make_text(ver / "negative_pairs_names.txt", "5_a.png 7_a.png\n5_a.png 8_a.png\n7_a.png 8_a.png\n")
    return base


TO_TRAIN_ON = {"tinyface": make_tinyface_to_train_on, "scface": make_scface_to_train_on,
               "survface": make_survface_to_train_on}


def make_ui_folder(base, n: int = 24, seed: int = 1):
    """A folder of ``n`` unlabelled faces (the real sets' UI role, ``ui_dir``)."""
    colour = _colours(seed)
    for k in range(n):
        face(base / f"ui_{k:03d}.png", colour())
    return base
