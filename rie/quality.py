"""Face image quality scores: one number per image, higher = more recognisable.

- ``learned_ri``: the RIE model's ``xi_hat`` (Section 3.2); needs no UI set at deployment.
- ``certainty_ratio`` / ``CRFIQAHead``: CR-FIQA (Boutros et al., CVPR 2023). Its target is
  the certainty ratio CR = CCS / NNCCS of the class-centre similarity to the nearest
  negative class-centre similarity, both cosines taken before the margin; a linear head
  on the embedding regresses it jointly with the recognition loss (CE + 10 SmoothL1(beta 0.5)).
- ``feature_norm``: MagFace's (and AdaFace's) quality proxy, the embedding norm.
- ``ers``: the embedding recognizability score of Deng et al. (2021), closeness-to-UI as a
  distance: ``1 - cos(v_hat, u)`` (= d_UI of Eq. 2); needs the UI centre.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_labels, check_tensor
from .inference import extract
from .ri import ui_proximity

CRFIQA_EPS = 1e-9


def certainty_ratio(cos_theta: torch.Tensor, labels: torch.Tensor, eps: float = CRFIQA_EPS) -> torch.Tensor:
    """CR = CCS / (NNCCS + 1 + eps), a target without gradient.

    NNCCS is a cosine in [-1, 1]; dividing by it directly (as CR-FIQA's public code does)
    explodes or flips sign when NNCCS <= 0. Shifting it into (0, 2], as the CR-FIQA paper
    writes the ratio, keeps CR finite and monotone in both similarities.
    """
    check_tensor(cos_theta, "cos_theta", ndim=2)
    check_labels(labels, cos_theta.shape[1], cos_theta.shape[0])
    with torch.no_grad():
        ccs = cos_theta.gather(1, labels[:, None]).squeeze(1)
        nnccs = cos_theta.scatter(1, labels[:, None], float("-inf")).max(dim=1).values
        return ccs / (nnccs + 1.0 + eps)


class CRFIQAHead(nn.Module):
    """CR-FIQA's quality regressor: a linear layer on the embedding."""

    def __init__(self, embedding_size: int):
        super().__init__()
        self.fc = nn.Linear(embedding_size, 1)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.fc(v).squeeze(1)


def crfiqa_loss(q_hat: torch.Tensor, cos_theta: torch.Tensor, labels: torch.Tensor, beta: float = 0.5) -> torch.Tensor:
    return F.smooth_l1_loss(q_hat, certainty_ratio(cos_theta, labels), beta=beta)


@torch.no_grad()
def learned_ri(model, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    return extract(model, images, batch_size).xi_hat


@torch.no_grad()
def feature_norm(model, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    return extract(model, images, batch_size).v.norm(dim=1)


@torch.no_grad()
def ers(model, images: torch.Tensor, u: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    return ui_proximity(extract(model, images, batch_size).v, u)


@torch.no_grad()
def crfiqa_score(model, crfiqa_head: CRFIQAHead, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    return crfiqa_head(extract(model, images, batch_size).v)
