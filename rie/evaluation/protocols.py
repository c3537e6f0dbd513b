"""Evaluation protocols on the synthetic face world (TinyFace's role), and the resolution ladder."""

from __future__ import annotations

import torch

from ..data.synth import TIERS, render, sample_identities, sample_nuisance
from .inference import embed
from .metrics import BucketResult, cmc, pair_scores, rank1_by_bucket, sample_pairs, tpir_at_fpir, tpr_at_far

RANKS = (1, 5, 20)
FARS = (0.3, 0.1, 0.01, 0.001)  # SurvFace verification
FPIRS = (0.3, 0.2, 0.1)  # SurvFace open-set identification
RESOLUTION_EDGES = (8, 12, 16, 20, 25)  # probe-resolution buckets (px) of rank1_by_resolution
LADDER = (32, 24, 20, 16, 12, 10, 8)  # sensor resolutions in pixels; 32 = the full model input


def embed_test_split(model, world, scoring: str = "v", u=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scoring embeddings (``rie.evaluation.inference.SCORING``) of the probe, gallery and distractor roles.

    Every protocol below takes ``scoring`` and ``u`` (the UI centre, for ``"v_prime"``) and passes them here.
    """
    return tuple(embed(model, world[role].images, scoring, u) for role in ("probe", "gallery", "distractor"))


def _split(model, world, scoring, u, embedded):
    """``embedded`` (``embed_test_split``'s output, computed once per model by the caller) or a fresh embedding."""
    return embed_test_split(model, world, scoring, u) if embedded is None else embedded


def identification(model, world, ranks=RANKS, scoring: str = "v", u=None, embedded=None) -> dict:
    """Closed-set rank-k identification on the test split, with and without distractors (TinyFace)."""
    p, g, d = _split(model, world, scoring, u, embedded)
    pl, gl = world["probe"].labels, world["gallery"].labels
    return {"w/o dis": cmc(p, pl, g, gl, ranks), "w/ dis": cmc(p, pl, g, gl, ranks, distractor_emb=d)}


def resolution_buckets(resolution_px: torch.Tensor, edges=RESOLUTION_EDGES) -> tuple[list[int], list[str]]:
    """Each probe's bucket number by sensor resolution, and the buckets' names ("8-11 px", ...)."""
    names = [f"{lo}-{hi - 1} px" for lo, hi in zip(edges[:-1], edges[1:])]
    bucket = torch.bucketize(resolution_px, torch.tensor(edges[1:-1], dtype=resolution_px.dtype), right=True)
    return bucket.tolist(), names


def named_buckets(found: BucketResult, names: list[str]) -> BucketResult:
    """Integer bucket keys sort by resolution; they are named only afterwards ("8-11 px" sorts after "20-24 px")."""
    return BucketResult({names[b]: r for b, r in found.items()}, {names[b]: n for b, n in found.counts.items()})


def rank1_by_resolution(model, world, edges=RESOLUTION_EDGES, scoring: str = "v", u=None, embedded=None) -> dict:
    """Rank-1 (with distractors) per probe-resolution bucket: the analogue of SCFace's per-distance table."""
    bucket, names = resolution_buckets(world["probe"].params["resolution_px"], edges)
    p, g, d = _split(model, world, scoring, u, embedded)
    found = rank1_by_bucket(p, world["probe"].labels, g, world["gallery"].labels, bucket, distractor_emb=d)
    return named_buckets(found, names)


def verification_pairs(world, n_mated: int, n_nonmated: int, seed: int = 0):
    """Verification pairs over the test split's gallery and probe images.

    Returns ``(images, labels, pairs, is_mated)``; ``pairs`` index ``images``.
    """
    images = torch.cat([world["gallery"].images, world["probe"].images])
    labels = torch.cat([world["gallery"].labels, world["probe"].labels])
    pairs, is_mated = sample_pairs(labels, n_mated, n_nonmated, seed=seed)
    return images, labels, pairs, is_mated


def verification(model, world, n_mated: int = 6000, n_nonmated: int = 50000, fars=FARS, seed: int = 0,
                 scoring: str = "v", u=None, embedded=None) -> dict:
    """TPR@FAR on pairs sampled from the test split (SurvFace's verification protocol, exact thresholds)."""
    images, _, pairs, is_mated = verification_pairs(world, n_mated, n_nonmated, seed)
    if embedded is None:
        v = embed(model, images, scoring, u)
    else:  # the pairs index gallery then probe images
        p, g, _ = embedded
        v = torch.cat([g, p])
    return tpr_at_far(pair_scores(v[pairs[:, 0]], v[pairs[:, 1]]), is_mated, fars)


def open_set(model, world, fpirs=FPIRS, rank: int = 20, scoring: str = "v", u=None, embedded=None) -> dict:
    """TPIR_rank@FPIR: probes against one template per gallery identity, the distractors as unmated probes (SurvFace)."""
    p, g, d = _split(model, world, scoring, u, embedded)
    return tpir_at_fpir(p, world["probe"].labels, g, world["gallery"].labels, d, fpirs=fpirs, rank=rank)


def ladder_images(n_identities: int = 100, per_id: int = 4, resolutions=LADDER, image_size: int = 32, seed: int = 12345,
                  with_boxes: bool = False):
    """Unseen people photographed with mild nuisance: an HR gallery and one probe set per sensor resolution.

    Returns ``(gallery_images, gallery_labels, {resolution: (probe_images, probe_labels)})``, and with
    ``with_boxes`` a fourth item, the probes' (N, 3, 4) eyes/nose/mouth boxes (the same at every rung).
    Only the camera's resolution changes along the ladder; pose, light and expression are
    the same draws at every rung, so the curve isolates the effect of resolution.
    """
    gen = torch.Generator().manual_seed(seed)
    people = sample_identities(n_identities, gen)
    labels = torch.arange(n_identities).repeat_interleave(per_id)
    gallery = render(people, sample_nuisance(n_identities, gen, "clean", image_size), image_size, degrade=False).images
    nuisance = sample_nuisance(len(labels), gen, TIERS["hr"], image_size)
    probes, boxes = {}, None
    for r in resolutions:
        camera = {"resolution_px": float(min(r, image_size)), "blur_sigma": 0.0, "noise_std": 0.0, "jpeg_quality": 100.0}
        batch = render(people[labels], nuisance, image_size, degrade=camera)
        probes[r], boxes = (batch.images, labels), batch.boxes  # the boxes are drawn before the camera
    return (gallery, torch.arange(n_identities), probes) + ((boxes,) if with_boxes else ())


def resolution_ladder(model, ladder, scoring: str = "v", u=None) -> dict[int, float]:
    """Rank-1 of HR-gallery vs probe identification at each rung of ``ladder_images``."""
    gallery, gallery_labels, probes = ladder
    g = embed(model, gallery, scoring, u)
    return {r: cmc(embed(model, imgs, scoring, u), lab, g, gallery_labels, ranks=(1,))[1] for r, (imgs, lab) in probes.items()}


def labelled_faces(n_identities: int, per_id: int, tier="moderate", seed: int = 0, image_size: int = 32, people=None):
    """``per_id`` images of each of ``n_identities`` new people (or of ``people``), nuisance from ``tier``.

    Returns ``(images uint8 (N, 3, S, S), labels (N,), difficulty (N,))``, identity-major order.
    """
    gen = torch.Generator().manual_seed(seed)
    people = sample_identities(n_identities, gen) if people is None else people
    labels = torch.arange(len(people)).repeat_interleave(per_id)
    batch = render(people[labels], sample_nuisance(len(labels), gen, tier, image_size), image_size)
    return batch.images, labels, batch.difficulty


def unlabelled_faces(n: int, tier="ui", seed: int = 1, image_size: int = 32) -> torch.Tensor:
    """``n`` images of ``n`` unseen people from ``tier`` (the UI set's role by default)."""
    gen = torch.Generator().manual_seed(seed)
    return render(sample_identities(n, gen), sample_nuisance(n, gen, tier, image_size), image_size).images
