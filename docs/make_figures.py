"""Draw the README's figures: ``python docs/make_figures.py`` writes ``docs/img/architecture.png`` and
copies one figure of results, ``docs/img/table4_gains.png``, from the executed notebook 04 (``make report``
runs it after the notebooks, so the README shows the committed report's own figure, never a redrawn one).

The architecture figure is the paper's Fig. 2 as this code builds it (``rie.method.model.RIEModel``,
``rie.method.attention``, ``rie.method.ri``, ``rie.method.losses.RIELoss``): the backbone's feature
map feeds the embedding head (``v``), the perceptibility regression (``xi_hat``) and the
perceptibility attention (``v_attn``); the margin head, the RI ``xi`` (Eq. 3) and the
projection ``v'`` (Eq. 8) give the four loss terms of Eq. 10.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).resolve().parent / "img"

# colours: the network (blue), what only training uses (orange), the losses (red), data (grey)
NET, TRAIN, LOSS, DATA = "#dbe8f6", "#fde6cc", "#f8d4d4", "#eeeeee"


def _box(ax, x, y, w, h, text, color, fontsize=8.5, bold=False):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=color, ec="0.3", lw=0.9))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, weight="bold" if bold else "normal")
    return {"l": (x - w / 2, y), "r": (x + w / 2, y), "t": (x, y + h / 2), "b": (x, y - h / 2)}


def _arrow(ax, start, end, text=None, style="-|>", ls="-", color="0.25", offset=(0, 0.09), rad=0.0):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=10, lw=1.0, ls=ls, color=color,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=1, shrinkB=1))
    if text:
        ax.text((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1], text,
                ha="center", va="bottom", fontsize=7.5, color="0.2")


def architecture(path: Path = OUT / "architecture.png") -> Path:
    fig, ax = plt.subplots(figsize=(12, 6))
    ax.set(xlim=(0, 12), ylim=(0, 6))
    ax.axis("off")
    c1, c2, c3, c4, c5, c6 = 0.7, 2.5, 4.3, 6.3, 9.0, 11.15  # column centres

    # the network: one backbone, three branches on its feature map (rie.method.model.RIEModel)
    x_in = _box(ax, c1, 3.0, 1.25, 0.8, "face image x\n(very low-res.)", DATA)
    bb = _box(ax, c2, 3.0, 2.0, 0.9, "backbone\nIResNet, MobileFaceNet\nor small_facenet", NET)
    fm = _box(ax, c3, 3.0, 1.25, 0.8, "feature map\n(B, C, H, W)", NET)
    _arrow(ax, x_in["r"], bb["l"])
    _arrow(ax, bb["r"], fm["l"])
    emb = _box(ax, c4, 5.0, 2.2, 0.7, "embedding head\n$\\to$ $v$ (the face template)", NET)
    reg = _box(ax, c4, 3.0, 2.2, 0.8, "regression branch: flatten,\ndropout, linear\n$\\to$ $\\hat{\\xi}$ (the quality score)", NET)
    pam = _box(ax, c4, 1.1, 2.2, 0.8, "PAM: CBAM channel, then\nspatial attention, linear\n$\\to$ $v_{attn}$", TRAIN)
    _arrow(ax, fm["t"], emb["l"], rad=-0.3)
    _arrow(ax, fm["r"], reg["l"])
    _arrow(ax, fm["b"], pam["l"], rad=0.3)

    # what training computes from v: the margin head, the RI xi (coupled by default: it keeps its gradient), the projection
    head = _box(ax, c5, 5.0, 2.0, 0.7, "margin head (ArcFace)\n$\\cos\\theta$ to the class weights", TRAIN)
    xi = _box(ax, c5, 3.9, 2.0, 0.6, "RI $\\xi$ (Eq. 3) from\n$d_P$, $d_N$, $d_{UI}$ (coupled)", TRAIN)
    vp = _box(ax, c5, 1.9, 2.0, 0.65, "$v'$: $v$ projected away\nfrom $u$ (Eq. 8)", TRAIN)
    ui = _box(ax, c5, 0.45, 2.0, 0.55, "UI images $\\to$ centre $u$", DATA)
    _arrow(ax, emb["r"], head["l"], "$v$", offset=(0, 0.03))
    _arrow(ax, head["b"], xi["t"], "$\\cos\\theta$, labels $y$", offset=(0.62, -0.17))
    ax.plot([emb["r"][0], 7.7, 7.7], [4.8, 4.8, 1.9], color="0.25", lw=1.0)
    _arrow(ax, (7.7, 1.9), vp["l"])
    ax.text(7.62, 4.35, "$v$", ha="right", fontsize=8, color="0.2")
    _arrow(ax, ui["t"], vp["b"], "$u$", offset=(0.12, -0.12))

    # the four loss terms of Eq. 10 (rie.method.losses.RIELoss)
    l_cls = _box(ax, c6, 5.0, 1.5, 0.55, "$L_{cls}$ (margin loss)", LOSS)
    l_l1 = _box(ax, c6, 3.9, 1.5, 0.55, "$L_{L1}$ (Eq. 4)\nsmooth L1", LOSS)
    l_id = _box(ax, c6, 3.0, 1.5, 0.55, "$L_{ID}$ (Eqs. 5-7)\n$\\hat{\\xi}$ above $\\tau$", LOSS)
    l_mse = _box(ax, c6, 1.5, 1.5, 0.55, "$L_{MSE}$ (Eq. 9)\n$(v' - v_{attn})^2$", LOSS)
    _arrow(ax, head["r"], l_cls["l"])
    _arrow(ax, xi["r"], l_l1["l"])
    _arrow(ax, (reg["r"][0], reg["r"][1] + 0.15), (l_l1["l"][0], l_l1["l"][1] - 0.15), "$\\hat{\\xi}$", offset=(-0.75, -0.08))
    _arrow(ax, reg["r"], l_id["l"], "$\\hat{\\xi}$", offset=(0.2, 0.0))
    _arrow(ax, vp["r"], (l_mse["l"][0], l_mse["l"][1] + 0.12))
    _arrow(ax, pam["r"], (l_mse["l"][0], l_mse["l"][1] - 0.12), "$v_{attn}$", offset=(-0.9, 0.0))

    ax.text(6.0, 5.75, "$L = L_{cls} + \\alpha\\, L_{L1} + \\beta\\, L_{ID} + \\gamma\\, L_{MSE}$"
            "    (Eq. 10; the paper's $\\alpha$ = 5, $\\beta$ = 2, $\\gamma$ = 1)", ha="center", va="center", fontsize=11)
    ax.text(0.05, 0.05, "blue: kept at deployment ($v$ is the template, $\\hat{\\xi}$ the quality score)\n"
            "orange: training only        red: loss terms", fontsize=8, color="0.3")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def notebook_figure(notebook: str, marker: str, path: Path) -> Path:
    """Copy the first PNG output of the code cell of ``notebook`` whose source contains ``marker``."""
    nb = json.loads((NOTEBOOKS / notebook).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and marker in "".join(cell["source"]):
            for out in cell.get("outputs", []):
                if "image/png" in out.get("data", {}):
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(base64.b64decode(out["data"]["image/png"]))
                    return path
    raise SystemExit(f"{notebook}: no PNG output in a cell containing {marker!r} (run make report first)")


def results(path: Path = OUT / "table4_gains.png") -> Path:
    return notebook_figure("04_training_and_ablation.ipynb", "gains_over_baseline", path)


if __name__ == "__main__":
    print(architecture())
    print(results())
