"""Backbones (placeholder registry with the small 32x32 network; full set in progress)."""

from __future__ import annotations

import torch
from torch import nn

from .checks import RIEInputError


def _conv_bn(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.PReLU(cout))


class ResidualUnit(nn.Module):
    """conv-BN-PReLU-conv-BN with an identity shortcut, at constant width and resolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels), nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels),
        )

    def forward(self, x):
        return x + self.body(x)


class SmallFaceNet(nn.Module):
    """A small residual network for 32x32 faces; feature map 64 x 8 x 8 (for attention and Grad-CAM).

    32 -> 16 (stem, stride 2) -> residual unit -> 8 (stride 2) -> residual unit, then an
    insightface-style head: BN -> dropout -> flatten -> linear -> BN1d.
    """

    def __init__(self, embedding_size: int = 128, input_size: int = 32, width: int = 32, dropout: float = 0.0):
        super().__init__()
        if input_size % 4:
            raise RIEInputError(f"SmallFaceNet needs an input size divisible by 4, got {input_size}")
        self.input_size, self.embedding_size = input_size, embedding_size
        self.stem = _conv_bn(3, width, stride=2)
        self.layer1 = ResidualUnit(width)
        self.down = _conv_bn(width, 2 * width, stride=2)
        self.layer2 = ResidualUnit(2 * width)
        self.feature_channels = 2 * width
        self.feature_hw = (input_size // 4, input_size // 4)
        self.bn2 = nn.BatchNorm2d(self.feature_channels)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.feature_channels * self.feature_hw[0] * self.feature_hw[1], embedding_size)
        self.features_bn = nn.BatchNorm1d(embedding_size)

    @property
    def target_layer(self):
        return self.layer2

    def features(self, x):
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != self.input_size or x.shape[3] != self.input_size:
            raise RIEInputError(f"expected images of shape (B, 3, {self.input_size}, {self.input_size}), got {tuple(x.shape)}")
        return self.layer2(self.down(self.layer1(self.stem(x))))

    def head(self, fmap):
        return self.features_bn(self.fc(self.dropout(self.bn2(fmap)).flatten(1)))

    def forward(self, x):
        return self.head(self.features(x))


BACKBONES = {"small_facenet": SmallFaceNet}


def make_backbone(name: str, embedding_size: int = 128, input_size: int = 32, **kw) -> nn.Module:
    if name not in BACKBONES:
        raise RIEInputError(f"unknown backbone {name!r}; known: {sorted(BACKBONES)}")
    return BACKBONES[name](embedding_size=embedding_size, input_size=input_size, **kw)
