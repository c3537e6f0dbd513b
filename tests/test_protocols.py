import torch
from helpers import FlattenModel, PixelModel, fake_world, one_hot_images

from rie.evaluation import protocols


def test_ladder_images_shapes_and_monotone_difficulty():
    gallery, gallery_labels, probes = protocols.ladder_images(n_identities=5, per_id=2, resolutions=(32, 8), seed=0)
    assert gallery.shape == (5, 3, 32, 32) and gallery_labels.tolist() == [0, 1, 2, 3, 4]
    assert set(probes) == {32, 8} and probes[8][0].shape == (10, 3, 32, 32)
    # same people and nuisance at every rung: only the camera changes
    assert not torch.equal(probes[32][0], probes[8][0])
    acc = protocols.resolution_ladder(PixelModel(), (gallery, gallery_labels, probes))
    assert set(acc) == {32, 8} and all(0.0 <= a <= 1.0 for a in acc.values())


def test_ladder_boxes_are_the_same_at_every_rung():
    *_, boxes_32 = protocols.ladder_images(n_identities=3, per_id=2, resolutions=(32,), seed=0, with_boxes=True)
    gallery, _, probes, boxes_8 = protocols.ladder_images(n_identities=3, per_id=2, resolutions=(16, 8), seed=0, with_boxes=True)
    assert boxes_8.shape == (6, 3, 4) and torch.equal(boxes_32, boxes_8)
    assert ((boxes_8 >= 0) & (boxes_8 <= 32)).all() and (boxes_8[..., 2] > boxes_8[..., 0]).all()


def test_labelled_and_unlabelled_faces():
    images, labels, difficulty = protocols.labelled_faces(3, 4, tier="moderate", seed=1)
    assert images.shape == (12, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4 and difficulty.shape == (12,)
    again, _, _ = protocols.labelled_faces(3, 4, tier="moderate", seed=1)
    assert torch.equal(images, again)
    assert protocols.unlabelled_faces(5).shape == (5, 3, 32, 32)


def test_verification_and_open_set_on_separable_embeddings():
    world = fake_world(torch.arange(20, 60))  # distractors: people absent from the gallery
    tpr = protocols.verification(FlattenModel(), world, n_mated=50, n_nonmated=1000, fars=(0.1, 0.01), seed=0)
    assert tpr == {0.1: 1.0, 0.01: 1.0}
    tpir = protocols.open_set(FlattenModel(), world, fpirs=(0.3, 0.1), rank=20)
    assert tpir == {0.3: 1.0, 0.1: 1.0}


def test_open_set_falls_when_unmated_probes_look_enrolled():
    # Distractors that look exactly like enrolled people out-score most genuine matches.
    world = fake_world(torch.arange(10).repeat(4))
    world["distractor"].images = world["distractor"].images.clone()
    world["distractor"].images.view(40, -1).mul_(0.0).add_(one_hot_images(torch.arange(10).repeat(4)).view(40, -1))
    tpir = protocols.open_set(FlattenModel(), world, fpirs=(0.1,), rank=20)
    assert tpir[0.1] < 0.2


def test_verification_pairs_index_the_test_images():
    world = fake_world(torch.arange(20, 30))
    images, labels, pairs, is_mated = protocols.verification_pairs(world, 10, 30, seed=0)
    assert len(images) == len(labels) == 50
    assert is_mated.sum() == 10 and len(pairs) == 40
    assert torch.equal(labels[pairs[:, 0]] == labels[pairs[:, 1]], is_mated)


def test_rank1_by_resolution_buckets_come_in_resolution_order():
    world = fake_world(torch.arange(20, 30))
    res = torch.tensor([8.0, 9, 12, 13, 16, 17, 20, 21, 24, 10] * 3)
    world["probe"].params["resolution_px"] = res
    rates = protocols.rank1_by_resolution(FlattenModel(), world)
    assert list(rates) == ["8-11 px", "12-15 px", "16-19 px", "20-24 px"]  # not string order
    assert rates.counts == {"8-11 px": 9, "12-15 px": 6, "16-19 px": 6, "20-24 px": 9}
    assert all(r == 1.0 for r in rates.values())  # separable embeddings
