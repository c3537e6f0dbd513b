"""Input validation shared by every module: bad input fails early, naming the problem."""

from __future__ import annotations

import math
import numbers

import torch


class RIEInputError(ValueError):
    """Raised for input that would otherwise give a deep traceback or a silently wrong number."""


def check_tensor(x, name: str, ndim: int | None = None, dim: int | None = None) -> torch.Tensor:
    """A floating tensor of the expected rank (and last dimension), with no NaN or inf."""
    if not isinstance(x, torch.Tensor):
        raise RIEInputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        raise RIEInputError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if dim is not None and x.shape[-1] != dim:
        raise RIEInputError(f"{name} must have last dimension {dim}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise RIEInputError(f"{name} must be a floating tensor, got dtype {x.dtype}")
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).reshape(x.shape[0], -1).any(dim=1).nonzero().flatten()[:5].tolist() if x.ndim else []
        raise RIEInputError(f"{name} contains NaN or inf (first bad rows: {bad})")
    return x


def check_embeddings(v, name: str = "embeddings", dim: int | None = None, eps: float = 1e-12) -> torch.Tensor:
    """A (B, D) finite embedding batch whose rows all have a non-zero norm."""
    check_tensor(v, name, ndim=2, dim=dim)
    if v.shape[0] == 0:
        raise RIEInputError(f"{name} is empty (shape {tuple(v.shape)})")
    zero = (v.norm(dim=1) <= eps).nonzero().flatten()
    if zero.numel():
        raise RIEInputError(f"{name} has zero-norm rows {zero[:5].tolist()}: they have no direction to normalise")
    return v


def check_labels(labels, num_classes: int, batch: int, name: str = "labels") -> torch.Tensor:
    """Integer class labels, one per row, each in [0, num_classes)."""
    if not isinstance(labels, torch.Tensor):
        raise RIEInputError(f"{name} must be a torch.Tensor, got {type(labels).__name__}")
    if labels.ndim != 1 or labels.shape[0] != batch:
        raise RIEInputError(f"{name} must have shape ({batch},), got {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise RIEInputError(f"{name} must be integer class indices, got dtype {labels.dtype}")
    if batch and (labels.min() < 0 or labels.max() >= num_classes):
        raise RIEInputError(
            f"{name} out of range: found [{int(labels.min())}, {int(labels.max())}], expected [0, {num_classes - 1}]"
        )
    return labels


def check_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise RIEInputError(f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def check_number(value, name: str, *, low=None, high=None, low_open: bool = False, high_open: bool = False,
                 integer: bool = False, allow_none: bool = False):
    """A finite real number (an integer if asked) inside [low, high] (open ends if asked).

    NaN compares False with everything, so a bare ``value <= 0`` test lets it through:
    every config field goes through here instead.
    """
    if value is None and allow_none:
        return value
    kind = numbers.Integral if integer else numbers.Real  # numpy scalars count; bool, str and containers do not
    if isinstance(value, bool) or not isinstance(value, kind):
        raise RIEInputError(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r} ({type(value).__name__})")
    if not math.isfinite(float(value)):
        raise RIEInputError(f"{name} must be finite, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise RIEInputError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value >= high if high_open else value > high):
        raise RIEInputError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return value
