"""The ``dlbuild`` command line: click commands, one module per group, over :mod:`builder.workflows`."""

from builder.cli.main import main

__all__ = ["main"]
