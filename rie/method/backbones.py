"""Face backbones with one interface: a spatial feature map, then an embedding head.

    fmap = backbone.features(x)      (B, feature_channels, *feature_hw): the last spatial map,
                                     what the perceptibility modules (Eqs. 4, 9) and Grad-CAM read
    v    = backbone.head(fmap)       (B, embedding_size): the raw (unnormalised) embedding
    v    = backbone(x)               == head(features(x))

``backbone.target_layer`` is the module whose output is ``fmap`` (hook it for Grad-CAM).

Models:

* ``iresnet18/34/50/100``, ``mobilefacenet``: insightface's arcface_torch backbones for 112x112
  input, with the SAME state_dict names and shapes, so its published checkpoints load with
  ``load_state_dict(strict=True)``. insightface calls the final BatchNorm1d (IResNet) or the GDC
  head (MobileFaceNet) ``features``; here ``features`` is also the interface method, so that
  submodule lives in ``self._modules["features"]`` only (``state_dict`` and ``named_modules``
  see it under its insightface name; in code use ``embedding_bn`` / ``gdc``).
* ``small_facenet`` (:class:`SmallFaceNet`): a tiny IResNet-style net for the 32x32 synthetic
  default, fast enough to train on a 2-core CPU.
"""

from __future__ import annotations

import inspect
import math
from contextlib import nullcontext

import torch
from torch import nn

from ..common.checks import RIEInputError, check_tensor


def _halve(size: int, times: int) -> int:
    # A 3x3/pad-1 or 1x1/pad-0 conv with stride 2 maps H to ceil(H / 2).
    for _ in range(times):
        size = math.ceil(size / 2)
    return size


def _check_int(name: str, value, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise RIEInputError(f"{name} must be an int >= {minimum}, got {value!r}")


def kaiming_init(module: nn.Module) -> None:
    """insightface's and AdaFace's initialisation: Kaiming-normal convolutions and linear layers
    (fan out), zero biases, batch-norm scales 1 and shifts 0, in module order."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class Backbone(nn.Module):
    """The shared interface; subclasses implement ``_features`` and ``head`` and set the attributes."""

    embedding_size: int
    feature_channels: int
    feature_hw: tuple[int, int]
    input_size: int
    in_channels: int = 3

    @property
    def target_layer(self) -> nn.Module:
        raise NotImplementedError

    def check_input(self, x) -> torch.Tensor:
        check_tensor(x, "images", ndim=4)
        want = (self.in_channels, self.input_size, self.input_size)
        if tuple(x.shape[1:]) != want:
            raise RIEInputError(
                f"{type(self).__name__} expects images of shape (B, {want[0]}, {want[1]}, {want[2]}), "
                f"got {tuple(x.shape)}" + (" (wrong channel count)" if x.shape[1] != want[0] else " (wrong spatial size)")
            )
        return x

    def check_feature_map(self, fmap) -> torch.Tensor:
        # Shape only: a finiteness test here would cost a second device sync per batch.
        if not isinstance(fmap, torch.Tensor) or fmap.ndim != 4:
            raise RIEInputError(f"{type(self).__name__}.head expects a 4-D feature map tensor, got {getattr(fmap, 'shape', type(fmap).__name__)}")
        want = (self.feature_channels, *self.feature_hw)
        if tuple(fmap.shape[1:]) != want:
            raise RIEInputError(f"{type(self).__name__}.head expects a feature map (B, {want[0]}, {want[1]}, {want[2]}), got {tuple(fmap.shape)}")
        return fmap

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C_in, input_size, input_size) -> the last spatial feature map."""
        return self._features(self.check_input(x))

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def head(self, fmap: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def get_submodule(self, target: str) -> nn.Module:
        # nn.Module's version resolves names with getattr and would find the ``features``
        # method instead of insightface's ``features`` submodule.
        mod: nn.Module = self
        for atom in target.split(".") if target else []:
            if atom not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no submodule {atom!r} (in {target!r})")
            mod = mod._modules[atom]
        return mod

    def _autocast(self, x: torch.Tensor):
        # insightface's fp16 flag: torch.cuda.amp.autocast(fp16) around the convolutional trunk,
        # which does nothing on CPU; the final linear layer and BN1d always run in float32.
        if getattr(self, "fp16", False) and x.is_cuda:
            return torch.autocast("cuda", dtype=torch.float16)
        return nullcontext()


# --------------------------------------------------------------------------- IResNet


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class IBasicBlock(nn.Module):
    """Improved residual block (Duta et al., ArcFace's IResNet): BN-conv-BN-PReLU-conv(stride)-BN, plus shortcut.

    ``out = bn3(conv2(prelu(bn2(conv1(bn1(x)))))) + downsample(x)``; no activation after the sum.
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-5)
        self.conv1 = conv3x3(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5)
        self.prelu = nn.PReLU(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-5)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity


def make_layer(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """``blocks`` IBasicBlocks; the first one changes width/resolution and gets a 1x1 conv+BN shortcut."""
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes, eps=1e-5))
    layers = [IBasicBlock(inplanes, planes, stride, downsample)]
    layers += [IBasicBlock(planes, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class IResNet(Backbone):
    """insightface's IResNet: stem conv(stride 1) -> 4 stages (stride 2 each) -> BN -> dropout -> FC -> BN1d.

    Feature map: output of ``layer4``, 512 x 7 x 7 at 112 x 112 input. Head:
    ``features(fc(dropout(flatten(bn2(fmap)))))`` where ``features`` is BatchNorm1d whose scale is
    fixed at 1 (not trained), as in insightface. ``fc_scale = 7 * 7`` at the default input size;
    another ``input_size`` (a multiple of 16 keeps the maps exact) changes only the ``fc`` width.
    """

    fc_scale = 7 * 7  # insightface's constant, for 112 x 112 input; instances store their own

    def __init__(
        self,
        layers: tuple[int, int, int, int],
        embedding_size: int = 512,
        input_size: int = 112,
        dropout: float = 0.0,
        fp16: bool = False,
        zero_init_residual: bool = False,
        in_channels: int = 3,
    ):
        super().__init__()
        _check_int("embedding_size", embedding_size)
        _check_int("input_size", input_size, 16)
        _check_int("in_channels", in_channels)
        if len(layers) != 4:
            raise RIEInputError(f"IResNet needs 4 stage depths, got {layers!r}")
        self.embedding_size, self.input_size, self.in_channels, self.fp16 = embedding_size, input_size, in_channels, fp16
        self.feature_channels = 512
        self.feature_hw = (_halve(input_size, 4),) * 2
        self.fc_scale = self.feature_hw[0] * self.feature_hw[1]

        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        self.layer1 = make_layer(64, 64, layers[0], stride=2)
        self.layer2 = make_layer(64, 128, layers[1], stride=2)
        self.layer3 = make_layer(128, 256, layers[2], stride=2)
        self.layer4 = make_layer(256, 512, layers[3], stride=2)
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(p=dropout)  # not inplace: the feature map may be hooked (Grad-CAM)
        self.fc = nn.Linear(512 * self.fc_scale, embedding_size)
        self._modules["features"] = nn.BatchNorm1d(embedding_size, eps=1e-5)  # see the module docstring

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        nn.init.constant_(self.embedding_bn.weight, 1.0)
        self.embedding_bn.weight.requires_grad = False
        if zero_init_residual:  # insightface zeroes each block's bn2 scale
            for m in self.modules():
                if isinstance(m, IBasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    @property
    def embedding_bn(self) -> nn.BatchNorm1d:
        """The final BatchNorm1d, insightface's ``features`` (its scale is frozen at 1)."""
        return self._modules["features"]

    @property
    def target_layer(self) -> nn.Module:
        return self.layer4

    def _features(self, x):
        with self._autocast(x):
            x = self.prelu(self.bn1(self.conv1(x)))
            return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def head(self, fmap):
        self.check_feature_map(fmap)
        with self._autocast(fmap):
            x = self.dropout(torch.flatten(self.bn2(fmap), 1))
        return self.embedding_bn(self.fc(x.float() if self.fp16 else x))


def iresnet18(**kw) -> IResNet:
    return IResNet((2, 2, 2, 2), **kw)


def iresnet34(**kw) -> IResNet:
    return IResNet((3, 4, 6, 3), **kw)


def iresnet50(**kw) -> IResNet:
    return IResNet((3, 4, 14, 3), **kw)


def iresnet100(**kw) -> IResNet:
    return IResNet((3, 13, 30, 3), **kw)


# --------------------------------------------------------------------------- MobileFaceNet


class ConvBlock(nn.Module):
    """Conv (no bias) -> BN -> PReLU, held in ``layers`` as insightface does."""

    def __init__(self, in_c, out_c, kernel=(1, 1), stride=(1, 1), padding=(0, 0), groups=1):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_c, out_c, kernel, stride=stride, padding=padding, groups=groups, bias=False),
            nn.BatchNorm2d(out_c),
            nn.PReLU(out_c),
        )

    def forward(self, x):
        return self.layers(x)


class LinearBlock(nn.Module):
    """Conv (no bias) -> BN, no activation."""

    def __init__(self, in_c, out_c, kernel=(1, 1), stride=(1, 1), padding=(0, 0), groups=1):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_c, out_c, kernel, stride=stride, padding=padding, groups=groups, bias=False),
            nn.BatchNorm2d(out_c),
        )

    def forward(self, x):
        return self.layers(x)


class DepthWise(nn.Module):
    """Inverted bottleneck: 1x1 expand to ``groups`` channels -> depthwise kxk (stride) -> 1x1 linear projection (+ x)."""

    def __init__(self, in_c, out_c, residual=False, kernel=(3, 3), stride=(2, 2), padding=(1, 1), groups=1):
        super().__init__()
        self.residual = residual
        self.layers = nn.Sequential(
            ConvBlock(in_c, groups),
            ConvBlock(groups, groups, kernel=kernel, stride=stride, padding=padding, groups=groups),
            LinearBlock(groups, out_c),
        )

    def forward(self, x):
        return x + self.layers(x) if self.residual else self.layers(x)


class Residual(nn.Module):
    """``num_block`` residual DepthWise blocks at constant width."""

    def __init__(self, c, num_block, groups, kernel=(3, 3), stride=(1, 1), padding=(1, 1)):
        super().__init__()
        self.layers = nn.Sequential(*[DepthWise(c, c, True, kernel, stride, padding, groups) for _ in range(num_block)])

    def forward(self, x):
        return self.layers(x)


class GDC(nn.Module):
    """Global depthwise convolution head: depthwise kxk over the whole map -> flatten -> linear (no bias) -> BN1d."""

    def __init__(self, embedding_size: int, kernel: int = 7):
        super().__init__()
        self.layers = nn.Sequential(
            LinearBlock(512, 512, kernel=(kernel, kernel), groups=512),
            nn.Flatten(),
            nn.Linear(512, embedding_size, bias=False),
            nn.BatchNorm1d(embedding_size),
        )

    def forward(self, x):
        return self.layers(x)


class MobileFaceNet(Backbone):
    """insightface's MobileFaceNet (``get_mbf``): 4 stride-2 stages of depthwise blocks -> 1x1 conv to 512 -> GDC.

    Feature map: output of ``conv_sep``, 512 x 7 x 7 at 112 x 112 input. Head: the GDC
    (insightface's ``features``): depthwise 7x7 -> linear -> BN1d. ``blocks=(2, 8, 12, 4),
    scale=4`` is insightface's ``get_mbf_large``. The expansion widths (128, 256, 512) are fixed
    as in insightface, whatever ``scale``.
    """

    def __init__(
        self,
        embedding_size: int = 512,
        input_size: int = 112,
        blocks: tuple[int, int, int, int] = (1, 4, 6, 2),
        scale: int = 2,
        fp16: bool = False,
        in_channels: int = 3,
    ):
        super().__init__()
        _check_int("embedding_size", embedding_size)
        _check_int("input_size", input_size, 16)
        _check_int("in_channels", in_channels)
        _check_int("scale", scale)
        if len(blocks) != 4:
            raise RIEInputError(f"MobileFaceNet needs 4 block counts, got {blocks!r}")
        self.embedding_size, self.input_size, self.in_channels, self.fp16 = embedding_size, input_size, in_channels, fp16
        self.feature_channels = 512
        self.feature_hw = (_halve(input_size, 4),) * 2
        c1, c2 = 64 * scale, 128 * scale

        stem = [ConvBlock(in_channels, c1, kernel=(3, 3), stride=(2, 2), padding=(1, 1))]
        if blocks[0] == 1:
            stem.append(ConvBlock(c1, c1, kernel=(3, 3), stride=(1, 1), padding=(1, 1), groups=64))
        else:
            stem.append(Residual(c1, num_block=blocks[0], groups=128))
        self.layers = nn.ModuleList(
            stem
            + [
                DepthWise(c1, c1, kernel=(3, 3), stride=(2, 2), padding=(1, 1), groups=128),
                Residual(c1, num_block=blocks[1], groups=128),
                DepthWise(c1, c2, kernel=(3, 3), stride=(2, 2), padding=(1, 1), groups=256),
                Residual(c2, num_block=blocks[2], groups=256),
                DepthWise(c2, c2, kernel=(3, 3), stride=(2, 2), padding=(1, 1), groups=512),
                Residual(c2, num_block=blocks[3], groups=256),
            ]
        )
        self.conv_sep = ConvBlock(c2, 512)
        self._modules["features"] = GDC(embedding_size, kernel=self.feature_hw[0])  # see the module docstring

        kaiming_init(self)

    @property
    def gdc(self) -> GDC:
        """The GDC embedding head, insightface's ``features``."""
        return self._modules["features"]

    @property
    def target_layer(self) -> nn.Module:
        return self.conv_sep

    def _features(self, x):
        with self._autocast(x):
            for layer in self.layers:
                x = layer(x)
        return self.conv_sep(x.float() if self.fp16 else x)

    def head(self, fmap):
        return self.gdc(self.check_feature_map(fmap))


# --------------------------------------------------------------------------- SmallFaceNet


class SmallFaceNet(Backbone):
    """A tiny IResNet for the 32 x 32 synthetic faces: trains on a 2-core CPU.

        stem    conv3x3 stride 2 -> BN -> PReLU             3 -> c0,  32 -> 16
        layer1  IBasicBlock stride 2                        c0 -> c1, 16 -> 8
        layer2  IBasicBlock stride 1                        c1 -> c2, 8 x 8   <- feature map, target_layer
        head    BN2d -> dropout -> flatten -> linear -> BN1d          -> embedding_size

    Default ``channels=(16, 32, 64)``: 64 x 8 x 8 map, ~0.6 M parameters (most in the linear
    layer). A batch of 128 forward+backward took ~40 ms on this 2-core CPU when idle; wider variants tried
    (32/64 or 128 channels, 4 x 4 maps) cost 1.5-3x as much. ``freeze_embedding_scale=True``
    fixes the BN1d scale at 1 like IResNet; the default leaves it trainable so the embedding norm
    is free to carry information (MagFace and AdaFace need it; so does the 2-D toy experiment).
    """

    def __init__(
        self,
        embedding_size: int = 128,
        input_size: int = 32,
        channels: tuple[int, int, int] = (16, 32, 64),
        dropout: float = 0.0,
        in_channels: int = 3,
        freeze_embedding_scale: bool = False,
    ):
        super().__init__()
        _check_int("embedding_size", embedding_size)
        _check_int("input_size", input_size, 4)
        _check_int("in_channels", in_channels)
        if len(channels) != 3:
            raise RIEInputError(f"SmallFaceNet needs 3 channel widths, got {channels!r}")
        for c in channels:
            _check_int("channels", c)
        c0, c1, c2 = channels
        self.embedding_size, self.input_size, self.in_channels = embedding_size, input_size, in_channels
        self.feature_channels = c2
        self.feature_hw = (_halve(input_size, 2),) * 2

        self.conv1 = conv3x3(in_channels, c0, stride=2)
        self.bn1 = nn.BatchNorm2d(c0)
        self.prelu = nn.PReLU(c0)
        self.layer1 = make_layer(c0, c1, 1, stride=2)
        self.layer2 = make_layer(c1, c2, 1, stride=1)
        self.bn2 = nn.BatchNorm2d(c2)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(c2 * self.feature_hw[0] * self.feature_hw[1], embedding_size)
        self.embedding_bn = nn.BatchNorm1d(embedding_size)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.embedding_bn.weight.requires_grad = not freeze_embedding_scale

    @property
    def target_layer(self) -> nn.Module:
        return self.layer2

    def _features(self, x):
        return self.layer2(self.layer1(self.prelu(self.bn1(self.conv1(x)))))

    def head(self, fmap):
        self.check_feature_map(fmap)
        return self.embedding_bn(self.fc(torch.flatten(self.dropout(self.bn2(fmap)), 1)))


# --------------------------------------------------------------------------- registry

BACKBONES = {
    "iresnet18": iresnet18,
    "iresnet34": iresnet34,
    "iresnet50": iresnet50,
    "iresnet100": iresnet100,
    "mobilefacenet": MobileFaceNet,
    "small_facenet": SmallFaceNet,
}


def make_backbone(name: str, embedding_size: int | None = None, input_size: int | None = None, **kw) -> Backbone:
    """Build a backbone by registry name; ``None`` keeps the model's own default size.

    >>> make_backbone("small_facenet", embedding_size=2)          # 32 x 32 in, 2-D embedding
    >>> make_backbone("iresnet50")                                # 112 x 112 in, 512-D, insightface names
    """
    key = str(name).lower().replace("-", "_")
    if key not in BACKBONES:
        raise RIEInputError(f"unknown backbone {name!r}; valid names: {', '.join(BACKBONES)}")
    factory = BACKBONES[key]
    target = IResNet.__init__ if key.startswith("iresnet") else factory.__init__
    accepted = [p for p in inspect.signature(target).parameters if p not in ("self", "layers")]
    unknown = sorted(set(kw) - set(accepted))
    if unknown:
        raise RIEInputError(f"backbone {name!r} has no argument(s) {unknown}; it accepts {accepted}")
    if embedding_size is not None:
        kw["embedding_size"] = embedding_size
    if input_size is not None:
        kw["input_size"] = input_size
    return factory(**kw)
