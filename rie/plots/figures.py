"""Figures shared by the notebooks. Each function returns a matplotlib Figure; ``show`` displays and closes it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def show(fig) -> None:
    """Display a figure in a notebook (inline or headless) and free it."""
    try:
        from IPython.display import display

        display(fig)
    finally:
        plt.close(fig)


def loss_curves(history: list[dict], terms=("total", "cls", "l1", "id", "mse"), title: str = "training loss"):
    """One line per loss term over epochs (terms missing from the history are skipped)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    epochs = [h["epoch"] + 1 for h in history]
    for term in terms:
        if term in history[0]:
            ax.plot(epochs, [h[term] for h in history], marker="o", ms=3, label=term)
    ax.set(xlabel="epoch", ylabel="mean loss", title=title, yscale="log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def to_rgb(images):
    """(N, 3, H, W) uint8 or [-1, 1] float -> (N, H, W, 3) uint8 numpy, for imshow."""
    images = images.detach().cpu()
    if images.is_floating_point():
        images = ((images.clamp(-1, 1) + 1) * 127.5).round().byte()
    return images.permute(0, 2, 3, 1).numpy()


def image_grid(images, titles=None, ncols: int = 8, size: float = 1.1, suptitle: str | None = None):
    """A grid of (N, 3, H, W) uint8 or [-1, 1] float images."""
    rgb = to_rgb(images)
    n = len(rgb)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * (1.25 if titles else 1.0)))
    for i, ax in enumerate(np.atleast_1d(axes).flat):
        ax.axis("off")
        if i < n:
            ax.imshow(rgb[i], interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


