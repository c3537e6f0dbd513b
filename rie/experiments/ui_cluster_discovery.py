"""Notebook 02 (the UI cluster): the test bed's calibration table and the figures.

Each figure function returns a matplotlib Figure; ``rie.plots.figures.show`` displays and closes it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..data.synth import TIER_CODES, group_identities
from ..evaluation.inference import embed
from ..evaluation.metrics import cmc, rank1_by_bucket
from ..evaluation.protocols import labelled_faces

# What the world must let a fine-tuned baseline do (rank-1 % on the test split, without distractors) for the
# paper's claims to be testable: hard faces that can be recognised, yet not easily, and a UI tier that
# cannot. (lo, hi); the UI tier's bound is in multiples of chance (1 / number of gallery identities).
CALIBRATION_TARGETS = {"moderate probes": (40.0, 70.0), "hard probes": (10.0, 30.0), "UI-tier faces": (0.0, 2.0)}


def calibration(model, world, config, ui_per_id: int = 4, seed: int = 7) -> dict[str, float]:
    """Rank-1 (%) of ``model`` on the world's test split by probe tier, and of UI-tier photographs of the
    test people used as probes of their own identities (in multiples of chance), without distractors."""
    g, gl = embed(model, world["gallery"].images), world["gallery"].labels
    probe = world["probe"]
    p = embed(model, probe.images)
    by_tier = rank1_by_bucket(p, probe.labels, g, gl, probe.params["tier"].long().tolist())
    ui_images, ui_labels, _ = labelled_faces(config.test_identities, ui_per_id, tier=config.tier_ui, seed=seed,
                                             image_size=config.image_size, people=group_identities(config, "test"))
    ui_rank1 = cmc(embed(model, ui_images), ui_labels, g, gl, ranks=(1,))[1]
    chance = 1 / config.test_identities
    return {"all probes": 100 * cmc(p, probe.labels, g, gl, ranks=(1,))[1],
            "moderate probes": 100 * by_tier[TIER_CODES["moderate"]], "hard probes": 100 * by_tier[TIER_CODES["hard"]],
            "UI-tier faces": ui_rank1 / chance}


def calibration_table(found: dict[str, dict[str, float]], targets=CALIBRATION_TARGETS) -> str:
    """One line per measure, one column per model (``found[model] = calibration(...)``), then the target
    and whether the last model (the fine-tuned baseline) lies inside it."""
    models = list(found)
    head = f"{'measure':18s}" + "".join(f"{m:>20s}" for m in models) + f"{'target':>14s}  inside?"
    lines = [head, "-" * len(head)]
    for measure in next(iter(found.values())):
        suffix = " x" if measure == "UI-tier faces" else " %"
        cells = "".join(f"{found[m][measure]:18.1f}{suffix}" for m in models)
        if measure in targets:
            lo, hi = targets[measure]
            inside = "yes" if lo <= found[models[-1]][measure] <= hi else "NO"
            target = f"{lo:g}-{hi:g}" + ("x" if measure == "UI-tier faces" else " %")
        else:
            target, inside = "", ""
        lines.append(f"{measure:18s}{cells}{target:>14s}  {inside}")
    return "\n".join(lines)



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
    """Left: points coloured by set (HR, VLR, UI); right: the same points coloured by ground-truth
    difficulty (left out when ``difficulty`` is None: real faces have none)."""
    coords, group = np.asarray(coords), np.asarray(group)
    fig, axes = plt.subplots(1, 2 if difficulty is not None else 1, figsize=(10 if difficulty is not None else 5.2, 4.4), squeeze=False)
    axes = axes[0]
    for g, name in group_names.items():
        m = group == g
        axes[0].scatter(coords[m, 0], coords[m, 1], s=3, alpha=0.5, label=name)
    axes[0].legend(markerscale=4, fontsize=8)
    axes[0].set_title("by set")
    if difficulty is not None:
        sc = axes[1].scatter(coords[:, 0], coords[:, 1], s=3, c=np.asarray(difficulty), cmap="viridis", alpha=0.6)
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
