import pytest
import torch

from rie.common.checks import RIEInputError, check_embeddings, check_labels, check_same_shape, check_tensor


def test_valid_input_passes_through():
    v = torch.randn(3, 4)
    assert check_embeddings(v, dim=4) is v
    labels = torch.tensor([0, 2, 1])
    assert check_labels(labels, 3, 3) is labels


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: check_tensor([1.0], "x"), "torch.Tensor"),
        (lambda: check_tensor(torch.zeros(2), "x", ndim=2), "2 dimensions"),
        (lambda: check_tensor(torch.zeros(2, 3), "x", dim=4), "last dimension 4"),
        (lambda: check_tensor(torch.zeros(2, dtype=torch.long), "x"), "floating"),
        (lambda: check_tensor(torch.tensor([[1.0], [float("inf")]]), "x"), r"NaN or inf \(first bad rows: \[1\]\)"),
        (lambda: check_embeddings(torch.zeros(0, 3)), "empty"),
        (lambda: check_embeddings(torch.tensor([[1.0, 0.0], [0.0, 0.0]])), r"zero-norm rows \[1\]"),
        (lambda: check_labels(torch.tensor([0.0, 1.0]), 3, 2), "integer"),
        (lambda: check_labels(torch.tensor([0, -1]), 3, 2), "out of range"),
        (lambda: check_labels(torch.tensor([[0, 1]]), 3, 2), "shape"),
        (lambda: check_same_shape(torch.zeros(2), torch.zeros(3), "a", "b"), "same shape"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(RIEInputError, match=message):
        call()
