"""The recognizability index (RI), Section 3.1 of the paper, and the UI centre.

Notation (paper -> code):
    v_i            raw embedding                      ``v``          (B, D)
    v_hat_i        L2-normalised embedding            ``v_hat``
    w_hat_j        L2-normalised class prototype      rows of the head's weight
    cos(theta_j)   cosine to prototype j, no margin   ``cos_theta``  (B, C)
    v_bar_UI       L2-normalised UI centre            ``u``          (D,)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..common.checks import RIEInputError, check_embeddings, check_labels, check_tensor

EPS_RI = 1e-7  # the paper's epsilon in Eq. 3


class Proximities(NamedTuple):
    d_P: torch.Tensor  # intra-class proximity, Eq. 1
    d_N: torch.Tensor  # inter-class proximity, Eq. 1
    d_UI: torch.Tensor  # proximity to the UI centre, Eq. 2


def intra_inter_proximity(cos_theta: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 1: ``d_P = 1 - cos(theta_y)``, ``d_N = 1 - max_{j != y} cos(theta_j)``.

    ``cos_theta`` must be taken *before* any margin is added.
    """
    check_tensor(cos_theta, "cos_theta", ndim=2)
    batch, num_classes = cos_theta.shape
    if num_classes < 2:
        raise RIEInputError("d_N needs at least 2 classes (a negative prototype), got cos_theta with 1 column")
    check_labels(labels, num_classes, batch)
    # Rounding can push a cosine a hair above 1: clamp so that d_P and d_N stay >= 0.
    cos_theta = cos_theta.clamp(-1.0, 1.0)
    cos_pos = cos_theta.gather(1, labels[:, None]).squeeze(1)
    # Mask the positive class out of the max with -inf (cosines are >= -1).
    cos_neg = cos_theta.scatter(1, labels[:, None], float("-inf")).max(dim=1).values
    return 1.0 - cos_pos, 1.0 - cos_neg


def check_ui_center(u: torch.Tensor, dim: int) -> torch.Tensor:
    check_tensor(u, "ui_center u", ndim=1)
    if u.shape[0] != dim:
        raise RIEInputError(f"ui_center u has dimension {u.shape[0]} but the embeddings have dimension {dim}")
    if not torch.isclose(u.norm(), torch.tensor(1.0, dtype=u.dtype), atol=1e-4):
        raise RIEInputError(f"ui_center u must be L2-normalised, got norm {float(u.norm()):.4f} (use rie.method.ri.ui_center)")
    return u


def ui_center(ui_embeddings: torch.Tensor) -> torch.Tensor:
    """The UI centre ``u``: the L2-normalised mean of the L2-normalised UI embeddings."""
    if isinstance(ui_embeddings, torch.Tensor) and ui_embeddings.ndim == 2 and ui_embeddings.shape[0] == 0:
        raise RIEInputError("the UI set is empty: the UI centre needs at least one unrecognisable-identity embedding")
    check_embeddings(ui_embeddings, "UI embeddings")
    mean = F.normalize(ui_embeddings, dim=1).mean(dim=0)
    if mean.norm() < 1e-6:
        raise RIEInputError("the normalised UI embeddings average to ~zero: they form no cluster, the UI centre is undefined")
    return F.normalize(mean, dim=0)


def ui_proximity(v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Eq. 2: ``d_UI = 1 - cos(v_hat, u)``; small d_UI means close to the UI cluster (hard)."""
    check_embeddings(v, "embeddings v")
    check_ui_center(u, v.shape[1])
    return 1.0 - F.normalize(v, dim=1) @ u


def proximities(v: torch.Tensor, cos_theta: torch.Tensor, labels: torch.Tensor, u: torch.Tensor) -> Proximities:
    d_P, d_N = intra_inter_proximity(cos_theta, labels)
    if cos_theta.shape[0] != v.shape[0]:
        raise RIEInputError(f"cos_theta has {cos_theta.shape[0]} rows but v has {v.shape[0]}")
    return Proximities(d_P, d_N, ui_proximity(v, u))


def recognizability_index(
    v: torch.Tensor, cos_theta: torch.Tensor, labels: torch.Tensor, u: torch.Tensor, eps: float = EPS_RI,
    keep_graph: bool = False,
) -> torch.Tensor:
    """Eq. 3: ``xi = d_UI * d_N / (d_P + eps)``.

    By default a regression *target*, returned without gradient. With ``keep_graph`` it keeps
    its graph through d_UI, d_N, d_P and the cosines, so that a loss on xi reaches the
    embedding and the class prototypes (the "coupled" reading, ``RIELossConfig.xi_gradient``).
    """
    with torch.set_grad_enabled(keep_graph and torch.is_grad_enabled()):
        d_P, d_N, d_UI = proximities(v, cos_theta, labels, u)
        return d_UI * d_N / (d_P + eps)


def project_away(v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Eq. 8: ``v' = v - <v, u> u``, the embedding with its component along the UI centre removed."""
    check_embeddings(v, "embeddings v")
    check_ui_center(u, v.shape[1])
    return v - (v @ u)[:, None] * u[None, :]


class UICenter(nn.Module):
    """Holds the UI centre ``u`` as a buffer (saved with the model's state_dict).

    ``mode="fixed"`` keeps the centre computed from the starting model (the default:
    the paper defines the UIs by a model pretrained on HR faces); ``"epoch"`` recomputes
    it from the UI set once per epoch; ``"ema"`` moves it towards each new batch of UI
    embeddings with ``momentum``. The trainer decides when to call ``refresh``/``ema_update``.
    """

    MODES = ("fixed", "epoch", "ema")

    def __init__(self, u: torch.Tensor, mode: str = "fixed", momentum: float = 0.99):
        super().__init__()
        if mode not in self.MODES:
            raise RIEInputError(f"UI centre mode must be one of {self.MODES}, got {mode!r}")
        if not 0.0 <= momentum < 1.0:
            raise RIEInputError(f"momentum must be in [0, 1), got {momentum}")
        check_tensor(u, "ui_center u", ndim=1)
        self.mode, self.momentum = mode, momentum
        self.register_buffer("u", F.normalize(u.detach().clone(), dim=0))

    def refresh(self, ui_embeddings: torch.Tensor) -> None:
        self.u.copy_(ui_center(ui_embeddings.detach()))

    def ema_update(self, ui_embeddings: torch.Tensor) -> None:
        new = ui_center(ui_embeddings.detach())
        self.u.copy_(F.normalize(self.momentum * self.u + (1 - self.momentum) * new, dim=0))

    def forward(self) -> torch.Tensor:
        return self.u
