"""The optimisation baseline of style transfer (Gatys, Ecker & Bethge, CVPR 2016): optimise the pixels of one image
with L-BFGS on the same content + style + TV losses the feed-forward network is trained with
(condgen.models.style.PerceptualLoss). It is the reference the network approximates, hundreds of VGG passes per
image against one network pass.

Gatys et al. start from white noise (``init="noise"``, the default here); starting from the content image
(``init="content"``) converges in fewer steps. The image is optimised unconstrained and clamped to [-1, 1] at the
end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from condgen.errors import ConfigError
from condgen.models.style import PAPER_STYLE_LAYERS, PerceptualLoss

INITS = ("noise", "content")


@dataclass
class OptimizeResult:
    """The optimised image (1 x 3 x H x W in [-1, 1]), the loss terms before and after, and the time taken."""

    image: torch.Tensor
    initial: dict[str, float]
    final: dict[str, float]
    seconds: float
    history: list[float] = field(default_factory=list)  # the weighted total at every loss evaluation


def optimize_image(content: torch.Tensor, style: torch.Tensor, steps: int = 500, vgg_weights: str = "imagenet",
                   content_layer: str = "relu2_2", style_layers=tuple(PAPER_STYLE_LAYERS),
                   content_weight: float = 1e5, style_weight: float = 1e10, tv_weight: float = 1e-6,
                   init: str = "noise", seed: int = 0, device: str | torch.device = "cpu",
                   loss: PerceptualLoss | None = None) -> OptimizeResult:
    """Gatys et al.'s image optimisation: ``steps`` L-BFGS iterations (strong-Wolfe line search) on the pixels of a
    1 x 3 x H x W image against ``content`` (1 x 3 x H x W) and ``style`` (1 x 3 x h x w), both in [-1, 1].
    ``loss`` reuses a built PerceptualLoss (its style is replaced)."""
    if init not in INITS:
        raise ConfigError(f"init must be one of {', '.join(INITS)}, got {init!r}.")
    if steps < 1:
        raise ConfigError(f"steps must be at least 1, got {steps}.")
    device = torch.device(device)
    if loss is None:
        loss = PerceptualLoss(vgg_weights, content_layer, style_layers, content_weight, style_weight, tv_weight)
    loss = loss.to(device)
    content, style = content.to(device).float(), style.to(device).float()
    loss.set_style(style)
    target = loss.content_target(content)
    if init == "content":
        start = content.clone()
    else:
        gen = torch.Generator().manual_seed(seed)
        start = (torch.rand(content.shape, generator=gen) * 2 - 1).to(device)
    x = start.requires_grad_(True)
    history: list[float] = []

    def evaluate() -> dict[str, float]:
        with torch.no_grad():
            return {k: float(v) for k, v in loss(x, target=target).items()}

    initial = evaluate()
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=steps, history_size=50, line_search_fn="strong_wolfe",
                            tolerance_grad=0.0, tolerance_change=0.0)

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        total = loss(x, target=target)["total"]
        total.backward()
        history.append(float(total.detach()))
        return total

    t0 = time.perf_counter()
    opt.step(closure)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        x.clamp_(-1, 1)
    return OptimizeResult(image=x.detach().cpu(), initial=initial, final=evaluate(), seconds=seconds,
                          history=history)


__all__ = ["INITS", "OptimizeResult", "optimize_image"]
