"""One model object: backbone + perceptibility regression + perceptibility attention (Fig. 2)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .attention import PerceptibilityAttention, PerceptibilityRegression
from .crfiqa import CRFIQAHead


class RIEOutput(NamedTuple):
    v: torch.Tensor  # embedding (B, D), not normalised
    xi_hat: torch.Tensor  # learned recognizability index (B,)
    v_attn: torch.Tensor  # attended embedding (B, D), regresses v' (Eq. 9)
    fmap: torch.Tensor  # backbone feature map (B, C, H, W)


class RIEModel(nn.Module):
    """Wraps any ``rie.method.backbones`` backbone (``features``/``head``/``feature_channels``/``feature_hw``).

    At deployment the embedding ``v`` is the face template and ``xi_hat`` the quality score;
    the attention branch and the UI centre are only needed for training.
    """

    def __init__(self, backbone: nn.Module, regression_dropout: float = 0.4, attention_reduction: int = 16, crfiqa: bool = False):
        super().__init__()
        self.backbone = backbone
        channels, hw, dim = backbone.feature_channels, tuple(backbone.feature_hw), backbone.embedding_size
        self.regression = PerceptibilityRegression(channels, hw, dropout=regression_dropout)
        self.attention = PerceptibilityAttention(channels, hw, dim, reduction=attention_reduction)
        # The CR-FIQA baseline's quality regressor (on the embedding), only when asked for.
        self.crfiqa = CRFIQAHead(dim) if crfiqa else None

    @property
    def embedding_size(self) -> int:
        return self.backbone.embedding_size

    def forward(self, x: torch.Tensor) -> RIEOutput:
        fmap = self.backbone.features(x)
        return RIEOutput(self.backbone.head(fmap), self.regression(fmap), self.attention(fmap), fmap)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def quality(self, x: torch.Tensor) -> torch.Tensor:
        """The learned RI ``xi_hat``: the quality score, no UI set needed."""
        return self.regression(self.backbone.features(x))
