"""The Table 4 experiment: every margin head and every subset of the RIE terms, over seeds.

``run`` fine-tunes one model per (method, seed) from the pretrained encoder (cached by
``train_or_load``) and evaluates it with the TinyFace-style protocol of ``rie.protocols``;
``summarise`` turns the rows into mean and standard deviation per method.
"""

from __future__ import annotations

import numpy as np

from .protocols import identification
from .recipes import finetune_config
from .train import train_or_load

# Rank-1 (%) on TinyFace without distractors, MobileFaceNet (the paper's Table 4), for reference.
PAPER_TABLE4 = {
    "Cross Entropy": 68.884, "NormFace": 68.026, "CosFace": 70.306, "MV-Softmax": 70.547,
    "CurricularFace": 70.655, "MagFace": 70.467, "AdaFace": 70.359, "Baseline (ArcFace)": 70.333,
    "I (+ID)": 71.298, "II (+MSE)": 71.540, "III (+L1)": 71.674, "Ours (all)": 71.915,
}

# name -> (recipe method, RIE weight overrides); the RIE rows keep the paper's weight of each term they use
METHODS = {
    "Cross Entropy": ("softmax", {}),
    "NormFace": ("normface", {}),
    "CosFace": ("cosface", {}),
    "MV-Softmax": ("mvsoftmax", {}),
    "CurricularFace": ("curricularface", {}),
    "MagFace": ("magface", {}),
    "AdaFace": ("adaface", {}),
    "Baseline (ArcFace)": ("arcface", {}),
    "I (+ID)": ("rie", {"alpha": 0.0, "gamma": 0.0}),
    "II (+MSE)": ("rie", {"alpha": 0.0, "beta": 0.0}),
    "III (+L1)": ("rie", {"beta": 0.0, "gamma": 0.0}),
    "Ours (all)": ("rie", {}),
}


def method_config(name: str, profile: str, seed: int):
    method, overrides = METHODS[name]
    config = finetune_config(profile, method, seed=seed, **overrides)
    if overrides:  # distinct cache names for the ablation rows
        config = config.replace(name=f"{method}-{'-'.join(f'{k}{v:g}' for k, v in sorted(overrides.items()))}-{profile}")
    return config


def run(world, pretrained_state: dict, names, seeds, profile: str, model_dir, progress: bool = False) -> list[dict]:
    """One row per (method, seed): rank-1/5/20 in % with and without distractors."""
    train = world["train"]
    rows = []
    for name in names:
        for seed in seeds:
            result = train_or_load(method_config(name, profile, seed), train.images, train.labels, world["ui"].images,
                                   init_state=pretrained_state, cache_dir=model_dir, progress=progress)
            scores = identification(result.model, world)
            rows.append({"method": name, "seed": seed, "seconds": result.seconds,
                         **{f"r{k} {setting}": 100 * v for setting, rates in scores.items() for k, v in rates.items()}})
    return rows


def summarise(rows: list[dict], key: str = "r1 w/o dis") -> dict[str, tuple[float, float, int]]:
    """``{method: (mean, sample std, n_seeds)}`` of one column, in first-seen method order."""
    out: dict[str, list[float]] = {}
    for r in rows:
        out.setdefault(r["method"], []).append(r[key])
    return {m: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else float("nan"), len(v)) for m, v in out.items()}
