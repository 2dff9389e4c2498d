"""builder.spec.consistency: loss ↔ output ↔ target mismatches, found without TensorFlow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from builder.catalog.datasets import DATASETS
from builder.spec import consistency
from builder.errors import SpecError
from builder.spec.load import load_spec

ROOT = Path(__file__).resolve().parents[2]
VALID = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "docs" / "examples").glob("*.yaml"))

IRIS = """
name: iris_mlp
data:
  dataset: {dataset}
model:
  inputs: {{features: {{shape: [{width}]}}}}
  layers:
    - dense: {{units: 16, activation: relu}}
    - {last}
compile:
  optimizer: adam
  loss: {loss}
"""


def diagnostics(path) -> list:
    """consistency.check's diagnostics for the spec at ``path`` (also once spec.check_values calls
    it, when load_spec raises them)."""
    try:
        spec = load_spec(path)
    except SpecError as err:
        return err.diagnostics
    return consistency.check(spec)


def problems(write_spec, *, dataset="iris", width=4, last="dense: {units: 3, activation: softmax}",
             loss="sparse_categorical_crossentropy"):
    return [(d.message, d.path) for d in diagnostics(write_spec(IRIS.format(dataset=dataset, width=width,
                                                                                last=last, loss=loss)))]


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_no_false_alarm_on_valid_specs(path):
    found = diagnostics(path)
    if any(d.path[:2] == ("model", "init_from") for d in found):
        pytest.skip("needs a trained run to start from (model.init_from)")
    assert found == []


@pytest.mark.parametrize("name", sorted(n for n, d in DATASETS.items() if d.task))
def test_bundled_table_matches_the_data(name):
    from builder.data.sources.bundled import load_dataset
    from builder.errors import SpecError

    try:
        arrays = load_dataset(name)
    except SpecError:
        pytest.skip(f"{name} is not installed here")
    y = np.asarray(arrays.y_train)
    if DATASETS[name].task == "regression":
        assert np.issubdtype(y.dtype, np.floating)
    else:
        assert np.issubdtype(y.dtype, np.integer)
        assert len(np.unique(y)) == DATASETS[name].classes


def test_correct_pairs_pass(write_spec):
    assert problems(write_spec) == []
    assert problems(write_spec, last="dense: 3",
                    loss="{sparse_categorical_crossentropy: {from_logits: true}}") == []
    assert problems(write_spec, dataset="breast_cancer", width=30,
                    last="dense: {units: 1, activation: sigmoid}", loss="binary_crossentropy") == []
    assert problems(write_spec, dataset="diabetes", width=10, last="dense: 1", loss="mse") == []


def test_softmax_with_from_logits(write_spec):
    (msg, path), = problems(write_spec, loss="{sparse_categorical_crossentropy: {from_logits: true}}")
    assert msg.startswith("from_logits: true tells the loss that output 'dense_1' gives raw scores, "
                          "but it ends in a softmax activation")
    assert path == ("compile", "loss", "sparse_categorical_crossentropy", "from_logits")


def test_softmax_as_a_separate_layer_after_dropout(write_spec):
    last = "dense: 3\n    - softmax\n    - dropout: 0.1"
    (msg, _), = problems(write_spec, last=last, loss="{sparse_categorical_crossentropy: {from_logits: true}}")
    assert "ends in a softmax activation" in msg


def test_binary_loss_on_ten_units(write_spec):
    (msg, path), = problems(write_spec, dataset="digits", width=64,
                            last="dense: {units: 10, activation: softmax}", loss="binary_crossentropy")
    assert msg.startswith("binary_crossentropy treats each of the 10 units of output 'dense_1'")
    assert msg.endswith("use sparse_categorical_crossentropy")
    assert path == ("compile", "loss")


def test_sparse_loss_on_one_unit(write_spec):
    (msg, _), = problems(write_spec, last="dense: {units: 1, activation: sigmoid}")
    assert "needs one output unit per class, but output 'dense_1' has 1 unit" in msg


def test_sparse_loss_on_regression_targets(write_spec):
    (msg, _), = problems(write_spec, dataset="diabetes", width=10, last="dense: 4")
    assert "targets of dataset 'diabetes' are real numbers (regression)" in msg


def test_categorical_loss_on_class_indices(write_spec):
    (msg, _), = problems(write_spec, loss="categorical_crossentropy")
    assert msg == ("categorical_crossentropy expects one-hot targets, but the targets of dataset 'iris' "
                   "are integer class labels; use sparse_categorical_crossentropy")


def test_fewer_units_than_classes(write_spec):
    (msg, path), = problems(write_spec, dataset="digits", width=64, last="dense: {units: 5, activation: softmax}")
    assert msg.startswith("output 'dense_1' has 5 units but dataset 'digits' has 10 classes")
    assert path[-1] == "units"


def test_per_output_losses(write_spec):
    found = diagnostics(write_spec("""
        name: two_heads
        data: {dataset: digits}
        model:
          inputs: {image: {shape: [8, 8, 1]}}
          layers:
            - flatten
            - dense: {units: 32, activation: relu, name: trunk}
            - dense: {units: 10, activation: softmax, name: digit}
            - dense: {units: 1, activation: sigmoid, name: is_even, inputs: [trunk]}
          outputs: [digit, is_even]
        compile:
          optimizer: adam
          loss: {digit: {sparse_categorical_crossentropy: {from_logits: true}}, is_even: sparse_categorical_crossentropy}
        """))
    found = sorted((d.path, d.message.split(",")[0]) for d in found)
    assert [p for p, _ in found] == [("compile", "loss", "digit", "sparse_categorical_crossentropy", "from_logits"),
                                     ("compile", "loss", "is_even")]


def test_check_is_tensorflow_free():
    import subprocess
    import sys

    code = ("import sys, builder.spec.consistency, builder.spec.load; "
            "spec = builder.spec.load.load_spec('specs/iris_mlp.yaml'); builder.spec.consistency.check(spec); "
            "assert 'tensorflow' not in sys.modules, 'TensorFlow imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.slow  # runs dlbuild fit (TensorFlow, the data pipeline) up to the label check
def test_labels_beyond_the_output_units_are_a_located_error_before_training(tmp_path):
    import numpy as np
    from click.testing import CliRunner

    from builder.cli.main import main

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(120, 4)).astype("float32"), y=rng.integers(0, 10, 120))
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\ndata: {npz: d.npz, test_split: 0.2}\nmodel:\n  inputs: {x: {shape: [4]}}\n"
                    "  layers: [{dense: 8}, {dense: {units: 3, activation: softmax}}]\n"
                    "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\nfit: {epochs: 1}\n")
    result = CliRunner().invoke(main, ["fit", str(spec), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 2, result.output
    assert (f"{spec}:5:40: error: output 'dense_1' has 3 units, but the data's labels go up to 9 "
            "(10 classes); give the last layer units: 10") in result.output
    assert not (tmp_path / "run" / "history.csv").exists()
