"""A spec file (or text) → a :class:`Source`: plain Python values plus a table ``{spec path → position}``.

:func:`load` reads the file (UTF-8, at most :data:`MAX_BYTES`), :func:`loads` parses the text
with the spec's YAML dialect (:mod:`builder.spec.yaml_values`: positions kept, duplicate keys
and code tags refused, ``1e-3`` a float, ``yes``/``no`` words). A :class:`Source` turns a
diagnostic's spec path into ``file:line:col`` and the quoted line (:meth:`Source.locate`),
pointing into the ``--set`` text for values that :mod:`builder.spec.overrides` replaced.
Every problem is raised as one :class:`~builder.errors.SpecError`. No TensorFlow.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from builder.errors import Diagnostic, SpecError
from builder.spec import yaml_values
from builder.spec.yaml_values import MAX_VALUES

#: Upper bound on a spec file's size in bytes; real specs are a few KB.
MAX_BYTES = 2_000_000


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
                    col = column_of(raw_path, p, len(p) - 1)
                else:
                    col = len(raw_path) + 2 + len(raw_value) - len(raw_value.lstrip())
                return ("--set", number, col, d.message, text)
        if path and path not in self.positions:  # a mapping that a --set created
            for p, (number, text) in self.overrides.items():
                if p[: len(path)] == path:
                    col = column_of(text.split("=", 1)[0], p, len(path) - 1)
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


def column_of(raw_path: str, path: tuple, depth: int) -> int:
    """1-based column of segment ``depth`` of ``path`` inside the user's ``--set`` PATH text ``raw_path``."""
    col = 0
    for part in path[: depth + 1]:
        token = f"[{part}]" if isinstance(part, int) else str(part)
        col = raw_path.find(token, col)
        if col < 0:
            return 1
        start, col = col, col + len(token)
    return start + 1


def loads(text: str, filename: str = "<spec>") -> Source:
    """Parse spec text into a :class:`Source`.

    Raises:
        SpecError: YAML syntax errors, duplicate keys, disallowed tags, an empty document, a
            document that is not a mapping, or one that expands past :data:`MAX_VALUES` values.
    """
    src = Source(filename, text, None)
    if len(text) > MAX_BYTES:
        raise SpecError([Diagnostic(f"spec is {len(text):,} characters; the limit is {MAX_BYTES:,}",
                                    line=1, column=1)], src)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise SpecError([yaml_values.yaml_error(text, exc)], src) from None
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        raise SpecError([yaml_values.depth_error(yaml_values.first_too_deep(text))], src) from None
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
        raise SpecError([Diagnostic("the spec is empty: expected a mapping with at least "
                                    "'data', 'model' and 'compile'", line=1, column=1)], src)
    try:
        values, positions, problems = yaml_values.build(node)
    except yaml_values.TooBig:
        raise SpecError([Diagnostic(f"the spec expands to more than {MAX_VALUES:,} values "
                                    "(YAML aliases nested too deeply?)", line=1, column=1)], src) from None
    except yaml_values.TooDeep as exc:
        raise SpecError([yaml_values.depth_error(exc.mark)], src) from None
    src.values, src.positions = values, positions
    if problems:
        raise SpecError(problems, src)
    if not isinstance(values, dict):
        raise SpecError([Diagnostic(f"a spec must be a mapping of sections, got a {type(values).__name__}")], src)
    return src


def load(path: str | FsPath) -> Source:
    """Read and parse the spec file at ``path`` (UTF-8).

    Raises:
        SpecError: the file is missing, unreadable, not a regular file (a FIFO, a device, a
            directory), over :data:`MAX_BYTES` (reading stops there), not UTF-8, or :func:`loads`
            rejects it.
    """
    filename = str(path)
    try:
        # a FIFO would block the read forever and a device (/dev/zero) never ends: only a regular
        # file is read, and never more than the cap
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
            raise SpecError([Diagnostic(f"cannot read spec: it is {kind}; a spec is a YAML file", origin=filename)])
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SpecError([Diagnostic(f"cannot read spec: {exc.strerror or exc}", origin=filename)]) from None
    if len(raw) > MAX_BYTES:
        raise SpecError([Diagnostic(f"spec is over {MAX_BYTES:,} bytes, the limit (reading stopped there)",
                                    line=1, column=1)],
                        Source(filename, raw[:MAX_BYTES].decode("utf-8", errors="replace"), None))
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
