import numpy as np
import pytest

from rie.common.checks import RIEInputError
from rie.evaluation.analysis import (
    BIMODAL_THRESHOLD,
    auroc,
    bimodality_coefficient,
    quartile_auroc,
    spearman,
    two_gaussian_mixture,
)


def test_bimodality_coefficient_hand_value():
    # x = [0, 0, 1, 1]: skewness 0; bias-corrected excess kurtosis of this set is -6;
    # BC = (0 + 1) / (-6 + 3 * 9 / (2 * 1)) = 1 / 7.5
    assert bimodality_coefficient([0, 0, 1, 1]) == pytest.approx(1 / 7.5)


def test_bimodality_separates_one_mode_from_two():
    rng = np.random.default_rng(0)
    one = rng.normal(0, 1, 4000)
    two = np.concatenate([rng.normal(-3, 0.7, 2000), rng.normal(3, 0.7, 2000)])
    assert bimodality_coefficient(one) < BIMODAL_THRESHOLD < bimodality_coefficient(two)
    assert bimodality_coefficient(rng.uniform(size=20000)) == pytest.approx(5 / 9, abs=0.01)


def test_mixture_recovers_components():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0.2, 0.05, 3000), rng.normal(0.8, 0.1, 1000)])
    m = two_gaussian_mixture(x)
    assert m.means == pytest.approx((0.2, 0.8), abs=0.02)
    assert m.stds == pytest.approx((0.05, 0.1), abs=0.01)
    assert m.weights == pytest.approx((0.75, 0.25), abs=0.02)


def test_auroc_by_hand():
    # pairs (pos > neg): 3>1, 3>2, 2>1, 2=2 (half) -> 3.5 / 4
    assert auroc([3, 2], [1, 2]) == pytest.approx(3.5 / 4)
    assert auroc([1], [2]) == 0.0


def test_quartile_auroc_and_spearman():
    difficulty = np.linspace(0, 1, 100)
    assert quartile_auroc(1 - difficulty, difficulty) == 1.0
    assert quartile_auroc(difficulty, difficulty) == 0.0
    assert spearman(difficulty, difficulty**3) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: bimodality_coefficient([1, 2, 3]), "at least 4"),
        (lambda: bimodality_coefficient([1, 1, 1, 1]), "constant"),
        (lambda: bimodality_coefficient([1, 2, np.nan, 4]), "NaN"),
        (lambda: auroc([], [1]), "empty"),
        (lambda: quartile_auroc([1, 2], [1, 2, 3]), "difficulty has 3"),
        (lambda: spearman([1, 2], [1]), "equal lengths"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(RIEInputError, match=message):
        call()


def test_four_bimodality_measures():
    from rie.evaluation.analysis import Mixture, ashman_d, bimodality, density_modes

    rng = np.random.default_rng(0)
    # two components of unequal width and weight, as notebook 02's histogram: Sarle says no, the others yes
    x = np.r_[rng.normal(0.37, 0.05, 700), rng.normal(0.75, 0.12, 3300)]
    b = bimodality(x)
    assert b.sarle < 5 / 9 and b.dip_p < 0.05 and b.ashman_d > 2 and len(b.modes) == 2
    assert b.votes == 3 and b.verdict == "bimodal"
    one = bimodality(rng.normal(0, 1, 4000))
    assert one.verdict == "unimodal" and len(one.modes) == 1 and one.dip_p > 0.05
    # by hand: D = sqrt(2) * 4 / sqrt(1 + 1) = 4; two unit components 1 apart make one flat-topped mode
    assert ashman_d(Mixture((0.0, 4.0), (1.0, 1.0), (0.5, 0.5))) == pytest.approx(4.0)
    assert len(density_modes(Mixture((0.0, 1.0), (1.0, 1.0), (0.5, 0.5)))) == 1
    assert len(density_modes(Mixture((0.0, 4.0), (1.0, 1.0), (0.5, 0.5)))) == 2
