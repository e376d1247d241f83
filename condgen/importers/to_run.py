"""Turn reference checkpoints (junyanz/pytorch-CycleGAN-and-pix2pix) into a condgen run directory."""

from __future__ import annotations

from pathlib import Path

from condgen.config import RunConfig, build_config
from condgen.errors import CheckpointError
from condgen.importers.junyanz import detect_arch, load_reference_weights
from condgen.train.checkpoint import FORMAT, atomic_torch_save


def import_pix2pix(g_path: str | Path, out: str | Path, d_path: str | Path | None = None,
                   arch: str | None = None, d_arch: str | None = None) -> RunConfig:
    """Write ``out`` as a pix2pix run holding the reference generator (and discriminator): translate-ready."""
    import torch

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise CheckpointError(f"{out} exists and is not empty; choose a new --out folder.")
    G = load_reference_weights(g_path, arch=arch, kind="G")
    g_guess = detect_arch(torch.load(g_path, map_location="cpu", weights_only=True))
    gk = g_guess.kwargs
    model = {"netG": arch or g_guess.arch, "norm": g_guess.norm, "ngf": gk["ngf"],
             "in_channels": gk["in_channels"], "out_channels": gk["out_channels"]}
    nets = {"G": G.state_dict()}
    if d_path is not None:
        D = load_reference_weights(d_path, arch=d_arch, kind="D")
        d_guess = detect_arch(torch.load(d_path, map_location="cpu", weights_only=True))
        model.update(netD=d_arch or d_guess.arch, ndf=d_guess.kwargs["ndf"],
                     n_layers_D=d_guess.kwargs.get("n_layers", 3))
        nets["D"] = D.state_dict()
    cfg = build_config("pix2pix", {"model": model})
    from condgen.models import get_model_class

    probe = get_model_class("pix2pix")(cfg.model)  # same architecture: check every key and shape fits
    for name, sd in nets.items():
        try:
            probe.nets[name].load_state_dict(sd)
        except RuntimeError as e:
            raise CheckpointError(f"imported {name} does not fit condgen's pix2pix {name}: {str(e)[:400]}") from None
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    cfg.save(out / "config.yaml")
    atomic_torch_save({"format": FORMAT, "step": 0, "nets": nets, "imported_from": str(g_path)},
                      out / "checkpoints" / "last.pt")
    return cfg
