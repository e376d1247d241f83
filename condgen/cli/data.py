"""Getting weights and data, and what condgen knows: ``condgen import-weights`` (published checkpoints into a run),
``download`` (weights and checkpoints), ``data download`` / ``list`` / ``make`` (datasets) and ``models``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from condgen.cli.common import echo
from condgen.errors import ConfigError


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
    given = (("--netD", discriminator), ("--netG-B", generator_b), ("--netD-B", discriminator_b), ("--arch", arch),
             ("--no-dropout", no_dropout or None))
    junyanz_flags = [flag for flag, v in given if v is not None]  # the flags only a junyanz import takes
    if fmt not in ("junyanz", "fast-neural-style"):
        if junyanz_flags:
            raise ConfigError(f"{', '.join(junyanz_flags)} belong to junyanz imports, not {fmt}.")
        overrides = parse_overrides(sets)
        if set(overrides) - {"model"}:
            raise ConfigError("--set takes model.KEY=VALUE here (the run's other settings come at training time).")
        cfg, summary = import_release(fmt, generator, out, encoder=encoder, ema=ema, model=overrides.get("model"))
        verb = "synthesize from label maps" if fmt in ("spade", "oasis", "sean") else "translate images"
        echo(f"{summary} into {out} as a {cfg.model_name} run\nnext ({verb}): condgen translate {out} FILES... "
             "--out OUT_DIR")
        return
    if encoder is not None or ema is not None or sets:
        raise ConfigError("--encoder, --ema and --set belong to the spade / oasis / sean imports.")
    if fmt == "fast-neural-style":
        from condgen.importers.fast_neural_style import import_fast_neural_style

        if junyanz_flags:
            raise ConfigError(f"{', '.join(junyanz_flags)} belong to junyanz imports; a fast_neural_style file is one "
                              "network.")
        cfg = import_fast_neural_style(generator, out)
        echo(f"imported a fast_neural_style TransformerNet ({cfg.model.n_blocks} residual blocks, ngf "
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
    echo(f"imported {cfg.model_name} {m.netG} ({m.norm} norm, {m.in_channels}->{m.out_channels} channels"
         f"{', dropout 0.5' if drop else ''}) into {out}\nnext: {hint}")


def _download(name: str | None, out: Path | None, mirror: str | None, show_list: bool, datasets: bool) -> None:
    from condgen.download import download, listing

    if show_list or not name:
        echo(listing(datasets) + ("" if show_list else "\n\ngive a NAME from the list."))
        return
    item, where, sha = download(name, out=out, mirror=mirror, datasets=datasets)
    echo(f"{item.name}: {where}\n  sha256 {sha}\n  licence: {item.licence}")


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


def data_download(
    name: Optional[str] = typer.Argument(None, help="a dataset of junyanz's pix2pix/CycleGAN scripts (see --list)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="folder to extract into (default datasets/)"),
    mirror: Optional[str] = typer.Option(None, help="fetch the same paths from this base URL instead"),
    show_list: bool = typer.Option(False, "--list", help="list the datasets (name, size, licence)"),
) -> None:
    """Download a dataset in junyanz's layout (A|B pairs, or trainA/trainB) and extract it, only when asked."""
    _download(name, out, mirror, show_list, datasets=True)


def data_list() -> None:
    """List the built-in datasets (made offline from what scikit-learn and scikit-image ship)."""
    from condgen.data.builtin import list_builtin

    for info in list_builtin():
        echo(f"{info.name:14s} {info.kind:8s} {info.description}")


def data_make(name: str = typer.Argument(...), out: Path = typer.Option(..., "--out", "-o")) -> None:
    """Write built-in dataset NAME as image folders under OUT."""
    from condgen.data.builtin import make_builtin
    from condgen.outputs import check_output_folder

    path = make_builtin(name, check_output_folder(out))
    echo(f"wrote {name} to {path}")


def models() -> None:
    """List the models and their presets."""
    from condgen.models import MODELS
    from condgen.runs import list_presets

    presets = list_presets()
    for name, cls in MODELS.items():
        mine = [p[len(name) + 1:] for p in presets if p.startswith(name + "_")]
        doc = (sys.modules[cls.__module__].__doc__ or "").strip().splitlines()[0]
        echo(f"{name:8s} {doc}\n         presets: {', '.join(mine) or '-'}")
