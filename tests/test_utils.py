import json

import numpy as np
import torch

from rie.common.utils import atomic_write, config_hash, save_json, seed_everything


def test_seed_everything_repeats_draws():
    seed_everything(3)
    a = (torch.rand(3), np.random.rand(3))
    seed_everything(3)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_config_hash_ignores_key_order_but_not_values():
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "x.json"
    save_json({"k": 1}, target)
    assert json.loads(target.read_text()) == {"k": 1}

    def broken(tmp):
        open(tmp, "w").write("partial")
        raise RuntimeError("interrupted")

    try:
        atomic_write(target, broken)
    except RuntimeError:
        pass
    assert json.loads(target.read_text()) == {"k": 1}  # old file intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]  # no temp left
