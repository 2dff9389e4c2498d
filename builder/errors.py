"""Located spec errors: one ``Diagnostic`` per problem, one ``SpecError`` per spec.

Every problem dlbuild finds in a spec is a :class:`Diagnostic` that names the *spec path* of the
offending value (``("model", "layers", 3, "dense", "unit")``) rather than a position. Positions
live beside the data in :class:`builder.spec.source.Source` and are looked up only when an error is
reported (the approach of `encode/typesystem`: keep positions out of the data model).

The report format is GNU style, which editors and CI annotators parse::

    specs/cnn.yaml:14:15: error: Dense() has no argument 'unit'; did you mean 'units'?
       14 |     - dense: {unit: 10, activation: softmax}
          |               ^

No TensorFlow import here: ``dlbuild validate`` must stay fast.
"""

from __future__ import annotations

import difflib
import errno
import os
import re
from dataclasses import dataclass, field
from typing import Iterable, Protocol, Sequence

Path = tuple  # a spec path: keys (str) and list indices (int)


def format_path(path: Sequence) -> str:
    """Render a spec path the way a user writes it in ``--set``: ``model.layers[3].dense.units``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


#: Names a did-you-mean by spelling cannot find: Keras 1/2 argument names still common in
#: tutorials, and PyTorch's (``p`` of ``nn.Dropout``) → Keras's current name.
KERAS_RENAMES = {
    "lr": "learning_rate", "nb_filter": "filters", "output_dim": "units", "init": "kernel_initializer",
    "W_regularizer": "kernel_regularizer", "b_regularizer": "bias_regularizer", "p": "rate",
    "nb_epoch": "epochs", "dim_ordering": "data_format", "border_mode": "padding",
    "subsample": "strides", "pool_length": "pool_size",
}


def _typo_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
    neighbouring letters (``adma`` → ``adam`` is 1) each cost 1."""
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def did_you_mean(name: object, candidates: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest candidate, or ``""`` when none is close.

    Matching ignores case and underscores (``batchnorm`` finds ``batch_normalization``'s
    neighbours the same way Keras names differ only by style). A candidate one or two typos away
    (:func:`_typo_distance`; one for names of three or four letters, none for shorter ones) wins, so ``adma`` finds ``adam``
    rather than ``adamax``; otherwise ``difflib``'s ratio with its default 0.6 cutoff decides.
    Names Keras renamed (``lr`` → ``learning_rate``, :data:`KERAS_RENAMES`) are suggested too.
    """
    if not isinstance(name, str):
        return ""
    cands = list(dict.fromkeys(candidates))
    if not cands:
        return ""
    if KERAS_RENAMES.get(name) in cands:
        return f"; did you mean '{KERAS_RENAMES[name]}'?"
    norm = {c.lower().replace("_", ""): c for c in cands}
    key = name.lower().replace("_", "")
    limit = 0 if len(key) < 3 else 1 if len(key) <= 4 else 2
    dist = {n: _typo_distance(key, n) for n in norm if abs(len(n) - len(key)) <= limit}
    best = min(dist.values(), default=limit + 1)
    if best <= limit:
        close = [n for n, d in dist.items() if d == best]
        pick = max(close, key=lambda n: difflib.SequenceMatcher(None, key, n).ratio())
        return f"; did you mean '{norm[pick]}'?"
    for probe, pool in ((key, list(norm)), (name, cands)):
        match = difflib.get_close_matches(probe, pool, n=1)
        if match:
            return f"; did you mean '{norm.get(match[0], match[0])}'?"
    prefixed = [c for c in cands if c.lower().startswith(key[:4])] if len(key) >= 4 else []
    return f"; did you mean '{prefixed[0]}'?" if len(prefixed) == 1 else ""


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a spec.

    Attributes:
        message: What is wrong, in Keras's voice: what was expected and what was received.
        path: Spec path of the offending value; ``()`` is the whole document.
        at: ``"value"`` points at the value, ``"key"`` at its key (unknown or duplicate keys).
        line, column: 1-based explicit position, used when no path applies (YAML syntax errors).
        origin: Where the text came from when it is not the spec file (``"--set"``).
        quote: The text to quote under the message when ``origin`` is set.
    """

    message: str
    path: Path = ()
    at: str = "value"
    line: int | None = None
    column: int | None = None
    origin: str | None = None
    quote: str | None = None


class Locator(Protocol):
    """What a :class:`SpecError` needs of the spec's text to locate its diagnostics: the file name
    and ``locate(diagnostic) -> (file, line, column, message, quoted_line)``. Implemented by
    :class:`builder.spec.source.Source` (declared here, below the spec layer, as a protocol)."""

    filename: str

    def locate(self, d: "Diagnostic") -> tuple[str, int, int, str, str]: ...


class DlbuildError(Exception):
    """The base of every error dlbuild reports to a person without a traceback.

    Like click's ``ClickException.exit_code``, the class says how the process ends, so the CLI
    needs no list of feature modules' exception types (``builder.cli.report.handle_errors``).

    Attributes:
        exit_code: The process exit status: 2 for a mistake in the spec or on the command line,
            1 for a runtime failure (docs/architecture.md, "CLI contract and exit codes").
    """

    exit_code = 1

    def report(self) -> str:
        """The text printed to stderr: one ``dlbuild: error: …`` line unless a subclass says more."""
        return f"dlbuild: error: {self}"


class SpecError(DlbuildError):
    """A spec (or a ``--set`` override) has one or more problems.

    Raised with *all* problems found, so the user fixes them in one pass. ``str(err)`` is the full
    located report; the CLI prints it and exits with code 2.
    """

    exit_code = 2

    def __init__(self, diagnostics: Diagnostic | Iterable[Diagnostic], source: "Locator | None" = None):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        self.source = source
        super().__init__(self.format())

    def with_source(self, source: "Locator") -> "SpecError":
        """Return the same error bound to ``source`` (for locating paths), unless already bound."""
        return self if self.source is not None else SpecError(self.diagnostics, source)

    def located(self) -> list[tuple[str, int, int, str, str]]:
        """Return ``(file, line, column, message, quoted_line)`` per diagnostic, sorted by position."""
        rows = []
        for d in self.diagnostics:
            if self.source is not None:
                rows.append(self.source.locate(d))
            else:
                rows.append((d.origin or "<spec>", d.line or 0, d.column or 0, d.message, d.quote or ""))
        # A block used twice reports a problem of its body twice: keep one.
        rows = list(dict.fromkeys(rows))
        # Stable sort: problems of one line keep the order in which they were found.
        return sorted(rows, key=lambda r: (r[0] != (self.source.filename if self.source else ""), r[1], r[2]))

    def report(self) -> str:
        """The located report (:meth:`format`)."""
        return self.format()

    def format(self) -> str:
        """The full report: a count header, then one GNU-style entry per problem with a caret."""
        rows = self.located()
        name = self.source.filename if self.source is not None else "spec"
        n = len(rows)
        out = [f"{name}: {n} error{'s' if n != 1 else ''}"] if n > 1 else []
        for file, line, col, msg, quoted in rows:
            out.append(f"{file}:{line}:{col}: error: {msg}" if line else f"{file}: error: {msg}")
            if quoted:
                gutter = f"{line:>5} | "
                out.append(gutter + quoted)
                out.append(" " * (len(gutter) - 2) + "| " + " " * max(col - 1, 0) + "^")
        return "\n".join(out)


@dataclass
class Collector:
    """Accumulates diagnostics during a pass so that every problem is reported at once."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, message: str, path: Path = (), at: str = "value") -> None:
        """Record a problem at ``path`` (see :class:`Diagnostic`)."""
        self.diagnostics.append(Diagnostic(message, tuple(path), at))

    def extend(self, err: SpecError) -> None:
        """Absorb the diagnostics of a nested pass."""
        self.diagnostics.extend(err.diagnostics)

    def raise_if_any(self, source: "Locator | None" = None) -> None:
        """Raise :class:`SpecError` with everything collected, if anything was."""
        if self.diagnostics:
            raise SpecError(self.diagnostics, source)


class TrainingError(DlbuildError, RuntimeError):
    """Training could not go on (e.g. the loss became NaN); the message says what to try.
    The CLI prints it and exits with code 1."""


# errno values that mean "the disk (or the user's quota, or the file-size limit) is full".
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def runtime_cause(type_name: str, message: str, err_no: int | None = None,
                  filename: str | None = None) -> str:
    """One line saying why a run failed at run time, from an exception's type name and message.

    TensorFlow puts the informative line after its op trace, so the cause is the last line that
    is not a node trace (``[[{{node …}}]]``) or a source location, cut to 300 characters.
    Out-of-memory (``MemoryError``, TensorFlow's ``ResourceExhaustedError``) reads
    ``out of memory: …``; a full disk or file-size limit (``ENOSPC``, ``EDQUOT``, ``EFBIG``)
    reads ``no space left while writing FILE (…)``; anything else ``TypeName: cause``.

    Args:
        type_name: the exception class name, e.g. ``"InvalidArgumentError"``.
        message: ``str(exception)`` (may span many lines).
        err_no: ``OSError.errno``, when there is one.
        filename: ``OSError.filename``, when there is one.
    """
    lines = [ln.strip() for ln in message.splitlines()]
    useful = [ln for ln in lines if ln and not ln.startswith(("[[", "File ", "Detected at node",
                                                              "Graph execution error", "(most recent"))]
    cause = useful[-1] if useful else (lines[0] if lines and lines[0] else "(no message)")
    cause = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", cause.split("[Op:")[0]).strip()
    cause = cause if len(cause) <= 300 else cause[:297] + "..."
    if type_name in ("MemoryError", "ResourceExhaustedError"):
        return f"out of memory: {cause}"
    if err_no in NO_SPACE_ERRNOS:
        # h5py (Keras weights files) puts the file name in its message, not in OSError.filename.
        name = filename or next(iter(re.findall(r"filename = '([^']+)'", message)), None)
        return f"no space left{f' while writing {name}' if name else ''} ({os.strerror(err_no)})"
    return f"{type_name}: {cause}"


def trial_failure(traceback_text: str) -> str:
    """:func:`runtime_cause` for a failed Keras Tuner trial, whose message is a formatted
    traceback (``traceback.format_exc()``): the last ``module.TypeName: message`` section."""
    found = list(re.finditer(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception|Exit)): ", traceback_text, re.M))
    if not found:
        lines = traceback_text.strip().splitlines()
        return lines[-1][:300] if lines else ""
    last = found[-1]
    err_no = re.match(r"\[Errno (\d+)\]", traceback_text[last.end():])
    return runtime_cause(last.group(1), traceback_text[last.end():], int(err_no.group(1)) if err_no else None)
