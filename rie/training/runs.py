"""Run files: a YAML config (a ``base`` it overrides, ``--set key=value``) -> data, model, ``fit_loader``.

The keys of a run file (``KNOWN_KEYS``; anything else is an error that lists them):

- every ``TrainConfig`` field (``loss`` is a dict of ``RIELossConfig`` fields, merged);
- every ``RunOptions`` field (device, amp, deterministic, num_workers, low_res_prob, ...);
- ``base``: a run file this one overrides (a path relative to this file), as arcface_torch's
  ``configs/base.py``; mappings are merged key by key, anything else replaced;
- ``recipe``: ``{stage: pretrain|finetune, profile: smoke|default|paper, method: rie|arcface|...}``
  starts the ``TrainConfig`` from ``rie.training.recipes`` (the notebooks' very numbers);
- ``data``: ``{kind: synthetic|folder|tinyface|survface|scface, path, image_size, split}`` (synthetic:
  ``{profile, role, cache_dir, world}``); ``ui_data: {kind: folder, path}`` (synthetic data bring their UI role);
- ``init_from``: ``{path, format: arcface_torch|crfiqa|magface|adaface|rie}``, loaded by
  ``rie.method.checkpoints.load_checkpoint`` (``rie``: a model folder ``train_or_load`` / a run wrote);
- ``output``: the run's folder (checkpoint.pt, log.csv, model.pt, head.pt, config.json);
  rerunning the same file resumes from its checkpoint;
- ``max_steps``: stop after that many steps (smoke tests).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.distributed as dist
import yaml

from ..common.checks import RIEInputError
from ..method.backbones import make_backbone
from ..method.losses import RIELossConfig
from .loop import RUN_OPTION_KEYS, RunOptions, data_fingerprint
from .train import TrainConfig

TRAIN_KEYS = tuple(f.name for f in fields(TrainConfig))
RUN_KEYS = ("base", "recipe", "data", "ui_data", "init_from", "output", "max_steps")
KNOWN_KEYS = TRAIN_KEYS + RUN_OPTION_KEYS + RUN_KEYS
DATA_KINDS = ("synthetic", "folder", "tinyface", "survface", "scface")
INIT_FORMATS = ("arcface_torch", "crfiqa", "magface", "adaface", "rie")


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _read_yaml(path: Path, seen: tuple = ()) -> dict:
    path = Path(path)
    if not path.is_file():
        raise RIEInputError(f"run file {path} does not exist")
    if path.resolve() in seen:
        raise RIEInputError(f"run file {path}: its base chain loops back to itself")
    try:
        d = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RIEInputError(f"run file {path} is not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(d, dict):
        raise RIEInputError(f"run file {path} must be a mapping of keys, got {type(d).__name__}")
    base = d.pop("base", None)
    if base is None:
        return d
    return _merge(_read_yaml(path.parent / base, seen + (path.resolve(),)), d)


def parse_set(items) -> dict:
    """``["lr=0.01", "loss.alpha=2", "data.path=/x"]`` -> a nested dict (values read as YAML)."""
    out: dict = {}
    for item in items or ():
        if "=" not in item:
            raise RIEInputError(f"--set takes key=value, got {item!r}")
        key, value = item.split("=", 1)
        node = out
        *parents, last = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = yaml.safe_load(value) if value.strip() else None
    return out


def load_run(path, overrides=()) -> dict:
    """The merged run dict (base chain, then the file, then ``--set``), its keys checked."""
    run = _merge(_read_yaml(Path(path)), parse_set(overrides))
    unknown = sorted(set(run) - set(KNOWN_KEYS))
    if unknown:
        raise RIEInputError(f"unknown config key(s) {unknown}; known keys: {', '.join(sorted(KNOWN_KEYS))}")
    if isinstance(run.get("loss"), dict):
        bad = sorted(set(run["loss"]) - {f.name for f in fields(RIELossConfig)})
        if bad:
            raise RIEInputError(f"unknown loss key(s) {bad}; known: {', '.join(f.name for f in fields(RIELossConfig))}")
    run.setdefault("_file", str(path))
    return run


def train_config(run: dict) -> TrainConfig:
    recipe = run.get("recipe")
    if recipe:
        from .recipes import finetune_config, pretrain_config

        recipe = dict(recipe)
        stage = recipe.pop("stage", "pretrain")
        if stage == "pretrain":
            recipe.pop("method", None)
            start = pretrain_config(**recipe)
        elif stage == "finetune":
            start = finetune_config(**recipe)
        else:
            raise RIEInputError(f"recipe.stage must be pretrain or finetune, got {stage!r}")
    else:
        start = TrainConfig()
    changes = {k: run[k] for k in TRAIN_KEYS if k in run}
    return start.replace(**changes)


def run_options(run: dict) -> RunOptions:
    return RunOptions(**{k: run[k] for k in RUN_OPTION_KEYS if k in run})


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
def _folder_sets(spec: dict, image_size: int, what: str) -> dict:
    from ..data import datasets

    kind = spec.get("kind")
    path = spec.get("path")
    if not path:
        raise RIEInputError(f"{what}: kind {kind!r} needs a path")
    if not Path(path).exists():
        raise RIEInputError(f"{what}: path {path} does not exist")
    if kind == "folder":
        return {"train": datasets.load_image_folder(path, image_size=image_size)}
    if kind == "tinyface":
        return datasets.load_tinyface(path, image_size=image_size)
    if kind == "survface":
        return datasets.load_survface(path, image_size=image_size)
    return datasets.load_scface(path, image_size=image_size)


def build_data(run: dict, config: TrainConfig):
    """(training dataset, UI images or None, data fingerprint)."""
    spec = run.get("data")
    if not isinstance(spec, dict) or spec.get("kind") not in DATA_KINDS:
        raise RIEInputError(f"data must be a mapping with kind one of {DATA_KINDS}, got {spec!r}")
    spec = dict(spec)
    ui = None
    if spec["kind"] == "synthetic":
        from ..data.synth import WorldConfig, build_world

        profile = spec.get("profile", "default")
        world = build_world(WorldConfig.from_profile(profile, **{"image_size": config.input_size, **spec.get("world", {})}),
                            cache_dir=spec.get("cache_dir", "data/cache"))
        role = spec.get("role", "pretrain")
        if role not in world or role in ("ui", "distractor"):
            raise RIEInputError(f"data.role {role!r} is not a labelled role of the synthetic world")
        train = world[role].as_dataset()
        ui = world["ui"].images
    else:
        sets = _folder_sets(spec, spec.get("image_size", config.input_size), "data")
        train = sets[spec.get("split", "train")]
    ui_spec = run.get("ui_data")
    if ui_spec:
        if not isinstance(ui_spec, dict) or ui_spec.get("kind") != "folder":
            raise RIEInputError(f"ui_data must be a mapping with kind: folder and a path (synthetic data bring "
                                f"their own UI role), got {ui_spec!r}")
        from ..data.datasets import load_ui_folder

        if not Path(str(ui_spec.get("path"))).exists():
            raise RIEInputError(f"ui_data: path {ui_spec.get('path')} does not exist")
        ui = load_ui_folder(ui_spec["path"], image_size=ui_spec.get("image_size", config.input_size))
    return train, ui, data_fingerprint(train)


# ---------------------------------------------------------------------------
# The starting model
# ---------------------------------------------------------------------------
def init_state(run: dict, config: TrainConfig) -> dict | None:
    spec = run.get("init_from")
    if not spec:
        return None
    if isinstance(spec, str):
        spec = {"path": spec}
    fmt, path = spec.get("format", "rie"), spec.get("path")
    if fmt not in INIT_FORMATS:
        raise RIEInputError(f"init_from.format must be one of {INIT_FORMATS}, got {fmt!r}")
    if not path or not Path(path).exists():
        raise RIEInputError(f"init_from: path {path} does not exist")
    if fmt == "rie":
        from .train import load_trained

        state = load_trained(path).model.state_dict()
        backbone = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    else:
        from ..method.checkpoints import load_checkpoint

        loaded = load_checkpoint(path, fmt, arch=spec.get("arch"))
        backbone = loaded.model.state_dict()
        state = {f"backbone.{k}": v for k, v in backbone.items()}
    want = make_backbone(config.backbone, embedding_size=config.embedding_size, input_size=config.input_size).state_dict()
    wrong = [k for k in want if k not in backbone or backbone[k].shape != want[k].shape]
    extra = [k for k in backbone if k not in want]
    if wrong or extra:
        shapes = next((f"{k}: {tuple(backbone[k].shape)} vs {tuple(want[k].shape)}" for k in wrong if k in backbone), "")
        raise RIEInputError(
            f"init_from {path} ({fmt}) does not fit backbone {config.backbone!r} (embedding_size {config.embedding_size}): "
            f"{len(wrong)} missing or mis-shaped weights {wrong[:3]}{' (' + shapes + ')' if shapes else ''}, "
            f"{len(extra)} unexpected {extra[:3]}; set backbone/embedding_size to the checkpoint's architecture"
        )
    return state


@dataclass
class Plan:
    config: TrainConfig
    options: RunOptions
    output: Path
    max_steps: int | None


def plan(run: dict) -> Plan:
    config = train_config(run)
    output = Path(run.get("output") or Path("runs") / config.name)
    return Plan(config, run_options(run), output, run.get("max_steps"))


def init_distributed() -> bool:
    """Start the process group when launched by ``torchrun`` (WORLD_SIZE > 1): nccl on CUDA, else gloo."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return True


def train_from_run(path, overrides=(), progress: bool = True):
    """``rie train``: read, check, build the data and the model, train (or resume); returns
    (TrainResult, output folder)."""
    from .loop import distributed, fit_loader

    run = load_run(path, overrides)
    p = plan(run)
    started = init_distributed()
    state = init_state(run, p.config)  # before the data: a wrong checkpoint fails before a long scan
    train, ui, data_key = build_data(run, p.config)
    result = fit_loader(p.config, train, ui, state, progress=progress, max_steps=p.max_steps, options=p.options,
                        out_dir=p.output)
    if distributed()[0] == 0:
        import json

        meta_file = p.output / "config.json"
        meta = json.loads(meta_file.read_text())
        meta.update({"data": data_key, "run_file": {k: v for k, v in run.items() if k != "_file"}})
        meta_file.write_text(json.dumps(meta, indent=1, default=str))
    if started:
        dist.barrier()
        dist.destroy_process_group()
    return result, p.output


__all__ = ["KNOWN_KEYS", "load_run", "parse_set", "plan", "train_from_run", "data_fingerprint", "init_state"]
