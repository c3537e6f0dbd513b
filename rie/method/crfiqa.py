"""CR-FIQA's training head (Boutros et al., CVPR 2023), trained beside the recognition loss.

Its target is the certainty ratio CR = CCS / NNCCS of the class-centre similarity to the nearest
negative class-centre similarity, both cosines taken before the margin; a linear head on the
embedding regresses it jointly with the recognition loss (CE + 10 SmoothL1(beta 0.5)). The
quality score it gives at test time is in ``rie.evaluation.quality``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common.checks import check_labels, check_tensor

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
