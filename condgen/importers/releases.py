"""Which release a checkpoint file comes from (by its keys), and one entry point that imports any of them."""

from __future__ import annotations

from pathlib import Path

from condgen.errors import CheckpointError, ConfigError
from condgen.importers.keymap import is_state_dict, read_checkpoint

#: --format values of `condgen import-weights` (auto tells them apart by the keys)
FORMATS = ("auto", "junyanz", "fast-neural-style", "spade", "oasis", "sean", "munit", "unit")
#: a key only that release's generator file has -> format
_SIGNATURES = (("Zencoder.model.1.weight", "sean"), ("body.0.norm_0.mlp_shared.0.weight", "oasis"),
               ("head_0.norm_0.mlp_shared.0.weight", "spade"), ("encode_A.0.model.0.weight", "unit"),
               ("conv1.conv2d.weight", "fast-neural-style"))


def detect_format(ckpt: dict) -> str | None:
    """The release format of a loaded checkpoint, or None when its keys say nothing (junyanz files are
    recognised by their own detector)."""
    if isinstance(ckpt, dict) and is_state_dict(ckpt.get("a")):
        return "munit" if "enc_style.model.0.conv.weight" in ckpt["a"] else "unit"
    for key, fmt in _SIGNATURES:
        if key in ckpt:
            return fmt
    return None


def import_release(fmt: str, path: str | Path, out: str | Path, encoder: str | Path | None = None,
                   ema: str | Path | None = None, model: dict | None = None) -> tuple[object, str]:
    """Import a SPADE / OASIS / SEAN / MUNIT / UNIT file into the run ``out``: (config, one-line summary).
    ``model``: model-config values the keys cannot show (``--set model.KEY=VALUE``)."""
    from condgen.importers.munit_unit import import_munit, import_unit
    from condgen.importers.semantic import import_oasis, import_sean, import_spade

    given = {"spade": ("--encoder",), "oasis": ("--ema",)}
    for flag, value in (("--encoder", encoder), ("--ema", ema)):
        if value is not None and flag not in given.get(fmt, ()):
            raise ConfigError(f"{flag} belongs to {'SPADE' if flag == '--encoder' else 'OASIS'} imports, not {fmt}.")
    if model and fmt not in ("spade", "oasis", "sean"):
        raise ConfigError(f"--set model.KEY=VALUE is for the semantic formats (spade, oasis, sean); a {fmt} "
                          "file shows its whole architecture.")
    if fmt == "spade":
        cfg, what = import_spade(path, out, encoder, model)
        m = cfg.model
        return cfg, (f"imported a SPADE generator{' + VAE encoder' if m.use_vae else ''} ({what}: label_nc "
                     f"{m.label_nc}, don't-care channel {m.dontcare_as_class}, instance edges {m.use_instances}, "
                     f"{m.num_upsampling_layers} upsamplings, ngf {m.ngf})")
    if fmt == "oasis":
        cfg = import_oasis(path, out, ema, model)
        m = cfg.model
        return cfg, (f"imported an OASIS generator{' and its EMA copy' if ema else ''} ({m.label_nc} classes "
                     f"incl. id 0, {m.z_dim}-d 3-D noise, ngf {m.ngf})")
    if fmt == "sean":
        cfg = import_sean(path, out, model)
        m = cfg.model
        return cfg, f"imported a SEAN generator + style encoder ({m.label_nc} classes, {m.style_dim}-d styles)"
    if fmt == "munit":
        cfg = import_munit(path, out)
        m = cfg.model
        note = ""
        if "enc_content.model.0.norm.running_mean" in read_checkpoint(path)["a"]:
            note = ("\nnote: this file's content encoders kept instance-norm running statistics, which the "
                    "authors' test.py (eval mode) uses; condgen normalises each image with its own statistics, as "
                    "training did, so outputs differ from test.py's (docs/pretrained.md)")
        return cfg, (f"imported MUNIT generators a and b ({m.in_channels}->{m.out_channels} channels, "
                     f"{m.style_dim}-d styles, {m.n_res} residual blocks){note}")
    if fmt == "unit":
        cfg = import_unit(path, out)
        m = cfg.model
        return cfg, (f"imported a 2017 UNIT generator ({m.n_res_private} private + {m.n_res_shared} shared blocks,"
                     " zero padding)")
    raise ConfigError(f"unknown --format {fmt!r}: choose one of {', '.join(FORMATS)}.")


def sniff(path: str | Path) -> str:
    """The --format of the file at ``path`` (junyanz when its keys match no other release)."""
    try:
        return detect_format(read_checkpoint(path)) or "junyanz"
    except CheckpointError:
        return "junyanz"  # the junyanz importer reports unreadable files in its own words


__all__ = ["FORMATS", "detect_format", "import_release", "sniff"]
