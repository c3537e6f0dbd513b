"""Which parameter groups each term of Eq. 10 reaches, under each reading (rie.method.gradient_paths).

The expected table is written out by hand from Fig. 2 and the equations; a cut or leaking path fails.
"""

import pytest
import torch

from rie.common.checks import RIEInputError
from rie.method.backbones import make_backbone
from rie.method.gradient_paths import GROUPS, embedding_head_parameters, gradient_paths, parameter_groups
from rie.method.heads import make_head
from rie.method.losses import RIELoss, RIELossConfig
from rie.method.model import RIEModel
from rie.method.ri import ui_center

T, E, P, R, A = GROUPS  # trunk, embedding head, prototypes, regression branch, attention branch
EXPECTED = {
    # (xi_gradient, detach_v_prime): {term: groups with a non-zero gradient}
    ("target", True): {"cls": {T, E, P}, "l1": {T, R}, "id": {T, R}, "mse": {T, A}},
    ("target", False): {"cls": {T, E, P}, "l1": {T, R}, "id": {T, R}, "mse": {T, E, A}},
    ("coupled", True): {"cls": {T, E, P}, "l1": {T, E, P, R}, "id": {T, R}, "mse": {T, A}},
    ("coupled", False): {"cls": {T, E, P}, "l1": {T, E, P, R}, "id": {T, R}, "mse": {T, E, A}},
}


def _setup(seed=0):
    torch.manual_seed(seed)
    model = RIEModel(make_backbone("small_facenet", embedding_size=16, input_size=32))
    head = make_head("arcface", 16, 5)
    x, y = torch.randn(8, 3, 32, 32), torch.arange(8) % 5
    u = ui_center(torch.randn(20, 16))
    return model, head, x, y, u


def _paths(xi_gradient, detach_v_prime, mse_reduction="paper"):
    model, head, x, y, u = _setup()
    config = RIELossConfig(xi_gradient=xi_gradient, detach_v_prime=detach_v_prime, mse_reduction=mse_reduction)
    out = model(x)
    parts = RIELoss(config)(out.v, out.xi_hat, out.v_attn, head(out.v, y), y, u)
    return gradient_paths(parts.weighted_terms(config), parameter_groups(model, head))


@pytest.mark.parametrize("reading", list(EXPECTED), ids=lambda r: f"{r[0]}-{'detached' if r[1] else 'attached'}")
def test_each_term_reaches_exactly_its_groups(reading):
    paths = _paths(*reading)
    for term, reached in EXPECTED[reading].items():
        got = {g for g, norm in paths[term].items() if norm > 0}
        assert got == reached, f"{term} under {reading}: reaches {sorted(got)}, expected {sorted(reached)}"


def test_the_mse_reduction_does_not_change_the_paths():
    a, b = _paths("coupled", True, "paper"), _paths("coupled", True, "elementwise")
    assert {t: {g for g, n in v.items() if n > 0} for t, v in a.items()} == {t: {g for g, n in v.items() if n > 0} for t, v in b.items()}
    # Eq. 9 as printed is D (= 16) times the element-wise mean, and so is its gradient
    assert a["mse"][A] == pytest.approx(16 * b["mse"][A], rel=1e-4)


def test_groups_partition_the_parameters():
    model, head, *_ = _setup()
    groups = parameter_groups(model, head)
    assert list(groups) == list(GROUPS)
    ids = [id(p) for ps in groups.values() for p in ps]
    trainable = [p for p in list(model.parameters()) + list(head.parameters()) if p.requires_grad]
    assert len(ids) == len(set(ids)) == len(trainable)
    # small_facenet's embedding head: bn2, fc and embedding_bn
    names = {n for n, p in model.backbone.named_parameters() if any(p is q for q in groups[E])}
    assert names == {"bn2.weight", "bn2.bias", "fc.weight", "fc.bias", "embedding_bn.weight", "embedding_bn.bias"}


def test_tracing_the_head_moves_no_statistic():
    model, *_ = _setup()
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    model.train()
    embedding_head_parameters(model.backbone)
    assert model.backbone.training
    assert all(torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())


def test_a_term_without_graph_reaches_nothing():
    model, head, *_ = _setup()
    paths = gradient_paths({"zero": torch.tensor(0.0)}, parameter_groups(model, head))
    assert paths == {"zero": {g: 0.0 for g in GROUPS}}


def test_bad_input_is_named():
    model, head, *_ = _setup()
    with pytest.raises(RIEInputError, match="scalar"):
        gradient_paths({"vector": torch.ones(3, requires_grad=True)}, parameter_groups(model, head))
    with pytest.raises(RIEInputError, match="RIEModel"):
        parameter_groups(model.backbone, head)
