"""The evaluation protocols on ``EvalData``: the synthetic world and TinyFace / SCFace / SurvFace alike.

    data = evaluation_data("tinyface", "/data/tinyface", image_size=112)
    results = run_protocols(loaded_checkpoint, data, flip=True)       # {"identification": ...}
    print(format_results(results))

Embeddings are extracted in streamed batches through a ``torch.utils.data.DataLoader``
(``num_workers`` optional), so a set never has to fit in memory as images; only the
embeddings are kept. The model's ``Preprocess`` (channel order, value range, input size)
is applied to every batch; a set at another size is resized (bicubic) to the model's.

Protocols per kind (SPEC, "Evaluation protocols"):

=========  ============================================================================
synthetic  rank-1/5/20 CMC with and without distractors; rank-1 per probe resolution;
           TPR@FAR on sampled pairs; TPIR20@FPIR with the distractors as unmated probes
           (the same numbers as ``rie.evaluation.protocols``)
tinyface   rank-1/5/20 CMC with and without Gallery_Distractor
scface     rank-1 per camera distance (4.2 m, 2.6 m, 1.0 m) and over all probes
survface   TPR@FAR on the official pairs (when present); TPIR20@FPIR with the unmated probes,
           one template per gallery identity
=========  ============================================================================
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ..common.checks import RIEInputError
from ..data.evaluation_data import EvalData
from ..method.checkpoints import LoadedCheckpoint, Preprocess, Preprocessed
from ..method.ri import ui_center
from .inference import SCORING, extract, scoring_embedding
from .metrics import cmc, pair_scores, rank1_by_bucket, sample_pairs, tpir_at_fpir, tpr_at_far
from .protocols import FARS, FPIRS, RANKS, named_buckets, resolution_buckets

PROTOCOLS = {
    "synthetic": ("identification", "rank1_by_resolution", "verification", "open_set"),
    "tinyface": ("identification",),
    "scface": ("rank1_by_distance",),
    "survface": ("verification", "open_set"),
}


def unwrap_model(model, preprocess: Preprocess | None = None):
    """``(network, preprocess or None)`` from a ``LoadedCheckpoint``, a ``Preprocessed`` wrapper, an
    ``RIEModel`` or a backbone.

    ``None`` means rie's own convention: the dataset's RGB floats in [-1, 1] go in unchanged.
    """
    if isinstance(model, (LoadedCheckpoint, Preprocessed)):
        net = model.model if isinstance(model, LoadedCheckpoint) else model.net
        return net, preprocess or model.preprocess
    if not isinstance(model, torch.nn.Module):
        raise RIEInputError(f"model must be a LoadedCheckpoint or a torch module, got {type(model).__name__}")
    if preprocess is not None and not isinstance(preprocess, Preprocess):
        raise RIEInputError(f"preprocess must be a Preprocess, got {type(preprocess).__name__}")
    return model, preprocess


def input_size(model, preprocess: Preprocess | None) -> int | None:
    """The side in px the model takes: the ``Preprocess``'s, else the backbone's (None if it has none)."""
    if preprocess is not None:
        return preprocess.input_size
    size = getattr(getattr(model, "backbone", model), "input_size", None)
    return None if size is None else int(size)


def model_input(x: torch.Tensor, preprocess: Preprocess | None, size: int | None) -> torch.Tensor:
    """A batch of dataset images (float in [-1, 1]) as the model was fed in training."""
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp_(-1.0, 1.0)
    if preprocess is None:
        return x
    # back to the 8-bit RGB the file decoded to (exact: datasets map uint8 k to k / 127.5 - 1)
    return preprocess(((x + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8))


def _check_positive_int(value, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise RIEInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


@torch.no_grad()
def extract_embeddings(model, dataset, *, preprocess: Preprocess | None = None, scoring: str = "v", u=None,
                       flip: bool = False, batch_size: int = 512, num_workers: int = 0, device=None) -> torch.Tensor:
    """The scoring embeddings (``rie.evaluation.inference.SCORING``) of every item of ``dataset``, in order.

    ``dataset[i]`` is ``(image float (3, S, S) in [-1, 1], label, index)``. With ``flip`` the
    embedding is the sum of the image's and its horizontal mirror's, before any normalisation:
    AdaFace's TinyFace evaluation (mk-minchul/AdaFace, validation_lq/validate_tinyface.py:
    ``use_flip_test`` on by default, ``fusion_method='pre_norm_vector_add'`` sums the
    un-normalised features of ``images`` and ``torch.flip(images, dims=[3])``).
    """
    net, preprocess = unwrap_model(model, preprocess)
    if scoring not in SCORING:
        raise RIEInputError(f"scoring must be one of {SCORING}, got {scoring!r}")
    _check_positive_int(batch_size, "batch_size")
    _check_positive_int(num_workers, "num_workers", low=0)
    n = len(dataset)
    if n == 0:
        raise RIEInputError("no images to embed")
    size = input_size(net, preprocess)
    attention = scoring in ("v_attn", "v+v_attn")

    def embed_batch(x):
        out = extract(net, x, batch_size=len(x), device=device, attention=attention)
        return scoring_embedding(out.v, out.v_attn, scoring, u)

    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    out, filled = None, torch.zeros(n, dtype=torch.bool)
    for images, _labels, index in loader:
        x = model_input(images, preprocess, size)
        e = embed_batch(x)
        if flip:
            e = e + embed_batch(x.flip(-1))
        if out is None:
            out = torch.empty(n, e.shape[1], dtype=e.dtype)
        out[index] = e
        filled[index] = True
    if not filled.all():
        # a file that vanished or changed since the scan was replaced by its neighbour (datasets.FaceFolderSet)
        gone = getattr(dataset, "skipped", [])[-5:]
        raise RIEInputError(f"{int((~filled).sum())} of {n} images could not be read while embedding "
                            f"(changed or removed since the scan): {gone}")
    return out


def _rates(d: dict) -> dict:
    return {k: float(v) for k, v in d.items()}


def run_protocols(model, data: EvalData, *, preprocess: Preprocess | None = None, scoring: str = "v", u=None,
                  flip: bool = False, batch_size: int = 512, num_workers: int = 0, device=None,
                  ranks=RANKS, fars=FARS, fpirs=FPIRS, open_set_rank: int = 20,
                  n_mated: int = 6000, n_nonmated: int = 50000, seed: int = 0) -> dict:
    """Every protocol of ``data.kind`` (``PROTOCOLS``): a JSON-ready dict of rates in [0, 1], with counts.

    ``u`` (the UI centre) is needed by ``scoring="v_prime"``; when left out it is computed from
    ``data["ui"]`` (raw embeddings, no flip). ``n_mated``, ``n_nonmated`` and ``seed`` size the
    sampled verification pairs of the synthetic world (as ``protocols.verification``).
    """
    if not isinstance(data, EvalData):
        raise RIEInputError(f"data must be an EvalData (rie.data.evaluation_data), got {type(data).__name__}")
    net, preprocess = unwrap_model(model, preprocess)
    kw = dict(preprocess=preprocess, flip=flip, batch_size=batch_size, num_workers=num_workers, device=device)
    if scoring == "v_prime" and u is None:
        if "ui" not in data:
            raise RIEInputError("scoring 'v_prime' needs the UI centre: give u, or UI images (ui_dir / --ui-dir)")
        u = ui_center(extract_embeddings(net, data["ui"], **{**kw, "flip": False}))
    emb = {}

    def embedded(role):
        if role not in emb:
            emb[role] = extract_embeddings(net, data[role], scoring=scoring, u=u, **kw)
        return emb[role]

    kind = data.kind
    results = {"kind": kind, "scoring": scoring, "flip": bool(flip), "counts": data.counts()}
    p, g = embedded("probe"), embedded("gallery")
    pl, gl = data.labels("probe"), data.labels("gallery")
    if "identification" in PROTOCOLS[kind]:
        d = embedded("distractor")
        results["identification"] = {"w/o dis": _rates(cmc(p, pl, g, gl, ranks)),
                                     "w/ dis": _rates(cmc(p, pl, g, gl, ranks, distractor_emb=d))}
    if "rank1_by_resolution" in PROTOCOLS[kind]:
        bucket, names = resolution_buckets(data.resolution["probe"])
        found = named_buckets(rank1_by_bucket(p, pl, g, gl, bucket, distractor_emb=embedded("distractor")), names)
        results["rank1_by_resolution"] = {"rank-1": dict(found), "probes": dict(found.counts)}
    if "rank1_by_distance" in PROTOCOLS[kind]:
        found = rank1_by_bucket(p, pl, g, gl, data.probe_groups)
        order = sorted(found, key=lambda k: -float(k.rstrip("m")))  # far to near, as SCFace's tables
        results["rank1_by_distance"] = {"rank-1": {k: found[k] for k in order} | {"all": cmc(p, pl, g, gl, (1,))[1]},
                                        "probes": {k: found.counts[k] for k in order} | {"all": len(pl)}}
    if "verification" in PROTOCOLS[kind]:
        if kind == "synthetic":  # pairs over gallery + probe, drawn as protocols.verification_pairs does
            v, labels = torch.cat([g, p]), torch.cat([gl, pl])
            pairs, same = sample_pairs(labels, n_mated, n_nonmated, seed=seed)
        elif data.pairs is not None:
            v = extract_embeddings(net, data.pairs["images"], scoring=scoring, u=u, **kw)
            pairs, same = data.pairs["pairs"], data.pairs["same"]
        else:
            pairs = None
        if pairs is not None:
            scores = pair_scores(v[pairs[:, 0]], v[pairs[:, 1]])
            results["verification"] = {"TPR@FAR": _rates(tpr_at_far(scores, same, fars)),
                                       "pairs": {"mated": int(same.sum()), "non-mated": int((~same).sum())}}
    if "open_set" in PROTOCOLS[kind]:
        tpir = tpir_at_fpir(p, pl, g, gl, embedded("distractor"), fpirs=fpirs, rank=open_set_rank)
        results["open_set"] = {f"TPIR{open_set_rank}@FPIR": _rates(tpir)}
    return results


def _pct(x: float) -> str:
    return f"{100 * x:6.2f}"


def flat_results(results: dict) -> dict[str, float]:
    """``run_protocols``' rates as one flat row in %: ``r1 w/o dis``, ``r1 4.2m``, ``TPR@FAR=0.001``, ...

    The column names of notebook 04's tables, so that ``training_and_ablation.table`` prints them."""
    row = {}
    for setting, rates in results.get("identification", {}).items():
        row.update({f"r{k} {setting}": 100 * v for k, v in rates.items()})
    for key in ("rank1_by_resolution", "rank1_by_distance"):
        row.update({f"r1 {name}": 100 * v for name, v in results.get(key, {}).get("rank-1", {}).items()})
    row.update({f"TPR@FAR={far:g}": 100 * v for far, v in results.get("verification", {}).get("TPR@FAR", {}).items()})
    for name, rates in results.get("open_set", {}).items():
        row.update({f"{name.split('@')[0]}@FPIR={f:g}": 100 * v for f, v in rates.items()})
    return row


def format_results(results: dict) -> str:
    """The protocol tables as text (rates in %), one block per protocol."""
    lines = [f"{results['kind']}: " + ", ".join(f"{k} {n}" for k, n in results["counts"].items())
             + f"; scoring {results['scoring']}" + (", flip fusion" if results["flip"] else "")]
    if "identification" in results:
        ident = results["identification"]
        ranks = list(ident["w/o dis"])
        lines += ["", "identification (CMC, %)   " + "  ".join(f"rank-{r:<3}" for r in ranks)]
        for name, row in ident.items():
            lines.append(f"  {name:<24}" + "  ".join(f"{_pct(row[r]):>8}" for r in ranks))
    for key, title in (("rank1_by_resolution", "rank-1 by probe resolution (w/ dis, %)"),
                       ("rank1_by_distance", "rank-1 by distance (%)")):
        if key in results:
            lines += ["", title, f"  {'':<24}{'probes':>8}  rank-1"]
            for name, rate in results[key]["rank-1"].items():
                lines.append(f"  {name:<24}{results[key]['probes'][name]:>8}  {_pct(rate)}")
    if "verification" in results:
        ver = results["verification"]
        pairs = ver["pairs"]
        lines += ["", f"verification ({pairs['mated']} mated, {pairs['non-mated']} non-mated pairs, %)"]
        lines += [f"  TPR@FAR={far:<18g}{_pct(t)}" for far, t in ver["TPR@FAR"].items()]
    if "open_set" in results:
        (name, rates), = results["open_set"].items()
        lines += ["", "open-set identification (%)"]
        lines += [f"  {name.split('@')[0]}@FPIR={f:<15g}{_pct(t)}" for f, t in rates.items()]
    return "\n".join(lines)
