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
