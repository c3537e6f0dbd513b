import pytest

from rie.common.checks import RIEInputError
from rie.common.constants import PAPER_WEIGHTS
from rie.training.recipes import finetune_config, pretrain_config


def test_pretrain_is_arcface_alone():
    c = pretrain_config("default")
    assert c.head == "arcface" and not c.uses_rie and c.backbone == "small_facenet"
    assert pretrain_config("paper").backbone == "iresnet50" and pretrain_config("paper").input_size == 112


def test_finetune_methods():
    rie = finetune_config("default", "rie")
    assert rie.head == "arcface" and (rie.loss.alpha, rie.loss.beta, rie.loss.gamma) == tuple(PAPER_WEIGHTS.values())
    base = finetune_config("default", "cosface")
    assert base.head == "cosface" and not base.uses_rie
    assert finetune_config("default", "rie", beta=0.0).loss.beta == 0.0
    assert finetune_config("default", "rie").name != finetune_config("smoke", "rie").name


def test_unknown_profile():
    with pytest.raises(RIEInputError, match="unknown profile"):
        pretrain_config("huge")
