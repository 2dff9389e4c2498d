"""What every ``dlbuild`` command shares: turning errors into exit codes, without a traceback.

Exit codes: 2 for a spec or usage mistake (a :class:`SpecError`, located), 1 for a runtime
failure (a run directory that cannot be used, a failed export check, a missing input file),
130 for Ctrl-C. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import sys
from functools import wraps

import click

from builder.errors import SpecError, TrainingError


def fail(message: str, code: int) -> None:
    """Print ``message`` to stderr and exit with ``code``."""
    click.echo(message, err=True)
    sys.exit(code)


def handle_errors(fn):
    """Decorator for command bodies: SpecError → its report, exit 2; ExportError → one
    ``dlbuild: error: ARTIFACT: CHECK`` line per failed artifact, exit 1; RunDirError,
    PredictError, FileNotFoundError → ``dlbuild: error: …``, exit 1; Ctrl-C → exit 130."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        from builder.export import ExportError
        from builder.predict import PredictError
        from builder.rundir import RunDirError

        try:
            return fn(*args, **kwargs)
        except SpecError as err:
            fail(err.format(), 2)
        except ExportError as err:
            fail("\n".join(f"dlbuild: error: {a}: {r}" for a, r in err.failed) or f"dlbuild: error: {err}", 1)
        except (RunDirError, PredictError, FileNotFoundError, TrainingError) as err:
            fail(f"dlbuild: error: {err}", 1)
        except KeyboardInterrupt:
            fail("dlbuild: interrupted; rerun with --resume (fit) or the same --out (tune) to continue", 130)

    return wrapper
