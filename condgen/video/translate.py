"""Translating a video: every frame through any image translator's ``translate``, in batches, into a video with the
input's frame rate, frame count and size, with its audio copied or dropped.

Temporal stability (``stable=True``, the default): every frame sees the same test-time noise (the global torch
RNG is re-seeded with ``seed`` before every call of the model, so pix2pix's dropout masks are the same for every
frame; MUNIT: one style code for the whole video), and ``condgen.load`` already uses the EMA generator when the run
kept one. The model's own test mode is kept (pix2pix: the run's eval_mode; ``eval_mode=True`` is the user's choice,
measured in benchmarks/RESULTS.md: less flicker, but less faithful on a briefly trained BatchNorm model).
``flow_blend=alpha`` further blends each output with the previous output warped by optical flow (``FlowBlender``).
``condgen.metrics.temporal`` measures flicker.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from condgen.errors import ConfigError, DataError
from condgen.video.flow import FlowBlender
from condgen.video.io import (
    AUDIO_MODES,
    DEFAULT_CRF,
    EXTENSIONS_TEXT,
    VideoWriter,
    is_video_file,
    mux_audio,
    open_video,
)


def _to_uint8_frames(y: torch.Tensor) -> np.ndarray:
    """N x C x H x W in [-1, 1] -> N x H x W x 3 uint8 (grey repeated to RGB), rounded like ``tensor_to_pil``."""
    arr = ((y.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    arr = arr.permute(0, 2, 3, 1).numpy()
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return arr


def frames_to_tensor(frames: list[np.ndarray], channels: int) -> torch.Tensor:
    """RGB uint8 frames -> N x C x H x W in [-1, 1], converted to grey exactly as an image file would be."""
    from PIL import Image

    from condgen.translate import pil_to_tensor

    return torch.cat([pil_to_tensor(Image.fromarray(f), channels) for f in frames])


def check_video_model(model) -> None:
    """ConfigError unless ``model`` translates images (not label maps, not noise)."""
    name = getattr(getattr(model, "run_config", None), "model_name", None) or type(model).__name__
    if model.task == "sample":
        raise ConfigError(f"video translation needs an image-to-image model; {name} generates from noise "
                          f"(use `condgen sample`).")
    if model.task == "synthesize":
        raise ConfigError(f"{name} synthesises images from semantic label maps, not from photos: a video's frames "
                          f"are not label maps. Translate a video with an image-to-image model (pix2pix, cyclegan, "
                          f"unit, munit, style, srresnet/srgan).")


def translate_video(model, src: str | Path, dst: str | Path, batch_size: int = 8, stable: bool = True,
                    flow_blend: float = 0.0, audio: str = "copy", progress: bool = True, seed: int = 0,
                    crf: int = DEFAULT_CRF, **translate_kwargs: Any) -> dict:
    """Translate every frame of the video ``src`` with ``model.translate`` and write the video ``dst``.

    The output keeps the input's frame rate and frame count (and its frame size, times the model's scale for
    super-resolution); ``audio="copy"`` copies the input's audio streams (none is fine), ``"drop"`` leaves them
    out. The file is written under a temporary name in ``dst``'s folder and renamed at the end, so a failure
    never leaves a half-written ``dst``. Frames go through the model ``batch_size`` at a time (one at a time when
    the model is stochastic per image, i.e. pix2pix in the paper's test mode: dropout and batch statistics).

    ``stable`` (see the module docstring): the same noise for every frame (RNG re-seeded with ``seed`` before each
    call: the same dropout masks; MUNIT one style code); the model's test mode as the run set it. ``stable=False``:
    fresh noise per frame (RNG seeded once; MUNIT a new random style per frame). ``flow_blend`` in [0, 1): blend
    with the flow-warped previous output (0 = off). ``translate_kwargs`` go to ``model.translate`` (direction,
    style_image, eval_mode, ...). ``crf``: the encoder's constant-quality setting (see ``VideoWriter``). The
    caller's torch RNG state is left as it was.

    Returns stats: frames, fps, size (output w, h), input_size, seconds, frames_per_second (throughput),
    flicker_in, flicker_out (mean |frame_t - frame_{t-1}| in grey levels; the output measured before encoding),
    flicker_ratio (out / in), audio ("copied", "re-encoded (...)", "none", "dropped"), batch_size, output."""
    from tqdm.auto import tqdm

    from condgen.metrics.temporal import FlickerMeter, ratio

    src, dst = Path(src), Path(dst)
    check_video_model(model)
    if audio not in AUDIO_MODES:
        raise ConfigError(f"audio must be one of {', '.join(AUDIO_MODES)}, got {audio!r}.")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}.")
    if not 0.0 <= flow_blend < 1.0:
        raise ConfigError(f"flow_blend must be in [0, 1) (0 = off), got {flow_blend}.")
    if not is_video_file(dst):
        raise ConfigError(f"the output {dst} needs a video extension ({EXTENSIONS_TEXT}).")
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise ConfigError(f"the output {dst} is the input video; choose another output path.")

    takes = model.translate_options
    kwargs = dict(translate_kwargs)
    if kwargs.pop("num_styles", 1) not in (1, None):
        raise ConfigError("a video gets one style: num_styles > 1 (several outputs per input) does not apply to "
                          "video; pick the style with seed, or give style_image.")
    if kwargs.pop("as_list", False):
        raise ConfigError("as_list does not apply to video (one output frame per input frame).")
    unknown = sorted(k for k in kwargs if k not in takes)
    if unknown:
        raise ConfigError(f"{type(model).__name__}.translate takes no {', '.join(unknown)}.")
    stochastic = "eval_mode" in takes and not (kwargs["eval_mode"] if kwargs.get("eval_mode") is not None
                                               else getattr(model.cfg, "eval_mode", True))
    fresh_styles = (not stable and "style" in takes and kwargs.get("style") is None
                    and kwargs.get("style_image") is None)
    if "seed" in takes and not fresh_styles:
        kwargs["seed"] = seed
    batch = 1 if stochastic else batch_size
    channels = model.input_channels(kwargs.get("direction") or "AtoB")

    blender = FlowBlender(flow_blend) if flow_blend > 0 else None
    meter_in, meter_out = FlickerMeter(), FlickerMeter()
    style_gen = torch.Generator().manual_seed(int(seed))
    tmp_paths: list[Path] = []

    def tmp_file(tag: str) -> Path:
        fd, name = tempfile.mkstemp(prefix=f".{dst.stem}.{tag}-", suffix=dst.suffix, dir=dst.parent)
        os.close(fd)
        tmp_paths.append(Path(name))
        return Path(name)

    def run(frames: list[np.ndarray]) -> None:
        x = frames_to_tensor(frames, channels)
        call = dict(kwargs)
        if fresh_styles:
            call["style"] = torch.randn(len(frames), model.cfg.style_dim, generator=style_gen)
        if stable:
            torch.manual_seed(seed)
        y = model.translate(x, **call)
        if not isinstance(y, torch.Tensor) or y.dim() != 4 or y.shape[0] != len(frames):
            raise ConfigError(f"{type(model).__name__}.translate returned {type(y).__name__}, not one output "
                              f"per frame; video needs a one-to-one image translator.")
        for f_in, f_out in zip(frames, _to_uint8_frames(y)):
            if blender is not None:
                f_out = blender(f_in, f_out)
            meter_in.update(f_in)
            meter_out.update(f_out)
            writer.write(f_out)
        bar.update(len(frames))

    start = time.perf_counter()
    reader = open_video(src)
    writer = bar = None
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        writer = VideoWriter(tmp_file("video"), reader.fps_fraction, crf)
        bar = tqdm(total=reader.frames, unit="frame", desc=src.name, file=sys.stderr, disable=not progress,
                   dynamic_ncols=True, leave=False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            pending: list[np.ndarray] = []
            for frame in reader:
                pending.append(frame)
                if len(pending) == batch:
                    run(pending)
                    pending = []
            if pending:
                run(pending)
        writer.close()
        final, how = writer.path, ("dropped" if audio == "drop" else "none")
        if audio == "copy" and reader.has_audio:
            final = tmp_file("audio")
            how = mux_audio(writer.path, src, final)
        os.replace(final, dst)
    finally:
        if bar is not None:
            bar.close()
        reader.close()
        if writer is not None:
            try:
                writer.close()  # already closed on success; on a failure, ffmpeg stops before its file is removed
            except DataError:
                pass
        for p in tmp_paths:
            if p.exists():
                p.unlink()
    seconds = time.perf_counter() - start
    return {"input": str(src), "output": str(dst), "frames": writer.frames, "fps": reader.fps,
            "size": list(writer.size or (0, 0)), "input_size": list(reader.size), "seconds": seconds,
            "frames_per_second": writer.frames / seconds if seconds > 0 else math.inf,
            "flicker_in": meter_in.value, "flicker_out": meter_out.value,
            "flicker_ratio": ratio(meter_out.value, meter_in.value), "audio": how, "batch_size": batch,
            "stable": stable, "flow_blend": flow_blend}
