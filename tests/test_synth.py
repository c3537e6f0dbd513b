"""The synthetic face world: determinism, roles, difficulty, boxes, identity signal, cache, bad input."""

import json
import warnings

import pytest
import torch

from rie.common.checks import RIEInputError
from rie.data import synth
from rie.data.synth import FaceSet, WorldConfig, build_world, render, sample_identities, sample_nuisance


@pytest.fixture(scope="module")
def smoke_config():
    return WorldConfig.from_profile("smoke", seed=3)


@pytest.fixture(scope="module")
def world(smoke_config, tmp_path_factory):
    return build_world(smoke_config, cache_dir=tmp_path_factory.mktemp("cache"))


# --- profiles and config -------------------------------------------------------------------------
def test_profiles_have_the_promised_scale():
    sizes = {p: WorldConfig.from_profile(p).role_sizes() for p in ("smoke", "default", "paper")}
    assert sizes["default"]["ui"] >= 5000, "the UI set must hold K = 5000 images for Eq. 6"
    for role in synth.ROLES:
        assert sizes["smoke"][role] <= sizes["default"][role] <= sizes["paper"][role]
    assert WorldConfig.from_profile("paper").image_size == 112
    assert WorldConfig.from_profile("default").render_size == 64


def test_tier_overrides_merge_into_the_profile():
    cfg = WorldConfig.from_profile("smoke", frac_hard=0.7, tier_hard={"resolution": (8, 9)})
    assert cfg.frac_hard == 0.7 and cfg.tier_hard.resolution == (8, 9)
    assert cfg.tier_hard.blur_sigma == synth.TIERS["hard"].blur_sigma  # untouched fields keep the default


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(profile="huge"), "unknown profile"),
        (dict(train_identities=-3), "train_identities"),
        (dict(ui_images=0), "ui_images"),
        (dict(frac_hard=1.5), "frac_hard"),
        (dict(image_size=4), "image_size"),
        (dict(render_size=16), "render_size"),
        (dict(tier_moderate={"resolution": (16, 48)}), "exceeds the image size"),
        (dict(tier_hard={"blur_sigma": (2.0, 1.0)}), "lo > hi"),
        (dict(tier_hard={"sharpness": 3}), "unknown tier field"),
        (dict(colour="red"), "unknown WorldConfig field"),
    ],
)
def test_bad_config_raises(kwargs, match):
    profile = kwargs.pop("profile", "smoke")
    with pytest.raises(RIEInputError, match=match):
        WorldConfig.from_profile(profile, **kwargs)


def test_bad_render_input_raises():
    ids = sample_identities(2, 0)
    with pytest.raises(RIEInputError, match="resolution_px"):
        render(ids, {"resolution_px": 40.0}, image_size=32)  # sensor larger than the image
    with pytest.raises(RIEInputError, match="identities"):
        render(torch.rand(2, 5), {}, image_size=32)
    with pytest.raises(RIEInputError, match="shape"):
        render(ids, {"yaw": torch.zeros(3)})
    with pytest.raises(RIEInputError, match="unknown nuisance"):
        render(ids, {"wobble": 1.0})
    with pytest.raises(RIEInputError, match="degrade"):
        render(ids, {}, degrade={"yaw": 3.0})
    with pytest.raises(RIEInputError, match="n must be"):
        sample_identities(-1, 0)
    with pytest.raises(RIEInputError, match="tier"):
        sample_nuisance(4, 0, tier="medium")
    with pytest.raises(RIEInputError, match="exceeds the image size"):
        sample_nuisance(4, 0, tier="moderate", image_size=16)  # moderate goes up to 24 px


# --- determinism -----------------------------------------------------------------------------------
def test_same_seed_same_world_different_seed_different(world, smoke_config):
    again = build_world(smoke_config, cache_dir=None)
    other = build_world(WorldConfig.from_profile("smoke", seed=4), cache_dir=None)
    for role in synth.ROLES:
        assert torch.equal(world[role].images, again[role].images), role
        assert torch.equal(world[role].difficulty, again[role].difficulty), role
        assert not torch.equal(world[role].images, other[role].images), role


def test_an_image_does_not_depend_on_its_batch():
    ids = sample_identities(6, 1)
    nz = sample_nuisance(6, 2, "hard")
    whole = render(ids, nz).images
    pieces = render(ids, nz, chunk=4).images
    alone = render(ids[3:4], {k: v[3:4] for k, v in nz.items()}).images
    assert torch.equal(whole, pieces) and torch.equal(whole[3:4], alone)


def test_identities_are_spread_apart():
    theta = sample_identities(300, 0, min_distance=0.8)
    d = torch.cdist(theta, theta) + torch.eye(300) * 10
    assert d.min() >= 0.8
    assert theta.min() >= 0 and theta.max() <= 1


# --- roles ---------------------------------------------------------------------------------------
def test_roles_shapes_and_dtypes(world, smoke_config):
    sizes = smoke_config.role_sizes()
    assert set(world) == set(synth.ROLES)
    for role, fs in world.items():
        n = sizes[role]
        assert isinstance(fs, FaceSet) and fs.role == role and len(fs) == n
        assert fs.images.dtype == torch.uint8 and fs.images.shape == (n, 3, 32, 32)
        assert fs.labels.dtype == torch.int64 and fs.labels.shape == (n,)
        assert fs.difficulty.dtype == torch.float32 and fs.boxes.shape == (n, 3, 4)
        assert all(v.shape == (n,) for v in fs.params.values())
        for key in ("yaw", "pitch", "roll", "expression", "light_dir", "light_strength", "occlusion",
                    "resolution_px", "blur_sigma", "noise_std", "jpeg_quality", "identity"):  # fmt: skip
            assert key in fs.params, key
        f = fs.to_float()
        assert f.dtype == torch.float32 and f.min() >= -1 and f.max() <= 1


def test_labels_are_contiguous_and_unlabelled_roles_are_minus_one(world, smoke_config):
    for role in ("pretrain", "train", "gallery", "probe"):
        fs = world[role]
        assert torch.equal(fs.labels.unique(), torch.arange(fs.num_classes)), role
    assert world["gallery"].num_classes == world["probe"].num_classes == smoke_config.test_identities
    # gallery and probe share one label space: the same label is the same person
    for role in ("gallery", "probe"):
        fs = world[role]
        per_label = {int(l): set(fs.identities[fs.labels == l].tolist()) for l in fs.labels.unique()}
        assert all(len(v) == 1 for v in per_label.values())
    g, p = world["gallery"], world["probe"]
    assert torch.equal(g.identities[g.labels.argsort(stable=True)][:: smoke_config.gallery_per_id],
                       p.identities[p.labels.argsort(stable=True)][:: smoke_config.probe_per_id])  # fmt: skip
    for role in ("distractor", "ui"):
        assert (world[role].labels == -1).all() and world[role].num_classes == 0
    assert len(world["ui"]) >= smoke_config.ui_images


def test_identities_are_disjoint_across_roles(world):
    groups = {
        "pretrain": world["pretrain"], "train": world["train"], "test": world["gallery"],
        "distractor": world["distractor"], "ui": world["ui"],
    }  # fmt: skip
    ids = {k: set(v.identities.tolist()) for k, v in groups.items()}
    names = list(ids)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not ids[a] & ids[b], f"{a} and {b} share identities"
    assert set(world["probe"].identities.tolist()) == ids["test"]


def test_vlr_roles_mix_tiers_and_ui_is_hardest(world, smoke_config):
    hard = synth.TIER_CODES["hard"]
    for role in ("train", "gallery", "probe", "distractor"):
        fs = world[role]
        tiers = set(fs.params["tier"].long().tolist())
        assert tiers <= {synth.TIER_CODES["moderate"], hard}
        res = fs.params["resolution_px"]
        assert res.min() >= 8 and res.max() <= 24
    train = world["train"]
    is_hard = train.params["tier"] == hard
    assert 0.2 < is_hard.float().mean() < 0.7  # frac_hard = 0.45
    assert (train.params["resolution_px"][is_hard] <= smoke_config.tier_hard.resolution[1]).all()
    assert (train.params["resolution_px"][~is_hard] >= smoke_config.tier_moderate.resolution[0]).all()
    assert smoke_config.tier_hard.resolution[1] < smoke_config.tier_moderate.resolution[0]  # the tiers do not overlap
    assert (world["pretrain"].params["resolution_px"] == 32).all()
    means = {r: float(world[r].difficulty.mean()) for r in ("pretrain", "train", "ui")}
    assert means["pretrain"] < means["train"] < means["ui"]
    assert train.difficulty[is_hard].mean() > train.difficulty[~is_hard].mean() + 0.2


def test_frac_hard_is_honoured():
    cfg = WorldConfig.from_profile("smoke", frac_hard=0.0)
    train = build_world(cfg, cache_dir=None)["train"]
    assert (train.params["tier"] == synth.TIER_CODES["moderate"]).all()


def test_subset_and_dataset(world):
    fs = world["train"]
    sub = fs.subset(torch.tensor([5, 1, 7]))
    assert len(sub) == 3 and torch.equal(sub.images[1], fs.images[1]) and sub.num_classes == fs.num_classes
    assert torch.equal(sub.params["yaw"], fs.params["yaw"][[5, 1, 7]])
    mask = fs.labels == 0
    assert len(fs.subset(mask)) == int(mask.sum())
    ds = fs.as_dataset()
    x, y, i = ds[4]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == int(fs.labels[4]) and i == 4
    with pytest.raises(RIEInputError):
        fs.subset(torch.tensor([len(fs)]))


# --- difficulty ----------------------------------------------------------------------------------
def test_difficulty_in_unit_interval_and_monotone_in_resolution():
    ids = sample_identities(1, 0).expand(7, -1)
    nz = sample_nuisance(1, 5, "moderate")
    nz = {k: v.expand(7).clone() for k, v in nz.items()}
    res = torch.tensor([32.0, 24, 20, 16, 12, 10, 8])
    batch = render(ids, nz, 32, degrade={"resolution_px": res})
    d = batch.difficulty
    assert ((d >= 0) & (d <= 1)).all()
    assert (d[1:] > d[:-1]).all(), d  # lower resolution, everything else fixed: harder


@pytest.mark.parametrize("key, low, high", [("blur_sigma", 0.0, 1.5), ("noise_std", 0.0, 0.1),
                                            ("jpeg_quality", 95.0, 20.0)])  # fmt: skip
def test_difficulty_grows_with_each_degradation(key, low, high):
    ids = sample_identities(2, 0)
    nz = {k: v[:1].expand(2).clone() for k, v in sample_nuisance(1, 1, "moderate").items()}
    nz[key] = torch.tensor([low, high])
    d = render(ids, nz).difficulty
    assert d[1] > d[0]


def test_difficulty_extremes():
    ids = sample_identities(2, 0)
    clean = render(ids, {}, degrade=False)
    assert torch.allclose(clean.difficulty, torch.zeros(2))
    worst = {"resolution_px": 8.0, "blur_sigma": 2.0, "noise_std": 0.15, "jpeg_quality": 10.0, "yaw": 70.0,
             "pitch": 45.0, "light_strength": 1.0, "exposure": 1.5}  # fmt: skip
    d = synth.difficulty_score({**sample_nuisance(2, 0, "clean"), **{k: torch.full((2,), v) for k, v in worst.items()},
                                "occlusion": torch.full((2,), 0.5)})  # fmt: skip
    assert torch.allclose(d, torch.ones(2))


# --- boxes ---------------------------------------------------------------------------------------
def test_boxes_inside_the_image_and_on_the_features(world):
    for fs in world.values():
        b = fs.boxes
        assert (b >= 0).all() and (b <= 32).all()
        assert (b[..., 2] > b[..., 0]).all() and (b[..., 3] >= b[..., 1]).all()
    # on frontal, centred faces: eyes above the nose above the mouth, all near the middle
    ids = sample_identities(8, 0)
    batch = render(ids, {}, image_size=64, degrade=False)
    cy = (batch.boxes[..., 1] + batch.boxes[..., 3]) / 2
    cx = (batch.boxes[..., 0] + batch.boxes[..., 2]) / 2
    assert (cy[:, 0] < cy[:, 1]).all() and (cy[:, 1] < cy[:, 2]).all()
    assert ((cx - 32).abs() < 4).all()
    masks = batch.masks()
    assert masks.shape == (8, 3, 64, 64) and masks.dtype == torch.bool
    assert (masks.sum((2, 3)) > 0).all()


def test_boxes_follow_the_crop():
    ids = sample_identities(1, 0).expand(2, -1)
    b = render(ids, {"shift_x": torch.tensor([0.0, 0.25])}, image_size=32, degrade=False).boxes
    assert torch.allclose(b[1, :, [0, 2]] - b[0, :, [0, 2]], torch.full((3, 2), 4.0), atol=1e-4)


def test_boxes_to_masks_by_hand():
    m = synth.boxes_to_masks(torch.tensor([[[1.0, 2.0, 3.0, 3.0]]]), 5)
    expected = torch.zeros(5, 5, dtype=torch.bool)
    expected[2, 1:3] = True  # pixel centres 1.5, 2.5 in x; 2.5 in y
    assert torch.equal(m[0, 0], expected)


# --- identity signal -------------------------------------------------------------------------------
def test_identities_separable_at_high_resolution_and_destroyed_by_extreme_degradation():
    mild = [synth.raw_pixel_identification("hr", seed=s) for s in range(2)]
    extreme = [synth.raw_pixel_identification("ui", seed=s) for s in range(2)]
    chance = 0.1
    assert min(mild) > 3.5 * chance, mild
    assert max(extreme) < 2.5 * chance, extreme
    assert sum(mild) > 2.5 * sum(extreme)


# --- cache ---------------------------------------------------------------------------------------
def test_cache_hit_rebuild_and_corruption(tmp_path, monkeypatch):
    cfg = WorldConfig.from_profile("smoke", seed=11, ui_images=64, pretrain_identities=12)
    first = build_world(cfg, cache_dir=tmp_path)
    folder = tmp_path / synth.cache_key(cfg)
    assert json.loads((folder / "config.json").read_text())["config"] == cfg.to_dict()

    calls = []
    real = synth.world._build_role  # build_world looks it up in its own module
    monkeypatch.setattr(synth.world, "_build_role", lambda role, *a: calls.append(role) or real(role, *a))
    hit = build_world(cfg, cache_dir=tmp_path)
    assert calls == [] and torch.equal(hit["train"].images, first["train"].images)

    # a stored config that does not match is rebuilt, never reused
    stored = json.loads((folder / "config.json").read_text())
    stored["config"]["seed"] = 12
    (folder / "config.json").write_text(json.dumps(stored))
    with pytest.warns(UserWarning, match="another config"):
        rebuilt = build_world(cfg, cache_dir=tmp_path)
    assert sorted(calls) == sorted(synth.ROLES)
    assert torch.equal(rebuilt["ui"].images, first["ui"].images)

    # a corrupt role file is rebuilt with a warning, the rest is read from the cache
    calls.clear()
    (folder / "probe.pt").write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="corrupt"):
        fixed = build_world(cfg, cache_dir=tmp_path)
    assert calls == ["probe"] and torch.equal(fixed["probe"].images, first["probe"].images)

    # a file that loads but holds the wrong contents is also rebuilt
    calls.clear()
    state = torch.load(folder / "gallery.pt", weights_only=True)
    state["images"] = state["images"][:3]
    torch.save(state, folder / "gallery.pt")
    with pytest.warns(UserWarning, match="corrupt"):
        build_world(cfg, cache_dir=tmp_path)
    assert calls == ["gallery"]

    # a different config gets its own folder
    other = WorldConfig.from_profile("smoke", seed=11, ui_images=64, pretrain_identities=12, frac_hard=0.2)
    assert synth.cache_key(other) != synth.cache_key(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_world(other, cache_dir=tmp_path)
    assert (tmp_path / synth.cache_key(other) / "config.json").exists()


# --- rendering API for the notebooks --------------------------------------------------------------
def test_resolution_ladder_at_paper_size():
    ids = sample_identities(1, 0).expand(5, -1)
    ladder = torch.tensor([112.0, 48, 24, 12, 8])
    batch = render(ids, {}, image_size=112, degrade={"resolution_px": ladder})
    assert batch.images.shape == (5, 3, 112, 112)
    x = batch.to_float()
    # detail (pixel-to-pixel variation) falls as the sensor shrinks
    detail = (x[..., 1:, :] - x[..., :-1, :]).abs().mean((1, 2, 3))
    assert (detail[1:] < detail[:-1]).all(), detail


def test_degrade_false_and_clean_defaults():
    ids = sample_identities(3, 0)
    nz = sample_nuisance(3, 0, "hard")
    batch = render(ids, nz, degrade=False)
    assert (batch.params["resolution_px"] == 32).all() and (batch.params["noise_std"] == 0).all()
    assert batch.params["yaw"].abs().max() > 0  # the scene nuisance is kept
    frontal = render(ids, {"yaw": 30.0})
    assert (frontal.params["yaw"] == 30).all() and (frontal.params["roll"] == 0).all()
