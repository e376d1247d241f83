"""Typed run configuration: dataclasses, YAML load/save, dotted ``--set`` overrides and validation.

A run config has four parts, saved as ``config.yaml`` in every run directory::

    model: {name: dcgan, nz: 100, ...}   # the model's own dataclass (paper defaults)
    seed: 0
    data:  {path: digits, batch_size: 64, ...}
    train: {steps: 2000, precision: auto, ...}

Choices and bounds live in field metadata (``choices=``, ``min=``, ``max=``), so every error can name the
key and the valid values.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from condgen.errors import ConfigError

#: a config file larger than this is refused before it is parsed (the packaged presets are under 2 KB; parsing
#: YAML takes about a second per megabyte)
MAX_CONFIG_BYTES = 1_000_000
#: mappings and lists nested deeper than this are refused (a config is three levels deep: section, key, list)
MAX_CONFIG_DEPTH = 20
#: integers in a config fit in 64 bits (what torch and numpy take); the seed also leaves room for per-rank offsets
MAX_INT = 2**63 - 1
MAX_SEED = 2**62


def option(default: Any, *, choices: tuple | None = None, min: float | None = None,
           max: float | None = None, help: str = "") -> Any:  # noqa: A002 - mirrors the field names users see
    """A dataclass field with the choices/bounds the validator enforces and a help line."""
    meta = {"choices": choices, "min": min, "max": max, "help": help}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    """Where the training images come from and how they are batched."""

    path: str = option("", help="a folder, or a built-in dataset name (see `condgen data list`)")
    batch_size: int = option(64, min=1)
    num_workers: int = option(-1, min=-1, help="-1: auto (0 for in-memory built-in data)")
    bad_images: str = option("skip", choices=("skip", "error"),
                             help="unreadable/truncated images: skip them with a warning, or stop")
    # image-to-image data (pix2pix, cyclegan, ...); unused by noise-driven models
    direction: str = option("AtoB", choices=("AtoB", "BtoA"), help="which side of a pair is the input")
    preprocess: str = option("resize_and_crop",
                             choices=("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"),
                             help="training-time resizing/cropping, the same for both images of a pair")
    load_size: int = option(286, min=1, help="resize to this before the random crop (pix2pix: 286)")
    crop_size: int = option(256, min=1, help="random crop size = training image size (pix2pix: 256)")
    flip: bool = option(True, help="random horizontal flip, the same for both images of a pair")
    # semantic label maps (spade, oasis, sean); the number of classes is model.label_nc
    dontcare_id: int = option(255, min=-1, max=255,
                              help="label value meaning 'don't care' (unlabelled) in the label files, given to "
                                   "models as 255; -1: none; another value v also moves the ids above v down by one "
                                   "(files with don't-care first, e.g. 0)")
    instances: str = option("auto", choices=("auto", "true", "false"),
                            help="instance maps (an instances/ folder beside labels/): auto = use them when present")
    pairing: str = option("random", choices=("random", "serial"),
                          help="unpaired data (cyclegan, unit, munit): each A image meets a random B image, "
                               "drawn anew each epoch (random), or the B image at the same position (serial)")


@dataclass
class TrainConfig:
    """How long and how the trainer runs; nothing here is specific to one model."""

    steps: int = option(0, min=0, help="optimisation steps; 0 means use `epochs`")
    epochs: int = option(0, min=0)
    device: str = option("auto", help="auto, cpu, cuda, cuda:N or mps")
    precision: str = option("auto", choices=("auto", "fp32", "bf16", "fp16"),
                            help="autocast dtype; auto on a CPU = measured: a few steps of each candidate (bf16 "
                                 "only with native bf16) pick the fastest whose losses match fp32 (cached); "
                                 "auto on a GPU = bf16 where supported")
    channels_last: str = option("auto", choices=("auto", "true", "false"),
                                help="auto = measured with precision=auto, else on with autocast")
    compile: str = option("auto", choices=("auto", "true", "false"),
                          help="torch.compile the networks (true/on, false/off): auto = measured with "
                               "precision=auto when the run is long enough to repay compiling (single process), "
                               "else off")
    threads: int = option(0, min=0, max=4096, help="CPU threads for torch's intra-op parallelism (per process); 0 "
                                                  "= torch's default (the machine's cores); set it on a shared machine")
    ema_decay: float = option(0.0, min=0.0, max=1.0, help="EMA of the generator; 0 disables")
    nan_policy: str = option("stop", choices=("stop", "skip"),
                             help="a NaN/Inf loss: stop (keeping the last good checkpoint), or skip that network's "
                                  "update (its weights stay as they were) and go on")
    nan_max_skips: int = option(10, min=0, help="nan_policy=skip: stop after this many skipped updates")
    lr_schedule: str = option("constant", choices=("constant", "linear", "step"))
    lr_decay_start: float = option(0.5, min=0.0, max=1.0,
                                   help="linear: fraction of the run after which the LR decays to zero")
    lr_step_size: int = option(0, min=0, help="step: multiply the LR by lr_gamma every this many steps")
    lr_gamma: float = option(0.5, min=0.0, max=1.0)
    checkpoint_every: int = option(500, min=1)
    keep_checkpoints: int = option(3, min=1, help="numbered checkpoints kept besides `last`")
    sample_every: int = option(500, min=1)
    log_every: int = option(25, min=1)
    num_samples: int = option(64, min=1, help="images in each samples/step_N.png grid")
    val_every: int = option(1000, min=0, help="validation pass on held-out data every N steps (0: never)")
    val_images: int = option(200, min=1, help="held-out images per validation pass (the first N)")
    tensorboard: bool = option(True)
    progress: bool = option(True)
    init_from: str = option("", help="start from the networks of another run (its last checkpoint) or checkpoint "
                                     "file, matched by name, e.g. SRGAN's G from a trained SRResNet; '' = none")


@dataclass
class RunConfig:
    """A whole run: the model's config plus data, training and seed."""

    model_name: str
    model: Any  # the model's config dataclass
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        """The YAML-ready nested dict (model name inside the model section)."""
        return {
            "model": {"name": self.model_name, **dataclasses.asdict(self.model)},
            "seed": self.seed,
            "data": dataclasses.asdict(self.data),
            "train": dataclasses.asdict(self.train),
        }

    def save(self, path: str | Path) -> None:
        """Write the resolved config as YAML, atomically (a temp file renamed over it): a crash or a full disk
        never leaves a half-written config.yaml."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            tmp.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Convert a YAML/CLI value to the field type, or raise a ConfigError naming the key."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(key, value, args[0])
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp) or (Any,)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' expects a list, got {value!r}.")
        out = [_coerce(key, v, inner) for v in value]
        return tuple(out) if origin is tuple else out
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"config key '{key}' expects true or false, got {value!r}.")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"config key '{key}' expects an integer, got {value!r}.")
        try:
            as_float = float(value)
        except ValueError:
            raise ConfigError(f"config key '{key}' expects an integer, got {value!r}.") from None
        if not math.isfinite(as_float) or as_float != int(as_float):
            raise ConfigError(f"config key '{key}' expects an integer, got {value!r}.")
        number = int(value) if isinstance(value, int) else int(as_float)
        if abs(number) > MAX_INT:
            raise ConfigError(f"config key '{key}' is {value!r}, too large: integers must be within +-{MAX_INT} "
                              f"(2**63 - 1).")
        return number
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}' expects a number, got {value!r}.")
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"config key '{key}' expects a number, got {value!r}.") from None
        if not math.isfinite(number):
            raise ConfigError(f"config key '{key}' is {value!r}; it must be a finite number (not NaN or infinity).")
        return number
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"config key '{key}' expects a string, got {value!r}.")
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    raise ConfigError(f"config key '{key}' has unsupported type {_type_name(tp)}.")


def _unknown_key(key: Any, valid: list[str]) -> ConfigError:
    key = str(key)
    close = difflib.get_close_matches(key.split(".")[-1], valid, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ConfigError(f"unknown config key '{key}'.{hint} Valid keys here: {', '.join(valid)}.")


def update_dataclass(obj: Any, values: dict, prefix: str) -> None:
    """Set fields of ``obj`` from a dict, converting and validating each one."""
    if not isinstance(values, dict):
        raise ConfigError(f"config section '{prefix.rstrip('.')}' must be a mapping, got {values!r}.")
    fields = {f.name: f for f in dataclasses.fields(obj)}
    hints = typing.get_type_hints(type(obj))
    for name, raw in values.items():
        key = f"{prefix}{name}"
        if name not in fields:
            raise _unknown_key(key, sorted(fields))
        setattr(obj, name, _coerce(key, raw, hints[name]))
    validate_fields(obj, prefix)


def validate_fields(obj: Any, prefix: str) -> None:
    """Check every field against its declared choices and bounds, then the dataclass's own ``validate()``."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"config key '{key}' is {value!r}; valid choices: {', '.join(map(str, choices))}.")
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        if lo is not None and value is not None and value < lo:
            raise ConfigError(f"config key '{key}' is {value!r}; it must be >= {lo}.")
        if hi is not None and value is not None and value > hi:
            raise ConfigError(f"config key '{key}' is {value!r}; it must be <= {hi}.")
    check = getattr(obj, "validate", None)
    if callable(check):
        check()


def parse_overrides(items: list[str] | None) -> dict:
    """Turn ``["train.steps=10", "model.nz=64"]`` into a nested dict (values parsed as YAML scalars)."""
    out: dict = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value (e.g. train.steps=1000), got {item!r}.")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            value = _safe_load(raw, f"--set {key}") if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        parts = key.split(".")
        if len(parts) > MAX_CONFIG_DEPTH or not all(p.strip() for p in parts):
            raise ConfigError(f"--set {key[:80]}{'...' if len(key) > 80 else ''}: not a config key (keys are "
                              f"SECTION.NAME, e.g. train.steps).")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: '{p}' is a value, not a section.")
        node[parts[-1]] = value
    return out


def deep_merge(base: dict, update: dict) -> dict:
    """Recursively merge ``update`` into a copy of ``base``."""
    out = dict(base)
    for k, v in update.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _depth(data: Any) -> int:
    """How deeply lists and mappings nest in ``data`` (a scalar: 0), without recursion."""
    deepest, todo = 0, [(data, 1)]
    while todo:
        node, d = todo.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, d)
            todo.extend((v, d + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def _safe_load(text: str, what: str) -> Any:
    """``yaml.safe_load(text)``, with a ConfigError for structures nested deeper than MAX_CONFIG_DEPTH (including
    those so deep that the parser's recursion would give up)."""
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        data = None
        too_deep = True
    else:
        too_deep = _depth(data) > MAX_CONFIG_DEPTH
    if too_deep:
        raise ConfigError(f"{what} nests lists or mappings more than {MAX_CONFIG_DEPTH} levels deep; a condgen config "
                          "is a few levels deep (section: key: value).")
    return data


def load_yaml(path: str | Path) -> dict:
    """Read a YAML config file as a dict, with a clear error for a missing, oversized, non-UTF-8, too deeply
    nested or malformed file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist.")
    size = p.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {p} is {size / 1e6:.1f} MB; a condgen config is a few KB (the limit is "
                          f"{MAX_CONFIG_BYTES / 1e6:g} MB). Is it the right file?")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {p} is not UTF-8 text (byte {e.start} is {e.object[e.start]:#04x}); save "
                          "it as UTF-8.") from None
    try:
        data = _safe_load(text, f"config file {p}")
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {p} is not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping at the top level.")
    return data
