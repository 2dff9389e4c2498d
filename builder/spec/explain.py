"""``dlbuild explain NAME``: what a name means in a spec, read from the code itself.

A name may be any Keras layer, activation, initializer, regularizer, constraint, optimizer,
learning-rate schedule, loss, metric or callback (matched like specs match them: case and
underscores ignored, Keras's aliases such as ``mse`` included), a spec section or section key
(``fit``, ``fit.batch_size``), or a block defined in a spec (``--spec SPEC``). One name may have
several meanings (``relu`` is an activation and the ``ReLU`` layer; ``mse`` a loss and a metric):
each is shown.

For Keras objects the text shows the Keras name and module, how a spec spells it (snake_case), the
accepted arguments with their defaults (required ones marked), the first positional argument (the
``{name: scalar}`` form) and the full docstring, imported lazily from Keras; the catalog's
one-line summary stands in where the import fails. Unknown names raise
:class:`UnknownName` with a did-you-mean (the CLI exits 2).
"""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path
from typing import Any

from builder.errors import did_you_mean
from builder.catalog.registry import DENIED, Catalog, Entry, catalog, snake_case


class UnknownName(Exception):
    """No kind knows the name; ``str(err)`` carries the did-you-mean."""


def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) and value.startswith("<") else str(value)


#: Names whose Keras snake_case splits an acronym oddly and no rule below catches.
_SPELLINGS = {"RMSprop": "rmsprop"}
_WORDS = {"on", "of", "to", "in", "at", "by"}  # short English words, not acronym pieces


def spelling(entry: Entry) -> str:
    """How a spec usually writes ``entry``: Keras's snake_case for classes, with acronyms that
    snake_case splits joined again (adjacent parts of at most two letters, a one-letter last part:
    ``leaky_re_lu`` → ``leaky_relu``, ``mean_io_u`` → ``mean_iou``, ``adam_w`` → ``adamw``); the
    function's own name for functions. Every spelling that normalises to the same key is accepted
    (:func:`builder.catalog.registry.normalize`), so this is only the one shown."""
    if not entry.is_class:
        return entry.name
    if entry.name in _SPELLINGS:
        return _SPELLINGS[entry.name]
    parts = snake_case(entry.name).split("_")
    out: list[str] = []
    prev_short = False
    for i, part in enumerate(parts):
        short = len(part) <= 2 and part.isalpha() and part not in _WORDS
        last_letter = i == len(parts) - 1 and len(part) == 1 and i > 0
        if out and ((short and prev_short) or last_letter):
            out[-1] += part
        else:
            out.append(part)
        prev_short = short
    return "_".join(out)


def _docstring(entry: Entry) -> str:
    """The object's full docstring, imported from Keras (or dlbuild); the catalog's summary if the
    import fails."""
    try:
        return inspect.getdoc(entry.load()) or entry.doc
    except Exception:  # noqa: BLE001  (a missing optional backend must not break explain)
        return entry.doc


def explain_entry(entry: Entry, with_doc: bool = True) -> str:
    """The text block for one catalog entry."""
    kind = entry.kind if entry.kind != "schedule" else "learning-rate schedule"
    lines = [f"{entry.name} ({kind}; {entry.module}.{entry.name})"]
    if entry.name in DENIED:
        lines.append(f"  not allowed in a spec: {DENIED[entry.name]}")
    lines.append(f"  in a spec: {spelling(entry)}")
    if entry.positional:
        lines.append(f"  scalar form: {{{spelling(entry)}: VALUE}} sets '{entry.positional}'")
    if entry.args:
        width = max(len(a) for a in entry.args)
        lines.append("  arguments:")
        for a in entry.args:
            if a in entry.required:
                lines.append(f"    {a.ljust(width)}  (required)")
            else:
                lines.append(f"    {a.ljust(width)}  = {_fmt(entry.defaults.get(a))}")
    elif entry.is_class:
        lines.append("  arguments: none")
    if not entry.is_class:
        lines.append("  a function: named bare in a spec, with its default arguments"
                     + (" (for other values use its layer or class, if Keras has one)" if entry.args else ""))
    if with_doc:
        doc = _docstring(entry)
        if doc:
            lines.append("")
            lines.append(textwrap.indent(doc, "  "))
    return "\n".join(lines)


def _section_matches(name: str) -> list[str]:
    """Spec sections (``fit``) or section keys (``fit.epochs`` or a bare key that only one section has)."""
    from builder.spec.sections import REQUIRED, SECTIONS

    out = []
    section, _, key = name.partition(".")
    fields = SECTIONS.get(section)
    if fields and not key:
        lines = [f"{section} (spec section)", "  keys:"]
        width = max(len(k) for k in fields)
        for k, f in fields.items():
            default = "(required)" if f.default is REQUIRED else f"= {_fmt(f.default)}"
            lines.append(f"    {k.ljust(width)}  {default}  {f.doc}".rstrip())
        out.append("\n".join(lines))
    elif fields and key in fields:
        f = fields[key]
        types = " or ".join(t.__name__ for t in f.types)
        default = "(required)" if f.default is REQUIRED else _fmt(f.default)
        text = [f"{section}.{key} (spec key)", f"  type: {types}", f"  default: {default}"]
        if f.choices:
            text.append(f"  one of: {', '.join(f.choices)}")
        if f.doc:
            text.append(f"  {f.doc}")
        out.append("\n".join(text))
    return out


def _block_matches(name: str, spec_path: str | None) -> list[str]:
    """A block named ``name`` in the spec at ``spec_path``: parameters, inputs, output, layers."""
    if not spec_path:
        return []
    from builder.spec.source import load

    src = load(spec_path)
    blocks = (src.values.get("model") or {}).get("blocks") if isinstance(src.values, dict) else None
    if not isinstance(blocks, dict) or name not in blocks or not isinstance(blocks[name], dict):
        return []
    body = blocks[name]
    line = src.position(("model", "blocks", name), "key")[0]
    text = [f"{name} (block defined at {spec_path}:{line})"]
    if body.get("doc"):
        text.append(f"  {body['doc']}")
    params = body.get("params") or {}
    if params:
        text.append("  parameters (use them as $name inside the block):")
        width = max(len(str(k)) for k in params)
        text += [f"    {str(k).ljust(width)}  = {_fmt(v)}" for k, v in params.items()]
    ins = body.get("inputs", ["input"])
    text.append(f"  inputs: {', '.join(ins) if isinstance(ins, list) else ins}")
    text.append(f"  output: {body.get('output') or 'its last item'}")
    layers = body.get("layers") or []
    text.append("  layers:")
    for i, item in enumerate(layers):
        lname = item if isinstance(item, str) else next(
            (k for k in item if k not in ("name", "inputs", "repeat", "call")), "?") if isinstance(item, dict) else "?"
        iline = src.position(("model", "blocks", name, "layers", i))[0]
        text.append(f"    {iline:>4} | {lname}")
    first = next(iter(params), None)
    text.append(f"  use: - {name}: {{{', '.join(f'{k}: ...' for k in params)}}}" if params else f"  use: - {name}")
    if first is not None:
        text.append(f"  scalar form: {{{name}: VALUE}} sets '{first}'")
    return [("\n".join(text))]


def explain(name: str, spec_path: str | None = None, with_doc: bool = True, cat: Catalog | None = None) -> str:
    """Every meaning of ``name`` as text (see the module docstring).

    Raises:
        UnknownName: nothing is called ``name``; the message suggests the closest name.
    """
    cat = cat or catalog()
    parts = _block_matches(name, spec_path) + _section_matches(name)
    seen = set()
    for kind in cat.entries:
        entry = cat.lookup(kind, name)
        if entry is not None and (kind, entry.name) not in seen:
            seen.add((kind, entry.name))
            parts.append(explain_entry(entry, with_doc))
    if not parts:
        from builder.spec.sections import SECTIONS

        candidates = {n for kind in cat.entries for n in cat.names(kind, snake=True)}
        candidates |= {n for kind in cat.entries for n in cat.names(kind)}
        candidates |= {s for s, f in SECTIONS.items() if f} | {f"{s}.{k}" for s, f in SECTIONS.items() if f for k in f}
        hint = did_you_mean(name, sorted(candidates))
        where = f" or a block of {spec_path}" if spec_path else ""
        raise UnknownName(f"unknown name '{name}': not a Keras layer, activation, initializer, regularizer, "
                          f"constraint, optimizer, schedule, loss, metric or callback, a spec section{where}"
                          + hint)
    return "\n\n".join(parts)


def explain_path_exists(spec_path: str | None) -> None:
    """Raise FileNotFoundError for a ``--spec`` that does not exist (the CLI exits 1)."""
    if spec_path and not Path(spec_path).is_file():
        raise FileNotFoundError(f"spec not found: {spec_path}")
