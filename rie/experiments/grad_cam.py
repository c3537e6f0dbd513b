"""Grad-CAM for face embeddings (the paper's Fig. 5), and how much of each map lands on the face parts.

A face model has no class logit for an unseen person, so the Grad-CAM target is the cosine
similarity of an image's embedding to a reference template (in notebook 06: the mean gallery
embedding of the probe's identity). The map then shows where on the feature map the evidence
that makes the probe match its identity lies. ``pytorch_grad_cam`` computes it on
``backbone.target_layer`` (the feature map the RIE branches read), upsampled to the image and
min-max scaled to [0, 1] per image.

The synthetic world knows where each face part is, so the paper's reading of Fig. 5 ("focuses
more on the salient face features, i.e. eyes, nose, and mouth") becomes a number, the *part
concentration*:

    concentration = (share of the map's mass inside the eyes/nose/mouth boxes)
                    / (share of the image those boxes cover)

1 means no preference for the parts, above 1 a map that lands on them.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..common.checks import RIEInputError
from ..data.synth import PARTS, boxes_to_masks
from ..evaluation.inference import as_float_images, extract
from ..evaluation.verdicts import effect, make_claim, paired_effect
from ..plots.figures import to_rgb


class SimilarityToTemplate:
    """Grad-CAM target: ``cos(v, t)`` of one image's embedding ``v`` (D,) and a template ``t`` (D,)."""

    def __init__(self, template: torch.Tensor):
        self.template = F.normalize(template.detach().float(), dim=0)

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        return F.normalize(v, dim=-1) @ self.template.to(v.device)


class _Embedder(nn.Module):
    """``x -> v``: what ``pytorch_grad_cam`` calls, whatever the model's own forward returns."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)


def _backbone(model: nn.Module) -> nn.Module:
    backbone = getattr(model, "backbone", model)  # an RIEModel or a bare backbone
    if not hasattr(backbone, "target_layer"):
        raise RIEInputError(f"{type(model).__name__} has no backbone with a target_layer (see rie.method.backbones)")
    return backbone


def identity_templates(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``(C, D)`` unit templates: the mean of each identity's L2-normalised embeddings (labels ``0..C-1``).

    An identity with no image gets a row of NaN, so that using it is loud, not silently zero."""
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or len(labels) != len(images):
        raise RIEInputError(f"labels must be a (N,) tensor matching {len(images)} images, got {getattr(labels, 'shape', labels)}")
    if len(labels) == 0:
        raise RIEInputError("no images to build templates from")
    if labels.min() < 0:
        raise RIEInputError("labels must be >= 0 (distractors, label -1, have no template)")
    v = F.normalize(extract(model, images).v, dim=1)
    num = int(labels.max()) + 1
    sums = torch.zeros(num, v.shape[1]).index_add_(0, labels, v)
    counts = torch.bincount(labels, minlength=num)
    templates = F.normalize(sums, dim=1)
    templates[counts == 0] = float("nan")
    return templates


def embedding_cams(model: nn.Module, images: torch.Tensor, templates: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Grad-CAM maps ``(N, H, W)`` in [0, 1] for the similarity of each image's embedding to its template.

    ``images`` (N, 3, H, W) uint8 or float in [-1, 1]; ``templates`` (N, D), one per image (rows of
    ``identity_templates`` indexed by label). A map with no positive evidence is all zeros.
    The model's train/eval mode is restored afterwards; its parameter gradients are cleared.
    """
    from pytorch_grad_cam import GradCAM  # heavy import (cv2), only where it is used

    backbone = _backbone(model)
    if not isinstance(templates, torch.Tensor) or templates.ndim != 2 or len(templates) != len(images):
        raise RIEInputError(f"templates must be (N, D) with N = {len(images)} images, got {getattr(templates, 'shape', templates)}")
    if templates.shape[1] != backbone.embedding_size:
        raise RIEInputError(f"templates have {templates.shape[1]} dimensions, the model embeds in {backbone.embedding_size}")
    if not torch.isfinite(templates).all() or (templates.norm(dim=1) == 0).any():
        raise RIEInputError("templates must be finite and non-zero (an identity without gallery images has no template)")
    if batch_size < 1:
        raise RIEInputError(f"batch_size must be >= 1, got {batch_size}")
    x_all = as_float_images(images)
    was_training = model.training
    maps = []
    with torch.enable_grad(), GradCAM(model=_Embedder(backbone), target_layers=[backbone.target_layer]) as cam:
        try:
            for start in range(0, len(x_all), batch_size):
                # an input that requires grad: gradients reach the feature map even if the weights are frozen
                x = x_all[start : start + batch_size].clone().requires_grad_(True)
                targets = [SimilarityToTemplate(t) for t in templates[start : start + batch_size]]
                maps.append(torch.from_numpy(cam(input_tensor=x, targets=targets)).float())
        finally:
            model.train(was_training)
            backbone.zero_grad(set_to_none=True)
    return torch.cat(maps) if maps else torch.empty(0, *x_all.shape[-2:])


def probe_cams(model: nn.Module, world, n: int | None = None) -> torch.Tensor:
    """Maps of the test split's probes (the first ``n``) towards their identity's gallery template."""
    gallery, probe = world["gallery"], world["probe"]
    templates = identity_templates(model, gallery.images, gallery.labels)
    n = len(probe.labels) if n is None else n
    return embedding_cams(model, probe.images[:n], templates[probe.labels[:n]])


def ladder_rows(models: dict, ladder) -> list[dict]:
    """Part concentration along ``protocols.ladder_images(..., with_boxes=True)``: the same faces at
    every sensor resolution, each probe's map towards its identity's HR-gallery template.

    ``models[(method, seed)]`` -> one row per (method, seed, resolution) with the mean ``concentration``."""
    if len(ladder) != 4:
        raise RIEInputError("ladder must come from protocols.ladder_images(..., with_boxes=True)")
    gallery, gallery_labels, probes, boxes = ladder
    union = boxes_to_masks(boxes, gallery.shape[-1]).any(1, keepdim=True)
    rows = []
    for (method, seed), model in models.items():
        templates = identity_templates(model, gallery, gallery_labels)
        for resolution, (images, labels) in probes.items():
            conc = part_concentration(embedding_cams(model, images, templates[labels]), union)[:, 0]
            rows.append({"method": method, "seed": seed, "resolution": resolution, "concentration": _nanmean(conc)})
    return rows


def _check_maps(cams: torch.Tensor, masks: torch.Tensor) -> None:
    if not isinstance(cams, torch.Tensor) or cams.ndim != 3:
        raise RIEInputError(f"cams must be a (N, H, W) tensor, got {getattr(cams, 'shape', type(cams))}")
    if not isinstance(masks, torch.Tensor) or masks.ndim != 4 or masks.shape[0] != cams.shape[0] or masks.shape[2:] != cams.shape[1:]:
        raise RIEInputError(f"masks must be (N, K, H, W) matching cams {tuple(cams.shape)}, got {getattr(masks, 'shape', type(masks))}")
    if not torch.isfinite(cams).all() or (cams < 0).any():
        raise RIEInputError("cams must be finite and non-negative")


def part_mass(cams: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``(N, K)`` share of each map's mass inside each of the K part masks (NaN for an all-zero map)."""
    _check_maps(cams, masks)
    total = cams.flatten(1).sum(1)
    inside = (cams[:, None] * masks.float()).flatten(2).sum(2)
    return torch.where(total[:, None] > 0, inside / total.clamp_min(1e-30)[:, None], torch.nan)


def part_concentration(cams: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``(N, K)`` share of each map's mass inside each mask over the share of pixels the mask covers.

    1 = the map is indifferent to the part; NaN for an all-zero map or an empty mask. For the
    union of the parts pass ``masks.any(1, keepdim=True)``."""
    area = masks.flatten(2).float().mean(2)
    return torch.where(area > 0, part_mass(cams, masks) / area.clamp_min(1e-30), torch.nan)


def mean_map_concentration(cams: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The control for ``part_concentration``: every image scored with the maps' *average*.

    Faces are centred, so a map can sit on the parts without looking at the image; only
    per-image maps that beat this control follow each face's own parts."""
    _check_maps(cams, masks)
    return part_concentration(cams.mean(0, keepdim=True).expand_as(cams), masks)


def _nanmean(x: torch.Tensor) -> float:
    x = x[~torch.isnan(x)]
    return float(x.mean()) if len(x) else float("nan")


def concentration_rows(cams: dict, masks: torch.Tensor, groups: dict, parts=PARTS) -> list[dict]:
    """One row per (method, seed, group) for ``rie.experiments.training_and_ablation``'s summaries and paired effects.

    ``cams[(method, seed)]`` are (N, H, W) maps of the same N images; ``masks`` (N, K, H, W) their
    part masks; ``groups[name]`` an (N,) boolean selection (e.g. a quality tier). Columns: the mean
    ``concentration`` on the union of the parts, its average-map ``control``, one column per part,
    and ``empty``, the fraction of maps with no positive evidence (left out of the means)."""
    union = masks.any(1, keepdim=True)
    rows = []
    for (method, seed), c in cams.items():
        conc, control = part_concentration(c, union)[:, 0], mean_map_concentration(c, union)[:, 0]
        per_part = part_concentration(c, masks)
        for group, sel in groups.items():
            if len(sel) != len(c):
                raise RIEInputError(f"group {group!r} selects from {len(sel)} images, the maps are of {len(c)}")
            rows.append({"method": method, "seed": seed, "group": group, "concentration": _nanmean(conc[sel]),
                         "control": _nanmean(control[sel]), "empty": float(torch.isnan(conc[sel]).float().mean()),
                         **{p: _nanmean(per_part[sel, k]) for k, p in enumerate(parts)}})
    return rows


def claims(rows: list[dict], ours: str, rivals, hard_group: str = "hard", all_group: str = "all",
           ladder: list[dict] | None = None) -> list[dict]:
    """The paper's reading of Fig. 5 as effects on the part concentration, each with its 95 % interval over seeds.

    With ``ladder`` rows (``ladder_rows``), first a positive control per model: on the sharpest
    rung, do its maps favour the parts? Then for every model: its maps favour the parts on the
    probes (concentration - 1) and follow each face's own parts (concentration - its average-map
    control); then ``ours`` against each rival, paired by seed, on all probes and on the hardest
    (obscure) ones."""
    def group(g):
        return [r for r in rows if r["group"] == g]

    out = []
    if ladder:
        top = max(r["resolution"] for r in ladder)
        for method in dict.fromkeys(r["method"] for r in ladder):
            sharp = [r["concentration"] - 1 for r in ladder if r["method"] == method and r["resolution"] == top]
            out.append(make_claim(f"{method}: maps favour eyes/nose/mouth on {top} px ladder faces (positive control)",
                                  effect(sharp), unit="x"))
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in group(all_group) if r["method"] == method]
        out.append(make_claim(f"{method}: maps favour eyes/nose/mouth (concentration > 1)",
                              effect([r["concentration"] - 1 for r in mine]), unit="x"))
        out.append(make_claim(f"{method}: maps follow each face's parts (beat its average map)",
                              effect([r["concentration"] - r["control"] for r in mine]), unit="x"))
    for g in (all_group, hard_group):
        for rival in rivals:
            out.append(make_claim(f"{ours} lands more on eyes/nose/mouth than {rival} ({g} probes)",
                                  paired_effect(group(g), ours, rival, "concentration"), unit="x"))
    return out


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def cam_overlays(images, cams: dict, boxes=None, titles=None, first: int = 0, count: int | None = None,
                 alpha: float = 0.5, title: str = "Grad-CAM of the match to the identity's template (Fig. 5)"):
    """One row per image: the image (part boxes outlined), then each model's map over it.

    ``cams[name]`` is (N, H, W) in [0, 1]; ``boxes`` (N, K, 4) pixel boxes (x0, y0, x1, y1);
    rows ``first`` to ``first + count`` are drawn (all by default)."""
    rows = slice(first, None if count is None else first + count)
    images, boxes = images[rows], None if boxes is None else boxes[rows]
    titles = None if titles is None else list(titles)[rows]
    cams = {name: c[rows] for name, c in cams.items()}
    rgb = to_rgb(images)
    names = list(cams)
    n, size = len(rgb), rgb.shape[1]
    fig, axes = plt.subplots(n, len(names) + 1, figsize=(1.35 * (len(names) + 1), 1.35 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(rgb[i], interpolation="nearest")
        if boxes is not None:
            for x0, y0, x1, y1 in boxes[i].tolist():
                # pixel centres sit at k + 0.5; imshow puts pixel k at [k - 0.5, k + 0.5]
                axes[i, 0].add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="lime", lw=0.8))
        if titles is not None:
            axes[i, 0].set_ylabel(titles[i], fontsize=7)
        for j, name in enumerate(names, start=1):
            axes[i, j].imshow(rgb[i], interpolation="nearest")
            axes[i, j].imshow(np.asarray(cams[name][i]), cmap="jet", alpha=alpha, vmin=0, vmax=1, extent=(-0.5, size - 0.5, size - 0.5, -0.5))
            if i == 0:
                axes[i, j].set_title(name, fontsize=8)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("image + parts", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def mean_maps(cams: dict, part_masks=None, title: str = "average Grad-CAM map over the probes"):
    """Each model's average map, on one colour scale (0 to the largest average); ``part_masks``
    (N, K, H, W): white contour where the parts lie in at least half of the images."""
    names = list(cams)
    means = {name: np.asarray(cams[name]).mean(0) for name in names}
    vmax = max(float(m.max()) for m in means.values()) or 1.0
    fig, axes = plt.subplots(1, len(names), figsize=(2.2 * len(names) + 0.6, 2.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        im = ax.imshow(means[name], cmap="jet", vmin=0, vmax=vmax)
        if part_masks is not None:
            ax.contour(part_masks.any(1).float().mean(0).numpy(), levels=[0.5], colors="white", linewidths=0.8)
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="mean map")
    fig.suptitle(title, fontsize=10)
    return fig


def concentration_plot(summary: dict, control: dict | None = None, ylabel: str = "part concentration",
                       title: str = "how much of the map lands on eyes, nose and mouth"):
    """``summary[group][model] = (mean, std)`` over seeds, one marker per model and group (1, dashed =
    no preference for the parts); ``control[group][model]`` (same shape) as hollow markers: the
    model's average map scored on every image."""
    groups = list(summary)
    models = list(dict.fromkeys(m for g in groups for m in summary[g]))
    step = 0.6 / max(len(models) - 1, 1)
    fig, ax = plt.subplots(figsize=(3.8 + 1.6 * len(groups), 3.2))
    x = np.arange(len(groups))
    for k, m in enumerate(models):
        xs = x - 0.3 + step * k
        mean = [summary[g][m][0] for g in groups]
        sd = np.nan_to_num([summary[g][m][1] for g in groups])
        line = ax.errorbar(xs, mean, yerr=sd, fmt="o", ms=5, capsize=3, label=m)
        if control:
            ax.scatter(xs, [control[g][m][0] for g in groups], marker="o", s=30, facecolors="none",
                       edgecolors=line[0].get_color(), label="hollow: the model's average map (control)" if k == 0 else None)
    ax.axhline(1, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x, groups)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def concentration_ladder(summary: dict, title: str = "part concentration as the sensor resolution falls"):
    """``summary[(method, resolution)] = (mean, std, ...)`` over seeds: one line per method (1, dashed =
    no preference for the parts)."""
    methods = list(dict.fromkeys(m for m, _ in summary))
    fig, ax = plt.subplots(figsize=(5.6, 3.3))
    for k, m in enumerate(methods):
        res = sorted((r for mm, r in summary if mm == m), reverse=True)
        mean = [summary[(m, r)][0] for r in res]
        sd = np.nan_to_num([summary[(m, r)][1] for r in res])
        ax.errorbar(np.asarray(res) + 0.25 * (k - (len(methods) - 1) / 2), mean, yerr=sd, marker="o", ms=4, capsize=3, label=m)
    ax.axhline(1, color="grey", lw=0.8, ls="--")
    ax.invert_xaxis()
    ax.set(xlabel="sensor resolution (px)", ylabel="part concentration", title=title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
