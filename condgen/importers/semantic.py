"""Load the official checkpoints of SPADE (NVlabs/SPADE ``latest_net_G.pth`` / ``latest_net_E.pth``), OASIS
(boschresearch/OASIS ``latest_G.pth`` / ``latest_EMA.pth``) and SEAN (ZPdesu/SEAN ``latest_net_G.pth``) into condgen
runs that synthesise as the authors' test scripts do.

The files are plain state dicts named after each release's modules; the tables below are built from those key
names and shapes (no code of the releases is used). What the keys cannot show comes from the published datasets'
settings, recognised by the number of semantic channels (SPADE: 184 = COCO-Stuff, 151 = ADE20K, 36 = Cityscapes)
and can be overridden (``overrides``, the CLI's ``--set model.KEY=VALUE``):

- SPADE: the split of the input channels into classes / don't-care / instance edges, and ``normal`` vs ``more``
  upsamplings (same parameters; ``most`` has an ``up_4`` block and is detected). The VAE generator's first layer is
  a linear map to a crop/2^n map: its aspect ratio is read from the shape (square, else 2:1).
- OASIS: the 3-D noise width (the first conv sees label + noise channels together): the release's 64 is assumed.
  The release conditions on cat(noise, labels), condgen on cat(labels, noise): those input channels are permuted.
- SEAN: the number of classes is the number of per-class style layers (``fc_mu0`` ...).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from condgen.config import RunConfig
from condgen.errors import CheckpointError
from condgen.importers.keymap import KeyMap, count, is_state_dict, read_checkpoint, require

#: SPADE's dataset settings by the generator's semantic channels: (dataset, model fields)
SPADE_DATASETS = {
    184: ("COCO-Stuff", {"label_nc": 182, "dontcare_as_class": True, "use_instances": "true"}),
    # ADE20K labels are ids 0..150 (0 = other) and the code one-hots 151 channels: as 151 plain classes
    151: ("ADE20K", {"label_nc": 151, "dontcare_as_class": False, "use_instances": "false"}),
    36: ("Cityscapes", {"label_nc": 35, "dontcare_as_class": False, "use_instances": "true",
                        "num_upsampling_layers": "more", "aspect_ratio": 2.0, "crop_size": 512}),
}
_BN_STATS = r"\.(running_mean|running_var|num_batches_tracked)$"


def _plain(sd: dict, source: str, what: str) -> dict:
    if not is_state_dict(sd):
        raise CheckpointError(f"{source} is not a plain state dict of tensors, as the {what} release saves "
                              "(latest_net_G.pth); is it the right file and --format?")
    return sd


def _spade_norm(km: KeyMap, ref: str, dst: str, stats_ref: str | None = None) -> None:
    """A SPADE layer (mlp_shared.0, mlp_gamma, mlp_beta, parameter-free norm) onto SpatiallyAdaptiveNorm."""
    km.layer(f"{ref}.mlp_shared.0", f"{dst}.shared.0", fn=km.cond_fn)
    km.layer(f"{ref}.mlp_gamma", f"{dst}.gamma")
    km.layer(f"{ref}.mlp_beta", f"{dst}.beta")
    stats = stats_ref or f"{ref}.param_free_norm"
    if km.has(f"{stats}.running_mean"):
        km.batch_stats(stats, f"{dst}.norm")


def _resblock(km: KeyMap, ref: str, dst: str, norm_names=("norm_0", "norm_1", "norm_s"), norm=_spade_norm) -> None:
    """A SPADE ResBlk (conv_0, conv_1, conv_s under spectral norm and its three norms)."""
    km.spectral(f"{ref}.conv_0", f"{dst}.conv_0")
    km.spectral(f"{ref}.conv_1", f"{dst}.conv_1")
    shortcut = km.has(f"{ref}.conv_s.weight_orig")
    if shortcut:
        km.spectral(f"{ref}.conv_s", f"{dst}.conv_s", bias=False)
    for ref_norm, dst_norm in zip(norm_names, ("norm_0", "norm_1", "norm_s")):
        if dst_norm != "norm_s" or shortcut:
            norm(km, f"{ref}.{ref_norm}", f"{dst}.{dst_norm}")


def _check_spectral(sd: dict, probe: str, source: str, what: str) -> None:
    if f"{probe}.weight" in sd and f"{probe}.weight_orig" not in sd:
        raise CheckpointError(f"{source}: {what} trained without spectral norm ({probe}.weight, no weight_orig); "
                              "condgen's generator always has it, and spectral norm cannot be switched off by "
                              "rescaling weights. Not importable.")


def _param_free(sd: dict, probe: str) -> str:
    """syncbatch when the parameter-free norms kept running statistics (batch norm), else instance."""
    return "syncbatch" if f"{probe}.running_mean" in sd else "instance"


# ----- SPADE -----------------------------------------------------------------------------------------------------
def convert_spade_generator(sd: dict, source: str = "the file",
                            overrides: dict | None = None) -> tuple[dict, dict, str]:
    """(condgen G state dict, SPADE model fields, description) of NVlabs/SPADE's SPADEGenerator state dict."""
    sd = _plain(sd, source, "SPADE")
    require(sd, ["fc.weight", "head_0.norm_0.mlp_shared.0.weight", "conv_img.weight"],
            "a SPADE generator (NVlabs/SPADE latest_net_G.pth)", source)
    _check_spectral(sd, "head_0.conv_0", source, "a SPADE generator")
    overrides = dict(overrides or {})
    hidden, semantic_nc, ks = sd["head_0.norm_0.mlp_shared.0.weight"].shape[:3]
    if ks != 3:
        raise CheckpointError(f"{source}: SPADE norms with {ks}x{ks} kernels (norm_G spade...{ks}x{ks}); condgen's "
                              "SPADE models use 3x3. Not importable.")
    fc = sd["fc.weight"]
    use_vae = fc.dim() == 2
    ngf = sd["head_0.conv_0.weight_orig"].shape[0] // 16
    model: dict[str, Any] = {"ngf": ngf, "spade_hidden": int(hidden), "use_vae": use_vae,
                             "param_free_norm": _param_free(sd, "head_0.norm_0.param_free_norm"),
                             "num_upsampling_layers": "most" if "up_4.conv_0.weight_orig" in sd else "normal"}
    dataset, fields = SPADE_DATASETS.get(int(semantic_nc), (None, {}))
    model.update(fields)
    if dataset is None:
        model.update(label_nc=int(semantic_nc), dontcare_as_class=False, use_instances="false")
    if use_vae:
        z_dim, n = fc.shape[1], fc.shape[0] // (16 * ngf)
        side = math.isqrt(n)
        if side * side == n:
            sw, aspect = side, 1.0
        elif math.isqrt(n // 2) ** 2 * 2 == n:
            sw, aspect = 2 * math.isqrt(n // 2), 2.0
        else:
            raise CheckpointError(f"{source}: the VAE generator's first map has {n} cells, neither square nor 2:1; "
                                  "pass model.crop_size and model.aspect_ratio with --set.")
        model.update(z_dim=int(z_dim), aspect_ratio=aspect)
        model["_sw"] = sw
    model.update(overrides)
    sw = model.pop("_sw", None)
    if use_vae and "crop_size" not in overrides:
        from condgen.nn.spade import UPSAMPLINGS

        model["crop_size"] = sw * 2 ** UPSAMPLINGS[model["num_upsampling_layers"]]
    want = model["label_nc"] + int(bool(model["dontcare_as_class"])) + int(model["use_instances"] == "true")
    if want != semantic_nc:
        raise CheckpointError(f"{source}: the generator reads {semantic_nc} semantic channels but label_nc "
                              f"{model['label_nc']}, dontcare_as_class {model['dontcare_as_class']} and use_instances "
                              f"{model['use_instances']} make {want}; fix them with --set model.KEY=VALUE.")
    km = KeyMap(sd, "a SPADE generator", source)
    km.layer("fc", "fc")
    _resblock(km, "head_0", "head")
    _resblock(km, "G_middle_0", "middle.0")
    _resblock(km, "G_middle_1", "middle.1")
    for i in range(5 if model["num_upsampling_layers"] == "most" else 4):
        _resblock(km, f"up_{i}", f"ups.{i}")
    km.layer("conv_img", "to_rgb")
    what = f"{dataset} settings" if dataset else f"a custom dataset with {semantic_nc} classes"
    return km.result(), model, what


def convert_spade_encoder(sd: dict, source: str = "the file") -> tuple[dict, dict]:
    """(condgen E state dict, model fields ndf / z_dim / encoder_size) of SPADE's ConvEncoder (latest_net_E.pth)."""
    sd = _plain(sd, source, "SPADE")
    require(sd, ["layer1.0.weight_orig", "fc_mu.weight", "fc_var.weight"],
            "a SPADE VAE encoder (NVlabs/SPADE latest_net_E.pth)", source)
    if "layer6.0.weight_orig" not in sd:
        raise CheckpointError(f"{source}: a SPADE encoder with five layers (trained with crop_size < 256): the "
                              "release resizes every image to 256 and its fc layers expect a 4 x 4 map, which five "
                              "layers do not make; condgen's encoder has six. Not importable.")
    km = KeyMap(sd, "a SPADE VAE encoder", source)
    for i in range(6):
        km.spectral(f"layer{i + 1}.0", f"layers.{i}.0", bias=False)
    km.layer("fc_mu", "fc_mu")
    km.layer("fc_var", "fc_logvar")
    out = km.result(ignore=_BN_STATS)  # the instance norms of old files kept running statistics
    return out, {"ndf": int(sd["layer1.0.weight_orig"].shape[0]), "z_dim": int(sd["fc_mu.weight"].shape[0]),
                 "encoder_size": 256}


def import_spade(g_path: str | Path, out: str | Path, e_path: str | Path | None = None,
                 overrides: dict | None = None) -> tuple[RunConfig, str]:
    """Write ``out`` as a spade run from the release's generator (and VAE encoder): (config, description)."""
    from condgen.importers.to_run import _fresh, _write_run

    out = _fresh(out)
    G, model, what = convert_spade_generator(read_checkpoint(g_path), str(g_path), overrides)
    nets = {"G": G}
    if model["use_vae"] and e_path is None:
        raise CheckpointError(f"{g_path} is a VAE generator (its first layer is linear in z): pass the encoder "
                              "latest_net_E.pth with --encoder too (style images need it).")
    if e_path is not None:
        if not model["use_vae"]:
            raise CheckpointError(f"--encoder {e_path}: {g_path} is not a VAE generator (it starts from the label "
                                  "map), so it takes no style code.")
        nets["E"], e_model = convert_spade_encoder(read_checkpoint(e_path), str(e_path))
        if e_model["z_dim"] != model["z_dim"]:
            raise CheckpointError(f"the encoder makes {e_model['z_dim']}-d codes, the generator takes "
                                  f"{model['z_dim']}-d ones: not one model.")
        model.update(e_model)
    source = f"{g_path}" + (f", {e_path}" if e_path else "")
    return _write_run("spade", model, nets, out, source), what


# ----- OASIS -----------------------------------------------------------------------------------------------------
def convert_oasis_generator(sd: dict, source: str = "the file",
                            overrides: dict | None = None) -> tuple[dict, dict]:
    """(condgen G state dict, OASIS model fields) of boschresearch/OASIS's OASIS_Generator state dict (G or EMA)."""
    sd = _plain(sd, source, "OASIS")
    require(sd, ["fc.weight", "body.0.norm_0.mlp_shared.0.weight", "conv_img.weight"],
            "an OASIS generator (boschresearch/OASIS latest_G.pth / latest_EMA.pth)", source)
    _check_spectral(sd, "body.0.conv_0", source, "an OASIS generator (--no_spectral_norm)")
    overrides = dict(overrides or {})
    n_blocks = count(sd, r"body\.(\d+)\.")
    if n_blocks != 6:
        raise CheckpointError(f"{source}: an OASIS generator with {n_blocks} blocks; the release (and condgen) has "
                              "6 (num_res_blocks 6). Not importable.")
    hidden, cond, ks = sd["body.0.norm_0.mlp_shared.0.weight"].shape[:3]
    if ks != 3:
        raise CheckpointError(f"{source}: OASIS norms with {ks}x{ks} kernels (--spade_ks); condgen uses 3x3.")
    z_dim = int(overrides.pop("z_dim", 64))
    if not 0 <= z_dim < cond:
        raise CheckpointError(f"{source}: model.z_dim {z_dim} does not fit the {cond} conditioning channels.")
    model = {"label_nc": int(cond) - z_dim, "dontcare_as_class": False, "z_dim": z_dim,
             "ngf": int(sd["body.0.conv_0.weight_orig"].shape[0]) // 16, "spade_hidden": int(hidden),
             "param_free_norm": _param_free(sd, "body.0.norm_0.first_norm"), **overrides}
    km = KeyMap(sd, "an OASIS generator", source)
    # the release conditions on cat(noise, labels); condgen on cat(labels, noise): move the noise inputs last
    km.cond_fn = lambda w: torch.cat([w[:, z_dim:], w[:, :z_dim]], 1)
    km.layer("fc", "fc", fn=km.cond_fn)

    def norm(km_: KeyMap, ref: str, dst: str) -> None:
        _spade_norm(km_, ref, dst, stats_ref=f"{ref}.first_norm")

    for i in range(6):
        _resblock(km, f"body.{i}", f"blocks.{i}", norm=norm)
    km.layer("conv_img", "to_rgb")
    return km.result(), model


def import_oasis(g_path: str | Path, out: str | Path, ema_path: str | Path | None = None,
                 overrides: dict | None = None) -> RunConfig:
    """Write ``out`` as an oasis run from the release's ``latest_G.pth`` and optionally ``latest_EMA.pth`` (its
    moving-average generator, which the authors' test.py uses; condgen.load and translate use it when present)."""
    from condgen.importers.to_run import _fresh, _write_run

    out = _fresh(out)
    G, model = convert_oasis_generator(read_checkpoint(g_path), str(g_path), overrides)
    ema = None
    if ema_path is not None:
        G_ema, ema_model = convert_oasis_generator(read_checkpoint(ema_path), str(ema_path), overrides)
        if ema_model != model:
            raise CheckpointError(f"{ema_path} ({ema_model}) is not the moving average of {g_path} ({model}).")
        ema = {"G": G_ema}
    source = f"{g_path}" + (f", {ema_path}" if ema_path else "")
    return _write_run("oasis", model, {"G": G}, out, source, ema=ema)


# ----- SEAN ------------------------------------------------------------------------------------------------------
def _ace(km: KeyMap, ref: str, dst: str, styles: bool, label_nc: int) -> None:
    """SEAN's ACE norm onto SEANNorm: its own parameter-free norm (the SPADE sub-layer's is unused), the SPADE
    path, the noise scale and, with region styles, the per-class fc_mu layers (stacked), conv_gamma/beta and the
    blending scalars."""
    _spade_norm(km, f"{ref}.Spade", f"{dst}.spade", stats_ref=f"{ref}.param_free_norm")
    km.take(f"{ref}.noise_var", f"{dst}.noise_scale")
    if not styles:
        for name in ("blending_gamma", "blending_beta"):  # built but unused by the release's use_rgb=False block
            km.used.add(f"{ref}.{name}")
        return
    for leaf in ("weight", "bias"):
        keys = [f"{ref}.fc_mu{j}.{leaf}" for j in range(label_nc)]
        if all(km.has(k) for k in keys):
            km.used.update(keys)
            km.out[f"{dst}.style_proj.{leaf}"] = torch.stack([km.sd[k].float() for k in keys])
        else:
            km.missing.extend(k for k in keys if not km.has(k))
    km.layer(f"{ref}.conv_gamma", f"{dst}.conv_gamma")
    km.layer(f"{ref}.conv_beta", f"{dst}.conv_beta")
    km.take(f"{ref}.blending_gamma", f"{dst}.blend_gamma", lambda t: t.reshape(()))
    km.take(f"{ref}.blending_beta", f"{dst}.blend_beta", lambda t: t.reshape(()))


def convert_sean_generator(sd: dict, source: str = "the file",
                           overrides: dict | None = None) -> tuple[dict, dict, dict]:
    """(condgen G state dict, condgen E state dict, SEAN model fields) of ZPdesu/SEAN's generator state dict, which
    holds the style encoder too (``Zencoder.*``)."""
    sd = _plain(sd, source, "SEAN")
    require(sd, ["fc.weight", "Zencoder.model.1.weight", "head_0.ace_0.Spade.mlp_shared.0.weight", "conv_img.weight"],
            "a SEAN generator (ZPdesu/SEAN latest_net_G.pth)", source)
    _check_spectral(sd, "head_0.conv_0", source, "a SEAN generator")
    label_nc = count(sd, r"head_0\.ace_0\.fc_mu(\d+)\.weight")
    semantic_nc = int(sd["fc.weight"].shape[1])
    if label_nc != semantic_nc:
        raise CheckpointError(f"{source}: {label_nc} per-class style layers (fc_mu*) but {semantic_nc} semantic "
                              "channels; the release needs one per channel (no don't-care or instance channel).")
    if "up_4.conv_0.weight_orig" in sd:
        raise CheckpointError(f"{source}: a SEAN generator built with num_upsampling_layers most; the release's "
                              "forward skips up_4 (commented out), so that model cannot run. Not importable.")
    hidden, _, ks = sd["head_0.ace_0.Spade.mlp_shared.0.weight"].shape[:3]
    if ks != 3:
        raise CheckpointError(f"{source}: SEAN norms with {ks}x{ks} kernels; condgen uses 3x3.")
    style_dim = int(sd["head_0.ace_0.fc_mu0.weight"].shape[0])
    nf = int(sd["Zencoder.model.1.weight"].shape[0])
    last_styles = "up_3.ace_0.fc_mu0.weight" in sd
    model = {"label_nc": label_nc, "dontcare_as_class": False, "use_instances": "false",
             "ngf": int(sd["fc.weight"].shape[0]) // 16, "style_dim": style_dim, "encoder_nf": nf,
             "spade_hidden": int(hidden), "noise": True, "spade_last_block": not last_styles,
             "style_pooling": "nearest", "param_free_norm": _param_free(sd, "head_0.ace_0.param_free_norm"),
             "num_upsampling_layers": "normal", **dict(overrides or {})}
    km = KeyMap(sd, "a SEAN generator", source)
    km.layer("fc", "fc")
    names = ("ace_0", "ace_1", "ace_s")
    blocks = [("head_0", "head"), ("G_middle_0", "middle.0"), ("G_middle_1", "middle.1")]
    blocks += [(f"up_{i}", f"ups.{i}") for i in range(4)]
    for ref, dst in blocks:
        styles = ref != "up_3" or last_styles
        _resblock(km, ref, dst, names, norm=lambda k, r, d, s=styles: _ace(k, r, d, s, label_nc))
    km.layer("conv_img", "to_rgb")
    G = km.result(ignore=r"\.Spade\.param_free_norm\.|^Zencoder\.")
    ke = KeyMap({k: v for k, v in sd.items() if k.startswith("Zencoder.")}, "SEAN's style encoder", source)
    # [0 pad, 1 conv, 2 IN, 3 LReLU, 4 conv s2, 5, 6, 7 conv s2, 8, 9, 10 convT s2, 11, 12, 13 pad, 14 conv, 15 tanh]
    for ref, dst in ((1, "net.0.0.1"), (4, "net.1.0"), (7, "net.2.0"), (10, "net.3.0"), (14, "net.5")):
        ke.layer(f"Zencoder.model.{ref}", dst)
    E = ke.result(ignore=_BN_STATS)
    E["mean_codes"] = torch.zeros(label_nc, style_dim)  # the release keeps mean codes in .npy files, not here
    E["code_seen"] = torch.zeros(label_nc, dtype=torch.bool)
    return G, E, model


def import_sean(g_path: str | Path, out: str | Path, overrides: dict | None = None) -> RunConfig:
    """Write ``out`` as a sean run (generator + style encoder) from the release's ``latest_net_G.pth``."""
    from condgen.importers.to_run import _fresh, _write_run

    out = _fresh(out)
    G, E, model = convert_sean_generator(read_checkpoint(g_path), str(g_path), overrides)
    return _write_run("sean", model, {"G": G, "E": E}, out, str(g_path))


__all__ = ["SPADE_DATASETS", "convert_oasis_generator", "convert_sean_generator", "convert_spade_encoder",
           "convert_spade_generator", "import_oasis", "import_sean", "import_spade"]
