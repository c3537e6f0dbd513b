import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch

from rie.evaluation.analysis import two_gaussian_mixture
from rie.experiments import (
    grad_cam,
    quality_and_erc,
    recognizability_index,
    training_and_ablation,
    ui_cluster_discovery,
)
from rie.plots import figures as plots

matplotlib.use("Agg")


class _FakeERC:
    reject_fractions = np.linspace(0, 0.9, 4)
    fnmr = {1e-3: np.array([0.4, 0.3, 0.2, 0.1])}
    area = {1e-3: 0.2}


def test_each_figure_builds_and_closes():
    rng = np.random.default_rng(0)
    d = np.concatenate([rng.normal(0.3, 0.05, 200), rng.normal(0.8, 0.1, 200)])
    figs = [
        plots.loss_curves([{"epoch": 0, "total": 2.0, "cls": 1.0}, {"epoch": 1, "total": 1.0, "cls": 0.5}]),
        plots.image_grid(torch.zeros(3, 3, 8, 8, dtype=torch.uint8), titles=["a", "b", "c"], ncols=2),
        ui_cluster_discovery.ladder_curve({32: 0.9, 8: 0.1}),
        ui_cluster_discovery.umap_scatter(rng.normal(size=(10, 2)), np.repeat([0, 1], 5), rng.uniform(size=10), {0: "a", 1: "b"}),
        ui_cluster_discovery.umap_scatter(rng.normal(size=(10, 2)), np.repeat([0, 1], 5), None, {0: "a", 1: "b"}),  # real faces
        ui_cluster_discovery.ui_distance_histogram(d, two_gaussian_mixture(d), highlight=d > 0.5, highlight_label="x"),
        recognizability_index.proximity_panels({"d_P": d, "xi": d + 1}, rng.uniform(size=400), {"d_P": 0.1, "xi": -0.2}),
        recognizability_index.diversion_plot(torch.randn(50) + 3, torch.randn(50), 1.645),
        recognizability_index.projection_plot(torch.randn(4, 3), torch.tensor([1.0, 0.0, 0.0]), torch.randn(4, 3)),
        quality_and_erc.score_distributions({"a": rng.uniform(size=50), "b": rng.uniform(size=50)}, {"a": 0.1, "b": -0.2}),
        quality_and_erc.erc_curves({("a", "fixed"): _FakeERC()}, 1e-3, "fixed", "t"),
        training_and_ablation.gains_over_baseline({"a": (1.0, 0.5), "b": (-0.5, float("nan"))}, {"a": 0.9}),
        training_and_ablation.weight_sweep({("alpha", 1.0): (50, 1, 3), ("alpha", 5.0): (52, 1, 3), ("gamma", 1.0): (51, 0.5, 3)},
                           {"alpha": 5.0}),
        grad_cam.cam_overlays(torch.zeros(2, 3, 8, 8), {"m": torch.rand(2, 8, 8)}, boxes=torch.tensor([[[1.0, 1, 4, 3]]] * 2)),
        grad_cam.mean_maps({"m": torch.rand(3, 8, 8)}, torch.rand(3, 2, 8, 8) > 0.5),
        grad_cam.concentration_ladder({("m", 32): (1.3, 0.1, 3), ("m", 8): (1.0, 0.2, 3), ("n", 32): (1.1, float("nan"), 1)}),
        grad_cam.concentration_plot({"all": {"m": (1.5, 0.1)}, "hard": {"m": (1.2, float("nan"))}},
                                 {"all": {"m": (1.1, 0.0)}, "hard": {"m": (1.0, 0.0)}}),
    ]
    for fig in figs:
        assert isinstance(fig, plt.Figure) and fig.axes
        plots.show(fig)
    assert plt.get_fignums() == []


def test_weight_sweep_has_one_panel_per_weight_with_the_swept_values():
    fig = training_and_ablation.weight_sweep({("alpha", 1.0): (50, 1, 3), ("alpha", 20.0): (45, 2, 3), ("beta", 2.0): (51, 1, 3)})
    assert [ax.get_xlabel() for ax in fig.axes] == ["alpha", "beta"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1", "20"]
    plt.close(fig)


def test_cam_overlays_outline_each_part_box_on_the_image_column():
    fig = grad_cam.cam_overlays(torch.zeros(2, 3, 8, 8), {"a": torch.rand(2, 8, 8), "b": torch.rand(2, 8, 8)},
                             boxes=torch.tensor([[[1.0, 1, 4, 3], [2.0, 5, 6, 7]]] * 2))
    assert len(fig.axes) == 2 * 3
    assert [len(ax.patches) for ax in fig.axes] == [2, 0, 0, 2, 0, 0]
    assert [ax.get_title() for ax in fig.axes[:3]] == ["image + parts", "a", "b"]
    plt.close(fig)
    fig = grad_cam.cam_overlays(torch.zeros(5, 3, 8, 8), {"a": torch.rand(5, 8, 8)}, titles=list("vwxyz"), first=3, count=4)
    assert len(fig.axes) == 2 * 2 and [fig.axes[0].get_ylabel(), fig.axes[2].get_ylabel()] == ["y", "z"]
    plt.close(fig)
