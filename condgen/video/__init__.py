"""Video translation: decode a video lazily, run any image translator on its frames in batches, encode the result
with the original frame rate and frame size, and copy (or drop) the audio.

Decoding and encoding go through imageio's ffmpeg plugin (the ffmpeg binary shipped by ``imageio-ffmpeg``); the
same binary probes the input (streams, reasons for failure) and muxes the audio in. Frames are RGB uint8
H x W x 3 numpy arrays; only a batch of them is in memory at a time.

Temporal stability (``stable=True``, the default): every frame sees the same test-time noise (the global torch
RNG is re-seeded with ``seed`` before every call of the model, so pix2pix's dropout masks are the same for every
frame; MUNIT: one style code for the whole video), and ``condgen.load`` already uses the EMA generator when the run
kept one. The model's own test mode is kept (pix2pix: the run's eval_mode; ``eval_mode=True`` is the user's choice,
measured in benchmarks/RESULTS.md: less flicker, but less faithful on a briefly trained BatchNorm model).
``flow_blend=alpha`` further blends each output with the previous output warped by optical flow (OpenCV DIS)
computed between the *input* frames, weighted per pixel by how well that flow explains the input (occlusions and
scene cuts fall back to the fresh output). ``condgen.metrics.temporal`` measures flicker.

Every failure to read a video raises ``UnreadableVideoError`` (a ``DataError``) naming the file and a short reason.

The package: ``io`` (ffmpeg: probe, lazy frames, exact fps/size writing, audio copy), ``flow`` (optical-flow
blending) and ``translate`` (``translate_video``: batched frames through a model, stable noise, flicker measured).
"""

from __future__ import annotations

from condgen.video.flow import FLOW_ERROR_CUTOFF, FLOW_MAX_SIDE, FlowBlender
from condgen.video.io import (
    AUDIO_MODES,
    DEFAULT_CRF,
    EXTENSIONS_TEXT,
    VIDEO_EXTENSIONS,
    UnreadableVideoError,
    VideoReader,
    VideoWriteError,
    VideoWriter,
    ffmpeg_exe,
    is_video_file,
    mux_audio,
    open_video,
    probe_video,
)
from condgen.video.translate import check_video_model, frames_to_tensor, translate_video

# The constants are re-exported to be read. FlowBlender reads FLOW_ERROR_CUTOFF and FLOW_MAX_SIDE from
# condgen.video.flow, so a change (as in benchmarks/bench_video.py's ablation) is made there.

__all__ = ["AUDIO_MODES", "DEFAULT_CRF", "EXTENSIONS_TEXT", "FLOW_ERROR_CUTOFF", "FLOW_MAX_SIDE", "VIDEO_EXTENSIONS",
           "FlowBlender", "UnreadableVideoError", "VideoReader", "VideoWriteError", "VideoWriter", "check_video_model",
           "ffmpeg_exe", "frames_to_tensor", "is_video_file", "mux_audio", "open_video", "probe_video",
           "translate_video"]
