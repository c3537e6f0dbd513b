"""The paper's Section 4.1-4.2 experiments: Table 4 (heads and RIE-term subsets), Fig. 3 (loss weights)
and the Table 1-3 protocols, over seeds, with verdicts that weigh each effect against its seed spread.

``run`` fine-tunes one model per (method, seed) from the pretrained encoder (cached by
``train_or_load``, so a second ``run`` over the same methods only evaluates) and applies an
``evaluate(model, world) -> {column: value in %}`` function; ``summarise`` turns the rows into
mean and sample standard deviation per method; ``paired_effect`` and ``judge`` compare two
methods seed by seed.
"""

from __future__ import annotations

import math
from functools import partial

import matplotlib.pyplot as plt
import numpy as np

from ..common.checks import RIEInputError
from ..common.constants import BASELINE_METHOD, OURS_METHOD, PAPER_WEIGHTS, TABLE4_LABELS
from ..data.synth import TIER_CODES
from ..evaluation.inference import SCORING, extract
from ..evaluation.protocols import (
    FARS,
    embed_test_split,
    FPIRS,
    identification,
    open_set,
    rank1_by_resolution,
    resolution_ladder,
    verification,
)
from ..evaluation.verdicts import effect, judge, make_claim, paired_effect, per_seed, summarise
from ..method.ri import ui_center, ui_proximity
from ..training.recipes import finetune_config
from ..training.train import train_or_load

# Rank-1 (%) on TinyFace without distractors, MobileFaceNet (the paper's Table 4), for reference.
PAPER_TABLE4 = {
    "Cross Entropy": 68.884, "NormFace": 68.026, "CosFace": 70.306, "MV-Softmax": 70.547,
    "CurricularFace": 70.655, "MagFace": 70.467, "AdaFace": 70.359, "Baseline (ArcFace)": 70.333,
    "I (+ID)": 71.298, "II (+MSE)": 71.540, "III (+L1)": 71.674, "Ours (all)": 71.915,
}
BASELINE, OURS = TABLE4_LABELS[BASELINE_METHOD], TABLE4_LABELS[OURS_METHOD]
SINGLE_TERMS = ("I (+ID)", "II (+MSE)", "III (+L1)")

# name -> (recipe method, RIE weight overrides); the RIE rows keep the paper's weight of each term they use
METHODS = {
    **{TABLE4_LABELS[m]: (m, {}) for m in ("softmax", "normface", "cosface", "mvsoftmax", "curricularface",
                                            "magface", "adaface", BASELINE_METHOD)},
    "I (+ID)": (OURS_METHOD, {"alpha": 0.0, "gamma": 0.0}),
    "II (+MSE)": (OURS_METHOD, {"alpha": 0.0, "beta": 0.0}),
    "III (+L1)": (OURS_METHOD, {"beta": 0.0, "gamma": 0.0}),
    OURS: (OURS_METHOD, {}),
}

# A coarse Fig. 3 grid around the paper's chosen weights (PAPER_WEIGHTS, Eq. 10): both sides of alpha and beta,
# the larger side of gamma (the paper's claim is that a larger gamma hurts); sized for the default's 20 minutes.
SWEEP = {"alpha": (1.0, 5.0, 20.0), "beta": (0.5, 2.0, 5.0), "gamma": (1.0, 5.0)}


def _name(method: str, overrides: dict, profile: str) -> str:
    return f"{method}-{'-'.join(f'{k}{v:g}' for k, v in sorted(overrides.items()))}-{profile}"


def method_config(name: str, profile: str, seed: int):
    """The fine-tuning config of one Table 4 row."""
    if name not in METHODS:
        raise RIEInputError(f"unknown method {name!r}; known: {list(METHODS)}")
    method, overrides = METHODS[name]
    config = finetune_config(profile, method, seed=seed, **overrides)
    if overrides:  # distinct cache names for the ablation rows
        config = config.replace(name=_name(method, overrides, profile))
    return config


def sweep_config(weight: str, value: float, profile: str, seed: int):
    """Ours with one loss weight changed (Fig. 3); at the paper's value it is exactly the "Ours (all)" config."""
    if weight not in PAPER_WEIGHTS:
        raise RIEInputError(f"weight must be one of {list(PAPER_WEIGHTS)}, got {weight!r}")
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise RIEInputError(f"a loss weight must be a finite number >= 0, got {value!r}")
    if float(value) == PAPER_WEIGHTS[weight]:
        return method_config(OURS, profile, seed)
    return finetune_config(profile, OURS_METHOD, seed=seed, **{weight: float(value)}).replace(
        name=_name(OURS_METHOD, {weight: float(value)}, profile))


def tinyface(model, world) -> dict[str, float]:
    """Table 1 / Table 4 columns: closed-set rank-1/5/20 (%) with and without distractors."""
    return {f"r{k} {setting}": 100 * v for setting, rates in identification(model, world).items() for k, v in rates.items()}


def all_protocols(model, world, ladder=None, n_mated: int = 6000, n_nonmated: int = 50000, seed: int = 0) -> dict[str, float]:
    """Every protocol of Tables 1-3 (%): TinyFace-style rank-k, rank-1 per probe-resolution bucket,
    HR-gallery rank-1 per sensor resolution (``ladder`` from ``protocols.ladder_images``; SCFace's role),
    TPR@FAR on sampled pairs and TPIR20@FPIR with the distractors as unmated probes (SurvFace's role)."""
    embedded = embed_test_split(model, world)  # once per model, shared by the protocols
    out = {f"r{k} {setting}": 100 * v for setting, rates in identification(model, world, embedded=embedded).items()
           for k, v in rates.items()}
    out |= {f"r1 {bucket}": 100 * v for bucket, v in rank1_by_resolution(model, world, embedded=embedded).items()}
    if ladder is not None:
        out |= {f"r1 HR-{px} px": 100 * v for px, v in sorted(resolution_ladder(model, ladder).items(), reverse=True)}
    out |= {f"TPR@FAR={f:g}": 100 * v for f, v in verification(model, world, n_mated, n_nonmated, FARS, seed, embedded=embedded).items()}
    out |= {f"TPIR20@FPIR={f:g}": 100 * v for f, v in open_set(model, world, FPIRS, rank=20, embedded=embedded).items()}
    return out


def fine_tune(config, world, pretrained_state: dict, model_dir, progress: bool = False):
    """Train (or load from ``model_dir``) one config on the world's VLR training set, from the pretrained state."""
    train = world["train"]
    return train_or_load(config, train.images, train.labels, world["ui"].images,
                         init_state=pretrained_state, cache_dir=model_dir, progress=progress)


def _encoder(encoders: dict, e):
    if e not in encoders:
        raise RIEInputError(f"no pretrained encoder of seed {e!r}; given: {sorted(encoders)}")
    return encoders[e].model.state_dict()


def _evaluate_all(configs, world, encoders, model_dir, progress, evaluate) -> list[dict]:
    rows = []
    for tags, e, config in configs:
        result = fine_tune(config, world, _encoder(encoders, e), model_dir, progress)
        rows.append({**tags, "seed": (e, config.seed), "seconds": result.seconds, "loaded": result.loaded,
                     **evaluate(result.model, world)})
    return rows


def seeds_of(name, seeds, full=(BASELINE, OURS)) -> list[tuple[int, int]]:
    """The (encoder, fine-tuning) seed pairs a method runs on: all of ``seeds`` for the methods in ``full``,
    the first fine-tuning seed of each encoder for the others (the issue's budget rule; their claims
    against the baseline then pair over the encoders only)."""
    if name in full:
        return list(seeds)
    first = {}
    for e, f in seeds:
        first.setdefault(e, f)
    return list(first.items())


def run(world, encoders: dict, names, seeds, profile: str, model_dir, progress: bool = False,
        evaluate=tinyface, full=(BASELINE, OURS)) -> list[dict]:
    """One row per (method, seed pair): ``{"method", "seed": (encoder, fine-tune), "seconds", "loaded",
    **evaluate(model, world)}``; ``encoders`` maps an encoder seed to its pretrained model
    (``rie.training.recipes.pretrained_encoders``).

    ``seconds`` is the training time (0 when the model came from the cache, then ``loaded`` is True).
    """
    configs = [({"method": name}, e, method_config(name, profile, f)) for name in names for e, f in seeds_of(name, seeds, full)]
    return _evaluate_all(configs, world, encoders, model_dir, progress, evaluate)


def run_sweep(world, encoders: dict, sweep: dict, seeds, profile: str, model_dir, progress: bool = False,
              evaluate=tinyface) -> list[dict]:
    """Fig. 3: one row per (weight, value, seed pair), the other two weights at the paper's values."""
    configs = [({"weight": w, "value": float(v)}, e, sweep_config(w, v, profile, f))
               for w, values in sweep.items() for v in values for e, f in seeds]
    return _evaluate_all(configs, world, encoders, model_dir, progress, evaluate)


def protocols_evaluator(ladder=None, n_mated: int = 6000, n_nonmated: int = 50000, seed: int = 0):
    """``all_protocols`` with its data fixed, to pass as ``run(..., evaluate=...)``."""
    return partial(all_protocols, ladder=ladder, n_mated=n_mated, n_nonmated=n_nonmated, seed=seed)


# ---------------------------------------------------------------------------------------------
# Summaries and verdicts
# ---------------------------------------------------------------------------------------------


def gains(rows: list[dict], key: str = "r1 w/o dis", reference: str = BASELINE) -> dict:
    """``{method: (mean, half-width of its 95 % interval)}`` of each method minus ``reference``, paired by
    seed (the reference itself: 0; one seed: an infinite half-width, drawn as none)."""
    out = {}
    for m in summarise(rows, key):
        e = paired_effect(rows, m, reference, key)
        out[m] = (e.mean, (e.hi - e.lo) / 2 if math.isfinite(e.hi - e.lo) else float("nan"))
    return out


def table4_claims(rows: list[dict], key: str = "r1 w/o dis", paper: dict = PAPER_TABLE4) -> list[dict]:
    """The paper's Table 4 claims, each as a paired effect (percentage points) against its seed spread."""
    means = {m: s[0] for m, s in summarise(rows, key).items()}
    claims = [make_claim(f"{label} helps: {name} > baseline", paired_effect(rows, name, BASELINE, key))
              for label, name in zip(("ID", "MSE (attention)", "L1 (RI regression)"), SINGLE_TERMS)]
    claims.append(make_claim("all terms beat the baseline: Ours > baseline", paired_effect(rows, OURS, BASELINE, key)))
    best_single = max(SINGLE_TERMS, key=means.__getitem__)
    claims.append(make_claim(f"all terms beat every single term: Ours > {best_single} (best single)",
                         paired_effect(rows, OURS, best_single, key)))
    best_other = max((m for m in means if m != OURS), key=means.__getitem__)
    claims.append(make_claim(f"Ours is the best method: Ours > {best_other} (best other)",
                         paired_effect(rows, OURS, best_other, key)))
    # Rank agreement: the rho of each seed alone, its mean and interval over seeds.
    methods = [m for m in means if m in paper]
    values, reference = per_seed(rows, key), [paper[m] for m in methods]
    seeds = sorted(set.intersection(*(set(values[m]) for m in methods)))
    rho_per_seed = [_spearman([values[m][s] for m in methods], reference) for s in seeds]
    rho_per_seed = [r for r in rho_per_seed if math.isfinite(r)] or [float("nan")]  # nan when a seed ties every method
    claims.append(make_claim(f"the methods rank as in the paper (Spearman rho over {len(methods)} methods, per seed)",
                             effect(rho_per_seed), unit="rho"))
    return claims


def protocol_claims(rows: list[dict], columns=None) -> list[dict]:
    """Tables 1-3: Ours against the baseline on every protocol column, paired by seed."""
    columns = columns or [c for c in rows[0] if c not in ("method", "seed", "seconds", "loaded")]
    return [make_claim(f"Ours > baseline on {c}", paired_effect(rows, OURS, BASELINE, c)) for c in columns]


def sweep_claims(rows: list[dict], key: str = "r1 w/o dis", chosen: dict = PAPER_WEIGHTS) -> list[dict]:
    """Fig. 3: is the paper's weight the best of the swept values, and do too-large alpha and gamma hurt?"""
    by = ("weight", "value")
    means = {g: s[0] for g, s in summarise(rows, key, by).items()}
    claims = []
    for weight, best in chosen.items():
        others = [v for (w, v) in means if w == weight and v != best]
        if (weight, best) not in means or not others:
            continue
        rival = max(others, key=lambda v: means[(weight, v)])
        claims.append(make_claim(f"{weight} = {best:g} is the best swept value: {best:g} > {rival:g} (best other)",
                             paired_effect(rows, (weight, best), (weight, rival), key, by)))
        if weight == "alpha" and any(v > 10 for v in others):  # "an overly large alpha (> 10) ... convergence"
            big = max(others)
            claims.append(make_claim(f"alpha > 10 hurts: {best:g} > {big:g}", paired_effect(rows, (weight, best), (weight, big), key, by)))
        if weight == "gamma" and any(v > best for v in others):  # "a higher gamma hinders ... convergence"
            big = max(others)
            claims.append(make_claim(f"a larger gamma hurts: {best:g} > {big:g}", paired_effect(rows, (weight, best), (weight, big), key, by)))
    return claims


def _spearman(a, b) -> float:
    from ..evaluation.analysis import spearman

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if np.ptp(a) == 0 or np.ptp(b) == 0:  # constant: no ranking to correlate
        return float("nan")
    return spearman(a, b)


# ---------------------------------------------------------------------------------------------
# Text tables
# ---------------------------------------------------------------------------------------------


def _sd_text(sd: float, width: int, digits: int) -> str:
    """A sample std, or a dash where it is undefined (one seed: a given checkpoint's row)."""
    return f"{'–':>{width}s}" if math.isnan(sd) else f"{sd:{width}.{digits}f}"


def table(rows: list[dict], columns, by: str = "method", paper: dict | None = None, width: int = 20, digits: int = 2) -> str:
    """Mean ± sample std over seeds, one line per group; ``paper`` adds a column of reference figures."""
    groups = list(summarise(rows, columns[0], by))
    head = f"{by if isinstance(by, str) else ' '.join(by):{width}s}" + "".join(f"{c:>16s}" for c in columns) + (f"{'paper':>9s}" if paper else "")
    lines = [head, "-" * len(head)]
    stats = {c: summarise(rows, c, by) for c in columns}
    for g in groups:
        cells = "".join(f"{stats[c][g][0]:9.{digits}f} ± {_sd_text(stats[c][g][1], digits + 2, digits)}" for c in columns)
        ref = f"{paper[g]:9.2f}" if paper and g in paper else (f"{'':9s}" if paper else "")
        lines.append(f"{_label(g):{width}s}{cells}{ref}")
    return "\n".join(lines)


def _label(group) -> str:
    if isinstance(group, tuple):
        return " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in group)
    return str(group)


def protocol_tables(columns) -> dict[str, list[str]]:
    """Protocol columns (``all_protocols``' or ``rie.evaluation.evaluate.flat_results``') grouped as the
    paper's Tables 1-3; a group the data has no column for is left out."""
    groups = {"Table 1 (TinyFace)": [c for c in columns if c.startswith(("r1 w", "r5", "r20"))],
              "Table 2 (SCFace)": [c for c in columns if c.startswith("r1 ") and "dis" not in c],
              "Table 3 (SurvFace)": [c for c in columns if c.startswith(("TPR", "TPIR"))]}
    return {title: found for title, found in groups.items() if found}


def comparison_table(rows: list[dict], columns, a: str = OURS, b: str = BASELINE, width: int = 18) -> str:
    """One line per metric: ``b`` and ``a`` as mean ± std over seeds, their paired difference with its
    95 % interval, and its verdict."""
    head = f"{'metric':{width}s}{b:>17s}{a:>17s}  {'difference (95% CI)':34s}verdict"
    lines = [head, "-" * (len(head) + 8)]
    for c in columns:
        (ma, sa, _), (mb, sb, _) = summarise(rows, c)[a], summarise(rows, c)[b]
        e = paired_effect(rows, a, b, c)
        diff = f"{e.mean:+.2f} [{e.lo:+.2f}, {e.hi:+.2f}]"
        lines.append(f"{c:{width}s}{mb:10.2f} ± {sb:4.2f}{ma:10.2f} ± {sa:4.2f}  {diff:34s}{judge(e)}")
    return "\n".join(lines)



# ---------------------------------------------------------------------------------------------
# The paper's open readings (SPEC): does xi carry a gradient (Eq. 3), Eq. 9's reduction, is v'
# detached, and which embedding is scored at test time
# ---------------------------------------------------------------------------------------------

READINGS = {
    "xi target, MSE mean": {"xi_gradient": "target", "mse_reduction": "elementwise"},
    "xi target, MSE Eq. 9": {"xi_gradient": "target", "mse_reduction": "paper"},
    "xi coupled, MSE mean": {"xi_gradient": "coupled", "mse_reduction": "elementwise"},
    "xi coupled, MSE Eq. 9": {"xi_gradient": "coupled", "mse_reduction": "paper"},
}
BASELINE_SCORINGS = ("v", "v_prime")  # the baseline's attention branch is never trained


def reading_config(overrides: dict | None, profile: str, seed: int):
    """Ours under one reading (``RIELossConfig`` overrides); ``None`` is the ArcFace baseline.

    The reading that equals the defaults is exactly Table 4's "Ours (all)" config (one cache entry)."""
    if overrides is None:
        return method_config(BASELINE, profile, seed)
    config = finetune_config(profile, OURS_METHOD, seed=seed, **overrides)
    if config == method_config(OURS, profile, seed):
        return method_config(OURS, profile, seed)
    tag = "-".join(f"{k}={v}" for k, v in sorted(overrides.items()))
    return config.replace(name=f"{OURS_METHOD}-{tag}-{profile}")


def ui_distance_by_tier(model, images, tiers, u, names=("hard", "moderate")) -> dict[str, float]:
    """Mean d_UI (Eq. 2) of the images of each tier to the UI centre ``u``: the mechanism's own signature
    (the ID loss should move hard faces away from the UI cluster, Section 3.3)."""
    d = ui_proximity(extract(model, images).v, u)
    return {f"d_UI {n}": float(d[tiers == TIER_CODES[n]].mean()) for n in names}


def run_readings(world, encoders: dict, arms: dict, seeds, profile: str, model_dir, progress: bool = False) -> list[dict]:
    """One row per (arm, scoring embedding, seed pair): rank-1 with and without distractors and the mean d_UI
    of the hard and moderate training images to the UI centre of the encoder the run started from.

    ``arms`` maps a name to ``RIELossConfig`` overrides (``None``: the ArcFace baseline, scored with
    ``BASELINE_SCORINGS``; the RIE arms with every ``SCORING``). For "v_prime" each model uses its own UI
    centre, computed from the world's UI set at inference (Eq. 8 as Deng et al. apply it)."""
    train = world["train"]
    fixed = {}  # the UI centre every RIE run of that encoder trains with
    rows = []
    for arm, overrides in arms.items():
        for e, f in seeds:
            state = _encoder(encoders, e)
            if e not in fixed:
                fixed[e] = ui_center(extract(encoders[e].model, world["ui"].images).v)
            result = fine_tune(reading_config(overrides, profile, f), world, state, model_dir, progress)
            mechanism = ui_distance_by_tier(result.model, train.images, train.params["tier"], fixed[e])
            u_model = ui_center(extract(result.model, world["ui"].images).v)
            for scoring in BASELINE_SCORINGS if overrides is None else SCORING:
                found = identification(result.model, world, ranks=(1,), scoring=scoring, u=u_model)
                rows.append({"method": f"{arm} | {scoring}", "arm": arm, "scoring": scoring, "seed": (e, f),
                             "seconds": result.seconds, "loaded": result.loaded,
                             "r1 w/o dis": 100 * found["w/o dis"][1], "r1 w/ dis": 100 * found["w/ dis"][1], **mechanism})
    return rows


def default_reading(profile: str = "default") -> str:
    """The reading that Table 4's "Ours (all)" uses (the ``RIELossConfig`` defaults)."""
    ours = method_config(OURS, profile, 0)
    return next(r for r, overrides in READINGS.items() if reading_config(overrides, profile, 0) == ours)


def best_reading(rows: list[dict], readings=READINGS, key: str = "r1 w/o dis") -> str:
    """The reading whose model, scored with v, has the highest mean ``key`` over seeds."""
    means = {g: m for g, (m, _, _) in summarise(rows, key).items()}
    return max(readings, key=lambda r: means[f"{r} | v"])


def readings_claims(rows: list[dict], default: str, baseline: str = BASELINE, key: str = "r1 w/o dis") -> list[dict]:
    """Each reading against the baseline (rank-1 and d_UI of the hard faces, scored with v), and each scoring
    embedding against v for the ``default`` reading and for the baseline; paired by seed."""
    arms = list(dict.fromkeys(r["arm"] for r in rows if r["arm"] != baseline))
    claims = [make_claim(f"{arm} > ArcFace on {key} (scored with v)", paired_effect(rows, f"{arm} | v", f"{baseline} | v", key))
              for arm in arms]
    claims += [make_claim(f"{arm} moves hard training faces farther from the UI centre than ArcFace (d_UI)",
                          paired_effect(rows, f"{arm} | v", f"{baseline} | v", "d_UI hard"), unit="")
               for arm in arms]
    claims += [make_claim(f"{default}: scored with {s} > scored with v on {key}",
                          paired_effect(rows, f"{default} | {s}", f"{default} | v", key)) for s in SCORING if s != "v"]
    claims.append(make_claim(f"ArcFace: scored with v_prime (Eq. 8 at inference) > scored with v on {key}",
                             paired_effect(rows, f"{baseline} | v_prime", f"{baseline} | v", key)))
    return claims


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def gains_over_baseline(gains: dict, paper_gains: dict | None = None, unit: str = "rank-1 (pp)",
                        title: str = "change against the ArcFace baseline (Table 4)"):
    """Horizontal bars: ``gains[method] = (mean, half-width of the 95 % interval)``; the paper's gains as diamonds."""
    names = list(gains)
    y = np.arange(len(names))[::-1]
    mean = np.array([gains[n][0] for n in names])
    sd = np.array([gains[n][1] for n in names])
    fig, ax = plt.subplots(figsize=(6.2, 0.32 * len(names) + 1.2))
    ax.barh(y, mean, xerr=np.nan_to_num(sd), color=np.where(mean >= 0, "tab:blue", "tab:red"), alpha=0.7,
            error_kw={"lw": 1, "capsize": 2}, label="this world: mean, 95% CI (paired by seed)")
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
