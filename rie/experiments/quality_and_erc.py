"""The face-image-quality comparison of Section 4.3 (Figs. 6-7) on the synthetic test split.

Five quality scores, each from the model it belongs to: the learned RI (``xi_hat`` of the
RIE model), CR-FIQA (its own model), MagFace's and AdaFace's feature norms (their own
models) and ERS (distance to the UI centre, with the ArcFace baseline). Verification pairs
are scored by a *recognition* model (the baseline or RIE); each quality score decides
which pairs are rejected first.

A real set (notebook 07's ``DATA``) gives the test split through ``test_split``; a model given by
``CHECKPOINT`` gives the scores it has (``external_scores``) and recognises the pairs itself.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from scipy import stats

from ..common.checks import RIEInputError
from ..common.constants import SCORE_LABELS, TABLE4_LABELS
from ..evaluation.inference import extract
from ..evaluation.metrics import erc, pair_quality, pair_scores, sample_pairs
from ..evaluation.quality import crfiqa_score, ers, feature_norm, learned_ri
from ..evaluation.verdicts import effect, make_claim, paired_effect
from ..method.ri import ui_center, ui_proximity
from . import training_and_ablation as ablation

SCORES = tuple(SCORE_LABELS.values())
RI = SCORE_LABELS["rie"]
NORM = "feature norm"  # a checkpoint's embedding norm, when it is neither MagFace's nor AdaFace's
STYLES = ("recompute", "fixed")
# the model each score needs -> its Table 4 row in notebook 04 (CR-FIQA has no row there: its own config)
MODEL_ROWS = {"arcface": TABLE4_LABELS["arcface"], "rie": TABLE4_LABELS["rie"], "magface": TABLE4_LABELS["magface"],
              "adaface": TABLE4_LABELS["adaface"], "crfiqa": None}
FULL = ("arcface", "rie")  # run on every seed pair (the recognition models); the others one fine-tune per encoder


def crfiqa_config(profile: str, seed: int):
    """CR-FIQA: the ArcFace fine-tuning plus ``10 * SmoothL1`` of a linear head onto the certainty ratio."""
    return ablation.method_config(MODEL_ROWS["arcface"], profile, seed).replace(name=f"crfiqa-{profile}", crfiqa_weight=10.0)


def model_plan(seeds, profile: str, full=FULL) -> dict:
    """``{(model, (e, f)): (e, TrainConfig)}``: every model the study needs, over the seed pairs.

    The models in ``full`` run on every pair, the others on the first fine-tuning seed of each
    encoder (``training_and_ablation.seeds_of``); the configs are notebook 04's where it has the model."""
    plan = {}
    for model, row in MODEL_ROWS.items():
        for e, f in ablation.seeds_of(model, seeds, full):
            plan[model, (e, f)] = (e, crfiqa_config(profile, f) if row is None else ablation.method_config(row, profile, f))
    return plan


def beyond_notebook_04(plan: dict, seeds, profile: str, methods=None) -> list:
    """The keys of ``plan`` whose (encoder, config) notebook 04 does not train (``ablation.run`` over ``methods``)."""
    methods = ablation.METHODS if methods is None else methods
    trained = [(e, ablation.method_config(m, profile, f)) for m in methods for e, f in ablation.seeds_of(m, seeds)]
    return [key for key, item in plan.items() if item not in trained]


def train_models(plan: dict, world, encoders: dict, model_dir, progress: bool = False) -> dict:
    """``{(model, seed pair): TrainResult}``, each fine-tuned (or loaded) from its encoder's pretrained state."""
    states = {e: r.model.state_dict() for e, r in encoders.items()}
    missing = {e for e, _ in plan.values()} - set(states)
    if missing:
        raise RIEInputError(f"no pretrained encoder of seed {sorted(missing)}; given: {sorted(states)}")
    return {key: ablation.fine_tune(config, world, states[e], model_dir, progress) for key, (e, config) in plan.items()}


def scores_by_seed(models: dict, images: torch.Tensor, ui_images: torch.Tensor) -> dict:
    """``{seed pair: {score name: tensor}}``: on each pair, the scores whose model exists there (RI and
    ERS on every pair; CR-FIQA and the norms where their model was fine-tuned)."""
    out = {}
    for seed in dict.fromkeys(s for _, s in models):
        have = {m: models[m, seed] for m in MODEL_ROWS if (m, seed) in models}
        s = {}
        if "rie" in have:
            s[SCORE_LABELS["rie"]] = learned_ri(have["rie"].model, images)
        if "crfiqa" in have:
            s[SCORE_LABELS["crfiqa"]] = crfiqa_score(have["crfiqa"].model, have["crfiqa"].model.crfiqa, images)
        for m in ("magface", "adaface"):
            if m in have:
                s[SCORE_LABELS[m]] = feature_norm(have[m].model, images)
        if "arcface" in have:
            s[SCORE_LABELS["ers"]] = ers(have["arcface"].model, images, ui_center(extract(have["arcface"].model, ui_images).v))
        out[seed] = s
    return out


def test_split(data):
    """``(images, labels, difficulty)`` of the test split: gallery then probe images of ``data`` (the
    world or a notebook's ``NotebookData``); ``difficulty`` is None when a role has none (a real set)."""
    roles = (data["gallery"], data["probe"])
    difficulty = None if any(r.difficulty is None for r in roles) else torch.cat([r.difficulty for r in roles])
    return torch.cat([r.images for r in roles]), torch.cat([r.labels for r in roles]), difficulty


@torch.no_grad()
def external_scores(external, images: torch.Tensor, ui_images: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{score name: tensor}`` of the one model ``CHECKPOINT`` gives (``notebook_data.ExternalModel``):
    the learned RI of an RIE model (a ``rie:`` folder), CR-FIQA where it has the quality head, its
    feature norm (named MagFace's or AdaFace's only in those formats) and ERS (UI centre of ``ui_images``).

    The same scores as ``rie.evaluation.quality``'s, from one pass over ``images`` (a published
    checkpoint runs at 112 px)."""
    model, fmt = external.model, external.name.split(":", 1)[0]
    head = getattr(model, "quality_head", None)  # a published CR-FIQA checkpoint's
    head = getattr(model, "crfiqa", None) if head is None else head  # an RIEModel trained with CR-FIQA's loss
    found = extract(model, images)
    s = {} if found.xi_hat is None else {RI: found.xi_hat}
    if head is not None:
        s[SCORE_LABELS["crfiqa"]] = head(found.v)
    s[SCORE_LABELS[fmt] if fmt in ("magface", "adaface") else NORM] = found.v.norm(dim=1)
    s[SCORE_LABELS["ers"]] = ui_proximity(found.v, ui_center(extract(model, ui_images).v))
    return s


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


def area_claims(rows: list[dict], ri: str = RI, fmrs=(1e-3, 1e-4)) -> list[dict]:
    """For each recognition model, ERC style, FMR and other score: "RI has a smaller ERC area than X",
    with effect = X's area - RI's area (so "holds" means RI rejects the right pairs first), paired by seed.

    ``rows``: ``erc_table`` rows with a "recognition" and a "seed" key added. The unit is the area
    (FNMR x reject fraction); n is the number of seed pairs both scores have."""
    out = []
    for rec in dict.fromkeys(r["recognition"] for r in rows):
        for style in dict.fromkeys(r["style"] for r in rows):
            sel = [r for r in rows if r["recognition"] == rec and r["style"] == style]
            for fmr in fmrs:
                for other in dict.fromkeys(r["score"] for r in sel):
                    if other != ri:
                        out.append(make_claim(f"RI has a smaller ERC area than {other} (recognition: {rec}, style {style}, "
                                              f"FMR {fmr:g}; {coverage(_shared(sel, ri, other))})",
                                              paired_effect(sel, other, ri, f"area@{fmr:g}", by="score"), unit=""))
    return out


def _shared(rows: list[dict], a, b) -> list:
    seeds = {g: {r["seed"] for r in rows if r["score"] == g} for g in (a, b)}
    return sorted(seeds[a] & seeds[b])


def coverage(seeds) -> str:
    """What n covers: ``"n = 4: 2 encoders x 2 fine-tunes"`` or ``"n = 2: 2 encoders, one fine-tune each"``."""
    seeds = list(seeds)
    encoders = len({e for e, _ in seeds})
    per = len(seeds) / max(encoders, 1)
    if per == 1:
        return f"n = {len(seeds)}: {encoders} encoder{'s' * (encoders != 1)}, one fine-tune each"
    if per.is_integer():
        return f"n = {len(seeds)}: {encoders} encoder{'s' * (encoders != 1)} x {int(per)} fine-tunes"
    return f"n = {len(seeds)} seed pairs"


def skew_claim(skews: dict) -> dict:
    """The paper's reading of Fig. 6 (RI's distribution negatively skewed), effect = -skew over the seeds.
    ``skews``: ``{seed pair: skew of RI}``."""
    return make_claim(f"RI's distribution is negatively skewed as in Fig. 6 ({coverage(skews)})",
                      effect([-float(s) for s in skews.values()]), unit="")


def skew_reading(claim: dict) -> str:
    """The skew claim's verdict in words: whether RI's distribution is skewed as the paper reads Fig. 6."""
    sign = "negative" if claim["effect"] > 0 else "positive"
    return {"holds": "negatively skewed, as the paper reads it",
            "reversed": "positively skewed: the opposite of the paper's reading (negative skew)",
            "within spread": f"mean skew {sign}, but not beyond the seed spread: the paper's reading is not confirmed",
            "undefined": "undefined"}[claim["verdict"]]


def rho_claims(rows: list[dict], ri: str = RI) -> list[dict]:
    """"RI follows the true difficulty more closely than X": effect = rho(X) - rho(RI) (a more negative
    Spearman rho with difficulty is better), paired by seed. ``rows``: {"score", "seed", "rho"}."""
    return [make_claim(f"RI follows the true difficulty more closely than {other} "
                       f"(Spearman; {coverage(_shared(rows, ri, other))})",
                       paired_effect(rows, other, ri, "rho", by="score"), unit="")
            for other in dict.fromkeys(r["score"] for r in rows) if other != ri]


def verdict_summary(claims: list[dict]) -> str:
    """``k of N claims hold; ... reversed; ... within spread`` (and undefined, if any)."""
    counts = {v: sum(c["verdict"] == v for c in claims) for v in ("holds", "reversed", "within spread", "undefined")}
    text = f"{counts['holds']} of {len(claims)} claims hold, {counts['reversed']} reversed, {counts['within spread']} within spread"
    return text + (f", {counts['undefined']} undefined" if counts["undefined"] else "")


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


def erc_curves(curves: dict, fmr: float, style: str | tuple = STYLES, title: str = ""):
    """FNMR at a fixed FMR against the fraction of pairs rejected, one line per quality score;
    one panel per ERC style (``style``: one name or a tuple of them)."""
    styles = (style,) if isinstance(style, str) else tuple(style)
    fig, axes = plt.subplots(1, len(styles), figsize=(5.2 * len(styles), 3.4), squeeze=False, sharey=True)
    for ax, st in zip(axes[0], styles):
        for (name, s), result in curves.items():
            if s == st:
                ax.plot(result.reject_fractions, result.fnmr[fmr], marker=".", label=f"{name} (area {result.area[fmr]:.3f})")
        ax.set(xlabel="fraction of pairs rejected (lowest quality first)", ylabel=f"FNMR @ FMR {fmr:g}",
               title=f"{title}\n{st} threshold")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
