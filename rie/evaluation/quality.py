"""Face image quality scores: one number per image, higher = more recognisable.

- ``learned_ri``: the RIE model's ``xi_hat`` (Section 3.2); needs no UI set at deployment.
- ``crfiqa_score``: CR-FIQA (Boutros et al., CVPR 2023), the output of its quality head
  (``rie.method.crfiqa``, trained beside the recognition loss) on the embedding.
- ``feature_norm``: MagFace's (and AdaFace's) quality proxy, the embedding norm.
- ``ers``: the embedding recognizability score of Deng et al. (2021), closeness-to-UI as a
  distance: ``1 - cos(v_hat, u)`` (= d_UI of Eq. 2); needs the UI centre.
"""

from __future__ import annotations

import torch

from ..method.crfiqa import CRFIQAHead
from ..method.ri import ui_proximity
from .inference import extract


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
