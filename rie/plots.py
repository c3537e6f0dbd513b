"""Figures shared by the notebooks. Each function returns a matplotlib Figure; ``show`` displays and closes it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def show(fig) -> None:
    """Display a figure in a notebook (inline or headless) and free it."""
    try:
        from IPython.display import display

        display(fig)
    finally:
        plt.close(fig)


def loss_curves(history: list[dict], terms=("total", "cls", "l1", "id", "mse"), title: str = "training loss"):
    """One line per loss term over epochs (terms missing from the history are skipped)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    epochs = [h["epoch"] + 1 for h in history]
    for term in terms:
        if term in history[0]:
            ax.plot(epochs, [h[term] for h in history], marker="o", ms=3, label=term)
    ax.set(xlabel="epoch", ylabel="mean loss", title=title, yscale="log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _to_rgb(images):
    """(N, 3, H, W) uint8 or [-1, 1] float -> (N, H, W, 3) uint8 numpy, for imshow."""
    images = images.detach().cpu()
    if images.is_floating_point():
        images = ((images.clamp(-1, 1) + 1) * 127.5).round().byte()
    return images.permute(0, 2, 3, 1).numpy()


def image_grid(images, titles=None, ncols: int = 8, size: float = 1.1, suptitle: str | None = None):
    """A grid of (N, 3, H, W) uint8 or [-1, 1] float images."""
    rgb = _to_rgb(images)
    n = len(rgb)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * (1.25 if titles else 1.0)))
    for i, ax in enumerate(np.atleast_1d(axes).flat):
        ax.axis("off")
        if i < n:
            ax.imshow(rgb[i], interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


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
    from .analysis import mixture_density

    d = np.asarray(d_ui, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    edges = np.linspace(d.min(), d.max(), bins + 1)
    ax.hist(d, bins=edges, density=True, color="0.75", label="all VLR images")
    if highlight is not None and np.any(highlight):
        w = np.asarray(highlight).mean()
        ax.hist(d[np.asarray(highlight)], bins=edges, density=True, alpha=0.6, color="C3",
                weights=np.full(int(np.sum(highlight)), w), label=highlight_label)
    if mixture is not None:
        grid = np.linspace(d.min(), d.max(), 300)
        ax.plot(grid, mixture_density(mixture, grid), color="k", lw=1.2, label="2-Gaussian fit")
    ax.set(xlabel=r"$d^{UI} = 1 - \cos(\hat v, u)$", ylabel="density", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


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


def score_distributions(normalised: dict, skews: dict, title: str = "normalised quality scores (Fig. 6)"):
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    bins = np.linspace(0, 1, 41)
    for name, s in normalised.items():
        ax.hist(s, bins=bins, histtype="step", lw=1.5, density=True, label=f"{name} (skew {skews[name]:+.2f})")
    ax.set(xlabel="score, min-max normalised", ylabel="density", title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def erc_curves(curves: dict, fmr: float, style: str, title: str):
    """FNMR at a fixed FMR against the fraction of pairs rejected, one line per quality score."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for (name, s), result in curves.items():
        if s == style:
            ax.plot(result.reject_fractions, result.fnmr[fmr], marker=".", label=f"{name} (area {result.area[fmr]:.3f})")
    ax.set(xlabel="fraction of pairs rejected (lowest quality first)", ylabel=f"FNMR @ FMR {fmr:g}",
           title=f"{title}\n{style} threshold")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def gains_over_baseline(gains: dict, paper_gains: dict | None = None, unit: str = "rank-1 (pp)",
                        title: str = "change against the ArcFace baseline (Table 4)"):
    """Horizontal bars: ``gains[method] = (mean, std)`` over seeds; the paper's gains as diamonds."""
    names = list(gains)
    y = np.arange(len(names))[::-1]
    mean = np.array([gains[n][0] for n in names])
    sd = np.array([gains[n][1] for n in names])
    fig, ax = plt.subplots(figsize=(6.2, 0.32 * len(names) + 1.2))
    ax.barh(y, mean, xerr=np.nan_to_num(sd), color=np.where(mean >= 0, "tab:blue", "tab:red"), alpha=0.7,
            error_kw={"lw": 1, "capsize": 2}, label="this world: mean ± std over seeds")
    if paper_gains:
        py = [yi for yi, n in zip(y, names) if n in paper_gains]
        ax.scatter([paper_gains[n] for n in names if n in paper_gains], py, marker="D", color="k", s=18, zorder=3,
                   label="paper (TinyFace, MobileFaceNet)")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, names, fontsize=8)
    ax.set(xlabel=f"difference in {unit}", title=title)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def weight_sweep(summary: dict, chosen: dict | None = None, ylabel: str = "rank-1 w/o distractors (%)",
                 title: str = "Fig. 3: one loss weight at a time"):
    """``summary[(weight, value)] = (mean, std, n)``: one panel per weight, the paper's choice marked."""
    weights = list(dict.fromkeys(w for w, _ in summary))
    fig, axes = plt.subplots(1, len(weights), figsize=(3.0 * len(weights), 2.9), sharey=True, squeeze=False)
    for ax, w in zip(axes[0], weights):
        values = sorted(v for ww, v in summary if ww == w)
        m = [summary[(w, v)][0] for v in values]
        s = np.nan_to_num([summary[(w, v)][1] for v in values])
        ax.errorbar(values, m, yerr=s, marker="o", ms=4, capsize=3)
        if chosen and w in chosen:
            ax.axvline(chosen[w], color="grey", ls="--", lw=0.8, label=f"paper: {chosen[w]:g}")
            ax.legend(fontsize=7)
        ax.set(xscale="log", xlabel=w)
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.minorticks_off()
    axes[0][0].set_ylabel(ylabel)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def cam_overlays(images, cams: dict, boxes=None, titles=None, first: int = 0, count: int | None = None,
                 alpha: float = 0.5, title: str = "Grad-CAM of the match to the identity's template (Fig. 5)"):
    """One row per image: the image (part boxes outlined), then each model's map over it.

    ``cams[name]`` is (N, H, W) in [0, 1]; ``boxes`` (N, K, 4) pixel boxes (x0, y0, x1, y1);
    rows ``first`` to ``first + count`` are drawn (all by default)."""
    rows = slice(first, None if count is None else first + count)
    images, boxes = images[rows], None if boxes is None else boxes[rows]
    titles = None if titles is None else list(titles)[rows]
    cams = {name: c[rows] for name, c in cams.items()}
    rgb = _to_rgb(images)
    names = list(cams)
    n, size = len(rgb), rgb.shape[1]
    fig, axes = plt.subplots(n, len(names) + 1, figsize=(1.35 * (len(names) + 1), 1.35 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(rgb[i], interpolation="nearest")
        if boxes is not None:
            for x0, y0, x1, y1 in boxes[i].tolist():
                # pixel centres sit at k + 0.5; imshow puts pixel k at [k - 0.5, k + 0.5]
                axes[i, 0].add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="lime", lw=0.8))
        if titles is not None:
            axes[i, 0].set_ylabel(titles[i], fontsize=7)
        for j, name in enumerate(names, start=1):
            axes[i, j].imshow(rgb[i], interpolation="nearest")
            axes[i, j].imshow(np.asarray(cams[name][i]), cmap="jet", alpha=alpha, vmin=0, vmax=1, extent=(-0.5, size - 0.5, size - 0.5, -0.5))
            if i == 0:
                axes[i, j].set_title(name, fontsize=8)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("image + parts", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def mean_maps(cams: dict, part_masks=None, title: str = "average Grad-CAM map over the probes"):
    """Each model's average map, on one colour scale (0 to the largest average); ``part_masks``
    (N, K, H, W): white contour where the parts lie in at least half of the images."""
    names = list(cams)
    means = {name: np.asarray(cams[name]).mean(0) for name in names}
    vmax = max(float(m.max()) for m in means.values()) or 1.0
    fig, axes = plt.subplots(1, len(names), figsize=(2.2 * len(names) + 0.6, 2.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        im = ax.imshow(means[name], cmap="jet", vmin=0, vmax=vmax)
        if part_masks is not None:
            ax.contour(part_masks.any(1).float().mean(0).numpy(), levels=[0.5], colors="white", linewidths=0.8)
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="mean map")
    fig.suptitle(title, fontsize=10)
    return fig


def concentration_plot(summary: dict, control: dict | None = None, ylabel: str = "part concentration",
                       title: str = "how much of the map lands on eyes, nose and mouth"):
    """``summary[group][model] = (mean, std)`` over seeds, one marker per model and group (1, dashed =
    no preference for the parts); ``control[group][model]`` (same shape) as hollow markers: the
    model's average map scored on every image."""
    groups = list(summary)
    models = list(dict.fromkeys(m for g in groups for m in summary[g]))
    step = 0.6 / max(len(models) - 1, 1)
    fig, ax = plt.subplots(figsize=(3.8 + 1.6 * len(groups), 3.2))
    x = np.arange(len(groups))
    for k, m in enumerate(models):
        xs = x - 0.3 + step * k
        mean = [summary[g][m][0] for g in groups]
        sd = np.nan_to_num([summary[g][m][1] for g in groups])
        line = ax.errorbar(xs, mean, yerr=sd, fmt="o", ms=5, capsize=3, label=m)
        if control:
            ax.scatter(xs, [control[g][m][0] for g in groups], marker="o", s=30, facecolors="none",
                       edgecolors=line[0].get_color(), label="hollow: the model's average map (control)" if k == 0 else None)
    ax.axhline(1, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x, groups)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def concentration_ladder(summary: dict, title: str = "part concentration as the sensor resolution falls"):
    """``summary[(method, resolution)] = (mean, std, ...)`` over seeds: one line per method (1, dashed =
    no preference for the parts)."""
    methods = list(dict.fromkeys(m for m, _ in summary))
    fig, ax = plt.subplots(figsize=(5.6, 3.3))
    for k, m in enumerate(methods):
        res = sorted((r for mm, r in summary if mm == m), reverse=True)
        mean = [summary[(m, r)][0] for r in res]
        sd = np.nan_to_num([summary[(m, r)][1] for r in res])
        ax.errorbar(np.asarray(res) + 0.25 * (k - (len(methods) - 1) / 2), mean, yerr=sd, marker="o", ms=4, capsize=3, label=m)
    ax.axhline(1, color="grey", lw=0.8, ls="--")
    ax.invert_xaxis()
    ax.set(xlabel="sensor resolution (px)", ylabel="part concentration", title=title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
