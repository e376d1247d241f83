"""Turn reference checkpoints (junyanz/pytorch-CycleGAN-and-pix2pix) into a condgen run directory."""

from __future__ import annotations

from pathlib import Path

import torch

from condgen.config import RunConfig
from condgen.errors import CheckpointError
from condgen.importers.junyanz import detect_arch, load_reference_weights
from condgen.runs import build_config
from condgen.train.checkpoint import FORMAT, atomic_torch_save


def _generator(path: str | Path, arch: str | None, no_dropout: bool | None = None) -> tuple[dict, dict]:
    """(state dict in condgen's layout, model-config fields) of a reference generator file.

    Dropout has no parameters: a U-Net's keys are the same with and without it, so ``no_dropout`` (the reference's
    --no_dropout; None = its pix2pix default, dropout on) decides; a ResNet's block indices show it, and a
    ``no_dropout`` that contradicts them is refused."""
    G = load_reference_weights(path, arch=arch, kind="G")
    guess = detect_arch(torch.load(path, map_location="cpu", weights_only=True))
    k = guess.kwargs
    model = {"netG": arch or guess.arch, "norm": guess.norm, "ngf": k["ngf"], "in_channels": k["in_channels"],
             "out_channels": k["out_channels"]}
    if model["netG"].startswith("resnet"):
        has = k.get("dropout", 0.0) > 0
        if no_dropout is not None and no_dropout == has:
            raise CheckpointError(f"{path} is a ResNet generator {'with' if has else 'without'} dropout (its "
                                  f"blocks' key indices show it), but {'--no-dropout' if no_dropout else 'dropout'} "
                                  "was asked for; leave the option out, the file decides.")
        model.update(dropout=0.5, resnet_dropout=has)
    else:
        model["dropout"] = 0.0 if no_dropout else 0.5
    return G.state_dict(), model


def _discriminator(path: str | Path, arch: str | None) -> tuple[dict, dict]:
    """(state dict, model-config fields) of a reference N-layer/pixel discriminator file."""
    D = load_reference_weights(path, arch=arch, kind="D")
    guess = detect_arch(torch.load(path, map_location="cpu", weights_only=True))
    return D.state_dict(), {"netD": arch or guess.arch, "ndf": guess.kwargs["ndf"],
                            "n_layers_D": guess.kwargs.get("n_layers", 3)}


def _write_run(model_name: str, model: dict, nets: dict[str, dict], out: Path, source: str,
               ema: dict[str, dict] | None = None) -> RunConfig:
    """Check every imported net (and moving-average copy in ``ema``) fits the model built from ``model`` and write
    config + checkpoint."""
    from condgen.models import get_model_class

    cfg = build_config(model_name, {"model": model})
    # same architecture: check every key and shape fits (the inference model: no VGG or style image needed)
    probe = get_model_class(model_name).for_inference(cfg.model)
    for name, sd in [*nets.items(), *(ema or {}).items()]:
        try:
            probe.nets[name].load_state_dict(sd)
        except RuntimeError as e:
            raise CheckpointError(f"imported {name} does not fit condgen's {model_name} {name}: "
                                  f"{str(e)[:400]}") from None
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    cfg.save(out / "config.yaml")
    state = {"format": FORMAT, "step": 0, "nets": nets, "imported_from": source}
    if ema:
        state["ema"] = ema
    atomic_torch_save(state,
                      out / "checkpoints" / "last.pt")
    return cfg


def _fresh(out: str | Path) -> Path:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise CheckpointError(f"{out} exists and is not empty; choose a new --out folder.")
    return out


def import_pix2pix(g_path: str | Path, out: str | Path, d_path: str | Path | None = None,
                   arch: str | None = None, d_arch: str | None = None, no_dropout: bool | None = None) -> RunConfig:
    """Write ``out`` as a pix2pix run holding the reference generator (and discriminator): translate-ready.
    ``no_dropout``: the generator was trained with the reference's --no_dropout (see ``_generator``)."""
    out = _fresh(out)
    sd, model = _generator(g_path, arch, no_dropout)
    nets = {"G": sd}
    if d_path is not None:
        nets["D"], d_model = _discriminator(d_path, d_arch)
        model.update(d_model)
    return _write_run("pix2pix", model, nets, out, str(g_path))


def import_cyclegan(g_a_path: str | Path, g_b_path: str | Path, out: str | Path,
                    d_a_path: str | Path | None = None, d_b_path: str | Path | None = None,
                    arch: str | None = None) -> RunConfig:
    """Write ``out`` as a cyclegan run from the reference's ``latest_net_G_A.pth`` (A -> B) and
    ``latest_net_G_B.pth`` (B -> A), optionally with ``latest_net_D_A/D_B.pth``: translate-ready both ways."""
    out = _fresh(out)
    sd_a, model = _generator(g_a_path, arch)
    sd_b, model_b = _generator(g_b_path, arch)
    if (model_b["netG"], model_b["ngf"], model_b["norm"]) != (model["netG"], model["ngf"], model["norm"]) or (
            model_b["in_channels"], model_b["out_channels"]) != (model["out_channels"], model["in_channels"]):
        raise CheckpointError(f"{g_a_path} and {g_b_path} are not the two generators of one CycleGAN: G_A is "
                              f"{model} and G_B is {model_b} (G_B must map B back to A with the same architecture).")
    nets = {"G_A": sd_a, "G_B": sd_b}
    for name, path in (("D_A", d_a_path), ("D_B", d_b_path)):
        if path is not None:
            nets[name], d_model = _discriminator(path, None)
            if d_model["netD"] == "pixel":
                raise CheckpointError(f"{path} is a PixelGAN; condgen's cyclegan uses N-layer PatchGANs.")
            model.update(ndf=d_model["ndf"], n_layers_D=d_model["n_layers_D"])
    model.pop("netD", None)
    for key in ("dropout", "resnet_dropout"):  # condgen's cyclegan has no dropout (the reference's default too)
        model.pop(key, None)
    if model["in_channels"] != model["out_channels"]:
        model["lambda_identity"] = 0.0  # the identity loss needs equal channels (only matters if trained further)
    return _write_run("cyclegan", model, nets, out, f"{g_a_path}, {g_b_path}")
