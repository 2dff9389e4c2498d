"""``python -m builder.cli`` runs the ``dlbuild`` command (used by the worker launcher and tests)."""

from builder.cli.main import main

main(prog_name="dlbuild")  # "Usage: dlbuild", and _DLBUILD_COMPLETE for shell completion
