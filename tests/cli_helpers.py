"""Run the condgen CLI in-process and capture its exit code and output."""

from __future__ import annotations

import sys

import pytest

from condgen.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``condgen ARGS``."""
    old = sys.argv
    sys.argv = ["condgen", *map(str, args)]
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out, out.err


__all__ = ["run_cli", "pytest"]
