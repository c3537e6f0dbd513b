import pytest
import torch

from rie.common.checks import RIEInputError
from rie.method.attention import (
    ChannelAttention,
    PerceptibilityAttention,
    PerceptibilityRegression,
    SpatialAttention,
)


def test_regression_is_dropout_then_linear_on_the_flattened_map():
    reg = PerceptibilityRegression(2, (2, 2), dropout=0.5).eval()
    with torch.no_grad():
        reg.fc.weight.copy_(torch.arange(8.0)[None])
        reg.fc.bias.fill_(1.0)
    fmap = torch.ones(3, 2, 2, 2)
    assert torch.allclose(reg(fmap), torch.full((3,), 28.0 + 1.0))  # sum(0..7) + bias; dropout off in eval


def test_channel_attention_by_hand():
    att = ChannelAttention(4, reduction=2)
    for p in att.parameters():
        torch.nn.init.zeros_(p)
    fmap = torch.randn(2, 4, 3, 3)
    assert torch.allclose(att(fmap), fmap * 0.5)  # sigmoid(0 + 0)
    with torch.no_grad():
        att.mlp[2].bias.copy_(torch.tensor([100.0, -100.0, 0.0, 0.0]))
    out = att(fmap)  # each bias is added twice (avg and max branch): gates 1, 0, 0.5, 0.5
    assert torch.allclose(out[:, 0], fmap[:, 0]) and torch.allclose(out[:, 1], torch.zeros_like(fmap[:, 1]), atol=1e-6)


def test_spatial_attention_uses_channel_mean_and_max():
    att = SpatialAttention(kernel_size=1)
    with torch.no_grad():
        att.conv.weight.copy_(torch.tensor([1.0, 0.0]).view(1, 2, 1, 1))  # gate = sigmoid(channel mean)
    fmap = torch.randn(2, 3, 4, 4)
    assert torch.allclose(att(fmap), fmap * torch.sigmoid(fmap.mean(1, keepdim=True)))


def test_pam_channel_then_spatial_then_linear():
    pam = PerceptibilityAttention(8, (4, 4), embedding_size=5, reduction=4)
    fmap = torch.randn(3, 8, 4, 4)
    expected = pam.fc(pam.spatial(pam.channel(fmap)).flatten(1))
    assert torch.allclose(pam(fmap), expected)
    assert pam(fmap).shape == (3, 5)
    assert pam.spatial.conv.kernel_size == (5, 5)  # capped for a 4x4 map


@pytest.mark.parametrize("shape", [(3, 8, 5, 4), (3, 7, 4, 4), (8, 4, 4)])
def test_wrong_feature_map_is_named(shape):
    with pytest.raises(RIEInputError, match="feature map"):
        PerceptibilityAttention(8, (4, 4), 5)(torch.randn(*shape))
    with pytest.raises(RIEInputError, match="feature map"):
        PerceptibilityRegression(8, (4, 4))(torch.randn(*shape))


def test_fast_dropout_keeps_the_expectation_and_is_off_in_eval():
    from rie.method.attention import FastDropout

    torch.manual_seed(0)
    drop = FastDropout(0.4)
    x = torch.ones(2000, 50)
    y = drop(x)
    values = y.unique()
    assert len(values) == 2 and values[0] == 0.0 and values[1].item() == pytest.approx(1 / 0.6)
    assert (y == 0).float().mean().item() == pytest.approx(0.4, abs=0.01)
    assert y.mean().item() == pytest.approx(1.0, abs=0.02)
    assert torch.equal(drop.eval()(x), x)
    with pytest.raises(RIEInputError, match="dropout"):
        FastDropout(1.0)
