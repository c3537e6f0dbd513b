"""The face-image-quality comparison of Section 4.3 (Figs. 6-7) on the synthetic test split.

Five quality scores, each from the model it belongs to: the learned RI (``xi_hat`` of the
RIE model), CR-FIQA (its own model), MagFace's and AdaFace's feature norms (their own
models) and ERS (distance to the UI centre, with the ArcFace baseline). Verification pairs
are scored by a *recognition* model (the baseline or RIE); each quality score decides
which pairs are rejected first.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from scipy import stats

from ..common.constants import SCORE_LABELS
from ..evaluation.inference import extract
from ..evaluation.metrics import erc, pair_quality, pair_scores, sample_pairs
from ..evaluation.quality import crfiqa_score, ers, feature_norm, learned_ri
from ..method.ri import ui_center

SCORES = tuple(SCORE_LABELS.values())


def quality_scores(models: dict, images: torch.Tensor, ui_images: torch.Tensor) -> dict[str, torch.Tensor]:
    """``models``: TrainResults keyed "rie", "crfiqa", "magface", "adaface", "arcface". Higher = better."""
    u = ui_center(extract(models["arcface"].model, ui_images).v)
    return {
        SCORE_LABELS["rie"]: learned_ri(models["rie"].model, images),
        SCORE_LABELS["crfiqa"]: crfiqa_score(models["crfiqa"].model, models["crfiqa"].model.crfiqa, images),
        SCORE_LABELS["magface"]: feature_norm(models["magface"].model, images),
        SCORE_LABELS["adaface"]: feature_norm(models["adaface"].model, images),
        SCORE_LABELS["ers"]: ers(models["arcface"].model, images, u),
    }


def normalise(score: torch.Tensor) -> np.ndarray:
    """Min-max to [0, 1], as the paper's Fig. 6."""
    s = score.double().numpy()
    return (s - s.min()) / max(s.max() - s.min(), 1e-12)


def skewness(score: torch.Tensor) -> float:
    return float(stats.skew(score.double().numpy(), bias=False))


def erc_table(recognition_model, images, labels, scores: dict, n_mated: int, n_nonmated: int, fmrs=(1e-3, 1e-4), seed: int = 0):
    """ERC of every quality score for one recognition model, both styles.

    Returns ``(curves, rows)``: ``curves[(name, style)]`` is an ERCResult; ``rows`` one dict per
    (score, style) with the area under the FNMR curve at each FMR.
    """
    pairs, is_mated = sample_pairs(labels, n_mated, n_nonmated, seed=seed)
    v = extract(recognition_model, images).v
    sim = pair_scores(v[pairs[:, 0]], v[pairs[:, 1]])
    curves, rows = {}, []
    for name, q in scores.items():
        pq = pair_quality(q[pairs[:, 0]], q[pairs[:, 1]])
        for style in ("recompute", "fixed"):
            result = erc(sim, is_mated, pq, fmrs=fmrs, style=style)
            curves[(name, style)] = result
            rows.append({"score": name, "style": style, **{f"area@{f:g}": result.area[f] for f in fmrs},
                         **{f"pauc@{f:g}": result.pauc[f] for f in fmrs}})
    return curves, rows


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def score_distributions(normalised: dict, skews: dict, title: str = "normalised quality scores (Fig. 6)"):
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    bins = np.linspace(0, 1, 41)
    for name, s in normalised.items():  # seaborn: one step histogram per score, on a shared binning
        sns.histplot(x=np.asarray(s), bins=bins, stat="density", element="step", fill=False, linewidth=1.5, ax=ax,
                     label=f"{name} (skew {skews[name]:+.2f})")
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
