"""AdaFace's IR network (Kim et al., CVPR 2022), ported so that its published checkpoints load.

Ported from mk-minchul/AdaFace ``net.py`` (MIT License, Copyright (c) 2022 Minchul Kim); written
afresh to the same module tree, so a state_dict saved by AdaFace loads with ``strict=True``:

    input_layer   .0 conv3x3 (3 -> 64, stride 1)   .1 BN2d   .2 PReLU
    body.<i>      one unit per block: ``shortcut_layer`` (MaxPool2d(1, s), no weights, when the
                  width stays; else .0 conv1x1(s) .1 BN2d) and ``res_layer``
                  (BasicBlockIR: .0 BN .1 conv3x3 .2 BN .3 PReLU .4 conv3x3(s) .5 BN;
                  BottleneckIR: .0 BN .1 conv1x1 .2 BN .3 PReLU .4 conv3x3 .5 BN .6 PReLU .7 conv1x1(s) .8 BN;
                  the ``ir_se`` variants append ``se_block`` (fc1, fc2: 1x1 convs, no bias))
    output_layer  .0 BN2d  .1 Dropout(0.4)  .2 Flatten  .3 Linear(C*7*7, 512)  .4 BN1d(512, affine=False)

IR-18/34/50/100 use BasicBlockIR (512 channels out); IR-152/200 use BottleneckIR (2048).

AdaFace's ``Backbone.forward`` returns ``(x / |x|, |x|)``. Here the class follows rie's
:class:`~rie.method.backbones.Backbone` interface instead (``features``/``head``;
``forward`` returns the raw embedding ``x``, whose norm is AdaFace's quality proxy), and
:meth:`AdaFaceIR.forward_normalised` returns AdaFace's pair. Input: 112x112, BGR,
``(x / 255 - 0.5) / 0.5`` (AdaFace's ``inference.py``); see ``rie.method.checkpoints``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..common.checks import RIEInputError
from .backbones import Backbone, kaiming_init

# num_layers -> units per stage (AdaFace's get_blocks)
ADAFACE_STAGES = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 14, 3),
    100: (3, 13, 30, 3),
    152: (3, 8, 36, 3),
    200: (3, 24, 36, 3),
}
# AdaFace's build_model names
ADAFACE_ARCHS = {"ir_18": (18, "ir"), "ir_34": (34, "ir"), "ir_50": (50, "ir"), "ir_101": (100, "ir"),
                 "ir_152": (152, "ir"), "ir_200": (200, "ir"), "ir_se_50": (50, "ir_se"),
                 "ir_se_101": (100, "ir_se"), "ir_se_152": (152, "ir_se")}


class _Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1)


class _SE(nn.Module):
    """Squeeze-excitation on a residual branch: avgpool -> 1x1 (C/r) -> ReLU -> 1x1 (C) -> sigmoid gate."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x):
        w = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))
        return x * w


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    if cin == cout:
        return nn.MaxPool2d(1, stride)  # identity, subsampled by the stride
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlockIR(nn.Module):
    """BN -> conv3x3 -> BN -> PReLU -> conv3x3(stride) -> BN, plus the shortcut."""

    def __init__(self, cin: int, cout: int, stride: int, se: bool = False):
        super().__init__()
        self.shortcut_layer = _shortcut(cin, cout, stride)
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.PReLU(cout),
            nn.Conv2d(cout, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
        )
        if se:
            self.res_layer.add_module("se_block", _SE(cout))

    def forward(self, x):
        return self.res_layer(x) + self.shortcut_layer(x)


class BottleneckIR(nn.Module):
    """BN -> 1x1 (C/4) -> BN -> PReLU -> 3x3 -> BN -> PReLU -> 1x1(stride) -> BN, plus the shortcut."""

    def __init__(self, cin: int, cout: int, stride: int, se: bool = False):
        super().__init__()
        mid = cout // 4
        self.shortcut_layer = _shortcut(cin, cout, stride)
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(cin), nn.Conv2d(cin, mid, 1, 1, 0, bias=False), nn.BatchNorm2d(mid), nn.PReLU(mid),
            nn.Conv2d(mid, mid, 3, 1, 1, bias=False), nn.BatchNorm2d(mid), nn.PReLU(mid),
            nn.Conv2d(mid, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout),
        )
        if se:
            self.res_layer.add_module("se_block", _SE(cout))

    def forward(self, x):
        return self.res_layer(x) + self.shortcut_layer(x)


class AdaFaceIR(Backbone):
    """AdaFace's ``Backbone(input_size=(112, 112), num_layers, mode)`` under rie's Backbone interface.

    Feature map: the output of ``body`` (512 x 7 x 7 at 112 px for IR-18..100); head: ``output_layer``.
    """

    def __init__(self, num_layers: int = 50, mode: str = "ir", input_size: int = 112):
        super().__init__()
        if num_layers not in ADAFACE_STAGES:
            raise RIEInputError(f"AdaFace IR num_layers must be one of {sorted(ADAFACE_STAGES)}, got {num_layers!r}")
        if mode not in ("ir", "ir_se"):
            raise RIEInputError(f"AdaFace IR mode must be 'ir' or 'ir_se', got {mode!r}")
        if input_size not in (112, 224):
            raise RIEInputError(f"AdaFace IR takes 112 or 224 px input, got {input_size!r}")
        self.num_layers, self.mode = num_layers, mode
        self.input_size, self.embedding_size = input_size, 512
        bottleneck = num_layers > 100
        widths = (256, 512, 1024, 2048) if bottleneck else (64, 128, 256, 512)
        unit = BottleneckIR if bottleneck else BasicBlockIR
        self.feature_channels = widths[-1]
        self.feature_hw = (input_size // 16,) * 2

        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        # registered before body, as in AdaFace (same state_dict order)
        hw = self.feature_hw[0] * self.feature_hw[1]
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(self.feature_channels), nn.Dropout(0.4), _Flatten(),
            nn.Linear(self.feature_channels * hw, 512), nn.BatchNorm1d(512, affine=False),
        )
        units, cin = [], 64
        for cout, n in zip(widths, ADAFACE_STAGES[num_layers]):
            units.append(unit(cin, cout, 2, se=mode == "ir_se"))
            units += [unit(cout, cout, 1, se=mode == "ir_se") for _ in range(n - 1)]
            cin = cout
        self.body = nn.Sequential(*units)
        kaiming_init(self)  # AdaFace's initialize_weights

    @property
    def target_layer(self) -> nn.Module:
        return self.body

    def _features(self, x):
        return self.body(self.input_layer(x))

    def head(self, fmap):
        return self.output_layer(self.check_feature_map(fmap))

    def forward_normalised(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """AdaFace's forward: ``(x / |x|, |x|)`` with the norm kept as a (B, 1) column."""
        v = self(x)
        norm = v.norm(p=2, dim=1, keepdim=True)
        return v / norm, norm


def adaface_ir(arch: str = "ir_50") -> AdaFaceIR:
    """AdaFace's ``build_model(arch)``: ``ir_18``, ``ir_34``, ``ir_50``, ``ir_101``, ``ir_152``, ``ir_200``, ``ir_se_50`` ..."""
    if arch not in ADAFACE_ARCHS:
        raise RIEInputError(f"unknown AdaFace architecture {arch!r}; valid: {', '.join(ADAFACE_ARCHS)}")
    num_layers, mode = ADAFACE_ARCHS[arch]
    return AdaFaceIR(num_layers, mode)
