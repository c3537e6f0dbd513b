import math

import pytest

from rie.common.checks import RIEInputError
from rie.evaluation import verdicts
from rie.evaluation.verdicts import Effect, effect, judge


def test_interval_is_the_paired_t_interval():
    e = effect([1.0, 2.0, 3.0, 6.0])  # mean 3, sd sqrt(14/3); t(0.975, 3) = 3.1824
    half = 3.182446 * math.sqrt(14 / 3) / 2
    assert (e.mean, e.n) == (3.0, 4) and e.lo == pytest.approx(3 - half, rel=1e-5) and e.hi == pytest.approx(3 + half, rel=1e-5)


def test_judge_rule_reads_the_interval():
    assert judge(Effect(1.0, 0.5, 4, 0.2, 1.8)) == "holds"
    assert judge(Effect(-1.0, 0.5, 4, -1.8, -0.2)) == "reversed"
    assert judge(Effect(1.0, 2.0, 4, -2.2, 4.2)) == "within spread"
    assert judge(effect([5.0])) == "within spread"  # one seed: no interval, nothing can be claimed
    assert judge(effect([float("nan"), 1.0])) == "undefined"
    # the same mean and spread hold with more seeds: the interval narrows as 1 / sqrt(n)
    assert judge(effect([0.5, 1.5])) == "within spread" and judge(effect([0.5, 1.5] * 4)) == "holds"
    with pytest.raises(RIEInputError, match="Effect"):
        judge((1.0, 0.5))


def test_claim_lines_round_trip_through_the_parser():
    claims = [verdicts.make_claim("Ours > baseline on r1", effect([1.0, 2.0, 1.5, 1.2])),
              verdicts.make_claim("d_UI moves", effect([-0.02, -0.03, -0.025]), unit=""),
              verdicts.make_claim("one seed only", effect([3.0]), unit="x")]
    text = "some header\n" + verdicts.claims_text(claims) + "\nnot a claim: +1 pp"
    parsed = verdicts.parse_claims(text)
    assert [p["verdict"] for p in parsed] == ["holds", "reversed", "within spread"]
    assert parsed[0]["claim"] == "Ours > baseline on r1" and parsed[0]["n"] == 4
    assert parsed[0]["effect"] == pytest.approx(1.425, abs=0.01) and parsed[2]["lo"] == -math.inf
