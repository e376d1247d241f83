"""``condgen train`` and ``condgen quickstart``, and ``resolve_config``: the layers of a run's configuration (model
defaults < preset < config file < flags < --set), which tests and benchmarks build their runs with too."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from condgen.cli.common import echo
from condgen.errors import ConfigError


def resolve_config(model: str | None, data: str | None, config: Path | None, preset: str | None,
                   overrides: list[str] | None, model_flags: dict | None = None, **train_flags):
    """Layer model defaults < preset < config file < flags < --set, and return the RunConfig."""
    from condgen.config import load_yaml, parse_overrides
    from condgen.runs import build_config, preset_path

    layers = []
    if preset:
        cands = [preset_path(f"{model}_{preset}") if model else None, preset_path(preset)]
        found = next((p for p in cands if p is not None and p.is_file()), None)
        if found is None:
            from condgen.runs import list_presets

            raise ConfigError(f"no preset '{preset}'{f' for {model}' if model else ''}. "
                              f"Available presets: {', '.join(list_presets())}.")
        layers.append(load_yaml(found))
    if config:
        layers.append(load_yaml(config))
    flags: dict = {}
    if data:
        flags.setdefault("data", {})["path"] = data
    for key, value in train_flags.items():
        if value is not None:
            flags.setdefault("train", {})[key] = value
    if model_flags:
        flags["model"] = dict(model_flags)
    layers.append(flags)
    layers.append(parse_overrides(overrides))
    return build_config(model, *layers)


def train(
    model: Optional[str] = typer.Argument(None, help="model name (see `condgen models`); omit with --resume"),
    data: Optional[str] = typer.Option(None, "--data", "-d",
                                help="a folder, or a built-in dataset (see `condgen data list`)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run directory to create (default runs/MODEL-DATA)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config file"),
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="packaged preset, e.g. quick or paper"),
    overrides: Optional[list[str]] = typer.Option(None, "--set", "-s", help="override a key: --set train.steps=500"),
    steps: Optional[int] = typer.Option(None, help="optimisation steps (train.steps)"),
    device: Optional[str] = typer.Option(None, help="auto, cpu, cuda, cuda:N, mps (train.device)"),
    precision: Optional[str] = typer.Option(None, help="auto, fp32, bf16, fp16 (train.precision)"),
    resume: Optional[Path] = typer.Option(None, "--resume", help="continue the run in this folder"),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="start from the networks of this run (by "
                                             "name; e.g. srgan from a trained srresnet run): train.init_from"),
    no_progress: bool = typer.Option(False, "--no-progress", help="no progress bar"),
    style: Optional[str] = typer.Option(None, "--style", help="style: the style image, a file or builtin:NAME "
                                        "(builtin:hubble, brick, grass, gravel, ihc, retina, colorwheel): "
                                        "model.style_image"),
) -> None:
    """Train MODEL on DATA; writes checkpoints, samples, metrics.jsonl, TensorBoard events and report.html."""
    from condgen.runs import load_run_config
    from condgen.train import train as run_training
    from condgen.train.distributed import is_main_process

    flags = dict(steps=steps, device=device, precision=precision, progress=False if no_progress else None,
                 init_from=str(init_from) if init_from is not None else None)
    model_flags = {"style_image": _style_spec(style)} if style is not None else None
    if style is not None and model not in (None, "style"):
        raise ConfigError(f"--style is the style image of `condgen train style`; model {model} has none.")
    if resume is not None:
        saved = load_run_config(resume).to_dict()
        from condgen.config import parse_overrides
        from condgen.runs import build_config

        layer_flags: dict = {"train": {k: v for k, v in flags.items() if v is not None}}
        if data:
            layer_flags["data"] = {"path": data}
        if model_flags:
            layer_flags["model"] = model_flags
        cfg = build_config(model, saved, load_yaml_opt(config), layer_flags, parse_overrides(overrides))
        result = run_training(cfg, resume, resume=True)
    else:
        if model is None and config is None:
            raise ConfigError("give a model to train (see `condgen models`), a --config with model.name, "
                              "or --resume RUN.")
        cfg = resolve_config(model, data, config, preset, overrides, model_flags=model_flags, **flags)
        model = cfg.model_name
        if not cfg.data.path:
            raise ConfigError("no training data: pass --data FOLDER or a built-in name (see `condgen data list`).")
        if out is None:
            from condgen.data.builtin import BUILTIN_DATA_PREFIX

            out = Path("runs") / f"{model}-{Path(cfg.data.path.removeprefix(BUILTIN_DATA_PREFIX)).name}"
        from condgen.outputs import check_output_folder

        result = run_training(cfg, check_output_folder(out))
    if not is_main_process():
        return  # one report per run, from rank 0
    state = "stopped early" if result.stopped_early else "finished"
    echo(f"{state} at step {result.step}: run in {result.run_dir}\n"
         f"  samples: {result.run_dir / 'samples'}\n  report:  {result.run_dir / 'report.html'}")


def _style_spec(style: str) -> str:
    """A --style value as saved in the config: builtin:NAME as it is, a file as an absolute path (so a resumed run
    finds it from any folder)."""
    from condgen.models.style import BUILTIN_PREFIX

    if style.startswith(BUILTIN_PREFIX) or not style.strip():
        return style
    return str(Path(style).expanduser().absolute())


def load_yaml_opt(path: Path | None) -> dict:
    """A YAML file as a dict, or {} when no path is given."""
    from condgen.config import load_yaml

    return load_yaml(path) if path else {}


def quickstart(out: Path = typer.Option(Path("runs/quickstart"), "--out", "-o"),
               steps: Optional[int] = typer.Option(None, help="override the preset's step count")) -> None:
    """Train a DCGAN on the built-in digits on this machine (CPU: a few minutes) and show where the results are."""
    from condgen.train import train as run_training

    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} already exists; remove it or pass --out NEW_FOLDER.")
    cfg = resolve_config("dcgan", "digits", None, "quick", None, steps=steps)
    echo(f"training dcgan on the built-in digits ({cfg.train.steps} steps, batch {cfg.data.batch_size}, "
         f"{cfg.model.image_size}px) into {out}")
    result = run_training(cfg, out)
    echo(f"\ndone: {result.step} steps.\n  samples: {out / 'samples'} (latest: "
         f"{sorted((out / 'samples').glob('step_*.png'))[-1].name})\n  report:  {out / 'report.html'}\n"
         f"next: condgen sample {out} --interpolate 0,1,2   |   condgen evaluate {out}")

