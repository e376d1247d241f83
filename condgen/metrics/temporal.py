"""Temporal stability of a video: flicker = the mean absolute difference between consecutive frames.

Units: 8-bit grey levels (0..255). Integer frames (uint8 arrays or tensors) are taken as they are; floating-point
frames are taken in condgen's [-1, 1] convention and scaled by 127.5, so a uint8 video and the float tensors a
model returns are measured on the same scale. The difference is averaged over every pixel, channel and
consecutive pair. Frames of one sequence must share one shape.

``flicker_ratio(out, inp) = flicker(out) / flicker(inp)``: 1 means the output changes from frame to frame as much
as its input does (an identity model gives exactly 1); above 1, the translation adds change the input does not
have (flicker); below 1, it changes less than the input (smoothing, or an output with less contrast). A
translation that changes contrast or colours legitimately moves the ratio away from 1 even when perfectly stable,
so compare ratios of the same model on the same video (with and without stabilisation), not across models.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch


def _levels(frame) -> np.ndarray:
    """A frame as float64 grey levels (0..255 for 8-bit data)."""
    if isinstance(frame, torch.Tensor):
        frame = frame.detach().cpu().numpy()
    arr = np.asarray(frame)
    if np.issubdtype(arr.dtype, np.floating):
        return arr.astype(np.float64) * 127.5  # [-1, 1] -> a range of 255 levels
    return arr.astype(np.float64)


class FlickerMeter:
    """Streaming flicker: ``update`` one frame at a time (only the previous frame is kept), read ``value``."""

    def __init__(self) -> None:
        self._prev: np.ndarray | None = None
        self._total = 0.0
        self.pairs = 0
        self.frames = 0

    def update(self, frame) -> None:
        """Add the next frame of the sequence (H x W, H x W x C or C x H x W; a batch is not split)."""
        cur = _levels(frame)
        if self._prev is not None:
            if cur.shape != self._prev.shape:
                raise ValueError(f"frame {self.frames} has shape {cur.shape}, the previous one {self._prev.shape}: "
                                 "flicker compares frames of one size.")
            self._total += float(np.abs(cur - self._prev).mean())
            self.pairs += 1
        self._prev = cur
        self.frames += 1

    @property
    def value(self) -> float:
        """Mean over consecutive pairs of the mean absolute difference; 0.0 for fewer than two frames."""
        return self._total / self.pairs if self.pairs else 0.0


def flicker(frames: Iterable) -> float:
    """Mean absolute difference between consecutive frames, in 8-bit grey levels (see the module docstring).

    ``frames``: an iterable of frames (uint8 arrays, tensors), or one array/tensor whose first axis is time
    (T x H x W x C, T x C x H x W, T x H x W). A sequence of fewer than two frames has flicker 0.0."""
    meter = FlickerMeter()
    for f in frames:
        meter.update(f)
    return meter.value


def ratio(flicker_out: float, flicker_in: float) -> float:
    """``flicker_out / flicker_in``. A static input (flicker_in == 0): 1.0 when the output is static too (it adds
    no change), ``inf`` when it is not (any output change is flicker the input does not have)."""
    if flicker_in == 0.0:
        return 1.0 if flicker_out == 0.0 else math.inf
    return flicker_out / flicker_in


def flicker_ratio(out: Iterable, inp: Iterable) -> float:
    """``flicker(out) / flicker(inp)``: how much the output changes between frames relative to its input (1 for
    an identity model); a static input gives 1.0 for a static output and ``inf`` otherwise."""
    return ratio(flicker(out), flicker(inp))


__all__ = ["FlickerMeter", "flicker", "flicker_ratio", "ratio"]
