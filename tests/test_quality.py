import math

import pytest
import torch
from torch import nn

from rie.common.checks import RIEInputError
from rie.evaluation.quality import ers, feature_norm
from rie.method.crfiqa import CRFIQAHead, certainty_ratio, crfiqa_loss

S = 1 / math.sqrt(2)


class Flatten(nn.Module):
    """A 'model' whose embedding is the first two pixels: lets the scores be checked by hand."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x.flatten(1)[:, :2]


def test_certainty_ratio_by_hand():
    cos_theta = torch.tensor([[0.9, 0.2, 0.5], [0.1, -0.3, 0.4]])
    cr = certainty_ratio(cos_theta, torch.tensor([0, 2]))
    assert torch.allclose(cr, torch.tensor([0.9 / 1.5, 0.4 / 1.1]))


def test_certainty_ratio_is_guarded_when_nnccs_is_not_positive():
    # every negative cosine <= 0: a raw CCS / NNCCS would be negative or infinite
    cr = certainty_ratio(torch.tensor([[0.8, 0.0], [0.8, -1.0]]), torch.tensor([0, 0]))
    assert torch.isfinite(cr).all() and (cr > 0).all()
    assert cr[1] > cr[0]  # a farther negative prototype means a more certain sample


def test_crfiqa_loss_regresses_the_ratio():
    cos_theta = torch.tensor([[0.9, 0.5]])
    target = 0.9 / 1.5
    q = torch.tensor([target + 0.2])
    assert crfiqa_loss(q, cos_theta, torch.tensor([0]), beta=0.5).item() == pytest.approx(0.5 * 0.04 / 0.5)
    assert CRFIQAHead(4)(torch.randn(3, 4)).shape == (3,)


def test_feature_norm_and_ers_by_hand():
    images = torch.zeros(2, 1, 1, 2)
    images[0, 0, 0] = torch.tensor([3.0, 4.0])
    images[1, 0, 0] = torch.tensor([0.0, -2.0])
    model = Flatten()
    assert torch.allclose(feature_norm(model, images), torch.tensor([5.0, 2.0]))
    u = torch.tensor([0.0, 1.0])
    assert torch.allclose(ers(model, images, u), torch.tensor([1 - 0.8, 2.0]))


def test_bad_input_is_named():
    with pytest.raises(RIEInputError, match="out of range"):
        certainty_ratio(torch.rand(2, 3), torch.tensor([0, 5]))
    with pytest.raises(RIEInputError, match="dimension"):
        ers(Flatten(), torch.ones(2, 1, 1, 2), torch.tensor([1.0, 0.0, 0.0]))
