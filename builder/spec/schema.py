"""A JSON Schema (draft 2020-12) for spec files: the sections, the model and the blocks.

Nothing here is written per section key or per layer: the schema is derived from

* :data:`builder.spec.sections.SECTIONS` (every section key, its types, choices and doc) and
  :data:`builder.spec.sections.TOP_LEVEL` / :data:`builder.spec.sections.MODEL_KEYS`;
* :mod:`builder.spec.nodes` (input options, block options);
* :mod:`builder.spec.schema_items` (from the Keras catalog: every layer, activation, initializer,
  regularizer, constraint, optimizer, schedule, loss, metric and callback, with its arguments,
  required arguments, defaults and first positional argument; search spaces and ``$param``).

Block names are the spec's own and no schema can list them, so ``model.layers`` takes the closed
``layer_item`` (every name a Keras layer: ``- dens`` is flagged) when the model defines no
``blocks``, and ``layer_item.open`` (a name that is no Keras layer is taken as a block use) when it
does, and in block bodies: a false error on a valid spec is worse than a missed typo.

The schema is a convenience for editors (yaml-language-server, VS Code): ``dlbuild validate``
remains the authority (cross-field checks, shapes, did-you-mean).
No TensorFlow import.
"""

from __future__ import annotations

from typing import Any

from builder.spec.placeholders import PLACEHOLDERS
from builder.spec.schema_items import SEARCH, item_defs, ref, searchable

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


def _field_schema(section: str, key: str, f) -> dict:
    """Schema of one section key from its :class:`builder.spec.sections.Field`."""
    from builder.spec.sections import REQUIRED

    kind = ITEM_FIELDS.get((section, key))
    if kind == "metric":
        item = ref("item.metric")
        schema = {"anyOf": [{"type": "array", "items": item},
                            {"type": "object", "additionalProperties": {"type": "array", "items": item}},
                            SEARCH]}
    elif kind == "loss":
        item = ref("item.loss")
        schema = {"anyOf": [item, {"type": "object", "additionalProperties": item}]}
    elif kind == "callback":
        schema = {"type": "array", "items": ref("item.callback")}
    elif kind is not None:
        schema = ref(f"item.{kind}")
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
            schema = searchable(schema)
    if f.doc:
        schema["description"] = f.doc
    if f.default is not REQUIRED and f.default is not None:
        schema["default"] = f.default
    return schema


def build_schema(cat=None) -> dict:
    """Return the JSON Schema of a spec file (a plain, JSON-serialisable mapping).

    Args:
        cat: A :class:`builder.catalog.registry.Catalog` (default: the installed Keras's catalog).

    Raises:
        RuntimeError: no catalog could be generated for the installed Keras (see
            :func:`builder.catalog.registry.catalog`).
    """
    from builder.catalog.registry import catalog
    from builder.spec.sections import MODEL_KEYS, SECTIONS, TOP_LEVEL
    from builder.spec.nodes import BLOCK_KEYS, INPUT_KEYS

    cat = cat or catalog()
    defs: dict[str, Any] = item_defs(cat)
    layer_list = {"type": "array", "minItems": 1}
    # An axis: a size, null (variable), or a data placeholder bound when the data is read.
    axis = {"anyOf": [{"type": ["integer", "null"], "minimum": 1},
                      {"enum": ["$" + p for p in PLACEHOLDERS]}]}
    input_spec = {
        "anyOf": [
            {"type": "array", "items": axis},
            {"type": "object", "required": ["shape"], "additionalProperties": False, "properties": {
                "shape": {"type": "array", "items": axis,
                          "description": "the batch axis excluded; null = variable; $features / $length: "
                                         "from the data"},
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
        "layers": {**layer_list, "items": ref("layer_item.open")},
        "output": {"type": ["string", "null"], "description": "the block's output item (default: the last)"},
        "doc": {"type": "string"},
    }}
    assert set(BLOCK_KEYS) == set(block["properties"])
    model_props = {
        "inputs": {"type": "object", "minProperties": 1, "additionalProperties": input_spec},
        "layers": layer_list,
        "blocks": {"type": "object", "additionalProperties": block},
        "outputs": ref("name_list"),
        "init_from": {"type": "string", "description": "a run directory or .keras file whose weights "
                                                       "initialise the layers of the same name"},
    }
    assert set(MODEL_KEYS) == set(model_props)
    props: dict[str, Any] = {
        "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_.\-]*$",
                 "description": "run name (default: the spec file's stem)"},
        "seed": searchable({"type": "integer", "minimum": 0}),
        # Without model.blocks every item name must be a Keras layer; with blocks (as in block
        # bodies) a name that is none may be a block use: JSON Schema cannot read the block names.
        "model": {"type": "object", "required": ["inputs", "layers"], "properties": model_props,
                  "additionalProperties": False, "if": {"required": ["blocks"]},
                  "then": {"properties": {"layers": {"items": ref("layer_item.open")}}},
                  "else": {"properties": {"layers": {"items": ref("layer_item")}}}},
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
    """Return :func:`build_schema` as indented JSON text (stable key order), newline-terminated.

    Raises:
        RuntimeError: as :func:`build_schema`.
    """
    import json

    return json.dumps(build_schema(cat), indent=1, sort_keys=False) + "\n"
