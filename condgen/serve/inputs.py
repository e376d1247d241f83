"""The checks of the demo's inputs, pure (no Gradio): form values (whole numbers in a range) and uploads (only
files this server received, within the byte and pixel limits, read through condgen's own opener; an error names
'the upload', never the server's path). Gradio is asked one thing, its upload folder, and only by a ``_Limits``
given no store of its own."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from condgen.errors import CondgenError, ConfigError, DataError
from condgen.serve.lazy_gradio import upload_folder
from condgen.uploads import UploadStore

DEFAULT_MAX_PIXELS = 16_000_000  # per uploaded image (4000 x 4000); SR inputs get this / scale^2
DEFAULT_MAX_UPLOAD_MB = 20
HELD_UPLOADS = 4  # the bytes of uploads held at once are capped at this many uploads of the largest size
MAX_SEED = 2**63 - 1


def _int(value: Any, what: str, lo: int = 0, hi: int = MAX_SEED) -> int:
    """An integer form value in lo..hi, or a ConfigError naming the field."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a whole number, got {value!r}.") from None
    if not f.is_integer() or not lo <= f <= hi:
        raise ConfigError(f"{what} must be a whole number in {lo}..{hi}, got {value!r}.")
    return int(f)


def _display(e: CondgenError, path: Path) -> CondgenError:
    """The error with the server's temporary path replaced by 'the upload' (the user never saw that path)."""
    msg = str(e).replace(f"image {path}: ", "the upload: ").replace(str(path), "the upload")
    return (DataError if isinstance(e, DataError) else CondgenError)(msg)


class _Limits:
    """Byte and pixel limits of uploads, and the store of the upload files that may be read (by default, the
    files Gradio's upload folder received)."""

    def __init__(self, max_pixels: int, max_bytes: int | None, store: UploadStore | None = None):
        self.max_pixels, self.max_bytes = int(max_pixels), max_bytes
        self.store = store or UploadStore(upload_folder(), max_bytes,
                                          None if max_bytes is None else HELD_UPLOADS * max_bytes)

    @contextlib.contextmanager
    def held(self, upload: Any, what: str, max_pixels: int | None = None) -> Iterator[Path]:
        """The file of an upload value, within the store and the pixel limit (header only, condgen's
        decompression-bomb guard); the upload is released (its file deleted) when the block ends. A CondgenError
        inside names 'the upload', never the server's path."""
        from condgen.data.images import check_image_size

        if upload is None or upload == "":
            raise DataError(f"no {what}: upload an image first.")
        up = self.store.accept(upload)
        try:
            check_image_size(up.path, max_pixels or self.max_pixels)
            yield up.path
        except CondgenError as e:
            raise _display(e, up.path) from None
        finally:
            up.release()

    def open(self, upload: Any, channels: int, what: str = "input image", max_pixels: int | None = None):
        """An uploaded image as an 8-bit L/RGB PIL image, read through condgen's checked opener."""
        from condgen.data.images import open_image

        with self.held(upload, what, max_pixels) as path:
            return open_image(path, channels)

