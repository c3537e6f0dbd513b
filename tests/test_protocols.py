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


def _one_hot_images(ids, dim=64, noise=0.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.one_hot(ids, dim).float() + noise * torch.randn(len(ids), dim, generator=gen)
    return x.view(len(ids), 1, 8, 8)


def _fake_world(distractor_ids):
    gallery_ids = torch.arange(10).repeat_interleave(2)
    probe_ids = torch.arange(10).repeat_interleave(3)
    return {
        "gallery": _Role(_one_hot_images(gallery_ids, noise=0.1, seed=1), gallery_ids),
        "probe": _Role(_one_hot_images(probe_ids, noise=0.1, seed=2), probe_ids),
        "distractor": _Role(_one_hot_images(distractor_ids, noise=0.1, seed=3), distractor_ids),
    }


def test_verification_and_open_set_on_separable_embeddings():
    world = _fake_world(torch.arange(20, 60))  # distractors: people absent from the gallery
    tpr = protocols.verification(FlattenModel(), world, n_mated=50, n_nonmated=1000, fars=(0.1, 0.01), seed=0)
    assert tpr == {0.1: 1.0, 0.01: 1.0}
    tpir = protocols.open_set(FlattenModel(), world, fpirs=(0.3, 0.1), rank=20)
    assert tpir == {0.3: 1.0, 0.1: 1.0}


def test_open_set_falls_when_unmated_probes_look_enrolled():
    # Distractors that look exactly like enrolled people out-score most genuine matches.
    world = _fake_world(torch.arange(10).repeat(4))
    world["distractor"].images = world["distractor"].images.clone()
    world["distractor"].images.view(40, -1).mul_(0.0).add_(_one_hot_images(torch.arange(10).repeat(4)).view(40, -1))
    tpir = protocols.open_set(FlattenModel(), world, fpirs=(0.1,), rank=20)
    assert tpir[0.1] < 0.2


def test_verification_pairs_index_the_test_images():
    world = _fake_world(torch.arange(20, 30))
    images, labels, pairs, is_mated = protocols.verification_pairs(world, 10, 30, seed=0)
    assert len(images) == len(labels) == 50
    assert is_mated.sum() == 10 and len(pairs) == 40
    assert torch.equal(labels[pairs[:, 0]] == labels[pairs[:, 1]], is_mated)
