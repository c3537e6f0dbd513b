import math

import pytest

from rie import ablation


def test_every_paper_row_has_a_method():
    assert set(ablation.METHODS) == set(ablation.PAPER_TABLE4)


def test_method_configs_switch_the_right_terms():
    ours = ablation.method_config("Ours (all)", "default", 0)
    assert (ours.loss.alpha, ours.loss.beta, ours.loss.gamma) == (5.0, 2.0, 1.0)
    only_id = ablation.method_config("I (+ID)", "default", 0)
    assert (only_id.loss.alpha, only_id.loss.beta, only_id.loss.gamma) == (0.0, 2.0, 0.0)
    only_l1 = ablation.method_config("III (+L1)", "default", 1)
    assert (only_l1.loss.alpha, only_l1.loss.beta, only_l1.loss.gamma) == (5.0, 0.0, 0.0) and only_l1.seed == 1
    assert len({ablation.method_config(n, "default", 0).name for n in ablation.METHODS}) == len(ablation.METHODS)
    assert ablation.method_config("CosFace", "default", 0).head == "cosface"


def test_summarise_mean_and_sample_std():
    rows = [{"method": "a", "r1 w/o dis": 1.0}, {"method": "a", "r1 w/o dis": 3.0}, {"method": "b", "r1 w/o dis": 5.0}]
    s = ablation.summarise(rows)
    assert s["a"] == (2.0, pytest.approx(math.sqrt(2)), 2)
    assert s["b"][0] == 5.0 and math.isnan(s["b"][1])
    assert list(s) == ["a", "b"]
