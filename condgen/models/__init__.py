"""The model registry: a plain dict from name to class. A new model is one file plus one line here, and one entry
in tests/tiny_runs.py, without which the contract suite (tests/test_contract.py) fails for it."""

from __future__ import annotations

import difflib

from condgen.errors import ModelError
from condgen.models.anonymizer import Anonymizer
from condgen.models.base import GenerativeModel
from condgen.models.cgan import CGAN
from condgen.models.cyclegan import CycleGAN
from condgen.models.dcgan import DCGAN
from condgen.models.gan import GAN
from condgen.models.munit import MUNIT
from condgen.models.oasis import OASIS
from condgen.models.pix2pix import Pix2Pix
from condgen.models.sean import SEAN
from condgen.models.spade import SPADE
from condgen.models.srgan import SRGAN
from condgen.models.srresnet import SRResNet
from condgen.models.style import StyleTransfer
from condgen.models.unit import UNIT

MODELS: dict[str, type[GenerativeModel]] = {
    "gan": GAN,
    "dcgan": DCGAN,
    "cgan": CGAN,
    "pix2pix": Pix2Pix,
    "cyclegan": CycleGAN,
    "srresnet": SRResNet,
    "srgan": SRGAN,
    "unit": UNIT,
    "munit": MUNIT,
    "spade": SPADE,
    "oasis": OASIS,
    "sean": SEAN,
    "style": StyleTransfer,
    "anonymizer": Anonymizer,
}


def get_model_class(name: str) -> type[GenerativeModel]:
    """The model class registered under ``name``, or a ModelError listing the valid names."""
    try:
        return MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, MODELS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ModelError(f"unknown model '{name}'.{hint} Available models: {', '.join(MODELS)}.") from None


def build_model(name: str, cfg) -> GenerativeModel:
    """Instantiate model ``name`` from its config."""
    return get_model_class(name)(cfg)
