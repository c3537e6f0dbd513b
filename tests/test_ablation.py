import math

import pytest
import torch

from rie.common.constants import PAPER_WEIGHTS
from rie.evaluation import verdicts
from rie.experiments import training_and_ablation as ablation


def test_every_paper_row_has_a_method():
    assert set(ablation.METHODS) == set(ablation.PAPER_TABLE4)


def test_method_configs_switch_the_right_terms():
    alpha, beta, gamma = PAPER_WEIGHTS["alpha"], PAPER_WEIGHTS["beta"], PAPER_WEIGHTS["gamma"]
    ours = ablation.method_config("Ours (all)", "default", 0)
    assert (ours.loss.alpha, ours.loss.beta, ours.loss.gamma) == (alpha, beta, gamma)
    only_id = ablation.method_config("I (+ID)", "default", 0)
    assert (only_id.loss.alpha, only_id.loss.beta, only_id.loss.gamma) == (0.0, beta, 0.0)
    only_l1 = ablation.method_config("III (+L1)", "default", 1)
    assert (only_l1.loss.alpha, only_l1.loss.beta, only_l1.loss.gamma) == (alpha, 0.0, 0.0) and only_l1.seed == 1
    assert len({ablation.method_config(n, "default", 0).name for n in ablation.METHODS}) == len(ablation.METHODS)
    assert ablation.method_config("CosFace", "default", 0).head == "cosface"


def test_summarise_mean_and_sample_std():
    rows = [{"method": "a", "r1 w/o dis": 1.0}, {"method": "a", "r1 w/o dis": 3.0}, {"method": "b", "r1 w/o dis": 5.0}]
    s = verdicts.summarise(rows)
    assert s["a"] == (2.0, pytest.approx(math.sqrt(2)), 2)
    assert s["b"][0] == 5.0 and math.isnan(s["b"][1])
    assert list(s) == ["a", "b"]


def _rows(means: dict, noise=(0.0, 0.1, -0.1), key="r1 w/o dis"):
    return [{"method": m, "seed": s, key: mu + n} for m, mu in means.items() for s, n in enumerate(noise)]


def test_unknown_method_and_bad_sweep_weight_are_clear_errors():
    from rie.common.checks import RIEInputError

    with pytest.raises(RIEInputError, match="unknown method"):
        ablation.method_config("SphereFace", "default", 0)
    with pytest.raises(RIEInputError, match="weight must be one of"):
        ablation.sweep_config("delta", 1.0, "default", 0)
    with pytest.raises(RIEInputError, match="finite number"):
        ablation.sweep_config("alpha", -1.0, "default", 0)


def test_sweep_config_changes_one_weight_and_shares_the_paper_point():
    assert ablation.sweep_config("alpha", 5.0, "default", 2) == ablation.method_config("Ours (all)", "default", 2)
    c = ablation.sweep_config("gamma", 5.0, "default", 0)
    assert (c.loss.alpha, c.loss.beta, c.loss.gamma) == (5.0, 2.0, 5.0)
    names = {ablation.sweep_config(w, v, "default", 0).name for w, vs in ablation.SWEEP.items() for v in vs}
    assert len(names) == sum(len(vs) for vs in ablation.SWEEP.values()) - 2  # the three grids share one paper point


def test_paired_effect_pairs_by_seed():
    rows = [{"method": "a", "seed": s, "x": v} for s, v in [(0, 1.0), (1, 5.0), (2, 3.0)]]
    rows += [{"method": "b", "seed": s, "x": v} for s, v in [(2, 2.0), (0, 0.0), (1, 4.0), (7, 100.0)]]
    e = verdicts.paired_effect(rows, "a", "b", "x")
    assert (e.mean, e.sd, e.n, e.lo, e.hi) == (1.0, 0.0, 3, 1.0, 1.0)  # seed 7 has no partner; the seeds' spread cancels
    with pytest.raises(Exception, match="no rows"):
        verdicts.paired_effect(rows, "a", "c", "x")


def test_table4_claims_follow_the_numbers():
    # The paper's own figures, with seed noise that the paired differences cancel: every claim holds.
    claims = {c["claim"].split(":")[0]: c for c in ablation.table4_claims(_rows(ablation.PAPER_TABLE4))}
    assert all(c["verdict"] == "holds" for c in claims.values() if c["unit"] == "pp")
    assert claims["ID helps"]["effect"] == pytest.approx(71.298 - 70.333)
    rank = [c for c in claims.values() if c["unit"] == "rho"][0]
    assert rank["effect"] == pytest.approx(1.0)
    # RIE terms that hurt: the claims are reversed, and the ranking no longer agrees.
    hurt = dict(ablation.PAPER_TABLE4)
    for m in ("I (+ID)", "II (+MSE)", "III (+L1)", "Ours (all)"):
        hurt[m] = 60.0
    verdicts = {c["claim"].split(":")[0]: c["verdict"] for c in ablation.table4_claims(_rows(hurt))}
    assert verdicts["ID helps"] == verdicts["all terms beat the baseline"] == "reversed"
    assert verdicts["Ours is the best method"] == "reversed"


def test_table4_claims_see_seed_noise():
    rows = [{"method": m, "seed": s, "r1 w/o dis": 50.0 + (s if m == "Ours (all)" else 0) * 3 - (3 if m == "Ours (all)" else 0) + (1 if m == "Ours (all)" else 0)}
            for m in ablation.PAPER_TABLE4 for s in range(3)]
    # Ours - baseline per seed: -2, +1, +4 -> mean +1, sd 3, 95 % interval 1 -+ 4.303 * 3 / sqrt(3): within spread
    claim = [c for c in ablation.table4_claims(rows) if c["claim"].startswith("all terms beat the baseline")][0]
    assert claim["effect"] == pytest.approx(1.0) and claim["hi"] - claim["lo"] == pytest.approx(2 * 4.3027 * 3 / 3**0.5, rel=1e-4)
    assert claim["verdict"] == "within spread"


def test_sweep_claims():
    curve = {("alpha", 1.0): 50, ("alpha", 5.0): 52, ("alpha", 10.0): 51, ("alpha", 20.0): 45,
             ("beta", 0.5): 50, ("beta", 2.0): 52, ("beta", 5.0): 53,
             ("gamma", 0.5): 51, ("gamma", 1.0): 52, ("gamma", 5.0): 48}
    rows = [{"weight": w, "value": v, "seed": s, "r1 w/o dis": m + n} for (w, v), m in curve.items() for s, n in enumerate((0, .2, -.2))]
    claims = {c["claim"]: c["verdict"] for c in ablation.sweep_claims(rows)}
    assert claims["alpha = 5 is the best swept value: 5 > 10 (best other)"] == "holds"
    assert claims["alpha > 10 hurts: 5 > 20"] == "holds"
    assert claims["beta = 2 is the best swept value: 2 > 5 (best other)"] == "reversed"
    assert claims["a larger gamma hurts: 1 > 5"] == "holds"
    summary = verdicts.summarise(rows, by=("weight", "value"))
    assert summary[("alpha", 20.0)][0] == pytest.approx(45.0)


def test_protocol_claims_and_tables():
    rows = [{"method": m, "seed": s, "seconds": 1.0, "loaded": False, "r1 w/ dis": b + s, "TPR@FAR=0.1": 80.0 - d + s}
            for m, b, d in (("Baseline (ArcFace)", 20.0, 0.0), ("Ours (all)", 22.0, 1.0)) for s in range(3)]
    claims = ablation.protocol_claims(rows)
    assert [c["claim"] for c in claims] == ["Ours > baseline on r1 w/ dis", "Ours > baseline on TPR@FAR=0.1"]
    assert [c["verdict"] for c in claims] == ["holds", "reversed"]
    text = ablation.table(rows, ["r1 w/ dis", "TPR@FAR=0.1"], paper={"Ours (all)": 71.915})
    assert "23.00 ± 1.00" in text and "71.92" in text and text.count("\n") == 3
    assert "HOLDS" in verdicts.claims_text(claims) and "REVERSED" in verdicts.claims_text(claims)
    # a group of one (a given checkpoint's row): a dash, not "nan", where the sample std is undefined
    one = ablation.table(rows + [{"method": "given", "seed": "given", "r1 w/ dis": 30.0, "TPR@FAR=0.1": 60.0}], ["r1 w/ dis"])
    assert one.splitlines()[-1].endswith("30.00 ±    –") and "nan" not in one


def test_gains_and_comparison_table():
    rows = _rows({"Baseline (ArcFace)": 50.0, "Ours (all)": 52.0, "CosFace": 49.0})
    g = ablation.gains(rows)
    assert g["Baseline (ArcFace)"] == (0.0, 0.0) and g["Ours (all)"] == (pytest.approx(2.0), pytest.approx(0.0))
    assert g["CosFace"][0] == pytest.approx(-1.0)
    text = ablation.comparison_table(rows, ["r1 w/o dis"])
    assert "50.00 ± 0.10" in text and "52.00 ± 0.10" in text and "+2.00 [+2.00, +2.00]" in text and text.endswith("holds")


def test_table_groups_by_several_columns():
    rows = [{"weight": "alpha", "value": v, "seed": s, "r1 w/o dis": 50.0 + v + s} for v in (1.0, 5.0) for s in range(2)]
    text = ablation.table(rows, ["r1 w/o dis"], by=("weight", "value"))
    assert text.splitlines()[0].startswith("weight value")
    assert "alpha 5" in text and "55.50 ± 0.71" in text
    assert "55.500 ± 0.707" in ablation.table(rows, ["r1 w/o dis"], by=("weight", "value"), digits=3)
    claim = {"verdict": "holds", "claim": "c", "effect": 0.0412, "lo": 0.0301, "hi": 0.0523, "n": 3, "unit": "x"}
    assert verdicts.claims_text([claim], digits=3) == "HOLDS           c: +0.041 x, 95% CI [+0.030, +0.052], n = 3"


def test_all_protocols_columns_on_a_separable_world():
    from helpers import FlattenModel, fake_world

    out = ablation.all_protocols(FlattenModel(), fake_world(torch.arange(20, 60)), n_mated=50, n_nonmated=1000)
    assert list(out)[:6] == ["r1 w/o dis", "r5 w/o dis", "r20 w/o dis", "r1 w/ dis", "r5 w/ dis", "r20 w/ dis"]
    assert "r1 16-19 px" in out and [c for c in out if c.startswith("TPR@FAR")] == [f"TPR@FAR={f:g}" for f in ablation.FARS]
    assert all(v == 100.0 for v in out.values())  # percentages of a perfect embedding


def test_rank_claim_is_undefined_when_every_method_ties():
    rows = [{"method": m, "seed": s, "r1 w/o dis": 50.0} for m in ablation.PAPER_TABLE4 for s in range(3)]
    rank = [c for c in ablation.table4_claims(rows) if c["unit"] == "rho"][0]
    assert math.isnan(rank["effect"]) and rank["verdict"] == "undefined"


def test_reading_configs_share_the_cache_with_table4_when_they_are_the_default():
    default = ablation.method_config(ablation.OURS, "smoke", 0)
    same = {"xi_gradient": default.loss.xi_gradient, "mse_reduction": default.loss.mse_reduction}
    assert ablation.reading_config(same, "smoke", 0) == default
    assert ablation.reading_config(None, "smoke", 1) == ablation.method_config(ablation.BASELINE, "smoke", 1)
    names = {ablation.reading_config(r, "smoke", 0).name for r in ablation.READINGS.values()}
    assert len(names) == len(ablation.READINGS)  # one cache entry per reading
    for overrides in ablation.READINGS.values():
        loss = ablation.reading_config(overrides, "smoke", 0).loss
        assert (loss.xi_gradient, loss.mse_reduction) == (overrides["xi_gradient"], overrides["mse_reduction"])
        assert (loss.alpha, loss.beta, loss.gamma) == (5.0, 2.0, 1.0)


def _reading_rows():
    rows = []
    for seed, noise in enumerate([0.0, 0.2, -0.1]):
        for arm, scoring, r1, d in [("base", "v", 30, 0.60), ("base", "v_prime", 30.5, 0.60), ("A", "v", 31 + noise, 0.70),
                                    ("A", "v_attn", 29 + noise, 0.70), ("A", "v_prime", 31 + noise, 0.70),
                                    ("A", "v+v_attn", 30 + noise, 0.70), ("B", "v", 32, 0.65)]:
            rows.append({"method": f"{arm} | {scoring}", "arm": arm, "scoring": scoring, "seed": seed,
                         "r1 w/o dis": r1, "d_UI hard": d + 0.01 * seed})
    return rows


def test_readings_claims_and_the_best_reading():
    rows = _reading_rows()
    assert ablation.best_reading(rows, readings={"A": {}, "B": {}}) == "B"
    claims = {c["claim"]: c for c in ablation.readings_claims(rows, default="A", baseline="base")}
    assert claims["A > ArcFace on r1 w/o dis (scored with v)"]["effect"] == pytest.approx(1 + 0.1 / 3)
    assert claims["A > ArcFace on r1 w/o dis (scored with v)"]["verdict"] == "holds"
    assert claims["B moves hard training faces farther from the UI centre than ArcFace (d_UI)"]["effect"] == pytest.approx(0.05)
    assert claims["A: scored with v_attn > scored with v on r1 w/o dis"]["verdict"] == "reversed"
    assert claims["ArcFace: scored with v_prime (Eq. 8 at inference) > scored with v on r1 w/o dis"]["effect"] == pytest.approx(0.5)


def test_run_readings_on_the_smoke_world(tmp_path):
    from rie.data.synth import WorldConfig, build_world
    from rie.evaluation.inference import SCORING
    from rie.training.recipes import pretrained_encoders

    world = build_world(WorldConfig.from_profile("smoke", seed=0))
    pre = world["pretrain"]
    encoders = pretrained_encoders(pre.images, pre.labels, "smoke", tmp_path, seeds=[0])
    arms = {"base": None, "coupled": ablation.READINGS["xi coupled, MSE Eq. 9"]}
    rows = ablation.run_readings(world, encoders, arms, [(0, 0)], "smoke", tmp_path)
    assert [(r["arm"], r["scoring"]) for r in rows] == [("base", s) for s in ablation.BASELINE_SCORINGS] + [("coupled", s) for s in SCORING]
    assert {r["seed"] for r in rows} == {(0, 0)}
    with pytest.raises(Exception, match="no pretrained encoder of seed 1"):
        ablation.run_readings(world, encoders, arms, [(1, 0)], "smoke", tmp_path)
    for r in rows:
        assert 0 <= r["r1 w/o dis"] <= 100 and 0 <= r["d_UI hard"] <= 2 and 0 <= r["d_UI moderate"] <= 2


def test_only_full_methods_run_every_seed_pair():
    seeds = [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert ablation.seeds_of(ablation.OURS, seeds) == seeds and ablation.seeds_of(ablation.BASELINE, seeds) == seeds
    assert ablation.seeds_of("CosFace", seeds) == [(0, 0), (1, 0)]


def test_the_default_reading_is_table4s_ours():
    name = ablation.default_reading("smoke")
    loss = ablation.method_config(ablation.OURS, "smoke", 0).loss
    assert ablation.READINGS[name] == {"xi_gradient": loss.xi_gradient, "mse_reduction": loss.mse_reduction}
