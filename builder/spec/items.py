"""The one item rule of the spec language, for layers and every nested Keras object.

An item is written in one of three forms (docs/architecture.md, "Spec language")::

    batch_normalization                    # bare name: default arguments
    dropout: 0.25                          # {name: scalar}: the first positional argument
    dense: {units: 10, activation: relu}   # {name: {arguments}}

The same rule holds for activations, initializers, regularizers, constraints, optimizers,
learning-rate schedules, losses, metrics and callbacks. Nested objects are recognised by Keras's
own argument naming convention: ``activation`` / ``*_activation`` take an activation,
``*_initializer`` an initializer, ``*_regularizer`` a regularizer, ``*_constraint`` a constraint,
an optimizer's ``learning_rate`` a schedule, and ``layer`` / ``*_layer`` a layer (Bidirectional,
TimeDistributed).

:func:`check` validates an item against the catalog without TensorFlow; :func:`build` turns a
checked item into the Keras object (imports Keras).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builder.errors import Collector, did_you_mean
from builder.catalog.registry import Catalog, Entry
from builder.spec.arg_values import value_problem

KIND_WORDS = {
    "layer": "layer", "activation": "activation", "initializer": "initializer",
    "regularizer": "regularizer", "constraint": "constraint", "optimizer": "optimizer",
    "schedule": "learning-rate schedule", "loss": "loss", "metric": "metric", "callback": "callback",
}


@dataclass(frozen=True)
class Item:
    """A parsed item.

    Attributes:
        name: The name as written (``conv2d``).
        args: Keyword arguments (the scalar form is already mapped to its argument name).
        path: Spec path of the item.
        args_path: Spec path of the arguments mapping (or of the scalar).
        scalar: True for the ``{name: scalar}`` form.
    """

    name: str
    args: dict
    path: tuple
    args_path: tuple
    scalar: bool = False


def split_item(value: Any, path: tuple, out: Collector, what: str, extra: tuple = ()) -> tuple[str, Any, dict] | None:
    """Split an item into ``(name, raw_args, extra_keys)``; report malformed items.

    ``extra`` lists item-level keys allowed beside the name (``name``, ``inputs``, ``repeat``…).
    """
    if isinstance(value, str):
        return value, None, {}
    if isinstance(value, dict) and value:
        names = [k for k in value if k not in extra]
        if len(names) == 1 and isinstance(names[0], str):
            return names[0], value[names[0]], {k: value[k] for k in value if k in extra}
        if not names:
            out.error(f"this {what} item has no {what} name: write e.g. '- dense: {{units: 10}}'", path)
        else:
            out.error(f"one {what} per item; found {', '.join(map(repr, names))}. Start each {what} on "
                      "its own line with '- '", path + (names[1],), at="key")
        return None
    article = "an" if what[:1] in "aeiou" else "a"
    out.error(f"expected {article} {what} name or a mapping {{name: arguments}}; received: {value!r}", path)
    return None


def parse_args(entry_display: str, positional: str | None, raw: Any, path: tuple, name: str,
               out: Collector, wiring: bool = False) -> tuple[dict, bool] | None:
    """Normalise the three item forms into a kwargs dict; returns ``(args, scalar_form)``.

    ``wiring``: the item is a model layer, so a list after a merge layer's name (``add: [a, b]``)
    is most likely meant as its inputs, and the message says how to write them.
    """
    if raw is None:
        return {}, False
    if isinstance(raw, dict):
        return dict(raw), False
    if positional is None:
        if wiring and isinstance(raw, list):
            names = ", ".join(map(str, raw))
            out.error(f"{entry_display} takes no positional argument, so '{name}: [{names}]' is "
                      f"ambiguous; to wire its inputs write '{name}: {{inputs: [{names}]}}'", path + (name,))
        else:
            out.error(f"{entry_display} takes no positional argument, so '{name}: {raw!r}' is "
                      f"ambiguous; write '{name}: {{argument: value}}'", path + (name,))
        return None
    return {positional: raw}, True


def nested_kind(owner_kind: str, arg: str) -> str | None:
    """The kind of object an argument takes, by Keras's naming convention, or None."""
    if arg == "activation" or arg.endswith("_activation"):
        return "activation"
    for suffix in ("initializer", "regularizer", "constraint"):
        if arg.endswith("_" + suffix):
            return suffix
    if owner_kind == "optimizer" and arg == "learning_rate":
        return "schedule"
    if owner_kind == "layer" and (arg == "layer" or arg.endswith("_layer")):
        return "layer"
    return None


def lookup(kind: str, name: Any, path: tuple, catalog: Catalog, out: Collector,
           at: str = "key") -> Entry | None:
    """Find ``name`` among ``kind``; report unknown (with did-you-mean) and denied names."""
    entry = catalog.lookup(kind, name)
    word = KIND_WORDS[kind]
    if entry is None:
        snake = isinstance(name, str) and name == name.lower()  # suggest in the user's own style
        out.error(f"unknown {word} '{name}'" + did_you_mean(name, catalog.names(kind, snake)), path, at=at)
        return None
    why = catalog.denied(entry)
    if why:
        out.error(f"{entry.name} is not allowed in a spec: {why}", path, at=at)
        return None
    return entry


def check_args(entry: Entry, args: dict, args_path: tuple, catalog: Catalog, out: Collector,
               ignore: tuple = ()) -> None:
    """Check argument names against the constructor's signature, required ones, nested objects,
    and the values of the common arguments (:func:`builder.spec.arg_values.value_problem`)."""
    suggested = set()
    for arg, value in args.items():
        if arg in ignore:
            continue
        if arg not in entry.args:
            hint = did_you_mean(arg, entry.args)
            suggested.add(hint.split("'")[1] if hint else None)
            out.error(f"{entry.display} has no argument '{arg}'" + hint, args_path + (arg,), at="key")
            continue
        kind = nested_kind(entry.kind, arg)
        if kind is None:
            problem = value_problem(arg, value, entry.defaults.get(arg))
            if problem:
                out.error(f"{entry.display}: '{arg}' {problem}", args_path + (arg,))
            continue
        if value is None:
            continue
        if kind == "schedule" and isinstance(value, (int, float)):
            continue
        if kind == "activation" and not isinstance(value, str):
            out.error(f"'{arg}' takes an activation name such as relu; for an activation with "
                      "arguments add its layer instead (e.g. '- leaky_relu: {negative_slope: 0.1}')",
                      args_path + (arg,))
            continue
        check(kind, value, args_path + (arg,), catalog, out)
    for req in entry.required:
        if req not in args and req not in suggested:  # a misspelling was already reported
            out.error(f"{entry.display} requires '{req}'", args_path, at="value")


def check(kind: str, value: Any, path: tuple, catalog: Catalog, out: Collector) -> Item | None:
    """Validate an item of ``kind`` (TF-free). Returns the parsed :class:`Item` or None."""
    split = split_item(value, path, out, KIND_WORDS[kind])
    if split is None:
        return None
    name, raw, _ = split
    name_path = path if isinstance(value, str) else path + (name,)
    entry = lookup(kind, name, name_path, catalog, out, at="value" if isinstance(value, str) else "key")
    if entry is None:
        return None
    parsed = parse_args(entry.display, entry.positional, raw, path, name, out)
    if parsed is None:
        return None
    args, scalar = parsed
    if not entry.is_class and args:
        out.error(f"{entry.name} is a function and takes no arguments here", name_path, at="key")
        return None
    check_args(entry, args, path + (name,), catalog, out)
    return Item(entry.name, args, path, path + (name,), scalar)


def build(kind: str, value: Any, catalog: Catalog) -> Any:
    """Construct the Keras object for a checked item (imports Keras).

    Bare function names (activations, ``mse``, ``accuracy``) are passed to Keras as their
    canonical name; classes are instantiated with their arguments, nested objects built first.
    """
    if value is None:
        return None
    if kind == "schedule" and isinstance(value, (int, float)):
        return value
    out = Collector()
    item = check(kind, value, (), catalog, out)
    if item is None:  # unreachable for checked specs
        raise ValueError(f"invalid {kind}: {out.diagnostics[0].message}")
    entry = catalog.lookup(kind, item.name)
    if not entry.is_class:
        return entry.name
    return entry.load()(**build_args(entry, item.args, catalog))


def build_args(entry: Entry, args: dict, catalog: Catalog) -> dict:
    """Keyword arguments with nested objects constructed (imports Keras)."""
    built = {}
    for arg, value in args.items():
        kind = nested_kind(entry.kind, arg)
        if kind is not None and value is not None and not (kind == "activation" and isinstance(value, str)):
            value = build(kind, value, catalog)
        elif kind == "activation" and isinstance(value, str):
            value = catalog.lookup("activation", value).name
        built[arg] = value
    return built
