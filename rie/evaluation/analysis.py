"""Statistics the notebooks measure: bimodality, mixtures, AUROC and rank correlation."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy import stats

from ..common.checks import RIEInputError

BIMODAL_THRESHOLD = 5 / 9  # Sarle's coefficient of a uniform distribution; above it suggests bimodality


def _as_numpy(x, name: str) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    a = a.astype(np.float64).ravel()
    if a.size == 0:
        raise RIEInputError(f"{name} is empty")
    if not np.isfinite(a).all():
        raise RIEInputError(f"{name} contains NaN or inf")
    return a


def bimodality_coefficient(x) -> float:
    """Sarle's bimodality coefficient ``(g^2 + 1) / (k + 3 (n-1)^2 / ((n-2)(n-3)))``.

    ``g`` is the sample skewness and ``k`` the sample excess kurtosis, both bias-corrected.
    Above 5/9 ~ 0.555 (the value of a uniform distribution) the data are likely bimodal.
    """
    a = _as_numpy(x, "x")
    n = a.size
    if n < 4:
        raise RIEInputError(f"the bimodality coefficient needs at least 4 values, got {n}")
    if np.ptp(a) == 0:
        raise RIEInputError("the bimodality coefficient is undefined for constant data")
    g = stats.skew(a, bias=False)
    k = stats.kurtosis(a, fisher=True, bias=False)
    return float((g**2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


class Mixture(NamedTuple):
    means: tuple[float, float]  # sorted ascending
    stds: tuple[float, float]
    weights: tuple[float, float]


def two_gaussian_mixture(x, seed: int = 0) -> Mixture:
    """A two-component 1-D Gaussian mixture fitted by EM (scikit-learn), components sorted by mean."""
    from sklearn.mixture import GaussianMixture

    a = _as_numpy(x, "x")
    if a.size < 4:
        raise RIEInputError(f"a two-component mixture needs at least 4 values, got {a.size}")
    gm = GaussianMixture(n_components=2, random_state=seed, n_init=3).fit(a[:, None])
    order = np.argsort(gm.means_.ravel())
    means = gm.means_.ravel()[order]
    stds = np.sqrt(gm.covariances_.ravel()[order])
    weights = gm.weights_[order]
    return Mixture(tuple(map(float, means)), tuple(map(float, stds)), tuple(map(float, weights)))


def mixture_density(mixture: Mixture, grid: np.ndarray) -> np.ndarray:
    return sum(w * stats.norm.pdf(grid, m, s) for m, s, w in zip(mixture.means, mixture.stds, mixture.weights))


def ashman_d(mixture: Mixture) -> float:
    """Ashman's D of a two-Gaussian fit: ``sqrt(2) |m1 - m2| / sqrt(s1^2 + s2^2)``; D > 2 separates cleanly."""
    (m1, m2), (s1, s2) = mixture.means, mixture.stds
    return float(np.sqrt(2) * abs(m2 - m1) / np.hypot(s1, s2))


def density_modes(mixture: Mixture, grid_size: int = 2001) -> list[float]:
    """The local maxima of the fitted mixture's density, on a grid 4 std beyond both components."""
    lo = min(m - 4 * s for m, s in zip(mixture.means, mixture.stds))
    hi = max(m + 4 * s for m, s in zip(mixture.means, mixture.stds))
    grid = np.linspace(lo, hi, grid_size)
    d = mixture_density(mixture, grid)
    peaks = np.flatnonzero((d[1:-1] > d[:-2]) & (d[1:-1] >= d[2:])) + 1
    return [float(grid[i]) for i in peaks]


def dip_test(x) -> tuple[float, float]:
    """Hartigan's dip statistic and its p-value (the ``diptest`` package): a small p rejects one mode."""
    import diptest

    a = _as_numpy(x, "x")
    if a.size < 4:
        raise RIEInputError(f"the dip test needs at least 4 values, got {a.size}")
    dip, p = diptest.diptest(a)
    return float(dip), float(p)


class Bimodality(NamedTuple):
    sarle: float  # bimodal above 5/9
    dip: float
    dip_p: float  # bimodal below 0.05
    ashman_d: float  # bimodal above 2
    modes: list[float]  # of the two-Gaussian fit; bimodal with two
    mixture: Mixture
    votes: int  # how many of the four say bimodal
    verdict: str  # "bimodal" (3-4 votes), "ambiguous" (2), "unimodal" (0-1)


SARLE_THRESHOLD, DIP_ALPHA, ASHMAN_THRESHOLD = 5 / 9, 0.05, 2.0


def bimodality(x, seed: int = 0) -> Bimodality:
    """Four measures of "two modes" and a verdict by majority.

    Sarle's coefficient reads only skewness and kurtosis: two components of unequal width and weight
    can have two clear modes and still score below 5/9. The dip test asks whether the empirical
    distribution is unimodal; Ashman's D how far apart the two fitted components are for their widths;
    the fitted density's modes whether the fit itself has two peaks.
    """
    a = _as_numpy(x, "x")
    mix = two_gaussian_mixture(a, seed)
    bc, (dip, p), d, modes = bimodality_coefficient(a), dip_test(a), ashman_d(mix), density_modes(mix)
    votes = int(bc > SARLE_THRESHOLD) + int(p < DIP_ALPHA) + int(d > ASHMAN_THRESHOLD) + int(len(modes) >= 2)
    verdict = "bimodal" if votes >= 3 else "ambiguous" if votes == 2 else "unimodal"
    return Bimodality(bc, dip, p, d, modes, mix, votes, verdict)


def auroc(scores_positive, scores_negative) -> float:
    """P(score of a positive > score of a negative), ties counting one half (Mann-Whitney U / n_pos n_neg)."""
    pos = _as_numpy(scores_positive, "positive scores")
    neg = _as_numpy(scores_negative, "negative scores")
    ranks = stats.rankdata(np.concatenate([pos, neg]))
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2
    return float(u / (pos.size * neg.size))


def quartile_auroc(score, difficulty) -> float:
    """AUROC of ``score`` for telling the easiest difficulty quartile (positives) from the hardest."""
    s, d = _as_numpy(score, "score"), _as_numpy(difficulty, "difficulty")
    if s.size != d.size:
        raise RIEInputError(f"score has {s.size} values but difficulty has {d.size}")
    lo, hi = np.quantile(d, [0.25, 0.75])
    easy, hard = s[d <= lo], s[d >= hi]
    if easy.size == 0 or hard.size == 0:
        raise RIEInputError("difficulty has no spread: the easiest and hardest quartiles are not both populated")
    return auroc(easy, hard)


def spearman(a, b) -> float:
    x, y = _as_numpy(a, "a"), _as_numpy(b, "b")
    if x.size != y.size:
        raise RIEInputError(f"spearman needs equal lengths, got {x.size} and {y.size}")
    return float(stats.spearmanr(x, y).statistic)


def umap_2d(x, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1) -> np.ndarray:
    """A 2-D UMAP (cosine metric) of embeddings; deterministic for a given seed (single-threaded)."""
    import umap

    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim != 2 or len(a) < n_neighbors + 1:
        raise RIEInputError(f"UMAP needs a 2-D array with more than {n_neighbors} rows, got shape {a.shape}")
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine", random_state=seed, n_jobs=1)
    return reducer.fit_transform(a)
