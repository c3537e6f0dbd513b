import math

import pytest
import torch

from rie.common.checks import RIEInputError
from rie.method.ri import (
    UICenter,
    intra_inter_proximity,
    project_away,
    proximities,
    recognizability_index,
    ui_center,
    ui_proximity,
)

S = 1 / math.sqrt(2)


def test_intra_inter_proximity_hand_values():
    cos_theta = torch.tensor([[0.9, 0.2, 0.5], [0.1, -0.3, 0.4]])
    d_P, d_N = intra_inter_proximity(cos_theta, torch.tensor([0, 2]))
    # row 0: positive 0.9, hardest negative 0.5; row 1: positive 0.4, hardest negative 0.1
    assert torch.allclose(d_P, torch.tensor([0.1, 0.6]))
    assert torch.allclose(d_N, torch.tensor([0.5, 0.9]))


def test_d_N_ignores_the_positive_even_when_it_is_the_largest():
    d_P, d_N = intra_inter_proximity(torch.tensor([[0.99, -0.5]]), torch.tensor([0]))
    assert torch.allclose(d_N, torch.tensor([1.5]))


def test_ui_center_normalises_before_averaging():
    # raw mean [1.5, 1] points elsewhere; the normalised mean points at 45 degrees
    u = ui_center(torch.tensor([[3.0, 0.0], [0.0, 2.0]]))
    assert torch.allclose(u, torch.tensor([S, S]))


def test_ui_proximity_and_ri_hand_values():
    u = torch.tensor([S, S])
    v = torch.tensor([[2.0, 0.0], [0.0, -1.0]])
    d_UI = ui_proximity(v, u)
    assert torch.allclose(d_UI, torch.tensor([1 - S, 1 + S]))
    cos_theta = torch.tensor([[0.8, 0.3], [0.2, 0.6]])
    labels = torch.tensor([0, 1])
    xi = recognizability_index(v, cos_theta, labels, u)
    expected = torch.tensor([(1 - S) * 0.7 / (0.2 + 1e-7), (1 + S) * 0.8 / (0.4 + 1e-7)])
    assert torch.allclose(xi, expected)
    assert not xi.requires_grad
    p = proximities(v, cos_theta, labels, u)
    assert torch.allclose(p.d_UI, d_UI)


def test_ri_is_a_target_without_gradient():
    v = torch.randn(4, 3, requires_grad=True)
    cos_theta = torch.rand(4, 5, requires_grad=True)
    xi = recognizability_index(v, cos_theta, torch.tensor([0, 1, 2, 3]), ui_center(torch.randn(6, 3)))
    assert xi.grad_fn is None


def test_ri_epsilon_guards_a_perfect_positive():
    xi = recognizability_index(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]), torch.tensor([0]), torch.tensor([0.0, 1.0]))
    assert torch.isfinite(xi).all() and xi.item() == pytest.approx(1.0 * 1.0 / 1e-7, rel=1e-3)


def test_project_away_hand_values_and_orthogonality():
    u = torch.tensor([1.0, 0.0])
    assert torch.allclose(project_away(torch.tensor([[2.0, 1.0]]), u), torch.tensor([[0.0, 1.0]]))
    u = torch.tensor([S, S])
    assert torch.allclose(project_away(torch.tensor([[1.0, 1.0]]), u), torch.zeros(1, 2), atol=1e-6)
    v = torch.randn(10, 8)
    u = ui_center(torch.randn(20, 8))
    v_prime = project_away(v, u)
    assert torch.allclose(v_prime @ u, torch.zeros(10), atol=1e-5)
    # d_UI of the projection is exactly 1 (cos = 0): farther from the UI centre when v leaned towards it
    assert torch.allclose(ui_proximity(v_prime, u), torch.ones(10), atol=1e-5)


def test_ui_center_modes():
    u0 = torch.tensor([1.0, 0.0])
    c = UICenter(u0, mode="ema", momentum=0.5)
    c.ema_update(torch.tensor([[0.0, 5.0]]))
    assert torch.allclose(c(), torch.tensor([S, S]))
    c.refresh(torch.tensor([[0.0, 3.0]]))
    assert torch.allclose(c(), torch.tensor([0.0, 1.0]))
    assert "u" in c.state_dict()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ui_center(torch.zeros(0, 4)), "empty"),
        (lambda: ui_center(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])), "no cluster"),
        (lambda: ui_proximity(torch.randn(3, 4), torch.tensor([1.0, 0.0, 0.0])), "dimension 3"),
        (lambda: ui_proximity(torch.randn(3, 2), torch.tensor([2.0, 0.0])), "L2-normalised"),
        (lambda: ui_proximity(torch.tensor([[float("nan"), 1.0]]), torch.tensor([1.0, 0.0])), "NaN"),
        (lambda: ui_proximity(torch.tensor([[0.0, 0.0]]), torch.tensor([1.0, 0.0])), "zero-norm"),
        (lambda: intra_inter_proximity(torch.rand(2, 3), torch.tensor([0, 3])), "out of range"),
        (lambda: intra_inter_proximity(torch.rand(2, 3), torch.tensor([0])), "shape"),
        (lambda: intra_inter_proximity(torch.rand(2, 1), torch.tensor([0, 0])), "2 classes"),
        (lambda: recognizability_index(torch.randn(3, 2), torch.rand(2, 4), torch.tensor([0, 1]), torch.tensor([1.0, 0.0])), "rows"),
        (lambda: UICenter(torch.tensor([1.0, 0.0]), mode="sometimes"), "mode"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(RIEInputError, match=message):
        call()


def test_cosines_above_one_from_rounding_do_not_give_negative_distances():
    d_P, d_N = intra_inter_proximity(torch.tensor([[1.0000001, -1.0000001]]), torch.tensor([0]))
    assert d_P.item() == 0.0 and d_N.item() == 2.0
