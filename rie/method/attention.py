"""The two branches the paper adds on the backbone's feature map (Fig. 2).

- ``PerceptibilityRegression`` (Section 3.2): flatten -> dropout -> linear -> ``xi_hat``.
- ``PerceptibilityAttention`` (Section 3.4, Eq. 9): CBAM channel attention, then spatial
  attention (Woo et al., ECCV 2018), then a linear layer to ``v_attn`` of the embedding size.
"""

from __future__ import annotations

import torch
from torch import nn

from ..common.checks import RIEInputError


def _check_fmap(fmap: torch.Tensor, channels: int, hw: tuple[int, int]) -> None:
    # Shape only: the map comes from a backbone that checked its images, and a NaN born inside the
    # network is caught by the trainer's loss check; a full isfinite pass here cost ~10% of a step.
    if not isinstance(fmap, torch.Tensor) or fmap.ndim != 4 or not fmap.is_floating_point():
        raise RIEInputError(f"feature map must be a floating (B, C, H, W) tensor, got {_describe(fmap)}")
    if fmap.shape[1] != channels or tuple(fmap.shape[2:]) != tuple(hw):
        raise RIEInputError(
            f"feature map must have shape (B, {channels}, {hw[0]}, {hw[1]}), got {tuple(fmap.shape)}"
        )


def _describe(x) -> str:
    return f"shape {tuple(x.shape)}, dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__


class FastDropout(nn.Module):
    """Inverted dropout with a mask from ``torch.rand``: same semantics as ``nn.Dropout``, but the
    CPU Bernoulli sampler behind ``nn.Dropout`` cost 5 ms per batch here, more than the linear layer."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise RIEInputError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        # ge_ in place keeps the float dtype: the mask is 0 or 1/(1-p) without a copy
        return x * torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))


class PerceptibilityRegression(nn.Module):
    """Learned RI: ``xi_hat = W * dropout(flatten(fmap)) + b`` (one number per image)."""

    def __init__(self, channels: int, hw: tuple[int, int], dropout: float = 0.4):
        super().__init__()
        self.channels, self.hw = channels, tuple(hw)
        self.dropout = FastDropout(dropout)
        self.fc = nn.Linear(channels * hw[0] * hw[1], 1)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        _check_fmap(fmap, self.channels, self.hw)
        return self.fc(self.dropout(fmap.flatten(1))).squeeze(1)


class ChannelAttention(nn.Module):
    """CBAM channel attention: a shared MLP on the average- and max-pooled descriptors."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        weights = self.mlp(fmap.mean(dim=(2, 3))) + self.mlp(fmap.amax(dim=(2, 3)))
        return fmap * torch.sigmoid(weights)[:, :, None, None]


class SpatialAttention(nn.Module):
    """CBAM spatial attention: a k x k conv on the channel-wise average and max maps."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        if kernel_size % 2 != 1:
            raise RIEInputError(f"spatial attention kernel must be odd, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def attention_map(self, fmap: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([fmap.mean(dim=1, keepdim=True), fmap.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        return fmap * self.attention_map(fmap)


class PerceptibilityAttention(nn.Module):
    """PAM: channel then spatial attention on the feature map, then linear -> ``v_attn`` (B, D)."""

    def __init__(self, channels: int, hw: tuple[int, int], embedding_size: int, reduction: int = 16, kernel_size: int = 7):
        super().__init__()
        self.channels, self.hw = channels, tuple(hw)
        self.channel = ChannelAttention(channels, reduction)
        # A 7x7 kernel on a 4x4 map would see mostly padding: cap it at the map size (odd).
        k = min(kernel_size, 2 * (min(hw) // 2) + 1)
        self.spatial = SpatialAttention(k)
        self.fc = nn.Linear(channels * hw[0] * hw[1], embedding_size)

    def attended(self, fmap: torch.Tensor) -> torch.Tensor:
        _check_fmap(fmap, self.channels, self.hw)
        return self.spatial(self.channel(fmap))

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.fc(self.attended(fmap).flatten(1))
