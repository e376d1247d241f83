"""Optical-flow blending (``translate_video(flow_blend=alpha)``): each output frame blended with the previous output
warped by optical flow (OpenCV DIS) computed between the *input* frames, weighted per pixel by how well that flow
explains the input (occlusions and scene cuts fall back to the fresh output)."""

from __future__ import annotations

import numpy as np

from condgen.errors import ConfigError, MissingDependencyError

#: optical flow is computed on grey input frames shrunk so their longer side is at most this (speed)
FLOW_MAX_SIDE = 320
#: input warp error (grey levels, after a small blur) at which the blend weight m falls to 0
FLOW_ERROR_CUTOFF = 24.0


class FlowBlender:
    """``out_t <- (1 - alpha*m) * out_t + alpha*m * warp(out_{t-1})``: warp by the optical flow between the input
    frames t and t-1 (OpenCV DIS on grey frames shrunk to ``FLOW_MAX_SIDE``), ``m`` in [0, 1] per pixel from how
    well the same warp maps input t-1 onto input t (1 - error / FLOW_ERROR_CUTOFF, clipped; 0 where the flow
    leaves the frame), so occlusions and scene cuts take the fresh output. ``out_{t-1}`` is the previous
    *blended* output (a recursive filter)."""

    def __init__(self, alpha: float):
        if not 0.0 <= alpha < 1.0:
            raise ConfigError(f"flow_blend must be in [0, 1), got {alpha}.")
        try:
            import cv2
        except ImportError:
            raise MissingDependencyError.extra("flow blending", "video", "opencv-python-headless") from None
        self.cv2 = cv2
        self.alpha = float(alpha)
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._prev_in: np.ndarray | None = None  # small grey float32
        self._prev_out: np.ndarray | None = None  # float32 H x W x 3

    def _small_grey(self, frame: np.ndarray) -> np.ndarray:
        cv2 = self.cv2
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
        h, w = grey.shape
        s = min(1.0, FLOW_MAX_SIDE / max(h, w))
        if s < 1.0:
            grey = cv2.resize(grey, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(grey)

    def __call__(self, inp: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The blended output frame (uint8) for input frame ``inp`` and fresh output frame ``out``."""
        cv2 = self.cv2
        small = self._small_grey(inp)
        fresh = out.astype(np.float32)
        if self._prev_in is None or self._prev_in.shape != small.shape:
            result = fresh
        else:
            sh, sw = small.shape
            # flow from t to t-1: input_t(y, x) ~ input_{t-1}(y + fy, x + fx)
            flow = self.dis.calc(small, self._prev_in, None)
            gx, gy = np.meshgrid(np.arange(sw, dtype=np.float32), np.arange(sh, dtype=np.float32))
            mx, my = gx + flow[..., 0], gy + flow[..., 1]
            warped_in = cv2.remap(self._prev_in, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            err = cv2.GaussianBlur(np.abs(small.astype(np.float32) - warped_in.astype(np.float32)), (5, 5), 0)
            m = np.clip(1.0 - err / FLOW_ERROR_CUTOFF, 0.0, 1.0)
            m[(mx < 0) | (mx > sw - 1) | (my < 0) | (my > sh - 1)] = 0.0
            oh, ow = fresh.shape[:2]
            if (oh, ow) != (sh, sw):  # flow in output pixels (the output may be larger, e.g. super-resolution)
                flow = cv2.resize(flow, (ow, oh), interpolation=cv2.INTER_LINEAR)
                flow[..., 0] *= ow / sw
                flow[..., 1] *= oh / sh
                m = cv2.resize(m, (ow, oh), interpolation=cv2.INTER_LINEAR)
                gx, gy = np.meshgrid(np.arange(ow, dtype=np.float32), np.arange(oh, dtype=np.float32))
                mx, my = gx + flow[..., 0], gy + flow[..., 1]
            warped_out = cv2.remap(self._prev_out, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            if warped_out.ndim == 2:
                warped_out = warped_out[..., None]
            w = (self.alpha * m)[..., None]
            result = (1.0 - w) * fresh + w * warped_out
        self._prev_in, self._prev_out = small, result
        return np.clip(np.rint(result), 0, 255).astype(np.uint8)
