"""The training recipes the notebooks share, per profile (smoke / default / paper).

One place for the schedules, so that every notebook that needs "the pretrained face
model" gets the very same cached model.
"""

from __future__ import annotations

from ..common.constants import (
    FINETUNE_CLIP,
    FINETUNE_EPOCHS,
    FINETUNE_WARMUP_EPOCHS,
    NO_RIE_TERMS,
    OURS_METHOD,
    PAPER_WEIGHTS,
    PRETRAIN_EPOCHS,
    check_profile,
    encoder_seeds,
)
from .train import TrainConfig, TrainResult, train_or_load


def pretrain_config(profile: str = "default", seed: int = 0) -> TrainConfig:
    """ArcFace alone on the high-resolution set: the paper's VGGFace2-pretrained encoder."""
    epochs = PRETRAIN_EPOCHS[check_profile(profile)]
    backbone, size = ("iresnet50", 112) if profile == "paper" else ("small_facenet", 32)
    return TrainConfig(
        name=f"pretrain-{profile}", backbone=backbone, input_size=size, embedding_size=128 if profile != "paper" else 512,
        head="arcface", epochs=epochs, batch_size=128, lr=0.1, warmup_epochs=0.5, seed=seed,
    )


def finetune_config(profile: str = "default", method: str = "rie", seed: int = 0, **loss) -> TrainConfig:
    """Fine-tuning on the VLR training set from the pretrained model: the same recipe for every method
    (a warm-up epoch of the new identities' prototypes with the backbone frozen, then joint training
    under a cosine learning rate, clipped at ``FINETUNE_CLIP``).

    ``method`` is a margin-head name for the baselines ("arcface", "cosface", ...), or "rie"
    for ArcFace + all RIE terms (``PAPER_WEIGHTS``: alpha 5, beta 2, gamma 1, unless overridden in ``loss``).
    """
    base = pretrain_config(profile, seed)
    epochs = FINETUNE_EPOCHS[profile]
    rie_terms = PAPER_WEIGHTS if method == OURS_METHOD else NO_RIE_TERMS
    return base.replace(
        name=f"{method}-{profile}", head="arcface" if method == OURS_METHOD else method, epochs=epochs, lr=0.01,
        warmup_epochs=0.0, freeze_backbone_epochs=FINETUNE_WARMUP_EPOCHS, clip_grad_norm=FINETUNE_CLIP,
        loss={**rie_terms, **loss},
    )


def pretrained_encoders(images, labels, profile: str = "default", cache_dir="data/models", seeds=None,
                        progress: bool = False) -> dict[int, TrainResult]:
    """``{seed: pretrained model}`` for each encoder seed of the profile (``RUN_SEEDS``), trained or loaded."""
    seeds = encoder_seeds(profile) if seeds is None else tuple(seeds)
    return {s: train_or_load(pretrain_config(profile, seed=s), images, labels, cache_dir=cache_dir, progress=progress)
            for s in seeds}
