"""Batched inference: embeddings and learned RI of a whole image set, without gradients."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..common.checks import RIEInputError
from ..method.ri import project_away

# Which embedding is compared at test time: the paper does not say (SPEC, "scoring embedding").
#   "v"         the embedding (the default, and what every face recogniser scores)
#   "v_attn"    the attention branch's output (Eq. 9), trained to match v'
#   "v_prime"   Eq. 8 at inference: v with its component along the UI centre removed (Deng et al.)
#   "v+v_attn"  the concatenation of the L2-normalised v and v_attn
SCORING = ("v", "v_attn", "v_prime", "v+v_attn")


class Extracted(NamedTuple):
    v: torch.Tensor  # (N, D) raw embeddings
    xi_hat: torch.Tensor | None  # (N,) learned RI, when the model has a regression branch
    v_attn: torch.Tensor | None = None  # (N, D) attended embeddings, when asked for


def scoring_embedding(v: torch.Tensor, v_attn: torch.Tensor | None = None, scoring: str = "v",
                      u: torch.Tensor | None = None) -> torch.Tensor:
    """The embedding that is compared at test time, one of ``SCORING``; ``u`` (the UI centre) for "v_prime"."""
    if scoring not in SCORING:
        raise RIEInputError(f"scoring must be one of {SCORING}, got {scoring!r}")
    if scoring == "v":
        return v
    if scoring == "v_prime":
        if u is None:
            raise RIEInputError("scoring='v_prime' (Eq. 8 at inference) needs the UI centre u")
        return project_away(v, u.to(v.dtype))
    if v_attn is None:
        raise RIEInputError(f"scoring={scoring!r} needs v_attn: a model with an attention branch (RIEModel)")
    if scoring == "v_attn":
        return v_attn
    return torch.cat([F.normalize(v, dim=1), F.normalize(v_attn, dim=1)], dim=1)


def as_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) in [0, 255] -> float in [-1, 1]; float input is passed through."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise RIEInputError(f"images must be a (N, C, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    if images.dtype == torch.uint8:
        return images.float().div_(127.5).sub_(1.0)
    return images.float()


@torch.no_grad()
def extract(model: nn.Module, images: torch.Tensor, batch_size: int = 512, device=None, attention: bool = False) -> Extracted:
    """Embed ``images`` (uint8 or float, (N, 3, H, W)) in eval mode, batch by batch.

    ``model`` is a ``rie.method.model.RIEModel`` (returns v and xi_hat, and v_attn with
    ``attention``) or a bare backbone (v only).
    """
    if attention and not hasattr(model, "attention"):
        raise RIEInputError(f"v_attn needs a model with an attention branch (RIEModel), got {type(model).__name__}")
    if len(images) == 0:
        raise RIEInputError("no images to embed")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    vs, xis, attns = [], [], []
    try:
        for start in range(0, len(images), batch_size):
            x = as_float_images(images[start : start + batch_size]).to(device)
            if hasattr(model, "regression"):
                fmap = model.backbone.features(x)
                vs.append(model.backbone.head(fmap).cpu())
                xis.append(model.regression(fmap).cpu())
                if attention:
                    attns.append(model.attention(fmap).cpu())
            else:
                vs.append(model(x).cpu())
    finally:
        model.train(was_training)
    return Extracted(torch.cat(vs), torch.cat(xis) if xis else None, torch.cat(attns) if attns else None)


def embed(model: nn.Module, images: torch.Tensor, scoring: str = "v", u: torch.Tensor | None = None,
          batch_size: int = 512) -> torch.Tensor:
    """The scoring embedding (``SCORING``) of ``images``: what every protocol compares."""
    if scoring not in SCORING:
        raise RIEInputError(f"scoring must be one of {SCORING}, got {scoring!r}")
    out = extract(model, images, batch_size, attention=scoring in ("v_attn", "v+v_attn"))
    return scoring_embedding(out.v, out.v_attn, scoring, u)
