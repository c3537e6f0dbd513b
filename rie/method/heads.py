"""Classification heads: plain softmax and the margin-based losses the paper compares with (Table 4).

Every head maps RAW embeddings ``v`` (B, D) and labels ``y`` (B,) to a :class:`HeadOutput`:

    cos_theta[i, j] = <v_hat_i, w_hat_j>     L2-normalised embedding and class prototype,
                                             taken BEFORE any margin (the paper's Eq. 1 uses these)
    logits[i, j]    = s * f(cos_theta)[i, j] after margin and scale: what cross-entropy sees
    loss            = mean_i CE(logits_i, y_i) (+ the head's regulariser, MagFace only)

The class prototypes are the rows of ``head.weight`` (num_classes, D).

Scale: every head defaults to s = 64 (ArcFace, CosFace, CurricularFace, AdaFace and MagFace all
publish s = 64), NormFace and MV-Softmax included, so that a Table-4 style comparison changes the
margin rule and nothing else (NormFace is then exactly CosFace with m = 0). Margin handling when
theta + m > pi follows each method's official code (named in each class docstring).
"""

from __future__ import annotations

import inspect
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..common.checks import RIEInputError, check_embeddings, check_labels


class HeadOutput(NamedTuple):
    loss: torch.Tensor  # scalar: mean cross-entropy over the batch (+ regulariser)
    logits: torch.Tensor  # (B, C): after margin and scale
    cos_theta: torch.Tensor  # (B, C): cosines to the prototypes, before any margin


def arc_margin(cos_y: torch.Tensor, m, easy_margin: bool = False) -> torch.Tensor:
    """Additive angular margin on the target cosine: ``cos(theta_y + m)``.

    ``cos(theta + m) = cos(theta) cos(m) - sin(theta) sin(m)`` is only decreasing in theta while
    ``theta + m <= pi``. Past that point:

    * ``easy_margin=False`` (insightface ArcFace): ``cos(theta) - m sin(pi - m)``, a linear
      continuation used when ``cos(theta) <= cos(pi - m)``;
    * ``easy_margin=True`` (MagFace, MV-Softmax code): no margin at all when ``cos(theta) <= 0``.

    ``m`` may be a float or a tensor broadcastable to ``cos_y`` (MagFace's per-sample margin).
    """
    m = torch.as_tensor(m, dtype=cos_y.dtype, device=cos_y.device)
    # clamp before sqrt: 1 - cos^2 can round below 0, and sqrt'(0) is infinite.
    sin_y = torch.sqrt((1.0 - cos_y * cos_y).clamp_min(1e-12))
    cos_y_m = cos_y * torch.cos(m) - sin_y * torch.sin(m)
    if easy_margin:
        return torch.where(cos_y > 0, cos_y_m, cos_y)
    threshold = torch.cos(math.pi - m)
    return torch.where(cos_y > threshold, cos_y_m, cos_y - torch.sin(math.pi - m) * m)


def _check_positive(**values) -> None:
    for name, value in values.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise RIEInputError(f"{name} must be a positive number, got {value!r}")


def _check_non_negative(**values) -> None:
    for name, value in values.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise RIEInputError(f"{name} must be a non-negative number, got {value!r}")


class Head(nn.Module):
    """Shared plumbing: the prototype matrix, input checks, the no-margin cosines and the loss.

    Subclasses implement ``margin_logits(v, cos_theta, labels)`` and, if they have one,
    ``regularizer(v)``.
    """

    def __init__(self, embedding_size: int, num_classes: int):
        super().__init__()
        for name, value in (("embedding_size", embedding_size), ("num_classes", num_classes)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RIEInputError(f"{name} must be a positive int, got {value!r}")
        if num_classes < 2:
            raise RIEInputError(f"num_classes must be at least 2, got {num_classes}")
        self.embedding_size = embedding_size
        self.num_classes = num_classes
        # Rows are the class prototypes. The margin heads only use their direction, so the
        # small-normal init of insightface's partial_fc is as good as any.
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_size))
        nn.init.normal_(self.weight, std=0.01)

    def extra_repr(self) -> str:
        hyper = ", ".join(f"{k}={getattr(self, k)}" for k in self._hyper if hasattr(self, k))
        return f"embedding_size={self.embedding_size}, num_classes={self.num_classes}" + (f", {hyper}" if hyper else "")

    _hyper: tuple[str, ...] = ()

    def _check(self, v, labels=None) -> None:
        check_embeddings(v, "embeddings", dim=self.embedding_size)
        if labels is not None:
            check_labels(labels, self.num_classes, v.shape[0])

    def _cosine(self, v: torch.Tensor) -> torch.Tensor:
        w_hat = F.normalize(self.weight, dim=1)
        if not torch.isfinite(w_hat).all():
            raise RIEInputError("the head's weight has NaN/inf entries: training has diverged")
        # Rounding can push |cos| a hair past 1; acos and sqrt(1 - cos^2) downstream need [-1, 1].
        return (F.normalize(v, dim=1) @ w_hat.t()).clamp(-1.0, 1.0)

    def cosine(self, v: torch.Tensor) -> torch.Tensor:
        """``cos(theta_j) = <v / |v|, w_j / |w_j|>`` for every class j, no margin, (B, C)."""
        self._check(v)
        return self._cosine(v.to(self.weight.dtype))

    def margin_logits(self, v: torch.Tensor, cos_theta: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def regularizer(self, v: torch.Tensor) -> torch.Tensor:
        return v.new_zeros(())

    def forward(self, v: torch.Tensor, labels: torch.Tensor) -> HeadOutput:
        self._check(v, labels)
        v = v.to(self.weight.dtype)  # e.g. float64 embeddings into a float32 head
        cos_theta = self._cosine(v)
        logits = self.margin_logits(v, cos_theta, labels)
        loss = F.cross_entropy(logits, labels) + self.regularizer(v)
        return HeadOutput(loss, logits, cos_theta)


def _replace_target(logits: torch.Tensor, labels: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Put ``target`` (B,) into column ``labels[i]`` of row i, out of place (autograd-safe)."""
    one_hot = F.one_hot(labels, logits.shape[1]).bool()
    return torch.where(one_hot, target[:, None], logits)


def _target(cos_theta: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return cos_theta.gather(1, labels[:, None]).squeeze(1)


class Softmax(Head):
    """Plain cross-entropy on a linear layer: ``logits = v W^T + b`` (raw v, raw W, bias b).

    ``cos_theta`` is still computed from the L2-normalised rows of W, so Eq. 1 can be read off a
    softmax-trained model too.
    """

    def __init__(self, embedding_size: int, num_classes: int, bias: bool = True):
        super().__init__(embedding_size, num_classes)
        # nn.Linear's own initialisation: the raw weight scale matters here, unlike the cosine heads.
        ref = nn.Linear(embedding_size, num_classes, bias=bias)
        with torch.no_grad():
            self.weight.copy_(ref.weight)
        self.bias = nn.Parameter(ref.bias.detach().clone()) if bias else None

    def margin_logits(self, v, cos_theta, labels):
        return F.linear(v, self.weight, self.bias)


class NormFace(Head):
    """NormFace (Wang et al. 2017): ``logits = s cos(theta_j)`` for every class, no margin.

    s = 64 (not the 30 some re-implementations use) so that NormFace is CosFace with m = 0 and a
    comparison isolates the margin; both values clear NormFace's lower bound on s for any
    realistic number of classes.
    """

    _hyper = ("s",)

    def __init__(self, embedding_size: int, num_classes: int, s: float = 64.0):
        super().__init__(embedding_size, num_classes)
        _check_positive(s=s)
        self.s = s

    def margin_logits(self, v, cos_theta, labels):
        return self.s * cos_theta


class CosFace(Head):
    """CosFace / AM-Softmax (Wang et al. 2018): target ``s (cos(theta_y) - m)``, others ``s cos(theta_j)``."""

    _hyper = ("s", "m")

    def __init__(self, embedding_size: int, num_classes: int, s: float = 64.0, m: float = 0.35):
        super().__init__(embedding_size, num_classes)
        _check_positive(s=s)
        _check_non_negative(m=m)
        self.s, self.m = s, m

    def margin_logits(self, v, cos_theta, labels):
        return self.s * _replace_target(cos_theta, labels, _target(cos_theta, labels) - self.m)


class ArcFace(Head):
    """ArcFace (Deng et al. 2019): target ``s cos(theta_y + m)``, others ``s cos(theta_j)``.

    Default ``easy_margin=False`` is insightface's arcface_torch: when ``theta_y + m > pi``
    (``cos(theta_y) <= cos(pi - m)``) the target becomes ``s (cos(theta_y) - m sin(pi - m))``,
    keeping the target logit monotonic in theta_y. ``easy_margin=True`` drops the margin for
    ``cos(theta_y) <= 0`` instead.
    """

    _hyper = ("s", "m", "easy_margin")

    def __init__(self, embedding_size: int, num_classes: int, s: float = 64.0, m: float = 0.5, easy_margin: bool = False):
        super().__init__(embedding_size, num_classes)
        _check_positive(s=s)
        _check_non_negative(m=m)
        self.s, self.m, self.easy_margin = s, m, bool(easy_margin)

    def margin_logits(self, v, cos_theta, labels):
        target = arc_margin(_target(cos_theta, labels), self.m, self.easy_margin)
        return self.s * _replace_target(cos_theta, labels, target)


class AdaFace(Head):
    """AdaFace (Kim et al. 2022): a margin that adapts to image quality, proxied by the feature norm.

    With ``n_i = |v_i|`` (detached, clipped to [1e-3, 100]) and EMA statistics mu, sigma of the
    batch norms:

        g_i     = clip(h (n_i - mu) / (sigma + 1e-3), -1, 1)
        target  = s (cos(clip(theta_y - m g_i, eps, pi - eps)) - (m + m g_i)),   eps = 1e-3
        others  = s cos(theta_j)

    High-norm (easy, good-quality) samples (g > 0) get a smaller angular margin and a larger
    additive one, low-norm samples the reverse. As in the official code the EMA is updated
    first, ``mu <- t_alpha mean(n) + (1 - t_alpha) mu`` (same for sigma with the unbiased
    std), starting from mu = 20, sigma = 100. Differences: the EMA only moves in training mode,
    sigma is not updated from a batch of one (its std is undefined), and the non-target logits
    use the unclamped cosine.
    """

    _hyper = ("s", "m", "h", "t_alpha")
    eps = 1e-3

    def __init__(self, embedding_size: int, num_classes: int, m: float = 0.4, h: float = 0.333, s: float = 64.0, t_alpha: float = 0.01):
        super().__init__(embedding_size, num_classes)
        _check_positive(s=s)
        _check_non_negative(m=m, h=h)
        if not (isinstance(t_alpha, (int, float)) and 0.0 <= t_alpha <= 1.0):
            raise RIEInputError(f"t_alpha must be in [0, 1], got {t_alpha!r}")
        self.s, self.m, self.h, self.t_alpha = s, m, h, t_alpha
        self.register_buffer("batch_mean", torch.full((1,), 20.0))
        self.register_buffer("batch_std", torch.full((1,), 100.0))

    def margin_scaler(self, v: torch.Tensor) -> torch.Tensor:
        """``g_i = clip(h (|v_i| - mu) / (sigma + 1e-3), -1, 1)`` with the current EMA, (B,). No update."""
        norms = v.detach().norm(dim=1).clamp(1e-3, 100.0)
        return (self.h * (norms - self.batch_mean) / (self.batch_std + self.eps)).clamp(-1.0, 1.0)

    @torch.no_grad()
    def _update_stats(self, v: torch.Tensor) -> None:
        norms = v.detach().norm(dim=1).clamp(1e-3, 100.0)
        a = self.t_alpha
        self.batch_mean.mul_(1 - a).add_(a * norms.mean())
        if norms.numel() > 1:
            self.batch_std.mul_(1 - a).add_(a * norms.std())

    def margin_logits(self, v, cos_theta, labels):
        if self.training:
            self._update_stats(v)
        g = self.margin_scaler(v)
        # acos' is infinite at +-1: keep theta strictly inside (0, pi).
        theta_y = _target(cos_theta, labels).clamp(-1 + self.eps, 1 - self.eps).acos()
        theta_m = (theta_y - self.m * g).clamp(self.eps, math.pi - self.eps)  # g_angular = -m g
        target = theta_m.cos() - (self.m + self.m * g)  # g_additive = m + m g
        return self.s * _replace_target(cos_theta, labels, target)


class MagFace(Head):
    """MagFace (Meng et al. 2021): an ArcFace margin that grows with the feature norm, plus a norm regulariser.

    With ``a_i = clamp(|v_i|, l_a, u_a)``:

        m(a)   = (u_m - l_m) / (u_a - l_a) (a - l_a) + l_m
        target = s cos(theta_y + m(a_i))       (easy margin, as the official MagLinear)
        g(a)   = a / u_a^2 + 1 / a
        loss   = CE + lambda_g mean_i g(a_i)

    As in the official code the norm is not detached: the margin and g both push on it, and
    both stop pushing outside [l_a, u_a] (the clamp).
    """

    _hyper = ("s", "l_a", "u_a", "l_margin", "u_margin", "lambda_g", "easy_margin")

    def __init__(
        self,
        embedding_size: int,
        num_classes: int,
        s: float = 64.0,
        l_a: float = 10.0,
        u_a: float = 110.0,
        l_margin: float = 0.45,
        u_margin: float = 0.8,
        lambda_g: float = 35.0,
        easy_margin: bool = True,
    ):
        super().__init__(embedding_size, num_classes)
        _check_positive(s=s, l_a=l_a, u_a=u_a)
        _check_non_negative(l_margin=l_margin, u_margin=u_margin, lambda_g=lambda_g)
        if u_a <= l_a:
            raise RIEInputError(f"MagFace needs l_a < u_a, got l_a={l_a}, u_a={u_a}")
        self.s, self.l_a, self.u_a = s, l_a, u_a
        self.l_margin, self.u_margin, self.lambda_g = l_margin, u_margin, lambda_g
        self.easy_margin = bool(easy_margin)

    def feature_norm(self, v: torch.Tensor) -> torch.Tensor:
        """``a_i = clamp(|v_i|, l_a, u_a)``, (B,)."""
        return v.norm(dim=1).clamp(self.l_a, self.u_a)

    def margin(self, a: torch.Tensor) -> torch.Tensor:
        """``m(a)``: linear from l_margin at l_a to u_margin at u_a."""
        return (self.u_margin - self.l_margin) / (self.u_a - self.l_a) * (a - self.l_a) + self.l_margin

    def g(self, a: torch.Tensor) -> torch.Tensor:
        """``g(a) = a / u_a^2 + 1 / a``: convex, minimal at a = u_a."""
        return a / self.u_a**2 + 1.0 / a

    def regularizer(self, v):
        return self.lambda_g * self.g(self.feature_norm(v)).mean()

    def margin_logits(self, v, cos_theta, labels):
        m = self.margin(self.feature_norm(v))
        target = arc_margin(_target(cos_theta, labels), m, self.easy_margin)
        return self.s * _replace_target(cos_theta, labels, target)


class CurricularFace(Head):
    """CurricularFace (Huang et al. 2020): ArcFace target, hard negatives re-weighted by a curriculum t.

        target = s cos(theta_y + m)                       (insightface threshold rule past pi)
        N(t, c_j) = c_j                  if c_j <= cos(theta_y + m)   (easy negative)
                  = c_j (t + c_j)        otherwise                     (hard negative)
        t <- 0.01 mean_i cos(theta_{y_i}) + 0.99 t,  t starts at 0

    As in the official code t is updated before it is used, without gradient; here only in
    training mode. The hard-negative test uses the raw ``cos(theta_y + m)``.
    """

    _hyper = ("s", "m", "t_alpha")

    def __init__(self, embedding_size: int, num_classes: int, s: float = 64.0, m: float = 0.5, t_alpha: float = 0.01):
        super().__init__(embedding_size, num_classes)
        _check_positive(s=s)
        _check_non_negative(m=m)
        self.s, self.m, self.t_alpha = s, m, t_alpha
        self.register_buffer("t", torch.zeros(1))

    def margin_logits(self, v, cos_theta, labels):
        cos_y = _target(cos_theta, labels)
        if self.training:
            with torch.no_grad():
                self.t.mul_(1 - self.t_alpha).add_(self.t_alpha * cos_y.detach().mean())
        sin_y = torch.sqrt((1.0 - cos_y * cos_y).clamp_min(1e-12))
        cos_y_m = cos_y * math.cos(self.m) - sin_y * math.sin(self.m)
        hard = cos_theta > cos_y_m.detach()[:, None]
        logits = torch.where(hard, cos_theta * (self.t + cos_theta), cos_theta)
        return self.s * _replace_target(logits, labels, arc_margin(cos_y, self.m, easy_margin=False))


class MVSoftmax(Head):
    """MV-Softmax (Wang et al. 2020), "adaptive" form: mis-classified negatives get a larger logit.

        variant "am"  (MV-AM-Softmax, default, m = 0.35): target phi = cos(theta_y) - m
        variant "arc" (MV-Arc-Softmax,         m = 0.5):  target phi = cos(theta_y + m)
        negative j is mis-classified if cos(theta_j) > phi (phi before the easy-margin rule);
        then its logit is s ((t + 1) cos(theta_j) + t), else s cos(theta_j).   t = 0.2

    Defaults follow the authors' code (SV-X-Softmax ``fc_layers.py``: fc_type 'MV-AM', t 0.2,
    ``easy_margin=True``: no margin when cos(theta_y) <= 0), except s = 64 instead of 32, the
    scale every other head here uses.
    """

    _hyper = ("s", "m", "t", "variant", "easy_margin")
    default_margin = {"am": 0.35, "arc": 0.5}

    def __init__(
        self,
        embedding_size: int,
        num_classes: int,
        s: float = 64.0,
        m: float | None = None,
        t: float = 0.2,
        variant: str = "am",
        easy_margin: bool = True,
    ):
        super().__init__(embedding_size, num_classes)
        if variant not in self.default_margin:
            raise RIEInputError(f"MVSoftmax variant must be one of {sorted(self.default_margin)}, got {variant!r}")
        m = self.default_margin[variant] if m is None else m
        _check_positive(s=s)
        _check_non_negative(m=m, t=t)
        self.s, self.m, self.t, self.variant, self.easy_margin = s, m, t, variant, bool(easy_margin)

    def margin_logits(self, v, cos_theta, labels):
        cos_y = _target(cos_theta, labels)
        if self.variant == "am":
            phi = cos_y - self.m
        else:
            sin_y = torch.sqrt((1.0 - cos_y * cos_y).clamp_min(1e-12))
            phi = cos_y * math.cos(self.m) - sin_y * math.sin(self.m)
        hard = cos_theta > phi.detach()[:, None]
        logits = torch.where(hard, (self.t + 1.0) * cos_theta + self.t, cos_theta)
        target = torch.where(cos_y > 0, phi, cos_y) if self.easy_margin else phi
        return self.s * _replace_target(logits, labels, target)


HEADS: dict[str, type[Head]] = {
    "softmax": Softmax,
    "normface": NormFace,
    "cosface": CosFace,
    "arcface": ArcFace,
    "adaface": AdaFace,
    "magface": MagFace,
    "curricularface": CurricularFace,
    "mvsoftmax": MVSoftmax,
}


def make_head(name: str, embedding_size: int, num_classes: int, **kw) -> Head:
    """Build a head by registry name (case-insensitive), e.g. ``make_head("arcface", 128, 500, m=0.4)``."""
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in HEADS:
        raise RIEInputError(f"unknown head {name!r}; valid names: {', '.join(HEADS)}")
    cls = HEADS[key]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "embedding_size", "num_classes")]
    unknown = sorted(set(kw) - set(accepted))
    if unknown:
        raise RIEInputError(f"{cls.__name__} has no hyper-parameter(s) {unknown}; it accepts {accepted}")
    return cls(embedding_size, num_classes, **kw)
