"""Notebook 02 (the UI cluster): its figures.

Each function returns a matplotlib Figure; ``rie.plots.figures.show`` displays and closes it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def ladder_curve(rank1_by_resolution: dict, title: str = "rank-1 vs sensor resolution"):
    """Rank-1 identification (HR gallery) as the probe's sensor resolution falls."""
    res = sorted(rank1_by_resolution, reverse=True)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(res, [100 * rank1_by_resolution[r] for r in res], marker="o")
    ax.invert_xaxis()
    ax.set(xlabel="sensor resolution (px)", ylabel="rank-1 (%)", title=title, ylim=(0, 100))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def umap_scatter(coords, group, difficulty, group_names: dict, title: str = "UMAP of the embeddings"):
    """Left: points coloured by set (HR, VLR, UI); right: the same points coloured by ground-truth difficulty."""
    coords, group, difficulty = np.asarray(coords), np.asarray(group), np.asarray(difficulty)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    for g, name in group_names.items():
        m = group == g
        axes[0].scatter(coords[m, 0], coords[m, 1], s=3, alpha=0.5, label=name)
    axes[0].legend(markerscale=4, fontsize=8)
    axes[0].set_title("by set")
    sc = axes[1].scatter(coords[:, 0], coords[:, 1], s=3, c=difficulty, cmap="viridis", alpha=0.6)
    fig.colorbar(sc, ax=axes[1], label="ground-truth difficulty")
    axes[1].set_title("by difficulty")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def ui_distance_histogram(d_ui, mixture=None, highlight=None, highlight_label: str = "", bins: int = 50,
                          title: str = "distance to the UI centre"):
    """Histogram of d_UI (Fig. 1a) with an optional two-Gaussian fit and a highlighted subset."""
    from ..evaluation.analysis import mixture_density

    d = np.asarray(d_ui, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    edges = np.linspace(d.min(), d.max(), bins + 1)
    ax.hist(d, bins=edges, density=True, color="0.75", label="all VLR images")
    if highlight is not None and np.any(highlight):
        w = np.asarray(highlight).mean()
        ax.hist(d[np.asarray(highlight)], bins=edges, density=True, alpha=0.6, color="C3",
                weights=np.full(int(np.sum(highlight)), w), label=highlight_label)
    elif highlight is not None:  # an empty choice is said, not silently left blank
        ax.text(0.5, 0.95, f"no image here: {highlight_label or 'the highlight is empty'}", transform=ax.transAxes,
                ha="center", va="top", fontsize=9, color="C3")
    if mixture is not None:
        grid = np.linspace(d.min(), d.max(), 300)
        ax.plot(grid, mixture_density(mixture, grid), color="k", lw=1.2, label="2-Gaussian fit")
    ax.set(xlabel=r"$d^{UI} = 1 - \cos(\hat v, u)$", ylabel="density", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
