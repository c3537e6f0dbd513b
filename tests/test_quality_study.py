import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from helpers import PixelModel

from rie.experiments import quality_and_erc as quality_study


def test_normalise_and_skewness():
    s = torch.tensor([2.0, 4.0, 6.0, 10.0])
    assert np.allclose(quality_study.normalise(s), [0.0, 0.25, 0.5, 1.0])
    assert quality_study.skewness(torch.tensor([0.0, 0.0, 0.0, 10.0])) > 0
    assert quality_study.skewness(torch.tensor([1.0, 2.0, 3.0])) == pytest.approx(0.0)


def test_erc_table_shapes_and_a_perfect_quality_score():
    torch.manual_seed(0)
    labels = torch.arange(6).repeat_interleave(4)
    images = torch.rand(24, 3, 16, 16)
    images[::2] = images[::2] * 0.1  # half the images washed out
    scores = {"good": images.flatten(1).std(1), "random": torch.rand(24)}
    curves, rows = quality_study.erc_table(PixelModel(pool=8), images, labels, scores, n_mated=30, n_nonmated=150, fmrs=(0.1,))
    assert len(rows) == 4 and {r["style"] for r in rows} == {"recompute", "fixed"}
    assert set(curves) == {(n, s) for n in scores for s in ("recompute", "fixed")}
    assert all(0.0 <= r["area@0.1"] <= 1.0 for r in rows)


def _area_rows(areas):
    """``areas[(score, seed)] = area`` -> erc rows for one recognition model and style."""
    return [{"recognition": "rie", "style": "fixed", "score": s, "seed": seed, "area@0.001": a}
            for (s, seed), a in areas.items()]


def test_area_claims_pair_by_seed_and_hold_when_ri_is_smaller():
    ri, other = quality_study.RI, "CR-FIQA"
    seeds = [(0, 0), (0, 1), (1, 0), (1, 1)]
    # RI better on every seed by 0.10 +- a little: holds; the seed-level offset cancels in the pairing
    areas = {**{(ri, s): 0.2 + k for k, s in enumerate(seeds)}, **{(other, s): 0.3 + k + 0.01 * (k % 2) for k, s in enumerate(seeds)}}
    (c,) = quality_study.area_claims(_area_rows(areas), fmrs=(1e-3,))
    assert c["verdict"] == "holds" and c["n"] == 4 and c["effect"] == pytest.approx(0.105)
    assert "smaller ERC area than CR-FIQA" in c["claim"] and "style fixed" in c["claim"]
    # RI worse: reversed
    flipped = {(n, s): -a for (n, s), a in areas.items()}
    assert quality_study.area_claims(_area_rows(flipped), fmrs=(1e-3,))[0]["verdict"] == "reversed"


def test_area_claims_use_only_the_shared_seeds():
    ri = quality_study.RI
    areas = {(ri, (0, 0)): 0.1, (ri, (0, 1)): 0.5, (ri, (1, 0)): 0.2, (ri, (1, 1)): 0.9,
             ("MagFace norm", (0, 0)): 0.3, ("MagFace norm", (1, 0)): 0.35}  # one fine-tune per encoder
    (c,) = quality_study.area_claims(_area_rows(areas), fmrs=(1e-3,))
    assert c["n"] == 2 and c["effect"] == pytest.approx(0.175)
    assert c["claim"].endswith("(recognition: rie, style fixed, FMR 0.001; n = 2: 2 encoders, one fine-tune each)")


def test_skew_claim_reads_a_positive_skew_as_reversed():
    seeds = [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert quality_study.skew_claim(dict(zip(seeds, [0.8, 0.9, 1.0, 0.85])))["verdict"] == "reversed"
    held = quality_study.skew_claim(dict(zip(seeds, [-0.8, -0.9, -1.0, -0.85])))
    assert held["verdict"] == "holds" and held["effect"] == pytest.approx(0.8875) and held["n"] == 4
    assert "n = 4: 2 encoders x 2 fine-tunes" in held["claim"]
    assert quality_study.skew_claim({(0, 0): -1.0})["verdict"] == "within spread"  # one seed: no interval


def test_rho_claims_more_negative_is_better():
    rows = [{"score": quality_study.RI, "seed": (0, s), "rho": -0.6 - 0.01 * s} for s in range(3)]
    rows += [{"score": "ERS", "seed": (0, s), "rho": -0.3 - 0.02 * s} for s in range(3)]
    (c,) = quality_study.rho_claims(rows)
    assert c["verdict"] == "holds" and c["effect"] == pytest.approx(0.29)


def test_verdict_summary_counts():
    claims = [{"verdict": v} for v in ("holds", "holds", "reversed", "within spread")]
    assert quality_study.verdict_summary(claims) == "2 of 4 claims hold, 1 reversed, 1 within spread"


def test_model_plan_shares_notebook_04_configs_and_counts_the_new_ones():
    from rie.common.constants import RUN_SEEDS
    from rie.experiments import training_and_ablation as ablation

    seeds = RUN_SEEDS["default"]
    plan = quality_study.model_plan(seeds, "default")
    assert sum(m == "rie" for m, _ in plan) == 4 and sum(m == "arcface" for m, _ in plan) == 4
    assert {s for m, s in plan if m in ("crfiqa", "magface", "adaface")} == {(0, 0), (1, 0)}
    assert plan["rie", (1, 1)] == (1, ablation.method_config(ablation.OURS, "default", 1))
    assert plan["crfiqa", (1, 0)][1].crfiqa_weight == 10.0
    new = quality_study.beyond_notebook_04(plan, seeds, "default")
    assert sorted(new) == [("crfiqa", (0, 0)), ("crfiqa", (1, 0))]
    # without AdaFace/MagFace in notebook 04 they count as new too
    assert len(quality_study.beyond_notebook_04(plan, seeds, "default", methods=[ablation.BASELINE, ablation.OURS])) == 6


def test_erc_curves_draw_one_panel_per_style():
    torch.manual_seed(0)
    labels = torch.arange(6).repeat_interleave(4)
    images = torch.rand(24, 3, 16, 16)
    curves, _ = quality_study.erc_table(PixelModel(pool=8), images, labels, {"random": torch.rand(24)}, n_mated=30,
                                        n_nonmated=150, fmrs=(0.1,))
    fig = quality_study.erc_curves(curves, 0.1, quality_study.STYLES, "t")
    one = quality_study.erc_curves(curves, 0.1, "fixed", "t")
    try:
        assert [ax.get_title().splitlines()[-1] for ax in fig.axes] == ["recompute threshold", "fixed threshold"]
        assert len(one.axes) == 1
    finally:
        plt.close(fig)
        plt.close(one)


def test_coverage_says_what_n_covers():
    assert quality_study.coverage([(0, 0), (0, 1), (1, 0), (1, 1)]) == "n = 4: 2 encoders x 2 fine-tunes"
    assert quality_study.coverage([(0, 0), (1, 0)]) == "n = 2: 2 encoders, one fine-tune each"
    assert quality_study.coverage([(0, 0)]) == "n = 1: 1 encoder, one fine-tune each"
    assert quality_study.coverage([(0, 0), (0, 1), (1, 0)]) == "n = 3 seed pairs"


def test_test_split_is_gallery_then_probe_and_has_no_difficulty_on_a_real_set():
    from rie.experiments.notebook_data import Faces

    def role(n, start, difficulty=None):
        return Faces(torch.full((n, 3, 4, 4), start, dtype=torch.uint8), torch.arange(start, start + n), "r", difficulty=difficulty)

    real = {"gallery": role(2, 0), "probe": role(3, 10)}
    images, labels, difficulty = quality_study.test_split(real)
    assert labels.tolist() == [0, 1, 10, 11, 12] and images[:, 0, 0, 0].tolist() == [0, 0, 10, 10, 10] and difficulty is None
    synthetic = {"gallery": role(2, 0, torch.tensor([0.1, 0.2])), "probe": role(1, 5, torch.tensor([0.9]))}
    assert quality_study.test_split(synthetic)[2].tolist() == pytest.approx([0.1, 0.2, 0.9])


class _Scored(PixelModel):
    """A stand-in checkpoint: optionally CR-FIQA's ``quality_head`` (published) or ``crfiqa`` and ``regression`` (an RIEModel)."""

    def __init__(self, head=None, crfiqa=None):
        super().__init__(pool=8)
        self.quality_head, self.crfiqa = head, crfiqa


@pytest.mark.parametrize("fmt, kind, names", [
    ("arcface_torch", None, [quality_study.NORM, "ERS"]),
    ("magface", None, ["MagFace norm", "ERS"]),
    ("adaface", None, ["AdaFace norm", "ERS"]),
    ("crfiqa", "quality_head", ["CR-FIQA", quality_study.NORM, "ERS"]),
    ("rie", "crfiqa", ["CR-FIQA", quality_study.NORM, "ERS"]),
])
def test_external_scores_are_the_ones_the_checkpoint_has(fmt, kind, names):
    from rie.evaluation.inference import extract
    from rie.evaluation.quality import ers, feature_norm
    from rie.experiments.notebook_data import ExternalModel
    from rie.method.crfiqa import CRFIQAHead
    from rie.method.ri import ui_center

    torch.manual_seed(0)
    images, ui = torch.rand(6, 3, 16, 16), torch.rand(4, 3, 16, 16)
    head = CRFIQAHead(12)  # 3 channels x (16 / 8)^2
    model = _Scored(**({} if kind is None else {"head" if kind == "quality_head" else "crfiqa": head}))
    scores = quality_study.external_scores(ExternalModel(model, f"{fmt}:model.pth"), images, ui)
    assert list(scores) == names
    assert torch.allclose(scores["ERS"], ers(model, images, ui_center(extract(model, ui).v)))
    assert torch.allclose(scores[names[-2]], feature_norm(model, images))
    if "CR-FIQA" in names:
        assert torch.allclose(scores["CR-FIQA"], head(extract(model, images).v))


def test_external_scores_of_an_rie_model_lead_with_its_learned_ri():
    from rie.evaluation.quality import learned_ri
    from rie.experiments.notebook_data import ExternalModel
    from rie.method.backbones import make_backbone
    from rie.method.model import RIEModel

    torch.manual_seed(0)
    model = RIEModel(make_backbone("small_facenet", embedding_size=16, input_size=32)).eval()
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    scores = quality_study.external_scores(ExternalModel(model, "rie:folder"), images, images[:3])
    assert list(scores) == [quality_study.RI, quality_study.NORM, "ERS"] and all(len(s) == 5 for s in scores.values())
    assert torch.allclose(scores[quality_study.RI], learned_ri(model, images))


@pytest.mark.parametrize("verdict, effect, words", [
    ("holds", 0.5, "negatively skewed, as the paper reads it"),
    ("reversed", -0.5, "positively skewed: the opposite"),
    ("within spread", -0.1, "mean skew positive, but not beyond the seed spread"),
    ("within spread", 0.1, "mean skew negative, but not beyond"),
    ("undefined", float("nan"), "undefined"),
])
def test_skew_reading_words_the_verdict(verdict, effect, words):
    assert quality_study.skew_reading({"verdict": verdict, "effect": effect}).startswith(words)
