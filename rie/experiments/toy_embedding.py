"""The 2-D toy experiment of Fig. 4 (Section 4.2, "Face Recognizability-Aware Embeddings").

Eight synthetic people: five easy (IDs 0, 2, 3, 5, 7, photographed like the moderate tier)
and three hard (IDs 1, 4, 6, photographed at a very low sensor resolution with heavy
degradation), plus a UI set of unrecognisable faces of other people. A small backbone
with a **2-D** embedding is trained from scratch with plain softmax, ArcFace, AdaFace and
the full RIE loss (Eq. 10, ArcFace as ``L_cls``), and the embedding plane is drawn as in
Fig. 4 with the UI centre as the reference of recognizability.

The paper only *shows* the figure. Here it is measured, per method and seed:

* the mean angle (degrees) between the hard identities' held-out embeddings and the UI
  centre of the *trained* model (``ui_center`` of its UI-set embeddings, Eq. 2's ``u``);
* the nearest-prototype accuracy on held-out images (prototype = direction of a row of the
  head's weight, cosine without margin, as in Eq. 1);

and ``verdict`` states, from those numbers, whether RIE moves the hard identities away
from the UI centre more than the other losses do.

2-D choices (documented in notebook 05): ArcFace's ``s = 64, m = 0.5`` is built for
512-D; in the plane, 8 classes are at best 45 degrees apart, so the margin is cut to
``m = 0.2`` rad (11 degrees) and the scale to ``s = 16`` (already enough for a
cross-entropy near zero: ``e^{16}`` against 7 negatives); AdaFace gets the same ``s, m``.
The RIE run uses the same ArcFace head and the paper's weights (alpha 5, beta 2, gamma 1).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from ..common.checks import RIEInputError
from ..common.constants import NO_RIE_TERMS, PAPER_WEIGHTS, SHORT_LABELS
from ..data.synth import TIERS, TierConfig, render, sample_identities, sample_nuisance
from ..evaluation.inference import extract
from ..evaluation.protocols import unlabelled_faces
from ..method.losses import DEFAULT_TAU, RIELossConfig
from ..method.ri import ui_center
from ..training.train import TrainConfig, TrainResult, fit, train_or_load

NUM_IDS = 8
HARD_IDS = (1, 4, 6)
EASY_IDS = (0, 2, 3, 5, 7)
METHODS = ("softmax", "arcface", "adaface", "rie")
# Margin heads in 2-D: see the module docstring.
HEAD_2D = {
    "softmax": ("softmax", {}),
    "arcface": ("arcface", {"s": 16.0, "m": 0.2}),
    "adaface": ("adaface", {"s": 16.0, "m": 0.2}),
    "rie": ("arcface", {"s": 16.0, "m": 0.2}),
}


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
    """Train and held-out images of the 8 toy identities, and the UI set (all uint8 (N, 3, S, S))."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    ui_images: torch.Tensor
    hard_ids: tuple[int, ...]
    hard_resolution: int

    @property
    def easy_ids(self) -> tuple[int, ...]:
        return tuple(i for i in range(NUM_IDS) if i not in self.hard_ids)

    def is_hard(self, labels: torch.Tensor) -> torch.Tensor:
        return torch.isin(labels, torch.tensor(self.hard_ids))


def hard_tier(resolution: int = 8) -> TierConfig:
    """The hard tier at a fixed sensor resolution (``resolution`` x ``resolution`` px)."""
    return TIERS["hard"].replace(resolution=(int(resolution), int(resolution)))


def _split_render(people, per_id, gen, hard_ids, easy_tier, hard, image_size):
    labels = torch.arange(NUM_IDS).repeat_interleave(per_id)
    is_hard = torch.isin(labels, torch.tensor(hard_ids))
    images = torch.empty(len(labels), 3, image_size, image_size, dtype=torch.uint8)
    for mask, tier in ((~is_hard, easy_tier), (is_hard, hard)):
        idx = mask.nonzero().squeeze(1)
        nuisance = sample_nuisance(len(idx), gen, tier, image_size)
        images[idx] = render(people[labels[idx]], nuisance, image_size).images
    return images, labels


def make_toy_data(seed: int = 0, train_per_id: int = 32, test_per_id: int = 20, n_ui: int = 256,
                  hard_resolution: int = 8, easy_tier="moderate", hard_ids=HARD_IDS, image_size: int = 32,
                  n_threads: int | None = 1) -> ToyData:
    """Eight new people drawn with ``seed``; ``hard_ids`` photographed with ``hard_tier(hard_resolution)``.

    Held-out images are new photographs (new nuisance draws) of the same people; the UI set
    is ``n_ui`` faces of other people from the "ui" tier.
    """
    hard_ids = tuple(sorted(int(i) for i in hard_ids))
    if not hard_ids or any(i < 0 or i >= NUM_IDS for i in hard_ids) or len(hard_ids) >= NUM_IDS:
        raise RIEInputError(f"hard_ids must be a non-empty proper subset of 0..{NUM_IDS - 1}, got {hard_ids}")
    if train_per_id < 1 or test_per_id < 1 or n_ui < 2:
        raise RIEInputError("need train_per_id >= 1, test_per_id >= 1 and n_ui >= 2")
    with threads(n_threads):
        gen = torch.Generator().manual_seed(seed)
        people = sample_identities(NUM_IDS, gen)
        hard = hard_tier(hard_resolution)
        train_images, train_labels = _split_render(people, train_per_id, gen, hard_ids, easy_tier, hard, image_size)
        test_images, test_labels = _split_render(people, test_per_id, gen, hard_ids, easy_tier, hard, image_size)
        ui = unlabelled_faces(n_ui, tier="ui", seed=seed + 10_000, image_size=image_size)
    return ToyData(train_images, train_labels, test_images, test_labels, ui, hard_ids, int(hard_resolution))


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------
def method_config(method: str, epochs: int = 50, seed: int = 0, batch_size: int = 64, lr: float = 0.1,
                  ui_center_mode: str = "epoch", **loss) -> TrainConfig:
    """The TrainConfig of one method of the toy experiment (2-D embedding, from scratch).

    ``loss`` overrides RIE loss fields (beta, tau, ...) for the "rie" method.
    ``ui_center_mode="epoch"``: from scratch, the starting model's UI centre is a random
    direction, so the RIE run recomputes it from the UI set at the start of every epoch.
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
    )


def train_method(method: str, data: ToyData, epochs: int = 50, seed: int = 0, cache_dir=None, **kw) -> TrainResult:
    """Train (or load from ``cache_dir``) one method on the toy data."""
    config = method_config(method, epochs=epochs, seed=seed, **kw)
    ui = data.ui_images if config.uses_rie else None
    if cache_dir is None:
        return fit(config, data.train_images, data.train_labels, ui, progress=False)
    return train_or_load(config, data.train_images, data.train_labels, ui, cache_dir=cache_dir, progress=False)


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
    """A trained toy model's view of the data: held-out and UI embeddings, prototypes, UI centre."""

    method: str
    v: torch.Tensor  # (N, 2) held-out embeddings
    labels: torch.Tensor
    ui_v: torch.Tensor  # UI-set embeddings
    u: torch.Tensor  # UI centre of the trained model
    prototypes: torch.Tensor  # head weight rows
    hard_ids: tuple[int, ...]


def embed(method: str, result: TrainResult, data: ToyData) -> Embedded:
    v = extract(result.model, data.test_images).v
    ui_v = extract(result.model, data.ui_images).v
    return Embedded(method, v, data.test_labels, ui_v, ui_center(ui_v), result.head.weight.detach().clone(), data.hard_ids)


def measure(e: Embedded) -> dict:
    """Angles to the UI centre and nearest-prototype accuracies, hard vs easy identities."""
    hard = torch.isin(e.labels, torch.tensor(e.hard_ids))
    ang = angle_to_ui_deg(e.v, e.u)
    return {
        "hard_angle": float(ang[hard].mean()),
        "easy_angle": float(ang[~hard].mean()),
        "hard_acc": nearest_prototype_accuracy(e.v[hard], e.prototypes, e.labels[hard]),
        "easy_acc": nearest_prototype_accuracy(e.v[~hard], e.prototypes, e.labels[~hard]),
        # resultant length of the normalised UI embeddings: 1 = one tight direction, 0 = no cluster
        "ui_concentration": float(F.normalize(e.ui_v, dim=1).mean(0).norm()),
    }


def run(seeds=(0, 1, 2), methods=METHODS, epochs: int = 50, cache_dir=None, data_kwargs=None,
        n_threads: int | None = 1, **kw):
    """The per-method, per-seed loop. Each seed draws new people, photos, UI set and initialisation.

    Returns ``(rows, embedded)``: one dict of ``measure`` per (method, seed), and the
    ``Embedded`` of every method for the first seed (for the figures).
    """
    rows, first = [], {}
    with threads(n_threads):
        for i, seed in enumerate(seeds):
            data = make_toy_data(seed=seed, **(data_kwargs or {}))
            for method in methods:
                result = train_method(method, data, epochs=epochs, seed=seed, cache_dir=cache_dir, **kw)
                e = embed(method, result, data)
                rows.append({"method": method, "seed": seed, **measure(e)})
                if i == 0:
                    first[method] = e
    return rows, first


# ---------------------------------------------------------------------------
# Summaries and the verdict
# ---------------------------------------------------------------------------
# angle = mean angle to the UI centre; acc = nearest-prototype accuracy; UI conc. = resultant
# length of the normalised UI embeddings (1: one tight direction, 0: no cluster)
COLUMNS = {
    "hard_angle": "hard angle (deg)",
    "easy_angle": "easy angle (deg)",
    "hard_acc": "hard acc (%)",
    "easy_acc": "easy acc (%)",
    "ui_concentration": "UI conc.",
}


def _values(rows, method, key):
    return np.array([r[key] for r in sorted(rows, key=lambda r: r["seed"]) if r["method"] == method], dtype=float)


def summary_table(rows, decimals: int = 1):
    """A DataFrame, one row per method: ``mean ± std`` over seeds (accuracies in %)."""
    import pandas as pd

    methods = list(dict.fromkeys(r["method"] for r in rows))
    table = {}
    for m in methods:
        cells = {}
        for key, name in COLUMNS.items():
            x = _values(rows, m, key) * (100.0 if key.endswith("acc") else 1.0)
            dec = decimals + 1 if key == "ui_concentration" else decimals
            cells[name] = f"{x.mean():.{dec}f} ± {_sd(x):.{dec}f}"
        table[SHORT_LABELS.get(m, m)] = cells
    out = pd.DataFrame.from_dict(table, orient="index")
    out.index.name = f"method ({len(_values(rows, methods[0], 'hard_angle'))} seeds)"
    return out


def _sd(x: np.ndarray) -> float:
    return float(x.std(ddof=1)) if len(x) > 1 else 0.0


def _judge(d: np.ndarray) -> str:
    """"further" if mean > sd, "closer" if mean < -sd, else "within" (the seed-to-seed spread)."""
    m, sd = d.mean(), _sd(d)
    return "further" if m > sd else "closer" if m < -sd else "within"


def verdict(rows, method: str = "rie", same_head: str | None = "arcface") -> str:
    """Does ``method`` move the hard identities further from the UI centre than every other method?

    Per seed, the difference of the hard identities' mean angle to the UI centre between
    ``method`` and each other method (paired by seed); the comparison with the *strongest*
    other method (largest mean angle) decides. "YES" needs the mean difference to exceed its
    standard deviation over seeds, "NO" is a mean below minus its standard deviation,
    "NOT SHOWN" a difference within the seed-to-seed spread. ``same_head`` names the method
    that shares ``method``'s classification head, so that line isolates the RIE terms.
    """
    others = [m for m in dict.fromkeys(r["method"] for r in rows) if m != method]
    ours = _values(rows, method, "hard_angle")
    if not others or not len(ours):
        raise RIEInputError(f"verdict needs rows of {method!r} and of at least one other method")
    name = lambda m: SHORT_LABELS.get(m, m)  # noqa: E731
    diffs = {m: ours - _values(rows, m, "hard_angle") for m in others}
    best = max(others, key=lambda m: _values(rows, m, "hard_angle").mean())
    d, n = diffs[best], len(ours)
    judged = _judge(d)
    if judged == "further":
        head = (f"YES: {name(method)} moves the hard identities further from the UI centre than every other loss, "
                f"by {d.mean():.1f} ± {_sd(d):.1f} deg over the strongest, {name(best)} ({n} seeds).")
    elif judged == "closer":
        head = (f"NO: {name(method)} leaves the hard identities CLOSER to the UI centre than {name(best)}, "
                f"by {-d.mean():.1f} ± {_sd(d):.1f} deg ({n} seeds).")
    else:
        head = (f"NOT SHOWN: {name(method)} vs the strongest other loss, {name(best)}: "
                f"{d.mean():+.1f} ± {_sd(d):.1f} deg, within the seed-to-seed spread ({n} seeds).")
    words = {"further": "further from the UI centre", "closer": "closer to the UI centre",
             "within": "within the seed-to-seed spread"}
    lines = [head, "hard identities' mean angle to the UI centre, paired by seed (mean ± std):"]
    for m in others:
        note = f"  <- same head without the RIE terms: {words[_judge(diffs[m])]}" if m == same_head else ""
        lines.append(f"  {name(method)} - {name(m)}: {diffs[m].mean():+6.1f} ± {_sd(diffs[m]):4.1f} deg{note}")
    acc = {m: _values(rows, m, "hard_acc").mean() * 100 for m in [method, *others]}
    lines.append("hard identities' nearest-prototype accuracy (chance 12.5%): "
                 + ", ".join(f"{name(m)} {a:.1f}%" for m, a in acc.items()))
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------
def _colors():
    return plt.get_cmap("tab10")(np.arange(NUM_IDS))


def _embedding_panel(ax, e: Embedded, title: str | None = None, show_ui: bool = True):
    v, labels, u = e.v.numpy(), e.labels.numpy(), e.u.numpy()
    colors = _colors()
    radius = float(np.percentile(np.linalg.norm(v, axis=1), 98)) * 1.1 or 1.0
    if show_ui:
        uv = e.ui_v.numpy()
        ax.scatter(uv[:, 0], uv[:, 1], s=4, c="0.7", alpha=0.5, lw=0, label="UI faces", zorder=1)
    for c in range(NUM_IDS):
        m = labels == c
        hard = c in e.hard_ids
        ax.scatter(v[m, 0], v[m, 1], s=16 if hard else 9, color=colors[c], marker="x" if hard else "o",
                   alpha=0.85, lw=1.0 if hard else 0, label=f"ID {c}" + (" ✓" if hard else ""), zorder=3)
    for c, w in enumerate(F.normalize(e.prototypes, dim=1).numpy()):
        ax.plot([0, w[0] * radius], [0, w[1] * radius], color=colors[c], lw=1.2, alpha=0.9, zorder=2)
    ax.annotate("", xy=(u[0] * radius * 1.05, u[1] * radius * 1.05), xytext=(0, 0), zorder=4,
                arrowprops=dict(arrowstyle="-|>", color="k", lw=2.0, ls="--"))
    ax.text(u[0] * radius * 1.12, u[1] * radius * 1.12, "UI", ha="center", va="center", fontsize=9, weight="bold")
    lim = radius * 1.25
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
    if title:
        ax.set_title(title, fontsize=10)


def embedding_figure(embedded: dict, suptitle: str | None = None):
    """Fig. 4 per method: held-out embeddings coloured by identity (hard = crosses, ✓ in the legend),
    prototype rays in the identity's colour, UI faces in grey and the UI centre as a dashed black arrow."""
    n = len(embedded)
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n, 3.7), squeeze=False)
    for ax, (method, e) in zip(axes[0], embedded.items()):
        m = measure(e)
        _embedding_panel(ax, e, f"{SHORT_LABELS.get(method, method)}\nhard {m['hard_angle']:.0f}° · easy {m['easy_angle']:.0f}° from UI")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    ncol = NUM_IDS + 1 if n >= 3 else math.ceil((NUM_IDS + 1) / 2)
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, markerscale=1.5, frameon=False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout(rect=(0, 0.08 if n >= 3 else 0.13, 1, 0.97 if suptitle else 1))
    return fig


def angle_figure(embedded: dict):
    """The measured quantity: each held-out face's signed angle from the UI centre (0 = on it), per identity."""
    n = len(embedded)
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n, 3.0), squeeze=False, sharey=True)
    colors = _colors()
    rng = np.random.default_rng(0)
    for ax, (method, e) in zip(axes[0], embedded.items()):
        a = signed_angle_deg(e.v, e.u).numpy()
        labels = e.labels.numpy()
        ax.axvspan(-30, 30, color="0.9", zorder=0)
        for c in range(NUM_IDS):
            m = labels == c
            hard = c in e.hard_ids
            y = c + rng.uniform(-0.25, 0.25, m.sum())
            ax.scatter(a[m], y, s=10, color=colors[c], marker="x" if hard else "o", lw=1.0 if hard else 0)
        ax.axvline(0, color="k", ls="--", lw=1)
        ax.set(xlim=(-180, 180), xticks=[-180, -90, 0, 90, 180], title=SHORT_LABELS.get(method, method),
               xlabel="angle from UI centre (deg)")
        ax.title.set_fontsize(10)
    axes[0, 0].set_yticks(range(NUM_IDS), [f"ID {c}" + (" ✓" if c in e.hard_ids else "") for c in range(NUM_IDS)])
    axes[0, 0].invert_yaxis()
    fig.tight_layout()
    return fig


def data_figure(data: ToyData, per_id: int = 4, n_ui: int = 8):
    """One column per identity (hard ones ticked), ``per_id`` training photos each, then a row of UI faces."""
    from ..plots.figures import image_grid

    per_id = min(per_id, int((data.train_labels == 0).sum()))
    cols = [data.train_images[data.train_labels == c][:per_id] for c in range(NUM_IDS)]
    rows = [torch.stack([col[r] for col in cols]) for r in range(per_id)]
    ui = data.ui_images[:NUM_IDS] if n_ui else data.ui_images[:0]
    images = torch.cat([*rows, ui])
    titles = [f"ID {c}" + (" ✓" if c in data.hard_ids else "") for c in range(NUM_IDS)]
    titles += [""] * (NUM_IDS * (per_id - 1)) + ["UI"] * len(ui)
    return image_grid(images, titles=titles, ncols=NUM_IDS, size=1.0,
                      suptitle=f"columns: identities (✓ = hard, {data.hard_resolution} px sensor) · last row: UI faces")


def interactive_figure(beta: float = PAPER_WEIGHTS["beta"], tau: float = DEFAULT_TAU, hard_resolution: int = 8,
                       seed: int = 0, epochs: int = 50, data_kwargs: dict | None = None, cache_dir=None,
                       compare: str = "arcface", n_threads: int | None = 1, **train_kw):
    """Train ``compare`` and RIE (with ``beta``, ``tau``) on toy data whose hard IDs are at ``hard_resolution`` px
    and draw both embedding planes.

    With ``cache_dir`` every model is kept: ``compare`` does not depend on beta and tau, so moving those
    sliders retrains RIE only, and a setting seen before (the defaults: the first seed of ``run``) loads at once.
    """
    kw = {**(data_kwargs or {}), "hard_resolution": int(hard_resolution)}
    embedded = {}
    with threads(n_threads):
        data = make_toy_data(seed=seed, **kw)
        for method in (compare, "rie"):
            loss = {"beta": float(beta), "tau": float(tau)} if method == "rie" else {}
            result = train_method(method, data, epochs=epochs, seed=seed, cache_dir=cache_dir, **loss, **train_kw)
            embedded[method] = embed(method, result, data)
    return embedding_figure(embedded, suptitle=f"beta = {beta:g}, tau = {tau:g}, hard IDs at {hard_resolution} px, seed {seed}")


def describe_methods(epochs: int | None = None) -> str:
    """One line per method (head and kwargs, RIE weights), then the shared training settings."""
    lines = []
    for m in METHODS:
        head, kw = HEAD_2D[m]
        extra = ", ".join(f"{k}={v:g}" for k, v in PAPER_WEIGHTS.items()) if m == "rie" else "no RIE terms"
        args = ", ".join(f"{k}={v:g}" for k, v in kw.items()) or "linear layer + bias"
        lines.append(f"{SHORT_LABELS[m]:<11} head={head}({args}); {extra}")
    c = method_config("rie", **({} if epochs is None else {"epochs": epochs}))
    lines.append(f"all: backbone {c.backbone}, embedding_size {c.embedding_size}, from scratch, {c.epochs} epochs, "
                 f"batch {c.batch_size}, SGD lr {c.lr} (1 warm-up epoch, cosine), grad-norm clip {c.clip_grad_norm}")
    lines.append(f"RIE: tau {c.loss.tau}, mu_UI/sigma_UI {c.loss.ui_stats} (0, 1), detach v' {c.loss.detach_v_prime}, "
                 f"xi clipped at {c.loss.xi_max:g}, UI centre refreshed every epoch ({c.ui_center_mode!r})")
    return "\n".join(lines)


__all__ = [
    "NUM_IDS", "HARD_IDS", "EASY_IDS", "METHODS", "HEAD_2D", "ToyData", "hard_tier", "make_toy_data",
    "threads", "method_config", "train_method", "angle_to_ui_deg", "signed_angle_deg", "nearest_prototype",
    "nearest_prototype_accuracy", "Embedded", "embed", "measure", "run", "summary_table", "verdict",
    "embedding_figure", "angle_figure", "data_figure", "interactive_figure", "describe_methods",
]  # fmt: skip

