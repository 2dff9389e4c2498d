"""Spec checking: sections, item forms, blocks, repeat, wiring, search spaces (no TensorFlow)."""

import pytest

from builder.spec import hparams
from builder.errors import Collector, SpecError
from builder.spec.load import load_spec
from builder.spec.source import loads

HEAD = """
data: {dataset: iris}
compile: {loss: sparse_categorical_crossentropy}
"""


def spec_text(layers: str, extra: str = "") -> str:
    return HEAD + "model:\n  inputs: {x: {shape: [4]}}\n" + extra + "  layers:\n" + layers


def test_three_item_forms_and_defaults(write_spec):
    s = load_spec(write_spec(spec_text("    - dense: 8\n    - batch_normalization\n    - dense: {units: 3, activation: softmax}\n")))
    nodes = s.topology.nodes
    assert [(n.layer, n.args) for n in nodes] == [
        ("Dense", {"units": 8}), ("BatchNormalization", {}), ("Dense", {"units": 3, "activation": "softmax"})]
    assert [n.name for n in nodes] == ["dense", "batch_normalization", "dense_1"]
    assert s.compile["optimizer"] == "rmsprop" and s.fit["epochs"] == 1 and s.fit["batch_size"] == 32


def test_blocks_with_params_and_repeat_expand_to_distinct_layers(write_spec):
    blocks = """  blocks:
    mlp:
      params: {width: 16, rate: 0.1}
      layers:
        - dense: {units: $width, activation: relu}
        - dropout: $rate
"""
    s = load_spec(write_spec(spec_text("    - mlp: {width: 32, repeat: 3}\n    - mlp: 8\n    - dense: 3\n", blocks)))
    dense = [n for n in s.topology.nodes if n.layer == "Dense"]
    assert [n.args["units"] for n in dense] == [32, 32, 32, 8, 3]
    assert len({n.name for n in s.topology.nodes}) == len(s.topology.nodes) == 9
    assert s.topology.nodes[2].inputs == (s.topology.nodes[1].name,)  # repetition 2 follows repetition 1


def test_graph_wiring_with_names_inputs_and_outputs(write_spec):
    layers = """    - dense: {units: 8, name: a}
    - dense: {units: 8, name: b, inputs: [x]}
    - concatenate: {inputs: [a, b]}
    - dense: {units: 3, name: out}
"""
    s = load_spec(write_spec(spec_text(layers)))
    by = {n.name: n for n in s.topology.nodes}
    assert by["a"].inputs == ("x",) and by["b"].inputs == ("x",)
    assert by["concatenate"].inputs == ("a", "b")
    assert s.topology.outputs == ["out"]


def test_search_spaces_resolve_to_defaults_for_fit(write_spec):
    layers = """    - dense: {units: {choice: [16, 32], default: 32}}
    - dropout: {float: [0.0, 0.5], step: 0.1}
    - {choice: [{dense: 4}, {dense: {units: 5}}]}
    - dense: {units: {int: [2, 8], name: width}}
"""
    s = load_spec(write_spec(spec_text(layers)))
    assert [n.args for n in s.topology.nodes] == [{"units": 32}, {"rate": 0.0}, {"units": 4}, {"units": 2}]
    assert set(s.spaces) == {"model.layers[0].dense.units", "model.layers[1].dropout", "model.layers[2]", "width"}


def test_errors_in_a_non_default_alternative_are_reported(write_spec):
    layers = "    - {choice: [{dense: 4}, {dense: {unit: 5}}]}\n    - dense: 3\n"
    with pytest.raises(SpecError, match=r"Dense\(\) has no argument 'unit'; did you mean 'units'\?") as e:
        load_spec(write_spec(spec_text(layers)))
    report = str(e.value)
    assert report.count(": error: ") == 1 and ":6:44: error" in report


def test_grid_and_describe_of_spaces():
    out = Collector()
    spaces = hparams.find(loads("a: {int: [32, 128], step: 32}\nb: {float: [0.1, 0.3], step: 0.1}\n"
                                "c: {float: [1.0e-4, 1.0e-2], sampling: log}\n").values, out)
    assert not out.diagnostics
    assert spaces["a"].grid() == [32, 64, 96, 128]
    assert spaces["b"].grid() == [0.1, 0.2, 0.3]
    assert spaces["c"].grid() is None
    assert spaces["c"].describe() == "float in [0.0001, 0.01] log"


def test_a_shared_name_must_have_one_definition():
    out = Collector()
    hparams.find(loads("a: {int: [1, 4], name: n}\nb: {int: [1, 5], name: n}\n").values, out)
    assert [d.message for d in out.diagnostics] == [
        "hyperparameter 'n' is defined differently at a; a shared name must have one definition"]


def test_all_errors_are_reported_at_once_sorted_by_line(write_spec):
    text = """
data: {dataset: iris, validaton_split: 0.2}
model:
  inputs: {x: {shape: [4]}}
  layers:
    - dense: {unit: 8}
    - dense: 3
compile: {loss: sparse_categorical_crossentropy, optimizer: adamm}
"""
    with pytest.raises(SpecError) as e:
        load_spec(write_spec(text))
    report = str(e.value)
    assert report.startswith(f"{e.value.source.filename}: 3 errors")
    lines = [l for l in report.splitlines() if ": error: " in l]
    assert [l.split(": error: ")[0].rsplit(":", 2)[1:] for l in lines] == [["1", "23"], ["5", "15"], ["7", "61"]]
    assert "did you mean 'validation_split'?" in lines[0]
    assert "did you mean 'units'?" in lines[1]
    assert "unknown optimizer 'adamm'; did you mean 'adam'?" in lines[2]


def test_a_shared_name_is_one_hyperparameter_used_in_two_places(write_spec):
    layers = ("    - dense: {units: {choice: [32, 64], name: width}}\n"
              "    - dense: {units: {choice: [32, 64], name: width}}\n    - dense: 3\n")
    s = load_spec(write_spec(spec_text(layers)))
    assert list(s.spaces) == ["width"]
    assert [n.args["units"] for n in s.topology.nodes] == [32, 32, 3]
    chosen = hparams.resolve(s.template.values, lambda h: 64, s.spaces)
    assert [l["dense"]["units"] for l in chosen["model"]["layers"][:2]] == [64, 64]


def test_objective_names_follow_what_keras_logs(write_spec):
    from builder.catalog.registry import catalog
    from builder.spec.section_checks import logged_metrics

    names = logged_metrics({"metrics": ["mae", "accuracy", {"auc": {"name": "pr_auc"}}, {"precision": {}}]}, catalog())
    assert names[:5] == ["loss", "mean_absolute_error", "accuracy", "pr_auc", "precision"]
    assert "val_mean_absolute_error" in names



# --- training techniques: cross-validation, test-time augmentation, one-hot, weighted metrics ---

TECHNIQUES = """
data: {dataset: iris}
model:
  inputs: {x: {shape: [4]}}
  layers:
    - dense: {units: 3, activation: softmax}
compile:
  loss: sparse_categorical_crossentropy
fit:
  epochs: 1
"""


def _errors(write_spec, text: str) -> list[tuple[int, int, str]]:
    """(line, column, message) of every error ``load_spec`` reports for ``text``."""
    with pytest.raises(SpecError) as e:
        load_spec(write_spec(text))
    return [(line, col, msg) for _file, line, col, msg, _quote in e.value.located()]


def _at(text: str, line_with: str, needle: str) -> tuple[int, int]:
    """1-based (line, column) of ``needle`` on the first line of ``text`` containing ``line_with``
    (as ``write_spec`` stores the text)."""
    lines = text.lstrip("\n").splitlines()
    i = next(i for i, line in enumerate(lines) if line_with in line)
    return i + 1, lines[i].index(needle, lines[i].index(line_with)) + 1


@pytest.mark.parametrize("value, needle, message", [
    ("1", "1", "cross-validation needs at least 2 folds; received: 1"),
    ("{folds: 1}", "1}", "cross-validation needs at least 2 folds; received: 1"),
    ("{folds: 3, shufle: false}", "shufle", "unknown key 'shufle' in 'cross_validation'; did you mean 'shuffle'?"),
    ("{shuffle: false}", "{", "'cross_validation' needs 'folds': the number of folds K (at least 2)"),
    ("{folds: 3, shuffle: maybe}", "maybe", "'shuffle' must be true or false; received: 'maybe'"),
    ("five", "five", "'cross_validation' must be an integer or a mapping; received: 'five'"),
])
def test_cross_validation_values_are_checked(write_spec, value, needle, message):
    text = TECHNIQUES + f"  cross_validation: {value}\n"
    assert _errors(write_spec, text) == [(*_at(text, "cross_validation: ", needle), message)]


def test_cross_validation_refuses_ordered_data_and_multi_worker(write_spec):
    window = TECHNIQUES.replace("{dataset: iris}", "{dataset: sunspots, window: {input: 8}}").replace(
        "sparse_categorical_crossentropy", "mse").replace("{units: 3, activation: softmax}", "1")
    window += "  cross_validation: 3\n"
    assert _errors(write_spec, window) == [(*_at(window, "cross_validation: ", "3"), (
        "cross-validation folds need independent samples; data.window makes samples of one ordered series or "
        "text stream, which a fold would cut across"))]
    workers = TECHNIQUES + "  cross_validation: 3\ndistribute: {strategy: multi_worker}\n"
    assert _errors(write_spec, workers) == [(*_at(workers, "cross_validation: ", "3"), (
        "cross_validation trains its folds one after another in one process; it does not combine with "
        "distribute.strategy: multi_worker"))]


def test_tta_needs_augmentation_layers_and_a_positive_count(write_spec):
    text = TECHNIQUES + "  tta: 4\n"
    assert _errors(write_spec, text) == [(*_at(text, "tta: ", "4"), (
        "'tta' averages predictions over randomly augmented copies of each test input, but the model has no "
        "augmentation layer (RandomFlip, RandomRotation, RandomZoom, ... or another Keras Random* layer)"))]
    augmented = text.replace("  layers:\n", "  layers:\n    - reshape: [2, 2, 1]\n    - random_flip\n"
                                              "    - flatten\n")
    assert load_spec(write_spec(augmented)).fit["tta"] == 4
    zero = augmented.replace("tta: 4", "tta: 0")
    assert _errors(write_spec, zero) == [(*_at(zero, "tta: ", "0"), "'tta' must be at least 1; received: 0")]


def test_weighted_metrics_are_metric_items_and_logged(write_spec):
    from builder.catalog.registry import catalog
    from builder.spec.section_checks import logged_metrics

    text = TECHNIQUES.replace("compile:\n", "compile:\n  metrics: [accuracy]\n  weighted_metrics: [accuracy, accurcy]\n")
    assert _errors(write_spec, text) == [(*_at(text, "weighted_metrics", "accurcy"),
                                          "unknown metric 'accurcy'; did you mean 'accuracy'?")]
    spec = load_spec(write_spec(text.replace(", accurcy", ", {auc: {name: wauc}}")))
    names = logged_metrics(spec.compile, catalog())
    assert names[:4] == ["loss", "accuracy", "weighted_accuracy", "wauc"]  # Keras's naming of a repeated name


def test_one_hot_is_for_class_index_targets(write_spec):
    mlm = """
name: mlm
data:
  dataset: movie_sentiment
  masked_lm: {sequence_length: 8, max_tokens: 50}
  one_hot: true
model:
  inputs: {t: {shape: [8], dtype: int32}}
  layers:
    - embedding: {input_dim: 50, output_dim: 4}
compile: {loss: {sparse_categorical_crossentropy: {from_logits: true}}}
"""
    assert _errors(write_spec, mlm)[0] == (*_at(mlm, "one_hot", "true"), (
        "'one_hot' encodes class-index targets; data.masked_lm makes sequence targets (token ids or values), "
        "which stay as they are"))
    text = TECHNIQUES.replace("{dataset: iris}", "{dataset: iris, one_hot: true}").replace(
        "sparse_categorical_crossentropy", "{categorical_crossentropy: {label_smoothing: 0.1}}")
    assert load_spec(write_spec(text)).data["one_hot"] is True
    assert load_spec(write_spec(TECHNIQUES)).data["one_hot"] is False  # the default, shown in spec.resolved.yaml
