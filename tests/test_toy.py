"""The 2-D toy experiment of Fig. 4 (rie.experiments.toy_embedding): metrics on hand cases, the data split, a tiny loop."""

import json
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


def _embedded(v, labels, hard, u, prototypes, u_start=None, history=()):
    return toy.Embedded("rie", torch.tensor(v), torch.tensor(labels), torch.tensor(hard),
                        torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor(u),
                        torch.tensor(u if u_start is None else u_start), torch.tensor(prototypes), (1,), list(history))


def test_measure_splits_hard_and_easy_images():
    # an easy image at 90 deg from the UI centre, hard images at 0 and 30 deg (of classes 1 and 0)
    e = _embedded([[0.0, 1.0], [1.0, 0.0], [math.cos(math.pi / 6), math.sin(math.pi / 6)]], [0, 1, 0],
                  [False, True, True], [1.0, 0.0], [[0.0, 1.0], [1.0, 0.0]], u_start=[0.0, 1.0],
                  history=[{"total": 2.0, "cls": 1.5, "xi_clip_frac": 0.1, "clip_frac": 1.0, "frozen": True},
                           {"total": 1.0, "cls": 0.5, "xi_clip_frac": 0.3, "clip_frac": 0.25, "frozen": False}])
    m = toy.measure(e)
    assert m["easy_angle"] == pytest.approx(90.0, abs=1e-3)
    assert m["hard_angle"] == pytest.approx(15.0, abs=1e-3)
    assert m["hard_angle_start"] == pytest.approx(75.0, abs=1e-3)  # 90 and 60 deg from (0, 1)
    # the easy image is right; of the hard ones, (1, 0) is class 1 (right), the 30-deg one is nearer class 1 too
    assert m["easy_acc"] == 1.0 and m["hard_acc"] == 0.5
    # two orthogonal UI points: resultant length of (1,0) and (0,1) is sqrt(2)/2
    assert m["ui_concentration"] == pytest.approx(math.sqrt(0.5), abs=1e-6)
    assert m["xi_clip_frac"] == pytest.approx(0.2) and m["loss_change"] == pytest.approx(-0.5)
    assert m["grad_clip_frac"] == pytest.approx(0.25) and m["cls_loss"] == pytest.approx(0.5)  # frozen epochs left out
    with pytest.raises(RIEInputError):  # no easy image: the split is undefined
        toy.measure(_embedded([[1.0, 0.0]], [0], [True], [1.0, 0.0], [[1.0, 0.0]]))


def test_plane_use():
    assert toy.plane_use(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])) == pytest.approx(1.0)
    # on one line through the origin, both ways: collapsed, whatever the line's direction
    assert toy.plane_use(torch.tensor([[1.0, 1.0], [-2.0, -2.0], [3.0, 3.0]])) == pytest.approx(0.0, abs=1e-6)
    assert 0.0 < toy.plane_use(torch.tensor([[1.0, 0.0], [0.0, 0.1]])) == pytest.approx(0.1)


def test_loss_change():
    assert toy.loss_change([{"total": t} for t in (10, 8, 6, 5, 4, 4, 4)], last=5) == pytest.approx((4 - 8) / 8)
    assert toy.loss_change([{"total": 3.0}, {"total": 3.0}]) == 0.0
    assert math.isnan(toy.loss_change([]))


def _rows(values: dict, key="hard_angle"):
    base = {"hard_angle": 30.0, "hard_angle_start": 30.0, "easy_angle": 90.0, "hard_acc": 0.5, "easy_acc": 1.0,
            "ui_concentration": 0.9, "xi_clip_frac": float("nan"), "loss_change": 0.0, "grad_clip_frac": 0.0,
            "cls_loss": 1.0, "plane_use": 0.5, "cls_plateau": 0.01}
    return [{**base, "method": m, "seed": s, key: a} for m, per_seed in values.items() for s, a in enumerate(per_seed)]


def test_claims_follow_the_numbers():
    # RIE - ArcFace on the hard angle: 30, 29, 31 deg -> mean +30, interval well above 0
    rows = _rows({"arcface": [10, 12, 14], "softmax": [20, 22, 24], "rie": [40, 41, 45]})
    c = {x["claim"]: x for x in toy.claims(rows)}
    angle = c["RIE moves hard images farther from the UI centre than ArcFace (deg)"]
    assert angle["verdict"] == "holds" and angle["effect"] == pytest.approx(30.0) and angle["n"] == 3
    assert angle["lo"] == pytest.approx(30.0 - 4.302653 * 1.0 / math.sqrt(3), abs=1e-4)  # t(0.975, 2) = 4.3027
    # equal accuracies: a zero effect with zero spread is "within spread", never "holds"
    assert c["RIE's hard-image accuracy > ArcFace's (pp)"]["verdict"] == "within spread"
    assert toy.claims(_rows({"arcface": [30, 32, 34], "rie": [10, 11, 12]}))[0]["verdict"] == "reversed"
    assert toy.claims(_rows({"arcface": [10, 20, 30], "rie": [12, 10, 35]}))[0]["verdict"] == "within spread"
    # accuracies are judged in percentage points: 0.5 -> 0.8 is +30 pp
    acc = toy.claims(_rows({"arcface": [0.5, 0.5, 0.6], "rie": [0.8, 0.8, 0.9]}, key="hard_acc"))[1]
    assert acc["unit"] == "pp" and acc["effect"] == pytest.approx(30.0) and acc["verdict"] == "holds"
    easy = toy.claims(_rows({"arcface": [0.9, 0.92, 0.95], "rie": [0.3, 0.2, 0.25]}, key="easy_acc"))[2]
    assert easy["verdict"] == "reversed"
    # the printed lines are the ledger's format: parse_claims reads them back
    from rie.evaluation.verdicts import parse_claims

    parsed = parse_claims(toy.verdict(rows))
    assert [p["claim"] for p in parsed] == [x[0] for x in toy.CLAIMS]
    assert parsed[0]["verdict"] == "holds" and parsed[0]["unit"] == "deg"
    with pytest.raises(RIEInputError):
        toy.claims(_rows({"rie": [1, 2, 3]}))


def test_the_old_yes_no_rule_is_gone():
    assert not hasattr(toy, "_judge")
    text = toy.verdict(_rows({"arcface": [10, 12, 14], "rie": [40, 41, 45]}))
    assert not any(w in text for w in ("YES", "NOT SHOWN")) and not text.startswith("NO")


def test_summary_table_mean_and_std():
    rows = _rows({"arcface": [10, 12, 14], "rie": [40, 41, 45]})
    for r in rows:
        if r["method"] == "rie":
            r["xi_clip_frac"] = 0.01
    table = toy.summary_table(rows)
    assert list(table.index) == ["ArcFace", "RIE (ours)"]
    assert table.loc["ArcFace", "hard angle (deg)"] == "12.0 ± 2.0"
    assert table.loc["RIE (ours)", "hard acc (%)"] == "50.0 ± 0.0"
    assert table.loc["RIE (ours)", "UI conc."] == "0.90 ± 0.00"
    assert table.loc["RIE (ours)", "xi clip (%)"] == "1.0 ± 0.0" and table.loc["ArcFace", "xi clip (%)"] == "–"
    assert "1.00 %" in toy.clip_report(rows)
    rows[0]["cls_plateau"] = 0.05  # ArcFace, seed 0: L_cls still moving by 5 %
    report = toy.convergence_report(rows).splitlines()
    assert report[0].startswith("ArcFace") and "on 2 of 3 seeds" in report[0] and "on 3 of 3 seeds" in report[1]


# ---------------------------------------------------------------------------
# Data and configs
# ---------------------------------------------------------------------------
def test_every_identity_has_easy_and_hard_images():
    data = toy.make_toy_data(seed=3, train_per_id=8, test_per_id=4, pretrain_per_id=2, n_ui=8, hard_resolution=8)
    assert data.hard_ids == (1, 4, 6) and data.easy_ids == (0, 2, 3, 5, 7)
    assert data.train_images.shape == (64, 3, 32, 32) and data.train_images.dtype == torch.uint8
    assert data.train_labels.tolist() == [c for c in range(8) for _ in range(8)]
    assert data.test_labels.tolist() == [c for c in range(8) for _ in range(4)]
    assert data.pretrain_labels.tolist() == [c for c in range(8) for _ in range(2)]
    assert data.ui_images.shape == (8, 3, 32, 32)
    for labels, hard, per_id in ((data.train_labels, data.train_hard, 8), (data.test_labels, data.test_hard, 4)):
        for c in range(8):
            k = int(hard[labels == c].sum())
            assert 0 < k < per_id  # both kinds, for every identity
            assert k == toy.n_hard(per_id, 0.75 if c in (1, 4, 6) else 0.25)
    # the hard identities are mostly hard photos, the others mostly easy: 6 of 8 against 2 of 8
    assert [int(data.train_hard[data.train_labels == c].sum()) for c in range(8)] == [2, 6, 2, 2, 6, 2, 6, 2]
    assert toy.n_hard(4, 0.0) == 1 and toy.n_hard(4, 1.0) == 3  # never all of one kind
    # deterministic by seed
    again = toy.make_toy_data(seed=3, train_per_id=8, test_per_id=4, pretrain_per_id=2, n_ui=8, hard_resolution=8)
    assert torch.equal(again.train_images, data.train_images) and torch.equal(again.ui_images, data.ui_images)


def test_ui_people_are_not_toy_people():
    data = toy.make_toy_data(seed=1, train_per_id=2, test_per_id=2, pretrain_per_id=1, n_ui=16)
    assert data.people.shape[0] == 8 and data.ui_people.shape[0] == 16
    # every UI person is far from every toy person (sample_identities keeps pairs >= 0.8 apart)
    assert torch.cdist(data.ui_people, data.people).min() >= 0.8 - 1e-6
    assert not any(torch.equal(data.ui_people[i], data.people[j]) for i in range(16) for j in range(8))


def test_hard_photographs_are_rendered_low_resolution():
    from rie.data.synth import render, sample_identities, sample_nuisance

    tier = toy.hard_tier(8)
    assert tier.resolution == (8, 8)
    gen = torch.Generator().manual_seed(0)
    batch = render(sample_identities(4, gen), sample_nuisance(4, gen, tier, 32), 32)
    assert batch.params["resolution_px"].tolist() == [8.0] * 4
    # the toy's hard photographs carry far less fine detail than its easy ones, within one identity too
    data = toy.make_toy_data(seed=0, train_per_id=12, test_per_id=2, pretrain_per_id=4, n_ui=2)
    x = data.train_images.float()
    detail = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    assert detail[data.train_hard].mean() < 0.8 * detail[~data.train_hard].mean()
    clean = data.pretrain_images.float()
    assert (clean[..., 1:, :] - clean[..., :-1, :]).abs().mean() > detail[data.train_hard].mean()


def test_bad_toy_inputs():
    with pytest.raises(RIEInputError):
        toy.make_toy_data(hard_ids=(8,))
    with pytest.raises(RIEInputError):
        toy.make_toy_data(hard_ids=tuple(range(8)))
    with pytest.raises(RIEInputError):
        toy.make_toy_data(train_per_id=1)
    with pytest.raises(RIEInputError):
        toy.make_toy_data(hard_share=1.5)
    with pytest.raises(RIEInputError):
        toy.method_config("cosface2d")
    with pytest.raises(RIEInputError):
        toy.method_config("arcface", beta=1.0)


def test_method_configs():
    rie = toy.method_config("rie", epochs=3, seed=1, tau=0.5)
    assert rie.embedding_size == 2 and rie.uses_rie and rie.head == "arcface"
    assert (rie.loss.alpha, rie.loss.beta, rie.loss.gamma, rie.loss.tau) == (5.0, 2.0, 1.0, 0.5)
    assert rie.ui_center_mode == "fixed" and rie.freeze_backbone_epochs == toy.FREEZE_EPOCHS
    for m in ("softmax", "arcface", "adaface"):
        c = toy.method_config(m)
        assert not c.uses_rie and c.embedding_size == 2
    assert toy.method_config("arcface").head_kwargs == {"s": 16.0, "m": 0.2}
    p = toy.pretrain_config(epochs=4)
    assert p.embedding_size == 2 and not p.uses_rie and p.freeze_backbone_epochs == 0 and p.head == "softmax"


def test_every_method_starts_from_the_pretrained_encoder_and_the_ui_centre_stays_fixed(tmp_path):
    from rie.evaluation.inference import extract
    from rie.method.ri import ui_center

    data = toy.make_toy_data(seed=0, train_per_id=4, test_per_id=2, pretrain_per_id=4, n_ui=8)
    base = toy.pretrain(data, epochs=1, seed=0, batch_size=16)
    u0 = ui_center(extract(base.model, data.ui_images).v)
    # RIE trains against the pretrained encoder's UI centre, and keeps it while its own UI embeddings move
    rie = toy.train_method("rie", data, base, epochs=3, seed=0, batch_size=16, freeze_backbone_epochs=1)
    assert torch.allclose(rie.ui_center, u0, atol=1e-6)  # the centre used in training: the pretrained model's
    moved = ui_center(extract(rie.model, data.ui_images).v)
    assert not torch.allclose(moved, u0, atol=1e-4)  # the UI faces moved, the centre did not follow
    # a fine-tuning that cannot move (lr ~ 0) ends where it started: at the pretrained encoder's weights
    from rie.training.train import fit

    start = toy.method_config("arcface", epochs=2, seed=0, batch_size=16, lr=1e-12, freeze_backbone_epochs=1)
    tiny = fit(start, data.train_images, data.train_labels, init_state=base.model.state_dict(), progress=False)
    for k, w in base.model.backbone.state_dict().items():
        if w.is_floating_point() and "running" not in k:
            assert torch.allclose(tiny.model.backbone.state_dict()[k], w, atol=1e-6), k


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
    data_kwargs = {"train_per_id": 4, "test_per_id": 2, "pretrain_per_id": 4, "n_ui": 8}
    kw = dict(seeds=(0, 1), methods=("arcface", "rie"), epochs=2, pretrain_epochs=1, cache_dir=tmp_path,
              data_kwargs=data_kwargs, batch_size=16)
    rows, first = toy.run(**kw)
    assert [(r["method"], r["seed"]) for r in rows] == [(m, s) for s in (0, 1) for m in ("pretrained", "arcface", "rie")]
    for r in rows:
        assert 0.0 <= r["hard_angle"] <= 180.0 and 0.0 <= r["easy_angle"] <= 180.0
        assert 0.0 <= r["hard_acc"] <= 1.0 and 0.0 <= r["ui_concentration"] <= 1.0 + 1e-6
        assert math.isnan(r["xi_clip_frac"]) == (r["method"] != "rie")
    # every model of a seed is measured against the same fixed centre: the pretrained encoder's
    assert torch.equal(first["rie"].u_start, first["arcface"].u_start)
    assert torch.allclose(first["pretrained"].u, first["rie"].u_start)
    assert set(first) == {"pretrained", "arcface", "rie"} and first["rie"].v.shape == (16, 2)
    assert len(list(tmp_path.iterdir())) == 6  # two pretrained encoders, four fine-tuned models
    again, _ = toy.run(**kw)
    assert json.dumps(again) == json.dumps(rows)  # loaded from the cache, same numbers (NaN-aware)
    assert "hard angle (deg)" in toy.summary_table(rows).columns
    assert [c["verdict"] for c in toy.claims(rows)] == [c["verdict"] for c in toy.claims(again)]
    assert "seed 0" in toy.clip_report(rows)
    for fig, n in ((toy.embedding_figure(first, suptitle="x"), 3), (toy.angle_figure(first), 3),
                   (toy.loss_curve_figure(first), 1)):
        assert len(fig.axes) == n
        fig.savefig(tmp_path / "fig.png")
        matplotlib.pyplot.close(fig)
    matplotlib.pyplot.close(toy.data_figure(toy.make_toy_data(seed=0, **data_kwargs)))


def test_interactive_figure_smoke(tmp_path):
    kw = {"epochs": 2, "pretrain_epochs": 1, "batch_size": 16, "cache_dir": tmp_path,
          "data_kwargs": {"train_per_id": 4, "test_per_id": 2, "pretrain_per_id": 4, "n_ui": 8}}
    fig = toy.interactive_figure(beta=1.0, tau=1.0, hard_resolution=10, **kw)
    assert len(fig.axes) == 2 and "10 px" in fig._suptitle.get_text()
    matplotlib.pyplot.close(fig)
    # a new beta retrains RIE only: the pretrained encoder and the ArcFace model come from the cache
    matplotlib.pyplot.close(toy.interactive_figure(beta=3.0, tau=1.0, hard_resolution=10, **kw))
    names = sorted(p.name.split("-")[1] for p in tmp_path.iterdir())
    assert names == ["arcface", "pretrain", "rie", "rie"]


def test_gradient_terms_and_the_clip_setting():
    history = [{"frozen": True, "grad_norm": 99.0, "grad/l1/trunk": 99.0},
               {"frozen": False, "grad_norm": 30.0, "grad/l1/trunk": 20.0, "grad/cls/trunk": 2.0, "grad/cls/prototypes": 5.0},
               {"frozen": False, "grad_norm": 10.0, "grad/l1/trunk": 40.0, "grad/cls/trunk": 4.0}]
    assert toy.gradient_terms(history) == {"l1": 30.0, "cls": 3.0}  # the frozen epoch left out
    assert toy.gradient_terms(history, "prototypes") == {"cls": 5.0}
    assert toy.mean_grad_norm(history) == 20.0 and math.isnan(toy.mean_grad_norm([{"frozen": True, "grad_norm": 1.0}]))
    assert toy.method_config("rie").clip_grad_norm == toy.CLIP == 5.0
    assert toy.method_config("arcface", clip_grad_norm=toy.LOOSE_CLIP).clip_grad_norm == 20.0
