import math
from types import SimpleNamespace

import pytest
import torch

from rie.common.checks import RIEInputError
from rie.method.losses import (
    DEFAULT_TAU,
    RIELoss,
    RIELossConfig,
    attention_loss,
    diversion,
    index_diversion_loss,
    ri_regression_loss,
    ui_statistics,
)
from rie.method.ri import project_away, recognizability_index


def test_smooth_l1_both_branches_by_hand():
    # |0 - 0.5| = 0.5 < 0.75: 0.5 * 0.25 / 0.75 ; |2 - 0| = 2 >= 0.75: 2 - 0.375
    loss = ri_regression_loss(torch.tensor([0.0, 2.0]), torch.tensor([0.5, 0.0]), beta=0.75)
    assert loss.item() == pytest.approx((0.5 * 0.25 / 0.75 + 1.625) / 2)


def test_regression_target_is_not_differentiated():
    xi_hat = torch.tensor([1.0], requires_grad=True)
    xi = torch.tensor([3.0], requires_grad=True)
    ri_regression_loss(xi_hat, xi).backward()
    assert xi.grad is None and xi_hat.grad.item() == pytest.approx(-1.0)


def test_diversion_and_index_diversion_loss_by_hand():
    xi_hat = torch.tensor([0.0, 1.0, 3.0])
    assert torch.allclose(diversion(xi_hat, 1.0, 2.0), torch.tensor([-0.5, 0.0, 1.0]))
    # standard mode: div = xi_hat; hinge at tau = 2 -> [2, 1, 0]
    assert index_diversion_loss(xi_hat, tau=2.0).item() == pytest.approx(1.0)
    # estimated mode: div = [-0.5, 0, 1] -> [2.5, 2, 1]
    assert index_diversion_loss(xi_hat, tau=2.0, mu_ui=1.0, sigma_ui=2.0).item() == pytest.approx(5.5 / 3)


def test_id_loss_pushes_low_ri_up_only():
    xi_hat = torch.tensor([0.0, 10.0], requires_grad=True)
    index_diversion_loss(xi_hat, tau=1.0).backward()
    assert xi_hat.grad.tolist() == [-0.5, 0.0]


def test_ui_statistics_sample_std():
    mu, sigma = ui_statistics(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert mu == pytest.approx(2.5) and sigma == pytest.approx(math.sqrt(5 / 3))


def test_attention_loss_elementwise_mean():
    assert attention_loss(torch.tensor([[1.0, 2.0]]), torch.zeros(1, 2), "elementwise").item() == pytest.approx(2.5)


def test_attention_loss_as_eq9_prints_it():
    # (1/B) sum_i ||v'_i - v_attn_i||^2: rows sum to 5 and 25, their mean is 15
    v_prime = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert attention_loss(v_prime, torch.zeros(2, 2), "paper").item() == pytest.approx(15.0)
    with pytest.raises(RIEInputError, match="mse_reduction"):
        attention_loss(v_prime, torch.zeros(2, 2), "sum")


def test_coupled_regression_moves_xi_too():
    xi_hat, xi = torch.tensor([1.0, 3.0], requires_grad=True), torch.tensor([2.0, 2.0], requires_grad=True)
    ri_regression_loss(xi_hat, xi, coupled=True).backward()
    assert torch.allclose(xi.grad, -xi_hat.grad) and xi.grad.abs().sum() > 0
    xi.grad = None
    ri_regression_loss(xi_hat, xi).backward()
    assert xi.grad is None


def test_loss_config_rejects_unknown_readings():
    with pytest.raises(RIEInputError, match="xi_gradient"):
        RIELossConfig(xi_gradient="both")
    with pytest.raises(RIEInputError, match="mse_reduction"):
        RIELossConfig(mse_reduction="mean")


def _batch():
    torch.manual_seed(0)
    v = torch.randn(4, 3, requires_grad=True)
    xi_hat = torch.randn(4, requires_grad=True)
    v_attn = torch.randn(4, 3, requires_grad=True)
    cos_theta = torch.rand(4, 5) * 2 - 1
    head_output = SimpleNamespace(loss=torch.tensor(1.25), cos_theta=cos_theta)
    labels = torch.tensor([0, 1, 2, 4])
    u = torch.nn.functional.normalize(torch.tensor([1.0, 2.0, 2.0]), dim=0)
    return v, xi_hat, v_attn, head_output, labels, u


@pytest.mark.parametrize("xi_gradient", ["coupled", "target"])
@pytest.mark.parametrize("mse_reduction", ["paper", "elementwise"])
def test_total_loss_is_eq_10(xi_gradient, mse_reduction):
    v, xi_hat, v_attn, head_output, labels, u = _batch()
    cfg = RIELossConfig(alpha=5, beta=2, gamma=1, tau=1.5, xi_gradient=xi_gradient, mse_reduction=mse_reduction)
    out = RIELoss(cfg)(v, xi_hat, v_attn, head_output, labels, u)
    xi = recognizability_index(v, head_output.cos_theta, labels, u)
    l1 = ri_regression_loss(xi_hat, xi)
    l_id = torch.relu(1.5 - xi_hat).mean()
    squares = (project_away(v, u) - v_attn) ** 2
    mse = squares.sum(dim=1).mean() if mse_reduction == "paper" else squares.mean()
    assert out.total.item() == pytest.approx((1.25 + 5 * l1 + 2 * l_id + mse).item(), rel=1e-6)
    assert out.l1.item() == pytest.approx(l1.item()) and out.mse.item() == pytest.approx(mse.item())
    assert set(out.items()) == {"total", "cls", "l1", "id", "mse"}


def test_detached_v_prime_sends_no_mse_gradient_to_v():
    v, xi_hat, v_attn, head_output, labels, u = _batch()
    RIELoss(RIELossConfig(alpha=0, beta=0, gamma=1, detach_v_prime=True))(v, xi_hat, v_attn, head_output, labels, u).total.backward()
    assert v.grad is None and v_attn.grad is not None
    v, xi_hat, v_attn, head_output, labels, u = _batch()
    RIELoss(RIELossConfig(alpha=0, beta=0, gamma=1, detach_v_prime=False))(v, xi_hat, v_attn, head_output, labels, u).total.backward()
    assert v.grad is not None and v.grad.abs().sum() > 0


def test_estimated_mode_uses_ui_statistics():
    loss = RIELoss(RIELossConfig(ui_stats="estimated", alpha=0, gamma=0, beta=1, tau=0.0))
    loss.set_ui_statistics(torch.tensor([1.0, 3.0]))  # mu 2, sigma sqrt(2)
    v, xi_hat, v_attn, head_output, labels, u = _batch()
    out = loss(v, xi_hat, v_attn, head_output, labels, u)
    expected = torch.relu(-(xi_hat - 2.0) / math.sqrt(2)).mean()
    assert out.id.item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(RIEInputError, match="standard mode"):
        RIELoss().set_ui_statistics(torch.tensor([1.0, 3.0]))


def test_default_tau_is_the_one_sided_5_percent_point():
    assert DEFAULT_TAU == pytest.approx(1.645)
    assert RIELossConfig().tau == DEFAULT_TAU


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ri_regression_loss(torch.zeros(3), torch.zeros(2)), "same shape"),
        (lambda: ri_regression_loss(torch.zeros(2), torch.zeros(2), beta=0), "beta"),
        (lambda: index_diversion_loss(torch.tensor([float("nan")])), "NaN"),
        (lambda: diversion(torch.zeros(2), 0.0, 0.0), "sigma_UI"),
        (lambda: ui_statistics(torch.tensor([1.0])), "at least 2"),
        (lambda: ui_statistics(torch.tensor([1.0, 1.0])), "constant"),
        (lambda: attention_loss(torch.zeros(2, 3), torch.zeros(2, 4)), "same shape"),
        (lambda: RIELossConfig(alpha=-1), "alpha"),
        (lambda: RIELossConfig(ui_stats="guess"), "ui_stats"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(RIEInputError, match=message):
        call()


def test_xi_target_is_clipped_only_when_asked():
    v, xi_hat, v_attn, head_output, labels, u = _batch()
    head_output.cos_theta[0, 0] = 1.0  # d_P = 0: xi = d_UI d_N / 1e-7
    raw_out = RIELoss(RIELossConfig(xi_max=None))(v, xi_hat, v_attn, head_output, labels, u)
    clipped_out = RIELoss(RIELossConfig(xi_max=100.0))(v, xi_hat, v_attn, head_output, labels, u)
    raw, clipped = raw_out.xi, clipped_out.xi
    assert raw[0] > 1e5 and clipped[0] == 100.0
    assert raw_out.xi_clipped == 0 and clipped_out.xi_clipped == 1
    assert torch.equal(raw[1:].clamp(max=100.0), clipped[1:])


def test_silent_nan_inputs_are_refused():
    """Issue 17: each of these returned NaN instead of an error."""
    with pytest.raises(RIEInputError, match="xi_hat is empty"):
        ri_regression_loss(torch.ones(0), torch.ones(0))
    with pytest.raises(RIEInputError, match="tau must be finite"):
        index_diversion_loss(torch.ones(3), tau=math.nan)
    with pytest.raises(RIEInputError, match="mu_UI must be finite"):
        index_diversion_loss(torch.ones(3), mu_ui=math.inf)
    with pytest.raises(RIEInputError, match="v_attn contains NaN"):
        attention_loss(torch.ones(2, 3), torch.full((2, 3), math.nan))
    with pytest.raises(RIEInputError, match="alpha must be finite"):
        RIELossConfig(alpha=math.nan)
