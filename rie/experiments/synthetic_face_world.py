"""Figures and tables that tour the synthetic face world (notebook 01).

Every figure function returns a matplotlib Figure (display it with
``rie.plots.figures.show``); every table function returns a string. They render what
they show with :func:`rie.data.synth.render`, so the pictures are exactly the data
the models see, at whatever size is asked for.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..common.checks import RIEInputError
from ..data import synth

PART_COLOURS = ("#e41a1c", "#4daf4a", "#377eb8")  # eyes, nose, mouth
ROLE_COLOURS = {"pretrain": "#1b9e77", "train": "#d95f02", "gallery": "#7570b3", "probe": "#e7298a",
                "distractor": "#66a61e", "ui": "#666666"}  # fmt: skip


def _imshow(ax, img: torch.Tensor, title: str | None = None, boxes: torch.Tensor | None = None, fontsize=7):
    ax.imshow(img.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    if title is not None:
        ax.set_title(title, fontsize=fontsize)
    if boxes is not None:
        for k, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
            ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                                       ec=PART_COLOURS[k], lw=1.0))  # fmt: skip


def _grid(nrows: int, ncols: int, size: float = 1.3, title_space: float = 0.0):
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size + title_space), squeeze=False)
    return fig, axes


def _repeat(nz: dict, n: int) -> dict:
    return {k: v[:1].expand(n).clone() for k, v in nz.items()}


def identity_montage(n_identities: int = 6, images_per_identity: int = 6, image_size: int = 112,
                     tier: str = "hr", seed: int = 0, degrade: bool = False, show_boxes: bool = False):  # fmt: skip
    """Rows are people, columns are photos of them with nuisance from ``tier``.

    ``degrade=False`` shows the scene at full resolution (pose, expression,
    light, background, occlusion) without the camera's blur / noise / JPEG.
    """
    if n_identities < 1 or images_per_identity < 1:
        raise RIEInputError("n_identities and images_per_identity must be >= 1")
    ids = synth.sample_identities(n_identities, seed)
    labels = torch.arange(n_identities).repeat_interleave(images_per_identity)
    nz = synth.sample_nuisance(len(labels), seed + 1, tier, image_size)
    batch = synth.render(ids[labels], nz, image_size, degrade=degrade)
    fig, axes = _grid(n_identities, images_per_identity, 1.35, 0.4)
    for i, ax in enumerate(axes.flat):
        _imshow(ax, batch.images[i], boxes=batch.boxes[i] if show_boxes else None)
        if i % images_per_identity == 0:
            ax.set_ylabel(f"person {i // images_per_identity}", fontsize=8)
    fig.suptitle(f"{n_identities} identities x {images_per_identity} images ('{tier}' nuisance, "
                 f"{'camera on' if degrade else 'no camera degradation'})", fontsize=10)  # fmt: skip
    fig.tight_layout()
    return fig


def tiers_teaser(n_identities: int = 4, image_size: int = 112, seed: int = 0):
    """One row per person: a clean portrait, then one photo from each tier (hr, moderate, hard, ui)."""
    tiers = ("clean", "hr", "moderate", "hard", "ui")
    ids = synth.sample_identities(n_identities, seed)
    fig, axes = _grid(n_identities, len(tiers), 1.5, 0.2)
    for j, tier in enumerate(tiers):
        nz = synth.sample_nuisance(n_identities, seed + 10 + j, tier, image_size)
        batch = synth.render(ids, nz, image_size)
        for i in range(n_identities):
            title = f"{tier}\n{int(batch.params['resolution_px'][i])} px" if i == 0 else None
            _imshow(axes[i, j], batch.images[i], title, fontsize=8)
            axes[i, j].set_xlabel(f"difficulty {float(batch.difficulty[i]):.2f}", fontsize=7)
    fig.tight_layout()
    return fig


NUISANCE_SWEEPS = {
    "yaw (deg)": ("yaw", [-60, -30, 0, 30, 60]),
    "pitch (deg)": ("pitch", [-35, -15, 0, 15, 35]),
    "roll (deg)": ("roll", [-30, -15, 0, 15, 30]),
    "smile": ("smile", [0.0, 0.25, 0.5, 0.75, 1.0]),
    "mouth open": ("mouth_open", [0.0, 0.25, 0.5, 0.75, 1.0]),
    "squint": ("squint", [0.0, 0.25, 0.5, 0.75, 1.0]),
    "light strength": ("light_strength", [0.0, 0.25, 0.5, 0.75, 1.0]),
    "light direction (deg)": ("light_dir", [0, 90, 180, 270, 315]),
    "exposure (stops)": ("exposure", [-1.2, -0.6, 0.0, 0.6, 1.2]),
    "occluder": ("occluder", [0, 1, 2, 3, 3]),
}


def nuisance_sweeps(image_size: int = 112, seed: int = 0, factors: list[str] | None = None):
    """One row per nuisance factor: one person, that factor swept, everything else clean.

    The last column of "light direction" and of "occluder" vary a second
    parameter too (strength / position), so every value shows something.
    """
    factors = list(NUISANCE_SWEEPS) if factors is None else factors
    unknown = [f for f in factors if f not in NUISANCE_SWEEPS]
    if unknown:
        raise RIEInputError(f"unknown factor(s) {unknown}; known: {list(NUISANCE_SWEEPS)}")
    ids = synth.sample_identities(1, seed)
    ncols = 5
    fig, axes = _grid(len(factors), ncols, 1.35)
    for r, name in enumerate(factors):
        key, values = NUISANCE_SWEEPS[name]
        nz = {key: torch.tensor(values, dtype=torch.float32)}
        if key == "light_dir":
            nz["light_strength"] = torch.full((ncols,), 0.85)
        if key == "occluder":
            nz.update(occ_x=torch.tensor([0.0, 0.15, 0.0, 0.2, -0.25]), occ_y=torch.tensor([0.0, 0.0, 0.0, 0.35, 0.1]),
                      occ_size=torch.full((ncols,), 0.5), occ_r=torch.full((ncols,), 0.3),
                      occ_g=torch.full((ncols,), 0.45), occ_b=torch.full((ncols,), 0.7))  # fmt: skip
        batch = synth.render(ids.expand(ncols, -1), nz, image_size, degrade=False)
        for c in range(ncols):
            v = values[c]
            label = ["none", "block", "scarf", "hand", "hand"][int(v)] if key == "occluder" else f"{v:g}"
            _imshow(axes[r, c], batch.images[c], label, fontsize=7)
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.tight_layout()
    return fig


def background_samples(n: int = 8, image_size: int = 112, seed: int = 0):
    """One person, n backgrounds and clothes (both are per-image nuisance, not identity)."""
    ids = synth.sample_identities(1, seed)
    nz = synth.neutral_nuisance(n, image_size)
    keys = ["bg_r", "bg_g", "bg_b", "bg_texture", "bg_freq", "bg_phase", "cloth_r", "cloth_g", "cloth_b"]
    rand = synth.sample_nuisance(n, seed + 2, "hr", image_size)
    nz.update({k: rand[k] for k in keys})
    batch = synth.render(ids.expand(n, -1), nz, image_size, degrade=False)
    fig, axes = _grid(1, n, 1.35)
    for i in range(n):
        _imshow(axes[0, i], batch.images[i])
    fig.tight_layout()
    return fig


def resolution_ladder(n_identities: int = 3, ladder=(112, 64, 32, 24, 16, 12, 8), image_size: int = 112,
                      seed: int = 0, blur_sigma: float = 0.0):  # fmt: skip
    """Each person photographed by sensors of decreasing size, all shown at image_size (as a model sees them)."""
    ladder = [int(r) for r in ladder]
    if max(ladder) > image_size:
        raise RIEInputError(f"ladder {ladder} goes above image_size {image_size}")
    ids = synth.sample_identities(n_identities, seed)
    k = len(ladder)
    theta = ids.repeat_interleave(k, 0)
    res = torch.tensor(ladder * n_identities, dtype=torch.float32)
    batch = synth.render(theta, {}, image_size, degrade={"resolution_px": res, "blur_sigma": blur_sigma})
    fig, axes = _grid(n_identities, k, 1.35)
    for i, ax in enumerate(axes.flat):
        title = f"{ladder[i % k]} px\nd={float(batch.difficulty[i]):.2f}" if i < k else None
        _imshow(ax, batch.images[i], title, fontsize=8)
    fig.tight_layout()
    return fig


def difficulty_histograms(world: dict, roles=synth.ROLES, bins: int = 30):
    """Distribution of the ground-truth difficulty in each role (one panel per role, shared axis)."""
    roles = [r for r in roles if r in world]
    fig, axes = plt.subplots(1, len(roles), figsize=(2.3 * len(roles), 2.4), sharex=True, squeeze=False)
    edges = np.linspace(0, 1, bins + 1)
    for ax, role in zip(axes[0], roles):
        d = world[role].difficulty.numpy()
        ax.hist(d, bins=edges, color=ROLE_COLOURS.get(role, "C0"), density=True)
        ax.set_title(f"{role} (n={len(d)})", fontsize=9)
        ax.set_xlabel("difficulty", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("density", fontsize=8)
    fig.tight_layout()
    return fig


def difficulty_terms_by_tier(face_set) -> plt.Figure:
    """Mean weighted contribution of each factor to the difficulty, per tier present in the set."""
    terms = synth.difficulty_terms(face_set.params)
    names = list(synth.DIFFICULTY_WEIGHTS)
    codes = {v: k for k, v in synth.TIER_CODES.items()}
    tiers = sorted(set(face_set.params["tier"].long().tolist()))
    fig, ax = plt.subplots(figsize=(5.5, 2.8))
    bottom = np.zeros(len(tiers))
    for j, name in enumerate(names):
        vals = np.array([float((synth.DIFFICULTY_WEIGHTS[name] * terms[name][face_set.params["tier"] == t]).mean())
                         for t in tiers])  # fmt: skip
        ax.bar([codes[t] for t in tiers], vals, bottom=bottom, label=name, color=plt.cm.tab10(j))
        bottom += vals
    ax.set_ylabel("mean difficulty")
    ax.set_title(f"what makes '{face_set.role}' images hard", fontsize=10)
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    ax.set_ylim(0, 1)
    fig.tight_layout()
    return fig


def sorted_by_difficulty(face_set, n: int = 16, seed: int = 0, ncols: int = 8):
    """n random images of a set, sorted from easiest to hardest, titled with their difficulty."""
    if len(face_set) == 0:
        raise RIEInputError("the set is empty")
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(face_set), generator=g)[: min(n, len(face_set))]
    pick = pick[face_set.difficulty[pick].argsort()]
    return samples(face_set, pick, ncols=ncols, titles=[f"{float(face_set.difficulty[i]):.2f}" for i in pick])


def samples(face_set, idx=None, ncols: int = 8, titles=None, show_boxes: bool = False, n: int = 16, seed: int = 0):
    """A grid of images of a set (random ones unless idx is given), as the model sees them."""
    if idx is None:
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(face_set), generator=g)[: min(n, len(face_set))]
    idx = torch.as_tensor(idx).long()
    nrows = int(np.ceil(len(idx) / ncols))
    fig, axes = _grid(nrows, ncols, 1.2)
    for k, ax in enumerate(axes.flat):
        if k >= len(idx):
            ax.axis("off")
            continue
        i = int(idx[k])
        _imshow(ax, face_set.images[i], titles[k] if titles is not None else None,
                boxes=face_set.boxes[i] if show_boxes else None)  # fmt: skip
    fig.tight_layout()
    return fig


def difficulty_vs_resolution(face_set):
    """Scatter of difficulty against sensor resolution, coloured by tier."""
    fig, ax = plt.subplots(figsize=(4.8, 3.0))
    codes = {v: k for k, v in synth.TIER_CODES.items()}
    res = face_set.params["resolution_px"].numpy()
    jitter = np.random.default_rng(0).uniform(-0.3, 0.3, len(res))
    for t in sorted(set(face_set.params["tier"].long().tolist())):
        m = (face_set.params["tier"] == t).numpy()
        ax.scatter(res[m] + jitter[m], face_set.difficulty.numpy()[m], s=4, alpha=0.5, label=codes[t])
    ax.set(xlabel="sensor resolution (px)", ylabel="difficulty", title=f"'{face_set.role}'")
    ax.legend(fontsize=8, markerscale=3)
    fig.tight_layout()
    return fig


def world_table(world: dict, config=None) -> str:
    """A fixed-width text table of every role: images, identities, classes, tiers, resolution, difficulty."""
    codes = {v: k for k, v in synth.TIER_CODES.items()}
    head = f"{'role':<11}{'images':>8}{'people':>8}{'classes':>8}{'hard %':>8}{'res px':>9}{'difficulty':>12}"
    lines = [head, "-" * len(head)]
    for role, fs in world.items():
        tiers = fs.params["tier"].long()
        hard = float((tiers == synth.TIER_CODES["hard"]).float().mean()) * 100
        kind = "/".join(sorted({codes[int(t)] for t in tiers.unique()}))
        res = fs.params["resolution_px"]
        d = fs.difficulty
        lines.append(
            f"{role:<11}{len(fs):>8}{len(fs.identities.unique()):>8}{fs.num_classes:>8}{hard:>8.1f}"
            f"{int(res.min()):>5}-{int(res.max()):<3}{float(d.mean()):>7.3f} +- {float(d.std()):.3f}  ({kind})"
        )
    if config is not None:
        lines.append("-" * len(head))
        lines.append(f"image_size {config.image_size}, render_size {config.render_size}, "
                     f"frac_hard {config.frac_hard}, seed {config.seed}")  # fmt: skip
    return "\n".join(lines)


def boxes_overlay(n: int = 8, image_size: int = 64, tier: str = "hr", seed: int = 0):
    """Eyes / nose / mouth boxes (red / green / blue) on posed faces: where attention should land."""
    ids = synth.sample_identities(n, seed)
    nz = synth.sample_nuisance(n, seed + 1, tier, image_size)
    batch = synth.render(ids, nz, image_size)
    fig, axes = _grid(1, n, 1.5)
    for i in range(n):
        _imshow(axes[0, i], batch.images[i], boxes=batch.boxes[i])
    fig.tight_layout()
    return fig


def camera_playground(resolution_px: int = 16, blur_sigma: float = 0.5, noise_std: float = 0.02,
                      jpeg_quality: int = 70, yaw: float = 0.0, image_size: int = 112, seed: int = 0):  # fmt: skip
    """Four people through one camera setting (for the interactive cell): what survives at this setting?"""
    ids = synth.sample_identities(4, seed)
    nz = {"yaw": float(yaw)}
    deg = {"resolution_px": float(resolution_px), "blur_sigma": float(blur_sigma),
           "noise_std": float(noise_std), "jpeg_quality": float(jpeg_quality)}  # fmt: skip
    batch = synth.render(ids, nz, image_size, degrade=deg)
    clean = synth.render(ids, nz, image_size, degrade=False)
    fig, axes = _grid(2, 4, 1.6, 0.3)
    for i in range(4):
        _imshow(axes[0, i], clean.images[i], "scene" if i == 0 else None, fontsize=8)
        _imshow(axes[1, i], batch.images[i], f"difficulty {float(batch.difficulty[i]):.2f}", fontsize=8)
    fig.suptitle(f"{resolution_px} px sensor, blur {blur_sigma:g}, noise {noise_std:g}, JPEG q{jpeg_quality}",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig


def identity_signal_table(tiers=("clean", "hr", "moderate", "hard", "ui"), n_identities: int = 10,
                          images_per_id: int = 16, runs: int = 3, seed: int = 0) -> str:  # fmt: skip
    """Raw-pixel nearest-centroid identification accuracy per tier (``synth.raw_pixel_identification``),
    averaged over ``runs`` draws of people, as a fixed-width table."""
    lines = [f"{'tier':>9}  {'accuracy':>8}  runs (chance {1 / n_identities:.2f})"]
    for tier in tiers:
        acc = [synth.raw_pixel_identification(tier, n_identities, images_per_id, seed=seed + 100 * s)
               for s in range(runs)]  # fmt: skip
        lines.append(f"{tier:>9}  {sum(acc) / len(acc):>8.2f}  " + ", ".join(f"{a:.2f}" for a in acc))
    return "\n".join(lines)
