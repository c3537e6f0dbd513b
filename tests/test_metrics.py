"""Evaluation metrics: hand-computed cases for every metric, oracles, and bad input.

Hand cases use vectors whose cosines are exact in binary floating point (axis vectors
and h = (1/2, 1/2, 1/2, 1/2)), so ties are real ties.
"""

import warnings

import numpy as np
import pytest
import torch
from erc_oracle import erc_naive

from rie.common.checks import RIEInputError
from rie.evaluation import metrics
from rie.evaluation.metrics import (
    cmc,
    erc,
    match_ranks,
    pair_quality,
    pair_scores,
    rank1_by_bucket,
    sample_pairs,
    templates,
    threshold_at_far,
    tpir_at_fpir,
    tpr_at_far,
)

E = torch.eye(4)
H = torch.full((4,), 0.5)


def hand_identification():
    # Gallery: e0 (id 0), e1 (id 1), e2 (id 2), h (id 3).
    gallery = torch.stack([E[0], E[1], E[2], H])
    gallery_labels = torch.tensor([0, 1, 2, 3])
    # p0 = e0, id 0: genuine 1, impostors 0, 0, 0.5                  -> rank 1
    # p1 = 3h, id 3: genuine 1 (after normalising), impostors 0.5 x3 -> rank 1
    # p2 = e2, id 1: genuine 0; impostors e0 0 (tie), e2 1, h 0.5    -> rank 4 (a tie counts against)
    probes = torch.stack([E[0], 3 * H, E[2]])
    probe_labels = torch.tensor([0, 3, 1])
    return probes, probe_labels, gallery, gallery_labels


# ----------------------------------------------------------------------------- identification


def test_cmc_hand_case_with_pessimistic_tie():
    probes, probe_labels, gallery, gallery_labels = hand_identification()
    assert match_ranks(probes, probe_labels, gallery, gallery_labels).tolist() == [1, 1, 4]
    # rank-1 = 2/3; rank-3 still 2/3 (an optimistic tie rule would give rank 3 to p2); rank-4 = 1.
    assert cmc(probes, probe_labels, gallery, gallery_labels, ranks=(1, 3, 4)) == pytest.approx({1: 2 / 3, 3: 2 / 3, 4: 1.0})


def test_distractors_lower_rank1():
    probes, probe_labels, gallery, gallery_labels = hand_identification()
    # Distractor e0: ties p0's genuine 1 -> rank 2; p1 sees 0.5 < 1 -> rank 1; p2 sees 0 >= 0 -> rank 5.
    distractors = E[0:1].clone()
    ranks = match_ranks(probes, probe_labels, gallery, gallery_labels, distractor_emb=distractors)
    assert ranks.tolist() == [2, 1, 5]
    assert cmc(probes, probe_labels, gallery, gallery_labels, (1, 5), distractors) == pytest.approx({1: 1 / 3, 5: 1.0})


def test_other_images_of_own_identity_do_not_count():
    # Probe e1 (id 1); gallery e1 (id 1), e1 (id 1), h (id 0): the second genuine copy is not an impostor.
    gallery = torch.stack([E[1], E[1], H])
    assert match_ranks(E[1:2], torch.tensor([1]), gallery, torch.tensor([1, 1, 0])).tolist() == [1]
    # The best genuine score counts: genuine e0 (0.5) and h (1); impostor e2 (0.5 < 1) -> rank 1.
    gallery = torch.stack([E[0], H, E[2]])
    assert match_ranks(H[None], torch.tensor([5]), gallery, torch.tensor([5, 5, 6])).tolist() == [1]


def test_unmatched_probe_raises_unless_counted_as_failure():
    probes, probe_labels, gallery, gallery_labels = hand_identification()
    probe_labels = torch.tensor([0, 3, 9])  # identity 9 is not enrolled
    with pytest.raises(RIEInputError, match="absent from the gallery"):
        cmc(probes, probe_labels, gallery, gallery_labels)
    rates = cmc(probes, probe_labels, gallery, gallery_labels, ranks=(1, 4), allow_unmatched=True)
    assert rates == pytest.approx({1: 2 / 3, 4: 2 / 3})


def test_chunked_equals_unchunked_and_brute_force(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    probes, gallery, distractors = torch.randn(40, 8, generator=gen), torch.randn(60, 8, generator=gen), torch.randn(90, 8, generator=gen)
    gallery_labels = torch.arange(60) % 25
    probe_labels = torch.randint(0, 25, (40,), generator=gen)
    one = match_ranks(probes, probe_labels, gallery, gallery_labels, distractors, chunk_size=1)
    big = match_ranks(probes, probe_labels, gallery, gallery_labels, distractors, chunk_size=10_000)
    odd = match_ranks(probes, probe_labels, gallery, gallery_labels, distractors, chunk_size=7)
    assert torch.equal(one, big) and torch.equal(one, odd)
    monkeypatch.setattr(metrics, "_PROBE_BLOCK", 7)  # probes in several blocks too
    assert torch.equal(one, match_ranks(probes, probe_labels, gallery, gallery_labels, distractors, chunk_size=9))
    # Brute force over the full matrix.
    unit = lambda x: x / x.norm(dim=1, keepdim=True)  # noqa: E731
    scores = unit(probes) @ unit(torch.cat([gallery, distractors])).T
    same = probe_labels[:, None] == torch.cat([gallery_labels, torch.full((90,), -1)])[None, :]
    genuine = scores.masked_fill(~same, -2).amax(dim=1)
    expected = 1 + ((scores >= genuine[:, None]) & ~same).sum(dim=1)
    assert torch.equal(one, expected)
    rates = cmc(probes, probe_labels, gallery, gallery_labels, (1, 5, 20), distractors, chunk_size=3)
    assert rates == {k: pytest.approx(float((expected <= k).double().mean())) for k in (1, 5, 20)}


def test_group_prefilter_count_equals_plain_count():
    gen = torch.Generator().manual_seed(0)
    for cols in (5, 32, 100, 2048):
        scores = torch.randn(50, cols, generator=gen)
        for level in (3.0, 2.0, 0.0, float("-inf")):  # sparse hits ... dense fallback
            thr = level + 0.3 * torch.randn(50, 1, generator=gen)
            expected = (scores >= thr).sum(dim=1, dtype=torch.int32)
            assert torch.equal(metrics._count_at_least(scores, thr), expected)


def test_rank1_by_bucket_hand_case():
    probes, probe_labels, gallery, gallery_labels = hand_identification()
    # Ranks are [1, 1, 4]: "far" holds p0 (hit) and p2 (miss) -> 1/2; "near" holds p1 -> 1.
    result = rank1_by_bucket(probes, probe_labels, gallery, gallery_labels, buckets=["far", "near", "far"])
    assert dict(result) == {"far": 0.5, "near": 1.0}
    assert result.counts == {"far": 2, "near": 1}
    with pytest.raises(RIEInputError, match="one per probe"):
        rank1_by_bucket(probes, probe_labels, gallery, gallery_labels, buckets=["far"])


def test_templates_mean_of_normalised_features():
    emb = torch.stack([3 * E[0], E[1], 2 * E[2]])
    tmpl, ids = templates(emb, torch.tensor([7, 7, 2]))
    assert ids.tolist() == [2, 7]  # sorted labels
    s = 2**-0.5
    torch.testing.assert_close(tmpl, torch.tensor([[0, 0, 1, 0], [s, s, 0, 0]], dtype=torch.float32))
    with pytest.raises(RIEInputError, match="cancel out"):
        templates(torch.stack([E[0], -E[0]]), torch.tensor([1, 1]))


# ----------------------------------------------------------------------------- verification


def test_pair_scores_cosine():
    a = torch.stack([2 * E[0], H, E[1]])
    b = torch.stack([E[0], E[0], -3 * E[1]])
    torch.testing.assert_close(pair_scores(a, b), torch.tensor([1.0, 0.5, -1.0]))


def test_tpr_at_far_exact_thresholds():
    nonmated = np.arange(1, 11) / 10  # 0.1 ... 1.0, n = 10
    mated = np.array([0.55, 0.7, 0.75, 0.95, 1.05])
    scores = np.concatenate([mated, nonmated])
    is_mated = np.r_[np.ones(5, bool), np.zeros(10, bool)]
    # FAR 0.3: k = 3 false accepts allowed -> t = 4th largest = 0.7; mated > 0.7: 0.75, 0.95, 1.05 -> 3/5
    #   (0.7 itself is not accepted: acceptance is strict).
    # FAR 0.1: k = 1 -> t = 0.9 -> 0.95, 1.05 -> 2/5.    FAR 1: t = -inf -> all accepted.
    assert threshold_at_far(nonmated, 0.3) == 0.7
    assert tpr_at_far(scores, is_mated, fars=(0.3, 0.1, 1.0)) == pytest.approx({0.3: 0.6, 0.1: 0.4, 1.0: 1.0})
    # FAR 0.01 with 10 non-mated scores: k = 0 -> t = max = 1.0 -> only 1.05 -> 1/5, and a warning.
    with pytest.warns(UserWarning, match="achieved FAR is 0"):
        assert tpr_at_far(scores, is_mated, fars=(0.01,)) == pytest.approx({0.01: 0.2})
    # Ties at the threshold: [0.5, 0.5, 0.5, 0.1], FAR 0.25 -> k = 1 -> t = 2nd largest = 0.5,
    # achieved FAR 0 (< 0.25): the three tied scores cannot be split.
    assert threshold_at_far([0.5, 0.5, 0.5, 0.1], 0.25) == 0.5
    # Robust to float error: 0.29 * 100 = 28.999999999999996 must still allow 29 false accepts.
    assert threshold_at_far(np.arange(100.0), 0.29) == 70.0


def test_sample_pairs_valid_distinct_and_deterministic():
    labels = torch.tensor([0, 0, 0, 1, 1, 2])  # 3 + 1 = 4 mated pairs, 15 - 4 = 11 non-mated pairs
    pairs, is_mated = sample_pairs(labels, 4, 11, seed=3)
    assert pairs.shape == (15, 2) and is_mated.tolist() == [True] * 4 + [False] * 11
    i, j = pairs[:, 0], pairs[:, 1]
    assert (i < j).all()  # no self-pairs, canonical order
    assert torch.equal(labels[i] == labels[j], is_mated)
    assert len({tuple(p) for p in pairs.tolist()}) == 15  # every pair exactly once
    again, _ = sample_pairs(labels, 4, 11, seed=3)
    assert torch.equal(pairs, again)
    big = torch.arange(400) % 50
    p1, _ = sample_pairs(big, 300, 300, seed=1)
    p2, _ = sample_pairs(big, 300, 300, generator=torch.Generator().manual_seed(1))
    p3, _ = sample_pairs(big, 300, 300, seed=2)
    assert torch.equal(p1, p2) and not torch.equal(p1, p3)
    assert len({tuple(p) for p in p1.tolist()}) == 600


def test_sample_pairs_uniform_over_pairs_not_identities():
    # Identity 0 has 20 images (190 mated pairs); identities 1..190 have 2 images (1 pair each).
    # Uniform over the 380 mated pairs, half the draws come from identity 0 (choosing the
    # identity first would give 1/191, choosing an image first 20/400).
    labels = torch.cat([torch.zeros(20, dtype=torch.long), torch.arange(1, 191).repeat_interleave(2)])
    from_big = 0
    for seed in range(5):
        pairs, _ = sample_pairs(labels, 100, 0, seed=seed)
        from_big += int((labels[pairs[:, 0]] == 0).sum())
    assert 220 <= from_big <= 280  # 250 expected, sd ~ 10
    # Non-mated: 20 * 380 = 7600 of the C(400, 2) - 380 = 79,420 non-mated pairs involve identity 0 (9.6 %).
    pairs, is_mated = sample_pairs(labels, 0, 2000, seed=0)
    share = float(((labels[pairs[:, 0]] == 0) | (labels[pairs[:, 1]] == 0)).double().mean())
    assert abs(share - 7600 / 79420) < 0.025  # sd ~ 0.007


def test_sample_pairs_impossible_and_too_many():
    with pytest.raises(RIEInputError, match="no identity has 2 images"):
        sample_pairs(torch.tensor([0, 1, 2]), 1, 0)
    with pytest.raises(RIEInputError, match="share one identity"):
        sample_pairs(torch.tensor([4, 4, 4]), 1, 1)
    with pytest.warns(UserWarning, match="only 1 distinct"):
        pairs, _ = sample_pairs(torch.tensor([0, 0, 1]), 3, 0)
    assert pairs.tolist() == [[0, 1]] * 3


# ----------------------------------------------------------------------------- open set


def test_tpir_at_fpir_hand_case():
    # Gallery images -> templates e0 (id 0), e1 (id 1, from two images), e2 (id 2).
    gallery = torch.stack([E[0], E[1], 5 * E[1], E[2]])
    gallery_labels = torch.tensor([0, 1, 1, 2])
    # Mated: m0 = e0 (id 0): genuine 1, rank 1.   m1 = h (id 1): genuine 0.5, ties e0 and e2 -> rank 3.
    #        m2 = (0, 1, 0, 1)/sqrt2 (id 1): genuine 0.707, rank 1.
    mated = torch.stack([E[0], H, E[1] + E[3]])
    mated_labels = torch.tensor([0, 1, 1])
    # Unmated top-1 scores: e3 -> 0;  h -> 0.5;  (1, 0, 0, 1)/sqrt2 -> 0.707;  (0, 0, 3, 1) -> 0.949.
    unmated = torch.stack([E[3], H, E[0] + E[3], 3 * E[2] + E[3]])
    # FPIR 0.5: k = 2 -> t = 3rd largest = 0.5: m0 (1 > 0.5), m2 (0.707 > 0.5); m1 (0.5, not > t) -> 2/3.
    # FPIR 0.75: k = 3 -> t = 0: at rank 1, m1 (rank 3) misses -> 2/3; at rank 3 it counts -> 1.
    # FPIR 0.25: k = 1 -> t = 0.707 (the unmated (1,0,0,1) score): m2 ties it and is not accepted -> 1/3.
    rank1 = tpir_at_fpir(mated, mated_labels, gallery, gallery_labels, unmated, fpirs=(0.5, 0.75), rank=1)
    assert rank1 == pytest.approx({0.5: 2 / 3, 0.75: 2 / 3})
    rank3 = tpir_at_fpir(mated, mated_labels, gallery, gallery_labels, unmated, fpirs=(0.5, 0.75, 0.25), rank=3)
    assert rank3 == pytest.approx({0.5: 2 / 3, 0.75: 1.0, 0.25: 1 / 3})
    with pytest.raises(RIEInputError, match="pass them as unmated_emb"):
        tpir_at_fpir(mated, torch.tensor([0, 1, 8]), gallery, gallery_labels, unmated)


# ----------------------------------------------------------------------------- ERC

#        a     b     c     d     e     f     g     h     i     j
ERC_Q = [0.1, 0.2, 0.2, 0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 1.0]  # pair quality; b, c tie; h, i tie
ERC_M = [1, 0, 1, 0, 1, 0, 0, 1, 0, 0]  # mated: a c e h; non-mated: b d f g i j
ERC_S = [0.2, 0.9, 0.3, 0.1, 0.8, 0.4, 0.2, 0.45, 0.3, 0.5]
ERC_F = [0.0, 0.1, 0.2, 0.3, 0.5]


def test_erc_hand_case_both_styles_with_quality_ties():
    # Level f: m = floor(10 f), q* = (m+1)-th lowest quality, reject quality < q*.
    #   f=0   : none rejected.
    #   f=0.1 : q* = 0.2 -> reject a.
    #   f=0.2 : q* = 0.2 again (b, c tie) -> still only a: a tie group is never split (realised 0.1).
    #   f=0.3 : q* = 0.5 -> reject a, b, c.      f=0.5: q* = 0.7 -> reject a..e.
    # FMR 0.2. Fixed: all 6 non-mated, k = 1 -> t = 2nd largest = 0.5 at every level.
    #   FNMR (mated <= 0.5 / mated left): {a,c,h}/4, {c,h}/3, {c,h}/3, {h}/2, {h}/1.
    # Recompute: f=0..0.2 same 6 non-mated -> t = 0.5; f=0.3: {d,f,g,i,j}, k = 1 -> t = 0.4, h = 0.45
    #   is accepted -> 0; f=0.5: {f,g,i,j}, k = floor(0.8) = 0 -> t = max = 0.5 -> h rejected -> 1.
    for fn in (erc, erc_naive):
        rec = fn(ERC_S, ERC_M, ERC_Q, fmrs=(0.2,), reject_fractions=ERC_F, style="recompute")
        fix = fn(ERC_S, ERC_M, ERC_Q, fmrs=(0.2,), reject_fractions=ERC_F, style="fixed")
        np.testing.assert_allclose(rec.rejected_fractions, [0, 0.1, 0.1, 0.3, 0.5])
        np.testing.assert_allclose(rec.fnmr[0.2], [3 / 4, 2 / 3, 2 / 3, 0, 1])
        np.testing.assert_allclose(fix.fnmr[0.2], [3 / 4, 2 / 3, 2 / 3, 1 / 2, 1])
        np.testing.assert_allclose(rec.threshold[0.2], [0.5, 0.5, 0.5, 0.4, 0.5])
        np.testing.assert_allclose(fix.threshold[0.2], [0.5] * 5)
        # Achieved FMR: fixed drifts (1/6, 1/6, 1/6, 0/5, 0/4); recompute: (1/6, 1/6, 1/6, 1/5, 0/4).
        np.testing.assert_allclose(fix.achieved_fmr[0.2], [1 / 6, 1 / 6, 1 / 6, 0, 0])
        np.testing.assert_allclose(rec.achieved_fmr[0.2], [1 / 6, 1 / 6, 1 / 6, 1 / 5, 0])
        # Trapezoid over x = 0, .1, .2, .3, .5 (in 240ths):
        #   recompute 17 + 16 + 8 + 24 = 65;  fixed 17 + 16 + 14 + 36 = 83.
        assert rec.area[0.2] == pytest.approx(65 / 240) and fix.area[0.2] == pytest.approx(83 / 240)
        # pAUC to 0.2 (a grid point): 17 + 16 = 33 for both.
        assert rec.pauc[0.2] == pytest.approx(33 / 240) and fix.pauc[0.2] == pytest.approx(33 / 240)
    # A limit between grid points interpolates: at 0.25 recompute FNMR = 1/3 -> + (2/3 + 1/3)/2 * 0.05.
    rec = erc(ERC_S, ERC_M, ERC_Q, fmrs=(0.2,), reject_fractions=ERC_F, pauc_limit=0.25)
    assert rec.pauc[0.2] == pytest.approx(33 / 240 + 0.025)


def test_erc_does_not_depend_on_input_order():
    gen = np.random.default_rng(0)
    for _ in range(5):
        perm = gen.permutation(10)
        for style in ("recompute", "fixed"):
            base = erc(ERC_S, ERC_M, ERC_Q, fmrs=(0.2,), reject_fractions=ERC_F, style=style)
            shuffled = erc(np.array(ERC_S)[perm], np.array(ERC_M)[perm], np.array(ERC_Q)[perm], (0.2,), ERC_F, style)
            np.testing.assert_array_equal(base.fnmr[0.2], shuffled.fnmr[0.2])
            np.testing.assert_array_equal(base.rejected_fractions, shuffled.rejected_fractions)


@pytest.mark.parametrize("style", ["recompute", "fixed"])
def test_fast_erc_equals_naive_on_random_data(style):
    gen = np.random.default_rng(1)
    for trial in range(4):
        n_m, n_n = gen.integers(50, 400), gen.integers(200, 3000)
        quality = np.round(gen.random(n_m + n_n), 2)  # coarse: many quality ties
        scores = np.round(np.r_[0.3 + 0.5 * quality[:n_m] + 0.2 * gen.standard_normal(n_m), 0.1 * gen.standard_normal(n_n)], 3)
        is_mated = np.r_[np.ones(n_m, bool), np.zeros(n_n, bool)]
        fmrs = (0.1, 1e-2, 1e-3)
        fractions = None if trial % 2 else np.linspace(0, 0.9, 37)
        fast = erc(scores, is_mated, quality, fmrs, fractions, style)
        slow = erc_naive(scores, is_mated, quality, fmrs, fractions, style)
        np.testing.assert_array_equal(fast.rejected_fractions, slow.rejected_fractions)
        np.testing.assert_array_equal(fast.n_mated, slow.n_mated)
        for fmr in fmrs:
            np.testing.assert_array_equal(fast.fnmr[fmr], slow.fnmr[fmr])
            np.testing.assert_array_equal(fast.threshold[fmr], slow.threshold[fmr])
            np.testing.assert_array_equal(fast.achieved_fmr[fmr], slow.achieved_fmr[fmr])
            assert fast.area[fmr] == slow.area[fmr] and fast.pauc[fmr] == slow.pauc[fmr]


def test_erc_reports_nan_when_no_mated_pair_remains():
    # Only non-mated pairs have the top quality: at f = 0.5 none of the mated pairs remains.
    result = erc([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9], fmrs=(0.5,), reject_fractions=[0, 0.5])
    assert result.fnmr[0.5][0] == 0.0 and np.isnan(result.fnmr[0.5][1])


def test_pair_quality_is_min():
    assert pair_quality(torch.tensor([0.2, 0.9]), torch.tensor([0.5, 0.1])).tolist() == pytest.approx([0.2, 0.1])


# ----------------------------------------------------------------------------- bad input


def test_identification_bad_input():
    probes, probe_labels, gallery, gallery_labels = hand_identification()
    with pytest.raises(RIEInputError, match="empty"):
        cmc(torch.empty(0, 4), torch.empty(0, dtype=torch.long), gallery, gallery_labels)
    with pytest.raises(RIEInputError, match="dimension 3 but the probes have dimension 4"):
        cmc(probes, probe_labels, gallery[:, :3], gallery_labels)
    with pytest.raises(RIEInputError, match="NaN"):
        cmc(probes, probe_labels, gallery.clone().fill_(float("nan")), gallery_labels)
    with pytest.raises(RIEInputError, match="zero-norm"):
        cmc(torch.zeros_like(probes), probe_labels, gallery, gallery_labels)
    with pytest.raises(RIEInputError, match="integer identities"):
        cmc(probes, probe_labels.float(), gallery, gallery_labels)
    with pytest.raises(RIEInputError, match=r"shape \(4,\)"):
        cmc(probes, probe_labels, gallery, gallery_labels[:3])
    with pytest.raises(RIEInputError, match="distractor embeddings"):
        cmc(probes, probe_labels, gallery, gallery_labels, distractor_emb=torch.ones(2, 5))
    with pytest.raises(RIEInputError, match="ranks"):
        cmc(probes, probe_labels, gallery, gallery_labels, ranks=(0,))
    with pytest.raises(RIEInputError, match="chunk_size"):
        cmc(probes, probe_labels, gallery, gallery_labels, chunk_size=0)
    with pytest.raises(RIEInputError, match="same shape"):
        pair_scores(probes, gallery)


def test_verification_and_erc_bad_input():
    with pytest.raises(RIEInputError, match="mated and non-mated"):
        tpr_at_far([0.1, 0.2], [True, True])
    with pytest.raises(RIEInputError, match="2 entries but 3"):
        tpr_at_far([0.1, 0.2, 0.3], [True, False])
    with pytest.raises(RIEInputError, match=r"\[0, 1\]"):
        tpr_at_far([0.1, 0.2], [True, False], fars=(1.5,))
    with pytest.raises(RIEInputError, match="NaN"):
        tpr_at_far([0.1, float("nan")], [True, False])
    with pytest.raises(RIEInputError, match="boolean"):
        tpr_at_far([0.1, 0.2], [0.5, 1.0])
    with pytest.raises(RIEInputError, match="style"):
        erc(ERC_S, ERC_M, ERC_Q, style="edc")
    with pytest.raises(RIEInputError, match=r"\[0, 1\)"):
        erc(ERC_S, ERC_M, ERC_Q, reject_fractions=[0, 1.0])
    with pytest.raises(RIEInputError, match="strictly increasing"):
        erc(ERC_S, ERC_M, ERC_Q, reject_fractions=[0.2, 0.1])
    with pytest.raises(RIEInputError, match="pair_quality contains NaN"):
        erc(ERC_S, ERC_M, [float("nan")] * 10)
    with pytest.raises(RIEInputError, match="mated and non-mated"):
        erc([0.1, 0.2], [0, 0], [0.1, 0.2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a valid call warns about nothing
        erc(ERC_S, ERC_M, ERC_Q, fmrs=(0.2,))


@pytest.mark.parametrize("ranks", [(1.5,), (float("nan"),), ("1",), 1, ()])
def test_cmc_ranks_must_be_positive_integers(ranks):
    """Issue 17: 1.5 was read as rank 1, NaN raised a bare ValueError."""
    emb = torch.eye(3)
    labels = torch.arange(3)
    with pytest.raises(RIEInputError, match="ranks must be"):
        cmc(emb, labels, emb, labels, ranks=ranks)
