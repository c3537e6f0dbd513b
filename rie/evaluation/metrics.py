"""Evaluation metrics of the paper's protocols: identification, verification, open-set and ERC.

Every function takes raw embeddings (torch tensors, ``(N, D)``), L2-normalises them
itself, and scores by cosine similarity (higher = more alike). Labels are integer
identities; their values need not be contiguous.

Conventions shared by every metric (tested in ``tests/test_metrics.py``):

* **Ties in ranking are pessimistic.** A probe's rank is
  ``1 + #{impostor items whose score >= the best genuine score}``: an impostor that
  ties with the true match is placed ahead of it. Other images of the probe's own
  identity never push it down (the rank is that of the *first* correct match).
  "Tie" means equal computed cosines (float32 matmul), so exact duplicates tie.
* **Accepting a comparison is strict:** a score is accepted iff ``score > t``.
* **Exact quantile thresholds.** For a target false-accept rate ``far`` over ``n``
  non-mated scores, let ``k = floor(far * n)`` (the number of false accepts allowed).
  The threshold ``t`` is the smallest *observed* non-mated score with at most ``k``
  non-mated scores strictly above it, i.e. the ``(k+1)``-th largest non-mated score
  (``-inf`` when ``k >= n``). The achieved rate ``#{s > t} / n`` is then ``<= far``,
  and equals ``k / n`` when no non-mated scores tie at ``t``.
  When ``far * n < 1`` (``k = 0``) the threshold is the highest non-mated score: the
  achieved rate is 0, not ``far``, and the estimate is pessimistic (a warning says so
  in ``tpr_at_far`` and ``tpir_at_fpir``).
* Large galleries are streamed in chunks of ``chunk_size`` items (probes in blocks of
  8192); per probe only its best genuine score and a count are kept, so memory is
  ``O(probe_block * chunk_size)`` whatever the gallery size. Ranks are exact, not capped.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Hashable, Sequence

import numpy as np
import torch

from ..common.checks import RIEInputError, check_number

__all__ = [
    "normalize",
    "templates",
    "match_ranks",
    "cmc",
    "BucketResult",
    "rank1_by_bucket",
    "pair_scores",
    "sample_pairs",
    "threshold_at_far",
    "tpr_at_far",
    "tpir_at_fpir",
    "pair_quality",
    "ERCResult",
    "erc",
]

DEFAULT_CHUNK = 2048  # gallery columns per block: a 4k-probe block is then ~32 MB of float32 scores
_PROBE_BLOCK = 8192  # probe rows per block, so memory stays bounded in the number of probes too
_NEG_INF = float("-inf")


# ---------------------------------------------------------------------------------------------
# Input checks and small helpers
# ---------------------------------------------------------------------------------------------


def _check_emb(x, name: str, dim: int | None = None) -> torch.Tensor:
    """Validate a (N, D) embedding set: non-empty, floating, finite, no zero-norm row.

    Works from the row norms (a NaN or inf anywhere makes its row's norm non-finite):
    ``torch.isfinite`` on the whole set would allocate about twice its size.
    """
    if not isinstance(x, torch.Tensor):
        raise RIEInputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2:
        raise RIEInputError(f"{name} must have 2 dimensions (N, D), got shape {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise RIEInputError(f"{name} is empty (shape {tuple(x.shape)}): nothing to evaluate")
    if not x.is_floating_point():
        raise RIEInputError(f"{name} must be a floating tensor, got dtype {x.dtype}")
    if dim is not None and x.shape[1] != dim:
        raise RIEInputError(f"{name} has dimension {x.shape[1]} but the probes have dimension {dim}")
    norms = x.norm(dim=1)
    odd = (~torch.isfinite(norms)).nonzero().flatten()
    if odd.numel():
        bad = odd[~torch.isfinite(x[odd]).all(dim=1)]
        if bad.numel():
            raise RIEInputError(f"{name} contains NaN or inf (first bad rows: {bad[:5].tolist()})")
        raise RIEInputError(f"{name} rows {odd[:5].tolist()} have norms that overflow {x.dtype}: rescale them")
    zero = (norms <= 1e-12).nonzero().flatten()
    if zero.numel():
        raise RIEInputError(f"{name} has zero-norm rows {zero[:5].tolist()}: they have no direction to normalise")
    return x


def _check_ids(labels, n: int, name: str) -> torch.Tensor:
    """Integer identity labels, one per row (any integer values)."""
    if isinstance(labels, np.ndarray) or isinstance(labels, (list, tuple)):
        labels = torch.as_tensor(np.asarray(labels))
    if not isinstance(labels, torch.Tensor):
        raise RIEInputError(f"{name} must be a torch.Tensor of integer identities, got {type(labels).__name__}")
    if labels.ndim != 1 or labels.shape[0] != n:
        raise RIEInputError(f"{name} must have shape ({n},) to match its embeddings, got {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise RIEInputError(f"{name} must be integer identities, got dtype {labels.dtype}")
    return labels.long().cpu()


def _as_numpy_1d(x, name: str, n: int | None = None, kind: str = "float") -> np.ndarray:
    """A 1-D numpy array from a tensor / array / list: float64 finite scores, or a boolean mask."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 1:
        raise RIEInputError(f"{name} must be 1-D, got shape {x.shape}")
    if n is not None and x.shape[0] != n:
        raise RIEInputError(f"{name} has {x.shape[0]} entries but {n} were expected (one per pair)")
    if kind == "bool":
        if x.dtype == bool:
            return x
        if np.issubdtype(x.dtype, np.integer) and np.isin(x, (0, 1)).all():
            return x.astype(bool)
        raise RIEInputError(f"{name} must be boolean (or 0/1 integers), got dtype {x.dtype}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise RIEInputError(f"{name} must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x))[:5].tolist()
        raise RIEInputError(f"{name} contains NaN or inf (first bad entries: {bad})")
    return x


def _check_rates(rates, name: str) -> tuple[float, ...]:
    rates = tuple(float(r) for r in np.atleast_1d(np.asarray(rates, dtype=np.float64)))
    if not rates:
        raise RIEInputError(f"{name} is empty: give at least one operating point")
    bad = [r for r in rates if not 0.0 <= r <= 1.0]
    if bad:
        raise RIEInputError(f"{name} must lie in [0, 1], got {bad}")
    return rates


def _floor_count(frac, n: int):
    """``floor(frac * n)``, robust to float error (0.29 * 100 is 28.999999999999996, meaning 29)."""
    x = np.asarray(frac, dtype=np.float64) * n
    r = np.round(x)
    out = np.where(np.abs(x - r) <= 1e-9 * np.maximum(1.0, x), r, np.floor(x)).astype(np.int64)
    return int(out) if out.ndim == 0 else out


def normalize(emb: torch.Tensor) -> torch.Tensor:
    """Row-wise L2 normalisation in float32 (float64 input stays float64)."""
    emb = emb if emb.dtype == torch.float64 else emb.float()
    return emb / emb.norm(dim=1, keepdim=True)


# ---------------------------------------------------------------------------------------------
# Closed-set identification (TinyFace, SCFace)
# ---------------------------------------------------------------------------------------------


def templates(emb: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One template per identity: the L2-normalised mean of its L2-normalised embeddings.

    Returns ``(template_emb (C, D), template_labels (C,))`` with the labels sorted ascending.
    """
    _check_emb(emb, "template embeddings")
    labels = _check_ids(labels, emb.shape[0], "template labels")
    ids, inverse = torch.unique(labels, return_inverse=True)
    emb_n = normalize(emb.cpu())
    sums = torch.zeros(len(ids), emb.shape[1], dtype=emb_n.dtype).index_add_(0, inverse, emb_n)
    norms = sums.norm(dim=1, keepdim=True)
    # Opposite embeddings of one identity cancel out: such a template has no direction.
    degenerate = (norms.squeeze(1) <= 1e-6 * torch.bincount(inverse).to(norms.dtype)).nonzero().flatten()
    if degenerate.numel():
        raise RIEInputError(f"identities {ids[degenerate[:5]].tolist()} have embeddings that cancel out: zero-norm template")
    return sums / norms, ids


class _Source:
    """A gallery part streamed in chunks: raw embeddings, their inverse norms, labels or None."""

    def __init__(self, emb: torch.Tensor, labels: torch.Tensor | None, dtype: torch.dtype):
        self.emb, self.labels, self.dtype = emb.cpu(), labels, dtype
        self.inv_norm = 1.0 / self.emb.norm(dim=1).to(dtype)  # one pass; chunks are normalised as used

    def chunks(self, chunk_size: int):
        for g0 in range(0, self.emb.shape[0], chunk_size):
            chunk = self.emb[g0 : g0 + chunk_size].to(self.dtype) * self.inv_norm[g0 : g0 + chunk_size, None]
            yield chunk, None if self.labels is None else self.labels[g0 : g0 + chunk_size]


def _probe_blocks(n: int):
    for p0 in range(0, n, _PROBE_BLOCK):
        yield slice(p0, min(n, p0 + _PROBE_BLOCK))


def _best_genuine(probes, probe_labels, sources: list[_Source], chunk_size: int) -> torch.Tensor:
    """Pass 1: each probe's highest cosine to an item of its own identity (-inf if none)."""
    best = torch.full((probes.shape[0],), _NEG_INF, dtype=probes.dtype)
    for rows in _probe_blocks(probes.shape[0]):
        for source in sources:
            if source.labels is None:
                continue
            for chunk, labels in source.chunks(chunk_size):
                same = probe_labels[rows, None] == labels[None, :]
                if same.any():
                    scores = (probes[rows] @ chunk.T).masked_fill_(~same, _NEG_INF)
                    best[rows] = torch.maximum(best[rows], scores.amax(dim=1))
    return best


_GROUP = 32  # columns per group in the counting pre-filter


def _count_at_least(scores: torch.Tensor, thr: torch.Tensor) -> torch.Tensor:
    """Per row, ``#{j : scores[i, j] >= thr[i]}`` (``thr`` has shape (rows, 1)), as int32.

    A group of 32 columns whose maximum is below the row's threshold holds no count, and
    for a probe's own genuine score nearly all groups are such: a max over groups costs
    about a quarter of a compare-and-sum over every element, so only the groups that
    reach the threshold are compared. Dense hits (hard probes) fall back to the plain count.
    """
    n_rows, n_cols = scores.shape
    body = n_cols - n_cols % _GROUP
    groups = scores[:, :body].view(n_rows, -1, _GROUP)
    row, group = (groups.amax(dim=2) >= thr).nonzero(as_tuple=True)
    if row.numel() * 8 > groups.shape[0] * groups.shape[1]:
        return (scores >= thr).sum(dim=1, dtype=torch.int32)
    count = torch.zeros(n_rows, dtype=torch.int32)
    count.index_add_(0, row, (groups[row, group] >= thr[row]).sum(dim=1, dtype=torch.int32))
    return count + (scores[:, body:] >= thr).sum(dim=1, dtype=torch.int32)


def _count_impostors_at_least(probes, probe_labels, thresholds, sources: list[_Source], chunk_size: int) -> torch.Tensor:
    """Pass 2: per probe, #{items of another identity (or unlabelled) with cosine >= its threshold}.

    Counting costs a few percent of the chunk's matmul; a running top-k (``topk`` per
    chunk) costs about a third of it on a 2-core CPU, hence two passes and a count.
    """
    count = torch.zeros(probes.shape[0], dtype=torch.long)
    for rows in _probe_blocks(probes.shape[0]):
        block, thr = probes[rows], thresholds[rows, None]
        for source in sources:
            for chunk, labels in source.chunks(chunk_size):
                scores = block @ chunk.T
                if labels is not None and probe_labels is not None:
                    # Labelled chunks hold the genuine columns, which must not count.
                    at_least = (scores >= thr) & (probe_labels[rows, None] != labels[None, :])
                    count[rows] += at_least.sum(dim=1, dtype=torch.int32)
                else:
                    count[rows] += _count_at_least(scores, thr)
    return count


def _top1(probes, sources: list[_Source], chunk_size: int) -> torch.Tensor:
    """Each probe's highest cosine over all items."""
    best = torch.full((probes.shape[0],), _NEG_INF, dtype=probes.dtype)
    for rows in _probe_blocks(probes.shape[0]):
        for source in sources:
            for chunk, _ in source.chunks(chunk_size):
                best[rows] = torch.maximum(best[rows], (probes[rows] @ chunk.T).amax(dim=1))
    return best


def _work_dtype(*tensors) -> torch.dtype:
    return torch.float64 if any(t is not None and t.dtype == torch.float64 for t in tensors) else torch.float32


def _check_chunk(chunk_size) -> int:
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise RIEInputError(f"chunk_size must be a positive integer, got {chunk_size}")
    return int(chunk_size)


def match_ranks(
    probe_emb: torch.Tensor,
    probe_labels: torch.Tensor,
    gallery_emb: torch.Tensor,
    gallery_labels: torch.Tensor,
    distractor_emb: torch.Tensor | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    allow_unmatched: bool = False,
) -> torch.Tensor:
    """Per probe, the exact rank of its first correct gallery match (int64, 1 = best).

    rank = 1 + #{gallery or distractor items of *another* identity whose cosine is >= the
    probe's best cosine to its own identity} (pessimistic ties). Distractors are unknown
    identities: every one of them is an impostor.

    Two streamed passes: the labelled gallery for the best genuine score, then every item
    for the count (the labelled gallery, small next to the distractors, is scored twice).

    Closed set: a probe whose identity has no gallery item raises ``RIEInputError``, unless
    ``allow_unmatched=True``, which gives it rank ``len(gallery) + len(distractors) + 1``
    (a failure at every rank).
    """
    _check_emb(probe_emb, "probe embeddings")
    dim = probe_emb.shape[1]
    _check_emb(gallery_emb, "gallery embeddings", dim)
    probe_labels = _check_ids(probe_labels, probe_emb.shape[0], "probe labels")
    gallery_labels = _check_ids(gallery_labels, gallery_emb.shape[0], "gallery labels")
    if distractor_emb is not None:
        _check_emb(distractor_emb, "distractor embeddings", dim)
    chunk_size = _check_chunk(chunk_size)
    unmatched = ~torch.isin(probe_labels, gallery_labels)
    if unmatched.any() and not allow_unmatched:
        missing = torch.unique(probe_labels[unmatched])[:5].tolist()
        raise RIEInputError(
            f"{int(unmatched.sum())} probes have identities absent from the gallery (e.g. {missing}): closed-set "
            "identification needs every probe identity in the gallery (pass allow_unmatched=True to count them as failures)"
        )
    dtype = _work_dtype(probe_emb, gallery_emb, distractor_emb)
    sources = [_Source(gallery_emb, gallery_labels, dtype)]
    if distractor_emb is not None:
        sources.append(_Source(distractor_emb, None, dtype))
    probes = normalize(probe_emb.cpu()).to(dtype)
    best = _best_genuine(probes, probe_labels, sources, chunk_size)
    ranks = 1 + _count_impostors_at_least(probes, probe_labels, best, sources, chunk_size)
    ranks[unmatched] = sum(s.emb.shape[0] for s in sources) + 1
    return ranks


def cmc(
    probe_emb: torch.Tensor,
    probe_labels: torch.Tensor,
    gallery_emb: torch.Tensor,
    gallery_labels: torch.Tensor,
    ranks: Sequence[int] = (1, 5, 20),
    distractor_emb: torch.Tensor | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    allow_unmatched: bool = False,
) -> dict[int, float]:
    """Closed-set cumulative match characteristic (TinyFace protocol).

    Identification rate at rank k = fraction of probes whose first correct gallery match
    is within the top k by cosine similarity, ties counted against the probe (see
    :func:`match_ranks`). Distractors, when given, join the gallery as impostors.
    Returns ``{k: rate}`` with rates in [0, 1].
    """
    # int(1.5) would silently report rank 1 as "rank 1.5"; int(nan) raises a bare ValueError
    if isinstance(ranks, (str, bytes)) or not hasattr(ranks, "__iter__"):
        raise RIEInputError(f"ranks must be a sequence of positive integers, got {ranks!r}")
    ranks = tuple(ranks)
    if not ranks:
        raise RIEInputError("ranks must be positive integers, got none")
    ranks = tuple(int(check_number(r, "ranks", low=1, integer=True)) for r in ranks)
    found = match_ranks(probe_emb, probe_labels, gallery_emb, gallery_labels, distractor_emb, chunk_size, allow_unmatched)
    return {r: float((found <= r).double().mean()) for r in ranks}


class BucketResult(dict):
    """``{bucket: rank-1 rate}`` with ``.counts = {bucket: number of probes}``."""

    def __init__(self, rates: dict, counts: dict):
        super().__init__(rates)
        self.counts = counts

    def __repr__(self) -> str:
        return f"BucketResult(rates={dict(self)}, counts={self.counts})"


def rank1_by_bucket(
    probe_emb: torch.Tensor,
    probe_labels: torch.Tensor,
    gallery_emb: torch.Tensor,
    gallery_labels: torch.Tensor,
    buckets: Sequence[Hashable] | torch.Tensor,
    distractor_emb: torch.Tensor | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    allow_unmatched: bool = False,
) -> BucketResult:
    """Rank-1 identification rate per group of probes (SCFace's per-distance table).

    ``buckets`` gives each probe's group (e.g. the distance ``"4.2m"`` or a resolution
    bin). Every probe is ranked against the *whole* gallery; only the averaging is per
    group. Returns a dict ``{bucket: rate}`` (buckets sorted when sortable, else in order
    of first appearance) with the probe counts in ``.counts``.
    """
    keys = buckets.tolist() if isinstance(buckets, (torch.Tensor, np.ndarray)) else list(buckets)
    if isinstance(probe_emb, torch.Tensor) and probe_emb.ndim == 2 and len(keys) != probe_emb.shape[0]:
        raise RIEInputError(f"buckets has {len(keys)} entries but there are {probe_emb.shape[0]} probes (one per probe)")
    hit = match_ranks(probe_emb, probe_labels, gallery_emb, gallery_labels, distractor_emb, chunk_size, allow_unmatched) == 1
    groups: dict = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    try:
        order = sorted(groups)
    except TypeError:  # mixed key types: keep first-appearance order
        order = list(groups)
    rates = {key: float(hit[groups[key]].double().mean()) for key in order}
    counts = {key: len(groups[key]) for key in order}
    return BucketResult(rates, counts)


# ---------------------------------------------------------------------------------------------
# Verification (QMUL-SurvFace TPR@FAR)
# ---------------------------------------------------------------------------------------------


def pair_scores(emb_a: torch.Tensor, emb_b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of each pair of rows: ``cos(a_i, b_i)``, shape ``(N,)``."""
    _check_emb(emb_a, "emb_a")
    _check_emb(emb_b, "emb_b")
    if emb_a.shape != emb_b.shape:
        raise RIEInputError(f"emb_a and emb_b must have the same shape, got {tuple(emb_a.shape)} and {tuple(emb_b.shape)}")
    return (normalize(emb_a) * normalize(emb_b)).sum(dim=1)


def _distinct_in_order(keys: torch.Tensor) -> torch.Tensor:
    """The distinct values of ``keys`` in order of first occurrence.

    Keeping first occurrences of an i.i.d. uniform stream gives a uniform random subset
    (taking the first of a *sorted* unique list would not).
    """
    uniq, inverse = torch.unique(keys, return_inverse=True)
    first = torch.full((len(uniq),), len(keys), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(len(keys)), reduce="amin")
    return keys[first.sort().values]


def _uniform_below(bound: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One uniform integer in ``[0, bound_i)`` per entry (float64 draws; bias < 2^-40)."""
    u = torch.rand(bound.shape, generator=gen, dtype=torch.float64)
    return torch.minimum((u * bound).long(), bound - 1)


def sample_pairs(
    labels: torch.Tensor,
    n_mated: int,
    n_nonmated: int,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample verification pairs ``(i, j)`` of image indices, ``i < j``, uniformly.

    Mated pairs share an identity; non-mated pairs do not. No self-pairs; no pair twice
    (as an unordered pair) unless more pairs are requested than exist, in which case all
    distinct pairs are returned plus uniform repeats, with a warning. Deterministic given
    ``seed`` (or an explicit ``generator``, which is then advanced).

    Returns ``(pairs (n_mated + n_nonmated, 2) int64, is_mated (n,) bool)``, mated first.
    Raises ``RIEInputError`` when a kind of pair is requested but none exists (no identity
    with two images, or a single identity).
    """
    if isinstance(labels, torch.Tensor) and labels.ndim == 1 and labels.numel() == 0:
        raise RIEInputError("labels is empty: there are no images to pair")
    n = len(labels) if hasattr(labels, "__len__") else 0
    labels = _check_ids(labels, n, "labels")
    for name, count in (("n_mated", n_mated), ("n_nonmated", n_nonmated)):
        if int(count) != count or count < 0:
            raise RIEInputError(f"{name} must be a non-negative integer, got {count}")
    gen = generator if generator is not None else torch.Generator().manual_seed(int(seed))

    # Images sorted by identity: identity g occupies positions [start[g], start[g] + count[g]).
    _, ident, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    order = torch.argsort(ident, stable=True)
    start = torch.cumsum(counts, 0) - counts
    position = torch.empty(n, dtype=torch.long)
    position[order] = torch.arange(n)
    own = counts[ident]  # size of each image's identity
    total_mated = int((counts * (counts - 1) // 2).sum())
    total_nonmated = n * (n - 1) // 2 - total_mated

    def draw_ordered(num: int, mated: bool) -> torch.Tensor:
        # First image weighted by its number of partners, then a uniform partner: every
        # ordered pair is equally likely, hence every unordered pair too.
        partners = (own - 1) if mated else (n - own)
        cum = torch.cumsum(partners.double(), 0)
        first = torch.searchsorted(cum, torch.rand(num, generator=gen, dtype=torch.float64) * cum[-1], right=True)
        first = first.clamp_max(n - 1)
        r = _uniform_below(partners[first], gen)
        g = ident[first]
        if mated:  # skip the first image's own slot inside its identity block
            slot = r + (r >= position[first] - start[g]).long()
            second = order[start[g] + slot]
        else:  # skip the whole block of the first image's identity
            second = order[torch.where(r < start[g], r, r + counts[g])]
        lo, hi = torch.minimum(first, second), torch.maximum(first, second)
        return lo * n + hi

    def enumerate_mated() -> tuple[torch.Tensor, torch.Tensor]:
        # Sorted position p (local index a in a block of c) pairs with the c-1-a positions after it.
        a = torch.arange(n) - start[ident[order]]
        partners_after = counts[ident[order]] - 1 - a
        first = torch.repeat_interleave(torch.arange(n), partners_after)
        block_start = torch.cumsum(partners_after, 0) - partners_after
        offset = torch.arange(len(first)) - torch.repeat_interleave(block_start, partners_after)
        return order[first], order[first + 1 + offset]

    def enumerate_nonmated() -> tuple[torch.Tensor, torch.Tensor]:
        i, j = torch.triu_indices(n, n, offset=1)
        keep = labels[i] != labels[j]
        return i[keep], j[keep]

    def sample(num: int, mated: bool, total: int) -> torch.Tensor:
        kind = "mated" if mated else "non-mated"
        if num == 0:
            return torch.empty(0, dtype=torch.long)
        if total == 0:
            why = "no identity has 2 images" if mated else "all images share one identity"
            raise RIEInputError(f"cannot sample {num} {kind} pairs: {why}")
        if 2 * num > total and (mated or n * (n - 1) // 2 <= 20_000_000):
            # Near-exhaustive request (total <= 2 * num, so this stays small): enumerate and shuffle.
            i, j = enumerate_mated() if mated else enumerate_nonmated()
            keys = torch.minimum(i, j) * n + torch.maximum(i, j)
            keys = keys[torch.randperm(len(keys), generator=gen)]
        else:  # uniform draws, keeping the first occurrence of each pair
            keys = torch.empty(0, dtype=torch.long)
            while len(keys) < min(num, total):
                want = min(num, total) - len(keys)
                keys = _distinct_in_order(torch.cat([keys, draw_ordered(max(2 * want, 1024), mated)]))
        if num > total:
            warnings.warn(f"{num} {kind} pairs requested but only {total} distinct exist: the rest are repeats", stacklevel=3)
            keys = torch.cat([keys, draw_ordered(num - total, mated)])
        return keys[:num]

    keys = torch.cat([sample(int(n_mated), True, total_mated), sample(int(n_nonmated), False, total_nonmated)])
    pairs = torch.stack([keys // n, keys % n], dim=1)
    is_mated = torch.arange(len(keys)) < int(n_mated)
    return pairs, is_mated


def threshold_at_far(nonmated_scores, far: float) -> float:
    """Exact-quantile threshold: the ``(k+1)``-th largest non-mated score, ``k = floor(far * n)``.

    It is the smallest observed non-mated score ``t`` with ``#{s > t} / n <= far``; scores
    are accepted iff ``> t``. ``k >= n`` (far = 1) gives ``-inf`` (accept everything);
    ``far * n < 1`` gives the maximum non-mated score (achieved rate 0).
    """
    scores = _as_numpy_1d(nonmated_scores, "non-mated scores")
    if scores.size == 0:
        raise RIEInputError("no non-mated scores: a threshold at a false-accept rate needs at least one")
    (far,) = _check_rates([far], "far")
    n = scores.size
    k = _floor_count(far, n)
    if k >= n:
        return _NEG_INF
    return float(np.partition(scores, n - k - 1)[n - k - 1])


def _warn_if_coarse(rate: float, n: int, what: str, population: str) -> None:
    if 0 < rate * n < 1 and not _floor_count(rate, n):
        warnings.warn(
            f"{what} {rate:g} needs at least {math.ceil(1 / rate)} {population} (got {n}): the threshold is the "
            f"highest of them, so the achieved {what} is 0 and the result is pessimistic",
            stacklevel=3,
        )


def tpr_at_far(scores, is_mated, fars: Sequence[float] = (0.3, 0.1, 0.01, 0.001)) -> dict[float, float]:
    """True accept rate of mated pairs at each false accept rate (exact quantile thresholds).

    For each FAR, ``t = threshold_at_far(non-mated scores, far)`` and
    ``TPR = #{mated scores > t} / #mated``. Returns ``{far: tpr}``.
    """
    scores = _as_numpy_1d(scores, "scores")
    is_mated = _as_numpy_1d(is_mated, "is_mated", scores.size, kind="bool")
    fars = _check_rates(fars, "fars")
    mated, nonmated = scores[is_mated], scores[~is_mated]
    if mated.size == 0 or nonmated.size == 0:
        raise RIEInputError(f"TPR@FAR needs mated and non-mated scores, got {mated.size} mated and {nonmated.size} non-mated")
    out = {}
    for far in fars:
        _warn_if_coarse(far, nonmated.size, "FAR", "non-mated scores")
        out[far] = float((mated > threshold_at_far(nonmated, far)).mean())
    return out


# ---------------------------------------------------------------------------------------------
# Open-set identification (QMUL-SurvFace TPIR@FPIR)
# ---------------------------------------------------------------------------------------------


def tpir_at_fpir(
    probe_emb: torch.Tensor,
    probe_labels: torch.Tensor,
    gallery_emb: torch.Tensor,
    gallery_labels: torch.Tensor,
    unmated_emb: torch.Tensor,
    fpirs: Sequence[float] = (0.3, 0.2, 0.1),
    rank: int = 20,
    chunk_size: int = DEFAULT_CHUNK,
) -> dict[float, float]:
    """Open-set true positive identification rate at false positive identification rates.

    The gallery is reduced to one template per identity (:func:`templates`).
    * An unmated probe (identity not enrolled) raises a false alarm at threshold ``t`` iff
      its top-1 template score is ``> t``: ``FPIR(t) = #{top1 > t} / #unmated``.
    * ``t`` at FPIR ``f`` is the exact quantile of the unmated top-1 scores
      (:func:`threshold_at_far`), so the achieved FPIR is ``<= f``.
    * ``TPIR_rank(t)`` = fraction of mated probes whose true template is within the top
      ``rank`` (pessimistic ties) AND scores ``> t`` (strict, as for the false alarms).
    Returns ``{fpir: tpir}``. Every ``probe_labels`` identity must be in the gallery.
    """
    _check_emb(probe_emb, "mated probe embeddings")
    dim = probe_emb.shape[1]
    _check_emb(gallery_emb, "gallery embeddings", dim)
    _check_emb(unmated_emb, "unmated probe embeddings", dim)
    probe_labels = _check_ids(probe_labels, probe_emb.shape[0], "probe labels")
    gallery_labels = _check_ids(gallery_labels, gallery_emb.shape[0], "gallery labels")
    fpirs = _check_rates(fpirs, "fpirs")
    if int(rank) != rank or rank < 1:
        raise RIEInputError(f"rank must be a positive integer, got {rank}")
    unmatched = ~torch.isin(probe_labels, gallery_labels)
    if unmatched.any():
        raise RIEInputError(
            f"{int(unmatched.sum())} mated probes have identities absent from the gallery "
            f"(e.g. {torch.unique(probe_labels[unmatched])[:5].tolist()}): pass them as unmated_emb instead"
        )
    chunk_size = _check_chunk(chunk_size)
    tmpl, tmpl_labels = templates(gallery_emb.cpu(), gallery_labels)
    sources = [_Source(tmpl, tmpl_labels, tmpl.dtype)]
    probes = normalize(probe_emb.cpu()).to(tmpl.dtype)
    genuine = _best_genuine(probes, probe_labels, sources, chunk_size)  # the score of the true template
    in_rank = 1 + _count_impostors_at_least(probes, probe_labels, genuine, sources, chunk_size) <= rank
    unmated_top1 = _top1(normalize(unmated_emb.cpu()).to(tmpl.dtype), sources, chunk_size).double().numpy()
    out = {}
    for f in fpirs:
        _warn_if_coarse(f, unmated_top1.size, "FPIR", "unmated probes")
        t = threshold_at_far(unmated_top1, f)
        out[f] = float((in_rank & (genuine.double() > t)).double().mean())
    return out


# ---------------------------------------------------------------------------------------------
# Error-versus-reject characteristic (Fig. 7)
# ---------------------------------------------------------------------------------------------


def pair_quality(quality_a, quality_b) -> torch.Tensor:
    """A pair's quality is the lower of its two images' qualities (higher = better)."""
    a = torch.as_tensor(quality_a)
    b = torch.as_tensor(quality_b)
    if a.shape != b.shape:
        raise RIEInputError(f"quality_a and quality_b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return torch.minimum(a, b)


@dataclass
class ERCResult:
    """An error-versus-reject curve, one FNMR curve per target FMR.

    ``reject_fractions``: the requested fractions of all pairs to reject (the x grid).
    ``rejected_fractions``: the fractions actually rejected (whole quality-tie groups).
    ``fnmr[fmr]``, ``threshold[fmr]``, ``achieved_fmr[fmr]``: one value per reject level;
    ``fnmr`` is NaN where no mated pair remains.
    ``area[fmr]``: trapezoid area under the FNMR curve over ``reject_fractions``.
    ``pauc[fmr]``: the same area over ``[0, pauc_limit]`` (curve linearly interpolated at
    the limit), not normalised.
    """

    style: str
    fmrs: tuple[float, ...]
    reject_fractions: np.ndarray
    rejected_fractions: np.ndarray
    n_mated: np.ndarray
    n_nonmated: np.ndarray
    fnmr: dict[float, np.ndarray]
    threshold: dict[float, np.ndarray]
    achieved_fmr: dict[float, np.ndarray]
    pauc_limit: float
    area: dict[float, float] = field(default_factory=dict)
    pauc: dict[float, float] = field(default_factory=dict)


def _erc_inputs(scores, is_mated, quality, fmrs, reject_fractions, style, pauc_limit):
    scores = _as_numpy_1d(scores, "scores")
    n = scores.size
    if n == 0:
        raise RIEInputError("scores is empty: the ERC needs pairs")
    is_mated = _as_numpy_1d(is_mated, "is_mated", n, kind="bool")
    quality = _as_numpy_1d(quality, "pair_quality", n)
    if is_mated.all() or not is_mated.any():
        raise RIEInputError(f"the ERC needs mated and non-mated pairs, got {int(is_mated.sum())} mated of {n}")
    fmrs = _check_rates(fmrs, "fmrs")
    fractions = np.linspace(0.0, 0.95, 20) if reject_fractions is None else np.asarray(reject_fractions, dtype=np.float64)
    if fractions.ndim != 1 or fractions.size == 0 or not np.all((fractions >= 0) & (fractions < 1)):
        raise RIEInputError(f"reject_fractions must be a non-empty 1-D list in [0, 1), got {reject_fractions!r}")
    if np.any(np.diff(fractions) <= 0):
        raise RIEInputError("reject_fractions must be strictly increasing")
    if style not in ("recompute", "fixed"):
        raise RIEInputError(f"style must be 'recompute' (CR-FIQA, MagFace) or 'fixed' (EDC, fiqat), got {style!r}")
    if not 0 < pauc_limit <= 1:
        raise RIEInputError(f"pauc_limit must lie in (0, 1], got {pauc_limit}")
    return scores, is_mated, quality, fmrs, fractions


def _areas(result: ERCResult) -> ERCResult:
    x = result.reject_fractions
    for fmr in result.fmrs:
        y = result.fnmr[fmr]
        result.area[fmr] = float(np.trapezoid(y, x)) if x.size > 1 else 0.0
        inside = x < result.pauc_limit
        xs, ys = x[inside], y[inside]
        if x.size > inside.sum():  # close the partial curve at the limit by linear interpolation
            xs, ys = np.append(xs, result.pauc_limit), np.append(ys, np.interp(result.pauc_limit, x, y))
        result.pauc[fmr] = float(np.trapezoid(ys, xs)) if xs.size > 1 else 0.0
    return result


def erc(
    scores,
    is_mated,
    pair_quality,
    fmrs: Sequence[float] = (1e-3, 1e-4),
    reject_fractions=None,
    style: str = "recompute",
    pauc_limit: float = 0.2,
) -> ERCResult:
    """Error-versus-reject characteristic: FNMR at a fixed FMR as low-quality pairs are rejected.

    Definitions (both styles):
    * A pair's quality is ``pair_quality`` (use :func:`pair_quality`: min of the two images'
      qualities; higher = better). Rejection is of **pairs**, mated and non-mated together,
      as in CR-FIQA / MagFace: the fraction is of all pairs, not of images.
    * Reject level ``f``: let ``m = floor(f * n)`` over all ``n`` pairs and ``q*`` the
      ``(m+1)``-th lowest pair quality. Every pair with quality ``< q*`` is rejected. This
      rejects ``m`` pairs when qualities are distinct; when pairs tie at ``q*`` the whole
      tie group is kept (never more than ``m`` rejected). The result depends only on the
      multiset of (score, mated, quality) triples, never on input order; the realised
      fraction is in ``rejected_fractions``.
    * FNMR = ``#{remaining mated pairs with score <= t} / #{remaining mated}`` (accept iff
      ``score > t``), NaN if no mated pair remains.
    * ``style="recompute"`` (CR-FIQA, MagFace): ``t`` is recomputed at every level as the
      exact quantile (:func:`threshold_at_far`) of the *remaining* non-mated scores.
      (CR-FIQA's code picks the ROC point whose FMR is nearest the target; the exact
      quantile never exceeds it.)
    * ``style="fixed"`` (EDC, ISO/IEC 29794-1 work, fiqat): ``t`` is fixed once from all
      non-mated scores before any rejection; the achieved FMR then drifts with rejection.
      Both styles reject the same pairs, so their curves differ only in the threshold
      rule (fiqat's FNMR-EDC instead measures the discard fraction over mated pairs only).

    ``reject_fractions`` default: 0, 0.05, ..., 0.95 (CR-FIQA's grid). ``area``: trapezoid
    over that grid; ``pauc``: trapezoid over ``[0, pauc_limit]`` (0.2 by default, the
    discard limit commonly used with EDC; fiqat integrates a step function over every
    discard count instead, which a fine grid approaches).

    Fast path: one sort by quality; the remaining set at each level is a suffix of that
    order, counted with suffix sums (fixed) or an O(n) selection of the suffix's non-mated
    scores (recompute). The straightforward oracle is in the tests (``tests/erc_oracle.py``).
    """
    scores, is_mated, quality, fmrs, fractions = _erc_inputs(
        scores, is_mated, pair_quality, fmrs, reject_fractions, style, pauc_limit
    )
    n = scores.size
    order = np.argsort(quality, kind="stable")
    q, s, m = quality[order], scores[order], is_mated[order]
    # Remaining set at a level = the suffix [start:] of the quality order (whole tie groups).
    starts = np.searchsorted(q, q[_floor_count(fractions, n)], side="left")

    def suffix_sum(flags: np.ndarray) -> np.ndarray:  # count of flags in [i:], for i = 0..n
        return np.concatenate([np.cumsum(flags[::-1])[::-1], [0]])

    mated_left, nonmated_left = suffix_sum(m)[starts], suffix_sum(~m)[starts]
    mated_scores, nonmated_scores = s[m], s[~m]  # both still in quality order
    # Index where the remaining suffix begins inside each of the two sub-arrays.
    mated_from, nonmated_from = mated_scores.size - mated_left, nonmated_scores.size - nonmated_left

    fnmr, thresholds, achieved = {}, {}, {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for fmr in fmrs:
            if style == "fixed":
                t = threshold_at_far(nonmated_scores, fmr)
                thr = np.full(fractions.size, t)
                false_non_match = suffix_sum(m & (s <= t))[starts]
                false_match = suffix_sum(~m & (s > t))[starts]
            else:
                thr = np.empty(fractions.size)
                false_non_match = np.empty(fractions.size, dtype=np.int64)
                false_match = np.empty(fractions.size, dtype=np.int64)
                for level in range(fractions.size):
                    remaining = nonmated_scores[nonmated_from[level] :]
                    k = _floor_count(fmr, remaining.size)
                    if k >= remaining.size:
                        thr[level] = _NEG_INF
                    else:  # O(n) selection of the (k+1)-th largest, no sort
                        thr[level] = np.partition(remaining, remaining.size - k - 1)[remaining.size - k - 1]
                    false_non_match[level] = np.count_nonzero(mated_scores[mated_from[level] :] <= thr[level])
                    false_match[level] = np.count_nonzero(remaining > thr[level])
            fnmr[fmr] = np.where(mated_left > 0, false_non_match / mated_left, np.nan)
            thresholds[fmr] = thr
            achieved[fmr] = np.where(nonmated_left > 0, false_match / nonmated_left, np.nan)
    result = ERCResult(
        style=style,
        fmrs=fmrs,
        reject_fractions=fractions,
        rejected_fractions=starts / n,
        n_mated=mated_left,
        n_nonmated=nonmated_left,
        fnmr=fnmr,
        threshold=thresholds,
        achieved_fmr=achieved,
        pauc_limit=float(pauc_limit),
    )
    return _areas(result)


