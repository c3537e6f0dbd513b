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
