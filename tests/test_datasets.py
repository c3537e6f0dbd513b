"""Real-dataset loaders on tiny replicas of each layout, built in tmp_path with PIL."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat
from torch.utils.data import DataLoader

from rie.common.checks import RIEInputError
from rie.data.datasets import (
    FaceFolderSet,
    check_disjoint,
    load_image_folder,
    load_scface,
    load_survface,
    load_survface_pairs,
    load_tinyface,
    load_ui_folder,
)

SIZE = (10, 12)  # width, height: small and not square


def make_image(path, mode="RGB", value=None, size=SIZE):
    """Write a small image; ``value`` is the fill colour in the image's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if value is None:
        value = {"L": 90, "RGB": (200, 30, 60), "RGBA": (10, 200, 30, 255)}.get(mode, 0)
    Image.new(mode, size, value).save(path)
    return path


def make_text(path, text="this is not an image\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def cell(names):
    """A MATLAB cell column of strings, as the official .mat lists store file names."""
    out = np.empty((len(names), 1), dtype=object)
    for i, n in enumerate(names):
        out[i, 0] = n
    return out


def label_of(dataset, name):
    """The label of the file whose path ends with ``name``."""
    return int(dataset.labels[[p.endswith(name) for p in dataset.paths].index(True)])


def skip_reason(dataset, name):
    """The reason a file whose path ends with ``name`` was skipped (None if it was not)."""
    hits = [r for p, r in dataset.skipped if p.endswith(name)]
    return hits[0] if hits else None


# ----------------------------------------------------------------------------- image folder


@pytest.fixture
def folder_tree(tmp_path):
    root = tmp_path / "faces"
    make_image(root / "alice" / "1.jpg", "RGB")
    make_image(root / "alice" / "2.png", "L")
    make_text(root / "alice" / "notes.txt")
    make_image(root / "bob" / "1.pgm", "L", 255)
    make_image(root / "bob" / "deep" / "2.bmp", "RGB")
    make_text(root / "bob" / "broken.jpg")  # a .jpg holding text
    (root / "carol").mkdir()  # empty identity folder
    make_text(root / "README")  # stray file at the root, like ORL's
    return root


def test_image_folder_counts_labels_and_skips(folder_tree):
    ds = load_image_folder(folder_tree, image_size=32)
    assert len(ds) == 4
    assert ds.identities == ["alice", "bob"] and ds.num_classes == 2
    assert ds.labels.dtype == torch.int64 and ds.labels.tolist() == [0, 0, 1, 1]
    assert ds.role == "train"
    assert "not an image file extension" in skip_reason(ds, "notes.txt")
    assert "not a readable image" in skip_reason(ds, "broken.jpg")
    assert "empty identity folder" in skip_reason(ds, "carol")
    assert "top level" in skip_reason(ds, "README")
    assert len(ds.skipped) == 4


def test_items_are_rgb_in_range_and_batch(folder_tree):
    ds = load_image_folder(folder_tree, image_size=32)
    for i in range(len(ds)):  # grey and RGB mixed: all 3-channel
        x, y, j = ds[i]
        assert x.shape == (3, 32, 32) and x.dtype == torch.float32
        assert -1.0 <= x.min() and x.max() <= 1.0
        assert y == int(ds.labels[i]) and j == i
    x, y, idx = next(iter(DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 3, 32, 32) and y.tolist() == [0, 0, 1, 1] and idx.tolist() == [0, 1, 2, 3]
    white = ds[ds.paths.index(str(folder_tree / "bob" / "1.pgm"))][0]
    assert torch.all(white == 1.0)  # grey 255 -> +1 in every channel
    assert load_image_folder(folder_tree, image_size=112)[0][0].shape == (3, 112, 112)


@pytest.mark.parametrize(
    "mode, value, expected",
    [
        ("L", 0, (-1.0, -1.0, -1.0)),
        ("RGB", (255, 0, 255), (1.0, -1.0, 1.0)),
        ("RGBA", (255, 255, 255, 0), (-1.0, -1.0, -1.0)),  # fully transparent -> black
        ("RGBA", (255, 0, 0, 255), (1.0, -1.0, -1.0)),
        ("LA", (255, 255), (1.0, 1.0, 1.0)),
        ("1", 1, (1.0, 1.0, 1.0)),
        ("I;16", 65535, (1.0, 1.0, 1.0)),  # 16-bit grey is scaled, not clipped
    ],
)
def test_every_mode_becomes_rgb(tmp_path, mode, value, expected):
    path = make_image(tmp_path / "u" / f"x.{'png' if mode != '1' else 'bmp'}", mode, value)
    x = load_ui_folder(tmp_path / "u", image_size=8)[0][0]
    assert x.shape == (3, 8, 8)
    assert torch.allclose(x.mean(dim=(1, 2)), torch.tensor(expected)), (mode, path)


def test_palette_images_with_and_without_transparency(tmp_path):
    (tmp_path / "u").mkdir()
    Image.new("RGB", SIZE, (0, 255, 0)).convert("P").save(tmp_path / "u" / "p.png")
    pal = Image.new("P", SIZE, 0)
    pal.putpalette([255, 0, 0] + [0, 0, 0] * 255)
    pal.save(tmp_path / "u" / "q.png", transparency=0)  # colour 0 is transparent
    ds = load_ui_folder(tmp_path / "u", image_size=8)
    assert ds.modes["P"] == 2
    assert torch.allclose(ds[0][0].mean(dim=(1, 2)), torch.tensor([-1.0, 1.0, -1.0]))
    assert torch.all(ds[1][0] == -1.0)  # transparent red over black


def test_truncated_jpeg_is_caught_at_construction(tmp_path):
    good = make_image(tmp_path / "f" / "a" / "good.jpg", "RGB", size=(64, 64))
    data = good.read_bytes()
    (tmp_path / "f" / "a" / "cut.jpg").write_bytes(data[: len(data) // 2])
    ds = load_image_folder(tmp_path / "f")
    assert len(ds) == 1 and "not a readable image" in skip_reason(ds, "cut.jpg")


def test_missing_folder_and_bad_arguments(tmp_path):
    with pytest.raises(RIEInputError, match=r"expected folder .*nope.*missing"):
        load_image_folder(tmp_path / "nope")
    make_text(tmp_path / "file")
    with pytest.raises(RIEInputError, match="not a folder"):
        load_image_folder(tmp_path / "file")
    make_image(tmp_path / "ok" / "a" / "1.png")
    with pytest.raises(RIEInputError, match="image_size"):
        load_image_folder(tmp_path / "ok", image_size=0)


def test_no_images_at_all_is_an_error(tmp_path):
    (tmp_path / "f" / "empty").mkdir(parents=True)
    make_text(tmp_path / "f" / "other" / "x.jpg")
    with pytest.raises(RIEInputError, match="no usable images") as err:
        load_image_folder(tmp_path / "f")
    assert "x.jpg" in str(err.value) and "empty identity folder" in str(err.value)
    make_image(tmp_path / "flat" / "1.png")
    with pytest.raises(RIEInputError, match="one sub-folder per identity"):
        load_image_folder(tmp_path / "flat")


def test_ui_folder_is_recursive_and_unlabelled(tmp_path):
    make_image(tmp_path / "ui" / "a.png", "L")
    make_image(tmp_path / "ui" / "cam1" / "b.jpg", "RGB")
    make_image(tmp_path / "ui" / "cam1" / "day2" / "c.jpg", "RGB")
    make_text(tmp_path / "ui" / "list.txt")
    ds = load_ui_folder(tmp_path / "ui")
    assert len(ds) == 3 and ds.role == "ui"
    assert ds.labels.tolist() == [-1, -1, -1] and ds.num_classes == 0 and ds.identities == []
    assert skip_reason(ds, "list.txt") is not None


def test_summary_reports_counts_and_skips(folder_tree):
    text = load_image_folder(folder_tree).summary()
    assert "4 images" in text and "2 identities" in text
    assert "L=2" in text and "RGB=2" in text
    assert "skipped 4" in text and "broken.jpg" in text and "empty identity folder" in text


def test_check_disjoint(tmp_path):
    make_image(tmp_path / "a" / "x.png")
    make_image(tmp_path / "a" / "y.png")
    train = FaceFolderSet([(tmp_path / "a" / "x.png", "7"), (tmp_path / "a" / "y.png", "8")], name="train")
    ok = FaceFolderSet([(tmp_path / "a" / "x.png", "9"), (tmp_path / "a" / "y.png", None)], name="test-ok")
    bad = FaceFolderSet([(tmp_path / "a" / "x.png", "8")], identities=["7", "8"], name="test-bad")
    check_disjoint(train, ok)  # -1 images never count
    # an identity only in the label space (no image) is not a leak: "7" is in bad.identities only
    with pytest.raises(RIEInputError, match=r"test-bad: 1 shared \(8\)"):
        check_disjoint(train, ok, bad)


# ----------------------------------------------------------------------------- TinyFace


def make_tinyface(base, train_ids=("101", "102")):
    """The official nesting below ``base``: Training_Set/ and Testing_Set/."""
    for ident in train_ids:
        make_image(base / "Training_Set" / ident / f"{ident}_1.jpg", "RGB")
        make_image(base / "Training_Set" / ident / f"{ident}_2.jpg", "L")
    test = base / "Testing_Set"
    make_image(test / "Gallery_Match" / "1_1.jpg", "RGB")
    make_image(test / "Gallery_Match" / "2_1.jpg", "L")
    make_image(test / "Probe" / "1_3.jpg", "L")
    make_image(test / "Probe" / "2_2.png", "RGB")
    make_image(test / "Probe" / "2_5.jpg", "RGB")
    make_image(test / "Probe" / "noidentity.jpg", "RGB")
    make_image(test / "Gallery_Distractor" / "aa" / "x_y_1.jpg", "RGB")
    make_image(test / "Gallery_Distractor" / "bb" / "z_2.jpg", "L")
    make_text(test / "Gallery_Distractor" / "bb" / "bad.jpg")


def test_tinyface_official_nesting(tmp_path):
    make_tinyface(tmp_path / "tinyface")
    sets = load_tinyface(tmp_path)  # the parent of tinyface/ is fine
    assert list(sets) == ["train", "gallery", "distractor", "probe"]
    train, gallery, distractor, probe = (sets[k] for k in ("train", "gallery", "distractor", "probe"))
    assert train.identities == ["101", "102"] and len(train) == 4
    assert gallery.identities == probe.identities == ["1", "2"]
    assert label_of(probe, "1_3.jpg") == label_of(gallery, "1_1.jpg") == 0
    assert label_of(probe, "2_2.png") == label_of(gallery, "2_1.jpg") == 1
    assert len(probe) == 3 and "identity" in skip_reason(probe, "noidentity.jpg")
    assert len(distractor) == 2 and distractor.labels.tolist() == [-1, -1] and distractor.role == "distractor"
    assert skip_reason(distractor, "bad.jpg") is not None
    assert {ds.role for ds in sets.values()} == {"train", "gallery", "distractor", "probe"}


def test_tinyface_flat_root_and_train_alias(tmp_path):
    make_tinyface(tmp_path / "staging")
    root = tmp_path / "aligned"
    (tmp_path / "staging" / "Testing_Set").rename(root)  # Gallery_Match, Probe, ... directly under root
    (tmp_path / "staging" / "Training_Set").rename(root / "Train")
    sets = load_tinyface(root, image_size=16)
    assert len(sets["gallery"]) == 2 and len(sets["train"]) == 4
    assert sets["probe"][0][0].shape == (3, 16, 16)


def test_tinyface_missing_folder_names_it(tmp_path):
    make_tinyface(tmp_path / "tinyface")
    (tmp_path / "tinyface" / "Testing_Set" / "Gallery_Match").rename(tmp_path / "elsewhere")
    with pytest.raises(RIEInputError, match=r"TinyFace: expected folder .*Testing_Set.Gallery_Match"):
        load_tinyface(tmp_path / "tinyface")


def test_tinyface_train_test_overlap(tmp_path):
    make_tinyface(tmp_path / "tinyface", train_ids=("2", "101"))
    with pytest.raises(RIEInputError, match=r"TinyFace/gallery: 1 shared \(2\)"):
        load_tinyface(tmp_path)
    assert len(load_tinyface(tmp_path, check_identities=False)["train"]) == 4


# ----------------------------------------------------------------------------- SCface


def make_scface_mugshots(base):
    make_image(base / "mugshot_frontal_cropped_all" / "001_frontal.JPG", "RGB")
    make_image(base / "mugshot_frontal_cropped_all" / "002_frontal.JPG", "RGB")
    make_text(base / "mugshot_frontal_cropped_all" / "Thumbs.db")


def test_scface_distance_folders(tmp_path):
    base = tmp_path / "SCface_database"
    make_scface_mugshots(base)
    d = lambda k: base / f"surveillance_cameras_distance_{k}"
    make_image(d(1) / "cam_1" / "001_cam1_1.jpg", "RGB")
    make_image(d(1) / "cam_2" / "002_cam2_1.jpg", "RGB")
    make_image(d(1) / "cam_6" / "001_cam6_1.jpg", "L")  # infrared: not a probe
    make_image(d(2) / "cam_3" / "001_cam3_2.jpg", "RGB")
    make_image(d(3) / "cam_5" / "002_cam5_3.jpg", "RGB")
    make_image(d(3) / "cam_1" / "003_cam1_3.jpg", "RGB")  # no mugshot for 003
    sets = load_scface(tmp_path)
    assert list(sets) == ["gallery", "probe_4.2m", "probe_2.6m", "probe_1.0m"]
    assert sets["gallery"].identities == ["001", "002"] and sets["gallery"].labels.tolist() == [0, 1]
    assert "Thumbs.db" in sets["gallery"].skipped[0][0]
    far, mid, near = sets["probe_4.2m"], sets["probe_2.6m"], sets["probe_1.0m"]
    assert far.labels.tolist() == [0, 1] and mid.labels.tolist() == [0] and near.labels.tolist() == [1]
    assert all(s.identities == ["001", "002"] and s.role == "probe" for s in (far, mid, near))
    assert "infrared" in skip_reason(far, "001_cam6_1.jpg")
    assert "no usable mugshot" in skip_reason(near, "003_cam1_3.jpg")


def test_scface_flat_surveillance_folder(tmp_path):
    make_scface_mugshots(tmp_path)
    flat = tmp_path / "surveillance_cameras_all"
    for name in ("001_cam1_1.jpg", "001_cam4_2.jpg", "002_cam2_3.jpg", "002_cam7_3.jpg"):
        make_image(flat / name, "RGB")
    sets = load_scface(tmp_path, image_size=24)
    assert [len(sets[k]) for k in ("probe_4.2m", "probe_2.6m", "probe_1.0m")] == [1, 1, 1]
    assert sets["probe_1.0m"].labels.tolist() == [1]
    assert sets["probe_1.0m"][0][0].shape == (3, 24, 24)


def test_scface_missing_folders(tmp_path):
    (tmp_path / "surveillance_cameras_all").mkdir()
    with pytest.raises(RIEInputError, match=r"SCface: expected folder .*mugshot_frontal_cropped_all"):
        load_scface(tmp_path)
    make_scface_mugshots(tmp_path / "b")
    with pytest.raises(RIEInputError, match=r"SCface: expected folder .*surveillance_cameras_distance_1"):
        load_scface(tmp_path / "b")


# ----------------------------------------------------------------------------- QMUL-SurvFace


def make_survface(base, with_lists=True, train_dir="Training_Set"):
    for person in ("10", "11"):
        make_image(base / train_dir / person / f"{person}_1_1.jpg", "RGB")
    test = base / "Face_Identification_Test_Set"
    for name in ("20_c1_1.jpg", "20_c1_2.jpg", "21_c2_1.jpg"):
        make_image(test / "gallery" / name, "RGB")
    for name in ("20_c3_1.jpg", "21_c1_5.jpg", "22_c1_1.jpg"):
        make_image(test / "mated_probe" / name, "L")
    make_image(test / "unmated_probe" / "distractors_1.jpg", "RGB")
    make_image(test / "unmated_probe" / "30_c1_1.jpg", "RGB")
    if with_lists:  # official ids are their own 1..N numbering, not the person ids
        savemat(test / "gallery_img_ID_pairs.mat", {
            "gallery_set": cell(["20_c1_1.jpg", "20_c1_2.jpg", "21_c2_1.jpg", "21_gone.jpg"]),
            "gallery_ids": np.array([[1], [1], [2], [2]], dtype=np.uint16),
        })
        savemat(test / "mated_probe_img_ID_pairs.mat", {
            "mated_probe_set": cell(["20_c3_1.jpg", "21_c1_5.jpg"]),
            "mated_probe_ids": np.array([[1], [2]], dtype=np.uint16),
        })
    return test


def test_survface_with_official_lists(tmp_path):
    make_survface(tmp_path / "QMUL-SurvFace")
    sets = load_survface(tmp_path)
    assert list(sets) == ["train", "gallery", "probe", "unmated"]
    gallery, probe, unmated = sets["gallery"], sets["probe"], sets["unmated"]
    assert sets["train"].identities == ["10", "11"]
    assert gallery.identities == probe.identities == ["20", "21"]
    assert gallery.labels.tolist() == [0, 0, 1] and probe.labels.tolist() == [0, 1]
    assert "not in the official list" in skip_reason(probe, "22_c1_1.jpg")
    assert "listed in gallery_img_ID_pairs.mat but missing" in skip_reason(gallery, "21_gone.jpg")
    assert unmated.labels.tolist() == [-1, -1] and unmated.role == "unmated"


def test_survface_without_lists_and_lowercase_training_folder(tmp_path):
    make_survface(tmp_path, with_lists=False, train_dir="training_set")
    sets = load_survface(tmp_path)
    assert sets["probe"].identities == ["20", "21", "22"]  # from file names
    assert len(sets["probe"]) == 3 and len(sets["train"]) == 2


def test_survface_inconsistent_list_and_overlap(tmp_path):
    test = make_survface(tmp_path)
    savemat(test / "mated_probe_img_ID_pairs.mat", {
        "mated_probe_set": cell(["20_c3_1.jpg", "21_c1_5.jpg"]),
        "mated_probe_ids": np.array([[2], [1]], dtype=np.uint16),  # swapped against the gallery list
    })
    with pytest.raises(RIEInputError, match="person 20 has id 1 in one official list and 2"):
        load_survface(tmp_path)
    test = make_survface(tmp_path / "two")
    make_image(tmp_path / "two" / "Training_Set" / "21" / "21_9_9.jpg")
    with pytest.raises(RIEInputError, match=r"shared \(21\)"):
        load_survface(tmp_path / "two")


def test_survface_missing_folder(tmp_path):
    make_survface(tmp_path)
    (tmp_path / "Face_Identification_Test_Set" / "unmated_probe").rename(tmp_path / "moved")
    with pytest.raises(RIEInputError, match=r"QMUL-SurvFace: expected folder .*unmated_probe"):
        load_survface(tmp_path)


def test_survface_pairs(tmp_path):
    ver = tmp_path / "QMUL-SurvFace" / "Face_Verification_Test_Set"
    for name in ("5_a.jpg", "5_b.jpg", "6_a.jpg", "7_a.jpg"):
        make_image(ver / "verification_images" / name, "RGB")
    make_text(ver / "verification_images" / "7_bad.jpg")
    positive = np.empty((3, 2), dtype=object)
    positive[:] = [["5_a.jpg", "5_b.jpg"], ["7_a.jpg", "7_bad.jpg"], ["6_a.jpg", "6_missing.jpg"]]
    savemat(ver / "positive_pairs_names.mat", {"positive_pairs_names": positive})
    make_text(ver / "negative_pairs_names.txt", "5_a.jpg 6_a.jpg\n\n5_b.jpg,7_a.jpg\n")
    out = load_survface_pairs(tmp_path)
    images = out["images"]
    assert [p.rsplit("/", 1)[-1] for p in images.paths] == ["5_a.jpg", "5_b.jpg", "7_a.jpg", "6_a.jpg"]
    assert images.identities == ["5", "6", "7"] and images.role == "verification"
    assert out["pairs"].tolist() == [[0, 1], [0, 3], [1, 2]]
    assert out["same"].tolist() == [True, False, False]
    assert out["path_pairs"][1] == (images.paths[0], images.paths[3])
    reasons = {(a, b): r for a, b, r in out["dropped"]}
    assert "not a readable image" in reasons[("7_a.jpg", "7_bad.jpg")]
    assert "missing" in reasons[("6_a.jpg", "6_missing.jpg")]
    (ver / "negative_pairs_names.txt").unlink()
    with pytest.raises(RIEInputError, match="negative_pairs_names.mat"):
        load_survface_pairs(tmp_path)


# ----------------------------------------------------------------------------- issue 17: bad input never silent


def _two_people(tmp_path):
    root = tmp_path / "faces"
    make_image(root / "alice" / "1.png", "L")
    make_image(root / "bob" / "1.png", "L")
    return root


def test_symlink_loop_does_not_duplicate_images(tmp_path):
    root = _two_people(tmp_path)
    (root / "alice" / "up").symlink_to("..")  # a loop: alice/up/bob, alice/up/alice/up/... (82 images before)
    ds = load_image_folder(root)
    assert len(ds) == 2 and ds.identities == ["alice", "bob"]
    assert label_of(ds, "alice/1.png") == 0 and label_of(ds, "bob/1.png") == 1
    assert "link to a folder already scanned" in skip_reason(ds, "alice/up")


def test_second_route_into_a_folder_is_not_followed(tmp_path):
    root = _two_people(tmp_path)
    (root / "bob" / "also_alice").symlink_to(root / "alice")  # alice's image would be labelled bob
    (root / "carol").symlink_to(root / "bob")  # a second name for bob: one person, two labels
    ds = load_image_folder(root)
    assert len(ds) == 2 and ds.identities == ["alice", "bob"]
    for link in ("bob/also_alice", "carol"):
        assert "link to a folder already scanned" in skip_reason(ds, link)


def test_symlink_to_an_ancestor_in_a_flat_scan(tmp_path):
    probe = tmp_path / "Testing_Set" / "Probe"
    make_image(probe / "1_1.jpg")
    make_image(tmp_path / "Testing_Set" / "Gallery_Match" / "2_1.jpg")
    (probe / "back").symlink_to("../..")
    ds = load_ui_folder(probe)
    assert len(ds) == 1 and "already scanned" in skip_reason(ds, "Probe/back")


def test_link_outside_the_tree_is_still_followed_once(tmp_path):
    make_image(tmp_path / "elsewhere" / "x.png", "L")
    make_image(tmp_path / "faces" / "alice" / "1.png", "L")
    (tmp_path / "faces" / "alice" / "more").symlink_to(tmp_path / "elsewhere")
    ds = load_image_folder(tmp_path / "faces")
    assert len(ds) == 2 and ds.labels.tolist() == [0, 0]


def _grey16(path, values):
    Image.fromarray(np.array(values, dtype=np.uint16)).save(path)
    return path


def test_16_bit_grey_is_scaled_by_bit_depth_not_by_content(tmp_path):
    # the same pixel value (200 of 65535) in two files that differ in one other pixel
    a = _grey16(tmp_path / "a.png", [[200, 200], [200, 200]])
    b = _grey16(tmp_path / "b.png", [[200, 200], [200, 65535]])
    assert Image.open(a).mode.startswith("I;16")
    ds = FaceFolderSet([(a, "x"), (b, "x")], image_size=2)
    pa, pb = ds[0][0], ds[1][0]
    assert pa[0, 0, 0] == pb[0, 0, 0] == pytest.approx(-1.0, abs=0.01)  # 200/65535 is nearly black
    assert pb[0, 1, 1] == 1.0
    # 16-bit PGM (PIL mode "I"): maxval 65535, same rule
    pgm = tmp_path / "c.pgm"
    pgm.write_bytes(b"P5 2 2 65535\n" + np.array([200, 200, 200, 32768], dtype=">u2").tobytes())
    img = FaceFolderSet([(pgm, "x")], image_size=2)[0][0]
    assert img[0, 0, 0] == pytest.approx(-1.0, abs=0.01) and img[0, 1, 1] == pytest.approx(0.0, abs=0.01)


@pytest.mark.parametrize("change", ["delete", "garbage", "rewrite"])
def test_file_changed_after_the_scan_is_skipped_and_counted(tmp_path, change):
    paths = [make_image(tmp_path / f"{k}.png", "L", 40 * k) for k in range(4)]
    ds = FaceFolderSet([(p, str(k)) for k, p in enumerate(paths)], image_size=8)
    assert ds.skipped == []
    if change == "delete":
        paths[1].unlink()
    elif change == "garbage":
        paths[1].write_bytes(b"\x89PNG not any more")
    else:  # still a valid image, but not the one validated
        make_image(paths[1], "L", 250, size=(20, 20))
    image, label, index = ds[1]
    assert (label, index) == (2, 2)  # the next readable file stands in, and says which it is
    assert image[0, 0, 0] == pytest.approx(80 / 127.5 - 1)
    assert [p for p, _ in ds.skipped] == [str(paths[1])]
    word = {"delete": "vanished", "garbage": "changed", "rewrite": "changed"}[change]
    assert word in ds.skipped[0][1] and "skipped 1" in ds.summary()
    x, y, idx = next(iter(DataLoader(ds, batch_size=4)))
    assert idx.tolist() == [0, 2, 2, 3] and y.tolist() == [0, 2, 2, 3]
    assert len(ds.skipped) == 1  # counted once


def test_undecodable_without_stamps_and_all_files_gone(tmp_path):
    paths = [make_image(tmp_path / f"{k}.png", "L") for k in range(2)]
    ds = FaceFolderSet([(p, "x") for p in paths], validate=False)
    paths[0].write_bytes(b"garbage")
    assert ds[0][2] == 1 and "no longer decodes" in ds.skipped[0][1]
    paths[1].unlink()
    with pytest.raises(RIEInputError, match="none of the 2 files can be read"):
        ds[0]
    with pytest.raises(IndexError):
        ds[2]


def test_skips_found_by_dataloader_workers_reach_the_main_process(tmp_path):
    paths = [make_image(tmp_path / f"{k}.png", "L", k) for k in range(6)]
    ds = FaceFolderSet([(p, str(k % 2)) for k, p in enumerate(paths)], image_size=8)
    paths[4].unlink()
    batches = list(DataLoader(ds, batch_size=3, num_workers=2))
    assert sorted(torch.cat([b[2] for b in batches]).tolist()) == [0, 1, 2, 3, 5, 5]
    assert ds.skipped == [(str(paths[4]), ds.skipped[0][1])] and "vanished" in ds.skipped[0][1]


def test_pair_list_with_undecodable_bytes_names_file_and_line(tmp_path):
    ver = tmp_path / "Face_Verification_Test_Set"
    for name in ("5_a.jpg", "5_b.jpg", "6_a.jpg"):
        make_image(ver / "verification_images" / name)
    (ver / "positive_pairs_names.txt").write_bytes(b"5_a.jpg 5_b.jpg\n5_\xff.jpg 5_a.jpg\n")
    make_text(ver / "negative_pairs_names.txt", "5_a.jpg 6_a.jpg\n")
    with pytest.raises(RIEInputError, match=r"positive_pairs_names.txt, line 2: not UTF-8"):
        load_survface_pairs(tmp_path)


def test_positive_pair_of_two_people_is_an_error_naming_the_line(tmp_path):
    ver = tmp_path / "Face_Verification_Test_Set"
    for name in ("5_a.jpg", "5_b.jpg", "6_a.jpg"):
        make_image(ver / "verification_images" / name)
    make_text(ver / "positive_pairs_names.txt", "5_a.jpg 5_b.jpg\n\n5_a.jpg 6_a.jpg\n")
    make_text(ver / "negative_pairs_names.txt", "5_a.jpg 6_a.jpg\n")
    with pytest.raises(RIEInputError, match=r"positive_pairs_names.txt, line 3: a positive .* 5_a.jpg is person 5, 6_a.jpg is person 6"):
        load_survface_pairs(tmp_path)
    make_text(ver / "positive_pairs_names.txt", "5_a.jpg 5_b.jpg\n")
    positive = np.empty((1, 2), dtype=object)
    positive[:] = [["5_a.jpg", "5_b.jpg"]]
    negative = np.empty((2, 2), dtype=object)
    negative[:] = [["5_a.jpg", "6_a.jpg"], ["5_b.jpg", "5_a.jpg"]]
    (ver / "negative_pairs_names.txt").unlink()
    savemat(ver / "negative_pairs_names.mat", {"negative_pairs_names": negative})
    with pytest.raises(RIEInputError, match=r"negative_pairs_names.mat, row 2: a negative"):
        load_survface_pairs(tmp_path)


def test_id_list_with_undecodable_bytes_names_file_and_line(tmp_path):
    test = make_survface(tmp_path, with_lists=False)
    (test / "gallery_img_ID_pairs.txt").write_bytes(b"20_c1_1.jpg 1\n\xe9t\xe9 2\n")
    with pytest.raises(RIEInputError, match=r"gallery_img_ID_pairs.txt, line 2: not UTF-8"):
        load_survface(tmp_path)


def test_float_image_with_nan_pixels_is_skipped_at_the_scan(tmp_path):
    good, bad = tmp_path / "good.tif", tmp_path / "bad.tif"
    Image.fromarray(np.full((4, 4), 0.5, dtype=np.float32)).save(good)
    Image.fromarray(np.array([[0.5, np.nan], [0.5, 0.5]], dtype=np.float32)).save(bad)
    ds = FaceFolderSet([(good, "x"), (bad, "x")], image_size=2)
    assert len(ds) == 1 and skip_reason(ds, "bad.tif") == "float image with NaN or inf pixels"
    assert ds[0][0][0, 0, 0] == pytest.approx(128 / 127.5 - 1, abs=1e-6)  # "F" is read as [0, 1]
