"""The world cache: one folder per config, ``cache_dir/world_<hash>/``, holding
``config.json`` (the config and ``GENERATOR_VERSION``) beside one ``<role>.pt`` per role.

``cache_key`` names the folder; a folder is reused only when its stored config equals
the requested one, and a role file is used only when its contents have the expected
shapes (:func:`check_face_set`). :func:`rie.data.synth.build_world` decides what to
rebuild; this module reads, writes and validates.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from ...common.utils import atomic_write, config_hash, save_json
from .config import WorldConfig

GENERATOR_VERSION = 5  # bump when drawing or the tiers change: it is part of the cache key


def _record(config: WorldConfig) -> dict:
    """What ``config.json`` holds, and what the key hashes."""
    return {"config": config.to_dict(), "generator_version": GENERATOR_VERSION}


def cache_key(config: WorldConfig) -> str:
    """The cache folder name of a config: a hash of its fields and the generator version."""
    return f"world_{config_hash({'config': config.to_dict(), 'generator_version': GENERATOR_VERSION})}"


def stored_config_matches(folder: Path, config: WorldConfig) -> bool:
    """Whether ``folder/config.json`` exists and was written for this very config (warns when it
    exists but is unreadable or made for another config)."""
    stored_ok = False
    if (folder / "config.json").exists():
        try:
            stored_ok = json.loads((folder / "config.json").read_text()) == _record(config)
        except (OSError, ValueError) as err:
            warnings.warn(f"cache config {folder / 'config.json'} is unreadable ({err}); rebuilding the world")
        if not stored_ok:
            warnings.warn(f"cache {folder} was made for another config; rebuilding it")
    return stored_ok


def write_config(folder: Path, config: WorldConfig) -> None:
    """Create the folder and write ``config.json`` (atomically: it marks the folder only once complete)."""
    folder.mkdir(parents=True, exist_ok=True)
    save_json(_record(config), folder / "config.json")


def read_role(path: Path) -> dict:
    """The stored state dict of one role (tensors only: ``weights_only``)."""
    return torch.load(path, weights_only=True)


def write_role(path: Path, state: dict) -> None:
    """Store one role's state dict atomically."""
    atomic_write(path, lambda tmp, state=state: torch.save(state, tmp))


def warn_corrupt(path: Path, err: Exception) -> None:
    warnings.warn(f"cache file {path} is corrupt ({type(err).__name__}: {str(err)[:200]}); rebuilding it")


def check_face_set(fs, role: str, expected: int, image_size: int) -> None:
    """Raise ValueError unless a stored FaceSet is the ``role`` set of ``expected`` images of ``image_size`` px."""
    n = len(fs.images)
    ok = (
        fs.role == role and n == expected and fs.images.dtype == torch.uint8
        and tuple(fs.images.shape[1:]) == (3, image_size, image_size)
        and fs.labels.shape == (n,) and fs.difficulty.shape == (n,) and fs.boxes.shape == (n, 3, 4)
        and all(v.shape == (n,) for v in fs.params.values()) and "identity" in fs.params
    )  # fmt: skip
    if not ok:
        raise ValueError(f"stored {role!r} set does not have the expected contents ({expected} images of {image_size} px)")
