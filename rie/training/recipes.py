"""The training recipes the notebooks share, per profile (smoke / default / paper).

One place for the schedules, so that every notebook that needs "the pretrained face
model" gets the very same cached model.
"""

from __future__ import annotations

from ..common.checks import RIEInputError
from .train import TrainConfig

PROFILES = ("smoke", "default", "paper")


def _check(profile: str) -> None:
    if profile not in PROFILES:
        raise RIEInputError(f"unknown profile {profile!r}; known: {PROFILES}")


def pretrain_config(profile: str = "default", seed: int = 0) -> TrainConfig:
    """ArcFace alone on the high-resolution set: the paper's VGGFace2-pretrained encoder."""
    _check(profile)
    epochs = {"smoke": 2, "default": 10, "paper": 30}[profile]
    backbone, size = ("iresnet50", 112) if profile == "paper" else ("small_facenet", 32)
    return TrainConfig(
        name=f"pretrain-{profile}", backbone=backbone, input_size=size, embedding_size=128 if profile != "paper" else 512,
        head="arcface", epochs=epochs, batch_size=128, lr=0.1, warmup_epochs=0.5, seed=seed,
    )


def finetune_config(profile: str = "default", method: str = "rie", seed: int = 0, **loss) -> TrainConfig:
    """Fine-tuning on the VLR training set from the pretrained model.

    ``method`` is a margin-head name for the baselines ("arcface", "cosface", ...), or "rie"
    for ArcFace + all RIE terms (alpha 5, beta 2, gamma 1 unless overridden in ``loss``).
    """
    _check(profile)
    base = pretrain_config(profile, seed)
    epochs = {"smoke": 1, "default": 6, "paper": 20}[profile]
    rie_terms = {"alpha": 5.0, "beta": 2.0, "gamma": 1.0} if method == "rie" else {"alpha": 0.0, "beta": 0.0, "gamma": 0.0}
    return base.replace(
        name=f"{method}-{profile}", head="arcface" if method == "rie" else method, epochs=epochs, lr=0.01,
        warmup_epochs=0.0, loss={**rie_terms, **loss},
    )
