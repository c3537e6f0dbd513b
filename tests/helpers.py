"""Small stand-ins shared by several test modules."""

import torch
from torch import nn


class PixelModel(nn.Module):
    """Embeds an image by its average-pooled pixels: enough to test the plumbing of evaluations."""

    def __init__(self, pool: int = 4):
        super().__init__()
        self.pool = pool
        self.w = nn.Parameter(torch.zeros(1))  # extract() looks up the device from a parameter

    def forward(self, x):
        return nn.functional.avg_pool2d(x, self.pool).flatten(1) + 1e-3


class _Role:
    def __init__(self, images, labels, resolution=None):
        self.images, self.labels = images, labels
        self.params = {"resolution_px": resolution if resolution is not None else torch.full((len(labels),), 16.0)}


class FlattenModel(torch.nn.Module):
    """The image is the embedding: lets a test place every embedding by hand."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x.flatten(1)


def one_hot_images(ids, dim=64, noise=0.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.one_hot(ids, dim).float() + noise * torch.randn(len(ids), dim, generator=gen)
    return x.view(len(ids), 1, 8, 8)


def fake_world(distractor_ids):
    """A test split of 10 people whose one-hot embeddings (via ``FlattenModel``) are separable."""
    gallery_ids = torch.arange(10).repeat_interleave(2)
    probe_ids = torch.arange(10).repeat_interleave(3)
    return {
        "gallery": _Role(one_hot_images(gallery_ids, noise=0.1, seed=1), gallery_ids),
        "probe": _Role(one_hot_images(probe_ids, noise=0.1, seed=2), probe_ids),
        "distractor": _Role(one_hot_images(distractor_ids, noise=0.1, seed=3), distractor_ids),
    }
