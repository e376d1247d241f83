"""The model contract every model in condgen/models follows (see DESIGN.md, "The model contract")."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from condgen.errors import ModelError


def adam(params, lr: float, betas: tuple[float, float], weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam with PyTorch's fused kernel where it has one (CPU, CUDA, MPS): on these 2 CPU cores the fused step
    over pix2pix's 57 M parameters takes ~32 ms instead of ~170 ms (foreach) — see benchmarks/RESULTS.md."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)


def unwrap(net: nn.Module) -> nn.Module:
    """The plain module inside a DDP (``.module``) or ``torch.compile`` (``._orig_mod``) wrapper."""
    while True:
        if hasattr(net, "module") and isinstance(net.module, nn.Module):
            net = net.module
        elif hasattr(net, "_orig_mod"):
            net = net._orig_mod
        else:
            return net


def plain_update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One optimizer update without the trainer's policies: zero grads, backpropagate, step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


@contextlib.contextmanager
def eval_mode(net: nn.Module):
    """``net`` in eval mode for the block, its mode restored after (inference on a network that may be training)."""
    was = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was)


class GenerativeModel:
    """Base class: named networks and optimizers, one full training step, and inference.

    Subclasses set ``Config`` (a dataclass with the paper's defaults), build ``self.nets`` and
    ``self.optimizers`` in ``__init__``, and implement ``training_step`` and ``generate``. The trainer
    may wrap entries of ``self.nets`` (DDP, compile); models call ``self.nets[name](...)`` in training
    and ``self.net(name)`` (the plain module, or its EMA copy) in inference.
    """

    Config: ClassVar[type]
    #: the dataset layout the model trains on (``condgen.data.load_dataset``'s kind): "images" (unlabelled),
    #: "classes" (class subfolders), "paired", "unpaired", "sr", "semantic", "content"; ``data_options`` says how
    data_kind: ClassVar[str] = "images"
    #: names of networks the trainer may keep an exponential moving average of
    ema_nets: ClassVar[tuple[str, ...]] = ("G",)
    #: attributes holding frozen helper modules (a loss's VGG) that ``to`` moves with the networks
    frozen_modules: ClassVar[tuple[str, ...]] = ()
    #: whether the EMA copies take the live networks' normalisation statistics each step (False: the model
    #: re-estimates them for its EMA networks, as OASIS does before sampling)
    ema_copies_norm_stats: ClassVar[bool] = True
    #: what each column of the training sample grid shows (titles drawn above the columns); () = no titles
    grid_columns: ClassVar[tuple[str, ...]] = ()
    #: training defaults of the paper (dotted sections "data"/"train"), under YAML presets and --set
    train_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    #: what the model does, which picks its CLI verb, its demo and what video accepts: "sample" (images from
    #: noise), "translate" (image to image), "synthesize" (label map to image), "upscale", "stylize", "anonymize"
    task: ClassVar[str] = "sample"
    #: keyword options ``translate`` takes beyond its input (the CLI offers a flag, the demo a control, video
    #: passes them on); tests/test_contract.py checks them against the signature
    translate_options: ClassVar[frozenset[str]] = frozenset()
    #: what ``translate`` needs beyond its input and `condgen translate` cannot give (the anonymizer's passcode)
    translate_requires: ClassVar[tuple[str, ...]] = ()
    #: translates both ways (``direction`` AtoB / BtoA), each domain with its own channels
    two_way: ClassVar[bool] = False
    #: images per row of the training sample grid (None: ``sample_grid_nrow`` decides)
    grid_nrow: ClassVar[int | None] = None
    #: images per row of the validation / evaluation grid
    val_grid_nrow: ClassVar[int] = 3

    def __init__(self, cfg: Any):
        self.cfg = cfg
        #: autocast dtype of the inference verbs (None: fp32); ``condgen.load(precision=...)`` sets it
        self.inference_dtype: torch.dtype | None = None
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.ema: dict[str, nn.Module] = {}
        self.device = torch.device("cpu")
        self.channels_last = False
        self.use_ema_for_inference = True
        #: how ``optimize`` updates: the trainer installs its own (grad scaling, the NaN policy, counting skips)
        self.updater: Callable[[torch.optim.Optimizer, torch.Tensor], None] = plain_update
        #: the run this model was loaded from and its training step (set by ``condgen.load``; None otherwise)
        self.run_config: Any = None
        self.step: int | None = None

    def input_channels(self, direction: str = "AtoB") -> int:
        """Channels of the images ``translate`` reads (in ``direction``, for two-way models)."""
        return int(getattr(self.cfg, "in_channels", getattr(self.cfg, "channels", 3)))

    @classmethod
    def for_inference(cls, cfg: Any) -> GenerativeModel:
        """The model built to load weights into and run (``condgen.load``): models whose training needs extra
        frozen networks (SRGAN's VGG) skip them here."""
        return cls(cfg)

    # ----- set-up used by the trainer --------------------------------------------------------------
    @classmethod
    def data_options(cls, run_cfg: Any, split: str = "train", train: bool = True) -> dict[str, Any]:
        """How to read ``split`` of the run's data: the keyword options of ``condgen.data.load_dataset`` for this
        model's ``data_kind`` (``train``: with the training augmentation). The trainer and ``condgen evaluate``
        load the data (``condgen.runs.load_model_data``); the default is images at the model's size and channels."""
        return {"image_size": run_cfg.model.image_size, "channels": run_cfg.model.channels,
                "bad_images": run_cfg.data.bad_images}

    @classmethod
    def eval_data_options(cls, run_cfg: Any, split: str) -> dict[str, Any]:
        """The options of the held-out set ``condgen evaluate`` measures (default: ``data_options`` without
        augmentation)."""
        return cls.data_options(run_cfg, split, train=False)

    #: splits tried, in order, for the validation pass during training (none: no validation)
    val_splits: ClassVar[tuple[str, ...]] = ()

    def validate(self, batches) -> tuple[dict[str, float], torch.Tensor | None]:
        """Metrics averaged over held-out batches, and an image grid of them (models with a target only)."""
        raise NotImplementedError

    @classmethod
    def fill_from_data(cls, cfg: Any, info: dict[str, Any]) -> None:
        """Fill config fields the data decides (e.g. ``num_classes``); the default needs nothing."""

    def to(self, device: torch.device | str, channels_last: bool = False) -> GenerativeModel:
        """Move every network (and EMA copy) to ``device``, optionally in channels_last memory format."""
        self.device = torch.device(device)
        self.channels_last = channels_last
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        for group in (self.nets, self.ema):
            for name, net in group.items():
                group[name] = net.to(self.device, memory_format=fmt)
        for name in self.frozen_modules:  # e.g. a loss's VGG: moved too, never trained or checkpointed
            module = getattr(self, name, None)
            if module is not None:
                setattr(self, name, module.to(self.device, memory_format=fmt))
        return self

    def net(self, name: str) -> nn.Module:
        """The network to use for inference: its EMA copy when one exists, else the plain module."""
        if self.use_ema_for_inference and name in self.ema:
            return self.ema[name]
        return unwrap(self.nets[name])

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        """Update the networks of optimizer ``name`` from ``loss``: the one call a ``training_step`` makes per
        update. How (fp16 grad scaling, skipping a non-finite loss) is the trainer's ``updater``."""
        self.updater(self.optimizers[name], loss)

    def sample_grid_nrow(self, n: int) -> int:
        """Images per row of a training sample grid of ``n`` images: ``grid_nrow``, else a square."""
        return self.grid_nrow or int(math.ceil(math.sqrt(n)))

    @contextlib.contextmanager
    def frozen(self, *names: str):
        """No parameter gradients for these networks inside the block (e.g. D during G's step): their
        weight gradients would be thrown away, so skipping them saves a third of their backward pass.
        Skipped under DDP, whose gradient buckets expect every parameter to receive a gradient."""
        nets = [self.nets[n] for n in names if not isinstance(self.nets[n], torch.nn.parallel.DistributedDataParallel)]
        saved = [[p.requires_grad for p in n.parameters()] for n in nets]
        for n in nets:
            n.requires_grad_(False)
        try:
            yield
        finally:
            for n, flags in zip(nets, saved):
                for p, f in zip(n.parameters(), flags):
                    p.requires_grad_(f)

    def extra_state(self) -> dict[str, Any]:
        """Training state that is neither a network nor an optimizer (e.g. CycleGAN's pool of past fakes), saved
        in every checkpoint (one entry per rank) so a resumed run continues exactly. Tensors and plain data only."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what ``extra_state`` returned."""

    def train_mode(self, training: bool = True) -> None:
        """Put every network in train (or eval) mode."""
        for net in self.nets.values():
            net.train(training)

    # ----- the contract ----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One full update (every D and G step in the paper's order); returns the scalar losses (detached)."""
        raise NotImplementedError

    def generate(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Inference: images in [-1, 1], NCHW."""
        raise NotImplementedError

    def fixed_inputs(self, n: int, seed: int, batch: dict[str, Any] | None = None) -> dict[str, Any]:
        """The fixed inputs (noise, labels, ...) the trainer reuses for every sample grid."""
        raise NotImplementedError

    @torch.no_grad()
    def sample_grid(self, fixed: dict[str, Any]) -> torch.Tensor:
        """Images for the periodic sample grid, from ``fixed_inputs``."""
        return self.generate(**fixed)

    def export_spec(self, size: int | None = None, direction: str = "AtoB"):
        """What ``condgen export`` writes for this model: a ``condgen.exportspec.ExportSpec`` (the inference module,
        example inputs, names, dynamic dimensions). ``size``: the example spatial size for image inputs."""
        raise ModelError(f"exporting {type(self).__name__} to ONNX/TorchScript is not supported yet; "
                         f"`--format safetensors` exports its weights.")

    @contextlib.contextmanager
    def inference(self):
        """Eval mode and no grad for the duration, restoring train mode after."""
        was = {k: n.training for k, n in self.nets.items()}
        self.train_mode(False)
        try:
            with torch.no_grad():
                yield
        finally:
            for k, n in self.nets.items():
                n.train(was[k])
