"""Video in and out: probe a file, read its frames lazily, write frames with an exact frame rate and size, and copy
(or re-encode) the audio of another file into a video.

Decoding and encoding go through imageio's ffmpeg plugin (the ffmpeg binary shipped by ``imageio-ffmpeg``); the
same binary probes the input (streams, reasons for failure) and muxes the audio in. Frames are RGB uint8
H x W x 3 numpy arrays; only a batch of them is in memory at a time.

Every failure to read a video raises ``UnreadableVideoError`` (a ``DataError``) naming the file and a short reason.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from condgen.errors import ConfigError, DataError, MissingDependencyError

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
EXTENSIONS_TEXT = ", ".join(e.lstrip(".") for e in VIDEO_EXTENSIONS)
AUDIO_MODES = ("copy", "drop")

#: x264/VP9 constant-quality setting of the writer (x264: 18 is visually near-lossless; lower = better, larger)
DEFAULT_CRF = 18


class UnreadableVideoError(DataError):
    """A video file that cannot be opened or decoded; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read video {self.path}: {reason}.")


class VideoWriteError(DataError):
    """A video that could not be written (no output is left behind); ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot write video {self.path}: {reason}.")


def is_video_file(path: str | Path) -> bool:
    """True for a non-hidden file name with one of the ``VIDEO_EXTENSIONS`` (any letter case)."""
    name = Path(path).name
    return not name.startswith(".") and name.lower().endswith(VIDEO_EXTENSIONS)


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped with imageio-ffmpeg (MissingDependencyError without the ``video`` extra)."""
    try:
        import imageio  # noqa: F401  (the reader and writer below)
        import imageio_ffmpeg
    except ImportError:
        raise MissingDependencyError.extra("video", "video", "imageio imageio-ffmpeg") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


# ----- probing ------------------------------------------------------------------------------------
_STREAM = re.compile(r"^\s*Stream #(\d+):(\d+)\S*: (Video|Audio|Subtitle|Data|Attachment): (.*)$")
_NOISE = ("ffmpeg version", "built with", "configuration:", "libav", "libsw", "libpostproc", "Copyright",
          "At least one output file", "Use -h to get", "Consider increasing")


def _short(line: str) -> str:
    """An ffmpeg log line without its ``[ctx @ 0x...]`` prefix, on one line."""
    line = re.sub(r"\[[^\]]*@ 0x[0-9a-f]+\]\s*", "", line).strip()
    return " ".join(line.split()).rstrip(".")


def _error_lines(text: str) -> list[str]:
    """ffmpeg's messages in ``text`` that are not its banner, headers or stream listing."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if not s or any(s.startswith(n) or n in s for n in _NOISE):
            continue
        if s.startswith(("Input #", "Duration:", "Stream #", "Metadata:", "Side data:", "Chapters:", "Chapter #",
                         "Output #")) or line.startswith("    "):
            continue
        out.append(_short(s))
    return [s for s in out if s]


def _reason_from_log(text: str, default: str) -> str:
    """A short human reason for a failed open/decode, from ffmpeg's log."""
    low = text.lower()
    if "detected only with low score" in low or ("invalid data found" in low and "moov atom" not in low):
        return "not a video file, or a format ffmpeg does not know (invalid data at the start)"
    if "moov atom not found" in low:
        return ("truncated or corrupt: its MP4/MOV index (moov atom) is missing, as when a recording or download "
                "did not finish")
    if "partial file" in low or "could not find codec parameters" in low or "invalid nal unit" in low:
        lines = _error_lines(text)
        detail = f" (ffmpeg: {lines[0]})" if lines else ""
        return f"truncated or corrupt: its data ends early or cannot be decoded{detail}"
    if "permission denied" in low:
        return "permission denied"
    lines = _error_lines(text)
    return f"{default} (ffmpeg: {lines[-1]})" if lines else default


class _Probe:
    """What ``ffmpeg -i FILE`` says about a file: container, streams, duration, frame rate and size."""

    def __init__(self, path: Path, log: str):
        self.log = log
        m = re.search(r"Input #0, ([^,\s]+)", log)
        self.format = m.group(1) if m else None
        self.video: list[tuple[str, str]] = []  # (stream id "0:N", description)
        self.audio: list[tuple[str, str]] = []
        self.attached_pics = 0
        for line in log.splitlines():
            s = _STREAM.match(line)
            if not s:
                continue
            sid, kind, desc = f"{s.group(1)}:{s.group(2)}", s.group(3), s.group(4)
            if kind == "Video":
                if "(attached pic)" in desc:
                    self.attached_pics += 1
                else:
                    self.video.append((sid, desc))
            elif kind == "Audio":
                self.audio.append((sid, desc))
        d = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", log)
        self.duration = (int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3))) if d else 0.0
        self.fps = 0.0
        self.size: tuple[int, int] | None = None
        if self.video:
            desc = self.video[0][1]
            f = re.search(r"([0-9]+(?:\.[0-9]+)?) fps", desc) or re.search(r"([0-9]+(?:\.[0-9]+)?) tbr", desc)
            self.fps = float(f.group(1)) if f else 0.0
            sz = re.search(r"[ ,](\d+)x(\d+)[ ,\[]", desc + " ")
            self.size = (int(sz.group(1)), int(sz.group(2))) if sz else None


def probe_video(path: str | Path) -> _Probe:
    """Check that ``path`` is a readable video (one fast ``ffmpeg -i``: header only); UnreadableVideoError with a
    short reason otherwise (missing, empty, not a video, truncated/corrupt, an image, no video stream)."""
    path = Path(path)
    if not path.exists():
        raise UnreadableVideoError(path, "the file does not exist")
    if path.is_dir():
        raise UnreadableVideoError(path, "it is a folder, not a video file")
    try:
        if path.stat().st_size == 0:
            raise UnreadableVideoError(path, "the file is empty (0 bytes)")
    except OSError as e:
        raise UnreadableVideoError(path, f"cannot access it ({e.strerror or e})") from None
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UnreadableVideoError(path, f"ffmpeg could not probe it ({type(e).__name__}: {e})") from None
    probe = _Probe(path, res.stderr)
    if probe.format is None:
        raise UnreadableVideoError(path, _reason_from_log(res.stderr, "ffmpeg cannot open it"))
    if probe.format.endswith("_pipe") or probe.format == "image2":
        kind = probe.format.removesuffix("_pipe")
        raise UnreadableVideoError(path, f"it is a still image ({kind}), not a video")
    if not probe.video:
        what = (f"only {len(probe.audio)} audio stream(s)" if probe.audio else "no audio or video streams")
        raise UnreadableVideoError(path, f"it has no video stream ({what}"
                                         f"{', and a cover picture' if probe.attached_pics else ''})")
    low = res.stderr.lower()
    if "partial file" in low or "could not find codec parameters" in low:
        raise UnreadableVideoError(path, _reason_from_log(res.stderr, "ffmpeg cannot decode it"))
    return probe


def _exact_fps(fps: float) -> Fraction:
    """The frame rate as a fraction; ffmpeg prints NTSC rates rounded (29.97), which are really N*1000/1001."""
    for den in (1, 1001):
        num = round(fps * den / 1000) * 1000 if den == 1001 else round(fps)
        if num > 0 and abs(num / den - fps) < 0.006:
            return Fraction(num, den)
    return Fraction(fps).limit_denominator(1001)


# ----- reading ------------------------------------------------------------------------------------
class VideoReader:
    """A video opened for reading: ``fps`` (float), ``fps_fraction``, ``size`` (w, h), ``frames`` (estimated
    from the header's duration x fps, or None), ``has_audio``; iterating yields RGB uint8 H x W x 3 frames,
    decoded lazily (iterate once). Reading errors raise UnreadableVideoError naming the file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        probe = probe_video(self.path)
        self._probe = probe
        self.format = probe.format
        self.codec = probe.video[0][1].split()[0].rstrip(",")
        self.has_audio = bool(probe.audio)
        if probe.fps <= 0:
            raise UnreadableVideoError(self.path, "its frame rate is unknown (no fps in the video stream)")
        self.fps_fraction = _exact_fps(probe.fps)
        self.fps = float(self.fps_fraction)
        self.duration = probe.duration
        self.frames = round(probe.duration * self.fps) if probe.duration > 0 else None
        self.read = 0
        import imageio.v2 as iio

        try:
            # the first real video stream (not a cover picture); frames as rgb24
            self._reader = iio.get_reader(str(self.path), format="FFMPEG",
                                          output_params=["-map", probe.video[0][0]])
            meta = self._reader.get_meta_data()
        except Exception as e:  # noqa: BLE001 - imageio/ffmpeg raise OSError, RuntimeError, IndexError, ...
            raise UnreadableVideoError(self.path, _reason_from_log(str(e), "ffmpeg cannot decode it")) from None
        self.size: tuple[int, int] = tuple(meta.get("size") or probe.size)  # after rotation metadata is applied

    def __iter__(self) -> Iterator[np.ndarray]:
        it = self._reader.iter_data()
        while True:
            try:
                frame = next(it)
            except StopIteration:
                break
            except Exception as e:  # noqa: BLE001
                raise UnreadableVideoError(self.path, _reason_from_log(
                    str(e), f"decoding stopped at frame {self.read + 1}")) from None
            self.read += 1
            yield np.asarray(frame)
        self._check_complete()

    def _check_complete(self) -> None:
        """Fewer frames than the header announces: decode once more to see whether ffmpeg reports damage."""
        if self.read == 0:
            raise UnreadableVideoError(self.path, "no frame could be decoded (truncated or corrupt)")
        expected = self.frames
        if not expected or self.read >= 0.9 * expected - 1:
            return
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(self.path),
               "-map", self._probe.video[0][0], "-f", "null", "-"]
        try:
            log = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=600).stderr
        except (OSError, subprocess.TimeoutExpired):
            return
        errors = _error_lines(log)
        if errors:  # otherwise e.g. an audio track longer than the video stretched the duration
            raise UnreadableVideoError(self.path, f"truncated or corrupt: it ends after {self.read} of the about "
                                                  f"{expected} frames its header announces (ffmpeg: {errors[0]})")

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_video(path: str | Path) -> VideoReader:
    """Open a video for lazy reading (see ``VideoReader``); UnreadableVideoError (a DataError) when it cannot be
    read: missing or empty file, not a video, truncated or corrupt, no video stream."""
    return VideoReader(path)


# ----- writing ------------------------------------------------------------------------------------
def _codec_for(path: Path, crf: int = DEFAULT_CRF) -> tuple[str, list[str], str]:
    """(video codec, its quality options, the audio codec to re-encode to when copying fails) for a container."""
    ext = path.suffix.lower()
    if ext == ".webm":  # VP9's CRF scale (0-63) is coarser than x264's: +14 gives a similar quality
        vp9 = ["-lossless", "1"] if crf == 0 else ["-crf", str(min(63, crf + 14)), "-b:v", "0"]
        return "libvpx-vp9", [*vp9, "-row-mt", "1"], "libopus"
    opts = ["-crf", str(crf), "-preset", "medium"]
    if ext in (".mp4", ".m4v", ".mov"):
        opts += ["-movflags", "+faststart"]
    return "libx264", opts, "aac"


class VideoWriter:
    """Write RGB (or grey) uint8 frames to ``path`` at ``fps`` with the exact frame size of the first frame.

    H.264 (libx264, CRF ``crf``, default 18: visually near-lossless; 0 = lossless) for .mp4/.mov/.m4v/.mkv/.avi,
    VP9 for .webm. Even sizes use yuv420p (plays everywhere); odd sizes use yuv444p, since 4:2:0 chroma needs even
    sizes and the frame must not be padded or rescaled (a few players, e.g. browsers and QuickTime, cannot play
    4:4:4 H.264)."""

    def __init__(self, path: str | Path, fps: float | Fraction, crf: int = DEFAULT_CRF):
        if not 0 <= crf <= 51:
            raise ConfigError(f"crf must be in 0..51 (0 = lossless, 18 = default), got {crf}.")
        self.path = Path(path)
        self.fps = fps
        self.crf = crf
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self._writer = None

    def _open(self, w: int, h: int) -> None:
        import imageio.v2 as iio

        ffmpeg_exe()
        codec, opts, _ = _codec_for(self.path, self.crf)
        pix = "yuv420p" if (w % 2 == 0 and h % 2 == 0) else "yuv444p"
        try:
            self._writer = iio.get_writer(str(self.path), format="FFMPEG", fps=self.fps, codec=codec,
                                          pixelformat=pix, macro_block_size=1, quality=None, output_params=opts,
                                          ffmpeg_log_level="error")
        except Exception as e:  # noqa: BLE001
            raise VideoWriteError(self.path, f"ffmpeg could not start ({type(e).__name__}: {_short(str(e))})") from None
        self.size = (w, h)

    def write(self, frame: np.ndarray) -> None:
        """Append one H x W x 3 (or H x W) uint8 frame; every frame must have the first frame's size."""
        frame = np.asarray(frame)
        if frame.dtype != np.uint8:
            raise DataError(f"video frames must be uint8, got {frame.dtype}.")
        if frame.ndim == 2:
            frame = np.repeat(frame[..., None], 3, axis=2)
        elif frame.ndim == 3 and frame.shape[2] == 1:
            frame = np.repeat(frame, 3, axis=2)
        h, w = frame.shape[:2]
        if self._writer is None:
            self._open(w, h)
        elif (w, h) != self.size:
            raise DataError(f"frame {self.frames} is {w}x{h}, the video is {self.size[0]}x{self.size[1]}.")
        try:
            self._writer.append_data(np.ascontiguousarray(frame))
        except Exception as e:  # noqa: BLE001 - ffmpeg stopped (its own message is printed above)
            raise VideoWriteError(self.path, f"ffmpeg stopped while encoding ({_short(str(e).splitlines()[0])})") \
                from None
        self.frames += 1

    def close(self) -> None:
        """Finish the file (waits for the encoder)."""
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception as e:  # noqa: BLE001
                raise VideoWriteError(self.path, f"ffmpeg failed finishing the file ({_short(str(e))})") from None
            self._writer = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def mux_audio(video: Path, audio_source: Path, out: Path) -> str:
    """Write ``out`` = the video stream of ``video`` + every audio stream of ``audio_source`` (stream copy; when
    the output container cannot hold that audio codec, re-encoded to AAC / Opus). Returns "copied" or
    "re-encoded (CODEC)"; VideoWriteError when neither works."""
    exe = ffmpeg_exe()
    _, _, fallback = _codec_for(out)
    base = [exe, "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(video), "-i", str(audio_source),
            "-map", "0:v:0", "-map", "1:a?"]
    tail = ["-movflags", "+faststart"] if out.suffix.lower() in (".mp4", ".m4v", ".mov") else []
    attempts = [(["-c", "copy"], "copied"), (["-c:v", "copy", "-c:a", fallback], f"re-encoded ({fallback})")]
    last = ""
    for opts, how in attempts:
        res = subprocess.run([*base, *opts, *tail, str(out)], capture_output=True, text=True, errors="replace")
        if res.returncode == 0:
            return how
        last = (_error_lines(res.stderr) or [f"exit code {res.returncode}"])[-1]
    raise VideoWriteError(out, f"the audio of {audio_source.name} could not be copied or re-encoded into "
                               f"{out.suffix} (ffmpeg: {last}); use --audio drop")
