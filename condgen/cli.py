"""The ``condgen`` command line: train, sample, translate, upscale, stylize, evaluate, data, models, quickstart."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from condgen.config import MAX_SEED
from condgen.errors import CondgenError, ConfigError, DataError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="condgen: conditional generative models (GAN, DCGAN, cGAN, ...) on PyTorch.\n\n"
                       "Start with `condgen quickstart`, or `condgen train dcgan --data digits --preset quick`.")
data_app = typer.Typer(no_args_is_help=True, help="Built-in offline datasets: list them or write them out as folders.")
app.add_typer(data_app, name="data")


def _print_version(value: bool) -> None:
    if value:
        import condgen

        typer.echo(f"condgen {condgen.__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                       help="print condgen's version and exit")) -> None:
    """condgen: conditional generative models (GAN, DCGAN, cGAN, ...) on PyTorch."""


def _echo(msg: str) -> None:
    typer.echo(msg)


def _report_skipped(failed: list[tuple[Path, str]]) -> None:
    """After a command over many files wrote the others: a DataError listing the inputs it skipped, and why."""
    if failed:
        lines = "; ".join(f"{p.name}: {msg}" for p, msg in failed[:5])
        more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
        raise DataError(f"{len(failed)} input(s) could not be read or processed and were skipped ({lines}{more}).")




# ----- train ----------------------------------------------------------------------------------------
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


@app.command()
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
    _echo(f"{state} at step {result.step}: run in {result.run_dir}\n"
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


# ----- sample ---------------------------------------------------------------------------------------
#: the most cells `condgen sample` puts in one grid (a 64 x 64 grid); samples are generated in batches of
#: SAMPLE_BATCH, so memory grows with the grid image, not with the network's activations for every sample
MAX_GRID_CELLS = 4096
SAMPLE_BATCH = 256


@app.command()
def sample(
    run: Path = typer.Argument(..., help="a run directory"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="output PNG (default RUN/samples/sample_seedS.png)"),
    n: int = typer.Option(64, "--n", "-n", min=1, help=f"number of samples (at most {MAX_GRID_CELLS}: one grid image)"),
    seed: int = typer.Option(0, min=0, max=MAX_SEED, help="seed of the latent codes; cell i of the grid is code i"),
    label: Optional[int] = typer.Option(None, "--class", help="class id for conditional models (default: all classes)"),
    interpolate: Optional[str] = typer.Option(
        None, help="walk the latent space through these sample indices, e.g. '3,17,42'"),
    frames: int = typer.Option(8, help="interpolation steps between two codes"),
    arithmetic: Optional[str] = typer.Option(None, help="vector arithmetic on sample indices: '3,17,22 - 5,9 + 40,41'"),
    numbered: bool = typer.Option(False, help="write each cell's index on the grid (to pick indices)"),
    no_ema: bool = typer.Option(False, "--no-ema", help="use the raw generator even if an EMA was kept"),
) -> None:
    """Sample a grid; or walk the latent space (grid + GIF); or do vector arithmetic (DCGAN sec. 6)."""
    import torch

    import condgen
    from condgen import latent
    from condgen.train.images import make_grid_image, save_gif, save_grid

    if n > MAX_GRID_CELLS:
        raise ConfigError(f"--n {n} is more than one grid holds: `condgen sample` writes one grid image of at most "
                          f"{MAX_GRID_CELLS} samples (a 64x64 grid). Use --n {MAX_GRID_CELLS} or less, with another "
                          "--seed for more; for many single images use the Python API (condgen.load(RUN).generate) "
                          "in batches.")
    if out is not None:
        from condgen.outputs import check_image_name

        check_image_name(out)
    model = condgen.load(run, ema=not no_ema)
    if model.task != "sample":
        raise ConfigError(f"`condgen sample` needs a noise-driven model; {model.run_config.model_name} is not one.")
    num_classes = getattr(model.cfg, "num_classes", 0)
    if label is not None and not num_classes:
        raise ConfigError("--class is only for class-conditional models (cgan).")
    if label is not None and not 0 <= label < num_classes:
        raise ConfigError(f"--class {label} is out of range: this model has classes 0..{num_classes - 1}.")
    out_dir = Path(run) / "samples"
    codes = latent.codes_for_seed(model, seed, n)

    def labels_for(k: int):
        if not num_classes:
            return None
        if label is not None:
            return torch.full((k,), label, dtype=torch.long)
        return torch.arange(k) % num_classes

    try:
        if interpolate:
            idx = [int(x) for x in interpolate.replace(" ", "").split(",") if x]
            bad = [i for i in idx if not 0 <= i < n]
            if len(idx) < 2 or bad:
                raise ConfigError(f"--interpolate needs two or more sample indices in 0..{n - 1}, got {interpolate!r}.")
            z = latent.interpolation_codes([codes[i] for i in idx], frames)
            lab = None if not num_classes else torch.full((z.shape[0],), label if label is not None else 0)
            imgs = model.generate(z=z, labels=lab).cpu()
            target = out or out_dir / f"interpolate_seed{seed}_{'-'.join(map(str, idx))}.png"
            save_grid(imgs, target, nrow=frames + 1 if len(idx) == 2 else frames)
            gif = Path(target).with_suffix(".gif")
            save_gif([make_grid_image(im[None], nrow=1) for im in imgs], gif)
            _echo(f"wrote {target} and {gif} ({z.shape[0]} frames)")
            return
        if arithmetic:
            terms = latent.parse_arithmetic(arithmetic)
            result = latent.arithmetic_code(codes, terms)
            z = latent.arithmetic_variants(result, 9, 0.25 * float(codes.std()), torch.Generator().manual_seed(seed))
            groups = [codes[i] for _, i in terms]
            rows = [model.generate(z=g, labels=labels_for(len(g))).cpu() for g in groups]
            res = model.generate(z=z, labels=labels_for(9)).cpu()
            target = out or out_dir / f"arithmetic_seed{seed}.png"
            save_grid(res, target, nrow=3)
            for k, r in enumerate(rows):
                save_grid(r, Path(target).with_name(f"{Path(target).stem}_group{k}.png"), nrow=len(r))
            _echo(f"wrote {target} (result, 3x3 with small noise) and the {len(rows)} input groups beside it")
            return
    except ValueError as e:
        raise ConfigError(str(e)) from None
    labels = labels_for(n)
    imgs = torch.cat([model.generate(z=codes[i:i + SAMPLE_BATCH],
                                     labels=None if labels is None else labels[i:i + SAMPLE_BATCH]).cpu()
                      for i in range(0, n, SAMPLE_BATCH)])
    target = out or out_dir / f"sample_seed{seed}.png"
    nrow = int(max(1, round(n ** 0.5)))
    if numbered:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        make_grid_image(imgs, nrow=nrow, labels=[str(i) for i in range(n)]).save(target)
    else:
        save_grid(imgs, target, nrow=nrow)
    _echo(f"wrote {target}")


# ----- translate ------------------------------------------------------------------------------------
@app.command()
def translate(
    run: Path = typer.Argument(..., help="a run directory of an image-to-image model (pix2pix, cyclegan, unit, munit, "
                                           "spade, oasis, sean, style; srresnet/srgan upscale)"),
    inputs: list[Path] = typer.Argument(..., help="image files, folders of images and/or video files (mp4, mov, avi, "
                                                  "mkv, webm, m4v)"),
    out: Path = typer.Option(..., "--out", "-o", help="output folder (PNG files named after the inputs; videos as "
                                                      "STEM.mp4); for one video input, an output file with a video "
                                                      "extension"),
    direction: Optional[str] = typer.Option(None, help="AtoB (default) or BtoA, for two-way models (cyclegan, "
                                                       "unit, munit)"),
    num_styles: Optional[int] = typer.Option(None, "--num-styles", min=1,
                                             help="munit: K random styles per input, written STEM_style0..K-1.png"),
    style_image: Optional[Path] = typer.Option(None, "--style-image",
                                               help="munit, spade (VAE), sean: take the style from this image"),
    eval_mode: Optional[bool] = typer.Option(None, "--eval/--paper-test-mode",
                                             help="pix2pix: --eval = no dropout, running BN statistics; default: the "
                                                  "run's setting (paper: dropout + batch statistics)"),
    tile: Optional[int] = typer.Option(None, help="tile size for large images (default: the model's tile_size)"),
    max_output_pixels: int = typer.Option(64_000_000, "--max-output-pixels", min=0,
                                          help="skip inputs whose output image would have more pixels than this "
                                               "(default 64 million = 8000x8000; 0: no limit)"),
    seed: int = typer.Option(0, min=0, max=MAX_SEED, help="seed for test-time noise (pix2pix dropout, munit random "
                                                          "styles, spade/oasis noise)"),
    resample: Optional[list[int]] = typer.Option(None, "--resample",
                                                 help="oasis: draw new noise for this class id (repeatable)"),
    region_style: Optional[list[str]] = typer.Option(None, "--region-style",
                                                     help="sean: CLASS=FILE, that class's style from FILE "
                                                          "(repeatable)"),
    device: str = typer.Option("cpu", help="cpu, cuda, mps or auto"),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="video: frames per forward pass (pix2pix in the "
                                                                  "paper's test mode runs one frame at a time)"),
    stable: bool = typer.Option(True, "--stable/--no-stable",
                                help="video: reduce flicker: the same test-time noise for every frame (RNG re-seeded "
                                     "per frame: pix2pix gets the same dropout masks; munit one style for the whole "
                                     "video); the run's test mode is kept (--eval removes dropout too: less flicker, "
                                     "see docs/video.md); EMA weights are used when the run kept them. "
                                     "--no-stable: fresh noise per frame"),
    flow_blend: float = typer.Option(0.0, "--flow-blend", min=0.0, max=0.99,
                                     help="video: blend each output frame with the previous one warped by optical "
                                          "flow of the input, this much (0 = off, e.g. 0.5); occlusions and scene "
                                          "cuts keep the fresh frame"),
    audio: str = typer.Option("copy", "--audio", help="video: copy the input's audio, or drop it"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="video: progress bar on stderr"),
    precision: str = typer.Option("auto", help="auto: the speed settings the run's training measured on this CPU "
                                              "(bf16/channels_last where faster), else fp32; fp32: exact; bf16"),
) -> None:
    """Translate images of any size with a trained (or imported) image-to-image model; semantic models (spade,
    oasis, sean) take label maps (PNG of class ids). A video input is translated frame by frame into a video with
    its frame rate, frame count, size and (with --audio copy) audio; see docs/video.md."""
    import torch

    import condgen
    from condgen.translate import translate_files

    model = condgen.load(run, device=device, precision=precision)
    name = model.run_config.model_name
    if model.task == "sample":
        raise ConfigError(f"`condgen translate` needs an image-to-image model; {name} generates from noise "
                          f"(use `condgen sample`).")
    takes = model.translate_options
    needs = model.translate_requires
    if needs:  # e.g. the anonymizer's passcode
        verb = "`condgen anonymize`" if model.task == "anonymize" else "the Python API"
        raise ConfigError(f"{name} needs {', '.join(needs)} to translate, which `condgen translate` does not take; "
                          f"use {verb}.")
    given = {"--direction": ("direction", direction), "--num-styles": ("num_styles", num_styles),
             "--style-image": ("style_image", style_image), "--eval/--paper-test-mode": ("eval_mode", eval_mode),
             "--resample": ("resample_classes", resample or None),
             "--region-style": ("region_styles", region_style or None)}
    why = {"--direction": f"{name} translates one way only (its direction was fixed at training: data.direction="
                          f"{model.run_config.data.direction}); --direction is for cyclegan, unit and munit.",
           "--num-styles": f"--num-styles needs a model with style codes (munit); {name} has none.",
           "--style-image": f"--style-image needs a model with style codes (munit, spade with use_vae, sean); {name} "
                            f"has none.",
           "--eval/--paper-test-mode": f"--eval/--paper-test-mode is a pix2pix switch; {name} always translates in "
                                       f"eval mode.",
           "--resample": f"--resample (local noise resampling) is an oasis option; {name} has no 3D noise.",
           "--region-style": f"--region-style (a style per class) is a sean option; {name} has no region styles."}
    for flag, (param, value) in given.items():
        if value is not None and param not in takes:
            raise ConfigError(why[flag])
    if num_styles is not None and style_image is not None:
        raise ConfigError("give either --num-styles (random styles) or --style-image (one example's style), not both.")
    kwargs: dict = {}
    if direction is not None:
        from condgen.models.unpaired import check_direction

        kwargs["direction"] = check_direction(direction)
    if "seed" in takes:
        kwargs["seed"] = seed
    if num_styles is not None:
        kwargs["num_styles"] = num_styles
    if eval_mode is not None:
        kwargs["eval_mode"] = eval_mode
    if resample:
        kwargs["resample_classes"] = tuple(resample)
    from condgen.data.images import open_image

    def style_channels() -> int:
        if model.two_way:  # the target domain's channels
            return model.input_channels("AtoB" if kwargs.get("direction") == "BtoA" else "BtoA")
        return 3

    if style_image is not None:
        kwargs["style_image"] = open_image(style_image, style_channels())
    if region_style:
        styles = {}
        for item in region_style:
            cls, sep, file = item.partition("=")
            if not sep or not cls.strip().isdigit():
                raise ConfigError(f"--region-style takes CLASS=FILE with a class id, e.g. 3=sky.png; got {item!r}.")
            if not Path(file).is_file():
                raise DataError(f"--region-style {item}: {file} does not exist.")
            styles[int(cls)] = Path(file)  # the model opens it, so its errors can name the file
        kwargs["region_styles"] = styles
    if tile is not None:
        model.cfg.tile_size = tile
    from condgen.outputs import check_output_file, check_output_folder, plan_outputs
    from condgen.video import AUDIO_MODES, check_video_model, is_video_file, translate_video

    videos = [p for p in inputs if is_video_file(p) and not p.is_dir()]
    images = [p for p in inputs if p not in videos]
    if videos:
        check_video_model(model)
        if audio not in AUDIO_MODES:
            raise ConfigError(f"--audio takes {' or '.join(AUDIO_MODES)}, got {audio!r}.")
        if is_video_file(out) and (len(videos) > 1 or images):
            raise ConfigError(f"--out {out} is one video file, but there are {len(inputs)} inputs; give a folder.")
        if is_video_file(out):
            targets = {videos[0]: check_output_file(out, inputs)}
        else:
            plan = plan_outputs(videos, check_output_folder(out), lambda stem: [f"{stem}.mp4"], protect=inputs)
            targets = {v: files[0] for v, files in plan.items()}
        video_kwargs = {k: v for k, v in kwargs.items() if k != "seed"}
        for video in videos:
            target = targets[video]
            stats = translate_video(model, video, target, batch_size=batch_size, stable=stable,
                                    flow_blend=flow_blend, audio=audio, progress=progress, seed=seed, **video_kwargs)
            w, h = stats["size"]
            _echo(f"wrote {target}: {stats['frames']} frames, {stats['fps']:g} fps, {w}x{h}, flicker ratio "
                  f"{stats['flicker_ratio']:.3f} (output {stats['flicker_out']:.2f} vs input "
                  f"{stats['flicker_in']:.2f} grey levels per frame), audio {stats['audio']}, "
                  f"{stats['frames_per_second']:.1f} frames/s")
        if not images:
            return
    torch.manual_seed(seed)
    written, failed = translate_files(model, images, out, max_output_pixels=max_output_pixels, **kwargs)
    _echo(f"wrote {len(written)} image(s) to {out}")
    _report_skipped(failed)


@app.command()
def upscale(
    run: Path = typer.Argument(..., help="a run directory of a super-resolution model (srresnet, srgan)"),
    inputs: list[Path] = typer.Argument(..., help="low-resolution image files and/or folders of images"),
    out: Path = typer.Option(..., "--out", "-o", help="output folder (PNG files named after the inputs)"),
    tile: Optional[int] = typer.Option(None, help="tile size in LR pixels for large images (default: the model's "
                                                  "tile_size)"),
    max_output_pixels: int = typer.Option(64_000_000, "--max-output-pixels", min=0,
                                          help="skip inputs whose output image would have more pixels than this "
                                               "(default 64 million = 8000x8000; 0: no limit)"),
    device: str = typer.Option("cpu", help="cpu, cuda, mps or auto"),
    precision: str = typer.Option("auto", help="auto: the speed settings the run's training measured on this CPU "
                                              "(bf16/channels_last where faster), else fp32; fp32: exact; bf16"),
) -> None:
    """Upscale images of any size by the model's factor (x4 by default) with a trained SR model."""
    import condgen
    from condgen.translate import translate_files

    model = condgen.load(run, device=device, precision=precision)
    if model.task != "upscale":
        raise ConfigError(f"`condgen upscale` needs a super-resolution model (srresnet, srgan); "
                          f"{model.run_config.model_name} is not one (use `condgen translate` or `condgen sample`).")
    if tile is not None:
        model.cfg.tile_size = tile
    written, failed = translate_files(model, inputs, out, max_output_pixels=max_output_pixels)
    _echo(f"wrote {len(written)} image(s) upscaled x{model.cfg.scale} to {out}")
    _report_skipped(failed)


@app.command()
def anonymize(
    source: Path = typer.Argument(..., help="a photo (or a video) with faces"),
    out: Path = typer.Option(..., "--out", "-o", help="output file (PNG keeps restoration exact; a video gets a "
                                                      "video)"),
    run: Optional[Path] = typer.Option(None, "--run", help="an anonymizer run directory or .safetensors weights "
                                                           "(`condgen train anonymizer --data faces`)"),
    passcode: Optional[str] = typer.Option(None, "--passcode", help="the passcode: as many 0/1 digits as the model "
                                                                    "has bits (16 by default), or 0x + hex digits; "
                                                                    "default: a new random one, printed"),
    restore: bool = typer.Option(False, "--restore", help="undo an anonymization (needs its passcode)"),
    boxes: Optional[Path] = typer.Option(None, "--boxes", help="--restore: the face boxes file (default: "
                                                               "SOURCE.faces.json if it exists, else detect)"),
    whole: bool = typer.Option(False, "--whole", help="the whole image is one face crop (no detection)"),
    min_face: int = typer.Option(32, "--min-face", min=8, help="smallest face side to detect, in pixels"),
    softness: float = typer.Option(0.2, min=0.0, max=1.0, help="feathered edge of the pasted face (fraction of "
                                                                "its radius)"),
    audio: str = typer.Option("copy", help="video: copy or drop the audio track"),
    device: str = typer.Option("cpu", help="cpu, cuda, mps or auto"),
) -> None:
    """Replace every detected face by a passcode-conditioned different face (reversible with the same passcode);
    for privacy — see docs/anonymize.md for what it protects and what it does not."""
    from condgen.anonymize import anonymize_file

    anonymize_file(source, out, run=run, passcode=passcode, restore=restore, boxes_file=boxes, whole=whole,
                   min_face=min_face, softness=softness, audio=audio, device=device, echo=_echo)


@app.command()
def stylize(
    paths: Optional[list[Path]] = typer.Argument(None, metavar="RUN INPUT...",
                                                 help="a style run, then image files and/or folders (not with "
                                                      "--optimize)"),
    out: Path = typer.Option(..., "--out", "-o", help="output folder (PNG files named after the inputs); with "
                                                      "--optimize the output image file"),
    tile: Optional[int] = typer.Option(None, help="tile size for large images (default: the model's tile_size)"),
    max_output_pixels: int = typer.Option(64_000_000, "--max-output-pixels", min=0,
                                          help="skip inputs whose output image would have more pixels than this "
                                               "(default 64 million = 8000x8000; 0: no limit)"),
    optimize: bool = typer.Option(False, "--optimize", help="no network: optimise the image itself with L-BFGS "
                                                            "(Gatys et al. 2016) on the same losses"),
    content: Optional[Path] = typer.Option(None, "--content", help="--optimize: the content image"),
    style: Optional[str] = typer.Option(None, "--style", help="--optimize: the style image, a file or builtin:NAME"),
    steps: int = typer.Option(500, min=1, help="--optimize: L-BFGS iterations"),
    vgg_weights: str = typer.Option("imagenet", "--vgg-weights", help="--optimize: VGG-16 weights: imagenet "
                                                                      "(torch cache), a file, or random"),
    size: int = typer.Option(512, min=0, help="--optimize: shrink the content image so its longer side is at most "
                                              "this (0: as it is)"),
    style_size: Optional[int] = typer.Option(None, "--style-size", min=0,
                                             help="--optimize: the style image's shorter side (default: the content "
                                                  "image's)"),
    content_weight: float = typer.Option(1e5, "--content-weight", min=0.0),
    style_weight: float = typer.Option(1e10, "--style-weight", min=0.0),
    tv_weight: float = typer.Option(1e-6, "--tv-weight", min=0.0),
    content_layer: str = typer.Option("relu2_2", "--content-layer", help="--optimize: VGG-16 tap of the content loss"),
    init: str = typer.Option("noise", help="--optimize: start from noise (Gatys et al.) or the content image"),
    seed: int = typer.Option(0, min=0, max=MAX_SEED, help="--optimize: seed of the noise start"),
    device: str = typer.Option("cpu", help="cpu, cuda, mps or auto"),
    precision: str = typer.Option("auto", help="auto: the speed settings the run's training measured on this CPU "
                                              "(bf16/channels_last where faster), else fp32; fp32: exact; bf16"),
) -> None:
    """Stylise images of any size with a trained (or imported) style network; or, with --optimize, run the Gatys
    et al. optimisation on one content image."""
    paths = list(paths or [])
    if optimize:
        _stylize_optimize(paths, out, content, style, steps, vgg_weights, size, style_size, content_weight,
                          style_weight, tv_weight, content_layer, init, seed, device)
        return
    if content is not None or style is not None:
        raise ConfigError("--content and --style are for --optimize; a style network has its style in its weights: "
                          "condgen stylize RUN IMAGES... --out DIR.")
    if len(paths) < 2:
        raise ConfigError("give a style run and at least one input: condgen stylize RUN IMAGES... --out DIR (or "
                          "--optimize --content C --style S --out FILE).")
    import condgen
    from condgen.translate import translate_files

    run, inputs = paths[0], paths[1:]
    model = condgen.load(run, device=device, precision=precision)
    if model.task != "stylize":
        raise ConfigError(f"`condgen stylize` needs a style run (condgen train style); {run} is a "
                          f"{model.run_config.model_name} run.")
    if tile is not None:
        model.cfg.tile_size = tile
    written, failed = translate_files(model, inputs, out, max_output_pixels=max_output_pixels)
    _echo(f"wrote {len(written)} stylised image(s) to {out}")
    _report_skipped(failed)


def _stylize_optimize(paths, out, content, style, steps, vgg_weights, size, style_size, content_weight,
                      style_weight, tv_weight, content_layer, init, seed, device) -> None:
    """`condgen stylize --optimize`: Gatys et al. 2016 on one content image, written to ``out``."""
    from PIL import Image

    from condgen.data.images import open_image, to_tensor
    from condgen.errors import WeightsNotFoundError
    from condgen.models.style import load_style_image
    from condgen.runs import select_device
    from condgen.stylize import optimize_image
    from condgen.translate import tensor_to_pil

    if paths:
        raise ConfigError("--optimize takes no run or inputs: condgen stylize --optimize --content C --style S "
                          "--out FILE.")
    if content is None or style is None:
        raise ConfigError("--optimize needs --content IMAGE and --style IMAGE (a file or builtin:NAME).")
    if not content.is_file():
        raise DataError(f"content image {content} does not exist (or is not a file).")
    img = open_image(content, 3)
    if size and max(img.size) > size:
        f = size / max(img.size)
        img = img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))), Image.Resampling.BICUBIC)
    x = to_tensor(img)[None]
    s = load_style_image(style, min(img.size) if style_size is None else style_size)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"):
        raise ConfigError(f"--out {out}: with --optimize give an image file name, e.g. {out}.png.")
    try:
        result = optimize_image(x, s, steps=steps, vgg_weights=vgg_weights, content_layer=content_layer,
                                content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
                                init=init, seed=seed, device=select_device(device))
    except WeightsNotFoundError as e:
        raise WeightsNotFoundError(f"{e} Here: --vgg-weights PATH, or --vgg-weights random.") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tensor_to_pil(result.image).save(out)
    a, b = result.initial, result.final
    _echo(f"wrote {out} ({img.width}x{img.height}, {steps} L-BFGS steps in {result.seconds:.1f} s, VGG-16 weights: "
          f"{vgg_weights})\n  style loss {a['style']:.4g} -> {b['style']:.4g}, content loss {a['content']:.4g} -> "
          f"{b['content']:.4g}, total {a['total']:.4g} -> {b['total']:.4g}")


@app.command("import-weights")
def import_weights(
    generator: Path = typer.Argument(..., help="reference generator file: latest_net_G.pth (pix2pix, or one "
                                               "CycleGAN direction) or latest_net_G_A.pth with --netG-B"),
    out: Path = typer.Option(..., "--out", "-o", help="run directory to create"),
    discriminator: Optional[Path] = typer.Option(None, "--netD", help="reference discriminator file (optional; "
                                                                      "latest_net_D_A.pth for a CycleGAN)"),
    generator_b: Optional[Path] = typer.Option(None, "--netG-B", help="latest_net_G_B.pth: import a two-way "
                                                                      "cyclegan run (G_A = the first file)"),
    discriminator_b: Optional[Path] = typer.Option(None, "--netD-B", help="latest_net_D_B.pth (cyclegan, optional)"),
    arch: Optional[str] = typer.Option(None, help="unet_256, unet_128, resnet_9blocks, resnet_6blocks (default: "
                                                  "detected from the file)"),
    fmt: str = typer.Option("auto", "--format", help="auto (from the file's keys); junyanz: pytorch-CycleGAN-and-"
                                                     "pix2pix files (pix2pix, cyclegan); fast-neural-style: a "
                                                     "pytorch/examples TransformerNet (a style run); spade, oasis, "
                                                     "sean: latest_net_G.pth / latest_G.pth; munit: gen_*.pt; unit: "
                                                     "the 2017 release's *_gen_*.pkl (docs/pretrained.md)"),
    encoder: Optional[Path] = typer.Option(None, "--encoder", help="spade: the VAE encoder latest_net_E.pth"),
    ema: Optional[Path] = typer.Option(None, "--ema", help="oasis: latest_EMA.pth, the moving-average generator "
                                                           "the authors test with"),
    sets: Optional[list[str]] = typer.Option(None, "--set", help="spade/oasis/sean: model.KEY=VALUE the keys cannot "
                                                                 "show (label_nc, z_dim, num_upsampling_layers...)"),
    no_dropout: bool = typer.Option(False, "--no-dropout", help="pix2pix: the generator was trained with the "
                                                                "reference's --no_dropout (a U-Net file cannot show "
                                                                "it; a ResNet's keys do)"),
) -> None:
    """Load checkpoints of junyanz/pytorch-CycleGAN-and-pix2pix (then `translate`), pytorch/examples
    fast_neural_style (then `stylize`), or the SPADE, OASIS, SEAN, MUNIT and 2017 UNIT releases (then `translate`)
    into a condgen run; --format auto tells them apart by their keys (docs/pretrained.md)."""
    from condgen.config import parse_overrides
    from condgen.importers.releases import FORMATS, import_release, sniff
    from condgen.importers.to_run import import_cyclegan, import_pix2pix
    from condgen.outputs import check_output_folder

    check_output_folder(out)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown --format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    if fmt == "auto":
        fmt = sniff(generator)
    if fmt not in ("junyanz", "fast-neural-style"):
        given = (("--netD", discriminator), ("--netG-B", generator_b), ("--netD-B", discriminator_b),
                 ("--arch", arch), ("--no-dropout", no_dropout or None))
        extra = [flag for flag, v in given if v is not None]
        if extra:
            raise ConfigError(f"{', '.join(extra)} belong to junyanz imports, not {fmt}.")
        overrides = parse_overrides(sets)
        if set(overrides) - {"model"}:
            raise ConfigError("--set takes model.KEY=VALUE here (the run's other settings come at training time).")
        cfg, summary = import_release(fmt, generator, out, encoder=encoder, ema=ema, model=overrides.get("model"))
        verb = "synthesize from label maps" if fmt in ("spade", "oasis", "sean") else "translate images"
        _echo(f"{summary} into {out} as a {cfg.model_name} run\nnext ({verb}): condgen translate {out} FILES... "
              "--out OUT_DIR")
        return
    if encoder is not None or ema is not None or sets:
        raise ConfigError("--encoder, --ema and --set belong to the spade / oasis / sean imports.")
    if fmt == "fast-neural-style":
        from condgen.importers.fast_neural_style import import_fast_neural_style

        given = (("--netD", discriminator), ("--netG-B", generator_b), ("--netD-B", discriminator_b), ("--arch", arch),
                 ("--no-dropout", no_dropout or None))
        extra = [flag for flag, v in given if v is not None]
        if extra:
            raise ConfigError(f"{', '.join(extra)} belong to junyanz imports; a fast_neural_style file is one network.")
        cfg = import_fast_neural_style(generator, out)
        _echo(f"imported a fast_neural_style TransformerNet ({cfg.model.n_blocks} residual blocks, ngf "
              f"{cfg.model.ngf}) into {out} as a style run\nnext: condgen stylize {out} IMAGES... --out OUT_DIR")
        return
    if generator_b is not None:
        if no_dropout:
            raise ConfigError("--no-dropout belongs to a pix2pix import; condgen's cyclegan has no dropout.")
        cfg = import_cyclegan(generator, generator_b, out, d_a_path=discriminator, d_b_path=discriminator_b,
                              arch=arch)
        hint = f"condgen translate {out} IMAGES... --out OUT_DIR [--direction BtoA]"
    else:
        if discriminator_b is not None:
            raise ConfigError("--netD-B belongs to a CycleGAN import: pass its two generators (G_A as the "
                              "argument, --netG-B G_B).")
        cfg = import_pix2pix(generator, out, d_path=discriminator, arch=arch, no_dropout=no_dropout or None)
        hint = f"condgen translate {out} IMAGES... --out OUT_DIR"
    m = cfg.model
    drop = getattr(m, "dropout", 0) > 0 and (m.netG.startswith("unet") or getattr(m, "resnet_dropout", False))
    _echo(f"imported {cfg.model_name} {m.netG} ({m.norm} norm, {m.in_channels}->{m.out_channels} channels"
          f"{', dropout 0.5' if drop else ''}) into {out}\nnext: {hint}")


# ----- export ---------------------------------------------------------------------------------------
@app.command()
def export(
    run: Path = typer.Argument(..., help="a run directory"),
    format: str = typer.Option("onnx", "--format", "-f",
                               help="onnx, pt2 (torch.export), torchscript, or safetensors (weights only)"),
    out: Path = typer.Option(..., "--out", "-o", help="file to write"),
    size: Optional[int] = typer.Option(None, help="example spatial size of image inputs (default: 256; SR: 64)"),
    direction: str = typer.Option("AtoB", help="two-way models: the direction to export"),
    no_ema: bool = typer.Option(False, "--no-ema", help="the trained weights instead of their moving average"),
) -> None:
    """Export the generator: ONNX or TorchScript (checked against PyTorch), or its weights as safetensors."""
    from condgen.export import export_run

    r = export_run(run, format, out, size=size, direction=direction, ema=not no_ema)
    line = f"wrote {r['file']} ({r['bytes'] / 1e6:.1f} MB, {r['model']}, {r['format']})"
    if "max_abs_diff" in r:
        dims = ", ".join(f"{n} {tuple(s)}" for n, s in r["inputs"].items())
        line += (f"\n  inputs: {dims}; batch{' and H, W' if any(2 in d for d in r['dynamic'].values()) else ''} "
                 f"dynamic\n  max difference to PyTorch on check inputs: {r['max_abs_diff']:.2e}"
                 + (f"\n  {r['note']}" if r["note"] else ""))
    _echo(line)


# ----- evaluate -------------------------------------------------------------------------------------
@app.command()
def evaluate(
    run: Path = typer.Argument(..., help="a run directory"),
    n: int = typer.Option(2000, "--n", "-n", help="generated images for FID/KID (and per-class accuracy)"),
    features: str = typer.Option("auto", help="feature network: auto, digits or inception"),
    inception_weights: Optional[Path] = typer.Option(None, help="local FID Inception weights file"),
    seed: int = typer.Option(0, min=0, max=MAX_SEED),
    no_ema: bool = typer.Option(False, "--no-ema"),
    checkpoint: Optional[str] = typer.Option(None, help="a checkpoint file or its name in RUN/checkpoints "
                                                        "(default: last)"),
    segmenter: Optional[Path] = typer.Option(None, help="spade/oasis/sean: segmenter weights for mIoU (default for "
                                                        "the built-in scenes: trained once and cached)"),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="held-out data to evaluate on instead of the "
                                                                 "run's data.path (e.g. an imported checkpoint's "
                                                                 "own dataset); not saved into the run"),
) -> None:
    """Held-out metrics of a run: FID/KID (with the real-data floor) and class accuracy for GANs; L1/PSNR/SSIM for
    pix2pix and SR; cycle errors and FID/KID per direction for unpaired models; content/style losses for style;
    mIoU and segmenter-space FID for label-map synthesis."""
    from condgen.evaluate import evaluate_run, format_results

    results = evaluate_run(run, n=n, features=features, weights_path=inception_weights, seed=seed, ema=not no_ema,
                           checkpoint=checkpoint, segmenter=segmenter, data=data)
    _echo(format_results(results))


# ----- serve ----------------------------------------------------------------------------------------
@app.command()
def serve(
    runs: list[Path] = typer.Argument(..., help="run directories (or exported .safetensors weights) to serve"),
    host: str = typer.Option("127.0.0.1", help="address to bind; anything but localhost exposes the demo"),
    port: int = typer.Option(7860, help="port"),
    device: str = typer.Option("cpu", help="cpu, cuda, mps or auto"),
    max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", min=0.001, help="largest upload in MB"),
    max_pixels: int = typer.Option(16_000_000, "--max-pixels", min=1, help="largest uploaded image in pixels"),
) -> None:
    """Web demo (Gradio; pip install -e ".\\[demo]" from condgen's source folder): one tab per run to sample,
    translate, upscale, stylise or synthesise from a label map in the browser."""
    from condgen.serve import serve as run_server

    run_server(runs, host=host, port=port, device=device, max_pixels=max_pixels, max_upload_mb=max_upload_mb)


# ----- download ------------------------------------------------------------------------------------
def _download(name: str | None, out: Path | None, mirror: str | None, show_list: bool, datasets: bool) -> None:
    from condgen.download import download, listing

    if show_list or not name:
        _echo(listing(datasets) + ("" if show_list else "\n\ngive a NAME from the list."))
        return
    item, where, sha = download(name, out=out, mirror=mirror, datasets=datasets)
    _echo(f"{item.name}: {where}\n  sha256 {sha}\n  licence: {item.licence}")


@app.command("download")
def download_cmd(
    name: Optional[str] = typer.Argument(None, help="what to download (see --list)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="checkpoints: the run folder to import into "
                                                                "(default runs/NAME)"),
    mirror: Optional[str] = typer.Option(None, help="fetch the same paths from this base URL instead"),
    show_list: bool = typer.Option(False, "--list", help="list what can be downloaded (name, paper, size, licence)"),
) -> None:
    """Download, only when asked: VGG/Inception weights into torch's cache, or a published checkpoint imported
    into a run folder (progress bar, resumable, SHA-256 printed and checked where the publisher gives one)."""
    _download(name, out, mirror, show_list, datasets=False)


@data_app.command("download")
def data_download(
    name: Optional[str] = typer.Argument(None, help="a dataset of junyanz's pix2pix/CycleGAN scripts (see --list)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="folder to extract into (default datasets/)"),
    mirror: Optional[str] = typer.Option(None, help="fetch the same paths from this base URL instead"),
    show_list: bool = typer.Option(False, "--list", help="list the datasets (name, size, licence)"),
) -> None:
    """Download a dataset in junyanz's layout (A|B pairs, or trainA/trainB) and extract it, only when asked."""
    _download(name, out, mirror, show_list, datasets=True)


# ----- data / models / quickstart -----------------------------------------------------------------
@data_app.command("list")
def data_list() -> None:
    """List the built-in datasets (made offline from what scikit-learn and scikit-image ship)."""
    from condgen.data.builtin import list_builtin

    for info in list_builtin():
        _echo(f"{info.name:14s} {info.kind:8s} {info.description}")


@data_app.command("make")
def data_make(name: str = typer.Argument(...), out: Path = typer.Option(..., "--out", "-o")) -> None:
    """Write built-in dataset NAME as image folders under OUT."""
    from condgen.data.builtin import make_builtin
    from condgen.outputs import check_output_folder

    path = make_builtin(name, check_output_folder(out))
    _echo(f"wrote {name} to {path}")


@app.command()
def models() -> None:
    """List the models and their presets."""
    from condgen.models import MODELS
    from condgen.runs import list_presets

    presets = list_presets()
    for name, cls in MODELS.items():
        mine = [p[len(name) + 1:] for p in presets if p.startswith(name + "_")]
        doc = (sys.modules[cls.__module__].__doc__ or "").strip().splitlines()[0]
        _echo(f"{name:8s} {doc}\n         presets: {', '.join(mine) or '-'}")


@app.command()
def quickstart(out: Path = typer.Option(Path("runs/quickstart"), "--out", "-o"),
               steps: Optional[int] = typer.Option(None, help="override the preset's step count")) -> None:
    """Train a DCGAN on the built-in digits on this machine (CPU: a few minutes) and show where the results are."""
    from condgen.train import train as run_training

    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} already exists; remove it or pass --out NEW_FOLDER.")
    cfg = resolve_config("dcgan", "digits", None, "quick", None, steps=steps)
    _echo(f"training dcgan on the built-in digits ({cfg.train.steps} steps, batch {cfg.data.batch_size}, "
          f"{cfg.model.image_size}px) into {out}")
    result = run_training(cfg, out)
    _echo(f"\ndone: {result.step} steps.\n  samples: {out / 'samples'} (latest: "
          f"{sorted((out / 'samples').glob('step_*.png'))[-1].name})\n  report:  {out / 'report.html'}\n"
          f"next: condgen sample {out} --interpolate 0,1,2   |   condgen evaluate {out}")


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """condgen's own warnings as one line, ``warning: ...`` (no source line): they are messages to the user."""
    if category.__module__.split(".")[0] == "condgen":
        return f"warning: {message}\n"
    return _default_formatwarning(message, category, filename, lineno, line)


def main() -> None:
    """Entry point: run the app, printing CondgenErrors as one paragraph without a traceback."""
    import warnings

    global _default_formatwarning
    if warnings.formatwarning is not _format_warning:
        _default_formatwarning, warnings.formatwarning = warnings.formatwarning, _format_warning
    try:
        app(standalone_mode=False)
    except CondgenError as e:
        from condgen.errors import strip_unsafe_advice

        typer.echo(f"error: {strip_unsafe_advice(str(e))}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # click usage errors (click's own classes, or the copy newer typer versions vendor)
        names = {c.__name__ for c in type(e).__mro__}
        if "ClickException" in names and hasattr(e, "show"):
            e.show()
            sys.exit(getattr(e, "exit_code", 2))
        if "Abort" in names:
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
