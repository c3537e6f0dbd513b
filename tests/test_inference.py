"""Batched extraction and the scoring embedding (rie.evaluation.inference)."""

import pytest
import torch
import torch.nn.functional as F

from rie.common.checks import RIEInputError
from rie.evaluation.inference import SCORING, embed, extract, scoring_embedding
from rie.method.backbones import make_backbone
from rie.method.model import RIEModel


def _model():
    torch.manual_seed(0)
    return RIEModel(make_backbone("small_facenet", embedding_size=8, input_size=32)).eval()


def test_scoring_embeddings_by_hand():
    v = torch.tensor([[3.0, 4.0, 0.0]])
    v_attn = torch.tensor([[0.0, 0.0, 2.0]])
    u = torch.tensor([1.0, 0.0, 0.0])
    assert torch.equal(scoring_embedding(v, v_attn, "v"), v)
    assert torch.equal(scoring_embedding(v, v_attn, "v_attn"), v_attn)
    assert torch.allclose(scoring_embedding(v, v_attn, "v_prime", u), torch.tensor([[0.0, 4.0, 0.0]]))
    assert torch.allclose(scoring_embedding(v, v_attn, "v+v_attn"), torch.tensor([[0.6, 0.8, 0.0, 0.0, 0.0, 1.0]]))


def test_embed_matches_the_model_branches():
    model, x = _model(), torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
    u = F.normalize(torch.randn(8), dim=0)
    assert torch.allclose(embed(model, x, "v"), out.v, atol=1e-6)
    assert torch.allclose(embed(model, x, "v_attn"), out.v_attn, atol=1e-6)
    assert torch.allclose(embed(model, x, "v_prime", u), out.v - (out.v @ u)[:, None] * u, atol=1e-5)
    assert embed(model, x, "v+v_attn").shape == (5, 16)
    assert extract(model, x).v_attn is None and extract(model, x, attention=True).v_attn.shape == (5, 8)


def test_every_scoring_choice_is_accepted_and_bad_ones_are_named():
    model, x = _model(), torch.randn(2, 3, 32, 32)
    u = F.normalize(torch.randn(8), dim=0)
    for scoring in SCORING:
        assert embed(model, x, scoring, u).shape[0] == 2
    with pytest.raises(RIEInputError, match="scoring must be one of"):
        embed(model, x, "v_hat")
    with pytest.raises(RIEInputError, match="UI centre"):
        embed(model, x, "v_prime")
    with pytest.raises(RIEInputError, match="attention branch"):
        embed(model.backbone, x, "v_attn")
