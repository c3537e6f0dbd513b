"""The RIE loss terms, Eqs. 4-10 of the paper.

    L_total = L_cls + alpha * L_L1 + beta * L_ID + gamma * L_MSE          (Eq. 10)

``L_cls`` comes from a margin head (``rie.method.heads``; ArcFace in the paper).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..common.checks import RIEInputError, check_number, check_same_shape, check_tensor
from ..common.constants import PAPER_WEIGHTS
from .ri import project_away, recognizability_index

# Default tau: the ID loss asks for "a statistically significant deviation" of xi_hat from
# the UI distribution "in the upper tail" (Section 3.3). With the paper's N(0, 1) reference
# the one-sided 5% critical value is z_0.95 = 1.645; the paper does not print its tau.
DEFAULT_TAU = 1.645


def _check_batch(x: torch.Tensor, name: str, ndim: int | None = None) -> torch.Tensor:
    """A finite, non-empty floating tensor: the mean of an empty batch is a silent NaN."""
    check_tensor(x, name, ndim=ndim)
    if x.numel() == 0:
        raise RIEInputError(f"{name} is empty (shape {tuple(x.shape)}): a loss over no rows is undefined")
    return x


def ri_regression_loss(xi_hat: torch.Tensor, xi: torch.Tensor, beta: float = 0.75, coupled: bool = False) -> torch.Tensor:
    """Eq. 4: smooth L1 between the learned RI ``xi_hat`` and the RI ``xi`` (beta = 0.75).

    ``coupled=False``: xi is a target (detached), only xi_hat moves. ``coupled=True``: the loss
    also pulls xi (and so the embedding and the prototypes) towards xi_hat.
    """
    _check_batch(xi_hat, "xi_hat", ndim=1)
    _check_batch(xi, "xi", ndim=1)
    check_same_shape(xi_hat, xi, "xi_hat", "xi")
    check_number(beta, "smooth L1 beta", low=0, low_open=True)
    return F.smooth_l1_loss(xi_hat, xi if coupled else xi.detach(), beta=beta)


def diversion(xi_hat: torch.Tensor, mu_ui: float = 0.0, sigma_ui: float = 1.0) -> torch.Tensor:
    """Eq. 5: ``div = (xi_hat - mu_UI) / sigma_UI``."""
    check_number(mu_ui, "mu_UI")
    check_number(sigma_ui, "sigma_UI", low=0, low_open=True)
    return (xi_hat - mu_ui) / sigma_ui


def index_diversion_loss(xi_hat: torch.Tensor, tau: float = DEFAULT_TAU, mu_ui: float = 0.0, sigma_ui: float = 1.0):
    """Eq. 7: ``L_ID = mean(max(0, tau - div))``: pushes low-RI (hard) faces above tau."""
    _check_batch(xi_hat, "xi_hat", ndim=1)
    check_number(tau, "tau")
    return F.relu(tau - diversion(xi_hat, mu_ui, sigma_ui)).mean()


def ui_statistics(xi_hat_ui: torch.Tensor) -> tuple[float, float]:
    """Eq. 6: mean and sample standard deviation (K - 1) of the learned RI over K UI images."""
    check_tensor(xi_hat_ui, "xi_hat of the UI images", ndim=1)
    if xi_hat_ui.numel() < 2:
        raise RIEInputError(f"estimating mu_UI and sigma_UI needs at least 2 UI images, got {xi_hat_ui.numel()}")
    mu, sigma = xi_hat_ui.mean().item(), xi_hat_ui.std(unbiased=True).item()
    if sigma <= 0:
        raise RIEInputError("the learned RI is constant over the UI set: sigma_UI = 0, the diversion is undefined")
    return mu, sigma


MSE_REDUCTIONS = ("paper", "elementwise")
XI_GRADIENTS = ("coupled", "target")


def attention_loss(v_prime: torch.Tensor, v_attn: torch.Tensor, reduction: str = "paper") -> torch.Tensor:
    """Eq. 9: ``L_MSE = (1/B) sum_i ||v'_i - v_attn_i||^2``.

    ``reduction="paper"`` is Eq. 9 as printed (sum over the embedding dimension, mean over the
    batch); ``"elementwise"`` is ``nn.MSELoss``'s mean over B x D elements, 1/D of it.
    """
    _check_batch(v_prime, "v'", ndim=2)  # (B, D): Eq. 9 sums over the embedding dimension
    _check_batch(v_attn, "v_attn", ndim=2)
    check_same_shape(v_prime, v_attn, "v'", "v_attn")
    if reduction == "elementwise":
        return F.mse_loss(v_attn, v_prime)
    if reduction == "paper":
        return (v_attn - v_prime).pow(2).sum(dim=1).mean()
    raise RIEInputError(f"mse_reduction must be one of {MSE_REDUCTIONS}, got {reduction!r}")


@dataclass
class RIELossConfig:
    """Weights and choices of Eq. 10; the defaults are the paper's best (Fig. 3, Table 5)."""

    alpha: float = PAPER_WEIGHTS["alpha"]  # weight of L_L1 (RI regression), 5
    beta: float = PAPER_WEIGHTS["beta"]  # weight of L_ID (index diversion), 2
    gamma: float = PAPER_WEIGHTS["gamma"]  # weight of L_MSE (perceptibility attention), 1
    tau: float = DEFAULT_TAU
    smooth_l1_beta: float = 0.75
    # "standard": the paper's default mu_UI = 0, sigma_UI = 1; "estimated": from K UI images (Eq. 6)
    ui_stats: str = "standard"
    # Does xi carry a gradient (Eq. 3)? The paper does not print it. "coupled": xi keeps its graph,
    # so Eq. 4 pulls xi towards xi_hat as well as xi_hat towards xi: "xi_hat is still bounded to RI
    # under the constraint of Eq. (4)" (3.3), and L_ID's push on xi_hat reaches the embedding and
    # the prototypes, "to push the hard-to-recognize face embedding with low RI away from
    # unrecognizable faces cluster" (abstract). "target": xi is a no-grad regression target, and
    # no RIE term reaches the embedding head or the prototypes.
    # Default "coupled" (measured stable: README, Choices).
    xi_gradient: str = "coupled"
    # Eq. 9 "(1/B) sum_i (v'_i - v_attn_i)^2": "paper" sums over the embedding dimension and
    # averages over the batch (the default); "elementwise" averages over B x D elements (1/D of it).
    mse_reduction: str = "paper"
    # v' is a target the attention branch regresses onto; detaching it keeps L_MSE from
    # moving the backbone's embedding towards v_attn (the paper does not say; both are available).
    detach_v_prime: bool = True
    # Safeguard, not in the paper: xi = d_UI d_N / (d_P + 1e-7) is unbounded as d_P -> 0
    # (an image the model has memorised), and an unbounded regression target drives the
    # regression head, then the backbone, to overflow. Targets are clipped to xi_max
    # (typical xi is below ~60: d_UI <= 2, d_N <= 2, d_P >~ 0.05); None = the paper's Eq. 3 as is.
    xi_max: float | None = 100.0

    def __post_init__(self):
        # check_number, not "< 0": a NaN weight passes every comparison and trains to NaN
        for name in ("alpha", "beta", "gamma"):
            check_number(getattr(self, name), name, low=0)
        check_number(self.tau, "tau")
        check_number(self.smooth_l1_beta, "smooth_l1_beta", low=0, low_open=True)
        check_number(self.xi_max, "xi_max (> 0 or None)", low=0, low_open=True, allow_none=True)
        if not isinstance(self.detach_v_prime, bool):
            raise RIEInputError(f"detach_v_prime must be True or False, got {self.detach_v_prime!r}")
        if self.xi_gradient not in XI_GRADIENTS:
            raise RIEInputError(f"xi_gradient must be one of {XI_GRADIENTS}, got {self.xi_gradient!r}")
        if self.mse_reduction not in MSE_REDUCTIONS:
            raise RIEInputError(f"mse_reduction must be one of {MSE_REDUCTIONS}, got {self.mse_reduction!r}")
        if self.ui_stats not in ("standard", "estimated"):
            raise RIEInputError(f"ui_stats must be 'standard' or 'estimated', got {self.ui_stats!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class LossBreakdown(NamedTuple):
    total: torch.Tensor
    cls: torch.Tensor
    l1: torch.Tensor
    id: torch.Tensor
    mse: torch.Tensor
    xi: torch.Tensor  # the RI of the batch after the xi_max clip (detached), for logging
    xi_clipped: int  # how many of the batch's xi the xi_max safeguard clipped

    def items(self) -> dict:
        return {k: float(getattr(self, k).detach()) for k in ("total", "cls", "l1", "id", "mse")}

    def weighted_terms(self, config: "RIELossConfig") -> dict:
        """Each term as it enters Eq. 10 (with its weight), keeping the graph: for gradient paths."""
        return {"cls": self.cls, "l1": config.alpha * self.l1, "id": config.beta * self.id, "mse": config.gamma * self.mse}


class RIELoss(nn.Module):
    """Eq. 10 on the outputs of a ``rie.method.model.RIEModel`` and a margin head.

    ``mu_ui``/``sigma_ui`` are buffers: 0 and 1 in the "standard" mode, set by
    ``set_ui_statistics`` (Eq. 6) in the "estimated" mode.
    """

    def __init__(self, config: RIELossConfig | None = None):
        super().__init__()
        self.config = config or RIELossConfig()
        self.register_buffer("mu_ui", torch.tensor(0.0))
        self.register_buffer("sigma_ui", torch.tensor(1.0))

    def set_ui_statistics(self, xi_hat_ui: torch.Tensor) -> None:
        if self.config.ui_stats != "estimated":
            raise RIEInputError("set_ui_statistics is for ui_stats='estimated'; the standard mode fixes N(0, 1)")
        mu, sigma = ui_statistics(xi_hat_ui)
        self.mu_ui.fill_(mu)
        self.sigma_ui.fill_(sigma)

    def forward(self, v, xi_hat, v_attn, head_output, labels, u) -> LossBreakdown:
        c = self.config
        zero = v.new_zeros(())
        coupled = c.xi_gradient == "coupled"
        xi = recognizability_index(v, head_output.cos_theta, labels, u, keep_graph=coupled and c.alpha > 0)
        clipped = 0
        if c.xi_max is not None:
            clipped = int((xi > c.xi_max).sum())
            xi = xi.clamp(max=c.xi_max)  # a clipped xi sends no gradient (coupled reading)
        l1 = ri_regression_loss(xi_hat, xi, c.smooth_l1_beta, coupled=coupled) if c.alpha > 0 else zero
        l_id = index_diversion_loss(xi_hat, c.tau, float(self.mu_ui), float(self.sigma_ui)) if c.beta > 0 else zero
        if c.gamma > 0:
            v_prime = project_away(v.detach() if c.detach_v_prime else v, u)
            mse = attention_loss(v_prime, v_attn, c.mse_reduction)
        else:
            mse = zero
        total = head_output.loss + c.alpha * l1 + c.beta * l_id + c.gamma * mse
        return LossBreakdown(total, head_output.loss, l1, l_id, mse, xi.detach(), clipped)
