"""The verdict rule, in one place: an effect paired by seed and its 95 % paired-t interval.

Two methods are compared seed by seed (the same encoder and fine-tuning seeds on both sides), so
what varies from one seed to the next cancels in the differences. The rule (``judge``):

* "holds"          the 95 % interval of the mean difference lies above 0;
* "reversed"       it lies below 0;
* "within spread"  it contains 0 (with one seed the interval is unbounded: always this);
* "undefined"      the effect itself is undefined (e.g. a correlation of constant values).

Every verdict line (``claims_text``) carries the effect, its interval and n, in one format
that ``docs/make_ledger.py`` reads back from the executed notebooks (``parse_claims``).
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

import numpy as np
from scipy import stats

from ..common.checks import RIEInputError

LEVEL = 0.95
VERDICTS = ("holds", "within spread", "reversed", "undefined")


class Effect(NamedTuple):
    """A mean effect over n seeds: its sample std and its two-sided ``LEVEL`` t interval [lo, hi]."""

    mean: float
    sd: float
    n: int
    lo: float
    hi: float


def seed_stats(values) -> tuple[float, float, int]:
    """(mean, sample std, n) of per-seed values; the std is NaN for one seed."""
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)


def effect(values, level: float = LEVEL) -> Effect:
    """The mean of per-seed values (or of per-seed differences) with its t interval (n - 1 degrees of freedom)."""
    v = np.asarray(values, dtype=float).ravel()
    if len(v) == 0:
        raise RIEInputError("an effect needs at least one seed")
    mean, sd, n = seed_stats(v)
    if n < 2 or not math.isfinite(mean):
        return Effect(mean, sd, n, -math.inf, math.inf)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return Effect(mean, sd, n, mean - half, mean + half)


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


def paired_effect(rows: list[dict], a, b, key: str = "r1 w/o dis", by: str = "method") -> Effect:
    """``a`` minus ``b`` on the seeds both have, as an ``Effect``."""
    seeds = per_seed(rows, key, by)
    for g in (a, b):
        if g not in seeds:
            raise RIEInputError(f"{g!r} has no rows; groups: {list(seeds)}")
    common = sorted(set(seeds[a]) & set(seeds[b]))
    if not common:
        raise RIEInputError(f"{a!r} and {b!r} share no seed")
    return effect([seeds[a][s] - seeds[b][s] for s in common])


def judge(e: Effect) -> str:
    """The rule of the module docstring."""
    if not isinstance(e, Effect):
        raise RIEInputError(f"judge takes an Effect (rie.evaluation.verdicts.effect), got {type(e).__name__}")
    if math.isnan(e.mean):
        return "undefined"
    if e.lo > 0:
        return "holds"
    if e.hi < 0:
        return "reversed"
    return "within spread"


def make_claim(claim: str, e: Effect, unit: str = "pp") -> dict:
    """One claim for ``claims_text``."""
    if not isinstance(e, Effect):
        raise RIEInputError(f"make_claim takes an Effect (rie.evaluation.verdicts.effect), got {type(e).__name__}")
    return {"claim": claim, "effect": e.mean, "lo": e.lo, "hi": e.hi, "n": e.n, "unit": unit, "verdict": judge(e)}


def interval_text(mean: float, lo: float, hi: float, n: int, unit: str = "pp", digits: int = 2) -> str:
    """``+1.23 pp, 95% CI [+0.40, +2.06], n = 4``."""
    unit = f" {unit}" if unit else ""
    return f"{mean:+.{digits}f}{unit}, {LEVEL:.0%} CI [{lo:+.{digits}f}, {hi:+.{digits}f}], n = {n}"


def claims_text(claims: list[dict], digits: int = 2) -> str:
    """One line per claim: VERDICT, the claim, the effect, its interval and n."""
    return "\n".join(f"{c['verdict'].upper():15s} {c['claim']}: "
                     + interval_text(c["effect"], c["lo"], c["hi"], c["n"], c["unit"], digits) for c in claims)


_LINE = re.compile(r"^(HOLDS|WITHIN SPREAD|REVERSED|UNDEFINED)\s+(.+): ([-+]?(?:[\d.]+|inf|nan))(?: (\S+))?, "
                   r"\d+% CI \[(\S+), (\S+)\], n = (\d+)\s*$")


def parse_claims(text: str) -> list[dict]:
    """The claims in printed text (``claims_text``'s lines), as dicts; other lines are ignored."""
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            verdict, claim, mean, unit, lo, hi, n = m.groups()
            out.append({"claim": claim, "effect": float(mean), "lo": float(lo), "hi": float(hi), "n": int(n),
                        "unit": unit or "", "verdict": verdict.lower()})
    return out
