"""The catalog-derived part of the JSON Schema of spec files: one ``$defs`` entry per Keras object
a spec can name, the item schemas of every kind, and the layer items of ``model.layers``.

Nothing here is written per layer or per optimizer: everything comes from the Keras catalog
(:func:`builder.catalog.registry.catalog`) and the item rule of :mod:`builder.spec.items`:

* an item is a bare name, ``{name: scalar}`` (the first positional argument) or
  ``{name: {arguments}}``; the bare name (or ``{name: null}``) only when the object has no required
  argument, the scalar only when the positional argument is the only required one;
* the argument mapping of a class is closed (``additionalProperties: false``) and lists the
  constructor's required arguments as ``required``;
* names match as the catalog matches them, ignoring case and underscores (``Conv2D``, ``conv_2d``),
  by a pattern per kind (``name.<kind>``); the usual spellings (Keras's, snake_case, the catalog's
  keys) are listed for completion and have their values checked, a rarer one (``CONV_2D``) is
  accepted as a name with its value left to ``dlbuild validate``;
* argument types are inferred from Keras's defaults (``use_bias=True`` → boolean, ``strides=1`` →
  integer or list…); arguments without a default, or defaulting to ``None``, accept any value.
  Arguments named by Keras's convention for nested objects (``activation``, ``*_initializer``…;
  :func:`builder.spec.items.nested_kind`) take that kind's items;
* any value may be a search space (``search_space``) and, inside blocks, a ``$param`` reference.

Block names (``model.blocks``) are the spec's own, so no schema can list them: ``layer_item``
(closed: every name is a catalog layer) applies to a model without blocks, ``layer_item.open``
(any name that is not a catalog layer is taken as a block use) to a model with blocks and to block
bodies. :mod:`builder.spec.schema` chooses between them. No TensorFlow import.
"""

from __future__ import annotations

import re
from typing import Any

SEARCH = {"$ref": "#/$defs/search_space"}
PARAM = {"$ref": "#/$defs/param_ref"}


def ref(name: str) -> dict:
    """Return a ``$ref`` to ``#/$defs/<name>``."""
    return {"$ref": f"#/$defs/{name}"}


def searchable(schema: dict) -> dict:
    """Return a schema accepting ``schema``, a search space or a ``$param`` reference."""
    return {"anyOf": [schema, SEARCH, PARAM]}


def by_type(strings: list, others: list) -> dict:
    """Return a schema taking a string that matches one of ``strings`` or any other value that
    matches one of ``others``. Split by type (not one ``anyOf``) so that an editor reports the
    failure of the form actually written: ``dens: {...}`` gets "unknown layer", not "expected a
    string"."""
    return {"if": {"type": "string"}, "then": {"anyOf": strings}, "else": {"anyOf": others}}


def name_pattern(keys: list[str]) -> str:
    """Return a regular expression (ECMA 262 and Python alike) matching exactly the names whose
    catalog key (:func:`builder.catalog.registry.normalize`: lower case, no underscores) is in
    ``keys``; JSON Schema patterns have no case-insensitive flag, hence ``[dD]``."""
    def one(key: str) -> str:
        return "_*".join(f"[{c}{c.upper()}]" if c.isalpha() else re.escape(c) for c in key)
    if not keys:
        return "(?!)"  # matches nothing (every schedule needs arguments: no bare schedule name)
    return "^_*(?:" + "|".join(one(k) for k in sorted(keys)) + ")_*$"


def _spellings(cat, kind: str) -> dict:
    """``{spelling: entry}`` for every allowed entry of ``kind``: the catalog's index keys, Keras's
    name and its snake_case, each mapped to the entry the catalog resolves it to (``Accuracy``
    is the compile alias ``accuracy``, ``binary_crossentropy`` the loss class)."""
    from builder.catalog.registry import DENIED, snake_case

    out: dict = {}
    for name, entry in cat.entries[kind].items():
        if entry.name in DENIED:
            continue
        for s in (name, snake_case(name)):
            if cat.lookup(kind, s) is entry:
                out[s] = entry
    for key, name in cat._index[kind].items():
        if name not in DENIED:
            out.setdefault(key, cat.entries[kind][name])
    return dict(sorted(out.items()))


#: The argument forms inferred from Keras's defaults (``arg.<form>`` in ``$defs``) → their JSON types.
_ARG_TYPES = {"boolean": ["boolean"], "integer": ["integer", "array", "null"], "number": ["number", "null"],
              "array": ["array", "integer", "number", "null"], "string": ["string", "null"]}


def _arg_schema(owner_kind: str, arg: str, default: Any, required: bool) -> dict:
    """Schema of one constructor argument: a ``$ref`` to a shared ``arg.<type>`` form (one copy
    each, so the schema stays small), or ``{}`` for any value."""
    from builder.spec.items import nested_kind

    kind = nested_kind(owner_kind, arg)
    if kind is not None:
        return ref(f"arg.{kind}")
    if required or default is None:
        return {}
    if isinstance(default, bool):
        return ref("arg.boolean")
    if isinstance(default, int):
        return ref("arg.integer")
    if isinstance(default, float):
        return ref("arg.number")
    if isinstance(default, list):
        return ref("arg.array")
    if isinstance(default, str) and not (default.startswith("<") or "(" in default):
        return ref("arg.string")
    return {}  # a repr() of an object default: anything the constructor accepts


def _arg_defs(kinds) -> dict:
    """The shared argument forms :func:`_arg_schema` refers to (a nested object of each kind)."""
    defs = {f"arg.{t}": searchable({"type": types if len(types) > 1 else types[0]}) for t, types in _ARG_TYPES.items()}
    for kind in (k for k in kinds if k != "schedule"):
        # the item first: an editor reports the first of equally bad forms ("unknown initializer")
        defs[f"arg.{kind}"] = {"anyOf": [ref(f"item.{kind}"), {"type": "null"}, SEARCH, PARAM]}
    # an optimizer's learning_rate: a number or a schedule item
    defs["arg.schedule"] = {"anyOf": [ref("item.schedule"), {"type": "number"}, SEARCH, PARAM]}
    return defs


def _entry_defs(kind: str, entry, item_keys: tuple) -> dict:
    """``$defs`` of one entry: its closed argument mapping ``<kind>.<Name>`` (classes only) and the
    schema of the value beside its name, ``<kind>_value.<Name>``."""
    if not entry.is_class:  # a function takes no arguments in a spec: `- relu` or `relu: null`
        return {f"{kind}_value.{entry.name}": {"type": ["null", "object"], "maxProperties": 0,
                                               "description": entry.doc}}
    props = {a: _arg_schema(kind, a, entry.defaults.get(a), a in entry.required) for a in entry.args}
    for a, s in props.items():
        if a in entry.defaults:
            s["default"] = entry.defaults[a]
    props.update({k: ref(f"item_key.{k}") for k in item_keys})  # they may sit inside the mapping
    args = {"type": "object", "properties": props, "additionalProperties": False, "description": entry.doc}
    if entry.required:
        args["required"] = list(entry.required)
    forms = [ref(f"{kind}.{entry.name}"), SEARCH, PARAM]
    if not entry.required:
        forms.insert(0, {"type": "null"})  # `- flatten`, `flatten:`: default arguments
    if entry.positional and set(entry.required) <= {entry.positional}:
        # A mapping is always the argument mapping (builder.spec.items.parse_args), so the scalar
        # form is any non-mapping value the positional argument accepts.
        forms.append({"allOf": [props.get(entry.positional) or {}, {"not": {"type": ["object", "null"]}}]})
    return {f"{kind}.{entry.name}": args,
            f"{kind}_value.{entry.name}": {"anyOf": forms, "description": entry.doc}}


def _kind_defs(cat, kind: str) -> dict:
    """Every ``$defs`` entry of one kind: the entries, the name patterns and ``item.<kind>``."""
    from builder.catalog.registry import DENIED, normalize
    from builder.spec.items import KIND_WORDS
    from builder.spec.nodes import ITEM_KEYS

    word = KIND_WORDS[kind]
    spellings = _spellings(cat, kind)
    defs: dict = {}
    for entry in {e.name: e for e in spellings.values()}.values():  # those a spelling resolves to
        defs.update(_entry_defs(kind, entry, ITEM_KEYS if kind == "layer" else ()))
    bare = [s for s, e in spellings.items() if not e.required]
    defs[f"name.{kind}"] = {
        "type": "string", "pattern": name_pattern(list({normalize(s) for s in spellings})),
        "patternErrorMessage": f"unknown {word} (dlbuild validate suggests the closest name)"}
    defs[f"name.{kind}.bare"] = {"type": "string", "anyOf": [
        {"enum": bare, "errorMessage": f"unknown {word}, or one that needs arguments ({{name: value}})"},
        {"pattern": name_pattern(list({normalize(s) for s in bare})),
         "patternErrorMessage": f"unknown {word}, or one that needs arguments ({{name: value}})"}]}
    values = {s: ref(f"{kind}_value.{e.name}") for s, e in spellings.items()}
    defs[f"item.{kind}"] = by_type(  # the three forms, one known name per item
        [ref(f"name.{kind}.bare"), PARAM],
        [{"type": "object", "properties": values, "propertyNames": ref(f"name.{kind}"),
          "minProperties": 1, "maxProperties": 1}, SEARCH])
    if kind == "layer":
        denied = [normalize(n) for n in cat.entries[kind] if n in DENIED]
        defs.update(_layer_item_defs(values, name_pattern(denied)))
    return defs


def _layer_item_defs(values: dict, denied_pattern: str) -> dict:
    """``layer_item`` (closed) and ``layer_item.open`` (block uses allowed), sharing one mapping."""
    from builder.spec.nodes import ITEM_KEYS

    return {
        "layer_item.mapping": {"type": "object", "minProperties": 1,
                               "properties": {**values, **{k: ref(f"item_key.{k}") for k in ITEM_KEYS}}},
        "layer_item": {
            "description": "A layer item: a bare name, {name: scalar} or {name: {arguments}}.",
            **by_type([ref("name.layer.bare"), PARAM],
                      [{"allOf": [ref("layer_item.mapping"), {"propertyNames": {
                          "anyOf": [ref("name.layer"), {"enum": list(ITEM_KEYS)}]}}]}, SEARCH])},
        "layer_item.open": {
            "description": "A layer or block item: a bare name, {name: scalar} or {name: {arguments}}; "
                           "a name that is no Keras layer is taken as a block of model.blocks.",
            **by_type([ref("name.layer.bare"), PARAM,
                       {"not": {"anyOf": [ref("name.layer"), {"pattern": denied_pattern}]}}],
                      [ref("layer_item.mapping"), SEARCH])},
    }


def _value_defs() -> dict:
    """The value forms any item or argument may take (search spaces, ``$param``) and the item keys."""
    from builder.spec.hparams import SAMPLINGS
    from builder.spec.nodes import ITEM_KEYS

    pair = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
    name = {"type": ["string", "integer"]}
    name_list = {"anyOf": [name, {"type": "array", "items": name}]}
    defs = {
        "search_space": {
            "description": "A search space: {choice: [...]}, {int: [lo, hi]} or {float: [lo, hi]}, with "
                           "optional step, sampling, default and name (dlbuild tune searches it; fit uses "
                           "the default).",
            "type": "object",
            "properties": {"choice": {"type": "array", "minItems": 1}, "int": pair, "float": pair,
                           "step": {"type": "number"}, "sampling": {"enum": list(SAMPLINGS)},
                           "default": {}, "name": {"type": "string"}},
            "additionalProperties": False,
            "oneOf": [{"required": ["choice"]}, {"required": ["int"]}, {"required": ["float"]}],
        },
        "param_ref": {"type": "string", "pattern": r"^\$[A-Za-z_][A-Za-z0-9_]*$",
                      "description": "a block parameter, e.g. $filters"},
        "name_list": name_list,
        "item_key.name": {"type": "string", "description": "the layer's name, for wiring with 'inputs'"},
        "item_key.inputs": {**name_list, "description": "model inputs or earlier items this item is "
                                                        "called on (-1: the previous item)"},
        "item_key.repeat": {"anyOf": [{"type": "integer", "minimum": 1}, SEARCH],
                            "description": "stack this item N times"},
        "item_key.call": {"type": "object", "description": "keyword arguments of the layer's call()"},
    }
    assert set(ITEM_KEYS) == {k.split(".")[1] for k in defs if k.startswith("item_key.")}
    return defs


def item_defs(cat) -> dict:
    """Return the ``$defs`` of every catalog kind plus the shared value forms (see the module
    docstring for their names): a plain, JSON-serialisable mapping.

    Args:
        cat: A :class:`builder.catalog.registry.Catalog`.

    Raises nothing itself: the catalog is already loaded.
    """
    defs = {**_value_defs(), **_arg_defs(cat.entries)}
    for kind in cat.entries:
        defs.update(_kind_defs(cat, kind))
    return defs
