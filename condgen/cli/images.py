"""The image verbs: ``condgen sample`` (grids, latent walks, vector arithmetic), ``translate`` (images and videos),
``upscale``, ``anonymize`` and ``stylize`` (a style network, or the Gatys et al. optimisation). translate, upscale
and stylize load their model with ``load_image_model`` and end with ``write_images``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from condgen.cli.common import (
    device_option,
    echo,
    max_output_pixels_option,
    precision_option,
    report_skipped,
    tile_option,
)
from condgen.config import MAX_SEED
from condgen.errors import ConfigError, DataError

# ----- sample ---------------------------------------------------------------------------------------
#: the most cells `condgen sample` puts in one grid (a 64 x 64 grid); samples are generated in batches of
#: SAMPLE_BATCH, so memory grows with the grid image, not with the network's activations for every sample
MAX_GRID_CELLS = 4096
SAMPLE_BATCH = 256


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
            echo(f"wrote {target} and {gif} ({z.shape[0]} frames)")
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
            echo(f"wrote {target} (result, 3x3 with small noise) and the {len(rows)} input groups beside it")
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
    echo(f"wrote {target}")


# ----- translate, upscale, stylize -------------------------------------------------------------------
def load_image_model(run: Path, device: str, precision: str, tile: int | None):
    """The model of an image verb, loaded for inference (``condgen.load``), with --tile as its tile size when
    given."""
    import condgen

    model = condgen.load(run, device=device, precision=precision)
    if tile is not None:
        model.cfg.tile_size = tile
    return model


def write_images(model, inputs: list[Path], out: Path, max_output_pixels: int, wrote: str, **kwargs) -> None:
    """The ending the image verbs share: every input image through the model into the folder ``out``
    (``translate_files``; ``kwargs`` go to the model's verb), one line "wrote N WROTE to OUT", then a DataError
    listing the inputs that were skipped, if any."""
    from condgen.translate import translate_files

    written, failed = translate_files(model, inputs, out, max_output_pixels=max_output_pixels, **kwargs)
    echo(f"wrote {len(written)} {wrote} to {out}")
    report_skipped(failed)


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
    tile: Optional[int] = tile_option(),
    max_output_pixels: int = max_output_pixels_option(),
    seed: int = typer.Option(0, min=0, max=MAX_SEED, help="seed for test-time noise (pix2pix dropout, munit random "
                                                          "styles, spade/oasis noise)"),
    resample: Optional[list[int]] = typer.Option(None, "--resample",
                                                 help="oasis: draw new noise for this class id (repeatable)"),
    region_style: Optional[list[str]] = typer.Option(None, "--region-style",
                                                     help="sean: CLASS=IMAGE[,LABELS], that class's style from "
                                                          "IMAGE (its region from LABELS, else from the map "
                                                          "translated; repeatable)"),
    device: str = device_option(),
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
    precision: str = precision_option(),
) -> None:
    """Translate images of any size with a trained (or imported) image-to-image model; semantic models (spade,
    oasis, sean) take label maps (PNG of class ids). A video input is translated frame by frame into a video with
    its frame rate, frame count, size and (with --audio copy) audio; see docs/video.md."""
    import torch

    from condgen.video import is_video_file

    model = load_image_model(run, device, precision, tile)
    name = model.run_config.model_name
    if model.task == "sample":
        raise ConfigError(f"`condgen translate` needs an image-to-image model; {name} generates from noise "
                          f"(use `condgen sample`).")
    needs = model.translate_requires
    if needs:  # e.g. the anonymizer's passcode
        verb = "`condgen anonymize`" if model.task == "anonymize" else "the Python API"
        raise ConfigError(f"{name} needs {', '.join(needs)} to translate, which `condgen translate` does not take; "
                          f"use {verb}.")
    kwargs = _translate_kwargs(model, direction, num_styles, style_image, eval_mode, seed, resample, region_style)
    videos = [p for p in inputs if is_video_file(p) and not p.is_dir()]
    images = [p for p in inputs if p not in videos]
    if videos:
        _translate_videos(model, inputs, videos, out, {k: v for k, v in kwargs.items() if k != "seed"},
                          batch_size, stable, flow_blend, audio, progress, seed)
        if not images:
            return
    torch.manual_seed(seed)
    write_images(model, images, out, max_output_pixels, "image(s)", **kwargs)


def _translate_kwargs(model, direction, num_styles, style_image, eval_mode, seed, resample, region_style) -> dict:
    """The keyword arguments of ``model.translate`` from translate's flags; a ConfigError for a flag the model does
    not take (``model.translate_options``), naming why."""
    name = model.run_config.model_name
    takes = model.translate_options
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
        # the model opens the files, so its errors can name them
        kwargs["region_styles"] = dict(parse_region_style(item) for item in region_style)
    return kwargs


def parse_region_style(spec: str) -> tuple[int, Path | tuple[Path, Path]]:
    """A CLI ``--region-style`` value: ``CLASS=IMAGE`` (the image's class region is read from the target label map,
    for aligned photos) or ``CLASS=IMAGE,LABELS`` (the image's own label map) -> (class id, path or (path, path))."""
    cls, sep, rest = spec.partition("=")
    if not sep or not cls.strip().isdigit() or not rest.strip():
        raise ConfigError(f"--region-style takes CLASS=IMAGE or CLASS=IMAGE,LABELS (a class id and files), got "
                          f"{spec!r}.")
    image, comma, labels = rest.rpartition(",") if "," in rest else (rest, "", "")
    paths = [Path(p.strip()).expanduser() for p in ([image, labels] if comma else [rest])]
    for p in paths:
        if not p.is_file():
            raise DataError(f"--region-style {spec}: {p} does not exist.")
    return int(cls), (paths[0], paths[1]) if comma else paths[0]


def _translate_videos(model, inputs: list[Path], videos: list[Path], out: Path, kwargs: dict, batch_size: int,
                      stable: bool, flow_blend: float, audio: str, progress: bool, seed: int) -> None:
    """The videos among translate's inputs, each frame by frame into OUT/STEM.mp4 (or into ``out`` itself when it
    is a video file and the only input); ``kwargs`` go to ``model.translate``."""
    from condgen.outputs import check_output_file, check_output_folder, plan_outputs
    from condgen.video import AUDIO_MODES, check_video_model, is_video_file, translate_video

    images = [p for p in inputs if p not in videos]
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
    for video in videos:
        target = targets[video]
        stats = translate_video(model, video, target, batch_size=batch_size, stable=stable,
                                flow_blend=flow_blend, audio=audio, progress=progress, seed=seed, **kwargs)
        w, h = stats["size"]
        echo(f"wrote {target}: {stats['frames']} frames, {stats['fps']:g} fps, {w}x{h}, flicker ratio "
             f"{stats['flicker_ratio']:.3f} (output {stats['flicker_out']:.2f} vs input "
             f"{stats['flicker_in']:.2f} grey levels per frame), audio {stats['audio']}, "
             f"{stats['frames_per_second']:.1f} frames/s")


def upscale(
    run: Path = typer.Argument(..., help="a run directory of a super-resolution model (srresnet, srgan)"),
    inputs: list[Path] = typer.Argument(..., help="low-resolution image files and/or folders of images"),
    out: Path = typer.Option(..., "--out", "-o", help="output folder (PNG files named after the inputs)"),
    tile: Optional[int] = tile_option("tile size in LR pixels for large images (default: the model's tile_size)"),
    max_output_pixels: int = max_output_pixels_option(),
    device: str = device_option(),
    precision: str = precision_option(),
) -> None:
    """Upscale images of any size by the model's factor (x4 by default) with a trained SR model."""
    model = load_image_model(run, device, precision, tile)
    if model.task != "upscale":
        raise ConfigError(f"`condgen upscale` needs a super-resolution model (srresnet, srgan); "
                          f"{model.run_config.model_name} is not one (use `condgen translate` or `condgen sample`).")
    write_images(model, inputs, out, max_output_pixels, f"image(s) upscaled x{model.cfg.scale}")


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
    device: str = device_option(),
) -> None:
    """Replace every detected face by a passcode-conditioned different face (reversible with the same passcode);
    for privacy — see docs/anonymize.md for what it protects and what it does not."""
    from condgen.anonymize import anonymize_file

    anonymize_file(source, out, run=run, passcode=passcode, restore=restore, boxes_file=boxes, whole=whole,
                   min_face=min_face, softness=softness, audio=audio, device=device, echo=echo)


def stylize(
    paths: Optional[list[Path]] = typer.Argument(None, metavar="RUN INPUT...",
                                                 help="a style run, then image files and/or folders (not with "
                                                      "--optimize)"),
    out: Path = typer.Option(..., "--out", "-o", help="output folder (PNG files named after the inputs); with "
                                                      "--optimize the output image file"),
    tile: Optional[int] = tile_option(),
    max_output_pixels: int = max_output_pixels_option(),
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
    device: str = device_option(),
    precision: str = precision_option(),
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
    run, inputs = paths[0], paths[1:]
    model = load_image_model(run, device, precision, tile)
    if model.task != "stylize":
        raise ConfigError(f"`condgen stylize` needs a style run (condgen train style); {run} is a "
                          f"{model.run_config.model_name} run.")
    write_images(model, inputs, out, max_output_pixels, "stylised image(s)")


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
    echo(f"wrote {out} ({img.width}x{img.height}, {steps} L-BFGS steps in {result.seconds:.1f} s, VGG-16 weights: "
         f"{vgg_weights})\n  style loss {a['style']:.4g} -> {b['style']:.4g}, content loss {a['content']:.4g} -> "
         f"{b['content']:.4g}, total {a['total']:.4g} -> {b['total']:.4g}")
