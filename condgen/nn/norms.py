"""Normalisation layers by name, with the reference's conv-bias rule (Isola et al. 2017 / Zhu et al. 2017 code),
plus the adaptive instance norm and layer norm of MUNIT's decoder (Huang et al. 2018)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional as F

from condgen.errors import ConfigError

NORMS = ("batch", "instance", "none")


def _check(kind: str) -> str:
    if kind not in NORMS:
        raise ConfigError(f"unknown norm {kind!r}: choose one of {', '.join(NORMS)}")
    return kind


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A 2-d norm layer: "batch" (affine, running stats), "instance" (no affine, no running stats) or "none"."""
    kind = _check(kind)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "instance":
        # affine=False matches the pix2pix/CycleGAN code and its released checkpoints (no IN weights in them)
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def uses_bias(kind: str) -> bool:
    """Whether a conv followed by this norm has a bias.

    Only instance norm: BatchNorm's shift makes a bias redundant, and the reference code also leaves it off
    for "none" (a quirk kept so parameter counts and checkpoint keys match).
    """
    return _check(kind) == "instance"


class AdaIN(nn.Module):
    """Adaptive instance norm (Huang & Belongie 2017): each channel of each sample is normalised over H x W, then
    scaled by ``gamma`` and shifted by ``beta`` (N x C each, e.g. from MUNIT's style MLP). No parameters of its own.
    Statistics are taken in float32, also under bf16 autocast."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels, self.eps = channels, eps

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """gamma * (x - mean_hw(x)) / std_hw(x) + beta, in float32."""
        y = F.instance_norm(x.float(), eps=self.eps)
        return y * gamma.float()[:, :, None, None] + beta.float()[:, :, None, None]

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps}"


LAYER_NORMS = ("munit", "group")


class LayerNorm2d(nn.Module):
    """Layer norm (Ba et al. 2016) of a feature map: each sample normalised over C x H x W together, then a
    per-channel scale and shift (as MUNIT's upsampling layers use). Statistics in float32, also under autocast.

    ``kind`` "munit" is the MUNIT release's layer norm: ``(x - mean) / (std + eps)`` with the unbiased std and eps
    outside the root, the scale initialised uniform in [0, 1]. "group" is ``GroupNorm(1)`` (biased variance, eps
    under the root, scale 1 at init), condgen's before it followed the release. Same parameters either way."""

    def __init__(self, channels: int, eps: float = 1e-5, kind: str = "munit"):
        super().__init__()
        if kind not in LAYER_NORMS:
            raise ConfigError(f"unknown layer norm {kind!r}: choose one of {', '.join(LAYER_NORMS)}.")
        self.channels, self.eps, self.kind = channels, eps, kind
        self.weight = nn.Parameter(torch.rand(channels) if kind == "munit" else torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised map, float32."""
        x = x.float()
        if self.kind == "group":
            return F.group_norm(x, 1, self.weight, self.bias, self.eps)
        flat = x.flatten(1)
        mean = flat.mean(1)[:, None, None, None]
        std = flat.std(1)[:, None, None, None]
        return (x - mean) / (std + self.eps) * self.weight[:, None, None] + self.bias[:, None, None]

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps}, kind={self.kind}"


@contextmanager
def running_stats_kept(*modules: nn.Module) -> Iterator[None]:
    """Inside the block the modules' batch norms still normalise with the batch at hand (training is unchanged)
    but leave their running statistics and counters alone. For a network run on more than one kind of input
    per step, e.g. a CycleGAN generator that translates real images but also reconstructs fakes and (identity
    loss) sees the other domain: only the pass outside this block sets the statistics used at test time."""
    norms = [m for mod in modules for m in mod.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    tracking = [m.track_running_stats for m in norms]
    for m in norms:
        m.track_running_stats = False  # _BatchNorm then uses batch statistics and updates nothing
    try:
        yield
    finally:
        for m, t in zip(norms, tracking):
            m.track_running_stats = t


@contextmanager
def batch_statistics(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in training mode for test-time use (the pix2pix paper's test mode: dropout active, batch norm
    normalising with the statistics of the batch at hand) without touching its running statistics or counters,
    so a later eval-mode call, or a saved checkpoint, sees the loaded model unchanged. Modes are restored after."""
    modes = [(m, m.training) for m in module.modules()]
    module.train(True)
    try:
        with running_stats_kept(module):
            yield module
    finally:
        for m, was in modes:
            m.training = was


# ----- spatially-adaptive normalisation (SPADE; the base of OASIS's and SEAN's) ------------------------------
PARAM_FREE_NORMS = ("syncbatch", "batch", "instance")


class SyncBatchNorm2d(nn.SyncBatchNorm):
    """Batch norm whose statistics are synchronised across processes when that can happen (training under
    ``torch.distributed`` with more than one process, on CUDA), and plain BatchNorm2d otherwise: one device, CPU
    (SyncBatchNorm has no CPU kernel) or eval. Same parameters, buffers and state-dict keys as BatchNorm2d, so a
    checkpoint moves freely between one and many GPUs (the SPADE users' missing-sync-BN problem, issue #13)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Synchronised batch norm under multi-process CUDA training, else BatchNorm2d's forward."""
        dist = torch.distributed
        if (self.training and x.device.type == "cuda" and dist.is_available() and dist.is_initialized()
                and dist.get_world_size(self.process_group) > 1):
            return super().forward(x)
        return nn.modules.batchnorm._BatchNorm.forward(self, x)


def param_free_norm(kind: str, channels: int) -> nn.Module:
    """A normalisation without a learned affine: "syncbatch" (SPADE's default; BatchNorm2d on one device),
    "batch" (running statistics for eval) or "instance" (per sample and channel)."""
    if kind == "syncbatch":
        return SyncBatchNorm2d(channels, affine=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=False)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    raise ConfigError(f"unknown parameter-free norm {kind!r}: choose one of {', '.join(PARAM_FREE_NORMS)}.")


class SpatiallyAdaptiveNorm(nn.Module):
    """SPADE (Park et al., CVPR 2019, sec. 3, eq. 1): a parameter-free norm of ``x`` followed by a per-pixel
    affine transform predicted from a conditioning map: ``norm(x) * (1 + gamma(m)) + beta(m)``.

    ``m`` is any N x ``cond_channels`` x h x w tensor, resized (nearest) to x's size: SPADE's one-hot label map,
    OASIS's label map concatenated with its 3-D noise, or SEAN's. It goes through a shared conv (``hidden`` = 128
    channels, "hard-coded" in the authors' code) + ReLU, then one conv each for gamma and beta (kernel
    ``kernel_size``, 3 in the paper). The ``1 +`` makes a zero gamma the identity scale.

    For models that compose their own modulation (SEAN blends region styles with these gamma/beta), the steps are
    public: ``normalize(x)``, ``resize(m, size)``, ``modulation(m) -> (gamma, beta)``.
    The norm runs in float32, also under autocast.
    """

    def __init__(self, channels: int, cond_channels: int, param_free: str = "syncbatch", hidden: int = 128,
                 kernel_size: int = 3):
        super().__init__()
        self.channels, self.cond_channels = channels, cond_channels
        self.norm = param_free_norm(param_free, channels)
        pad = kernel_size // 2
        self.shared = nn.Sequential(nn.Conv2d(cond_channels, hidden, kernel_size, padding=pad), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, kernel_size, padding=pad)
        self.beta = nn.Conv2d(hidden, channels, kernel_size, padding=pad)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """The parameter-free norm of ``x``, in float32."""
        return self.norm(x.float())

    @staticmethod
    def resize(cond: torch.Tensor, size) -> torch.Tensor:
        """``cond`` resized to ``size`` (H, W) with nearest neighbours (labels stay labels)."""
        if tuple(cond.shape[-2:]) == tuple(size):
            return cond
        return F.interpolate(cond, size=tuple(size), mode="nearest")

    def modulation(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gamma, beta), each N x channels x H x W, from a conditioning map already at x's size."""
        h = self.shared(cond)
        return self.gamma(h), self.beta(h)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """norm(x) * (1 + gamma) + beta, with gamma, beta predicted from ``cond`` at x's resolution."""
        if cond.shape[1] != self.cond_channels:
            raise ConfigError(f"this SPADE layer was built for a {self.cond_channels}-channel conditioning map, got "
                              f"{cond.shape[1]} channels (is label_nc / dontcare_as_class / use_instances the one "
                              "the model was trained with?).")
        gamma, beta = self.modulation(self.resize(cond, x.shape[-2:]))
        return self.normalize(x) * (1 + gamma.float()) + beta.float()

    def extra_repr(self) -> str:
        return f"{self.channels}, cond_channels={self.cond_channels}"
