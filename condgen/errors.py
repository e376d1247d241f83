"""Errors a user can cause. The CLI prints them as one paragraph, without a traceback, and exits non-zero."""

from __future__ import annotations


class CondgenError(Exception):
    """Base class for every error condgen reports to a user (what went wrong and how to fix it)."""

    exit_code = 2


class ConfigError(CondgenError):
    """An unknown or mistyped config key, a wrong type, or an impossible value."""


class DataError(CondgenError):
    """A missing or empty data folder, an unreadable image, unpaired data, a bad label id."""


class ModelError(CondgenError):
    """An unknown model name or an architecture that cannot take the requested shape."""


class InputTooSmallError(ModelError):
    """An input image smaller than the network accepts (commands over many files skip it and list it)."""


class CheckpointError(CondgenError):
    """A run folder that is not a run, a conflicting config on resume, an unreadable checkpoint."""


class CheckpointDamagedError(CheckpointError):
    """A checkpoint file that is truncated, unreadable, or whose contents no longer match its stored checksum."""


class RunInUseError(CheckpointError):
    """Another live process owns (is training into) the same run folder."""


class TrainingError(CondgenError):
    """Training stopped: a NaN/Inf loss or a failed checkpoint write (the last good checkpoint is kept)."""


class WeightsNotFoundError(CondgenError):
    """Pretrained weights that are needed are not on this machine (nothing is downloaded)."""


class MissingDependencyError(CondgenError):
    """An optional package a feature needs is not installed (the message says what to pip install)."""

    @classmethod
    def extra(cls, what: str, extra: str, packages: str) -> MissingDependencyError:
        """The error for ``what`` needing condgen's optional ``extra`` (``packages`` by name, for pip)."""
        return cls(f"{what} needs {packages}: pip install {install_hint(extra)} in condgen's source folder, or "
                   f"pip install {packages}.")


class UploadRefusedError(DataError):
    """A web demo upload that may not be read: not a file this server received, malformed, or over the size limit."""


class ServerBusyError(CondgenError):
    """The web demo holds as many upload bytes as it allows at once; the request may be retried shortly."""


class ResourceCapWarning(UserWarning):
    """A setting asked for more of the machine than condgen allows (e.g. more DataLoader workers than CPUs); it
    was lowered to the cap."""


def install_hint(extra: str) -> str:
    """How to install condgen's optional ``extra``, quoted for a shell (condgen is installed from source)."""
    return f"-e \".[{extra}]\""


def os_error_reason(e: OSError) -> str:
    """What stopped a write, in words: "no space left on device", "permission denied", ..."""
    import errno

    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "no space left on device"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if e.errno == errno.EROFS:
        return "permission denied (read-only file system)"
    return e.strerror or str(e) or type(e).__name__


_UNSAFE_ADVICE = ("weights_only", "arbitrary code execution", "trusted source", "Please file an issue",
                  "Check the documentation of torch.load")


def strip_unsafe_advice(text: str) -> str:
    """``text`` without PyTorch's advice around a refused ``torch.load`` (retry with ``weights_only=False``, file an
    issue): condgen never suggests loading a file in a way that can run code. Sentences saying so are dropped."""
    import re

    if not any(a in text for a in _UNSAFE_ADVICE):
        return text
    kept = []
    for line in text.splitlines():
        sentences = re.split(r"(?<=[.!?])\s+", line)
        line = " ".join(s for s in sentences if not any(a in s for a in _UNSAFE_ADVICE)).strip()
        if line:
            kept.append(line)
    return " ".join(kept)
