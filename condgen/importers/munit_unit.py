"""Load the official MUNIT checkpoints (NVlabs/MUNIT ``gen_XXXXXXXX.pt`` = ``{"a": AdaINGen state dict, "b": ...}``)
and UNIT's 2017 release (mingyuliutw/UNIT version_02, ``*_gen_XXXXXXXX.pkl`` = the COCOResGen state dict) into
condgen runs. The tables follow those files' key names and shapes (no code of the releases is used).

MUNIT (AdaINGen per domain): ``enc_style.model`` = [c7 block, 4 stride-2 blocks, global pooling, 1x1 conv];
``enc_content.model`` = [c7 block, n_downsample stride-2 blocks, ResBlocks]; ``dec.model`` = [AdaIN ResBlocks,
(Upsample, c5 block + LayerNorm gamma/beta) x n, c7 block]; ``mlp.model`` = 3 LinearBlocks. Each block holds
``conv`` (after its padding) and maybe ``norm``. condgen's decoder is set to the release's layer norm and its
[beta, gamma] AdaIN layout (``layer_norm=munit``, ``adain_order=beta_gamma``).

UNIT 2017 (COCOResGen): ``encode_X`` = [LeakyReLU c7, ReLU-IN stride-2 convs, INSResBlocks], ``enc_shared`` /
``dec_shared`` = INSResBlocks (+ the noise layer), ``decode_X`` = [INSResBlocks, ReLU-IN transposed convs, 1x1
transposed conv, tanh]; every conv zero-padded (``padding=zero``), the output layer 1x1 (``head_kernel=1``).
"""

from __future__ import annotations

from pathlib import Path

from condgen.config import RunConfig
from condgen.errors import CheckpointError
from condgen.importers.keymap import KeyMap, count, is_state_dict, read_checkpoint, require

_STATS = r"\.(running_mean|running_var|num_batches_tracked)$"


# ----- MUNIT -----------------------------------------------------------------------------------------------------
def _munit_domain(sd: dict, source: str) -> tuple[dict, dict]:
    """(condgen MUNITGenerator state dict, fields) of one AdaINGen state dict."""
    require(sd, ["enc_style.model.0.conv.weight", "enc_content.model.0.conv.weight", "mlp.model.0.fc.weight"],
            "a MUNIT generator (AdaINGen)", source)
    n_down = count(sd, r"enc_content\.model\.(\d+)\.conv\.weight") - 1
    style_down = count(sd, r"enc_style\.model\.(\d+)\.conv\.weight") - 1
    n_res = count(sd, rf"enc_content\.model\.{n_down + 1}\.model\.(\d+)\.")
    n_mlp = count(sd, r"mlp\.model\.(\d+)\.fc\.weight")
    if style_down != 4 or n_mlp != 3:
        raise CheckpointError(f"{source}: a style encoder with {style_down} downsamplings and an MLP of {n_mlp} "
                              "layers; the release (and condgen) has 4 and 3. Not importable.")
    stem = sd["enc_content.model.0.conv.weight"]
    fields = {"ngf": int(stem.shape[0]), "channels": int(stem.shape[1]), "n_downsample": n_down, "n_res": n_res,
              "style_dim": int(sd[f"enc_style.model.{style_down + 2}.weight"].shape[0]),
              "mlp_dim": int(sd["mlp.model.0.fc.weight"].shape[0])}
    km = KeyMap(sd, "a MUNIT generator (AdaINGen)", source)
    km.layer("enc_style.model.0.conv", "style.stem.conv")
    for i in range(style_down):
        km.layer(f"enc_style.model.{i + 1}.conv", f"style.down.{i}.conv")
    km.layer(f"enc_style.model.{style_down + 2}", "style.head")
    km.layer("enc_content.model.0.conv", "content.stem.conv")
    for i in range(n_down):
        km.layer(f"enc_content.model.{i + 1}.conv", f"content.down.{i}.conv")
    for k in range(n_res):
        p = f"enc_content.model.{n_down + 1}.model.{k}.model"
        km.layer(f"{p}.0.conv", f"content.blocks.{k}.body.conv1")
        km.layer(f"{p}.1.conv", f"content.blocks.{k}.body.conv2")
        p = f"dec.model.0.model.{k}.model"
        km.layer(f"{p}.0.conv", f"decoder.blocks.{k}.conv1")
        km.layer(f"{p}.1.conv", f"decoder.blocks.{k}.conv2")
    for i in range(n_down):
        ref, dst = f"dec.model.{2 + 2 * i}", f"decoder.up.{2 * i + 1}"
        km.layer(f"{ref}.conv", f"{dst}.conv")
        km.take(f"{ref}.norm.gamma", f"{dst}.norm.weight")
        km.take(f"{ref}.norm.beta", f"{dst}.norm.bias")
    km.layer(f"dec.model.{1 + 2 * n_down}.conv", "decoder.head.conv")
    for j in range(n_mlp):
        km.layer(f"mlp.model.{j}.fc", f"mlp.main.{2 * j}")
    # AdaIN layers register running statistics they never use; the content encoder's instance norms may hold some
    # (see docs/pretrained.md): dropped
    return km.result(ignore=_STATS), fields


def convert_munit(ckpt: dict, source: str = "the file") -> tuple[dict, dict]:
    """(condgen G state dict of MUNITGenerators, MUNIT model fields) of a release ``gen_*.pt`` dict."""
    if not (isinstance(ckpt, dict) and is_state_dict(ckpt.get("a")) and is_state_dict(ckpt.get("b"))):
        keys = ", ".join(map(str, list(ckpt)[:5])) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{source} is not a MUNIT gen_*.pt checkpoint: it should be a dict with the two "
                              f"generators' state dicts under 'a' and 'b' (found: {keys}). A dis_*.pt or "
                              "optimizer.pt file holds no generator.")
    sd_a, f_a = _munit_domain(ckpt["a"], f"{source} ['a']")
    sd_b, f_b = _munit_domain(ckpt["b"], f"{source} ['b']")
    shared = ("ngf", "n_downsample", "n_res", "style_dim", "mlp_dim")
    if any(f_a[k] != f_b[k] for k in shared):
        raise CheckpointError(f"{source}: generators a ({f_a}) and b ({f_b}) differ in architecture.")
    G = {f"domains.A.{k}": v for k, v in sd_a.items()} | {f"domains.B.{k}": v for k, v in sd_b.items()}
    model = {k: f_a[k] for k in shared} | {"in_channels": f_a["channels"], "out_channels": f_b["channels"],
                                           "layer_norm": "munit", "adain_order": "beta_gamma"}
    return G, model


def import_munit(path: str | Path, out: str | Path) -> RunConfig:
    """Write ``out`` as a munit run (both domains' generators) from the release's ``gen_*.pt``."""
    from condgen.importers.to_run import _fresh, _write_run

    out = _fresh(out)
    G, model = convert_munit(read_checkpoint(path), str(path))
    return _write_run("munit", model, {"G": G}, out, str(path))


# ----- UNIT (2017 release) ---------------------------------------------------------------------------------------
def _res(km: KeyMap, ref: str, dst: str) -> None:
    """INSResBlock [conv, IN, ReLU, conv, IN, (dropout)] onto condgen's ResnetBlock."""
    km.layer(f"{ref}.model.0", f"{dst}.body.conv1")
    km.layer(f"{ref}.model.3", f"{dst}.body.conv2")


def convert_unit(sd: dict, source: str = "the file") -> tuple[dict, dict]:
    """(condgen UNITGenerator state dict, UNIT model fields) of the 2017 release's COCOResGen state dict."""
    if isinstance(sd, dict) and is_state_dict(sd.get("a")) and "enc.model.0.conv.weight" in sd["a"]:
        raise CheckpointError(f"{source} is a 2018 UNIT checkpoint (VAEGen per domain, no shared layers, "
                              "upsampling + layer-norm decoder); condgen's UNIT is the 2017 paper's network with "
                              "shared layers, so it cannot hold it. Not importable.")
    if not is_state_dict(sd):
        raise CheckpointError(f"{source} is not a plain state dict as the 2017 UNIT release saves (*_gen_*.pkl).")
    require(sd, ["encode_A.0.model.0.weight", "encode_B.0.model.0.weight", "enc_shared.0.model.0.weight",
                 "dec_shared.0.model.0.weight"], "a 2017 UNIT generator (COCOResGen)", source)
    n_front = count(sd, r"encode_A\.(\d+)\.model\.0\.weight$") - count(sd, r"encode_A\.(\d+)\.model\.3\.weight")
    n_res = count(sd, r"encode_A\.(\d+)\.model\.3\.weight")
    n_gen_res = count(sd, r"decode_A\.(\d+)\.model\.3\.weight")
    n_shared, n_dec_shared = count(sd, r"enc_shared\.(\d+)\.model"), count(sd, r"dec_shared\.(\d+)\.model")
    if n_front != 3:
        raise CheckpointError(f"{source}: {n_front - 1} downsampling layers (n_enc_front_blk {n_front}); condgen's "
                              "UNIT has 2 (the paper's). Not importable.")
    if (n_res, n_shared) != (n_gen_res, n_dec_shared):
        raise CheckpointError(f"{source}: encoders with {n_res} + {n_shared} shared residual blocks but generators "
                              f"with {n_dec_shared} shared + {n_gen_res}; condgen's UNIT mirrors them.")
    stem = sd["encode_A.0.model.0.weight"]
    model = {"in_channels": int(stem.shape[1]), "out_channels": int(sd["encode_B.0.model.0.weight"].shape[1]),
             "ngf": int(stem.shape[0]), "n_res_private": n_res, "n_res_shared": n_shared, "head_kernel": 1,
             "padding": "zero"}
    km = KeyMap(sd, "a 2017 UNIT generator (COCOResGen)", source)
    for d in ("A", "B"):
        km.layer(f"encode_{d}.0.model.0", f"enc.{d}.stem.1")
        for i in range(2):
            km.layer(f"encode_{d}.{1 + i}.model.0", f"enc.{d}.down.{i}.0")
        for k in range(n_res):
            _res(km, f"encode_{d}.{3 + k}", f"enc.{d}.blocks.{k}")
            _res(km, f"decode_{d}.{k}", f"gen.{d}.blocks.{k}")
        for i in range(2):
            km.layer(f"decode_{d}.{n_res + i}.model.0", f"gen.{d}.up.{i}.0")
        # a 1x1 stride-1 transposed conv is a 1x1 conv with in/out swapped in the weight
        km.layer(f"decode_{d}.{n_res + 2}", f"gen.{d}.head.1", fn=lambda w: w.transpose(0, 1))
    for k in range(n_shared):
        _res(km, f"enc_shared.{k}", f"enc_shared.{k}")
        _res(km, f"dec_shared.{k}", f"gen_shared.{k}")
    return km.result(ignore=_STATS), model


def import_unit(path: str | Path, out: str | Path) -> RunConfig:
    """Write ``out`` as a unit run from the 2017 release's generator file."""
    from condgen.importers.to_run import _fresh, _write_run

    out = _fresh(out)
    G, model = convert_unit(read_checkpoint(path), str(path))
    return _write_run("unit", model, {"G": G}, out, str(path))


__all__ = ["convert_munit", "convert_unit", "import_munit", "import_unit"]
