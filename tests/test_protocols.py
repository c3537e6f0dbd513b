import torch
from helpers import PixelModel

from rie import protocols


def test_ladder_images_shapes_and_monotone_difficulty():
    gallery, gallery_labels, probes = protocols.ladder_images(n_identities=5, per_id=2, resolutions=(32, 8), seed=0)
    assert gallery.shape == (5, 3, 32, 32) and gallery_labels.tolist() == [0, 1, 2, 3, 4]
    assert set(probes) == {32, 8} and probes[8][0].shape == (10, 3, 32, 32)
    # same people and nuisance at every rung: only the camera changes
    assert not torch.equal(probes[32][0], probes[8][0])
    acc = protocols.resolution_ladder(PixelModel(), (gallery, gallery_labels, probes))
    assert set(acc) == {32, 8} and all(0.0 <= a <= 1.0 for a in acc.values())


def test_labelled_and_unlabelled_faces():
    images, labels, difficulty = protocols.labelled_faces(3, 4, tier="moderate", seed=1)
    assert images.shape == (12, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4 and difficulty.shape == (12,)
    again, _, _ = protocols.labelled_faces(3, 4, tier="moderate", seed=1)
    assert torch.equal(images, again)
    assert protocols.unlabelled_faces(5).shape == (5, 3, 32, 32)
