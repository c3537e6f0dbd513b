"""The 2-D toy experiment of Fig. 4 (Section 4.2, "Face Recognizability-Aware Embeddings").

Eight synthetic people, IDs 1, 4 and 6 "hard". Hard means that an identity *contains* many
hard-to-recognise images: every identity has easy photographs (the ``moderate`` tier) and hard
ones (the ``hard`` tier at an 8 px sensor), the hard identities mostly hard ones (75 %), the
others mostly easy ones (25 % hard), so degradation alone does not name the class. The UI set
is faces of *other* people (``ui`` tier). As in the paper, nothing is trained from scratch:

1. **pretraining**: a small backbone with a **2-D** embedding learns the eight people from clean
   (``hr`` tier) photographs, with a softmax head; cached with ``train_or_load``;
2. **fine-tuning**: every method starts from that same pretrained encoder and is fine-tuned on
   the mixed easy/hard set with plain softmax, ArcFace, AdaFace or the full RIE loss (Eq. 10,
   ArcFace as ``L_cls``). RIE's UI centre ``u`` is computed once from the *pretrained* model's
   UI embeddings and stays fixed (``ui_center_mode="fixed"``).

So RIE and ArcFace differ by the RIE terms only (same start, head, data and schedule): the
primary comparison. Softmax and AdaFace are context. Per method and seed, on held-out photos:

* the mean angle (degrees) between the hard *images* and the UI centre of the fine-tuned model
  (``ui_center`` of its UI-set embeddings, Eq. 2's ``u``), and to the fixed starting centre;
* the nearest-prototype accuracy of hard and of easy images (prototype = direction of a row of
  the head's weight, cosine without margin, as in Eq. 1);
* for RIE, how often the ``xi_max`` safeguard clipped the target index (``xi_clip_frac``).

``claims`` turns RIE - ArcFace, paired by seed, into verdicts with the project's one rule
(``rie.evaluation.verdicts``).

2-D choices (documented in notebook 05): ArcFace's ``s = 64, m = 0.5`` is built for
512-D; in the plane, 8 classes are at best 45 degrees apart, so the margin is cut to
``m = 0.2`` rad (11 degrees) and the scale to ``s = 16`` (already enough for a
cross-entropy near zero: ``e^{16}`` against 7 negatives); AdaFace gets the same ``s, m``.
The RIE run uses the same ArcFace head and the paper's weights (alpha 5, beta 2, gamma 1).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from ..common.checks import RIEInputError
from ..common.constants import FINETUNE_CLIP, NO_RIE_TERMS, PAPER_WEIGHTS, SHORT_LABELS
from ..data.synth import TIERS, TierConfig, render, sample_identities, sample_nuisance
from ..evaluation.inference import extract
from ..evaluation.verdicts import claims_text, make_claim, paired_effect
from ..method.losses import DEFAULT_TAU, RIELossConfig
from ..method.ri import ui_center
from ..training.train import PLATEAU, TrainConfig, TrainResult, fit, plateau_change, train_or_load

NUM_IDS = 8
HARD_IDS = (1, 4, 6)
EASY_IDS = (0, 2, 3, 5, 7)
# Share of hard photographs per identity: the hard identities mostly hard, the others mostly easy.
HARD_SHARE = 0.75
EASY_ID_HARD_SHARE = 0.25
METHODS = ("softmax", "arcface", "adaface", "rie")
PRETRAINED = "pretrained"  # the rows of the pretrained encoder itself, before any fine-tuning
# Margin heads in 2-D: see the module docstring.
HEAD_2D = {
    "softmax": ("softmax", {}),
    "arcface": ("arcface", {"s": 16.0, "m": 0.2}),
    "adaface": ("adaface", {"s": 16.0, "m": 0.2}),
    "rie": ("arcface", {"s": 16.0, "m": 0.2}),
}
# Fine-tuning: the new head's prototypes settle on the pretrained embedding before the backbone moves.
FREEZE_EPOCHS = 2
# The trainer's gradient-norm clip (arcface_torch's 5), and a loose one that cuts none of ArcFace's
# unfrozen steps here (notebook 04's FINETUNE_CLIP): the clip check trains both methods with it.
CLIP = 5.0
LOOSE_CLIP = FINETUNE_CLIP


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------
@contextmanager
def threads(n: int | None = 1):
    """Run torch with ``n`` intra-op threads, then restore (``None``: leave as is).

    The toy model is tiny and its batches small. On a 2-core CPU shared with other work,
    two OpenMP threads spin against the other processes: rendering the toy data took 7 s with
    two threads and 0.1-0.2 s with one, a training step 1.5 s against 60 ms (measured while
    another torch process ran). One thread also fixes the floating-point reduction order
    whatever the machine's core count, so the notebook's numbers re-execute identically.
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
@dataclass
class ToyData:
    """The toy's images (all uint8 (N, 3, S, S)) and who is in them.

    ``train_*`` / ``test_*``: the eight people, easy and hard photographs mixed (``*_hard`` marks
    the hard ones); ``pretrain_*``: clean (``hr`` tier) photographs of the same eight people;
    ``ui_images``: one face each of ``len(ui_people)`` *other* people (``ui`` tier).
    ``people`` / ``ui_people``: their identity vectors (drawn together, pairwise apart).
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    train_hard: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    test_hard: torch.Tensor
    pretrain_images: torch.Tensor
    pretrain_labels: torch.Tensor
    ui_images: torch.Tensor
    people: torch.Tensor
    ui_people: torch.Tensor
    hard_ids: tuple[int, ...]
    hard_resolution: int

    @property
    def easy_ids(self) -> tuple[int, ...]:
        return tuple(i for i in range(NUM_IDS) if i not in self.hard_ids)

    def is_hard_id(self, labels: torch.Tensor) -> torch.Tensor:
        return torch.isin(labels, torch.tensor(self.hard_ids))


def hard_tier(resolution: int = 8) -> TierConfig:
    """The hard tier at a fixed sensor resolution (``resolution`` x ``resolution`` px)."""
    return TIERS["hard"].replace(resolution=(int(resolution), int(resolution)))


def n_hard(per_id: int, share: float) -> int:
    """Hard photographs among ``per_id``: ``round(share * per_id)``, kept in 1..per_id-1 so that
    every identity has both kinds."""
    return min(max(round(share * per_id), 1), per_id - 1)


def _mixed_render(people, per_id, gen, hard_ids, easy_tier, hard, image_size, hard_share, easy_id_hard_share):
    labels = torch.arange(NUM_IDS).repeat_interleave(per_id)
    is_hard = torch.zeros(len(labels), dtype=torch.bool)
    for c in range(NUM_IDS):  # the first k photographs of each person are the hard ones
        k = n_hard(per_id, hard_share if c in hard_ids else easy_id_hard_share)
        is_hard[c * per_id : c * per_id + k] = True
    images = torch.empty(len(labels), 3, image_size, image_size, dtype=torch.uint8)
    for mask, tier in ((~is_hard, easy_tier), (is_hard, hard)):
        idx = mask.nonzero().squeeze(1)
        nuisance = sample_nuisance(len(idx), gen, tier, image_size)
        images[idx] = render(people[labels[idx]], nuisance, image_size).images
    return images, labels, is_hard


def make_toy_data(seed: int = 0, train_per_id: int = 32, test_per_id: int = 24, pretrain_per_id: int = 32,
                  n_ui: int = 256, hard_resolution: int = 8, hard_share: float = HARD_SHARE,
                  easy_id_hard_share: float = EASY_ID_HARD_SHARE, easy_tier="moderate", pretrain_tier="hr",
                  hard_ids=HARD_IDS, image_size: int = 32, n_threads: int | None = 1) -> ToyData:
    """Eight new people and ``n_ui`` other people drawn with ``seed``.

    Each of the eight has ``n_hard(per_id, share)`` hard photographs (``hard_tier(hard_resolution)``)
    and the rest from ``easy_tier``, with ``share = hard_share`` for ``hard_ids`` and
    ``easy_id_hard_share`` for the others, in the training and the held-out split alike;
    ``pretrain_per_id`` clean photographs each from ``pretrain_tier``. The UI people are drawn
    with the eight (``sample_identities`` keeps every pair apart), one ``ui``-tier face each.
    """
    hard_ids = tuple(sorted(int(i) for i in hard_ids))
    if not hard_ids or any(i < 0 or i >= NUM_IDS for i in hard_ids) or len(hard_ids) >= NUM_IDS:
        raise RIEInputError(f"hard_ids must be a non-empty proper subset of 0..{NUM_IDS - 1}, got {hard_ids}")
    if train_per_id < 2 or test_per_id < 2 or pretrain_per_id < 1 or n_ui < 2:
        raise RIEInputError("need train_per_id >= 2, test_per_id >= 2 (easy and hard photos), "
                            "pretrain_per_id >= 1 and n_ui >= 2")
    if not (0.0 <= easy_id_hard_share <= 1.0 and 0.0 <= hard_share <= 1.0):
        raise RIEInputError(f"hard shares must lie in [0, 1], got {hard_share}, {easy_id_hard_share}")
    with threads(n_threads):
        gen = torch.Generator().manual_seed(seed)
        everyone = sample_identities(NUM_IDS + n_ui, gen)
        people, ui_people = everyone[:NUM_IDS], everyone[NUM_IDS:]
        hard = hard_tier(hard_resolution)
        split = dict(gen=gen, hard_ids=hard_ids, easy_tier=easy_tier, hard=hard, image_size=image_size,
                     hard_share=hard_share, easy_id_hard_share=easy_id_hard_share)
        train_images, train_labels, train_hard = _mixed_render(people, train_per_id, **split)
        test_images, test_labels, test_hard = _mixed_render(people, test_per_id, **split)
        pretrain_labels = torch.arange(NUM_IDS).repeat_interleave(pretrain_per_id)
        clean = sample_nuisance(len(pretrain_labels), gen, pretrain_tier, image_size)
        pretrain_images = render(people[pretrain_labels], clean, image_size).images
        ui_images = render(ui_people, sample_nuisance(n_ui, gen, "ui", image_size), image_size).images
    return ToyData(train_images, train_labels, train_hard, test_images, test_labels, test_hard, pretrain_images,
                   pretrain_labels, ui_images, people, ui_people, hard_ids, int(hard_resolution))


# ---------------------------------------------------------------------------
# Training: pretrain on clean photos, then fine-tune every method from that encoder
# ---------------------------------------------------------------------------
def pretrain_config(epochs: int = 25, seed: int = 0, batch_size: int = 32, lr: float = 0.1) -> TrainConfig:
    """The 2-D encoder's pretraining on clean photographs: a softmax head (linear layer + bias), from scratch.

    Softmax, not a normalised margin head: in the plane it is the objective that fits the clean
    photographs (on seed 0, 99 % of the pretraining photos and 84 % of the easy held-out ones right
    after 25 epochs, against 52 % and 44 % with the ArcFace head s 16, m 0.2). The notebook's
    "pretrained" row reports the encoder on every seed.
    """
    return TrainConfig(
        name="toy2d-pretrain", embedding_size=2, head="softmax", head_kwargs={},
        loss=RIELossConfig(**NO_RIE_TERMS), epochs=epochs, batch_size=batch_size, lr=lr, warmup_epochs=1.0, seed=seed,
    )


def _pretrain_kw(kw: dict) -> dict:
    """The fine-tuning settings that the pretraining shares (the batch size)."""
    return {k: kw[k] for k in ("batch_size",) if k in kw}


def pretrain(data: ToyData, epochs: int = 25, seed: int = 0, cache_dir=None, **kw) -> TrainResult:
    """Pretrain (or load from ``cache_dir``) the 2-D encoder on ``data``'s clean photographs."""
    config = pretrain_config(epochs=epochs, seed=seed, **kw)
    if cache_dir is None:
        return fit(config, data.pretrain_images, data.pretrain_labels, progress=False)
    return train_or_load(config, data.pretrain_images, data.pretrain_labels, cache_dir=cache_dir, progress=False)


def method_config(method: str, epochs: int = 30, seed: int = 0, batch_size: int = 32, lr: float = 0.1,
                  ui_center_mode: str = "fixed", freeze_backbone_epochs: int = FREEZE_EPOCHS, clip_grad_norm: float = CLIP,
                  **loss) -> TrainConfig:
    """The TrainConfig of one method's fine-tuning (2-D embedding, started from the pretrained encoder).

    ``loss`` overrides RIE loss fields (beta, tau, ...) for the "rie" method. The UI centre is
    the pretrained (starting) model's and stays fixed (``ui_center_mode="fixed"``); the first
    ``freeze_backbone_epochs`` train the new head (and RIE's new branches) with the encoder frozen
    (at most ``epochs - 1`` of them, so that a one- or two-epoch smoke run still trains the encoder).
    """
    if method not in HEAD_2D:
        raise RIEInputError(f"unknown toy method {method!r}; valid: {', '.join(HEAD_2D)}")
    head, head_kwargs = HEAD_2D[method]
    weights = {**PAPER_WEIGHTS, **loss} if method == "rie" else dict(NO_RIE_TERMS)
    if method != "rie" and loss:
        raise RIEInputError(f"loss overrides {sorted(loss)} only apply to the 'rie' method")
    return TrainConfig(
        name=f"toy2d-{method}", embedding_size=2, head=head, head_kwargs=dict(head_kwargs),
        loss=RIELossConfig(**weights), ui_center_mode=ui_center_mode, epochs=epochs,
        batch_size=batch_size, lr=lr, warmup_epochs=1.0, seed=seed,
        freeze_backbone_epochs=max(min(int(freeze_backbone_epochs), int(epochs) - 1), 0), clip_grad_norm=clip_grad_norm,
    )


def train_method(method: str, data: ToyData, pretrained: TrainResult, epochs: int = 30, seed: int = 0,
                 cache_dir=None, **kw) -> TrainResult:
    """Fine-tune (or load from ``cache_dir``) one method on the toy's mixed set, from ``pretrained``."""
    config = method_config(method, epochs=epochs, seed=seed, **kw)
    ui = data.ui_images if config.uses_rie else None
    init = pretrained.model.state_dict()
    if cache_dir is None:
        return fit(config, data.train_images, data.train_labels, ui, init_state=init, progress=False)
    return train_or_load(config, data.train_images, data.train_labels, ui, init_state=init, cache_dir=cache_dir,
                         progress=False)


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------
def angle_to_ui_deg(v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Angle in degrees, in [0, 180], between each row of ``v`` and the UI centre ``u``."""
    cos = (F.normalize(v.float(), dim=1) @ F.normalize(u.float(), dim=0)).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.acos(cos))


def signed_angle_deg(v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """2-D only: the signed angle (degrees, in (-180, 180]) from ``u`` to each row of ``v``."""
    if v.shape[1] != 2 or u.shape[0] != 2:
        raise RIEInputError("signed angles are defined in the plane (2-D embeddings)")
    cross = u[0] * v[:, 1] - u[1] * v[:, 0]
    dot = v @ u
    a = torch.rad2deg(torch.atan2(cross, dot))
    return torch.where(a <= -180.0, a + 360.0, a)  # atan2(-0.0, -x) = -180: keep the range (-180, 180]


def nearest_prototype(v: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """Index of the prototype (row) with the largest cosine to each embedding."""
    return (F.normalize(v.float(), dim=1) @ F.normalize(prototypes.float(), dim=1).t()).argmax(dim=1)


def nearest_prototype_accuracy(v: torch.Tensor, prototypes: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of embeddings whose nearest prototype (by cosine) is their own class."""
    if len(v) == 0:
        raise RIEInputError("no embeddings to score")
    return float((nearest_prototype(v, prototypes) == labels).float().mean())


@dataclass
class Embedded:
    """A model's view of the toy: held-out and UI embeddings, prototypes, UI centres, training history."""

    method: str
    v: torch.Tensor  # (N, 2) held-out embeddings
    labels: torch.Tensor
    hard: torch.Tensor  # (N,) bool: hard photographs
    ui_v: torch.Tensor  # UI-set embeddings
    u: torch.Tensor  # UI centre of this model (of ui_v)
    u_start: torch.Tensor  # the fixed UI centre: the pretrained encoder's
    prototypes: torch.Tensor  # head weight rows
    hard_ids: tuple[int, ...]
    history: list = field(default_factory=list)


def embed(method: str, result: TrainResult, data: ToyData, u_start: torch.Tensor) -> Embedded:
    v = extract(result.model, data.test_images).v
    ui_v = extract(result.model, data.ui_images).v
    return Embedded(method, v, data.test_labels, data.test_hard, ui_v, ui_center(ui_v), u_start,
                    result.head.weight.detach().clone(), data.hard_ids, list(result.history))


def loss_change(history: list, last: int = 5) -> float:
    """Relative change of the training loss over the last ``last`` epochs, (L_end - L_before) / L_before:
    near 0 once training has converged (NaN without history)."""
    losses = [h["total"] for h in history if "total" in h]
    if len(losses) < 2:
        return float("nan")
    before = losses[max(len(losses) - 1 - last, 0)]
    return (losses[-1] - before) / abs(before) if before else float("nan")


def plane_use(v: torch.Tensor) -> float:
    """How much of the plane the embeddings use: the smaller over the larger singular value of ``v``
    (not centred: about the origin, where the angles are measured). 1 = spread in every direction,
    0 = all on one line through the origin, where angles can only be 0 or 180 degrees."""
    s = torch.linalg.svdvals(v.double())
    return float(s[-1] / s[0]) if s[0] > 0 else float("nan")


def measure(e: Embedded) -> dict:
    """Angles to the UI centres and nearest-prototype accuracies of hard and easy held-out images,
    the UI faces' concentration, and from the history the xi clip rate and the last epochs' loss change."""
    hard = e.hard.bool()
    if not hard.any() or hard.all():
        raise RIEInputError("measure needs held-out images of both kinds, hard and easy")
    ang = angle_to_ui_deg(e.v, e.u)
    clip = [h["xi_clip_frac"] for h in e.history if "xi_clip_frac" in h]
    grad_clip = [h["clip_frac"] for h in e.history if "clip_frac" in h and not h.get("frozen")]
    cls = [h["cls"] for h in e.history if "cls" in h]
    return {
        "hard_angle": float(ang[hard].mean()),
        "easy_angle": float(ang[~hard].mean()),
        "hard_angle_start": float(angle_to_ui_deg(e.v[hard], e.u_start).mean()),
        "hard_acc": nearest_prototype_accuracy(e.v[hard], e.prototypes, e.labels[hard]),
        "easy_acc": nearest_prototype_accuracy(e.v[~hard], e.prototypes, e.labels[~hard]),
        # resultant length of the normalised UI embeddings: 1 = one tight direction, 0 = no cluster
        "ui_concentration": float(F.normalize(e.ui_v, dim=1).mean(0).norm()),
        "xi_clip_frac": float(np.mean(clip)) if clip else float("nan"),
        "loss_change": loss_change(e.history),
        # share of the (unfrozen) steps whose gradient norm the clip (CLIP, or the run's) cut, and the last
        # epoch's classification loss alone (RIE's total adds its terms)
        "grad_clip_frac": float(np.mean(grad_clip)) if grad_clip else float("nan"),
        "cls_loss": cls[-1] if cls else float("nan"),
        "plane_use": plane_use(e.v),
        # the project's convergence check (rie.training.train): |change| of L_cls over the last two epochs
        "cls_plateau": plateau_change(e.history, "cls", 2) if len(cls) > 2 else float("nan"),
    }


def run(seeds=(0, 1, 2, 3), methods=METHODS, epochs: int = 30, pretrain_epochs: int = 25, cache_dir=None,
        data_kwargs=None, n_threads: int | None = 1, **kw):
    """The per-seed loop. Each seed draws new people, photos and UI set, pretrains its own encoder,
    and fine-tunes every method from it (with that seed).

    Returns ``(rows, embedded)``: one dict of ``measure`` per (method, seed), the pretrained encoder
    included (method ``"pretrained"``), and the ``Embedded`` of every model for the first seed.
    """
    rows, first = [], {}
    with threads(n_threads):
        for i, seed in enumerate(seeds):
            data = make_toy_data(seed=seed, **(data_kwargs or {}))
            base = pretrain(data, epochs=pretrain_epochs, seed=seed, cache_dir=cache_dir, **_pretrain_kw(kw))
            u_start = ui_center(extract(base.model, data.ui_images).v)
            models = {PRETRAINED: base}
            for method in methods:
                models[method] = train_method(method, data, base, epochs=epochs, seed=seed, cache_dir=cache_dir, **kw)
            for method, result in models.items():
                e = embed(method, result, data, u_start)
                if method == PRETRAINED:
                    e.history = []  # its loss is on other images; no fine-tuning to report
                rows.append({"method": method, "seed": seed, **measure(e)})
                if i == 0:
                    first[method] = e
    return rows, first


# ---------------------------------------------------------------------------
# Summaries and the claims
# ---------------------------------------------------------------------------
# angle = mean angle to the fine-tuned model's UI centre ("start": to the fixed, pretrained one);
# acc = nearest-prototype accuracy; UI conc. = resultant length of the normalised UI embeddings
# (1: one tight direction, 0: no cluster); xi clip = share of RIE's training images whose xi was
# clipped; loss change = relative change of the training loss over the last 5 epochs; final L_cls = the
# classification term alone in the last epoch; grad clipped = share of the unfrozen steps whose gradient
# norm the trainer's clip cut (the clip rescales the whole gradient: the largest terms then steer it);
# plane use = smaller / larger singular value of the held-out embeddings (0: collapsed onto a line);
# L_cls change = the project's plateau check (rie.training.train.plateau_change; converged below PLATEAU)
COLUMNS = {
    "hard_angle": "hard angle (deg)",
    "hard_angle_start": "hard angle to start u (deg)",
    "easy_angle": "easy angle (deg)",
    "hard_acc": "hard acc (%)",
    "easy_acc": "easy acc (%)",
    "ui_concentration": "UI conc.",
    "xi_clip_frac": "xi clip (%)",
    "loss_change": "loss change, last 5 ep (%)",
    "cls_loss": "final L_cls",
    "grad_clip_frac": "grad clipped (% steps)",
    "plane_use": "plane use",
    "cls_plateau": "L_cls change, last 2 ep (%)",
}
PERCENT = ("hard_acc", "easy_acc", "xi_clip_frac", "loss_change", "grad_clip_frac", "cls_plateau")


def label(method: str) -> str:
    return "pretrained (no fine-tuning)" if method == PRETRAINED else SHORT_LABELS.get(method, method)


def _values(rows, method, key):
    return np.array([r[key] for r in sorted(rows, key=lambda r: r["seed"]) if r["method"] == method], dtype=float)


def _sd(x: np.ndarray) -> float:
    return float(x.std(ddof=1)) if len(x) > 1 else 0.0


def summary_table(rows, decimals: int = 1):
    """A DataFrame, one row per method: ``mean ± std`` over seeds (accuracies and rates in %; "–" when undefined)."""
    import pandas as pd

    methods = list(dict.fromkeys(r["method"] for r in rows))
    table = {}
    for m in methods:
        cells = {}
        for key, name in COLUMNS.items():
            x = _values(rows, m, key) * (100.0 if key in PERCENT else 1.0)
            dec = decimals + 1 if key in ("ui_concentration", "plane_use") else decimals
            cells[name] = "–" if np.isnan(x).all() else f"{np.nanmean(x):.{dec}f} ± {_sd(x[~np.isnan(x)]):.{dec}f}"
        table[label(m)] = cells
    out = pd.DataFrame.from_dict(table, orient="index")
    out.index.name = f"method ({len(_values(rows, methods[0], 'hard_angle'))} seeds)"
    return out


# The claims of Fig. 4 against ArcFace, the same head without the RIE terms: (text, column, unit, scale).
CLAIMS = (
    ("RIE moves hard images farther from the UI centre than ArcFace (deg)", "hard_angle", "deg", 1.0),
    ("RIE's hard-image accuracy > ArcFace's (pp)", "hard_acc", "pp", 100.0),
    ("RIE keeps easy-image accuracy (RIE - ArcFace, pp)", "easy_acc", "pp", 100.0),
    ("RIE moves hard images farther from the fixed (pretrained) UI centre than ArcFace (deg)", "hard_angle_start",
     "deg", 1.0),
)


def claims(rows, method: str = "rie", baseline: str = "arcface", condition: str = "") -> list[dict]:
    """``method - baseline`` per seed on each of ``CLAIMS``' columns, judged by ``rie.evaluation.verdicts``;
    ``condition`` (e.g. "clip 20") is appended to each claim's text, so that a rerun reads as its own claim."""
    out = []
    for text, key, unit, scale in CLAIMS:
        scaled = [{**r, key: r[key] * scale} for r in rows]
        name = f"{text}, {condition}" if condition else text
        out.append(make_claim(name, paired_effect(scaled, method, baseline, key=key), unit=unit))
    return out


def verdict(rows, method: str = "rie", baseline: str = "arcface", condition: str = "") -> str:
    """The claims as ``claims_text`` lines (the README's ledger reads them back)."""
    return claims_text(claims(rows, method, baseline, condition))


def clip_report(rows, method: str = "rie") -> str:
    """How often the xi_max safeguard clipped RIE's target index: mean over epochs, per seed."""
    x = _values(rows, method, "xi_clip_frac") * 100
    seeds = [r["seed"] for r in sorted(rows, key=lambda r: r["seed"]) if r["method"] == method]
    per = ", ".join(f"seed {s}: {v:.2f} %" for s, v in zip(seeds, x))
    return (f"xi clipped (xi > xi_max) on {np.nanmean(x):.2f} % of {label(method)}'s training images on average "
            f"(mean over epochs; {per})")


def convergence_report(rows) -> str:
    """Per method: on how many seeds L_cls moved less than ``PLATEAU`` over the last two epochs
    (``rie.training.train.plateau_change``, the project's convergence check)."""
    lines = []
    for m in dict.fromkeys(r["method"] for r in rows):
        x = _values(rows, m, "cls_plateau")
        if np.isnan(x).all():
            continue
        lines.append(f"{label(m):<11} L_cls plateaued (< {PLATEAU:.0%} over the last 2 epochs) on {int((x < PLATEAU).sum())} "
                     f"of {len(x)} seeds; change per seed: " + ", ".join(f"{100 * c:.1f} %" for c in x))
    return "\n".join(lines)


def gradient_terms(history: list, part: str = "trunk") -> dict[str, float]:
    """Each loss term's gradient norm at ``part`` (logged at the first step of every epoch), mean over the
    unfrozen epochs: which term steers the encoder's update (``{"cls": ..., "l1": ...}``)."""
    joint = [h for h in history if not h.get("frozen")]
    terms = dict.fromkeys(k.split("/")[1] for h in joint for k in h if k.startswith("grad/") and k.endswith(f"/{part}"))
    return {t: float(np.mean([h[f"grad/{t}/{part}"] for h in joint if f"grad/{t}/{part}" in h])) for t in terms}


def mean_grad_norm(history: list) -> float:
    """The whole gradient's norm before clipping, mean over the unfrozen epochs."""
    joint = [h["grad_norm"] for h in history if not h.get("frozen") and "grad_norm" in h]
    return float(np.mean(joint)) if joint else float("nan")


def gradient_report(e: "Embedded", part: str = "trunk") -> str:
    """One line: the terms' gradient norms at ``part`` and the whole gradient's norm before clipping
    (a model without RIE terms logs no per-term norms: its one term, L_cls, is the whole gradient)."""
    terms = gradient_terms(e.history, part)
    whole = f"the whole gradient before clipping {mean_grad_norm(e.history):.1f} (mean over the unfrozen epochs)"
    if not terms:
        return f"{label(e.method)}: one term (L_cls); {whole}"
    return (f"{label(e.method)}, gradient norm at the {part} per term: "
            + ", ".join(f"{t} {v:.1f}" for t, v in sorted(terms.items(), key=lambda kv: -kv[1])) + f"; {whole}")


def loss_curve_figure(embedded: dict):
    """The training loss per epoch of each fine-tuned model (first seed): does it level off?"""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for method, e in embedded.items():
        losses = [h["total"] for h in e.history if "total" in h]
        if losses:
            ax.plot(range(1, len(losses) + 1), losses, marker=".", label=label(method))
    ax.axvspan(0.5, FREEZE_EPOCHS + 0.5, color="0.92", zorder=0, label="encoder frozen")
    ax.set(xlabel="fine-tuning epoch", ylabel="training loss (mean over the epoch)", yscale="log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------
def _colors():
    return plt.get_cmap("tab10")(np.arange(NUM_IDS))


def _arrow(ax, u, radius, text, **style):
    ax.annotate("", xy=(u[0] * radius * 1.05, u[1] * radius * 1.05), xytext=(0, 0), zorder=4,
                arrowprops=dict(arrowstyle="-|>", lw=2.0, **style))
    ax.text(u[0] * radius * 1.14, u[1] * radius * 1.14, text, ha="center", va="center", fontsize=8, weight="bold",
            color=style.get("color", "k"))


def _embedding_panel(ax, e: Embedded, title: str | None = None, show_ui: bool = True):
    v, labels, hard = e.v.numpy(), e.labels.numpy(), e.hard.numpy().astype(bool)
    colors = _colors()
    radius = float(np.percentile(np.linalg.norm(v, axis=1), 98)) * 1.1 or 1.0
    if show_ui:
        uv = e.ui_v.numpy()
        ax.scatter(uv[:, 0], uv[:, 1], s=4, c="0.7", alpha=0.5, lw=0, label="UI faces", zorder=1)
    for c in range(NUM_IDS):
        name = f"ID {c}" + (" ✓" if c in e.hard_ids else "")
        m = labels == c
        ax.scatter(v[m & ~hard, 0], v[m & ~hard, 1], s=9, color=colors[c], marker="o", alpha=0.85, lw=0,
                   label=name, zorder=3)
        ax.scatter(v[m & hard, 0], v[m & hard, 1], s=16, color=colors[c], marker="x", alpha=0.85, lw=1.0, zorder=3)
    for c, w in enumerate(F.normalize(e.prototypes, dim=1).numpy()):
        ax.plot([0, w[0] * radius], [0, w[1] * radius], color=colors[c], lw=1.2, alpha=0.9, zorder=2)
    _arrow(ax, F.normalize(e.u_start, dim=0).numpy(), radius, "u₀", color="0.45", ls=":")
    _arrow(ax, F.normalize(e.u, dim=0).numpy(), radius, "UI", color="k", ls="--")
    lim = radius * 1.25
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
    if title:
        ax.set_title(title, fontsize=10)


def embedding_figure(embedded: dict, suptitle: str | None = None):
    """Fig. 4 per model: held-out embeddings coloured by identity (hard photographs = crosses, easy = dots;
    ✓ marks the hard identities), prototype rays in the identity's colour, UI faces in grey, the model's
    UI centre as a dashed black arrow and the fixed (pretrained) one, u₀, as a dotted grey arrow."""
    n = len(embedded)
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n, 3.8), squeeze=False)
    for ax, (method, e) in zip(axes[0], embedded.items()):
        m = measure(e)
        _embedding_panel(ax, e, f"{label(method)}\nhard {m['hard_angle']:.0f}° · easy {m['easy_angle']:.0f}° from UI\n"
                                f"acc hard {100 * m['hard_acc']:.0f} % · easy {100 * m['easy_acc']:.0f} %")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    ncol = NUM_IDS + 1 if n >= 3 else math.ceil((NUM_IDS + 1) / 2)
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, markerscale=1.5, frameon=False,
               title="dots: easy photographs · crosses: hard ones", title_fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout(rect=(0, 0.12 if n >= 3 else 0.18, 1, 0.95 if suptitle else 1))
    return fig


def angle_figure(embedded: dict):
    """Each held-out photograph's signed angle from the model's UI centre (0 = on it), per identity."""
    n = len(embedded)
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 3.0), squeeze=False, sharey=True)
    colors = _colors()
    rng = np.random.default_rng(0)
    for ax, (method, e) in zip(axes[0], embedded.items()):
        a = signed_angle_deg(e.v, e.u).numpy()
        labels, hard = e.labels.numpy(), e.hard.numpy().astype(bool)
        ax.axvspan(-30, 30, color="0.9", zorder=0)
        for c in range(NUM_IDS):
            for kind, marker in ((~hard, "o"), (hard, "x")):
                m = (labels == c) & kind
                y = c + rng.uniform(-0.25, 0.25, m.sum())
                ax.scatter(a[m], y, s=10, color=colors[c], marker=marker, lw=1.0 if marker == "x" else 0)
        ax.axvline(0, color="k", ls="--", lw=1)
        ax.set(xlim=(-180, 180), xticks=[-180, -90, 0, 90, 180], title=label(method),
               xlabel="angle from UI centre (deg)")
        ax.title.set_fontsize(9)
    axes[0, 0].set_yticks(range(NUM_IDS), [f"ID {c}" + (" ✓" if c in e.hard_ids else "") for c in range(NUM_IDS)])
    axes[0, 0].invert_yaxis()
    fig.tight_layout()
    return fig


def data_figure(data: ToyData, per_kind: int = 2, n_ui: int = 8):
    """One column per identity (hard ones ticked): a clean pretraining photo, ``per_kind`` hard and
    ``per_kind`` easy training photos each, then a row of UI faces (other people)."""
    from ..plots.figures import image_grid

    rows, titles = [], []
    pre = torch.stack([data.pretrain_images[data.pretrain_labels == c][0] for c in range(NUM_IDS)])
    rows.append(pre)
    titles += [f"ID {c}" + (" ✓" if c in data.hard_ids else "") + "\nclean" for c in range(NUM_IDS)]
    for kind, name in ((True, "hard"), (False, "easy")):
        for r in range(per_kind):
            row = []
            for c in range(NUM_IDS):
                idx = ((data.train_labels == c) & (data.train_hard == kind)).nonzero().squeeze(1)
                row.append(data.train_images[idx[r % len(idx)]])
            rows.append(torch.stack(row))
            titles += [name] * NUM_IDS
    ui = data.ui_images[:NUM_IDS] if n_ui else data.ui_images[:0]
    images = torch.cat([*rows, ui])
    titles += ["UI"] * len(ui)
    return image_grid(images, titles=titles, ncols=NUM_IDS, size=1.0,
                      suptitle=f"columns: identities (✓ = mostly hard photos; hard = {data.hard_resolution} px sensor) "
                               "· top: pretraining · last row: UI faces of other people")


def interactive_figure(beta: float = PAPER_WEIGHTS["beta"], tau: float = DEFAULT_TAU, hard_resolution: int = 8,
                       seed: int = 0, epochs: int = 30, pretrain_epochs: int = 25, data_kwargs: dict | None = None,
                       cache_dir=None, compare: str = "arcface", n_threads: int | None = 1, **train_kw):
    """Fine-tune ``compare`` and RIE (with ``beta``, ``tau``) from the pretrained encoder on toy data whose
    hard photographs are at ``hard_resolution`` px, and draw both embedding planes.

    With ``cache_dir`` every model is kept: ``compare`` does not depend on beta and tau, so moving those
    sliders retrains RIE only, and a setting seen before (the defaults: the first seed of ``run``) loads at once.
    """
    kw = {**(data_kwargs or {}), "hard_resolution": int(hard_resolution)}
    embedded = {}
    with threads(n_threads):
        data = make_toy_data(seed=seed, **kw)
        base = pretrain(data, epochs=pretrain_epochs, seed=seed, cache_dir=cache_dir, **_pretrain_kw(train_kw))
        u_start = ui_center(extract(base.model, data.ui_images).v)
        for method in (compare, "rie"):
            loss = {"beta": float(beta), "tau": float(tau)} if method == "rie" else {}
            result = train_method(method, data, base, epochs=epochs, seed=seed, cache_dir=cache_dir, **loss, **train_kw)
            embedded[method] = embed(method, result, data, u_start)
    title = f"beta = {beta:g}, tau = {tau:g}, hard photos at {hard_resolution} px, seed {seed}"
    return embedding_figure(embedded, suptitle=title)


def describe_methods(epochs: int | None = None, pretrain_epochs: int | None = None) -> str:
    """The pretraining, one line per method (head and kwargs, RIE weights), then the shared fine-tuning settings."""
    p = pretrain_config(**({} if pretrain_epochs is None else {"epochs": pretrain_epochs}))
    lines = [f"pretraining: clean (hr-tier) photos of the 8 people, head {p.head} (linear layer + bias), from scratch, "
             f"{p.epochs} epochs, batch {p.batch_size}, SGD lr {p.lr}"]
    for m in METHODS:
        head, kw = HEAD_2D[m]
        extra = ", ".join(f"{k}={v:g}" for k, v in PAPER_WEIGHTS.items()) if m == "rie" else "no RIE terms"
        args = ", ".join(f"{k}={v:g}" for k, v in kw.items()) or "linear layer + bias"
        lines.append(f"{SHORT_LABELS[m]:<11} head={head}({args}); {extra}")
    c = method_config("rie", **({} if epochs is None else {"epochs": epochs}))
    lines.append(f"all: backbone {c.backbone}, embedding_size {c.embedding_size}, from the pretrained encoder, "
                 f"{c.epochs} epochs (first {c.freeze_backbone_epochs} with the encoder frozen), batch {c.batch_size}, "
                 f"SGD lr {c.lr} (1 warm-up epoch, cosine), grad-norm clip {c.clip_grad_norm}")
    lines.append(f"RIE: tau {c.loss.tau}, mu_UI/sigma_UI {c.loss.ui_stats} (0, 1), detach v' {c.loss.detach_v_prime}, "
                 f"xi clipped at {c.loss.xi_max:g}, UI centre of the pretrained encoder, fixed ({c.ui_center_mode!r})")
    return "\n".join(lines)


__all__ = [
    "NUM_IDS", "HARD_IDS", "EASY_IDS", "HARD_SHARE", "EASY_ID_HARD_SHARE", "METHODS", "PRETRAINED", "HEAD_2D",
    "FREEZE_EPOCHS", "ToyData", "hard_tier", "n_hard", "make_toy_data", "threads", "pretrain_config", "pretrain",
    "method_config", "train_method", "angle_to_ui_deg", "signed_angle_deg", "nearest_prototype",
    "nearest_prototype_accuracy", "Embedded", "embed", "loss_change", "plane_use", "measure", "run", "summary_table",
    "CLAIMS", "claims", "verdict", "clip_report", "convergence_report", "loss_curve_figure", "embedding_figure", "angle_figure",
    "data_figure", "interactive_figure", "describe_methods", "label", "CLIP", "LOOSE_CLIP", "gradient_terms",
    "mean_grad_norm", "gradient_report",
]  # fmt: skip
