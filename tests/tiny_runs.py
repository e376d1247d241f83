"""Tiny runs of every registered model: one table of built-in data and --set overrides, shared by the contract suite
(tests/test_contract.py) and the tests that train a few families for export and the demo.

A new model needs an entry here: the contract suite fails for any registered model without one.
"""

from __future__ import annotations

from dataclasses import dataclass

#: what every tiny run gets: fp32 on the CPU (so no calibration and no compile), no progress bar, TensorBoard or
#: worker processes
COMMON = ["train.device=cpu", "train.precision=fp32", "train.channels_last=false",
          "train.progress=false", "train.tensorboard=false", "train.sample_every=1000", "train.checkpoint_every=1000",
          "train.val_every=0", "data.num_workers=0"]


@dataclass(frozen=True)
class Tiny:
    """A model at tiny size: its built-in data, --set overrides on top of its quick preset, its task (which
    inference verb the contract suite calls) and the example size its export is checked at (None: the default)."""

    data: str
    sets: list[str]
    task: str
    export_size: int | None = None
    #: how the run avoids pretrained weights a test cannot download (VGG); test_contract checks that it does
    weights: str = "none needed"


_DIGITS = ["model.image_size=16", "model.channels=1", "model.ngf=4", "model.ndf=4", "data.batch_size=8"]
_SEMANTIC = ["model.ngf=2", "model.ndf=2", "model.spade_hidden=8", "model.num_D=1", "model.n_layers_D=2",
             "data.load_size=32", "data.crop_size=32", "data.batch_size=2"]

TINY: dict[str, Tiny] = {
    "gan": Tiny("digits", ["model.image_size=8", "model.g_hidden=[16]", "model.d_hidden=[8]", "model.d_pieces=2",
                           "model.nz=8", "data.batch_size=8"], "sample"),
    "dcgan": Tiny("digits", _DIGITS, "sample"),
    "cgan": Tiny("digits", _DIGITS, "sample"),
    "pix2pix": Tiny("edges2photos", ["model.netG=unet_64", "model.ngf=4", "model.ndf=4", "data.load_size=64",
                                     "data.crop_size=64", "data.batch_size=2"], "translate", 64),
    "cyclegan": Tiny("photo2tone", ["model.netG=resnet_6blocks", "model.ngf=4", "model.ndf=4", "data.load_size=32",
                                    "data.crop_size=32", "data.batch_size=1"], "translate", 32),
    "unit": Tiny("photo2tone", ["model.ngf=4", "model.ndf=4", "model.n_res_private=1", "model.num_scales=1",
                                "model.n_layers_D=2", "data.load_size=32", "data.crop_size=32", "data.batch_size=1"],
                 "translate", 32),
    "munit": Tiny("grass2gravel", ["model.ngf=4", "model.ndf=4", "model.n_res=1", "model.mlp_dim=8",
                                   "model.num_scales=1", "model.n_layers_D=2", "data.load_size=32",
                                   "data.crop_size=32", "data.batch_size=1"], "translate", 32),
    "srresnet": Tiny("photos", ["model.n_blocks=1", "model.ngf=4", "data.crop_size=32", "data.batch_size=2"],
                     "upscale", 16),
    "srgan": Tiny("photos", ["model.n_blocks=1", "model.ngf=4", "model.ndf=4", "model.vgg_weights=random",
                             "data.crop_size=32", "data.batch_size=2"], "upscale", 16,
                  weights="model.vgg_weights=random (VGG19 content loss on random weights)"),
    "spade": Tiny("scenes64", _SEMANTIC, "synthesize", 32, weights="lambda_vgg=0 (the quick preset's)"),
    "oasis": Tiny("scenes64", ["model.ngf=2", "model.ndf=2", "model.spade_hidden=8", "model.z_dim=8",
                               "model.bn_reestimate_batches=1", "data.load_size=64", "data.crop_size=64",
                               "data.batch_size=2"], "synthesize", 64, weights="lambda_vgg=0 (the quick preset's)"),
    "sean": Tiny("scenes64", [*_SEMANTIC, "model.style_dim=8", "model.encoder_nf=4"], "synthesize", 32,
                 weights="lambda_vgg=0 (the quick preset's)"),
    "style": Tiny("photos", ["model.vgg_weights=random", "model.style_image=builtin:brick", "model.style_size=32",
                             "model.ngf=4", "model.n_blocks=1", "data.load_size=48", "data.crop_size=32",
                             "data.batch_size=2"], "stylize", 32,
                  weights="model.vgg_weights=random (VGG16 content and style losses on random weights)"),
    "anonymizer": Tiny("faces", ["model.image_size=16", "model.ngf=8", "model.ndf=8", "model.n_blocks=2",
                                 "data.batch_size=4"], "anonymize", 16),
}


def tiny_config(name: str, steps: int, *extra: str):
    """The RunConfig of ``name``'s tiny run: its quick preset, the table's data and overrides, ``steps`` steps."""
    from condgen.cli import resolve_config

    t = TINY[name]
    return resolve_config(name, t.data, None, "quick", [*COMMON, *t.sets, *extra, f"train.steps={steps}"])
