"""Where commands write: never over one of their own inputs or over a run's checkpoints and config, and never two
outputs under one name.

Outputs named after their inputs (``translate``, ``upscale``, ``stylize``: ``STEM.png``) that would collide get
distinct names in input order: the first keeps ``STEM.png``, the next ``STEM-1.png``, then ``STEM-2.png``, ...
(so ``photo.png`` and ``photo.jpg`` give ``photo.png`` and ``photo-1.png``); a file given twice (itself and through
its folder, or a link to it) is one input. An output that would replace one of the inputs (``--out`` the input
folder, or a link to it; a hard link) is refused before anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from condgen.errors import ConfigError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file (links followed), None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def run_of(path: str | Path) -> Path | None:
    """The run folder whose checkpoint or config ``path`` is (links followed), or None."""
    p = Path(os.path.realpath(path))
    if p.parent.name == "checkpoints" and (p.parent.parent / "config.yaml").is_file():
        return p.parent.parent
    if p.name == "config.yaml" and (p.parent / "checkpoints").is_dir():
        return p.parent
    return None


def check_output_file(out: str | Path, inputs: Iterable[str | Path] = (), flag: str = "--out") -> Path:
    """``out`` as a file to write: not an existing folder, not one of ``inputs`` (by identity: links and other
    spellings count), not a run's checkpoint or config.yaml. A ConfigError otherwise."""
    out = Path(out)
    run = run_of(out)
    if run is not None:
        raise ConfigError(f"{flag} {out} is a file of the run {run} (its checkpoints or config.yaml); condgen never "
                          f"writes over a run's files. Choose another file name.")
    if out.is_dir():
        raise ConfigError(f"{flag} {out} is a folder; give a file name, e.g. {out / 'out.png'}.")
    me = _identity(out)
    for given in inputs:
        if me is not None and _identity(Path(given)) == me:
            raise ConfigError(f"{flag} {out} is the input {given}; condgen never writes over its inputs. Choose "
                              f"another file name.")
    return out


def check_output_folder(out: str | Path, flag: str = "--out") -> Path:
    """``out`` as a folder to write into (created when missing): a ConfigError when it is an existing file."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{flag} {out} is an existing file, not a folder; give a folder (it is created when "
                          f"missing).")
    return out


def check_image_name(out: str | Path, flag: str = "--out") -> Path:
    """``out`` as an image file name PIL can write (by its extension)."""
    out = check_output_file(out, flag=flag)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        example = out.with_suffix(".png") if out.suffix else out.with_name(f"{out.name}.png")
        raise ConfigError(f"{flag} {out} has no image extension; give a file name ending in "
                          f"{', '.join(IMAGE_SUFFIXES)}, e.g. {example}.")
    return out


def unique_files(files: list[Path]) -> list[Path]:
    """``files`` without repeats of the same file (by identity: another spelling or a link is a repeat), in order."""
    seen: set = set()
    out = []
    for f in files:
        key = _identity(f) or os.path.realpath(f)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def plan_outputs(inputs: list[Path], out_dir: Path, names: Callable[[str], list[str]],
                 protect: Iterable[Path] = ()) -> dict[Path, list[Path]]:
    """The output files of each input (each file once: see ``unique_files``), written into ``out_dir``:
    ``names(stem)`` gives an input's file names (e.g. ``[stem + ".png"]``); a stem whose names another input
    already took becomes ``stem-1``, ``stem-2``, ... Refuses (ConfigError, before anything is written) when an
    output would replace one of the ``inputs`` or the files in ``protect``, or a run's file."""
    taken: set[str] = set()
    plan: dict[Path, list[Path]] = {}
    for p in inputs:
        stem, k = p.stem, 0
        while any(n.lower() in taken for n in names(stem)):
            k += 1
            stem = f"{p.stem}-{k}"
        files = names(stem)
        taken.update(n.lower() for n in files)
        plan[p] = [out_dir / n for n in files]
    sources = {i: p for p in [*inputs, *protect] if (i := _identity(p)) is not None}
    for targets in plan.values():
        for t in targets:
            hit = sources.get(_identity(t)) if t.exists() else None
            if hit is not None:
                raise ConfigError(f"the output {t} would replace the input {hit}; condgen never writes over its "
                                  f"inputs. Give another --out folder.")
            run = run_of(t)
            if run is not None:
                raise ConfigError(f"the output {t} would replace a file of the run {run}. Give another --out folder.")
    return plan


__all__ = ["IMAGE_SUFFIXES", "check_image_name", "check_output_file", "check_output_folder", "plan_outputs",
           "run_of", "unique_files"]
