"""One process owns a run folder at a time: an OS lock (``flock``) on RUN/.lock, released on exit and on kill -9."""

from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path

from condgen.errors import RunInUseError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not locked there
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"

_held: set[int] = set()  # lock file descriptors this process holds


def _close_in_child() -> None:
    # A forked child (a DataLoader worker) shares the lock; it must not keep the folder locked after the
    # trainer dies (kill -9), so it drops its copy of the descriptor at once.
    for fd in list(_held):
        try:
            os.close(fd)
        except OSError:
            pass
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)


def _holder(path: Path) -> str:
    try:
        pid = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        pid = ""
    return f"PID {pid}" if pid.isdigit() else "an unknown PID"


class RunLock:
    """An exclusive, non-blocking lock on a run folder; ``release`` (or the end of the process) frees it."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise RunInUseError naming the folder and the holder's PID."""
        if fcntl is None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunInUseError(
                    f"{self.path.parent} is in use by another condgen process ({_holder(self.path)}), which is "
                    f"training into it. Wait for it to finish (or stop it), or choose another --out.") from None
            # a file system without flock (some network mounts): train unlocked rather than not at all
            warnings.warn(f"cannot lock {self.path} ({e.strerror}); nothing stops a second process from "
                          f"writing into {self.path.parent} at the same time.", RuntimeWarning, stacklevel=2)
            return self
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError:  # a full disk: the lock holds all the same, only its PID goes unnamed
            pass
        self.fd = fd
        _held.add(fd)
        return self

    def release(self) -> None:
        """Free the lock (the file stays: removing it would let two processes lock two different files)."""
        if self.fd is not None:
            _held.discard(self.fd)
            os.close(self.fd)
            self.fd = None

    def __del__(self) -> None:  # a Trainer dropped without fit() must not keep its folder locked
        self.release()
