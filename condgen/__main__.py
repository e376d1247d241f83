"""``python -m condgen`` (and ``torchrun -m condgen``) runs the CLI."""

from condgen.cli import main

main()
