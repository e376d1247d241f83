"""``python -m condgen.cli`` runs the CLI, as ``python -m condgen`` does."""

from condgen.cli import main

main()
