"""Checkpoint loaders: each format's state_dict is built here from the public code's naming rules
(not from rie's modules), saved the way that project saves it, and loaded strictly.

Sources of the names: insightface recognition/arcface_torch/backbones/iresnet.py (IResNet),
fdbtrs/CR-FIQA backbones/iresnet.py (the same names plus ``qs``), IrvingMeng/MagFace
inference/network_inf.py (``features.module.`` / ``module.features.`` prefixes) and
models/iresnet.py, mk-minchul/AdaFace net.py and inference.py (``model.`` prefixes).
"""

import argparse

import numpy as np
import pytest
import torch
from PIL import Image

from rie.common.checks import RIEInputError
from rie.method.adaface_net import AdaFaceIR
from rie.method.backbones import IResNet, MobileFaceNet
from rie.method.checkpoints import FORMATS, PREPROCESS, LoadedCheckpoint, Preprocess, load_checkpoint
from rie.method.crfiqa import CRFIQAHead

torch.set_num_threads(1)
R18 = (2, 2, 2, 2)


def _bn(prefix, n, affine=True):
    out = {f"{prefix}.running_mean": torch.randn(n) * 0.1, f"{prefix}.running_var": torch.rand(n) + 0.5,
           f"{prefix}.num_batches_tracked": torch.tensor(7)}
    if affine:
        out[f"{prefix}.weight"] = torch.rand(n) + 0.5
        out[f"{prefix}.bias"] = torch.randn(n) * 0.1
    return out


def _conv(name, cout, cin, k):
    return {name: torch.randn(cout, cin, k, k) * (2.0 / (cin * k * k)) ** 0.5}


def arcface_iresnet_state(layers=R18, emb=512):
    """arcface_torch's IResNet names and shapes (insightface backbones/iresnet.py)."""
    sd = {**_conv("conv1.weight", 64, 3, 3), **_bn("bn1", 64), "prelu.weight": torch.full((64,), 0.25)}
    inplanes = 64
    for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers), start=1):
        for b in range(blocks):
            p, cin = f"layer{stage}.{b}", inplanes if b == 0 else planes
            sd |= _bn(f"{p}.bn1", cin) | _conv(f"{p}.conv1.weight", planes, cin, 3) | _bn(f"{p}.bn2", planes)
            sd |= {f"{p}.prelu.weight": torch.full((planes,), 0.25)}
            sd |= _conv(f"{p}.conv2.weight", planes, planes, 3) | _bn(f"{p}.bn3", planes)
            if b == 0:  # stride 2 in every stage: a 1x1 conv + BN shortcut
                sd |= _conv(f"{p}.downsample.0.weight", planes, cin, 1) | _bn(f"{p}.downsample.1", planes)
        inplanes = planes
    sd |= _bn("bn2", 512) | {"fc.weight": torch.randn(emb, 512 * 49) * 0.01, "fc.bias": torch.zeros(emb)}
    sd |= _bn("features", emb)
    sd["features.weight"] = torch.ones(emb)  # arcface_torch freezes its scale at 1
    return sd


def adaface_ir_state(units=R18):
    """AdaFace's IR names and shapes (net.py: input_layer, body of BasicBlockIR, output_layer)."""
    sd = {**_conv("input_layer.0.weight", 64, 3, 3), **_bn("input_layer.1", 64), "input_layer.2.weight": torch.full((64,), 0.25)}
    i, cin = 0, 64
    for cout, n in zip((64, 128, 256, 512), units):
        for k in range(n):
            p, c_in = f"body.{i}", cin if k == 0 else cout
            if c_in != cout:  # else a MaxPool2d(1, stride) shortcut, without weights
                sd |= _conv(f"{p}.shortcut_layer.0.weight", cout, c_in, 1) | _bn(f"{p}.shortcut_layer.1", cout)
            sd |= _bn(f"{p}.res_layer.0", c_in) | _conv(f"{p}.res_layer.1.weight", cout, c_in, 3) | _bn(f"{p}.res_layer.2", cout)
            sd |= {f"{p}.res_layer.3.weight": torch.full((cout,), 0.25)}
            sd |= _conv(f"{p}.res_layer.4.weight", cout, cout, 3) | _bn(f"{p}.res_layer.5", cout)
            i += 1
        cin = cout
    sd |= _bn("output_layer.0", 512) | {"output_layer.3.weight": torch.randn(512, 512 * 49) * 0.01,
                                         "output_layer.3.bias": torch.zeros(512)}
    sd |= _bn("output_layer.4", 512, affine=False)  # BatchNorm1d(512, affine=False)
    return sd


@pytest.fixture(scope="module")
def r18_state():
    torch.manual_seed(0)
    return arcface_iresnet_state()


@pytest.fixture(scope="module")
def face():
    rng = np.random.default_rng(0)
    return torch.from_numpy(rng.integers(0, 256, (1, 3, 112, 112), dtype=np.uint8))


class AttributeDict(dict):
    """Pickled by module and name, as Lightning's AttributeDict of hyper-parameters is."""


class Payload:
    """An object whose unpickling would write a file: the loader must never run it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (_touch, (self.path,))


def _touch(path):
    open(path, "w").close()


def _save(obj, path):
    torch.save(obj, path)
    return path


# ----------------------------------------------------------------------------- preprocessing


def test_each_format_carries_its_convention():
    red = torch.zeros(1, 3, 112, 112, dtype=torch.uint8)
    red[:, 0] = 255  # a pure red RGB image

    def at(fmt):
        return PREPROCESS[fmt](red)[0, :, 0, 0].tolist()

    assert at("arcface_torch") == [1.0, -1.0, -1.0]  # RGB, x/255*2-1 (arcface_torch inference.py)
    assert at("crfiqa") == [1.0, -1.0, -1.0]
    assert at("magface") == [0.0, 0.0, 1.0]  # BGR (cv2) in [0, 1] (ToTensor, Normalize(0, 1))
    assert at("adaface") == [-1.0, -1.0, 1.0]  # BGR, (x/255 - 0.5)/0.5 (AdaFace inference.py)
    assert all(p.input_size == 112 for p in PREPROCESS.values()) and set(PREPROCESS) == set(FORMATS)


def test_preprocess_accepts_pil_and_numpy_and_names_bad_input():
    arr = np.zeros((112, 112, 3), dtype=np.uint8)
    arr[..., 2] = 255  # blue
    pre = PREPROCESS["adaface"]
    x = pre(Image.fromarray(arr))
    assert x.shape == (1, 3, 112, 112) and x[0, :, 5, 5].tolist() == [1.0, -1.0, -1.0]
    assert torch.equal(pre(arr), x) and torch.equal(pre(arr[None]), x)
    expected = ((arr[..., ::-1] / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)  # AdaFace's to_input
    assert np.allclose(x[0].numpy(), expected)
    with pytest.raises(RIEInputError, match="aligned 112x112"):
        pre(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(RIEInputError, match="uint8"):
        pre(torch.zeros(1, 3, 112, 112))
    with pytest.raises(RIEInputError, match="channel_order"):
        Preprocess("RBG")
    assert Preprocess("BGR", [0, 1]) == PREPROCESS["magface"]
    with pytest.raises(RIEInputError, match="value_range"):
        Preprocess("RGB", (1, -1))


# ----------------------------------------------------------------------------- formats


def test_arcface_torch_bare_and_wrapped_and_ddp(tmp_path, r18_state):
    bare = load_checkpoint(_save(r18_state, tmp_path / "bare.pth"), "arcface_torch")
    assert bare.arch == "r18" and isinstance(bare.model, IResNet) and not bare.model.training
    ddp = {"module." + k: v for k, v in r18_state.items()}
    for wrapped in ({"state_dict": ddp}, {"model": r18_state, "epoch": 3}):
        loaded = load_checkpoint(_save(wrapped, tmp_path / "w.pth"), "arcface_torch", arch="r18")
        assert torch.equal(loaded.model.state_dict()["layer4.1.conv2.weight"], r18_state["layer4.1.conv2.weight"])
    model, pre = bare  # unpacks as (model, preprocess)
    assert pre == PREPROCESS["arcface_torch"] and model is bare.model


def test_arcface_torch_mobilefacenet(tmp_path):
    sd = MobileFaceNet().state_dict()  # the names are checked key for key in test_backbones
    loaded = load_checkpoint(_save(sd, tmp_path / "mbf.pth"), "arcface_torch")
    assert loaded.arch == "mbf" and isinstance(loaded.model, MobileFaceNet)


def test_crfiqa_loads_backbone_and_quality_head(tmp_path, r18_state, face):
    w, b = torch.randn(1, 512) * 0.05, torch.tensor([0.3])
    loaded = load_checkpoint(_save(r18_state | {"qs.weight": w, "qs.bias": b}, tmp_path / "cr.pth"), "crfiqa")
    assert isinstance(loaded.quality_head, CRFIQAHead)
    with torch.no_grad():
        v = loaded.model(loaded.preprocess(face))
        q = loaded.quality_head(v)
    assert torch.allclose(q, v @ w[0] + b, atol=1e-5)  # CR-FIQA: qs = Linear(512, 1) on the embedding
    with pytest.raises(RIEInputError, match="qs.weight"):
        load_checkpoint(_save(r18_state, tmp_path / "noqs.pth"), "crfiqa")
    # the strict arcface_torch loader rejects the head, naming it
    with pytest.raises(RIEInputError, match="unexpected keys \\(qs.bias, qs.weight\\)"):
        load_checkpoint(tmp_path / "cr.pth", "arcface_torch")


@pytest.mark.parametrize("prefix", ["features.module.", "module.features."])
def test_magface_prefixes_and_bn_eps(tmp_path, r18_state, prefix):
    ckpt = {"state_dict": {prefix + k: v for k, v in r18_state.items()} | {"module.fc.weight": torch.randn(512, 10)},
            "epoch": 25}
    loaded = load_checkpoint(_save(ckpt, tmp_path / "mag.pth"), "magface", arch="iresnet18")
    assert loaded.ignored == ("module.fc.weight",)  # the MagLinear head, left out as clean_dict_inf does
    assert torch.equal(loaded.model.state_dict()["fc.weight"], r18_state["fc.weight"])
    assert loaded.model.bn1.eps == 2e-5 and loaded.model.embedding_bn.eps == 2e-5  # MagFace's iresnet.py
    assert loaded.preprocess == Preprocess("BGR", (0.0, 1.0), 112)


def test_adaface_lightning_checkpoint(tmp_path, face):
    torch.manual_seed(1)
    sd = adaface_ir_state()
    ckpt = {"state_dict": {"model." + k: v for k, v in sd.items()} | {"head.kernel": torch.randn(512, 10)},
            "hyper_parameters": AttributeDict(arch="ir_18", m=0.4), "epoch": 24}
    loaded = load_checkpoint(_save(ckpt, tmp_path / "ada.ckpt"), "adaface")
    assert loaded.arch == "ir_18" and isinstance(loaded.model, AdaFaceIR) and loaded.ignored == ("head.kernel",)
    with torch.no_grad():
        x = loaded.preprocess(face)
        v = loaded.model(x)
        unit, norm = loaded.model.forward_normalised(x)  # AdaFace's forward: (x/|x|, |x|)
    assert norm.shape == (1, 1) and torch.allclose(unit * norm, v, atol=1e-5)
    assert torch.allclose(unit.norm(dim=1), torch.ones(1), atol=1e-5)


def test_objects_besides_tensors_are_never_built(tmp_path, r18_state):
    marker = tmp_path / "ran"
    ckpt = {"state_dict": r18_state, "args": argparse.Namespace(network="r18"), "extra": Payload(str(marker))}
    loaded = load_checkpoint(_save(ckpt, tmp_path / "p.pth"), "arcface_torch")
    assert loaded.arch == "r18" and not marker.exists()
    with pytest.raises(RIEInputError, match="pickled Python object"):
        load_checkpoint(_save(Payload(str(marker)), tmp_path / "obj.pth"), "arcface_torch")
    assert not marker.exists()


def test_adaface_port_has_net_py_names_and_shapes():
    ours, public = AdaFaceIR(18).state_dict(), adaface_ir_state()
    assert set(ours) == set(public)
    assert all(ours[k].shape == public[k].shape for k in public)
    modules = [k.split(".")[0] for k in ours]
    assert sorted(set(modules), key=modules.index) == ["input_layer", "output_layer", "body"]  # net.py's order


# ----------------------------------------------------------------------------- errors


def test_errors_name_the_problem(tmp_path, r18_state):
    with pytest.raises(RIEInputError, match="no such file"):
        load_checkpoint(tmp_path / "absent.pth", "arcface_torch")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    with pytest.raises(RIEInputError, match="not a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "notes.txt", "arcface_torch")
    with pytest.raises(RIEInputError, match="not a state_dict"):
        load_checkpoint(_save([1, 2, 3], tmp_path / "list.pth"), "arcface_torch")
    with pytest.raises(RIEInputError, match="unknown checkpoint format 'insightface'"):
        load_checkpoint(tmp_path / "list.pth", "insightface")
    with pytest.raises(RIEInputError, match="a folder"):
        load_checkpoint(tmp_path, "arcface_torch")


def test_a_checkpoint_of_another_architecture_lists_keys(tmp_path):
    ada = {"state_dict": {"model." + k: v for k, v in adaface_ir_state().items()}}
    path = _save(ada, tmp_path / "ada.ckpt")
    with pytest.raises(RIEInputError, match="missing keys \\(bn1.bias.*unexpected keys.*another architecture"):
        load_checkpoint(path, "arcface_torch", arch="r18")
    with pytest.raises(RIEInputError, match="cannot tell the architecture"):
        load_checkpoint(path, "arcface_torch")
    mbf = _save(MobileFaceNet().state_dict(), tmp_path / "mbf.pth")
    with pytest.raises(RIEInputError, match="cannot tell the AdaFace IR depth"):
        load_checkpoint(mbf, "adaface")
    with pytest.raises(RIEInputError, match="shape mismatches"):  # an r18 read as another width
        sd = arcface_iresnet_state(emb=128)
        sd["fc.weight"] = torch.randn(512, 10)
        load_checkpoint(_save(sd, tmp_path / "odd.pth"), "arcface_torch", arch="r18")


def test_loaded_checkpoint_is_a_dataclass_with_two_item_unpacking():
    lc = LoadedCheckpoint(MobileFaceNet(), PREPROCESS["arcface_torch"], "arcface_torch", "mbf")
    model, pre = lc
    assert isinstance(model, MobileFaceNet) and pre.channel_order == "RGB" and lc.quality_head is None
