"""Batched inference: embeddings and learned RI of a whole image set, without gradients."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..common.checks import RIEInputError


class Extracted(NamedTuple):
    v: torch.Tensor  # (N, D) raw embeddings
    xi_hat: torch.Tensor | None  # (N,) learned RI, when the model has a regression branch


def as_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) in [0, 255] -> float in [-1, 1]; float input is passed through."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise RIEInputError(f"images must be a (N, C, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    if images.dtype == torch.uint8:
        return images.float().div_(127.5).sub_(1.0)
    return images.float()


@torch.no_grad()
def extract(model: nn.Module, images: torch.Tensor, batch_size: int = 512, device=None) -> Extracted:
    """Embed ``images`` (uint8 or float, (N, 3, H, W)) in eval mode, batch by batch.

    ``model`` is a ``rie.method.model.RIEModel`` (returns v and xi_hat) or a bare backbone (v only).
    """
    if len(images) == 0:
        raise RIEInputError("no images to embed")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    vs, xis = [], []
    try:
        for start in range(0, len(images), batch_size):
            x = as_float_images(images[start : start + batch_size]).to(device)
            if hasattr(model, "regression"):
                fmap = model.backbone.features(x)
                vs.append(model.backbone.head(fmap).cpu())
                xis.append(model.regression(fmap).cpu())
            else:
                vs.append(model(x).cpu())
    finally:
        model.train(was_training)
    return Extracted(torch.cat(vs), torch.cat(xis) if xis else None)
