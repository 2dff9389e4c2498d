"""dlbuild explain, dlbuild schema (validated with jsonschema), dlbuild import (round trips)."""

import copy
import glob
import json
import re

import click
import pytest
from click.testing import CliRunner

from builder.cli.tools import check_cmd, explain_cmd, import_cmd, schema_cmd
from builder.spec.source import load, loads


@click.group()
def cli():
    """Test group: the lead registers these commands in builder.cli.main."""


for _cmd in (check_cmd, explain_cmd, schema_cmd, import_cmd):
    cli.add_command(_cmd)


# --- explain ----------------------------------------------------------------------------------

def test_explain_layer_shows_arguments_defaults_positional_and_docstring():
    r = CliRunner().invoke(cli, ["explain", "Conv2D"])
    assert r.exit_code == 0, r.output
    assert "Conv2D (layer; keras.layers.Conv2D)" in r.output
    assert "in a spec: conv2d" in r.output
    assert "scalar form: {conv2d: VALUE} sets 'filters'" in r.output
    assert "kernel_size" in r.output and "(required)" in r.output and "padding               = valid" in r.output
    assert "2D convolution layer" in r.output  # the docstring, read from Keras


@pytest.mark.parametrize("name, needles", [
    ("adam", ["(optimizer; keras.optimizers.Adam)", "learning_rate", "0.001"]),
    ("mse", ["(loss;", "(metric;"]),
    ("relu", ["(activation; keras.activations.relu)", "(layer; keras.layers.ReLU)"]),
    ("early_stopping", ["(callback;", "patience"]),
    ("he_normal", ["(initializer;"]),
    ("l2", ["(regularizer;", "sets 'l2'"]),
    ("max_norm", ["(constraint;"]),
    ("exponential_decay", ["(learning-rate schedule;", "initial_learning_rate", "(required)"]),
    ("prelu", ["in a spec: prelu"]),
    ("fit.batch_size", ["default: 32"]),
    ("lambda", ["not allowed in a spec"]),
])
def test_explain_every_kind(name, needles):
    r = CliRunner().invoke(cli, ["explain", name, "--short"])
    assert r.exit_code == 0, r.output
    for n in needles:
        assert n in r.output, (n, r.output)


def test_explain_block_of_a_spec_and_unknown_names():
    r = CliRunner().invoke(cli, ["explain", "encoder", "--spec", "docs/examples/blocks.yaml"])
    assert r.exit_code == 0, r.output
    assert "block defined at docs/examples/blocks.yaml:9" in r.output and "heads    = 2" in r.output
    r = CliRunner().invoke(cli, ["explain", "batch_normalisation"])
    assert r.exit_code == 2 and "did you mean 'batch_normalization'" in r.output


# --- schema -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def validator():
    jsonschema = pytest.importorskip("jsonschema")
    r = CliRunner().invoke(cli, ["schema"])
    assert r.exit_code == 0, r.output
    schema = json.loads(r.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    return jsonschema.Draft202012Validator(schema)


SPECS = sorted(glob.glob("specs/*.yaml") + glob.glob("docs/examples/*.yaml"))


@pytest.mark.parametrize("path", SPECS)
def test_every_shipped_spec_validates_against_the_schema(validator, path):
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(load(path).values)]
    assert errors == []


def _doc_blocks():
    """(id, values) of each yaml block of README*.md and docs/*.md that holds a model and is not a
    copy of an example file (those are in SPECS): whole specs and `model:` snippets."""
    blocks = []
    for page in sorted(glob.glob("README*.md") + glob.glob("docs/*.md")):
        text = open(page, encoding="utf-8").read()
        for i, m in enumerate(re.finditer(r"^```yaml\n(.*?)^```$", text, re.S | re.M)):
            if m.group(1).startswith("# docs/examples/"):
                continue
            values = loads(m.group(1), page).values
            if isinstance(values, dict) and isinstance(values.get("model"), dict):
                blocks.append(pytest.param(values, id=f"{page}#{i}"))
    return blocks


@pytest.mark.parametrize("values", _doc_blocks())
def test_every_spec_shown_in_the_docs_validates_against_the_schema(validator, values):
    # a snippet shows some sections: the others (and the model's inputs) get minimal stand-ins
    values = {"data": {"dataset": "iris"}, **values, "model": {"inputs": {"x": [4]}, **values["model"]},
              "compile": {"optimizer": "adam", "loss": "mse", **(values.get("compile") or {})}}
    assert [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(values)] == []


def _iris():
    return load("specs/iris_mlp.yaml").values


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d["model"]["layers"].__setitem__(1, {"dense": {"unit": 32}}), ["model", "layers", 1]),
    (lambda d: d["model"]["layers"].__setitem__(1, {"dense": {"units": 32, "use_bias": "yes"}}), ["model", "layers", 1]),
    (lambda d: d["model"]["layers"].__setitem__(1, {"dense": {"units": 32, "activation": "relux"}}), ["model", "layers", 1]),
    (lambda d: d["compile"].__setitem__("optimizer", {"adam": {"learning_rat": 0.1}}), ["compile", "optimizer"]),
    (lambda d: d["fit"].__setitem__("epochs", "ten"), ["fit", "epochs"]),
    (lambda d: d["fit"].__setitem__("epochz", 3), ["fit"]),
    (lambda d: d.__setitem__("fitt", {}), []),
    (lambda d: d["model"]["inputs"]["features"].__setitem__("shape", [0]), ["model", "inputs", "features"]),
])
def test_broken_specs_are_rejected(validator, mutate, where):
    doc = copy.deepcopy(_iris())
    mutate(doc)
    errors = list(validator.iter_errors(doc))
    assert errors and list(errors[0].absolute_path) == where


def test_schema_accepts_search_spaces_and_params(validator):
    doc = copy.deepcopy(_iris())
    doc["model"]["layers"][1] = {"dense": {"units": {"int": [8, 64], "step": 8}, "use_bias": {"choice": [True, False]}}}
    doc["model"]["layers"][2] = {"dropout": {"float": [0.0, 0.5]}}
    assert list(validator.iter_errors(doc)) == []
    doc["model"]["layers"][2] = {"dropout": {"float": [0.0, 0.5], "stepp": 0.1}}
    assert list(validator.iter_errors(doc))


def test_schema_output_file(tmp_path):
    out = tmp_path / "dlbuild.schema.json"
    r = CliRunner().invoke(cli, ["schema", "--output", str(out)])
    assert r.exit_code == 0 and json.loads(out.read_text())["title"] == "dlbuild spec"


# --- import -----------------------------------------------------------------------------------

def _signature(model):
    return [(type(layer).__name__, str(layer.output.shape), layer.count_params()) for layer in model.layers
            if type(layer).__name__ != "InputLayer"]


def _round_trip(model, tmp_path):
    from builder.model.graph import build_model
    from builder.spec.load import load_spec

    src = tmp_path / "m.keras"
    model.save(src)
    spec_path = tmp_path / "imported.yaml"
    r = CliRunner().invoke(cli, ["import", str(src), "--output", str(spec_path)])
    assert r.exit_code == 0, r.output
    rebuilt = build_model(load_spec(spec_path))
    assert _signature(rebuilt) == _signature(model)
    assert rebuilt.count_params() == model.count_params()
    return spec_path.read_text()


def test_import_sequential_cnn(tmp_path):
    import keras

    L = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1)), L.Rescaling(1 / 255),
        L.Conv2D(8, 3, activation="relu", kernel_initializer="he_normal",
                 kernel_regularizer=keras.regularizers.L2(1e-4)),
        L.BatchNormalization(momentum=0.9), L.MaxPooling2D(2), L.Dropout(0.25), L.Flatten(),
        L.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(3e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    text = _round_trip(model, tmp_path)
    assert "kernel_regularizer: {l2: 0.0001}" in text and "kernel_initializer: he_normal" in text
    assert "momentum: 0.9" in text and "optimizer: {adam: 0.0003}" in text
    assert "use_bias" not in text  # defaults are left out


def test_import_functional_with_skip_and_two_inputs(tmp_path):
    import keras

    L = keras.layers
    a, b = keras.Input((16,), name="a"), keras.Input((8,), name="b")
    h = L.Dense(16, activation="relu", name="h")(a)
    skip = L.Add(name="skip")([h, a])
    hb = L.Dense(16, name="hb")(b)
    both = L.Concatenate(name="both")([skip, hb])
    out = L.Dense(1, activation="sigmoid", name="out")(both)
    text = _round_trip(keras.Model([a, b], out), tmp_path)
    assert "inputs: [h, a]" in text


def test_import_lstm_model(tmp_path):
    import keras

    L = keras.layers
    t = keras.Input((20,), dtype="int32", name="tokens")
    x = L.Embedding(100, 16)(t)
    x = L.LSTM(32, return_sequences=True)(x)
    x = L.Bidirectional(L.LSTM(8))(x)
    text = _round_trip(keras.Model(t, L.Dense(3)(x)), tmp_path)
    assert "dtype: int32" in text and "layer: {lstm: 8}" in text and "backward_layer" not in text


def test_import_refuses_unsafe_and_missing_files(tmp_path):
    import keras

    t = keras.Input((4,))
    model = keras.Model(t, keras.layers.Lambda(lambda v: v * 2)(t))
    model.save(tmp_path / "lam.keras")
    r = CliRunner().invoke(cli, ["import", str(tmp_path / "lam.keras")])
    assert r.exit_code == 1 and "safe mode" in r.output
    r = CliRunner().invoke(cli, ["import", str(tmp_path / "missing.keras")])
    assert r.exit_code == 1 and "not found" in r.output
