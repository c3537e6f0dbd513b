import math

import pytest
import torch
from torch import nn

from rie.common.checks import RIEInputError
from rie.experiments import grad_cam as gradcam
from rie.method.backbones import make_backbone
from rie.method.model import RIEModel


class PatchModel(nn.Module):
    """The feature map is the image; v = (sum of the map, 1). For the template e_0 every pixel's
    gradient is positive, so Grad-CAM is the channel-weighted image itself: zero wherever it is zero."""

    embedding_size = 2

    def __init__(self, size: int = 8):
        super().__init__()
        self.fmap = nn.Identity()
        self.fc = nn.Linear(3 * size * size, 2)
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.weight[0] = 1.0
            self.fc.bias.copy_(torch.tensor([0.0, 1.0]))

    @property
    def target_layer(self):
        return self.fmap

    def forward(self, x):
        return self.fc(self.fmap(x).flatten(1))


def _patch_images(n=3, size=8):
    x = torch.zeros(n, 3, size, size)
    x[:, :, 2:4, 5:7] = 1.0
    return x


def test_similarity_target_is_the_cosine():
    v, t = torch.tensor([3.0, 4.0]), torch.tensor([2.0, 0.0])
    assert gradcam.SimilarityToTemplate(t)(v).item() == pytest.approx(0.6)


def test_cam_lands_where_the_evidence_is():
    model, x = PatchModel(), _patch_images()
    cams = gradcam.embedding_cams(model, x, torch.tensor([[1.0, 0.0]]).repeat(3, 1), batch_size=2)
    assert cams.shape == (3, 8, 8) and cams.dtype == torch.float32
    assert cams.max() == pytest.approx(1.0) and cams.min() >= 0
    patch = torch.zeros(3, 1, 8, 8, dtype=torch.bool)
    patch[:, :, 2:4, 5:7] = True
    assert torch.allclose(gradcam.part_mass(cams, patch)[:, 0], torch.ones(3), atol=1e-4)
    assert torch.allclose(gradcam.part_concentration(cams, patch)[:, 0], torch.full((3,), 64 / 4), rtol=1e-4)


def test_frozen_weights_and_no_grad_context_still_give_maps():
    model = PatchModel().requires_grad_(False)
    with torch.no_grad():
        cams = gradcam.embedding_cams(model, _patch_images(1), torch.tensor([[1.0, 0.0]]))
    assert cams[0, 2:4, 5:7].min() > 0.5 and cams.sum() > 0


def test_a_template_pointing_away_gives_an_empty_map():
    cams = gradcam.embedding_cams(PatchModel(), _patch_images(1), torch.tensor([[-1.0, 0.0]]))
    assert cams.abs().sum() == 0  # no positive evidence: ReLU leaves nothing


def test_real_backbone_restores_mode_and_matches_image_size():
    torch.manual_seed(0)
    model = RIEModel(make_backbone("small_facenet", input_size=32))
    model.train()
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    templates = gradcam.identity_templates(model, images, torch.tensor([0, 0, 1, 1, 2]))
    assert templates.shape == (3, model.embedding_size)
    assert torch.allclose(templates.norm(dim=1), torch.ones(3))
    cams = gradcam.embedding_cams(model, images, templates[torch.tensor([0, 0, 1, 1, 2])])
    assert cams.shape == (5, 32, 32) and torch.isfinite(cams).all()
    assert model.training and all(p.grad is None for p in model.parameters())


def test_ladder_rows_one_per_model_and_rung():
    from rie.evaluation.protocols import ladder_images

    ladder = ladder_images(n_identities=3, per_id=2, resolutions=(16, 8), image_size=16, seed=0, with_boxes=True)
    rows = gradcam.ladder_rows({("patch", 0): PatchModel(size=16)}, ladder)
    assert [(r["method"], r["seed"], r["resolution"]) for r in rows] == [("patch", 0, 16), ("patch", 0, 8)]
    assert all(math.isfinite(r["concentration"]) and r["concentration"] > 0 for r in rows)
    with pytest.raises(RIEInputError, match="with_boxes=True"):
        gradcam.ladder_rows({("patch", 0): PatchModel(size=16)}, ladder[:3])


def test_ladder_positive_control_claim():
    rows, _ = _rows_and_masks()
    ladder = [{"method": m, "seed": s, "resolution": r, "concentration": c}
              for m, base in (("ours", 1.5), ("rival", 1.2)) for s in (0, 1, 2, 3) for r, c in ((32, base + 0.001 * s), (8, 1.0))]
    found = {c["claim"]: c for c in gradcam.claims(rows, "ours", ["rival"], ladder=ladder)}
    ours = found["ours: maps favour eyes/nose/mouth on 32 px ladder faces (positive control)"]
    assert ours["effect"] == pytest.approx(0.5015) and ours["verdict"] == "holds" and ours["n"] == 4
    rival = found["rival: maps favour eyes/nose/mouth on 32 px ladder faces (positive control)"]
    assert rival["effect"] == pytest.approx(0.2015) and rival["verdict"] == "holds"


def test_identity_templates_average_normalised_embeddings():
    from helpers import FlattenModel

    images = torch.tensor([[3.0, 0.0], [0.0, 5.0], [0.0, 1.0]]).view(3, 1, 1, 2)
    templates = gradcam.identity_templates(FlattenModel(), images, torch.tensor([0, 0, 2]))
    assert torch.allclose(templates[0], torch.tensor([1.0, 1.0]) / math.sqrt(2))
    assert torch.allclose(templates[2], torch.tensor([0.0, 1.0]))
    assert torch.isnan(templates[1]).all()  # no image of identity 1


def test_part_mass_by_hand():
    cams = torch.zeros(3, 4, 4)
    cams[0, 0, 0] = 2.0  # all mass in the top-left pixel
    cams[1] = 1.0  # uniform
    masks = torch.zeros(3, 2, 4, 4, dtype=torch.bool)
    masks[:, 0, :2, :2] = True  # a quarter of the image
    masks[:, 1, 3, :] = True  # the bottom row
    mass = gradcam.part_mass(cams, masks)
    assert torch.allclose(mass[0], torch.tensor([1.0, 0.0]))
    assert torch.allclose(mass[1], torch.tensor([0.25, 0.25]))
    assert torch.isnan(mass[2]).all()  # an all-zero map has no mass to share
    conc = gradcam.part_concentration(cams, masks.any(1, keepdim=True))[:, 0]
    assert conc[0].item() == pytest.approx(1 / 0.5) and conc[1].item() == pytest.approx(1.0)
    assert torch.isnan(conc[2])
    per_part = gradcam.part_concentration(cams, masks)
    assert torch.allclose(per_part[0], torch.tensor([4.0, 0.0])) and torch.allclose(per_part[1], torch.ones(2))
    masks[1, 1] = False  # an empty mask has no concentration
    assert torch.isnan(gradcam.part_concentration(cams, masks)[1, 1])


def test_mean_map_control():
    cams = torch.zeros(2, 4, 4)
    cams[0, 0, 0] = 1.0
    cams[1, 3, 3] = 1.0
    masks = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    masks[0, 0, 0, 0] = True
    masks[1, 0, 3, 3] = True
    # each map follows its own image's part: concentration 16; the average map only half of it
    assert torch.allclose(gradcam.part_concentration(cams, masks)[:, 0], torch.tensor([16.0, 16.0]))
    assert torch.allclose(gradcam.mean_map_concentration(cams, masks)[:, 0], torch.tensor([8.0, 8.0]))


def _rows_and_masks():
    # 4 images, 4 x 4; the part of every image is its top-left quadrant
    masks = torch.zeros(4, 1, 4, 4, dtype=torch.bool)
    masks[:, 0, :2, :2] = True
    on, off = torch.zeros(4, 4), torch.ones(4, 4)
    on[:2, :2] = 1.0
    cams = {("ours", 0): torch.stack([on, on, on, off]), ("ours", 1): torch.stack([on, on, on, on]),
            ("rival", 0): torch.stack([off, off, on, off]), ("rival", 1): torch.stack([on, off, off, off])}
    groups = {"all": torch.ones(4, dtype=torch.bool), "hard": torch.tensor([False, False, True, True])}
    return gradcam.concentration_rows(cams, masks, groups, parts=("tl",)), masks


def test_concentration_rows_by_hand():
    rows, _ = _rows_and_masks()
    assert len(rows) == 8
    ours0 = next(r for r in rows if r["method"] == "ours" and r["seed"] == 0 and r["group"] == "all")
    assert ours0["concentration"] == pytest.approx((4 + 4 + 4 + 1) / 4) and ours0["tl"] == ours0["concentration"]
    assert ours0["control"] == pytest.approx((4 / 7) / 0.25)  # average map: 1 on the part, 1/4 elsewhere
    assert ours0["empty"] == 0.0
    hard1 = next(r for r in rows if r["method"] == "rival" and r["seed"] == 1 and r["group"] == "hard")
    assert hard1["concentration"] == pytest.approx(1.0)


def test_claims_pair_by_seed_and_group():
    rows, _ = _rows_and_masks()
    found = {c["claim"]: c for c in gradcam.claims(rows, "ours", ["rival"])}
    all_probes = found["ours lands more on eyes/nose/mouth than rival (all probes)"]
    # ours - rival: seed 0 (13 - 7) / 4 = 1.5, seed 1 (16 - 7) / 4 = 2.25
    assert all_probes["effect"] == pytest.approx(1.875) and all_probes["n"] == 2
    assert all_probes["verdict"] == "within spread"  # two seeds: the t interval (12.7 x the std error) spans 0
    assert found["ours lands more on eyes/nose/mouth than rival (hard probes)"]["effect"] == pytest.approx((2.5 - 2.5 + 4 - 1) / 2)
    follows = found["ours: maps follow each face's parts (beat its average map)"]
    assert follows["n"] == 2 and follows["effect"] == pytest.approx((13 / 4 - 16 / 7 + 0) / 2) and follows["unit"] == "x"
    favours = found["rival: maps favour eyes/nose/mouth (concentration > 1)"]
    assert favours["effect"] == pytest.approx(7 / 4 - 1) and favours["lo"] == favours["hi"] and favours["verdict"] == "holds"
    assert len(found) == 2 * 2 + 2


def test_bad_input_is_named():
    model, x = PatchModel(), _patch_images(2)
    with pytest.raises(RIEInputError, match="templates must be"):
        gradcam.embedding_cams(model, x, torch.ones(3, 2))
    with pytest.raises(RIEInputError, match="dimensions"):
        gradcam.embedding_cams(model, x, torch.ones(2, 5))
    with pytest.raises(RIEInputError, match="finite and non-zero"):
        gradcam.embedding_cams(model, x, torch.tensor([[1.0, 0.0], [float("nan"), 0.0]]))
    with pytest.raises(RIEInputError, match="target_layer"):
        gradcam.embedding_cams(nn.Linear(2, 2), x, torch.ones(2, 2))
    with pytest.raises(RIEInputError, match="masks must be"):
        gradcam.part_mass(torch.zeros(2, 4, 4), torch.zeros(2, 1, 5, 5, dtype=torch.bool))
    with pytest.raises(RIEInputError, match="non-negative"):
        gradcam.part_mass(-torch.ones(1, 4, 4), torch.zeros(1, 1, 4, 4, dtype=torch.bool))
    with pytest.raises(RIEInputError, match="group 'g' selects from 3 images"):
        gradcam.concentration_rows({("m", 0): torch.ones(2, 4, 4)}, torch.ones(2, 1, 4, 4, dtype=torch.bool),
                                   {"g": torch.ones(3, dtype=torch.bool)})
    with pytest.raises(RIEInputError, match="no images"):
        gradcam.identity_templates(model, x[:0], torch.zeros(0, dtype=torch.long))
    with pytest.raises(RIEInputError, match="labels must be >= 0"):
        gradcam.identity_templates(model, x, torch.tensor([0, -1]))
