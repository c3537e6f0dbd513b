"""The straightforward ERC, the oracle that ``rie.evaluation.metrics.erc`` is tested against."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from rie.evaluation.metrics import _NEG_INF, ERCResult, _areas, _erc_inputs, _floor_count


def erc_naive(
    scores,
    is_mated,
    pair_quality,
    fmrs: Sequence[float] = (1e-3, 1e-4),
    reject_fractions=None,
    style: str = "recompute",
    pauc_limit: float = 0.2,
) -> ERCResult:
    """Same definitions as :func:`erc`, computed the straightforward way (the test oracle).

    At every reject level: sort the qualities, find the cut quality, filter the pairs,
    sort the remaining non-mated scores and read the threshold off the sorted list.
    """
    scores, is_mated, quality, fmrs, fractions = _erc_inputs(
        scores, is_mated, pair_quality, fmrs, reject_fractions, style, pauc_limit
    )
    n = scores.size
    levels = fractions.size
    fnmr = {f: np.empty(levels) for f in fmrs}
    thresholds = {f: np.empty(levels) for f in fmrs}
    achieved = {f: np.empty(levels) for f in fmrs}
    rejected, n_mated, n_nonmated = np.empty(levels), np.empty(levels, dtype=np.int64), np.empty(levels, dtype=np.int64)

    def sorted_threshold(nonmated: np.ndarray, fmr: float) -> float:
        desc = np.sort(nonmated)[::-1]
        k = _floor_count(fmr, desc.size)
        return _NEG_INF if k >= desc.size else float(desc[k])

    for level, f in enumerate(fractions):
        cut = np.sort(quality)[_floor_count(f, n)]
        keep = quality >= cut
        mated, nonmated = scores[keep & is_mated], scores[keep & ~is_mated]
        rejected[level], n_mated[level], n_nonmated[level] = np.count_nonzero(~keep) / n, mated.size, nonmated.size
        for fmr in fmrs:
            t = sorted_threshold(scores[~is_mated] if style == "fixed" else nonmated, fmr)
            thresholds[fmr][level] = t
            fnmr[fmr][level] = (mated <= t).mean() if mated.size else np.nan
            achieved[fmr][level] = (nonmated > t).mean() if nonmated.size else np.nan
    result = ERCResult(
        style=style,
        fmrs=fmrs,
        reject_fractions=fractions,
        rejected_fractions=rejected,
        n_mated=n_mated,
        n_nonmated=n_nonmated,
        fnmr=fnmr,
        threshold=thresholds,
        achieved_fmr=achieved,
        pauc_limit=float(pauc_limit),
    )
    return _areas(result)
