"""Perceptual features: a frozen VGG16/VGG19 that returns named feature maps, and the Gram matrix of a feature map.

Used by SRGAN's content loss (Ledig et al. 2017) and perceptual-loss style transfer (Johnson et al. 2016). The
network is torchvision's ``vgg16()`` / ``vgg19()`` ``.features``, built without weights and truncated after the
deepest requested tap; its weights come from a local file only (nothing is ever downloaded).

Taps are named after the VGG paper's blocks: ``conv{b}_{i}`` is the i-th convolution of block b, ``relu{b}_{i}``
its activation and ``pool{b}`` the max-pool closing block b (1-based). For example SRGAN's VGG54, "the feature
map obtained by the 4th convolution (after activation) before the 5th maxpooling layer within the VGG19
network", is ``relu5_4`` = ``vgg19().features[35]``, i.e. the output of ``vgg19().features[:36]``; its VGG22 is
``relu2_2`` = ``features[:9]``. ESRGAN's features "before activation" are ``conv5_4`` = ``features[:35]``.
"""

from __future__ import annotations

import difflib
import pickle
import warnings
import zipfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import torch
from torch import Tensor, nn

from condgen.errors import CheckpointError, ConfigError, DataError, WeightsNotFoundError
from condgen.statedict import describe_mismatch

ARCHS = ("vgg16", "vgg19")
# torchvision's layer lists (torchvision.models.vgg.cfgs "D" and "E"): channels of each conv, "M" = max-pool.
_CFGS = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}
# The ImageNet normalisation every torchvision classifier was trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RANDOM_SEED = 0  # the fixed seed of weights="random"
WEIGHT_CHOICES = ("imagenet", "random")


@cache
def layer_names(arch: str) -> tuple[str, ...]:
    """Every tap name of ``arch`` in network order; position ``k`` names the output of ``features[k]``."""
    if arch not in _CFGS:
        raise ConfigError(f"unknown VGG architecture {arch!r}; valid: {', '.join(ARCHS)}.")
    names, block, conv = [], 1, 0
    for v in _CFGS[arch]:
        if v == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 0
        else:
            conv += 1
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
    return tuple(names)


def layer_index(arch: str, name: str) -> int:
    """Index ``k`` in torchvision's ``<arch>().features`` whose output is tap ``name``: ``features[:k + 1]``
    computes it (``layer_index("vgg19", "relu5_4") == 35``). ConfigError listing the valid names otherwise."""
    names = layer_names(arch)
    if name in names:
        return names.index(name)
    close = difflib.get_close_matches(str(name), names, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    srgan = "; SRGAN's VGG54 is relu5_4, its VGG22 relu2_2" if arch == "vgg19" else ""
    raise ConfigError(f"{arch} has no layer {name!r}.{hint} Valid names: {', '.join(names)} (conv{{block}}_{{i}}, "
                      f"relu{{block}}_{{i}}, pool{{block}}{srgan}).")


def imagenet_url(arch: str) -> str:
    """Where torchvision downloads ``arch``'s ImageNet weights from (read from its weight enum; nothing is fetched)."""
    from torchvision.models import VGG16_Weights, VGG19_Weights

    if arch not in _CFGS:
        layer_names(arch)  # raises the ConfigError naming the valid architectures
    return (VGG16_Weights if arch == "vgg16" else VGG19_Weights).IMAGENET1K_V1.url


def imagenet_file_name(arch: str) -> str:
    """The file name torchvision saves ``arch``'s ImageNet weights under: vgg16-397923af.pth, vgg19-dcbb9e9d.pth."""
    return imagenet_url(arch).rsplit("/", 1)[-1]


def imagenet_weights_path(arch: str) -> Path:
    """Where ``weights="imagenet"`` looks: ``<torch.hub.get_dir()>/checkpoints/<torchvision's file name>``, the
    file ``torchvision.models.<arch>(weights="IMAGENET1K_V1")`` downloads and reuses (honours ``TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / imagenet_file_name(arch)


def _features_of(state: dict, path: Path) -> dict[str, Tensor]:
    """The ``features`` entries of a VGG state dict, keyed without the ``features.`` prefix."""
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    prefixed = any(str(k).startswith("features.") for k in state)
    out = {}
    for k, v in state.items():
        k = str(k)
        if prefixed:
            if k.startswith("features."):
                out[k[len("features."):]] = v
            elif not k.startswith("classifier."):  # the classifier head is not used
                out[k] = v  # reported as unexpected below
        else:
            out[k] = v
    if not all(isinstance(v, Tensor) for v in out.values()):
        raise CheckpointError(f"{path} is not a VGG state dict (it holds values other than tensors).")
    return out


def _read_state(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        detail = next((line for line in lines if "Unsupported" in line), lines[0] if lines else type(e).__name__)
        raise CheckpointError(f"refused to load {path} as a VGG state dict: it is not a PyTorch weights file, or "
                              "it holds objects other than tensors and plain data, which could run code when "
                              f"unpickled ({detail}).") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(f"the VGG weights file {path} is unreadable or truncated ({e}); replace it with an "
                              "intact copy.") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a VGG state dict (it holds a {type(state).__name__}).")
    return state


def _init_like_torchvision(features: nn.Sequential) -> None:
    """torchvision's VGG init of the convolutions: Kaiming normal (fan out, ReLU), zero bias."""
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)


class VGGFeatures(nn.Module):
    """A frozen VGG (``vgg16`` or ``vgg19``) returning ``{tap name: feature map}`` for the requested ``layers``.

    Input: N x 3 (or 1, repeated to 3) x H x W images with values in ``input_range`` (condgen's images: [-1, 1]).
    They are mapped to [0, 1] and normalised with the ImageNet mean/std inside, so callers pass their images as
    they are. Tap names: see the module doc and ``layer_index``.

    ``weights``:

    - ``"imagenet"``: torchvision's ImageNet file (vgg16-397923af.pth / vgg19-dcbb9e9d.pth) from the torch hub
      cache (``imagenet_weights_path``); WeightsNotFoundError, saying where to put it, when it is not there.
    - a path to a ``.pth`` state dict: torchvision's whole-model keys (``features.0.weight``, ...; the classifier
      keys are ignored) or the features' own keys (``0.weight``, ...), read with ``weights_only=True``.
    - ``"random"``: torchvision's initialisation with a fixed seed, with a UserWarning. A perceptual loss on
      random features is a baseline (for tests and ablations), not the papers' loss.

    The module always stays in eval mode and its parameters never require gradients, but gradients flow to the
    input, as a perceptual loss needs. Under autocast the convolutions run in the autocast dtype; the returned
    maps are cast to float32 so losses on them are computed in full precision.
    """

    def __init__(self, arch: str = "vgg19", layers: Sequence[str] = ("relu5_4",), weights: str | Path = "imagenet",
                 input_range: tuple[float, float] = (-1.0, 1.0)):
        super().__init__()
        if isinstance(layers, str):
            layers = (layers,)
        if not layers:
            raise ConfigError(f"VGGFeatures needs at least one layer to return; valid names: "
                              f"{', '.join(layer_names(arch))}.")
        self.arch = arch
        self.layers = tuple(dict.fromkeys(layers))  # requested order, duplicates dropped
        self._taps = {layer_index(arch, name): name for name in self.layers}
        lo, hi = (float(v) for v in input_range)
        if not hi > lo:
            raise ConfigError(f"input_range must be (low, high) with high > low, got {tuple(input_range)}.")
        self.input_range = (lo, hi)
        # x in [lo, hi] -> (x - lo) / (hi - lo) in [0, 1] -> ((.) - mean) / std, folded into one affine map.
        mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("scale", 1.0 / ((hi - lo) * std), persistent=False)
        self.register_buffer("shift", (-lo / (hi - lo) - mean) / std, persistent=False)
        self.features = self._build(weights, max(self._taps) + 1)
        self.weights = str(weights)
        self.requires_grad_(False)
        self.train(False)

    def _build(self, weights: str | Path, depth: int) -> nn.Sequential:
        from torchvision import models

        # Built on the meta device: no memory or init time for the 100M-parameter classifier we drop.
        with torch.device("meta"):
            full = getattr(models, self.arch)(weights=None).features
        features = full[:depth].to_empty(device="cpu")
        for m in features:
            if isinstance(m, nn.ReLU):
                m.inplace = False  # an in-place ReLU would overwrite a conv tap taken just before it
        key = str(weights)
        if key == "random":
            warnings.warn(f"VGGFeatures({self.arch!r}) with random weights (torchvision's init, seed {RANDOM_SEED}): "
                          "a perceptual loss on random features is a baseline, not the paper's loss. Use "
                          "weights='imagenet' (torchvision's file in the torch cache) or a weights file for that.",
                          UserWarning, stacklevel=3)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(RANDOM_SEED)
                _init_like_torchvision(features)
            return features
        if key == "imagenet":
            path = imagenet_weights_path(self.arch)
            if not path.is_file():
                raise WeightsNotFoundError(self._missing_imagenet_message(path))
        else:
            path = Path(key).expanduser()
            if not path.is_file():
                what = "is a folder, not a file" if path.is_dir() else "does not exist"
                raise WeightsNotFoundError(
                    f"VGG weights {key!r} {what}: weights must be 'imagenet' (torchvision's file from the torch "
                    f"cache), 'random' (a baseline), or the path of a {self.arch} state dict (.pth).")
        self._load(features, full, path)
        return features

    def _missing_imagenet_message(self, path: Path) -> str:
        name = path.name
        enum = "VGG16_Weights" if self.arch == "vgg16" else "VGG19_Weights"
        return (f"the ImageNet {self.arch.upper()} weights were not found (nothing is downloaded): torchvision's file "
                f"{name} is not in {path.parent}. Fix it by one of: put {name} there (it is torchvision's "
                f"{enum}.IMAGENET1K_V1, {imagenet_url(self.arch)}; a machine with internet gets it "
                f"with torchvision.models.{self.arch}(weights='IMAGENET1K_V1'), and TORCH_HOME moves the cache); "
                f"or pass the path of a copy as the weights (e.g. --set model.vgg_weights=/path/to/{name}); or use "
                "weights 'random' (model.vgg_weights=random) for a baseline that is not the paper's loss.")

    def _load(self, features: nn.Sequential, full: nn.Sequential, path: Path) -> None:
        state = _features_of(_read_state(path), path)
        expected = full.state_dict()  # meta tensors: names and shapes only
        needed = features.state_dict()
        # Missing keys count only for the layers kept; unknown keys or other shapes anywhere mean another network.
        bad = {k: v for k, v in state.items() if k not in expected or tuple(v.shape) != tuple(expected[k].shape)}
        missing = [k for k in needed if k not in state]
        if bad or missing:
            given = {k: v for k, v in state.items() if k in needed or k in bad}
            detail = describe_mismatch({**needed, **{k: expected[k] for k in bad if k in expected}}, given)
            raise CheckpointError(f"{path} does not hold {self.arch} features (keys without the 'features.' "
                                  f"prefix): {detail}. Is it the weights of another network (e.g. vgg16 for "
                                  f"vgg19)? Use torchvision's {imagenet_file_name(self.arch)}.")
        features.load_state_dict({k: state[k].float() for k in needed})

    def train(self, mode: bool = True) -> VGGFeatures:
        """Stay in eval mode whatever ``mode`` says: the feature space must not change."""
        return super().train(False)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """``{name: N x C_l x H_l x W_l float32 feature map}`` of images in ``input_range``, in ``layers`` order."""
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise DataError(f"VGGFeatures takes N x 1|3 x H x W images, got shape {tuple(x.shape)}.")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # grey -> RGB
        h = x * self.scale.to(x.dtype) + self.shift.to(x.dtype)
        out = {}
        for k, layer in enumerate(self.features):
            h = layer(h)
            if k in self._taps:
                out[self._taps[k]] = h.float()
        return {name: out[name] for name in self.layers}

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, layers={self.layers}, weights={self.weights!r}, input_range={self.input_range}"


__all__ = ["ARCHS", "VGGFeatures", "imagenet_file_name", "imagenet_url", "imagenet_weights_path",
           "layer_index", "layer_names"]
