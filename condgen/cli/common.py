"""What the command modules share: printing, the report of skipped inputs, and the options several verbs take
(each a factory: a Typer option object belongs to one command)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from condgen.errors import DataError


def echo(msg: str) -> None:
    """Print a result line on stdout."""
    typer.echo(msg)


def report_skipped(failed: list[tuple[Path, str]]) -> None:
    """After a command over many files wrote the others: a DataError listing the inputs it skipped, and why."""
    if failed:
        lines = "; ".join(f"{p.name}: {msg}" for p, msg in failed[:5])
        more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
        raise DataError(f"{len(failed)} input(s) could not be read or processed and were skipped ({lines}{more}).")


# ----- options shared by the inference verbs --------------------------------------------------------
def device_option() -> Any:
    """--device of the verbs that load a run for inference."""
    return typer.Option("cpu", help="cpu, cuda, mps or auto")


def precision_option() -> Any:
    """--precision of the image verbs."""
    return typer.Option("auto", help="auto: the speed settings the run's training measured on this CPU "
                                     "(bf16/channels_last where faster), else fp32; fp32: exact; bf16")


def tile_option(help: str = "tile size for large images (default: the model's tile_size)") -> Any:
    """--tile of the image verbs."""
    return typer.Option(None, help=help)


def max_output_pixels_option() -> Any:
    """--max-output-pixels of the image verbs."""
    return typer.Option(64_000_000, "--max-output-pixels", min=0,
                        help="skip inputs whose output image would have more pixels than this "
                             "(default 64 million = 8000x8000; 0: no limit)")
