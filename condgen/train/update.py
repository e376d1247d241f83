"""What the trainer owns around a model's training step: moving a batch to the device, and how one optimizer
update runs (fp16 grad scaling, the NaN policy). Models call ``self.optimize(name, loss)``; the trainer installs
an ``Updater`` as the model's ``updater``, so the paper's math in ``training_step`` stays free of either."""

from __future__ import annotations

from typing import Any

import torch


def to_device(batch: dict[str, Any], device: torch.device, channels_last: bool = False) -> dict[str, Any]:
    """The batch with its tensors on ``device`` (4-D images in channels_last when asked); other values as they are."""
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(device, non_blocking=True)
            if channels_last and v.dim() == 4:
                v = v.contiguous(memory_format=torch.channels_last)
        out[k] = v
    return out


def model_batch(model: Any, batch: dict[str, Any]) -> dict[str, Any]:
    """``batch`` moved to where ``model`` runs (its device and memory format)."""
    return to_device(batch, model.device, model.channels_last)


class Updater:
    """One optimizer update: zero grads, backpropagate, step. With a ``scaler`` (fp16 autocast) the loss is scaled
    and the step unscaled; with ``skip_nonfinite`` (train.nan_policy=skip) a NaN/Inf loss skips the update (no
    backward, no step: the weights stay finite) and is counted in ``skipped``."""

    def __init__(self, scaler: torch.amp.GradScaler | None = None, skip_nonfinite: bool = False):
        self.scaler, self.skip_nonfinite, self.skipped = scaler, skip_nonfinite, 0

    def __call__(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        if self.skip_nonfinite and not bool(torch.isfinite(loss.detach()).all()):
            self.skipped += 1
            return
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            loss.backward()
            optimizer.step()
