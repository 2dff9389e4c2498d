"""``--set PATH=VALUE`` overrides, applied to a loaded :class:`~builder.spec.source.Source` in place.

PATH is ``compile.optimizer.adam.learning_rate`` or ``model.layers[3].dense.units``; VALUE is
read as YAML (so ``3e-4`` is a float, ``[32, 64]`` a list). Each replaced path is recorded in
``Source.overrides`` with the ``--set`` text, so a problem later found in that value is reported
as ``--set:N:COL`` in the user's own text rather than in the file. No TensorFlow.
"""

from __future__ import annotations

import re

from builder.errors import Diagnostic, SpecError, did_you_mean, format_path
from builder.spec.source import Source, column_of, loads

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_set_path(text: str) -> tuple:
    """Parse ``compile.optimizer.adam.learning_rate`` or ``model.layers[3].dense.units``.

    Raises:
        ValueError: the path is empty or malformed.
    """
    parts, pos = [], 0
    while pos < len(text):
        if text[pos] == ".":
            pos += 1
            continue
        m = _SEGMENT.match(text, pos)
        if not m:
            raise ValueError(f"unexpected '{text[pos]}' at character {pos + 1}", pos)
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if not parts:
        raise ValueError("empty path")
    return tuple(parts)


def apply_overrides(src: Source, assignments: list[str]) -> None:
    """Apply ``--set PATH=VALUE`` assignments to ``src.values`` in place.

    VALUE is read as YAML (so ``3e-4`` is a float, ``[32, 64]`` a list, ``{adam: {}}`` a mapping).
    Every intermediate key of PATH must exist; the last may be new in an existing mapping.

    Raises:
        SpecError: all malformed assignments and non-existent paths, each quoted with a caret.
    """
    problems = []
    for number, text in enumerate(assignments, 1):
        def bad(message: str, col: int = 1, number=number, text=text) -> None:
            # Reported as "--set:N:COL": the N-th --set on the command line, column in its text.
            problems.append(Diagnostic(message, origin="--set", line=number, column=col, quote=text))

        if "=" not in text:
            bad("expected PATH=VALUE, e.g. --set fit.epochs=3")
            continue
        raw_path, raw_value = text.split("=", 1)
        try:
            path = parse_set_path(raw_path.strip())
        except ValueError as exc:
            indent = len(raw_path) - len(raw_path.lstrip())
            bad(f"bad path: {exc.args[0]}", indent + 1 + (exc.args[1] if len(exc.args) > 1 else 0))
            continue
        try:
            value = loads(f"v: {raw_value}", "--set").values["v"] if raw_value.strip() else None
        except SpecError as exc:
            bad(f"bad value: {exc.diagnostics[0].message}", len(raw_path) + 2)
            continue
        node, ok = src.values, True
        for depth, part in enumerate(path[:-1]):
            nxt = _child(node, part)
            if isinstance(node, dict) and not isinstance(part, int) and (nxt is None or (
                    nxt is _MISSING and depth == 0 and not did_you_mean(part, map(str, node)))):
                # Sections are optional ('--set fit.epochs=3' on a spec without 'fit:'), and an
                # empty 'fit:' is null: start an empty mapping. (A near miss of a section the
                # spec has is reported below; any other unknown section by the spec check.)
                nxt = node[part] = {}
            if nxt is _MISSING:
                bad(_missing(node, part, path[: depth + 1]), column_of(raw_path, path, depth))
                ok = False
                break
            node = nxt
        if not ok:
            continue
        last = path[-1]
        if isinstance(node, dict) and not isinstance(last, int):
            node[last] = value
        elif isinstance(node, list) and isinstance(last, int) and last < len(node):
            node[last] = value
        else:
            bad(_missing(node, last, path), column_of(raw_path, path, len(path) - 1))
            continue
        src.overrides[path] = (number, text)
        # Positions of the replaced value's children no longer apply.
        for p in [p for p in src.positions if p[: len(path)] == path and len(p) > len(path)]:
            del src.positions[p]
    if problems:
        raise SpecError(problems, src)


_MISSING = object()


def _child(node, part):
    if isinstance(node, dict) and not isinstance(part, int):
        return node.get(part, _MISSING)
    if isinstance(node, list) and isinstance(part, int):
        return node[part] if part < len(node) else _MISSING
    return _MISSING


def _missing(node, part, path) -> str:
    where = format_path(path)
    if isinstance(node, dict):
        return f"'{where}' does not exist in the spec" + did_you_mean(str(part), [str(k) for k in node])
    if isinstance(node, list):
        return f"'{where}' does not exist: the list has {len(node)} item(s)"
    return f"'{where}' does not exist: its parent is a {type(node).__name__}, not a mapping or list"
