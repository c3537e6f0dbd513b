"""Published face-recognition checkpoints, loaded with the preprocessing they were trained with.

    loaded = load_checkpoint("backbone.pth", format="arcface_torch", arch="r50")
    model, preprocess = loaded                     # or loaded.model, loaded.preprocess
    v = model(preprocess(images_uint8_rgb))        # (N, 512) raw embeddings

Each format's facts, read from the public code (the file named):

=============  ==========================================  ======  ========  ============================
format         state_dict                                  order   range     source
=============  ==========================================  ======  ========  ============================
arcface_torch  bare IResNet / MobileFaceNet names          RGB     [-1, 1]   recognition/arcface_torch/
               (``rie.method.backbones``)                                    inference.py
crfiqa         arcface_torch IResNet + ``qs.weight``,      RGB     [-1, 1]   backbones/iresnet.py,
               ``qs.bias`` (Linear(512, 1) on the                            train_cr_fiqa.py, dataset.py
               embedding) -> ``CRFIQAHead``                                  (MXNet records decoded RGB,
                                                                             Normalize(0.5, 0.5)),
                                                                             QualityModel.py
magface        ``{"state_dict": ...}`` with keys           BGR     [0, 1]    inference/network_inf.py
               ``features.module.*`` or                                      (clean_dict_inf),
               ``module.features.*``; the IResNet names                      inference/gen_feat.py (cv2,
               are arcface_torch's, BN eps 2e-5                              ToTensor), models/iresnet.py
adaface        Lightning ``{"state_dict": ...}``, keys     BGR     [-1, 1]   inference.py, net.py
               ``model.*`` (``head.*`` dropped), the IR
               network of ``rie.method.adaface_net``
=============  ==========================================  ======  ========  ============================

All take aligned 112x112 crops (five-point alignment, as the datasets' aligned releases and
insightface's ``norm_crop``). CR-FIQA's scoring script (``evaluation/getQualityScore.py``)
defaults to ``--color_channel BGR`` although its training data (arcface_torch's MXNet records)
is RGB; pass ``preprocess=Preprocess("BGR")`` to reproduce that script.

Checked outside the tests against the public modules themselves (AdaFace net.py IR-18/34/50/101
and IR-SE-50: same keys, order and shapes, identical outputs; CR-FIQA's and MagFace's
iresnet50 loaded through these loaders: identical embeddings and quality scores).

A ``module.`` prefix (DataParallel / DDP) is stripped in every format. Every failure is an
``RIEInputError`` naming the problem: a missing file, a file that is no checkpoint, a
checkpoint of another architecture (with missing and unexpected keys), an unknown format.
"""

from __future__ import annotations

import argparse
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..common.checks import RIEInputError
from .adaface_net import ADAFACE_ARCHS, ADAFACE_STAGES, adaface_ir
from .backbones import Backbone, IResNet, MobileFaceNet, iresnet18, iresnet34, iresnet50, iresnet100
from .crfiqa import CRFIQAHead

FORMATS = ("arcface_torch", "crfiqa", "magface", "adaface")

# arcface_torch's get_model names (r18 ...) and rie's (iresnet18 ...)
IRESNET_ARCHS = {"r18": iresnet18, "r34": iresnet34, "r50": iresnet50, "r100": iresnet100,
                 "iresnet18": iresnet18, "iresnet34": iresnet34, "iresnet50": iresnet50, "iresnet100": iresnet100}
_IRESNET_DEPTHS = {(2, 2, 2, 2): "r18", (3, 4, 6, 3): "r34", (3, 4, 14, 3): "r50", (3, 13, 30, 3): "r100"}
MBF_ARCHS = {"mbf": dict(blocks=(1, 4, 6, 2), scale=2), "mbf_large": dict(blocks=(2, 8, 12, 4), scale=4),
             "mobilefacenet": dict(blocks=(1, 4, 6, 2), scale=2)}
MAGFACE_BN_EPS = 2e-5  # MagFace's models/iresnet.py (arcface_torch's is 1e-5)


# ----------------------------------------------------------------------------- preprocessing


@dataclass(frozen=True)
class Preprocess:
    """How a model was fed in training: channel order, value range, input size.

    ``preprocess(images)`` takes 8-bit RGB images, as files decode with PIL: a uint8 tensor
    ``(N, 3, S, S)`` or ``(3, S, S)``, a uint8 array ``(N, S, S, 3)`` or ``(S, S, 3)``, or a PIL
    image, and returns the float ``(N, 3, S, S)`` batch the model expects: channels reordered to
    ``channel_order``, values ``x / 255`` mapped linearly onto ``value_range``.
    """

    channel_order: str = "RGB"
    value_range: tuple[float, float] = (-1.0, 1.0)
    input_size: int = 112

    def __post_init__(self):
        if self.channel_order not in ("RGB", "BGR"):
            raise RIEInputError(f"channel_order must be 'RGB' or 'BGR', got {self.channel_order!r}")
        try:
            lo, hi = (float(v) for v in self.value_range)
        except (TypeError, ValueError):
            raise RIEInputError(f"value_range must be two numbers (low, high), got {self.value_range!r}") from None
        object.__setattr__(self, "value_range", (lo, hi))  # a list or ints compare equal to the tuple
        if not lo < hi:
            raise RIEInputError(f"value_range must be (low, high) with low < high, got {self.value_range!r}")

    def __call__(self, images) -> torch.Tensor:
        return self.preprocess(images)

    def preprocess(self, images_uint8_rgb) -> torch.Tensor:
        x = _as_uint8_nchw(images_uint8_rgb)
        s = self.input_size
        if tuple(x.shape[2:]) != (s, s):
            raise RIEInputError(
                f"images are {tuple(x.shape[2:])} px; this model takes aligned {s}x{s} crops "
                f"(five-point aligned; resize or align them first)"
            )
        if self.channel_order == "BGR":
            x = x.flip(1)
        lo, hi = self.value_range
        return x.float().div(255.0).mul(hi - lo).add(lo)


def preprocess_float(x: torch.Tensor, preprocess: Preprocess) -> torch.Tensor:
    """``Preprocess`` on float RGB images in [-1, 1] (differentiable: Grad-CAM goes through it)."""
    s = preprocess.input_size
    if tuple(x.shape[-2:]) != (s, s):
        x = F.interpolate(x, size=(s, s), mode="bicubic", align_corners=False).clamp(-1.0, 1.0)
    if preprocess.channel_order == "BGR":
        x = x.flip(1)
    lo, hi = preprocess.value_range
    return (x + 1.0) * (0.5 * (hi - lo)) + lo


class Preprocessed(nn.Module):
    """A published backbone fed like rie's own models: RGB floats in [-1, 1], any size.

    Exposes ``target_layer`` and ``embedding_size`` of the backbone inside (for Grad-CAM) and
    CR-FIQA's ``quality_head`` when the checkpoint has one."""

    def __init__(self, net: nn.Module, preprocess: Preprocess, quality_head: CRFIQAHead | None = None):
        super().__init__()
        self.net, self.preprocess, self.quality_head = net, preprocess, quality_head
        self.embedding_size = getattr(net, "embedding_size", None)

    @property
    def target_layer(self) -> nn.Module:
        return self.net.target_layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(preprocess_float(x, self.preprocess))


def _as_uint8_nchw(images) -> torch.Tensor:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        Image = None
    if Image is not None and isinstance(images, Image.Image):
        images = np.asarray(images.convert("RGB"))
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4) or images.shape[-1] != 3:
            raise RIEInputError(f"a numpy image batch must be (N, H, W, 3) or (H, W, 3) RGB, got {images.shape}")
        images = torch.from_numpy(np.array(images, copy=True)).movedim(-1, -3)
    if not isinstance(images, torch.Tensor):
        raise RIEInputError(f"images must be a uint8 tensor, a numpy array or a PIL image, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise RIEInputError(f"preprocess takes 8-bit RGB images (uint8, 0..255), got dtype {images.dtype}")
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1] != 3:
        raise RIEInputError(f"images must be (N, 3, H, W) RGB, got shape {tuple(images.shape)}")
    return images


PREPROCESS = {
    "arcface_torch": Preprocess("RGB", (-1.0, 1.0), 112),
    "crfiqa": Preprocess("RGB", (-1.0, 1.0), 112),
    "magface": Preprocess("BGR", (0.0, 1.0), 112),
    "adaface": Preprocess("BGR", (-1.0, 1.0), 112),
}


# ----------------------------------------------------------------------------- the result


@dataclass
class LoadedCheckpoint:
    """A loaded model (eval mode) with its preprocessing; unpacks as ``model, preprocess``."""

    model: Backbone
    preprocess: Preprocess
    format: str
    arch: str
    quality_head: CRFIQAHead | None = None  # CR-FIQA's qs layer, on the raw embedding
    ignored: tuple[str, ...] = field(default=())  # checkpoint keys left out on purpose (e.g. AdaFace's head.*)

    def __iter__(self):
        yield self.model
        yield self.preprocess


# ----------------------------------------------------------------------------- reading


class _Unloaded(dict):
    """Stands in for every Python object a checkpoint pickles besides tensors and plain containers
    (e.g. Lightning's ``AttributeDict`` of hyper-parameters): built without running any of its code."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def __setstate__(self, state):
        pass


_TENSOR_GLOBALS = {
    ("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"), ("torch", "Size"), ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch", "Tensor"), ("torch.nn.parameter", "Parameter"), ("builtins", "set"), ("builtins", "frozenset"),
    ("builtins", "slice"), ("builtins", "complex"), ("builtins", "bytearray"),
}


class _TensorsOnlyUnpickler(pickle.Unpickler):
    """Resolves only tensor-rebuilding functions, dtypes and plain containers; any other class or
    function a checkpoint names becomes an inert :class:`_Unloaded` (never imported, never called)."""

    def find_class(self, module, name):
        if (module, name) in _TENSOR_GLOBALS or (module == "torch" and isinstance(getattr(torch, name, None), torch.dtype)):
            return super().find_class(module, name)
        return _Unloaded


class _TensorsOnlyPickle:  # the pickle_module torch.load uses
    Unpickler = _TensorsOnlyUnpickler

    @staticmethod
    def load(f, **kwargs):
        return _TensorsOnlyUnpickler(f, **kwargs).load()


def _torch_load(path: Path):
    try:
        # arcface_torch, CR-FIQA and MagFace save plain tensors (and argparse.Namespace args)
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # AdaFace's Lightning checkpoints also pickle their hyper-parameters as Lightning's
        # AttributeDict, which torch's weights-only loader refuses: read the tensors, and leave
        # every other object unbuilt (no code from the file runs; Lightning need not be installed)
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_TensorsOnlyPickle)


def read_state_dict(path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file: a bare state_dict or one under "state_dict" / "model"."""
    path = Path(path)
    if not path.exists():
        raise RIEInputError(f"checkpoint {path}: no such file")
    if path.is_dir():
        raise RIEInputError(f"checkpoint {path} is a folder, not a checkpoint file")
    try:
        obj = _torch_load(path)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError,
            KeyError, IndexError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise RIEInputError(f"checkpoint {path}: not a PyTorch checkpoint ({type(exc).__name__}: {str(exc)[:200]})") from exc
    state = obj
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict) and not isinstance(obj[key], _Unloaded):
                state = obj[key]
                break
    if isinstance(state, _Unloaded) or (isinstance(obj, dict) and isinstance(obj.get("model"), _Unloaded) and state is obj):
        raise RIEInputError(f"checkpoint {path}: holds a pickled Python object (a whole model?), not a state_dict; "
                            f"save model.state_dict() instead")
    if not isinstance(state, dict) or not state:
        raise RIEInputError(f"checkpoint {path}: holds {type(obj).__name__}, not a state_dict (a dict of named tensors)")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise RIEInputError(
            f"checkpoint {path}: not a state_dict; entries {[str(k) for k in bad[:5]]} are not named tensors"
        )
    return dict(state)


def strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Drop ``prefix`` from every key that has it (e.g. DDP's ``module.``)."""
    return {k.removeprefix(prefix): v for k, v in state.items()}


def _show(keys, n: int = 5) -> str:
    keys = sorted(keys)
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """``load_state_dict(strict=True)``, with a readable error naming missing, unexpected and misshapen keys."""
    own = model.state_dict()
    missing = set(own) - set(state)
    unexpected = set(state) - set(own)
    shapes = [f"{k} {tuple(state[k].shape)} (model {tuple(own[k].shape)})"
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({_show(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({_show(unexpected)})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches ({'; '.join(shapes[:5])})")
        raise RIEInputError(f"{what}: the checkpoint does not fit: " + "; ".join(parts)
                            + ". Is it a checkpoint of another architecture or format?")
    model.load_state_dict(state, strict=True)


# ----------------------------------------------------------------------------- architectures


def _stage_counts(state, pattern: str, stages: int = 4) -> tuple[int, ...]:
    rx = re.compile(pattern)
    seen: list[set] = [set() for _ in range(stages)]
    for k in state:
        m = rx.match(k)
        if m:
            seen[int(m.group(1)) - 1].add(int(m.group(2)))
    return tuple(len(s) for s in seen)


def _iresnet_arch(state) -> str | None:
    return _IRESNET_DEPTHS.get(_stage_counts(state, r"layer([1-4])\.(\d+)\."))


def _embedding_size(state, key: str, default: int = 512) -> int:
    return int(state[key].shape[0]) if key in state and state[key].ndim >= 1 else default


def _build_arcface(state, arch: str | None, what: str) -> tuple[Backbone, str]:
    if arch is None:
        if "conv_sep.layers.0.weight" in state:  # MobileFaceNet
            scale = int(state["layers.0.layers.0.weight"].shape[0]) // 64 if "layers.0.layers.0.weight" in state else 2
            arch = "mbf_large" if scale == 4 else "mbf"
        else:
            arch = _iresnet_arch(state)
        if arch is None:
            raise RIEInputError(
                f"{what}: cannot tell the architecture from the keys (no layer1..layer4 of a known IResNet depth, "
                f"no MobileFaceNet conv_sep; first keys: {_show(state, 5)}); pass arch= one of "
                f"{', '.join(list(IRESNET_ARCHS) + list(MBF_ARCHS))}"
            )
    key = str(arch).lower().replace("-", "_")
    if key in IRESNET_ARCHS:
        return IRESNET_ARCHS[key](embedding_size=_embedding_size(state, "fc.weight")), key
    if key in MBF_ARCHS:
        size = _embedding_size(state, "features.layers.2.weight")
        return MobileFaceNet(embedding_size=size, **MBF_ARCHS[key]), key
    raise RIEInputError(f"{what}: unknown arch {arch!r}; valid: {', '.join(list(IRESNET_ARCHS) + list(MBF_ARCHS))}")


def _adaface_arch(state) -> str | None:
    units = {int(m.group(1)) for k in state if (m := re.match(r"body\.(\d+)\.", k))}
    total = len(units)
    se = any(".se_block." in k for k in state)
    for layers, stages in ADAFACE_STAGES.items():
        if sum(stages) == total:
            name = {100: "101"}.get(layers, str(layers))
            arch = f"ir_se_{name}" if se else f"ir_{name}"
            return arch if arch in ADAFACE_ARCHS else None
    return None


# ----------------------------------------------------------------------------- per format


def _load_arcface(state, arch, what):
    state = strip_prefix(state, "module.")
    model, arch = _build_arcface(state, arch, what)
    load_strict(model, state, what)
    return model, arch, None, ()


def _load_crfiqa(state, arch, what):
    state = strip_prefix(state, "module.")
    if "qs.weight" not in state or "qs.bias" not in state:
        raise RIEInputError(f"{what}: no quality head (qs.weight, qs.bias) in the checkpoint; "
                            f"an IResNet without it loads as format='arcface_torch'")
    qs_w, qs_b = state.pop("qs.weight"), state.pop("qs.bias")
    model, arch = _build_arcface(state, arch, what)
    if not isinstance(model, IResNet):
        raise RIEInputError(f"{what}: CR-FIQA's backbone is an IResNet, got arch {arch!r}")
    if qs_w.ndim != 2 or qs_w.shape != (1, model.embedding_size) or qs_b.shape != (1,):
        raise RIEInputError(f"{what}: qs.weight {tuple(qs_w.shape)} / qs.bias {tuple(qs_b.shape)} is not "
                            f"CR-FIQA's Linear({model.embedding_size}, 1) quality head")
    load_strict(model, state, what)
    head = CRFIQAHead(model.embedding_size)
    load_strict(head, {"fc.weight": qs_w, "fc.bias": qs_b}, what + " (quality head)")
    head.eval()
    return model, arch, head, ()


def _load_magface(state, arch, what):
    # MagFace's clean_dict_inf: "features.module.X" and "module.features.X" both name backbone key X;
    # every other key (the MagLinear head "module.fc.weight", ...) is left out.
    kept, ignored = {}, []
    prefixes = ("features.module.", "module.features.", "features.")
    if any(k.startswith(prefixes[:2]) for k in state):
        for k, v in state.items():
            p = next((p for p in prefixes if k.startswith(p)), None)
            if p is None:
                ignored.append(k)
            else:
                kept[k[len(p):]] = v
    else:  # a bare iresnet state_dict (e.g. re-saved without the wrapper)
        kept = strip_prefix(state, "module.")
    model, arch = _build_arcface(kept, arch, what)
    if not isinstance(model, IResNet):
        raise RIEInputError(f"{what}: MagFace's backbones are IResNets (iresnet18/34/50/100), got arch {arch!r}")
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.eps = MAGFACE_BN_EPS
    load_strict(model, kept, what)
    return model, arch, None, tuple(ignored)


def _load_adaface(state, arch, what):
    # AdaFace's inference.py: {key[6:]: val for key, val in state_dict.items() if key.startswith('model.')}
    if any(k.startswith("model.") for k in state):
        kept = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
        ignored = tuple(k for k in state if not k.startswith("model."))  # head.kernel, ...
    else:
        kept, ignored = strip_prefix(state, "module."), ()
        head = [k for k in kept if k.startswith("head.")]
        kept = {k: v for k, v in kept.items() if not k.startswith("head.")}
        ignored = tuple(head)
    if arch is None:
        arch = _adaface_arch(kept)
        if arch is None:
            raise RIEInputError(f"{what}: cannot tell the AdaFace IR depth from the keys (body.<n> units; first keys: "
                                f"{_show(kept, 5)}); pass arch= one of {', '.join(ADAFACE_ARCHS)}")
    if arch not in ADAFACE_ARCHS:
        raise RIEInputError(f"{what}: unknown AdaFace arch {arch!r}; valid: {', '.join(ADAFACE_ARCHS)}")
    model = adaface_ir(arch)
    load_strict(model, kept, what)
    return model, arch, None, ignored


_LOADERS = {"arcface_torch": _load_arcface, "crfiqa": _load_crfiqa, "magface": _load_magface, "adaface": _load_adaface}


def load_checkpoint(path, format: str, arch: str | None = None, preprocess: Preprocess | None = None,
                    device=None) -> LoadedCheckpoint:
    """Load a published checkpoint into rie's module for it, in eval mode, with its preprocessing.

    format: one of ``FORMATS``. arch: ``r18|r34|r50|r100|mbf|mbf_large`` (arcface_torch, CR-FIQA,
    MagFace; rie's ``iresnet50`` etc. also accepted) or AdaFace's ``ir_18|ir_34|ir_50|ir_101|...``;
    ``None`` reads it from the keys. preprocess: replaces the format's convention (``PREPROCESS``).
    """
    if format not in _LOADERS:
        raise RIEInputError(f"unknown checkpoint format {format!r}; valid formats: {', '.join(FORMATS)}")
    if preprocess is not None and not isinstance(preprocess, Preprocess):
        raise RIEInputError(f"preprocess must be a Preprocess, got {type(preprocess).__name__}")
    what = f"{format} checkpoint {path}"
    state = read_state_dict(path)
    model, arch, head, ignored = _LOADERS[format](state, arch, what)
    model.eval()
    if device is not None:
        model.to(device)
        if head is not None:
            head.to(device)
    return LoadedCheckpoint(model, preprocess or PREPROCESS[format], format, arch, head, ignored)
