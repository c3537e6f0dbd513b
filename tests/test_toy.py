"""The 2-D toy experiment of Fig. 4 (rie.experiments.toy_embedding): metrics on hand cases, the data split, a tiny loop."""

import math

import matplotlib
import pytest
import torch

from rie.common.checks import RIEInputError
from rie.experiments import toy_embedding as toy

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def one_thread():
    # tiny tensors: one torch thread is much faster on a busy 2-core machine (see toy.threads)
    with toy.threads(1):
        yield


# ---------------------------------------------------------------------------
# Metrics, checked by hand
# ---------------------------------------------------------------------------
def test_angle_to_ui_of_known_points():
    u = torch.tensor([1.0, 0.0])
    v = torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0], [1.0, 1.0], [5.0, -5.0 * math.sqrt(3)]])
    assert toy.angle_to_ui_deg(v, u).tolist() == pytest.approx([0.0, 90.0, 180.0, 45.0, 60.0], abs=1e-3)


def test_angle_ignores_norms_and_needs_no_normalised_centre():
    v = torch.tensor([[0.1, 0.1], [10.0, 10.0]])
    assert toy.angle_to_ui_deg(v, torch.tensor([0.0, 7.0])).tolist() == pytest.approx([45.0, 45.0], abs=1e-3)


def test_signed_angle_counterclockwise_positive():
    u = torch.tensor([0.0, 1.0])  # UI centre pointing up
    v = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, -2.0], [1.0, 1.0]])
    # up -> left is +90 (counter-clockwise), up -> right is -90, opposite is 180, up-right is -45
    assert toy.signed_angle_deg(v, u).tolist() == pytest.approx([90.0, -90.0, 180.0, -45.0], abs=1e-3)
    with pytest.raises(RIEInputError):
        toy.signed_angle_deg(torch.ones(2, 3), torch.ones(3))


def test_nearest_prototype_accuracy_hand_case():
    # prototypes along +x, +y, -x (norms differ: only the direction counts)
    prototypes = torch.tensor([[3.0, 0.0], [0.0, 0.5], [-1.0, 0.0]])
    v = torch.tensor([[1.0, 0.2], [0.1, 1.0], [-2.0, 0.5], [1.0, 0.9], [-1.0, -0.1]])
    labels = torch.tensor([0, 1, 2, 1, 0])
    # (1, 0.9) is 42 deg from +x and 48 deg from +y -> class 0 (labelled 1); (-1, -0.1) -> class 2 (labelled 0)
    assert toy.nearest_prototype(v, prototypes).tolist() == [0, 1, 2, 0, 2]
    assert toy.nearest_prototype_accuracy(v, prototypes, labels) == pytest.approx(3 / 5)
    with pytest.raises(RIEInputError):
        toy.nearest_prototype_accuracy(v[:0], prototypes, labels[:0])


def _embedded(v, labels, u, prototypes, hard_ids=(1,)):
    return toy.Embedded("rie", torch.tensor(v), torch.tensor(labels), torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
                        torch.tensor(u), torch.tensor(prototypes), hard_ids)


def test_measure_splits_hard_and_easy():
    # class 0 (easy) at 90 deg from the UI centre, class 1 (hard) at 0 and 30 deg
    e = _embedded([[0.0, 1.0], [1.0, 0.0], [math.cos(math.pi / 6), math.sin(math.pi / 6)]], [0, 1, 1],
                  [1.0, 0.0], [[0.0, 1.0], [1.0, 0.0]])
    m = toy.measure(e)
    assert m["easy_angle"] == pytest.approx(90.0, abs=1e-3)
    assert m["hard_angle"] == pytest.approx(15.0, abs=1e-3)
    assert m["easy_acc"] == 1.0 and m["hard_acc"] == 1.0
    # two orthogonal UI points: resultant length of (1,0) and (0,1) is sqrt(2)/2
    assert m["ui_concentration"] == pytest.approx(math.sqrt(0.5), abs=1e-6)


def _rows(angles: dict):
    return [{"method": m, "seed": s, "hard_angle": a, "easy_angle": 90.0, "hard_acc": 0.5, "easy_acc": 1.0,
             "ui_concentration": 0.9}
            for m, per_seed in angles.items() for s, a in enumerate(per_seed)]


def test_verdict_yes_no_and_within_spread():
    yes = toy.verdict(_rows({"arcface": [10, 12, 14], "softmax": [20, 22, 24], "rie": [40, 41, 45]}))
    assert yes.startswith("YES") and "Softmax" in yes.splitlines()[0]
    # RIE - Softmax = 20, 19, 21: mean +20.0, std 1.0; RIE - ArcFace = 30, 29, 31
    assert "by 20.0 ± 1.0 deg over the strongest, Softmax" in yes
    assert "RIE (ours) - ArcFace:  +30.0 ±  1.0 deg  <- same head without the RIE terms: further" in yes
    no = toy.verdict(_rows({"arcface": [30, 32, 34], "rie": [10, 11, 12]}))
    assert no.startswith("NO") and "by 21.0 ± 1.0 deg" in no and "closer to the UI centre" in no
    unsure = toy.verdict(_rows({"arcface": [10, 20, 30], "rie": [12, 10, 35]}))
    assert unsure.startswith("NOT SHOWN") and "spread" in unsure.splitlines()[2]
    with pytest.raises(RIEInputError):
        toy.verdict(_rows({"rie": [1, 2, 3]}))


def test_summary_table_mean_and_std():
    table = toy.summary_table(_rows({"arcface": [10, 12, 14], "rie": [40, 41, 45]}))
    assert list(table.index) == ["ArcFace", "RIE (ours)"]
    assert table.loc["ArcFace", "hard angle (deg)"] == "12.0 ± 2.0"
    assert table.loc["RIE (ours)", "hard acc (%)"] == "50.0 ± 0.0"
    assert table.loc["RIE (ours)", "UI conc."] == "0.90 ± 0.00"


# ---------------------------------------------------------------------------
# Data and configs
# ---------------------------------------------------------------------------
def test_toy_data_hard_easy_split():
    data = toy.make_toy_data(seed=3, train_per_id=4, test_per_id=2, n_ui=8, hard_resolution=8)
    assert data.hard_ids == (1, 4, 6) and data.easy_ids == (0, 2, 3, 5, 7)
    assert data.train_images.shape == (32, 3, 32, 32) and data.train_images.dtype == torch.uint8
    assert data.train_labels.tolist() == [c for c in range(8) for _ in range(4)]
    assert data.test_labels.tolist() == [c for c in range(8) for _ in range(2)]
    assert data.ui_images.shape == (8, 3, 32, 32)
    assert data.is_hard(torch.tensor([0, 1, 4, 5, 6])).tolist() == [False, True, True, False, True]
    # deterministic by seed
    again = toy.make_toy_data(seed=3, train_per_id=4, test_per_id=2, n_ui=8, hard_resolution=8)
    assert torch.equal(again.train_images, data.train_images) and torch.equal(again.ui_images, data.ui_images)


def test_hard_identities_are_rendered_low_resolution():
    from rie.data.synth import render, sample_identities, sample_nuisance

    tier = toy.hard_tier(8)
    assert tier.resolution == (8, 8)
    gen = torch.Generator().manual_seed(0)
    batch = render(sample_identities(4, gen), sample_nuisance(4, gen, tier, 32), 32)
    assert batch.params["resolution_px"].tolist() == [8.0] * 4
    # the toy's hard images carry far less fine detail than its easy ones
    data = toy.make_toy_data(seed=0, train_per_id=6, test_per_id=1, n_ui=2)
    x = data.train_images.float()
    detail = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    hard = data.is_hard(data.train_labels)
    assert detail[hard].mean() < 0.8 * detail[~hard].mean()


def test_bad_toy_inputs():
    with pytest.raises(RIEInputError):
        toy.make_toy_data(hard_ids=(8,))
    with pytest.raises(RIEInputError):
        toy.make_toy_data(hard_ids=tuple(range(8)))
    with pytest.raises(RIEInputError):
        toy.method_config("cosface2d")
    with pytest.raises(RIEInputError):
        toy.method_config("arcface", beta=1.0)


def test_method_configs():
    rie = toy.method_config("rie", epochs=3, seed=1, tau=0.5)
    assert rie.embedding_size == 2 and rie.uses_rie and rie.head == "arcface"
    assert (rie.loss.alpha, rie.loss.beta, rie.loss.gamma, rie.loss.tau) == (5.0, 2.0, 1.0, 0.5)
    assert rie.ui_center_mode == "epoch"
    for m in ("softmax", "arcface", "adaface"):
        c = toy.method_config(m)
        assert not c.uses_rie and c.embedding_size == 2
    assert toy.method_config("arcface").head_kwargs == {"s": 16.0, "m": 0.2}


def test_threads_context_restores():
    before = torch.get_num_threads()
    with toy.threads(2):
        assert torch.get_num_threads() == 2
        with toy.threads(None):
            assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before


# ---------------------------------------------------------------------------
# A tiny smoke run of the loop and the figures
# ---------------------------------------------------------------------------
def test_smoke_run_and_figures(tmp_path):
    data_kwargs = {"train_per_id": 4, "test_per_id": 2, "n_ui": 8}
    rows, first = toy.run(seeds=(0, 1), methods=("arcface", "rie"), epochs=1, cache_dir=tmp_path,
                          data_kwargs=data_kwargs, batch_size=16)
    assert [(r["method"], r["seed"]) for r in rows] == [("arcface", 0), ("rie", 0), ("arcface", 1), ("rie", 1)]
    for r in rows:
        assert 0.0 <= r["hard_angle"] <= 180.0 and 0.0 <= r["easy_angle"] <= 180.0
        assert 0.0 <= r["hard_acc"] <= 1.0 and 0.0 <= r["ui_concentration"] <= 1.0 + 1e-6
    assert set(first) == {"arcface", "rie"} and first["rie"].v.shape == (16, 2)
    assert len(list(tmp_path.iterdir())) == 4  # four cached models
    again, _ = toy.run(seeds=(0, 1), methods=("arcface", "rie"), epochs=1, cache_dir=tmp_path,
                       data_kwargs=data_kwargs, batch_size=16)
    assert again == rows  # loaded from the cache, same numbers
    assert "hard angle (deg)" in toy.summary_table(rows).columns
    assert toy.verdict(rows).split(":")[0] in ("YES", "NO", "NOT SHOWN")
    for fig in (toy.embedding_figure(first, suptitle="x"), toy.angle_figure(first)):
        assert len(fig.axes) == 2
        fig.savefig(tmp_path / "fig.png")
        matplotlib.pyplot.close(fig)


def test_interactive_figure_smoke(tmp_path):
    kw = {"epochs": 1, "data_kwargs": {"train_per_id": 8, "test_per_id": 2, "n_ui": 8}, "cache_dir": tmp_path}
    fig = toy.interactive_figure(beta=1.0, tau=1.0, hard_resolution=10, **kw)
    assert len(fig.axes) == 2 and "10 px" in fig._suptitle.get_text()
    matplotlib.pyplot.close(fig)
    # a new beta retrains RIE only: the ArcFace model is reused from the cache
    matplotlib.pyplot.close(toy.interactive_figure(beta=3.0, tau=1.0, hard_resolution=10, **kw))
    names = sorted(p.name.split("-")[1] for p in tmp_path.iterdir())
    assert names == ["arcface", "rie", "rie"]
