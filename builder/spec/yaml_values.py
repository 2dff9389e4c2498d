"""A composed PyYAML node tree → plain values plus ``{spec path → position}``: the spec's YAML dialect.

PyYAML's composer gives nodes with marks; :func:`build` constructs plain values itself so that:

* every value's position is kept beside the data (1-based ``(line, column)`` per path);
* duplicate keys are errors (PyYAML silently keeps the last one);
* ``1e-3`` reads as the float the user meant (YAML 1.1 wants ``1.0e-3``; PyYAML returns a str);
* ``yes/no/on/off`` stay strings (YAML 1.2 core schema): only ``true``/``false`` are booleans,
  so ``padding: no`` or a class named ``on`` is never silently turned into a bool;
* ``!!python/...`` and other unknown tags are errors (a spec is data, never code);
* an alias bomb ("billion laughs") is stopped after :data:`MAX_VALUES` values.

Problems come back as :class:`~builder.errors.Diagnostic` values with a line and column;
:mod:`builder.spec.source` wraps them into one :class:`~builder.errors.SpecError`. No TensorFlow.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from builder.errors import Diagnostic

#: Upper bound on constructed values (aliases included); real specs have a few thousand.
MAX_VALUES = 200_000
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


def position_of(mark) -> tuple[int, int]:
    """A PyYAML mark (0-based) as a 1-based ``(line, column)``."""
    return (mark.line + 1, mark.column + 1)


def build(node) -> tuple[Any, dict, list[Diagnostic]]:
    """``(values, positions, problems)`` of a composed document ``node``.

    ``positions`` maps each spec path (a tuple of keys and list indices) to ``(key_pos,
    value_pos)``, each a 1-based ``(line, column)``; ``key_pos`` is None for list items and the root.

    Raises:
        TooBig: more than :data:`MAX_VALUES` values (aliases count each time they are used).
        TooDeep: nesting deeper than :data:`MAX_DEPTH`.
    """
    builder = _Builder()
    values = builder.build(node, ())
    return values, builder.positions, builder.problems


class _Builder:
    """Constructs plain values from a composed node tree, recording positions and problems."""

    def __init__(self) -> None:
        self.positions: dict = {}
        self.problems: list[Diagnostic] = []
        self.count = 0

    def build(self, node, path: tuple, key_pos=None):
        self.count += 1
        if self.count > MAX_VALUES:
            raise TooBig()
        if len(path) > MAX_DEPTH:
            raise TooDeep(node.start_mark)
        self.positions[path] = (key_pos, position_of(node.start_mark))
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
                line=position_of(node.start_mark)[0],
                column=position_of(node.start_mark)[1],
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
                        line, col = position_of(key_node.start_mark)
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
                               line=position_of(key_node.start_mark)[0], column=position_of(key_node.start_mark)[1])
                )
                continue
            key = self._scalar(key_node)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                key = str(key_node.value)
            if key in seen:
                line, col = position_of(key_node.start_mark)
                self.problems.append(
                    Diagnostic(f"duplicate key '{key}' (first given at line {seen[key][0]}); "
                               "YAML would silently keep only the last one", line=line, column=col)
                )
                continue
            seen[key] = position_of(key_node.start_mark)
            out[key] = self.build(value_node, path + (key,), key_pos=position_of(key_node.start_mark))
        return out


class TooBig(Exception):
    """The document expands past :data:`MAX_VALUES` values (raised by :func:`build`)."""


class TooDeep(Exception):
    """The document nests past :data:`MAX_DEPTH` levels; ``mark`` is where (raised by :func:`build`)."""

    def __init__(self, mark):
        super().__init__()
        self.mark = mark


def depth_error(mark) -> Diagnostic:
    """The diagnostic for a document nested past :data:`MAX_DEPTH`, at ``mark`` (or 1:1)."""
    line, col = position_of(mark) if mark is not None else (1, 1)
    return Diagnostic(f"the spec nests mappings and lists more than {MAX_DEPTH} levels deep",
                      line=line, column=col)


def first_too_deep(text: str):
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


def yaml_error(text: str, exc: yaml.YAMLError) -> Diagnostic:
    """A PyYAML error on ``text`` as one located diagnostic (``invalid YAML: …``, 1-based line and
    column), saying where an unclosed bracket opened and that tabs do not indent."""
    if isinstance(exc, yaml.reader.ReaderError):  # a control character: no marks, a position
        head = text[: exc.position]
        line, col = head.count("\n") + 1, exc.position - (head.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return Diagnostic(f"invalid YAML: control character U+{ord(char):04X} is not allowed "
                          "in a spec (a corrupted or binary file?)", line=line, column=col)
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
    line, col = (position_of(mark) if mark else (1, 1))
    return Diagnostic(message, line=line, column=col)
