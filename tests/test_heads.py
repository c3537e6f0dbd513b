"""Margin heads against values computed by hand with ``math`` on 2-D embeddings and 3 classes.

Geometry used throughout: prototypes w0 = 2 e_x, w1 = 3 e_y, w2 = -e_x (different norms, so a
missing weight normalisation shows up). An embedding at angle phi with norm r therefore has
theta_0 = phi, theta_1 = |pi/2 - phi|, theta_2 = pi - phi (for 0 <= phi <= pi).
"""

import math

import pytest
import torch
import torch.nn.functional as F

from rie.common.checks import RIEInputError
from rie.method.heads import (
    HEADS,
    AdaFace,
    ArcFace,
    CosFace,
    CurricularFace,
    HeadOutput,
    MagFace,
    MVSoftmax,
    NormFace,
    Softmax,
    arc_margin,
    make_head,
)

ALL = sorted(HEADS)
# float() of a logit that carries a graph is fine in a test.
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")


def put(head, dtype=torch.float32):
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]], dtype=dtype))
    return head


def emb(*polar):
    """Embeddings from (angle, norm) pairs."""
    return torch.tensor([[r * math.cos(a), r * math.sin(a)] for a, r in polar], dtype=torch.float32)


def thetas(phi):
    return [phi, abs(math.pi / 2 - phi), math.pi - phi]


def build(name, **kw):
    return put(make_head(name, 2, 3, **kw))


# ---------------------------------------------------------------- cosines before the margin


@pytest.mark.parametrize("name", ALL)
def test_cos_theta_is_the_no_margin_cosine(name):
    head = build(name).eval()
    v = emb((0.3, 5.0), (2.0, 40.0))
    out = head(v, torch.tensor([0, 1]))
    assert isinstance(out, HeadOutput)
    want = torch.tensor([[math.cos(t) for t in thetas(p)] for p in (0.3, 2.0)])
    torch.testing.assert_close(out.cos_theta, want, atol=1e-6, rtol=0)
    torch.testing.assert_close(head.cosine(v), want, atol=1e-6, rtol=0)
    assert out.logits.shape == (2, 3) and out.loss.ndim == 0


@pytest.mark.parametrize("name", [n for n in ALL if n != "normface"])
def test_target_logit_differs_from_scaled_cosine(name):
    # cos_theta must be the cosine BEFORE the margin: with a margin the target logit is not s*cos.
    head = build(name).eval()
    v = emb((0.3, 50.0))
    out = head(v, torch.tensor([0]))
    s = getattr(head, "s", 1.0)
    assert abs(float(out.logits.detach()[0, 0]) - s * math.cos(0.3)) > 1e-2


# ---------------------------------------------------------------- hand-computed logits


def test_softmax_logits_are_affine_in_raw_embedding():
    head = put(Softmax(2, 3))
    with torch.no_grad():
        head.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
    v = torch.tensor([[1.0, 2.0]])
    out = head(v, torch.tensor([2]))
    torch.testing.assert_close(out.logits, torch.tensor([[2.0 + 0.5, 6.0 - 1.0, -1.0 + 2.0]]))
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, torch.tensor([2])))
    n = math.sqrt(5.0)
    torch.testing.assert_close(out.cos_theta, torch.tensor([[1 / n, 2 / n, -1 / n]]))


def test_normface_is_scaled_cosine():
    head = build("normface", s=30.0)
    out = head(emb((0.3, 7.0)), torch.tensor([1]))
    want = [30.0 * math.cos(t) for t in thetas(0.3)]
    torch.testing.assert_close(out.logits, torch.tensor([want]), atol=1e-4, rtol=0)


def test_cosface_target_minus_m():
    head = build("cosface")
    assert (head.s, head.m) == (64.0, 0.35)
    out = head(emb((0.3, 7.0)), torch.tensor([1]))
    c = [math.cos(t) for t in thetas(0.3)]
    want = [64 * c[0], 64 * (c[1] - 0.35), 64 * c[2]]
    torch.testing.assert_close(out.logits, torch.tensor([want]), atol=1e-4, rtol=0)


def test_arcface_target_cos_theta_plus_m():
    head = build("arcface")
    assert (head.s, head.m, head.easy_margin) == (64.0, 0.5, False)
    out = head(emb((0.3, 7.0), (1.0, 3.0)), torch.tensor([0, 2]))
    t0, t1 = thetas(0.3), thetas(1.0)
    want = [
        [64 * math.cos(t0[0] + 0.5), 64 * math.cos(t0[1]), 64 * math.cos(t0[2])],
        [64 * math.cos(t1[0]), 64 * math.cos(t1[1]), 64 * math.cos(t1[2] + 0.5)],
    ]
    torch.testing.assert_close(out.logits, torch.tensor(want), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, torch.tensor([0, 2])))


def test_arcface_past_pi_uses_insightface_threshold_or_easy_margin():
    # theta_y = 2.9 rad: theta_y + m > pi, where cos(theta + m) would start increasing again.
    v, y = emb((2.9, 4.0)), torch.tensor([0])
    hard = build("arcface")(v, y).logits[0, 0]
    assert float(hard) == pytest.approx(64 * (math.cos(2.9) - 0.5 * math.sin(math.pi - 0.5)), abs=1e-4)
    easy = build("arcface", easy_margin=True)(v, y).logits[0, 0]
    assert float(easy) == pytest.approx(64 * math.cos(2.9), abs=1e-4)
    # Below pi the threshold rule must not trigger.
    inside = build("arcface")(emb((2.5, 4.0)), y).logits[0, 0]
    assert float(inside) == pytest.approx(64 * math.cos(3.0), abs=1e-4)


def test_arc_margin_is_monotonic_decreasing_in_theta():
    cos = torch.cos(torch.linspace(0, math.pi, 2001))
    out = arc_margin(cos, 0.5)
    assert (out[1:] <= out[:-1] + 1e-6).all()


def test_adaface_logits_by_hand():
    head = build("adaface").eval()
    assert (head.m, head.h, head.s, head.t_alpha) == (0.4, 0.333, 64.0, 0.01)
    head.batch_mean.fill_(10.0)
    head.batch_std.fill_(4.0)
    v = emb((0.8, 5.0), (0.8, 20.0), (0.8, 100.0))
    out = head(v, torch.tensor([0, 0, 0]))
    for i, norm in enumerate((5.0, 20.0, 100.0)):
        g = max(-1.0, min(1.0, 0.333 * (norm - 10.0) / (4.0 + 1e-3)))
        want = 64 * (math.cos(0.8 - 0.4 * g) - (0.4 + 0.4 * g))
        assert float(out.logits[i, 0]) == pytest.approx(want, abs=1e-3), (norm, g)
        assert float(out.logits[i, 1]) == pytest.approx(64 * math.cos(math.pi / 2 - 0.8), abs=1e-3)
    assert float(head.margin_scaler(v)[2]) == pytest.approx(1.0)  # clipped


def test_adaface_margin_sign_flips_with_norm_relative_to_ema_mean():
    head = build("adaface").eval()
    head.batch_std.fill_(5.0)
    v = emb((0.8, 12.0))
    head.batch_mean.fill_(8.0)
    above = float(head.margin_scaler(v))
    high_norm_logit = float(head(v, torch.tensor([0])).logits[0, 0])
    head.batch_mean.fill_(16.0)
    below = float(head.margin_scaler(v))
    low_norm_logit = float(head(v, torch.tensor([0])).logits[0, 0])
    assert above > 0 > below
    assert above == pytest.approx(0.333 * 4.0 / 5.001) and below == pytest.approx(-above)
    # Angular part -m*g: a high-norm sample sees theta shrink, a low-norm one sees it grow.
    assert high_norm_logit == pytest.approx(64 * (math.cos(0.8 - 0.4 * above) - 0.4 * (1 + above)), abs=1e-3)
    assert low_norm_logit == pytest.approx(64 * (math.cos(0.8 + 0.4 * above) - 0.4 * (1 - above)), abs=1e-3)


def test_adaface_ema_updates_in_training_only():
    head = build("adaface", t_alpha=0.5)
    v = emb((0.1, 4.0), (0.2, 8.0), (0.3, 12.0))
    head.train()(v, torch.tensor([0, 1, 2]))
    assert float(head.batch_mean) == pytest.approx(0.5 * 20 + 0.5 * 8.0, abs=1e-4)
    assert float(head.batch_std) == pytest.approx(0.5 * 100 + 0.5 * 4.0, abs=1e-4)  # unbiased std of 4, 8, 12
    head.eval()(v, torch.tensor([0, 1, 2]))
    assert float(head.batch_mean) == pytest.approx(14.0, abs=1e-4)
    head.train()(emb((0.1, 30.0)), torch.tensor([0]))  # a batch of one: std undefined, left alone
    assert float(head.batch_std) == pytest.approx(52.0, abs=1e-4)
    assert float(head.batch_mean) == pytest.approx(0.5 * 14 + 0.5 * 30, abs=1e-4)


def test_magface_margin_regulariser_and_loss():
    head = build("magface")
    assert (head.l_a, head.u_a, head.l_margin, head.u_margin, head.lambda_g) == (10, 110, 0.45, 0.8, 35)
    v = emb((0.3, 60.0), (0.3, 5.0), (0.3, 500.0))
    y = torch.tensor([0, 0, 0])
    out = head(v, y)
    m60 = 0.45 + (0.8 - 0.45) / 100 * 50
    for i, (a, m) in enumerate(((60.0, m60), (10.0, 0.45), (110.0, 0.8))):  # norms clamped to [10, 110]
        assert float(out.logits[i, 0]) == pytest.approx(64 * math.cos(0.3 + m), abs=1e-3)
    g = lambda a: a / 110**2 + 1 / a  # noqa: E731
    reg = 35 * (g(60.0) + g(10.0) + g(110.0)) / 3
    assert float(head.regularizer(v)) == pytest.approx(reg, rel=1e-5)
    assert float(out.loss) == pytest.approx(float(F.cross_entropy(out.logits, y)) + reg, rel=1e-5)
    # g is minimal at u_a: the regulariser pulls norms up towards it.
    assert float(head.g(torch.tensor(110.0))) < float(head.g(torch.tensor(60.0)))


def test_magface_regulariser_gradient_pushes_norm_up():
    head = build("magface", s=1.0)
    v = emb((0.3, 30.0)).requires_grad_(True)
    head.regularizer(v).backward()
    # d/da g = 1/u_a^2 - 1/a^2 < 0 below u_a: descent increases the norm.
    radial = float((v.grad * v.detach()).sum() / v.detach().norm())
    assert radial == pytest.approx(35 * (1 / 110**2 - 1 / 30**2), rel=1e-4)


def test_curricularface_hard_negatives_and_t():
    head = build("curricularface").eval()
    head.t.fill_(0.3)
    # label 1 at phi = 0.3: theta_y = pi/2 - 0.3, cos(theta_y + 0.5) < 0, so class 0 (cos 0.955)
    # is a hard negative and class 2 (cos -0.955) an easy one.
    out = head(emb((0.3, 5.0)), torch.tensor([1]))
    c = [math.cos(t) for t in thetas(0.3)]
    want = [64 * c[0] * (0.3 + c[0]), 64 * math.cos(math.pi / 2 - 0.3 + 0.5), 64 * c[2]]
    torch.testing.assert_close(out.logits, torch.tensor([want]), atol=1e-3, rtol=0)
    # label 0 at phi = 0.6: class 1 (theta 0.97) lies between theta_y = 0.6 and theta_y + m = 1.1,
    # so it is hard (its cosine beats the target's margin cosine) although it is not mis-ranked.
    out = head(emb((0.6, 5.0)), torch.tensor([0]))
    c1 = math.cos(math.pi / 2 - 0.6)
    assert float(out.logits[0, 1]) == pytest.approx(64 * c1 * (0.3 + c1), abs=1e-3)
    head.train()
    head.t.zero_()
    head(emb((0.3, 5.0), (0.3, 5.0)), torch.tensor([0, 1]))
    assert float(head.t) == pytest.approx(0.01 * (c[0] + c[1]) / 2, abs=1e-6)


@pytest.mark.parametrize("variant,m", [("am", 0.35), ("arc", 0.5)])
def test_mvsoftmax_misclassified_negatives(variant, m):
    head = build("mvsoftmax", variant=variant)
    assert (head.m, head.t, head.s) == (m, 0.2, 64.0)
    out = head(emb((0.3, 5.0)), torch.tensor([1]))
    c = [math.cos(t) for t in thetas(0.3)]
    phi = c[1] - m if variant == "am" else math.cos(math.pi / 2 - 0.3 + m)
    want = [64 * (1.2 * c[0] + 0.2), 64 * phi, 64 * c[2]]
    torch.testing.assert_close(out.logits, torch.tensor([want]), atol=1e-3, rtol=0)
    # A negative between theta_y and theta_y + m is already "mis-classified" for MV-Softmax.
    out = head(emb((0.6, 5.0)), torch.tensor([0]))
    assert float(out.logits[0, 1]) == pytest.approx(64 * (1.2 * math.cos(math.pi / 2 - 0.6) + 0.2), abs=1e-3)
    # Easy margin: no margin on a target with cos <= 0 (label 2 at phi = 0.3: cos = -0.955).
    out = head(emb((0.3, 5.0)), torch.tensor([2]))
    assert float(out.logits[0, 2]) == pytest.approx(64 * c[2], abs=1e-3)


# ---------------------------------------------------------------- training behaviour


@pytest.mark.parametrize("name", ALL)
def test_gradients_flow_to_embeddings_and_prototypes(name):
    torch.manual_seed(0)
    head = make_head(name, 8, 5)
    v = (torch.randn(6, 8) * 20).requires_grad_(True)
    head(v, torch.tensor([0, 1, 2, 3, 4, 0])).loss.backward()
    for g in (v.grad, head.weight.grad):
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.parametrize("name", ALL)
def test_loss_decreases_on_separable_toy_problem(name):
    torch.manual_seed(0)
    centres = torch.randn(4, 8) * 3
    y = torch.arange(4).repeat(8)
    x = centres[y] + 0.3 * torch.randn(32, 8)
    encoder = torch.nn.Linear(8, 8)
    head = make_head(name, 8, 4)
    opt = torch.optim.SGD([*encoder.parameters(), *head.parameters()], lr=0.01)
    losses = []
    for _ in range(8):
        loss = head(encoder(x) * 10, y).loss  # x10: MagFace's norm range starts at 10
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.9 * losses[0], losses


def test_float64_embeddings_accepted():
    head = build("arcface")
    out = head(emb((0.3, 7.0)).double(), torch.tensor([0]))
    assert float(out.logits[0, 0]) == pytest.approx(64 * math.cos(0.8), abs=1e-4)


# ---------------------------------------------------------------- registry and bad input


def test_registry_and_make_head():
    assert set(HEADS) == {"softmax", "normface", "cosface", "arcface", "adaface", "magface", "curricularface", "mvsoftmax"}
    h = make_head("ArcFace", 16, 10, m=0.4)
    assert isinstance(h, ArcFace) and h.m == 0.4 and h.weight.shape == (10, 16)
    assert isinstance(make_head("cosface", 4, 3), CosFace)
    assert isinstance(make_head("adaface", 4, 3), AdaFace)
    assert isinstance(make_head("magface", 4, 3), MagFace)
    assert isinstance(make_head("curricularface", 4, 3), CurricularFace)
    assert isinstance(make_head("mvsoftmax", 4, 3), MVSoftmax)
    assert isinstance(make_head("normface", 4, 3), NormFace)
    with pytest.raises(RIEInputError, match="valid names: softmax, normface"):
        make_head("sphereface", 4, 3)
    with pytest.raises(RIEInputError, match="no hyper-parameter"):
        make_head("arcface", 4, 3, margin=0.5)
    with pytest.raises(RIEInputError, match="variant"):
        make_head("mvsoftmax", 4, 3, variant="sphere")
    with pytest.raises(RIEInputError, match="num_classes"):
        make_head("arcface", 4, 1)
    with pytest.raises(RIEInputError, match="s must be"):
        make_head("arcface", 4, 3, s=-1.0)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(
    "v,labels,match",
    [
        (torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), "last dimension 2"),
        (torch.randn(4), torch.tensor([0, 1, 2, 0]), "2 dimensions"),
        (torch.tensor([[1.0, float("nan")], [1.0, 0.0]]), torch.tensor([0, 1]), "NaN"),
        (torch.tensor([[0.0, 0.0], [1.0, 0.0]]), torch.tensor([0, 1]), "zero-norm"),
        (torch.randn(2, 2), torch.tensor([0, 3]), "out of range"),
        (torch.randn(2, 2), torch.tensor([0, -1]), "out of range"),
        (torch.randn(2, 2), torch.tensor([0, 1, 2]), "shape"),
        (torch.randn(2, 2), torch.tensor([[0], [1]]), "shape"),
        (torch.randn(2, 2), torch.tensor([0.0, 1.0]), "integer"),
        ([[1.0, 0.0]], torch.tensor([0]), "torch.Tensor"),
        (torch.randint(0, 3, (2, 2)), torch.tensor([0, 1]), "floating"),
    ],
)
def test_bad_input_raises(name, v, labels, match):
    head = build(name)
    with pytest.raises(RIEInputError, match=match):
        head(v, labels)


def test_cosine_checks_its_input():
    head = build("arcface")
    with pytest.raises(RIEInputError, match="last dimension 2"):
        head.cosine(torch.randn(3, 5))
    with pytest.raises(RIEInputError, match="zero-norm"):
        head.cosine(torch.zeros(1, 2))
