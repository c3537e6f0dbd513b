"""The verdict rule: two methods compared seed by seed, an effect against its seed-to-seed spread.

``summarise`` turns rows of per-seed results into mean and sample standard deviation per group;
``paired_effect`` and ``judge`` compare two groups seed by seed; ``make_claim`` and
``claims_text`` write the verdict lines the notebooks print.
"""

from __future__ import annotations

import math

import numpy as np

from ..common.checks import RIEInputError


def seed_stats(values) -> tuple[float, float, int]:
    """(mean, sample std, n) of per-seed values; the std is NaN for one seed."""
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)


def summarise(rows: list[dict], key: str = "r1 w/o dis", by: str = "method") -> dict:
    """``{group: (mean, sample std, n_seeds)}`` of one column, in first-seen order of ``by``
    (``by`` may be a tuple of columns, e.g. ``("weight", "value")``)."""
    out: dict = {}
    for r in rows:
        if key not in r:
            raise RIEInputError(f"column {key!r} not in the rows; columns: {sorted(r)}")
        group = tuple(r[b] for b in by) if isinstance(by, tuple) else r[by]
        out.setdefault(group, []).append(r[key])
    return {g: seed_stats(v) for g, v in out.items()}


def per_seed(rows: list[dict], key: str, by: str = "method") -> dict:
    """``{group: {seed: value}}``."""
    out: dict = {}
    for r in rows:
        group = tuple(r[b] for b in by) if isinstance(by, tuple) else r[by]
        out.setdefault(group, {})[r["seed"]] = r[key]
    return out


def paired_effect(rows: list[dict], a, b, key: str = "r1 w/o dis", by: str = "method") -> tuple[float, float, int]:
    """``a`` minus ``b`` on the seeds both have: (mean difference, sample std of the differences, n)."""
    seeds = per_seed(rows, key, by)
    for g in (a, b):
        if g not in seeds:
            raise RIEInputError(f"{g!r} has no rows; groups: {list(seeds)}")
    common = sorted(set(seeds[a]) & set(seeds[b]))
    if not common:
        raise RIEInputError(f"{a!r} and {b!r} share no seed")
    return seed_stats([seeds[a][s] - seeds[b][s] for s in common])


def judge(effect: float, spread: float) -> str:
    """The verdict rule used by the notebooks: an effect counts when it exceeds its seed-to-seed spread.

    "holds" if ``effect > spread``; "reversed" if ``effect < -spread``; otherwise "within spread"
    (the sign alone is not evidence). Without a spread (one seed, or an undefined per-seed value):
    "no seed spread"; an undefined effect (e.g. a correlation of constant values): "undefined".
    """
    if math.isnan(effect):
        return "undefined"
    if math.isnan(spread):
        return "no seed spread"
    if effect > spread:
        return "holds"
    if effect < -spread:
        return "reversed"
    return "within spread"


def make_claim(claim: str, effect: tuple[float, float, int], unit: str = "pp") -> dict:
    """One claim for ``claims_text``: ``effect`` = (mean, seed spread, n), judged by ``judge``."""
    mean, sd, n = effect
    return {"claim": claim, "effect": mean, "spread": sd, "n": n, "unit": unit, "verdict": judge(mean, sd)}


def claims_text(claims: list[dict], digits: int = 2) -> str:
    lines = []
    for c in claims:
        lines.append(f"{c['verdict'].upper():15s} {c['claim']}: {c['effect']:+.{digits}f} {c['unit']} "
                     f"(seed spread {c['spread']:.{digits}f}, n = {c['n']})")
    return "\n".join(lines)
