"""A JSON Schema (draft 2020-12) for spec files, generated from the spec model and the catalog.

Nothing here is written per layer or per optimizer: the schema is derived from

* :data:`builder.spec.sections.SECTIONS` (every section key, its types, choices and doc) and
  :data:`builder.spec.sections.TOP_LEVEL` / :data:`builder.spec.sections.MODEL_KEYS`;
* :mod:`builder.spec.nodes` (item-level keys, input options, block options);
* :mod:`builder.spec.hparams` (the search-space forms ``choice`` / ``int`` / ``float``);
* the Keras catalog (:func:`builder.catalog.registry.catalog`): every layer, activation, initializer,
  regularizer, constraint, optimizer, schedule, loss, metric and callback, with its accepted
  arguments, defaults and first positional argument.

Argument types are inferred from Keras's defaults (``use_bias=True`` → boolean,
``momentum=0.99`` → number, ``strides=1`` → integer or list, ``padding="valid"`` → string);
arguments without a default, or defaulting to ``None``, accept any value (the Keras constructor
checks them when the model is built). Arguments named by Keras's convention for nested objects
(``activation``, ``*_initializer``…; :func:`builder.spec.items.nested_kind`) take that kind's items.
Any scalar may be replaced by a search space, and inside blocks by a ``$param`` reference.

Where the spec language allows names the schema cannot know (block names used as items), item
mappings admit extra keys; every *known* layer's argument mapping is closed
(``additionalProperties: false``), so ``dense: {unit: 10}`` is flagged by the editor.

The schema is a convenience for editors (yaml-language-server, VS Code): ``dlbuild validate``
remains the authority (cross-field checks, shapes, did-you-mean).
No TensorFlow import.
"""

from __future__ import annotations

from typing import Any

SCHEMA_ID = "https://dlbuild.dev/schema/spec.json"  # an identifier, not fetched by anything
DRAFT = "https://json-schema.org/draft/2020-12/schema"

#: Section keys that hold Keras object items, and the kind of those items.
ITEM_FIELDS = {
    ("compile", "optimizer"): "optimizer",
    ("compile", "loss"): "loss",
    ("compile", "metrics"): "metric",
    ("compile", "weighted_metrics"): "metric",
    ("fit", "callbacks"): "callback",
}

_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}
_SEARCH = {"$ref": "#/$defs/search_space"}
_PARAM = {"$ref": "#/$defs/param_ref"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/$defs/{name}"}


def _searchable(schema: dict) -> dict:
    """``schema``, or a search space, or a ``$param`` reference (inside blocks)."""
    return {"anyOf": [schema, _SEARCH, _PARAM]}


def _spellings(cat, kind: str, name: str) -> list[str]:
    """Every way a spec commonly spells catalog entry ``name``: Keras's name, its snake_case, and
    the catalog's normalised index keys for it (``prelu``, ``mse``)."""
    from builder.catalog.registry import snake_case

    entry = cat.entries[kind][name]
    out = [name]
    if entry.is_class:
        out.append(snake_case(name))
    out += [k for k, v in cat._index[kind].items() if v == name]
    return list(dict.fromkeys(out))


def _arg_schema(cat, owner_kind: str, arg: str, default: Any, required: bool) -> dict:
    """Schema of one constructor argument (see the module docstring for the inference rules)."""
    from builder.spec.items import nested_kind

    kind = nested_kind(owner_kind, arg)
    if kind == "schedule":
        return {"anyOf": [{"type": "number"}, _ref("item.schedule"), _SEARCH, _PARAM]}
    if kind is not None:
        return {"anyOf": [{"type": "null"}, _ref(f"item.{kind}"), _SEARCH, _PARAM]}
    if required or default is None:
        return {}
    if isinstance(default, bool):
        return _searchable({"type": "boolean"})
    if isinstance(default, int):
        return _searchable({"type": ["integer", "array", "null"]})
    if isinstance(default, float):
        return _searchable({"type": ["number", "null"]})
    if isinstance(default, list):
        return _searchable({"type": ["array", "integer", "number", "null"]})
    if isinstance(default, str) and not (default.startswith("<") or "(" in default):
        return _searchable({"type": ["string", "null"]})
    return {}  # a repr() of an object default: anything the constructor accepts


def _entry_defs(cat, kind: str) -> tuple[dict, dict, list[str]]:
    """``$defs`` for every allowed entry of ``kind`` (its closed argument mapping), the item-value
    schema per spelling, and the bare-name spellings."""
    from builder.catalog.registry import DENIED

    defs, values, bare = {}, {}, []
    for name, entry in sorted(cat.entries[kind].items()):
        if entry.name in DENIED:
            continue
        spellings = _spellings(cat, kind, name)
        bare += spellings
        if not entry.is_class:
            continue  # functions take no arguments in a spec: bare names only
        props = {a: _arg_schema(cat, kind, a, entry.defaults.get(a), a in entry.required) for a in entry.args}
        for a, s in props.items():
            if a in entry.defaults:
                s["default"] = entry.defaults[a]
        if kind == "layer":  # item-level keys may sit inside the argument mapping
            props.update({k: _ref(f"item_key.{k}") for k in ("name", "inputs", "repeat", "call")})
        args = {"type": "object", "properties": props, "additionalProperties": False,
                "description": entry.doc}
        defs[f"{kind}.{name}"] = args
        forms = [{"type": "null"}, _ref(f"{kind}.{name}"), _SEARCH]
        if entry.positional:
            # A mapping is always the argument mapping (builder.spec.items.parse_args), so the scalar
            # form is any non-mapping value the positional argument accepts.
            forms.append({"allOf": [props.get(entry.positional) or {}, {"not": {"type": "object"}}]})
        value = {"anyOf": forms, "description": entry.doc}
        for s in spellings:
            values[s] = value
    return defs, values, sorted(set(bare))


def _item_schema(kind: str, values: dict, bare: list[str]) -> dict:
    """The three item forms for a nested object kind: a bare name, ``{name: scalar}``,
    ``{name: {args}}`` (closed: one known name per item)."""
    return {
        "anyOf": [
            {"type": "string", "enum": bare},
            {"type": "object", "properties": values, "additionalProperties": False,
             "minProperties": 1, "maxProperties": 1},
            _SEARCH,
            _PARAM,
        ],
    }


def _field_schema(section: str, key: str, f) -> dict:
    """Schema of one section key from its :class:`builder.spec.sections.Field`."""
    from builder.spec.sections import REQUIRED

    kind = ITEM_FIELDS.get((section, key))
    if kind == "metric":
        item = _ref("item.metric")
        schema = {"anyOf": [{"type": "array", "items": item},
                            {"type": "object", "additionalProperties": {"type": "array", "items": item}},
                            _SEARCH]}
    elif kind == "loss":
        item = _ref("item.loss")
        schema = {"anyOf": [item, {"type": "object", "additionalProperties": item}]}
    elif kind == "callback":
        schema = {"type": "array", "items": _ref("item.callback")}
    elif kind is not None:
        schema = _ref(f"item.{kind}")
    else:
        types = [_TYPES[t] for t in f.types]
        if "number" in types and "integer" in types:
            types.remove("integer")
        schema = {"type": types if len(types) > 1 else types[0]}
        if f.default is None:
            schema["type"] = list(dict.fromkeys((types if len(types) > 1 else [types[0]]) + ["null"]))
        if f.choices:
            schema["enum"] = list(f.choices) + ([None] if f.default is None else [])
        if (section, key) == ("fit", "cross_validation"):  # K, or {folds: K, shuffle: …} (spec.CV_KEYS)
            schema = {"anyOf": [{"type": "integer", "minimum": 2}, {"type": "null"}, {
                "type": "object", "required": ["folds"], "additionalProperties": False,
                "properties": {"folds": {"type": "integer", "minimum": 2}, "shuffle": {"type": "boolean"}}}]}
        if (section, key) == ("export", "formats"):
            from builder.spec.sections import EXPORT_FORMATS

            schema["items"] = {"enum": list(EXPORT_FORMATS)}
        if not set(types) & {"array", "object"}:
            schema = _searchable(schema)
    if f.doc:
        schema["description"] = f.doc
    if f.default is not REQUIRED and f.default is not None:
        schema["default"] = f.default
    return schema


def _search_space() -> dict:
    from builder.spec.hparams import SAMPLINGS

    pair = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
    return {
        "description": "A search space: {choice: [...]}, {int: [lo, hi]} or {float: [lo, hi]}, with "
                       "optional step, sampling, default and name (dlbuild tune searches it; fit uses "
                       "the default).",
        "type": "object",
        "properties": {
            "choice": {"type": "array", "minItems": 1},
            "int": pair, "float": pair,
            "step": {"type": "number"},
            "sampling": {"enum": list(SAMPLINGS)},
            "default": {},
            "name": {"type": "string"},
        },
        "additionalProperties": False,
        "oneOf": [{"required": ["choice"]}, {"required": ["int"]}, {"required": ["float"]}],
    }


def build_schema(cat=None) -> dict:
    """Return the JSON Schema of a spec file (a plain, JSON-serialisable mapping).

    Args:
        cat: A :class:`builder.catalog.registry.Catalog` (default: the installed Keras's catalog).
    """
    from builder.catalog.registry import catalog
    from builder.spec.sections import MODEL_KEYS, SECTIONS, TOP_LEVEL
    from builder.spec.nodes import BLOCK_KEYS, INPUT_KEYS, ITEM_KEYS

    cat = cat or catalog()
    defs: dict[str, Any] = {"search_space": _search_space(),
                            "param_ref": {"type": "string", "pattern": r"^\$[A-Za-z_][A-Za-z0-9_]*$",
                                          "description": "a block parameter, e.g. $filters"}}
    layer_values: dict = {}
    layer_bare: list = []
    for kind in cat.entries:
        kdefs, values, bare = _entry_defs(cat, kind)
        defs.update(kdefs)
        if kind == "layer":
            layer_values, layer_bare = values, bare
        else:
            defs[f"item.{kind}"] = _item_schema(kind, values, bare)

    defs["item.layer"] = _ref("layer_item")  # a nested layer argument (Bidirectional's `layer`)
    name_list = {"anyOf": [{"type": ["string", "integer"]}, {"type": "array", "items": {"type": ["string", "integer"]}}]}
    defs["item_key.name"] = {"type": "string", "description": "the layer's name, for wiring with 'inputs'"}
    defs["item_key.inputs"] = {**name_list, "description": "model inputs or earlier items this item is called on "
                                                           "(-1: the previous item)"}
    defs["item_key.repeat"] = {"anyOf": [{"type": "integer", "minimum": 1}, _SEARCH],
                               "description": "stack this item N times"}
    defs["item_key.call"] = {"type": "object", "description": "keyword arguments of the layer's call()"}
    assert set(ITEM_KEYS) == {"name", "inputs", "repeat", "call"}
    item_keys = {k: _ref(f"item_key.{k}") for k in ITEM_KEYS}
    defs["layer_item"] = {
        "description": "A layer (or block) item: a bare name, {name: scalar} or {name: {arguments}}.",
        "anyOf": [
            {"type": "string", "anyOf": [{"enum": layer_bare}, {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}]},
            {"type": "object", "minProperties": 1, "properties": {**layer_values, **item_keys},
             # block names are the spec's own: any other key is a block use (dlbuild validate checks it)
             "additionalProperties": True},
            _SEARCH,
        ],
    }
    layer_list = {"type": "array", "items": _ref("layer_item"), "minItems": 1}
    input_spec = {
        "anyOf": [
            {"type": "array", "items": {"type": ["integer", "null"], "minimum": 1}},
            {"type": "object", "required": ["shape"], "additionalProperties": False, "properties": {
                "shape": {"type": "array", "items": {"type": ["integer", "null"], "minimum": 1},
                          "description": "the batch axis excluded; null = variable"},
                "dtype": {"enum": ["float16", "bfloat16", "float32", "float64", "int8", "int16", "int32",
                                   "int64", "uint8", "bool", "string"], "default": "float32"},
                "sparse": {"type": "boolean", "default": False},
                "ragged": {"type": "boolean", "default": False},
            }},
        ],
    }
    assert set(INPUT_KEYS) == {"shape", "dtype", "sparse", "ragged"}
    block = {"type": "object", "required": ["layers"], "additionalProperties": False, "properties": {
        "params": {"type": "object", "description": "parameters and their defaults; use them as $name"},
        "inputs": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
                   "default": ["input"]},
        "layers": layer_list,
        "output": {"type": ["string", "null"], "description": "the block's output item (default: the last)"},
        "doc": {"type": "string"},
    }}
    assert set(BLOCK_KEYS) == set(block["properties"])
    model_props = {
        "inputs": {"type": "object", "minProperties": 1, "additionalProperties": input_spec},
        "layers": layer_list,
        "blocks": {"type": "object", "additionalProperties": block},
        "outputs": name_list,
        "init_from": {"type": "string", "description": "a run directory or .keras file whose weights "
                                                       "initialise the layers of the same name"},
    }
    assert set(MODEL_KEYS) == set(model_props)
    props: dict[str, Any] = {
        "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_.\-]*$",
                 "description": "run name (default: the spec file's stem)"},
        "seed": _searchable({"type": "integer", "minimum": 0}),
        "model": {"type": "object", "required": ["inputs", "layers"], "properties": model_props,
                  "additionalProperties": False},
    }
    for section, fields in SECTIONS.items():
        if fields is None:
            continue
        props[section] = {"type": ["object", "null"], "additionalProperties": False,
                          "properties": {k: _field_schema(section, k, f) for k, f in fields.items()}}
    assert set(props) == set(TOP_LEVEL), set(props) ^ set(TOP_LEVEL)
    props = {k: props[k] for k in TOP_LEVEL}
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "dlbuild spec",
        "description": f"A dlbuild spec file (generated from Keras {cat.keras_version}'s catalog by "
                       "`dlbuild schema`; `dlbuild validate` is the authority).",
        "type": "object",
        "required": ["data", "model", "compile"],
        "properties": props,
        "additionalProperties": False,
        "$defs": defs,
    }


def schema_json(cat=None) -> str:
    """:func:`build_schema` as indented JSON text (stable key order)."""
    import json

    return json.dumps(build_schema(cat), indent=1, sort_keys=False) + "\n"
