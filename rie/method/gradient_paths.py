"""Which parameters each loss term reaches: the gradient paths of Eq. 10.

The model's parameters fall into five groups (Fig. 2): the convolutional ``trunk`` that makes
the feature map, the ``embedding head`` that turns the map into ``v`` (flatten, linear, BN1d),
the class ``prototypes`` (the margin head's weight), the ``regression branch`` (``xi_hat``) and
the ``attention branch`` (``v_attn``). ``gradient_paths`` backpropagates each term on its own
and reports the gradient norm it sends to each group: 0 means the path is cut.
"""

from __future__ import annotations

import torch
from torch import nn

from ..common.checks import RIEInputError

GROUPS = ("trunk", "embedding head", "prototypes", "regression branch", "attention branch")


def _trainable(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


def embedding_head_parameters(backbone: nn.Module) -> list[nn.Parameter]:
    """The backbone's parameters that ``backbone.head(fmap)`` uses, found by tracing one call.

    Traced in eval mode on a zero feature map, so no batch-norm statistic moves.
    """
    params = _trainable(backbone)
    fmap = torch.zeros(1, backbone.feature_channels, *backbone.feature_hw, device=params[0].device)
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.enable_grad():
            grads = torch.autograd.grad(backbone.head(fmap).sum(), params, allow_unused=True)
    finally:
        backbone.train(was_training)
    return [p for p, g in zip(params, grads) if g is not None]


def parameter_groups(model: nn.Module, head: nn.Module) -> dict[str, list[nn.Parameter]]:
    """``{group: parameters}`` of an ``RIEModel`` and its margin head, in the order of ``GROUPS``."""
    if not all(hasattr(model, name) for name in ("backbone", "regression", "attention")):
        raise RIEInputError(f"parameter_groups needs an RIEModel (backbone, regression, attention), got {type(model).__name__}")
    emb = embedding_head_parameters(model.backbone)
    emb_ids = {id(p) for p in emb}
    return {
        "trunk": [p for p in _trainable(model.backbone) if id(p) not in emb_ids],
        "embedding head": emb,
        "prototypes": _trainable(head),
        "regression branch": _trainable(model.regression),
        "attention branch": _trainable(model.attention),
    }


def gradient_paths(terms: dict[str, torch.Tensor], groups: dict[str, list[nn.Parameter]]) -> dict[str, dict[str, float]]:
    """``{term: {group: gradient norm}}``: each scalar term backpropagated alone (the graph is kept).

    A term that does not depend on a group's parameters gives exactly 0.0 there.
    """
    names = list(groups)
    flat = [p for g in names for p in groups[g]]
    out = {}
    for term, value in terms.items():
        if not isinstance(value, torch.Tensor) or value.ndim != 0:
            raise RIEInputError(f"loss term {term!r} must be a scalar tensor, got {getattr(value, 'shape', type(value))}")
        if not value.requires_grad:
            out[term] = {g: 0.0 for g in names}
            continue
        grads = torch.autograd.grad(value, flat, retain_graph=True, allow_unused=True)
        norms, i = {}, 0
        for g in names:
            squares = [grad.pow(2).sum() for grad in grads[i : i + len(groups[g])] if grad is not None]
            norms[g] = float(torch.stack(squares).sum().sqrt()) if squares else 0.0
            i += len(groups[g])
        out[term] = norms
    return out
