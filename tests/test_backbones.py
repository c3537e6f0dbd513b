"""Backbones: shapes, the features/head/target_layer contract, insightface checkpoint names, bad input."""

import io

import pytest
import torch

from rie.common.checks import RIEInputError
from rie.method.backbones import (
    BACKBONES,
    IResNet,
    MobileFaceNet,
    SmallFaceNet,
    iresnet18,
    iresnet50,
    make_backbone,
)

# (name, kwargs, batch, expected feature map (C, H, W), embedding size)
CASES = [
    ("small_facenet", {}, 4, (64, 8, 8), 128),
    ("small_facenet", {"embedding_size": 2}, 4, (64, 8, 8), 2),
    ("small_facenet", {"input_size": 48}, 2, (64, 12, 12), 128),
    ("mobilefacenet", {}, 2, (512, 7, 7), 512),
    ("iresnet18", {}, 2, (512, 7, 7), 512),
]
IDS = [f"{n}-{kw}" for n, kw, *_ in CASES]


@pytest.fixture(scope="module")
def built():
    torch.manual_seed(0)
    return {i: make_backbone(n, **kw).eval() for i, (n, kw, *_) in zip(IDS, CASES)}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_shapes_and_contract(built, case):
    name, kw, batch, fmap_shape, dim = case
    model = built[f"{name}-{kw}"]
    size = model.input_size
    x = torch.randn(batch, 3, size, size)
    captured = []
    handle = model.target_layer.register_forward_hook(lambda m, i, o: captured.append(o))
    with torch.no_grad():
        fmap = model.features(x)
        v = model(x)
    handle.remove()
    assert fmap.shape == (batch, *fmap_shape)
    assert (model.feature_channels, *model.feature_hw) == fmap_shape
    assert v.shape == (batch, dim) and model.embedding_size == dim
    # target_layer's output IS the feature map (Grad-CAM hooks it), and forward = head(features).
    assert torch.equal(captured[0], fmap)
    with torch.no_grad():
        torch.testing.assert_close(model.head(fmap), v)
        # Eval mode is deterministic and batch-independent.
        torch.testing.assert_close(model(x), v)
        torch.testing.assert_close(model(x[:1]), v[:1], atol=1e-4, rtol=1e-4)


def test_defaults():
    assert make_backbone("small_facenet").input_size == 32
    assert make_backbone("mobilefacenet").input_size == 112
    assert set(BACKBONES) == {"iresnet18", "iresnet34", "iresnet50", "iresnet100", "mobilefacenet", "small_facenet"}
    assert isinstance(make_backbone("small_facenet"), SmallFaceNet)
    assert isinstance(make_backbone("MobileFaceNet"), MobileFaceNet)


def test_small_facenet_trains_with_2d_embedding():
    torch.manual_seed(0)
    model = SmallFaceNet(embedding_size=2).train()
    x = torch.randn(8, 3, 32, 32)
    model(x).pow(2).sum().backward()
    for p in (model.conv1.weight, model.layer1[0].conv1.weight, model.fc.weight, model.embedding_bn.weight):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    assert not SmallFaceNet(freeze_embedding_scale=True).embedding_bn.weight.requires_grad


# ----------------------------------------------------------------- insightface names


def _bn(keys, prefix, c):
    for s in ("weight", "bias", "running_mean", "running_var"):
        keys[f"{prefix}.{s}"] = (c,)
    keys[f"{prefix}.num_batches_tracked"] = ()


def insightface_iresnet_keys(layers, emb=512):
    """arcface_torch/backbones/iresnet.py, written out from its architecture: 4 stages of
    IBasicBlock (bn1, conv1, bn2, prelu, conv2 with the stride, bn3; block 0 of each stage has a
    1x1-conv + BN ``downsample`` since every stage has stride 2), then bn2, fc, features (BN1d)."""
    keys = {"conv1.weight": (64, 3, 3, 3), "prelu.weight": (64,)}
    _bn(keys, "bn1", 64)
    inplanes = 64
    for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), layers), 1):
        for b in range(n):
            p, cin = f"layer{stage}.{b}", (inplanes if b == 0 else planes)
            _bn(keys, f"{p}.bn1", cin)
            keys[f"{p}.conv1.weight"] = (planes, cin, 3, 3)
            _bn(keys, f"{p}.bn2", planes)
            keys[f"{p}.prelu.weight"] = (planes,)
            keys[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            _bn(keys, f"{p}.bn3", planes)
            if b == 0:
                keys[f"{p}.downsample.0.weight"] = (planes, cin, 1, 1)
                _bn(keys, f"{p}.downsample.1", planes)
        inplanes = planes
    _bn(keys, "bn2", 512)
    keys["fc.weight"], keys["fc.bias"] = (emb, 512 * 7 * 7), (emb,)
    _bn(keys, "features", emb)
    return keys


def _convblock(keys, p, cin, cout, k=1, groups=1, act=True):
    keys[f"{p}.layers.0.weight"] = (cout, cin // groups, k, k)
    _bn(keys, f"{p}.layers.1", cout)
    if act:
        keys[f"{p}.layers.2.weight"] = (cout,)


def _depthwise(keys, p, cin, cout, groups):
    _convblock(keys, f"{p}.layers.0", cin, groups)  # 1x1 expand
    _convblock(keys, f"{p}.layers.1", groups, groups, 3, groups)  # depthwise 3x3
    _convblock(keys, f"{p}.layers.2", groups, cout, act=False)  # 1x1 linear projection


def insightface_mbf_keys(emb=512):
    """arcface_torch/backbones/mobilefacenet.py (get_mbf: blocks (1, 4, 6, 2), scale 2)."""
    keys = {}
    _convblock(keys, "layers.0", 3, 128, 3)
    _convblock(keys, "layers.1", 128, 128, 3, groups=64)
    _depthwise(keys, "layers.2", 128, 128, 128)
    for i in range(4):
        _depthwise(keys, f"layers.3.layers.{i}", 128, 128, 128)
    _depthwise(keys, "layers.4", 128, 256, 256)
    for i in range(6):
        _depthwise(keys, f"layers.5.layers.{i}", 256, 256, 256)
    _depthwise(keys, "layers.6", 256, 256, 512)
    for i in range(2):
        _depthwise(keys, f"layers.7.layers.{i}", 256, 256, 256)
    _convblock(keys, "conv_sep", 256, 512)
    _convblock(keys, "features.layers.0", 512, 512, 7, groups=512, act=False)  # GDC depthwise 7x7
    keys["features.layers.2.weight"] = (emb, 512)  # index 1 is Flatten
    _bn(keys, "features.layers.3", emb)
    return keys


def _load_reference(model, expected):
    """A checkpoint with the reference names, through torch.save/load, into ``model`` strictly."""
    torch.manual_seed(1)
    ref = {k: (torch.tensor(7) if s == () else torch.randn(s)) for k, s in expected.items()}
    ref.update({k: v.abs() + 0.5 for k, v in ref.items() if k.endswith("running_var")})
    buf = io.BytesIO()
    torch.save(ref, buf)
    buf.seek(0)
    model.load_state_dict(torch.load(buf), strict=True)
    return ref


def test_iresnet50_state_dict_matches_insightface():
    model = iresnet50()
    expected = insightface_iresnet_keys((3, 4, 14, 3))
    got = {k: tuple(t.shape) for k, t in model.state_dict().items()}
    assert got == expected
    for key in ("layer1.0.bn1.weight", "layer4.2.conv2.weight", "features.running_mean", "layer3.13.prelu.weight"):
        assert key in got
    assert got["fc.weight"] == (512, 512 * 49) and IResNet.fc_scale == 49
    assert not model.embedding_bn.weight.requires_grad and torch.all(model.embedding_bn.weight == 1)
    ref = _load_reference(model, expected)
    assert torch.equal(model.layer4[2].conv2.weight, ref["layer4.2.conv2.weight"])
    assert torch.equal(model.get_submodule("features").running_mean, ref["features.running_mean"])


def test_iresnet18_state_dict_matches_insightface():
    model = iresnet18(embedding_size=256)
    assert {k: tuple(t.shape) for k, t in model.state_dict().items()} == insightface_iresnet_keys((2, 2, 2, 2), 256)


def test_mobilefacenet_state_dict_matches_insightface():
    model = MobileFaceNet()
    expected = insightface_mbf_keys()
    assert {k: tuple(t.shape) for k, t in model.state_dict().items()} == expected
    ref = _load_reference(model, expected)
    assert torch.equal(model.gdc.layers[2].weight, ref["features.layers.2.weight"])
    assert torch.equal(model.get_submodule("features.layers.3").running_var, ref["features.layers.3.running_var"])


def test_fp16_flag_is_a_no_op_on_cpu():
    torch.manual_seed(0)
    a = MobileFaceNet(embedding_size=64, input_size=32).eval()
    b = MobileFaceNet(embedding_size=64, input_size=32, fp16=True).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        out = b(x)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, a(x))


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "x,match",
    [
        (torch.randn(2, 3, 28, 28), r"expects images of shape \(B, 3, 32, 32\), got \(2, 3, 28, 28\).*spatial"),
        (torch.randn(2, 1, 32, 32), "wrong channel count"),
        (torch.randn(3, 32, 32), "4 dimensions"),
        (torch.full((1, 3, 32, 32), float("nan")), "NaN"),
        (torch.zeros(1, 3, 32, 32, dtype=torch.uint8), "floating"),
        ([[0.0]], "torch.Tensor"),
    ],
)
def test_bad_images(x, match):
    model = SmallFaceNet()
    with pytest.raises(RIEInputError, match=match):
        model(x)
    with pytest.raises(RIEInputError, match=match):
        model.features(x)


def test_bad_feature_map_and_registry():
    with pytest.raises(RIEInputError, match=r"feature map \(B, 64, 8, 8\)"):
        SmallFaceNet().head(torch.randn(2, 64, 4, 4))
    with pytest.raises(RIEInputError, match="expects images of shape .*112, 112"):
        MobileFaceNet()(torch.randn(2, 3, 32, 32))
    with pytest.raises(RIEInputError, match="valid names: iresnet18, .*small_facenet"):
        make_backbone("resnet50")
    with pytest.raises(RIEInputError, match="no argument"):
        make_backbone("small_facenet", widht=3)
    with pytest.raises(RIEInputError, match="embedding_size"):
        make_backbone("small_facenet", embedding_size=0)
