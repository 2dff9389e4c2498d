"""What every ``dlbuild`` command shares: turning errors into exit codes, without a traceback.

Exit codes: 2 for a spec or usage mistake (a :class:`SpecError`, located), 1 for a runtime
failure (a run directory that cannot be used, a failed export check, a missing input file, an
error raised inside Keras or TensorFlow), 130 for Ctrl-C. Nothing here imports TensorFlow.

An unexpected runtime error is printed as one ``dlbuild: error:`` line with its cause; the full
traceback goes to a file (its path is printed), or to stderr when ``DLBUILD_TRACEBACK=1``.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import traceback
from functools import wraps

import click

from builder.errors import DlbuildError, runtime_cause


# GNU diagnostics colours (GCC_COLORS' defaults): location bold, error red, warning magenta,
# caret green. click.echo drops the escape codes when the stream is not a terminal.
_DIAGNOSTIC = re.compile(r"^(?P<loc>\S+?:(?:\d+:\d+:)? )?(?P<kind>error|warning):", re.M)
_CARET = re.compile(r"^(?P<gutter>\s*\| *)\^$", re.M)
_STYLE = {"error": {"fg": "red", "bold": True}, "warning": {"fg": "magenta", "bold": True}}


def paint(text: str) -> str:
    """``text`` with GNU-style diagnostics coloured (``file:line:col: error: …``, carets)."""
    text = _DIAGNOSTIC.sub(lambda m: click.style(m["loc"] or "", bold=True)
                           + click.style(m["kind"] + ":", **_STYLE[m["kind"]]), text)
    return _CARET.sub(lambda m: m["gutter"] + click.style("^", fg="green", bold=True), text)


def echo_diagnostics(text: str, err: bool = True) -> None:
    """Print diagnostics, coloured on a terminal only; ``NO_COLOR`` (https://no-color.org) turns
    colour off."""
    click.echo(paint(text), err=err, color=False if os.environ.get("NO_COLOR") else None)


def fail(message: str, code: int) -> None:
    """Print ``message`` to stderr (coloured on a terminal) and exit with ``code``."""
    echo_diagnostics(message)
    sys.exit(code)


def handle_errors(fn):
    """Decorator for command bodies: a :class:`~builder.errors.DlbuildError` → its
    ``report()``, exit with its ``exit_code`` (a SpecError's located report, exit 2; a failed
    export's one line per artifact, exit 1; …); FileNotFoundError → ``dlbuild: error: …``,
    exit 1; TensorFlow not installed → the install commands (:func:`builder.install.tensorflow_missing`),
    exit 1; Ctrl-C → exit 130; anything else → :func:`runtime_failure`, exit 1."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DlbuildError as err:
            fail(err.report(), err.exit_code)
        except FileNotFoundError as err:
            fail(f"dlbuild: error: {err}", 1)
        except KeyboardInterrupt:
            fail("dlbuild: interrupted; rerun with --resume (fit) or the same --out (tune) to continue", 130)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: usage errors exit 2 with click's message
        except Exception as err:  # inside Keras/TensorFlow: a short cause, the traceback kept aside
            if isinstance(err, ModuleNotFoundError) and (err.name or "").split(".")[0] == "tensorflow":
                from builder.install import tensorflow_missing

                fail(f"dlbuild: error: {tensorflow_missing()}", 1)
            if os.environ.get("DLBUILD_TRACEBACK") == "1":
                raise
            fail(runtime_failure(err), 1)

    return wrapper


def runtime_failure(err: BaseException) -> str:
    """The message for an unexpected runtime error: the cause (:func:`~builder.errors.runtime_cause`),
    advice for out-of-memory and a full disk, and the path of a file in the temporary directory
    that holds the full traceback."""
    cause = runtime_cause(type(err).__name__, str(err), getattr(err, "errno", None),
                          getattr(err, "filename", None))
    if cause.startswith("out of memory"):
        text = (f"{cause}\n  The model or batch does not fit: lower fit.batch_size, shrink the model, "
                "or free memory; fit --resume continues from the last finished epoch.")
    elif cause.startswith("no space left"):
        text = (f"{cause}\n  Free disk space (or raise the quota), then rerun with --resume: "
                "finished epochs and artifacts are kept intact.")
    else:
        text = cause
    try:
        fd, path = tempfile.mkstemp(prefix="dlbuild-traceback-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            f.write("".join(traceback.format_exception(err)))
        text += f"\n  Full traceback: {path} (or set DLBUILD_TRACEBACK=1 to print it)"
    except OSError:  # the disk may be the problem: the one-line cause is what matters
        pass
    return f"dlbuild: error: {text}"
