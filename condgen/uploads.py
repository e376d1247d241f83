"""The web demo's uploads: which files a request may read, and their removal when the request ends.

A request of the demo names its images by upload values that come from the client: a path (Gradio's upload route
put the file in the server's upload folder), or a ``data:`` URL. The client controls both, so:

- a path is read only if its real path (symlinks and ``..`` resolved) is a regular file inside the upload folder
  that this server received as an upload (Gradio's record of its uploads, or a file condgen wrote itself); anything
  else is refused with one message that says nothing about the path or whether it exists;
- each accepted upload is an :class:`Upload` held by the request; releasing it (after the image is read, at the end
  of the request whatever its outcome: :func:`request`, or when the object is garbage collected) deletes the file;
- the bytes held at once are capped; beyond the cap a request is refused with "server busy".

Pure logic, no Gradio: ``condgen.serve`` plugs it into the components and handlers.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import os
import stat
import tempfile
import threading
import weakref
from collections.abc import Callable, Container, Iterator
from pathlib import Path
from typing import Any

from condgen.errors import ServerBusyError, UploadRefusedError

# The one answer to every upload that may not be read: it must not tell a missing file from a folder, a non-image
# or a private file outside the upload folder.
REFUSED = ("this upload is not available on the server (an upload is read once, by the request it came with, and "
           "then deleted): upload the image again.")
PREFIX = "condgen-upload-"  # condgen's own upload files (data: URLs, painted layers)
_REQUEST: contextvars.ContextVar[list[Upload] | None] = contextvars.ContextVar("condgen_request_uploads",
                                                                               default=None)


def size_text(n: float) -> str:
    """A byte count for a message: '12.3 kB', '4.5 MB'."""
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


class Upload:
    """One upload file held by a request (``path``: its real path in the upload folder; ``size`` in bytes).
    ``release()`` lets go of it; the file is deleted when no request holds it any more. Garbage collection releases
    it too, so the upload of a request that failed before its handler ran is removed as well."""

    def __init__(self, path: Path, size: int, store: UploadStore):
        self.path, self.size = path, size
        self._finalizer = weakref.finalize(self, store._drop, str(path))
        in_request = _REQUEST.get()
        if in_request is not None:
            in_request.append(self)

    def release(self) -> None:
        self._finalizer()

    @property
    def released(self) -> bool:
        return not self._finalizer.alive

    def __repr__(self) -> str:
        return f"Upload({self.path.name!r}, {self.size} bytes{', released' if self.released else ''})"


class UploadStore:
    """The upload folder of one server and the upload files its requests hold.

    ``received``: the real paths of files the web framework received as uploads (``in`` and ``discard``); a path
    that is neither there nor one of condgen's own files is refused. ``max_bytes``: per upload; ``max_held_bytes``:
    all uploads held at once (None: no limit)."""

    def __init__(self, folder: str | Path, max_bytes: int | None = None, max_held_bytes: int | None = None,
                 received: Container[str] | None = None):
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.folder = Path(os.path.realpath(folder))
        self.max_bytes, self.max_held_bytes = max_bytes, max_held_bytes
        self.received = received if received is not None else set()
        self._held: dict[str, list[int]] = {}  # real path -> [requests holding it, bytes]
        self._lock = threading.Lock()

    @property
    def held_bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._held.values())

    # ----- accepting --------------------------------------------------------------------------------------------
    def accept(self, value: Any) -> Upload:
        """The upload behind a value from the client: an :class:`Upload` (itself), a ``data:`` URL (a string, or the
        ``url`` of a dict / file object), or the ``path`` of a file this server received. UploadRefusedError (always
        the same message) for anything else; DataError for a malformed or oversized data URL; ServerBusyError when
        the uploads held at once would pass the cap."""
        if isinstance(value, Upload):
            if value.released:
                raise UploadRefusedError(REFUSED)
            return value
        url, path = _field(value, "url"), _field(value, "path")
        if isinstance(value, (str, Path)):
            url, path = (str(value), None) if str(value).startswith("data:") else (None, value)
        if isinstance(url, str) and url.startswith("data:"):
            return self.from_data_url(url)
        return self._hold_received(path)

    def from_data_url(self, url: str) -> Upload:
        """A ``data:[mime];base64,...`` URL decoded into a file of its own (checked against the limits before
        decoding)."""
        head, sep, data = url.partition(",")
        if not sep or not head.endswith(";base64"):
            raise UploadRefusedError("the upload is a data: URL that is not base64-encoded (data:image/png;base64,"
                                     "...): send the image as base64 or as a file.")
        self._check_size(len(data) * 3 // 4)
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise UploadRefusedError("the upload is a data: URL whose data is not valid base64.") from None
        return self.add_bytes(raw)

    def add_bytes(self, data: bytes) -> Upload:
        """An upload file of condgen's own (0600) in the upload folder, holding ``data``."""
        size = len(data)
        self._check_size(size)
        with self._lock:  # reserve the bytes before writing them
            self._check_held(size)
            fd, name = tempfile.mkstemp(prefix=PREFIX, dir=self.folder)
            path = os.path.realpath(name)
            self._held[path] = [1, size]
        upload = Upload(Path(path), size, self)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except BaseException:
            upload.release()
            raise
        return upload

    def _hold_received(self, raw: Any) -> Upload:
        real = self._resolve(raw)
        with self._lock:
            entry = self._held.get(real)
            if entry is None and real not in self.received:
                raise UploadRefusedError(REFUSED)
        try:
            st = os.stat(real, follow_symlinks=False)
        except OSError:
            raise UploadRefusedError(REFUSED) from None
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:  # a hard link may point at any file of the owner
            raise UploadRefusedError(REFUSED)
        with self._lock:
            entry = self._held.get(real)
            if entry is not None:
                entry[0] += 1
            else:
                try:
                    self._check_size(st.st_size)
                    self._check_held(st.st_size)
                except (UploadRefusedError, ServerBusyError):
                    self._discard_locked(real)  # an upload that will never be read
                    raise
                self._held[real] = [1, st.st_size]
        return Upload(Path(real), st.st_size, self)

    def _resolve(self, raw: Any) -> str:
        """The real path of a client-given path if it is inside the upload folder (else UploadRefusedError)."""
        if not isinstance(raw, (str, Path)) or str(raw) == "":
            raise UploadRefusedError(REFUSED)
        try:
            real = os.path.realpath(os.path.join(self.folder, str(raw)))
        except (OSError, ValueError):  # embedded NUL bytes, too long
            raise UploadRefusedError(REFUSED) from None
        if real == str(self.folder) or not Path(real).is_relative_to(self.folder):
            raise UploadRefusedError(REFUSED)
        return real

    # ----- limits -----------------------------------------------------------------------------------------------
    def _check_size(self, size: int) -> None:
        if self.max_bytes is not None and size > self.max_bytes:
            raise UploadRefusedError(f"the upload is {size_text(size)}, more than the limit of "
                                     f"{size_text(self.max_bytes)}.")

    def _check_held(self, size: int) -> None:
        """(under the lock) ServerBusyError when ``size`` more bytes would pass the cap."""
        held = sum(s for _, s in self._held.values())
        if self.max_held_bytes is not None and held + size > self.max_held_bytes:
            raise ServerBusyError(f"the server is busy: it holds {size_text(held)} of uploads being processed, and "
                                  f"this upload would pass its limit of {size_text(self.max_held_bytes)}; try again "
                                  "in a moment.")

    # ----- letting go -------------------------------------------------------------------------------------------
    def _drop(self, real: str) -> None:
        """One request lets go of a file; the last one deletes it."""
        with self._lock:
            entry = self._held.get(real)
            if entry is None:
                return
            entry[0] -= 1
            if entry[0] > 0:
                return
            del self._held[real]
            self._discard_locked(real)

    def _discard_locked(self, real: str) -> None:
        """Delete an upload file (and the folder Gradio made for it, when empty)."""
        try:
            os.unlink(real)
        except OSError:
            pass
        parent = os.path.dirname(real)
        if parent != str(self.folder):
            try:
                os.rmdir(parent)
            except OSError:
                pass
        discard: Callable[[str], None] | None = getattr(self.received, "discard", None)
        if discard is not None:
            discard(real)


@contextlib.contextmanager
def request() -> Iterator[None]:
    """The span of one request: every :class:`Upload` made inside it (in this context or a copy of it, e.g. a worker
    thread) is released when it ends, also when the web framework fails on another input and no handler runs."""
    uploads: list[Upload] = []
    token = _REQUEST.set(uploads)
    try:
        yield
    finally:
        _REQUEST.reset(token)
        release_all(uploads)


def release_all(values: Any) -> None:
    """Release every :class:`Upload` among ``values`` (a request's arguments)."""
    for v in values:
        if isinstance(v, Upload):
            v.release()


def _field(value: Any, name: str) -> Any:
    """``value[name]`` of a dict or ``value.name`` of an object (None when absent)."""
    if isinstance(value, dict):
        return value.get(name)
    if isinstance(value, (str, bytes, Path)) or value is None:
        return None
    return getattr(value, name, None)
