"""One home for the project's constants: the profiles, their sizes, the paper's loss weights
and the method labels. Every module, notebook and test imports them from here.

A profile names a size of every experiment: ``"smoke"`` (seconds: the tests and the smoke run
of the notebooks), ``"default"`` (what the committed reports use, on a 2-core CPU) and
``"paper"`` (the paper's 112 x 112 input; a GPU job). A notebook reads its own sizes with
``notebook_sizes("04_training_and_ablation", PROFILE)``.
"""

from __future__ import annotations

from types import MappingProxyType, SimpleNamespace

from .checks import RIEInputError

PROFILES = ("smoke", "default", "paper")
DEFAULT_PROFILE = "default"

# ---------------------------------------------------------------------------
# The paper's loss weights (Eq. 10): L = L_cls + alpha L_L1 + beta L_ID + gamma L_MSE
# ---------------------------------------------------------------------------
PAPER_WEIGHTS = MappingProxyType({"alpha": 5.0, "beta": 2.0, "gamma": 1.0})
NO_RIE_TERMS = MappingProxyType({"alpha": 0.0, "beta": 0.0, "gamma": 0.0})  # a plain margin-head baseline

# ---------------------------------------------------------------------------
# Methods. A method's key is its recipe name (``rie.training.recipes.finetune_config``):
# a margin head's registry name, or "rie" for ArcFace with the RIE terms.
# ---------------------------------------------------------------------------
BASELINE_METHOD, OURS_METHOD = "arcface", "rie"
# The row names of the paper's Table 4 (its own words), used by the ablation tables (notebooks 04, 06).
TABLE4_LABELS = MappingProxyType({
    "softmax": "Cross Entropy", "normface": "NormFace", "cosface": "CosFace", "mvsoftmax": "MV-Softmax",
    "curricularface": "CurricularFace", "magface": "MagFace", "adaface": "AdaFace",
    "arcface": "Baseline (ArcFace)", "rie": "Ours (all)",
})
# Short names, for the toy experiment's panels and tables (notebook 05).
SHORT_LABELS = MappingProxyType({"softmax": "Softmax", "arcface": "ArcFace", "adaface": "AdaFace", "rie": "RIE (ours)"})
# Quality scores (notebook 07), keyed by the score's source: the model it comes from, or "ers"
# (the distance to the UI centre, with the ArcFace baseline).
SCORE_LABELS = MappingProxyType({
    "rie": "RI (ours)", "crfiqa": "CR-FIQA", "magface": "MagFace norm", "adaface": "AdaFace norm", "ers": "ERS",
})

# ---------------------------------------------------------------------------
# Sizes per profile
# ---------------------------------------------------------------------------
# The synthetic world (rie.data.synth.WorldConfig.from_profile): people and images per role.
WORLD_SIZES = MappingProxyType({
    # the whole build in about a second: for tests and the smoke run of the notebooks
    "smoke": MappingProxyType(dict(
        pretrain_identities=40, pretrain_images_per_id=10, train_identities=30, train_images_per_id=8,
        test_identities=10, gallery_per_id=2, probe_per_id=4, distractor_identities=20,
        distractor_images_per_id=2, ui_images=400, ui_images_per_id=4,
    )),
    # what the reports use: about 40k images at 32 x 32
    "default": MappingProxyType(dict(
        pretrain_identities=500, pretrain_images_per_id=40, train_identities=300, train_images_per_id=20,
        test_identities=150, gallery_per_id=2, probe_per_id=8, distractor_identities=400,
        distractor_images_per_id=5, ui_images=6000, ui_images_per_id=4,
    )),
    # a GPU-sized world at the paper's 112 x 112 input (~75k images, ~2.8 GB as uint8)
    "paper": MappingProxyType(dict(
        image_size=112, pretrain_identities=1000, pretrain_images_per_id=40, train_identities=500,
        train_images_per_id=20, test_identities=300, gallery_per_id=2, probe_per_id=10,
        distractor_identities=2000, distractor_images_per_id=5, ui_images=10000, ui_images_per_id=4,
    )),
})

# The shared training recipes (rie.training.recipes): epochs of the pretrained encoder and of each fine-tuning.
PRETRAIN_EPOCHS = MappingProxyType({"smoke": 2, "default": 10, "paper": 30})
# Fine-tuning: the first epoch is the prototypes' warm-up (backbone frozen), the rest joint training; the
# default's 10 bring the baseline's L_cls to a plateau (notebook 02 checks it: < 2 % over the last two).
FINETUNE_EPOCHS = MappingProxyType({"smoke": 3, "default": 10, "paper": 20})
FINETUNE_WARMUP_EPOCHS = 1
# The fine-tuning's gradient-norm clip, set from measurement (default world, ArcFace, no clip): the joint
# epochs' norms run 7.6-14 (largest single step), the warm-up's up to 126 (the new prototypes). arcface_torch's
# 5 cut every joint step and throttled training (rank-1 47 % against 55 % without); 20 is above every joint
# step and bounds only the warm-up's.
FINETUNE_CLIP = 20.0

# Seeds of every comparison over models (notebooks 04-07): (encoder seed, fine-tuning seed) pairs. A new
# machine changes the pretrained encoder as much as the fine-tuning (float32 rounding), so the spread must
# cover both; two methods are compared pair by pair (the same encoder and fine-tuning seed on both sides).
RUN_SEEDS = MappingProxyType({
    "smoke": ((0, 0), (0, 1)),
    "default": ((0, 0), (0, 1), (1, 0), (1, 1)),
    "paper": ((0, 0), (0, 1), (1, 0), (1, 1)),
})


# Each notebook's own sizes, keyed by the notebook's file name (without .ipynb), then by profile.
NOTEBOOK_SIZES = MappingProxyType({
    # the quickstart's tiny RIE run
    "00_quickstart": {"smoke": dict(epochs=3), "default": dict(epochs=12), "paper": dict(epochs=30)},
    # pretrained HR embeddings (and at most as many VLR and UI ones) drawn in the UMAP
    "02_ui_cluster_discovery": {"smoke": dict(n_show=300), "default": dict(n_show=2000), "paper": dict(n_show=3000)},
    # verification pairs sampled from the test split (Table 3) and people on the HR-gallery ladder (Table 2)
    "04_training_and_ablation": {
        "smoke": dict(n_mated=100, n_nonmated=2000, ladder_identities=20),
        "default": dict(n_mated=6000, n_nonmated=50000, ladder_identities=100),
        "paper": dict(n_mated=6000, n_nonmated=50000, ladder_identities=100),
    },
    # the 2-D toy: fine-tuning and pretraining epochs, seeds, training / held-out / clean pretraining
    # photos per identity, UI faces, and the seeds of the clip check (ArcFace and RIE again, loose clip)
    "05_toy_embedding": {
        "smoke": dict(epochs=3, pretrain_epochs=2, n_seeds=2, train_per_id=8, test_per_id=4, pretrain_per_id=8, n_ui=32,
                      n_clip_seeds=2),
        "default": dict(epochs=30, pretrain_epochs=25, n_seeds=6, train_per_id=32, test_per_id=24, pretrain_per_id=32,
                        n_ui=256, n_clip_seeds=3),
        "paper": dict(epochs=60, pretrain_epochs=50, n_seeds=8, train_per_id=64, test_per_id=40, pretrain_per_id=64,
                      n_ui=512, n_clip_seeds=8),
    },
    # people on the resolution ladder (the positive control of Section 5)
    "06_grad_cam": {"smoke": dict(ladder_identities=20), "default": dict(ladder_identities=100),
                    "paper": dict(ladder_identities=100)},
    # verification pairs for the ERC (the paper samples 20,888 mated pairs on TinyFace; the default
    # test split has 6,750 mated pairs in all)
    "07_quality_and_erc": {
        "smoke": dict(n_mated=100, n_nonmated=1000),
        "default": dict(n_mated=6000, n_nonmated=50000),
        "paper": dict(n_mated=6000, n_nonmated=50000),
    },
})


def encoder_seeds(profile: str = DEFAULT_PROFILE) -> tuple[int, ...]:
    """The pretrained encoders a profile's comparisons use (``RUN_SEEDS``' first members)."""
    return tuple(dict.fromkeys(e for e, _ in RUN_SEEDS[check_profile(profile)]))


def check_profile(profile: str) -> str:
    """``profile`` if it is one of ``PROFILES``, else an ``RIEInputError``."""
    if profile not in PROFILES:
        raise RIEInputError(f"unknown profile {profile!r}; known: {PROFILES}")
    return profile


def notebook_sizes(notebook: str, profile: str = DEFAULT_PROFILE, **overrides) -> SimpleNamespace:
    """One notebook's sizes for ``profile``, as attributes; ``overrides`` change any of them.

    >>> notebook_sizes("00_quickstart", "smoke").epochs
    3
    """
    if notebook not in NOTEBOOK_SIZES:
        raise RIEInputError(f"no sizes for notebook {notebook!r}; known: {list(NOTEBOOK_SIZES)}")
    sizes = dict(NOTEBOOK_SIZES[notebook][check_profile(profile)])
    unknown = set(overrides) - set(sizes)
    if unknown:
        raise RIEInputError(f"unknown size(s) {sorted(unknown)} for {notebook}; known: {sorted(sizes)}")
    return SimpleNamespace(**{**sizes, **overrides})
