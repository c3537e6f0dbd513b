"""Notebook 03 (the recognizability index): its figures.

Each function returns a matplotlib Figure; ``rie.plots.figures.show`` displays and closes it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def proximity_panels(values: dict, difficulty, rhos: dict, title: str = ""):
    """One histogram and one scatter against ground-truth difficulty per quantity (d_P, d_N, d_UI, xi)."""
    difficulty = np.asarray(difficulty)
    fig, axes = plt.subplots(2, len(values), figsize=(3.2 * len(values), 5.6))
    for j, (name, x) in enumerate(values.items()):
        x = np.asarray(x)
        axes[0, j].hist(x, bins=40, color="C0")
        axes[0, j].set_title(name)
        axes[1, j].scatter(difficulty, x, s=2, alpha=0.3)
        axes[1, j].set(xlabel="difficulty", title=f"Spearman rho = {rhos[name]:.2f}")
        if name.startswith("xi"):
            for ax in (axes[1, j],):
                ax.set_yscale("log")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def diversion_plot(div_easy, div_hard, tau: float, title: str = "index diversion against N(0, 1)"):
    """The N(0, 1) reference of the UI distribution, the margin tau, and where easy and hard images fall."""
    from scipy import stats

    div_easy, div_hard = np.asarray(div_easy, dtype=float), np.asarray(div_hard, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    lo = min(-4.0, float(np.min(div_hard)), float(np.min(div_easy)))
    hi = max(tau + 2, float(np.quantile(div_easy, 0.99)))
    grid = np.linspace(lo, hi, 400)
    ax.plot(grid, stats.norm.pdf(grid), "k", lw=1.2, label="UI reference N(0, 1)")
    bins = np.linspace(lo, hi, 60)
    ax.hist(np.asarray(div_hard), bins=bins, density=True, alpha=0.5, color="C3", label="hardest quartile")
    ax.hist(np.asarray(div_easy), bins=bins, density=True, alpha=0.5, color="C2", label="easiest quartile")
    ax.axvline(tau, color="C1", ls="--", label=f"tau = {tau:g}: L_ID = max(0, tau - div)")
    ax.set(xlabel="div = (xi_hat - mu_UI) / sigma_UI", ylabel="density", title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def projection_plot(v, u, v_prime, n: int = 6, title: str = "Eq. 8: projecting away from the UI centre"):
    """Each embedding drawn in the plane spanned by u and itself: v, its projection v', and u."""
    fig, ax = plt.subplots(figsize=(4.4, 4.4))
    ax.annotate("", xy=(1.0, 0.0), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="k", lw=2))
    ax.text(1.02, 0.02, "u (UI centre)")
    for i in range(min(n, len(v))):
        vi, pi = v[i] / v[i].norm(), v_prime[i] / v[i].norm()
        x, y = float(vi @ u), float(pi.norm())
        ax.annotate("", xy=(x, y), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=f"C{i}", alpha=0.7))
        ax.annotate("", xy=(0, y), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=f"C{i}", ls="--", alpha=0.7))
        ax.plot([x, 0], [y, y], color=f"C{i}", lw=0.6, ls=":")
    ax.set(xlim=(-0.3, 1.3), ylim=(-0.1, 1.2), aspect="equal", xlabel="component along u", ylabel="component orthogonal to u",
           title=title)
    fig.tight_layout()
    return fig
