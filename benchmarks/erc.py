"""Full error-versus-reject characteristic (Fig. 7) at SurvFace-like scale.

70,888 synthetic pairs (20,888 mated, 50,000 non-mated), seeded: qualities uniform in
[0, 1] (rounded to 3 decimals, so quality ties occur as they do with real quality
scores), pair quality = min of two image qualities, mated scores rising with quality.
20 reject levels (0, 0.05, ..., 0.95), FMR 1e-3 and 1e-4, both styles. Times the fast
``rie.evaluation.metrics.erc`` (target: both styles together in at most 1 s) against ``erc_naive``
(filter, re-sort and re-threshold at every level) in the same run, and checks that they
agree exactly.

    .venv/bin/python benchmarks/erc.py
    .venv/bin/python benchmarks/erc.py --quick
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from erc_oracle import erc_naive

from rie.evaluation.metrics import erc

TARGET_SECONDS = 1.0
STYLES = ("recompute", "fixed")


def synthetic_pairs(n_mated: int, n_nonmated: int, seed: int):
    gen = np.random.default_rng(seed)
    n = n_mated + n_nonmated
    quality = np.round(np.minimum(gen.random(n), gen.random(n)), 3)
    mated_scores = 0.15 + 0.55 * quality[:n_mated] + 0.12 * gen.standard_normal(n_mated)
    nonmated_scores = 0.08 * gen.standard_normal(n_nonmated)
    scores = np.concatenate([mated_scores, nonmated_scores]).astype(np.float32)
    is_mated = np.r_[np.ones(n_mated, bool), np.zeros(n_nonmated, bool)]
    order = gen.permutation(n)  # mated and non-mated interleaved, as read from a pair list
    return scores[order], is_mated[order], quality[order]


def run_all(fn, scores, is_mated, quality, fmrs, fractions):
    start = time.perf_counter()
    results = {style: fn(scores, is_mated, quality, fmrs, fractions, style) for style in STYLES}
    return time.perf_counter() - start, results


def agree(a, b) -> bool:
    same = np.array_equal(a.rejected_fractions, b.rejected_fractions)
    for fmr in a.fmrs:
        same &= np.array_equal(a.fnmr[fmr], b.fnmr[fmr], equal_nan=True)
        same &= np.array_equal(a.threshold[fmr], b.threshold[fmr])
        same &= a.area[fmr] == b.area[fmr] or (np.isnan(a.area[fmr]) and np.isnan(b.area[fmr]))
    return bool(same)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mated", type=int, default=20_888)
    parser.add_argument("--nonmated", type=int, default=50_000)
    parser.add_argument("--levels", type=int, default=20, help="reject fractions 0, ..., 0.95")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of each side (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a fifth of the pairs")
    args = parser.parse_args()
    if args.quick:
        args.mated, args.nonmated = args.mated // 5, args.nonmated // 5

    scores, is_mated, quality = synthetic_pairs(args.mated, args.nonmated, args.seed)
    fmrs = (1e-3, 1e-4)
    fractions = np.linspace(0.0, 0.95, args.levels)
    print(f"{args.mated + args.nonmated} pairs ({args.mated} mated, {args.nonmated} non-mated), "
          f"{args.levels} reject levels, FMR {fmrs}, styles {STYLES}")

    fast_times, naive_times = [], []
    for _ in range(args.repeats):  # alternate, so load from other processes hits both alike
        t, fast = run_all(erc, scores, is_mated, quality, fmrs, fractions)
        fast_times.append(t)
        t, naive = run_all(erc_naive, scores, is_mated, quality, fmrs, fractions)
        naive_times.append(t)
    t_fast, t_naive = min(fast_times), min(naive_times)
    same = all(agree(fast[s], naive[s]) for s in STYLES)

    for style in STYLES:
        r = fast[style]
        for fmr in fmrs:
            curve = r.fnmr[fmr]
            print(f"{style:9s} FMR {fmr:g}: FNMR {curve[0]:.4f} at 0% -> {curve[-1]:.4f} at {fractions[-1]:.0%}, "
                  f"area {r.area[fmr]:.4f}, pAUC(<= {r.pauc_limit:g}) {r.pauc[fmr]:.4f}")
    print(f"fast erc  (both styles) {t_fast * 1000:8.1f} ms")
    print(f"erc_naive (both styles) {t_naive * 1000:8.1f} ms")
    print(f"speed-up {t_naive / t_fast:.1f}x; fast and naive agree exactly: {'PASS' if same else 'FAIL'}")
    ok_time = t_fast <= TARGET_SECONDS
    print(f"time {t_fast:.3f} s <= {TARGET_SECONDS} s: {'PASS' if ok_time else 'FAIL'}")
    return 0 if ok_time and same else 1


if __name__ == "__main__":
    raise SystemExit(main())
