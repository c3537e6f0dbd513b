"""Property-based tests (hypothesis): generated bad input never gives a silent wrong result.

Each test throws generated inputs (shapes, dtypes, NaN and inf, label sets, configs, folder
trees with bad files and links) at one public entry point and asserts one of two outcomes:
it succeeds and the result is right (finite, in range, consistent), or it raises the
package's own ``RIEInputError`` with a message that names the problem. Any other exception
(a raw AttributeError, a PIL error, a NaN in the result) fails the test.

Example counts are kept small (``EXAMPLES``) so the module runs in well under two minutes
on a 2-core CPU; ``deadline=None`` because the first example pays for imports and PIL.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from rie.common.checks import RIEInputError
from rie.data.datasets import FaceFolderSet, load_image_folder, to_rgb
from rie.evaluation.metrics import cmc, tpr_at_far
from rie.method.losses import RIELossConfig, attention_loss, index_diversion_loss, ri_regression_loss, ui_statistics
from rie.training import train as train_module
from rie.training.train import TrainConfig

EXAMPLES = int(os.environ.get("RIE_HYPOTHESIS_EXAMPLES", 40))
# derandomize: CI sees the same examples every run (a red CI means a change, not bad luck);
# RIE_HYPOTHESIS_EXAMPLES=2000 searches further by hand.
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def finite_or_overflowed(out: torch.Tensor, *inputs: torch.Tensor) -> bool:
    """A finite result, or inputs so large that the arithmetic itself overflows (squares of
    1e300): that is not bad input but divergence, which the trainer reports as such."""
    return bool(torch.isfinite(out)) or any(x.numel() and x.double().abs().max() > 1e15 for x in inputs)

def assert_names_problem(exc: RIEInputError, *names: str) -> None:
    """The message names the argument or field at fault (one of ``names``) in a sentence."""
    msg = str(exc)
    assert len(msg.split()) >= 4, msg
    assert any(n.lower() in msg.lower() for n in names), f"{msg!r} names none of {names}"


# ----------------------------------------------------------------------------- strategies

WEIRD_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(-3, 3),
    st.sampled_from([0, 0.0, -0.0, 1e30, -1e30, 1e-30, math.nan, math.inf, -math.inf, True, None, "1", [1]]),
)
FLOAT_DTYPES = st.sampled_from([torch.float32, torch.float64, torch.float16])
ANY_DTYPES = st.sampled_from([torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool])


@st.composite
def tensors(draw, ndim=st.integers(0, 3), max_side=6, dtypes=ANY_DTYPES, poison=True):
    """A small tensor of any rank and dtype, maybe with NaN/inf/huge entries."""
    rank = draw(ndim)
    shape = tuple(draw(st.lists(st.integers(0, max_side), min_size=rank, max_size=rank)))
    dtype = draw(dtypes)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(draw(st.integers(0, 2**16))), dtype=torch.float64)
    if poison and x.numel() and draw(st.booleans()):
        flat = x.view(-1)
        for _ in range(draw(st.integers(1, 3))):
            flat[draw(st.integers(0, x.numel() - 1))] = draw(st.sampled_from([math.nan, math.inf, -math.inf, 1e300]))
    if dtype == torch.bool:
        return x > 0
    if not dtype.is_floating_point:
        return torch.nan_to_num(x * 3, nan=0.0, posinf=5, neginf=-5).clamp(-5, 5).to(dtype)
    return x.to(dtype)


# ----------------------------------------------------------------------------- losses


@SETTINGS
@given(xi_hat=tensors(), xi=tensors(), same=st.booleans(), beta=WEIRD_NUMBERS)
def test_ri_regression_loss(xi_hat, xi, same, beta):
    xi = xi_hat.flip(0) if same and xi_hat.ndim else xi  # same shape half the time: reach the arithmetic
    try:
        out = ri_regression_loss(xi_hat, xi, beta)
    except RIEInputError as exc:
        assert_names_problem(exc, "xi", "beta")
        return
    assert out.ndim == 0 and finite_or_overflowed(out, xi_hat, xi) and out >= 0


@SETTINGS
@given(xi_hat=tensors(), tau=WEIRD_NUMBERS, mu=WEIRD_NUMBERS, sigma=WEIRD_NUMBERS)
def test_index_diversion_loss(xi_hat, tau, mu, sigma):
    try:
        out = index_diversion_loss(xi_hat, tau, mu, sigma)
    except RIEInputError as exc:
        assert_names_problem(exc, "xi_hat", "tau", "mu", "sigma")
        return
    assert out.ndim == 0 and finite_or_overflowed(out, xi_hat) and out >= 0


@SETTINGS
@given(a=tensors(dtypes=FLOAT_DTYPES), b=tensors(dtypes=FLOAT_DTYPES), same=st.booleans())
def test_attention_loss(a, b, same):
    b = a.flip(0) + 1 if same and a.ndim else b
    try:
        out = attention_loss(a, b)
    except RIEInputError as exc:
        assert_names_problem(exc, "v'", "v_attn")
        return
    assert out.ndim == 0 and finite_or_overflowed(out, a, b) and out >= 0


@SETTINGS
@given(xi_hat=tensors())
def test_ui_statistics(xi_hat):
    try:
        mu, sigma = ui_statistics(xi_hat)
    except RIEInputError as exc:
        assert_names_problem(exc, "xi_hat", "UI", "sigma")
        return
    assert math.isfinite(mu) and math.isfinite(sigma) and sigma > 0


@SETTINGS
@given(field=st.sampled_from(["alpha", "beta", "gamma", "tau", "smooth_l1_beta", "xi_max"]), value=WEIRD_NUMBERS)
def test_loss_config(field, value):
    try:
        config = RIELossConfig(**{field: value})
    except RIEInputError as exc:
        assert_names_problem(exc, field)
        return
    got = getattr(config, field)
    assert got is None and field == "xi_max" or math.isfinite(float(got))


# ----------------------------------------------------------------------------- metrics


@st.composite
def identification(draw):
    """Probe and gallery embeddings and labels, sometimes malformed."""
    d = draw(st.integers(1, 4))
    probes = draw(tensors(ndim=st.just(2), dtypes=FLOAT_DTYPES))
    gallery = draw(tensors(ndim=st.just(2), dtypes=FLOAT_DTYPES))
    if draw(st.booleans()):  # mostly well-shaped, so the success path is exercised too
        probes = torch.randn(draw(st.integers(1, 5)), d)
        gallery = torch.randn(draw(st.integers(1, 5)), d)
    ids = st.integers(0, 3)
    p_labels = torch.tensor(draw(st.lists(ids, min_size=len(probes), max_size=len(probes))), dtype=torch.int64)
    g_labels = torch.tensor(draw(st.lists(ids, min_size=len(gallery), max_size=len(gallery))), dtype=torch.int64)
    if draw(st.booleans()):
        g_labels = torch.cat([g_labels, p_labels]) if len(p_labels) else g_labels  # every probe has a match
        gallery = torch.cat([gallery, probes + 0.1]) if probes.shape[1:] == gallery.shape[1:] else gallery
    if draw(st.integers(0, 4)) == 0:
        p_labels = p_labels.float() if draw(st.booleans()) else p_labels.tolist()
    ranks = draw(st.sampled_from([(1, 5), (1,), (0,), (-1,), (), (1.5,), (math.nan,), ("x",)]))
    return probes, p_labels, gallery, g_labels, ranks


@SETTINGS
@given(identification())
def test_cmc(case):
    probes, p_labels, gallery, g_labels, ranks = case
    try:
        out = cmc(probes, p_labels, gallery, g_labels, ranks=ranks)
    except RIEInputError as exc:
        assert_names_problem(exc, "probe", "gallery", "ranks", "labels")
        return
    rates = [out[k] for k in sorted(out)]
    assert all(0.0 <= r <= 1.0 for r in rates) and rates == sorted(rates)


@SETTINGS
@given(scores=tensors(ndim=st.integers(0, 2)), mated=tensors(ndim=st.integers(0, 2)),
       fars=st.sampled_from([(0.1,), (0.3, 0.01), (), (1.5,), (math.nan,), (-0.1,), ("a",), 0.1]))
def test_tpr_at_far(scores, mated, fars):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "coarse" warnings for tiny samples are the point
            out = tpr_at_far(scores, mated, fars)
    except RIEInputError as exc:
        assert_names_problem(exc, "scores", "is_mated", "fars", "mated")
        return
    assert all(0.0 <= v <= 1.0 for v in out.values())


# ----------------------------------------------------------------------------- trainer validation

CONFIG_FIELDS = ["embedding_size", "input_size", "ui_center_momentum", "ui_batch_size", "ui_stats_k", "epochs",
                 "batch_size", "lr", "momentum", "weight_decay", "warmup_epochs", "clip_grad_norm",
                 "regression_dropout", "crfiqa_weight", "crfiqa_beta", "seed"]


@SETTINGS
@given(field=st.sampled_from(CONFIG_FIELDS), value=WEIRD_NUMBERS)
def test_train_config(field, value):
    try:
        config = TrainConfig(**{field: value})
    except RIEInputError as exc:
        assert_names_problem(exc, field)
        return
    got = getattr(config, field)
    assert (got is None and field == "clip_grad_norm") or (not isinstance(got, (bool, str)) and math.isfinite(got))
    assert TrainConfig.from_dict(config.to_dict()) == config  # a valid config matches its own cache entry


@st.composite
def training_data(draw):
    """(images, labels, ui, config) with one or more things maybe wrong."""
    n = draw(st.integers(0, 10))
    size = draw(st.sampled_from([8, 8, 8, 6]))
    images = draw(st.sampled_from(["uint8", "float", "int32", "list", "3d"]))
    x = torch.rand(n, 3, size, size)
    if images == "uint8":
        x = (x * 255).to(torch.uint8)
    elif images == "int32":
        x = (x * 255).to(torch.int32)
    elif images == "list":
        x = x.tolist()
    elif images == "3d":
        x = x[0] if n else x.flatten(1)
    if images == "float" and n and draw(st.booleans()):
        x[draw(st.integers(0, n - 1)), 0, 0, 0] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    label_set = draw(st.lists(st.integers(-1, 12), min_size=1, max_size=4))
    labels = [draw(st.sampled_from(label_set)) for _ in range(n + draw(st.sampled_from([0, 0, 0, 1, -1])))]
    kind = draw(st.sampled_from(["long", "long", "float", "list", "bool"]))
    labels = {"long": torch.tensor(labels, dtype=torch.int64), "float": torch.tensor(labels, dtype=torch.float32),
              "list": labels, "bool": torch.tensor(labels, dtype=torch.int64) > 0}[kind]
    config = TrainConfig(input_size=8, batch_size=draw(st.integers(1, 6)),
                         loss=RIELossConfig(alpha=0.0, beta=float(draw(st.booleans())), gamma=0.0))
    ui = draw(st.sampled_from([None, "ok", "nan", "empty"]))
    ui = {None: None, "ok": torch.rand(4, 3, 8, 8), "empty": torch.rand(0, 3, 8, 8)}.get(ui, torch.full((4, 3, 8, 8), math.nan))
    return x, labels, ui, config


@SETTINGS
@given(training_data())
def test_trainer_validation(case):
    images, labels, ui, config = case
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            train_module._check_data(images, labels, ui, config)
    except RIEInputError as exc:
        assert_names_problem(exc, "images", "labels", "UI", "batch")
        return
    # accepted: then it is exactly what fit can train on
    assert isinstance(images, torch.Tensor) and images.ndim == 4 and images.shape[-1] == config.input_size
    assert images.dtype == torch.uint8 or (images.is_floating_point() and torch.isfinite(images).all())
    assert labels.dtype == torch.int64 and len(labels) == len(images) >= config.batch_size and labels.min() >= 0
    gaps = int(labels.max()) + 1 - len(labels.unique())
    assert bool(gaps) == any("have no image" in str(w.message) for w in caught)
    if gaps:
        assert any(f"{gaps} of the" in str(w.message) for w in caught)
    if config.uses_rie:
        assert ui is not None and len(ui) and torch.isfinite(ui).all()


# ----------------------------------------------------------------------------- folder loader

ENTRY = st.sampled_from(["png_L", "png_RGB", "png_I16", "jpg_text", "empty_png", "notes_txt", "hidden_png",
                         "link_up", "link_root", "link_sibling", "link_broken", "subdir_png"])


def _make(path: Path, kind: str, root: Path, others: list[str]) -> int:
    """Create one entry; returns how many loadable images it adds (0 for every bad kind)."""
    if kind.startswith("png_"):
        mode = kind[4:].replace("I16", "I;16")
        Image.new(mode, (5, 6), 200 if mode != "RGB" else (200, 10, 10)).save(path.with_suffix(".png"))
        return 1
    if kind == "subdir_png":
        (path / "deep").mkdir(parents=True, exist_ok=True)
        Image.new("L", (5, 6), 100).save(path / "deep" / "x.png")
        return 1
    if kind == "jpg_text":
        path.with_suffix(".jpg").write_text("not a jpeg")
    elif kind == "empty_png":
        path.with_suffix(".png").write_bytes(b"")
    elif kind == "notes_txt":
        path.with_suffix(".txt").write_text("notes")
    elif kind == "hidden_png":
        Image.new("L", (5, 6)).save(path.parent / f".{path.name}.png")
    elif kind == "link_up":
        path.symlink_to("..")
    elif kind == "link_root":
        path.symlink_to(root)
    elif kind == "link_sibling" and others:
        path.symlink_to(root / others[0])
    elif kind == "link_broken":
        path.symlink_to(root / "nowhere")
    return 0


@SETTINGS
@given(tree=st.dictionaries(st.sampled_from(["alice", "bob", "carol"]), st.lists(ENTRY, max_size=4), max_size=3))
def test_image_folder_tree(tree):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "faces"
        root.mkdir()
        expected = {}
        for person, entries in tree.items():
            (root / person).mkdir()
            others = [p for p in tree if p != person]
            expected[person] = sum(_make(root / person / f"e{k}", kind, root, others) for k, kind in enumerate(entries))
        try:
            ds = load_image_folder(root, image_size=4)
        except RIEInputError as exc:
            assert_names_problem(exc, "image", "folder")
            assert sum(expected.values()) == 0, f"{exc} although {expected} images were made"
            return
        # every image exactly once, under its own folder's name, never through a link
        real = [os.path.realpath(p) for p in ds.paths]
        assert len(set(real)) == len(real)
        assert {p: sum(1 for q in ds.paths if Path(q).relative_to(root).parts[0] == p) for p in expected} == expected
        for path, label in zip(ds.paths, ds.labels.tolist()):
            assert ds.identities[label] == Path(path).relative_to(root).parts[0]
        for k in range(len(ds)):
            image, label, index = ds[k]
            assert image.shape == (3, 4, 4) and image.min() >= -1 and image.max() <= 1 and index == k
        assert all(reason for _, reason in ds.skipped)


@SETTINGS
@given(changes=st.lists(st.sampled_from(["none", "none", "delete", "garbage", "rewrite", "truncate"]), min_size=1, max_size=6))
def test_files_changed_after_the_scan(changes):
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for k in range(len(changes)):
            paths.append(Path(tmp) / f"{k}.png")
            Image.new("L", (5, 6), 10 * k).save(paths[-1])
        ds = FaceFolderSet([(p, str(k % 2)) for k, p in enumerate(paths)], image_size=4)
        for path, change in zip(paths, changes):
            if change == "delete":
                path.unlink()
            elif change == "garbage":
                path.write_bytes(b"garbage")
            elif change == "rewrite":
                Image.new("L", (7, 7), 255).save(path)
            elif change == "truncate":
                path.write_bytes(path.read_bytes()[:20])
        changed = {str(p) for p, c in zip(paths, changes) if c != "none"}
        try:
            items = [ds[i] for i in range(len(ds))]
        except RIEInputError as exc:
            assert_names_problem(exc, "none of the")
            assert len(changed) == len(paths)
            return
        for image, label, j in items:  # a stand-in is always a file that did not change, with its own label
            assert ds.paths[j] not in changed and label == int(ds.labels[j])
            assert image[0, 0, 0] == pytest.approx(10 * j / 127.5 - 1, abs=1e-6)
        assert {p for p, _ in ds.skipped} == changed and len(ds.skipped) == len(changed)


@SETTINGS
@given(values=st.lists(st.integers(0, 65535), min_size=4, max_size=4), extra=st.integers(0, 65535))
def test_16_bit_pixels_load_the_same_whatever_else_the_file_holds(values, extra):
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a.png", Path(tmp) / "b.png"
        Image.fromarray(np.array(values + [0], dtype=np.uint16).reshape(1, 5)).save(a)
        Image.fromarray(np.array(values + [extra], dtype=np.uint16).reshape(1, 5)).save(b)
        ds = FaceFolderSet([(a, "x"), (b, "x")], transform=lambda im: np.asarray(to_rgb(im))[0, :4, 0])
        ga, gb = ds[0][0], ds[1][0]
        assert ga.tolist() == gb.tolist() == [round(v * 255 / 65535) for v in values]


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
