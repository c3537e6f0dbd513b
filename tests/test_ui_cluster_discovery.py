import pytest
import torch

from rie.data.synth import WorldConfig, build_world, group_identities
from rie.experiments import ui_cluster_discovery as ucd


def test_group_identities_are_the_test_people_in_label_order():
    config = WorldConfig.from_profile("smoke", seed=0)
    world = build_world(config, cache_dir=None)
    test = group_identities(config, "test")
    assert test.shape[0] == config.test_identities
    # the gallery's label k is the k-th test person: re-rendering them clean gives the same identity vectors
    assert torch.equal(world["gallery"].params["identity"].unique(), torch.unique(world["probe"].params["identity"]))
    with pytest.raises(Exception, match="unknown identity group"):
        group_identities(config, "nobody")


class _Pixels(torch.nn.Module):
    """The image itself as its embedding: enough to recognise clean faces, not degraded ones."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x.flatten(1) * self.w


def test_calibration_measures_and_table():
    config = WorldConfig.from_profile("smoke", seed=0)
    world = build_world(config, cache_dir=None)
    found = ucd.calibration(_Pixels(), world, config)
    assert set(found) == {"all probes", "moderate probes", "hard probes", "UI-tier faces"}
    assert all(0 <= v <= 100 for k, v in found.items() if k != "UI-tier faces")
    assert 0 <= found["UI-tier faces"] <= config.test_identities  # multiples of chance
    table = ucd.calibration_table({"pretrained": found, "fine-tuned": {**found, "hard probes": 20.0, "moderate probes": 90.0}})
    lines = {line.split("  ")[0].strip(): line for line in table.splitlines()[2:]}
    assert lines["hard probes"].endswith("yes") and lines["moderate probes"].endswith("NO")
    assert "10-30 %" in lines["hard probes"] and "0-2x" in lines["UI-tier faces"]
