"""The catalog-derived item schemas (builder/spec/schema_items.py, issue 19): unknown names and
missing required arguments are errors at the item, every form ``dlbuild validate`` accepts is
accepted, and block names used as items stay valid. (Shipped specs and docs: test_explain_schema_import.py.)"""

import copy
import json
import re

import pytest
import yaml

from builder.catalog.registry import DENIED, catalog, normalize, snake_case
from builder.errors import Collector
from builder.spec import items
from builder.spec.schema import build_schema, schema_json
from builder.spec.topology import expand

jsonschema = pytest.importorskip("jsonschema")

SPEC = """
data: {dataset: iris}
model:
  inputs: {features: [4]}
  layers:
    - normalization
    - dense: {units: 8, activation: relu}
    - dense: {units: 3, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
"""


@pytest.fixture(scope="module")
def schema():
    s = build_schema()
    jsonschema.Draft202012Validator.check_schema(s)
    return s


@pytest.fixture(scope="module")
def validator(schema):
    return jsonschema.Draft202012Validator(schema)


def _sub(schema, name):
    """A validator for one ``$defs`` entry (``item.optimizer``, ``layer_item``…)."""
    return jsonschema.Draft202012Validator({"$schema": schema["$schema"], "$defs": schema["$defs"],
                                            "$ref": f"#/$defs/{name}"})


def _doc(layer=None, blocks=None, **sections):
    doc = yaml.safe_load(SPEC)
    if layer is not None:
        doc["model"]["layers"][1] = layer
    if blocks is not None:
        doc["model"]["blocks"] = blocks
    for k, v in sections.items():
        doc[k] = {**doc.get(k, {}), **v}
    return doc


def _paths(validator, doc):
    return [list(e.absolute_path) for e in validator.iter_errors(doc)]


def test_the_base_spec_is_valid(validator):
    assert _paths(validator, _doc()) == []


@pytest.mark.parametrize("layer", [{"dens": {"units": 8}}, "dens", {"dens": 8}, {"Dense2": {"units": 8}},
                                   {"dens": {"units": 8}, "name": "d"}, "lambda", {"rnn": {"cell": 3}}])
def test_a_misspelt_or_denied_layer_is_an_error_at_its_item(validator, layer):
    errors = list(validator.iter_errors(_doc(layer)))
    assert errors and all(list(e.absolute_path) == ["model", "layers", 1] for e in errors)
    assert list(jsonschema.exceptions.best_match(errors).absolute_path) == ["model", "layers", 1]


@pytest.mark.parametrize("layer", [
    {"dense": {"activation": "relu"}},          # units is required
    "dense", {"dense": None},                   # a bare name takes the default arguments: none for units
    {"conv2d": 8},                              # the scalar sets filters; kernel_size is still missing
    {"conv2d": {"filters": 8}},
    {"embedding": {"output_dim": 8}, "name": "e"},
    {"bidirectional": None},
])
def test_a_missing_required_argument_is_an_error_at_its_item(validator, layer):
    errors = _paths(validator, _doc(layer))
    assert errors and all(p == ["model", "layers", 1] for p in errors)


@pytest.mark.parametrize("layer", [
    {"dense": 8}, {"dense": {"units": {"choice": [8, 16]}}}, {"dense": {"int": [8, 64], "step": 8}},
    {"Dense": {"units": 8, "name": "d", "repeat": 2}}, {"dense": 8, "name": "d", "inputs": [-1]},
    {"conv_2d": {"filters": 8, "kernel_size": 3}}, {"CONV2D": {"filters": 8, "kernel_size": 3}},
    "flatten", "Flatten", {"flatten": None}, {"dropout": 0.5}, {"bidirectional": {"layer": {"lstm": 8}}},
])
def test_the_three_forms_with_their_required_arguments_are_accepted(validator, layer):
    assert _paths(validator, _doc(layer)) == []


BLOCKS = {
    "mlp": {"params": {"width": 8, "act": "relu"}, "layers": [
        {"dense": {"units": "$width", "activation": "$act"}},
        {"dense": "$width"},                                       # a parameter as the scalar
        {"conv2d": "$conv"},                                       # ...or as the whole argument mapping
        "$layer",                                                  # ...or as the whole item
        {"dense": {"units": {"choice": [8, 16]}}}]},
    "two-towers": {"layers": ["mlp", {"mlp": 4}, "flatten"]},     # a block used in a block
}


@pytest.mark.parametrize("layer", ["mlp", {"mlp": 16}, {"mlp": {"width": 4, "repeat": 2}},
                                   {"mlp": {"width": 4}, "name": "m"}, "two-towers", {"dense": 8}])
def test_a_block_name_used_as_an_item_stays_valid(validator, layer):
    assert _paths(validator, _doc(layer, BLOCKS)) == []


def test_with_blocks_known_layers_are_still_checked_and_unknown_names_are_taken_as_blocks(validator):
    # JSON Schema cannot read the names under model.blocks, so a typo there is left to validate
    for layer in ("dense", {"dense": {"activation": "relu"}}, {"dense": {"units": 8, "unit": 8}}, "lambda"):
        assert _paths(validator, _doc(layer, BLOCKS)) == [["model", "layers", 1]], layer
    assert _paths(validator, _doc("dens", BLOCKS)) == []
    body = copy.deepcopy(BLOCKS)
    body["mlp"]["layers"].append({"dense": {"activation": "relu"}})
    assert _paths(validator, _doc("mlp", body)) == [["model", "blocks", "mlp", "layers", 5]]


@pytest.mark.parametrize("sections, where", [
    ({"compile": {"optimizer": "adamm"}}, ["compile", "optimizer"]),
    ({"compile": {"optimizer": {"adamm": 0.1}}}, ["compile", "optimizer"]),
    ({"compile": {"optimizer": {"adam": {"learning_rate": {"exponential_decay": {"initial_learning_rate": 0.1}}}}}},
     ["compile", "optimizer"]),
    ({"compile": {"loss": "msee"}}, ["compile", "loss"]),
    ({"compile": {"metrics": ["acuracy"]}}, ["compile", "metrics"]),
    ({"fit": {"callbacks": [{"model_checkpoint": {"monitor": "val_loss"}}]}}, ["fit", "callbacks", 0]),
    ({"fit": {"callbacks": ["early_stoping"]}}, ["fit", "callbacks", 0]),
])
def test_other_kinds_check_names_and_required_arguments(validator, sections, where):
    paths = _paths(validator, _doc(**sections))
    assert paths and all(p[:len(where)] == where for p in paths), paths


@pytest.mark.parametrize("sections", [
    {"compile": {"optimizer": {"Adam": {"learning_rate": {"choice": [0.01, 0.001]}}}}},
    {"compile": {"optimizer": {"sgd": {"learning_rate": {"exponential_decay": {
        "initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.9}}}}}},
    {"compile": {"loss": "MSE", "metrics": ["Accuracy", "acc", {"top_k_categorical_accuracy": {"k": 2}}]}},
    {"fit": {"callbacks": [{"early_stopping": {"patience": 3}}, {"model_checkpoint": "best.keras"}]}},
])
def test_other_kinds_accept_valid_items(validator, sections):
    assert _paths(validator, _doc(**sections)) == []


# --- no false errors: every item dlbuild validate accepts is accepted by the schema ---------------

def _forms(cat, entry):
    """Items of ``entry`` in each form under a few spellings; validate decides which are valid.
    The scalar is the positional argument's default when it has one (a string for ``mode``)."""
    for s in (entry.name, snake_case(entry.name), entry.name.upper(), "_" + snake_case(entry.name)):
        named = cat.lookup(entry.kind, s)  # `binary_accuracy` is the class BinaryAccuracy
        default = named.defaults.get(named.positional)
        scalar = default if default is not None and not isinstance(default, dict) else 2
        yield from (s, {s: None}, {s: scalar}, {s: {r: 2 for r in named.required}})


def test_every_layer_form_validate_accepts_is_accepted(schema):
    cat, v, checked = catalog(), _sub(schema, "layer_item"), 0
    for entry in cat.entries["layer"].values():
        for item in _forms(cat, entry):
            out = Collector()
            expand({"inputs": {"x": [4]}, "layers": [item]}, cat, out)
            if not [d for d in out.diagnostics if "not connected" not in d.message]:
                checked += 1
                assert list(v.iter_errors(item)) == [], item
    assert checked > 500


@pytest.mark.parametrize("kind", [k for k in catalog().entries if k != "layer"])
def test_every_item_form_validate_accepts_is_accepted(schema, kind):
    cat, v = catalog(), _sub(schema, f"item.{kind}")
    for entry in cat.entries[kind].values():
        for item in _forms(cat, entry):
            out = Collector()
            items.check(kind, item, (), cat, out)
            if not out.diagnostics:
                assert list(v.iter_errors(item)) == [], item


@pytest.mark.parametrize("kind", list(catalog().entries))
def test_the_name_patterns_match_exactly_what_the_catalog_finds(schema, kind):
    cat = catalog()
    pattern = re.compile(schema["$defs"][f"name.{kind}"]["pattern"])
    bare = re.compile(schema["$defs"][f"name.{kind}.bare"]["anyOf"][1]["pattern"])  # no required argument
    for name in list(cat.entries[kind])[:40] + ["", "_"]:
        for s in (name, snake_case(name), name.upper(), f"_{name}_", name[:-1], name + "x", normalize(name)):
            entry = cat.lookup(kind, s)
            known = entry is not None and entry.name not in DENIED
            assert bool(pattern.search(s)) == known, s
            assert bool(bare.search(s)) == (known and not entry.required), s


def test_the_schema_stays_small_for_editors():
    # one copy of each shared form ($defs); 971 kB before issue 19 inlined them per spelling
    assert len(schema_json()) < 750_000
    assert json.loads(schema_json())["$defs"]["layer.Dense"]["required"] == ["units"]
