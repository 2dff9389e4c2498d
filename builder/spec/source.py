"""YAML text → plain Python values plus a table ``{spec path → position}``.

PyYAML's composer gives nodes with marks; we construct plain values ourselves so that:

* every value's position is kept beside the data (``Source.positions``);
* duplicate keys are errors (PyYAML silently keeps the last one);
* ``1e-3`` reads as the float the user meant (YAML 1.1 wants ``1.0e-3``; PyYAML returns a str);
* ``yes/no/on/off`` stay strings (YAML 1.2 core schema): only ``true``/``false`` are booleans,
  so ``padding: no`` or a class named ``on`` is never silently turned into a bool;
* ``!!python/...`` and other unknown tags are errors (a spec is data, never code);
* an alias bomb ("billion laughs") is stopped after :data:`MAX_VALUES` values.

No TensorFlow import here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from builder.errors import Diagnostic, SpecError, did_you_mean, format_path

#: Upper bound on constructed values (aliases included); real specs have a few thousand.
MAX_VALUES = 200_000
#: Upper bound on a spec file's size in bytes; real specs are a few KB.
MAX_BYTES = 2_000_000
#: Upper bound on nesting (mappings and lists inside each other); real specs nest < 15 deep.
#: Deeper documents would exhaust Python's recursion limit in PyYAML's composer.
MAX_DEPTH = 100

_FLOAT_WITHOUT_DOT = re.compile(r"^[-+]?(\d[\d_]*\.?\d*|\.\d+)[eE][-+]?\d+$")  # 1e-3, 2.5E4, .5e1
_SAFE = yaml.constructor.SafeConstructor()
_BOOL_TAG = "tag:yaml.org,2002:bool"
_STR_TAG = "tag:yaml.org,2002:str"
_KNOWN_TAGS = {
    "tag:yaml.org,2002:" + t
    for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge", "timestamp")
}


@dataclass
class Source:
    """A loaded spec document.

    Attributes:
        filename: Path as the user gave it (used verbatim in error reports).
        text: The file's text, for quoting the user's own lines.
        values: The document as plain values (dict/list/str/int/float/bool/None).
        positions: ``{path: (key_pos, value_pos)}``; each pos is ``(line, column)``, 1-based;
            ``key_pos`` is None for list items and the document root.
        overrides: ``{path: (n, "PATH=VALUE")}`` for values replaced by the n-th ``--set``;
            problems found in such a value are reported in the ``--set`` text, not the file.
    """

    filename: str
    text: str
    values: Any
    positions: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)

    @property
    def directory(self) -> FsPath:
        """Directory that relative paths in the spec resolve against."""
        return FsPath(self.filename).resolve().parent

    def position(self, path: tuple, at: str = "value") -> tuple[int, int]:
        """1-based ``(line, column)`` of ``path``; a missing path falls back to its nearest parent."""
        path = tuple(path)
        while path not in self.positions and path:
            path = path[:-1]
            at = "value"
        key_pos, value_pos = self.positions.get(path, (None, (1, 1)))
        if at == "key" and key_pos:
            return key_pos
        if key_pos and value_pos[0] > key_pos[0]:
            # A block mapping or list starts at its first entry; a problem with the whole value
            # (a missing key, a bad combination) is reported at its key: "a missing key points at
            # its parent mapping", not at an unrelated sibling.
            return key_pos
        return value_pos

    def locate(self, d: Diagnostic) -> tuple[str, int, int, str, str]:
        """Resolve a diagnostic to ``(file, line, column, message, quoted_line)``."""
        if d.origin is not None:
            return (d.origin, d.line or 0, d.column or 0, d.message, d.quote or "")
        path = tuple(d.path)
        for p in (path[:i] for i in range(len(path), 0, -1)):
            if p in self.overrides:  # the value came from --set: point into the --set text
                number, text = self.overrides[p]
                raw_path, raw_value = text.split("=", 1)
                if p == path and d.at == "key":
                    col = _column_of(raw_path, p, len(p) - 1)
                else:
                    col = len(raw_path) + 2 + len(raw_value) - len(raw_value.lstrip())
                return ("--set", number, col, d.message, text)
        if path and path not in self.positions:  # a mapping that a --set created
            for p, (number, text) in self.overrides.items():
                if p[: len(path)] == path:
                    col = _column_of(text.split("=", 1)[0], p, len(path) - 1)
                    return ("--set", number, col, d.message, text)
        if d.line is not None:
            line, col = d.line, d.column or 1
        else:
            line, col = self.position(d.path, d.at)
        lines = self.text.splitlines()
        if lines and line > len(lines):  # the end of the file: point just past its last line
            line, col = len(lines), len(lines[-1]) + 1
        quoted = lines[line - 1] if 0 < line <= len(lines) else ""
        return (self.filename, line, col, d.message, quoted.replace("\t", " "))


def _pos(mark) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1)


class _Builder:
    """Constructs plain values from a composed node tree, recording positions and problems."""

    def __init__(self) -> None:
        self.positions: dict = {}
        self.problems: list[Diagnostic] = []
        self.count = 0

    def build(self, node, path: tuple, key_pos=None):
        self.count += 1
        if self.count > MAX_VALUES:
            raise _TooBig()
        if len(path) > MAX_DEPTH:
            raise _TooDeep(node.start_mark)
        self.positions[path] = (key_pos, _pos(node.start_mark))
        if node.tag not in _KNOWN_TAGS and not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            self._tag_error(node)
            return None
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if node.tag not in _KNOWN_TAGS:
            self._tag_error(node)
            return None
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
        return self._mapping(node, path)

    def _tag_error(self, node, message: str | None = None) -> None:
        self.problems.append(
            Diagnostic(
                message or f"YAML tag '{node.tag}' is not allowed: a spec is plain data "
                "(mappings, lists, strings, numbers, true/false, null)",
                line=_pos(node.start_mark)[0],
                column=_pos(node.start_mark)[1],
            )
        )

    def _scalar(self, node):
        if node.tag == _BOOL_TAG and node.value.lower() not in ("true", "false"):
            return node.value  # YAML 1.1 'yes/no/on/off': keep the word the user wrote
        if node.tag == "tag:yaml.org,2002:timestamp":
            return node.value  # a date is just text in a spec
        if node.tag == _STR_TAG and node.style is None and _FLOAT_WITHOUT_DOT.match(node.value):
            return float(node.value.replace("_", ""))
        if node.tag in ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:merge"):
            self._tag_error(node, f"YAML tag '{node.tag}' does not fit the plain value {node.value!r}")
            return None
        try:
            return _SAFE.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError):  # '!!int abc', '!!float x'
            self._tag_error(node, f"YAML tag '{node.tag}' does not fit the value {node.value!r}")
            return None

    def _mapping(self, node, path: tuple) -> dict:
        out: dict = {}
        seen: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged = self.build(value_node, path + ("<<",))
                for src in merged if isinstance(merged, list) else [merged]:
                    if not isinstance(src, dict):
                        line, col = _pos(key_node.start_mark)
                        self.problems.append(Diagnostic(
                            "a merge key ('<<') takes an alias of a mapping (<<: *defaults) or a "
                            f"list of them; received: {src!r}", line=line, column=col))
                        break
                    for k, v in src.items():
                        out.setdefault(k, v)
                continue
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag not in _KNOWN_TAGS:
                self._tag_error(key_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(
                    Diagnostic("a mapping key must be a plain name, not a list or mapping",
                               line=_pos(key_node.start_mark)[0], column=_pos(key_node.start_mark)[1])
                )
                continue
            key = self._scalar(key_node)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                key = str(key_node.value)
            if key in seen:
                line, col = _pos(key_node.start_mark)
                self.problems.append(
                    Diagnostic(f"duplicate key '{key}' (first given at line {seen[key][0]}); "
                               "YAML would silently keep only the last one", line=line, column=col)
                )
                continue
            seen[key] = _pos(key_node.start_mark)
            out[key] = self.build(value_node, path + (key,), key_pos=_pos(key_node.start_mark))
        return out


class _TooBig(Exception):
    pass


class _TooDeep(Exception):
    def __init__(self, mark):
        super().__init__()
        self.mark = mark


def _depth_error(filename: str, text: str, mark) -> SpecError:
    line, col = _pos(mark) if mark is not None else (1, 1)
    return SpecError([Diagnostic(f"the spec nests mappings and lists more than {MAX_DEPTH} levels deep",
                                 line=line, column=col)], Source(filename, text, None))


def _first_too_deep(text: str):
    """The mark of the first token nested deeper than :data:`MAX_DEPTH` (the scanner is not
    recursive, unlike the composer), or None."""
    depth = 0
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken,
                                  yaml.BlockSequenceStartToken, yaml.BlockMappingStartToken)):
                depth += 1
                if depth > MAX_DEPTH:
                    return token.start_mark
            elif isinstance(token, (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken, yaml.BlockEndToken)):
                depth -= 1
    except yaml.YAMLError:
        pass
    return None


def _yaml_error(filename: str, text: str, exc: yaml.YAMLError) -> SpecError:
    src = Source(filename, text, None)
    if isinstance(exc, yaml.reader.ReaderError):  # a control character: no marks, a position
        head = text[: exc.position]
        line, col = head.count("\n") + 1, exc.position - (head.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return SpecError([Diagnostic(f"invalid YAML: control character U+{ord(char):04X} is not allowed "
                                     "in a spec (a corrupted or binary file?)", line=line, column=col)], src)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}"
    cmark = getattr(exc, "context_mark", None)
    if context and cmark is not None and mark is not None and cmark.line != mark.line:
        # The parser notices an unclosed bracket only on a later line: say where it opened.
        message += f" ({context} that starts at line {cmark.line + 1}, column {cmark.column + 1})"
    elif context:
        message += f" ({context})"
    if "'\\t'" in problem or "\t" in problem:
        message += "; indent with spaces, not tabs"
    line, col = (_pos(mark) if mark else (1, 1))
    return SpecError([Diagnostic(message, line=line, column=col)], src)


def loads(text: str, filename: str = "<spec>") -> Source:
    """Parse spec text into a :class:`Source`.

    Raises:
        SpecError: YAML syntax errors, duplicate keys, disallowed tags, an empty document, a
            document that is not a mapping, or one that expands past :data:`MAX_VALUES` values.
    """
    if len(text) > MAX_BYTES:
        raise SpecError([Diagnostic(f"spec is {len(text):,} characters; the limit is {MAX_BYTES:,}",
                                    line=1, column=1)], Source(filename, text, None))
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(filename, text, exc) from None
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        raise _depth_error(filename, text, _first_too_deep(text)) from None
    src = Source(filename, text, None)
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
        raise SpecError([Diagnostic("the spec is empty: expected a mapping with at least "
                                    "'data', 'model' and 'compile'", line=1, column=1)], src)
    builder = _Builder()
    try:
        values = builder.build(node, ())
    except _TooBig:
        raise SpecError([Diagnostic(f"the spec expands to more than {MAX_VALUES:,} values "
                                    "(YAML aliases nested too deeply?)", line=1, column=1)], src) from None
    except _TooDeep as exc:
        raise _depth_error(filename, text, exc.mark) from None
    src.values, src.positions = values, builder.positions
    if builder.problems:
        raise SpecError(builder.problems, src)
    if not isinstance(values, dict):
        raise SpecError([Diagnostic(f"a spec must be a mapping of sections, got a {type(values).__name__}")], src)
    return src


def load(path: str | FsPath) -> Source:
    """Read and parse the spec file at ``path`` (UTF-8).

    Raises:
        SpecError: the file is missing, unreadable or not UTF-8, or :func:`loads` rejects it.
    """
    filename = str(path)
    try:
        raw = FsPath(path).read_bytes()
    except OSError as exc:
        raise SpecError([Diagnostic(f"cannot read spec: {exc.strerror or exc}", origin=filename)]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        head = raw[: exc.start]
        line = head.count(b"\n") + 1
        # Columns count characters as the quoted line shows them, not bytes.
        col = len(head[head.rfind(b"\n") + 1:].decode("utf-8", errors="replace")) + 1
        text = raw.decode("utf-8", errors="replace")
        raise SpecError([Diagnostic(f"the spec is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); "
                                    "save it as UTF-8", line=line, column=col)],
                        Source(filename, text, None)) from None
    return loads(text.lstrip("\ufeff"), filename)


# --- --set PATH=VALUE ---------------------------------------------------------------------------

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
                bad(_missing(node, part, path[: depth + 1]), _column_of(raw_path, path, depth))
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
            bad(_missing(node, last, path), _column_of(raw_path, path, len(path) - 1))
            continue
        src.overrides[path] = (number, text)
        # Positions of the replaced value's children no longer apply.
        for p in [p for p in src.positions if p[: len(path)] == path and len(p) > len(path)]:
            del src.positions[p]
    if problems:
        raise SpecError(problems, src)


_MISSING = object()


def _column_of(raw_path: str, path: tuple, depth: int) -> int:
    """1-based column of segment ``depth`` of ``path`` inside the user's text."""
    col = 0
    for part in path[: depth + 1]:
        token = f"[{part}]" if isinstance(part, int) else str(part)
        col = raw_path.find(token, col)
        if col < 0:
            return 1
        start, col = col, col + len(token)
    return start + 1


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
