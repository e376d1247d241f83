"""Run-level resolution, above the models: a RunConfig from the model's paper defaults and the user's layers
(preset, file, ``--set``), the ``config.yaml`` round trip (filling keys an older run lacks), the packaged presets,
run folders and the device to run on.

``condgen.config`` stays a leaf that every model imports (``option``, the dataclasses, validation); everything
here needs the model registry, so it lives above it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from condgen.config import MAX_SEED, RunConfig, _coerce, _unknown_key, deep_merge, load_yaml, update_dataclass
from condgen.errors import CheckpointError, ConfigError
from condgen.models import get_model_class

PRESETS_DIR = Path(__file__).parent / "configs"


# ----- resolving a config -------------------------------------------------------------------------
def build_config(model_name: str | None, *layers: dict) -> RunConfig:
    """Resolve a RunConfig: the model's paper defaults, then each layer (preset, file, --set) in order."""
    merged: dict = {}
    for layer in layers:
        merged = deep_merge(merged, layer or {})
    section = merged.get("model", {}) or {}
    if not isinstance(section, dict):
        raise ConfigError("config section 'model' must be a mapping (e.g. model: {name: dcgan}).")
    name = model_name or section.get("name")
    if section.get("name") and model_name and section["name"] != model_name:
        raise ConfigError(f"the config is for model '{section['name']}' but '{model_name}' was asked for.")
    if not name:
        raise ConfigError("no model given: pass a model name (see `condgen models`) or a config with model.name.")
    cls = get_model_class(name)
    top_valid = ["model", "seed", "data", "train"]
    for key in merged:
        if key not in top_valid:
            raise _unknown_key(key, top_valid)
    cfg = RunConfig(model_name=name, model=cls.Config())
    # The model's training defaults (its paper's schedule, batch size, ...) sit under the user's layers.
    defaults = getattr(cls, "train_defaults", {}) or {}
    for sec, values in (("data", defaults.get("data", {})), ("train", defaults.get("train", {}))):
        update_dataclass(getattr(cfg, sec), values, f"{sec}.")
    update_dataclass(cfg.model, {k: v for k, v in section.items() if k != "name"}, "model.")
    if "seed" in merged:
        cfg.seed = _coerce("seed", merged["seed"], int)
        if not 0 <= cfg.seed <= MAX_SEED:
            raise ConfigError(f"config key 'seed' is {cfg.seed}; it must be in 0..{MAX_SEED} (2**62).")
    update_dataclass(cfg.data, merged.get("data", {}) or {}, "data.")
    update_dataclass(cfg.train, merged.get("train", {}) or {}, "train.")
    return cfg


def config_from_dict(data: dict) -> RunConfig:
    """Re-create a RunConfig from a saved ``config.yaml`` dict. A model key the file lacks (the run predates it)
    takes the value its model's ``Config.saved_before`` gives, when it gives one: what that run computed."""
    section = data.get("model") if isinstance(data, dict) else None
    if isinstance(section, dict) and section.get("name"):
        before = getattr(get_model_class(section["name"]).Config, "saved_before", {})
        data = {**data, "model": {**{k: v for k, v in before.items() if k not in section}, **section}}
    return build_config(None, data)


# ----- presets ------------------------------------------------------------------------------------
def preset_path(name: str) -> Path:
    """Path of a packaged YAML preset (``condgen/configs/NAME.yaml``)."""
    return PRESETS_DIR / f"{name}.yaml"


def list_presets() -> list[str]:
    """Names of the packaged presets."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


# ----- run directories ----------------------------------------------------------------------------
def is_run_dir(path: Path) -> bool:
    """A folder holding a condgen run (config.yaml)."""
    return (Path(path) / "config.yaml").is_file()


def load_run_config(run_dir: str | Path) -> RunConfig:
    """The config a run was made with, or a CheckpointError if the folder is not a run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir} does not exist; give the folder of a run made by `condgen train`.")
    if not is_run_dir(run_dir):
        raise CheckpointError(f"{run_dir} is not a condgen run (no config.yaml in it).")
    return config_from_dict(load_yaml(run_dir / "config.yaml"))


def config_conflicts(saved: RunConfig, new: RunConfig) -> list[str]:
    """Keys whose values differ between two configs and that would change what a resumed run computes."""
    allowed = {"train.steps", "train.epochs", "train.progress", "train.checkpoint_every", "train.sample_every",
               "train.log_every", "train.keep_checkpoints", "train.tensorboard", "data.num_workers",
               "train.device", "train.threads", "train.compile"}
    a, b = flatten_dict(saved.to_dict()), flatten_dict(new.to_dict())
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and k not in allowed)


def flatten_dict(d: dict, prefix: str = "") -> dict:
    """``{'a': {'b': 1}}`` -> ``{'a.b': 1}``."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten_dict(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# ----- device -------------------------------------------------------------------------------------
def select_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA, then Apple MPS, then CPU; otherwise the named device (checked to exist)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device '{name}' is not a device; use auto, cpu, cuda, cuda:N or mps.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device is cuda but no CUDA GPU is available here; use --device cpu.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("train.device is mps but MPS is not available here; use --device cpu.")
    return device


def load_model_data(model_cls, run_cfg: RunConfig, split: str = "train", train: bool = True,
                    evaluation: bool = False):
    """``split`` of the run's data (``data.path``) as ``model_cls`` declares it: its ``data_kind`` and
    ``data_options`` (``train``: with the training augmentation), or with ``evaluation`` the held-out set
    ``condgen evaluate`` measures (``eval_data_options``). DataError when the split or data is missing."""
    from condgen.data import load_dataset

    options = (model_cls.eval_data_options(run_cfg, split) if evaluation
               else model_cls.data_options(run_cfg, split, train))
    return load_dataset(run_cfg.data.path, kind=model_cls.data_kind, split=split, **options)
