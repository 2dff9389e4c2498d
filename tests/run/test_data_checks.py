"""builder.run.data_checks through the shared trial step: data that does not fit the model is a
located error before the first step, in fit and in every tune trial (tiny arrays, no training)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import builder
from builder.cli.main import main
from builder.data.splits import Splits
from builder.errors import SpecError

SPEC = """\
name: shapes
data: {{npz: d.npz}}
model:
  inputs: {inputs}
  layers:
    - flatten
    - dense: {{units: {units}}}
compile: {{optimizer: adam, loss: {loss}}}
"""


def _spec(tmp_path, inputs="{pixels: {shape: [64]}}", units="3, activation: softmax",
          loss="sparse_categorical_crossentropy"):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2), "float32"), y=np.arange(4) % 3)  # validate needs the file
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(inputs=inputs, units=units, loss=loss))
    return builder.load_spec(path)


def _compile(spec, x, y, task="classification"):
    from builder.run import trial

    return trial.compile_model(spec, trial.build(spec), Splits((x, y), None, (x, y), None, task))


def _error(spec, x, y, task="classification") -> str:
    with pytest.raises(SpecError) as err:
        _compile(spec, x, y, task)
    return err.value.format()


def test_image_data_into_a_flat_input_is_reported_at_the_input_with_the_datas_shape(tmp_path):
    spec = _spec(tmp_path)
    report = _error(spec, np.zeros((10, 8, 8, 1), "float32"), np.arange(10) % 3)
    assert report.startswith(f"{tmp_path / 'spec.yaml'}:4:20: error: input 'pixels' takes samples of shape (64,), "
                             "but the data's samples have shape (8, 8, 1) (x: (10, 8, 8, 1) in the training "
                             "split); write shape: [8, 8, 1] or reshape the data")
    assert "  inputs: {pixels: {shape: [64]}}" in report


def test_a_size_one_axis_more_or_less_is_accepted_as_keras_adjusts_it(tmp_path):
    spec = _spec(tmp_path, inputs="{series: {shape: [5, 1]}}")
    assert _compile(spec, np.zeros((6, 5), "float32"), np.arange(6) % 3).model.optimizer is not None
    flat = _spec(tmp_path, inputs="{series: {shape: [5]}}")
    assert _compile(flat, np.zeros((6, 5, 1), "float32"), np.arange(6) % 3).model.optimizer is not None
    other = _spec(tmp_path, inputs="{series: {shape: [5, 1]}}")
    with pytest.raises(SpecError, match=r"takes samples of shape \(5, 1\), but the data's samples have shape \(5, 2\)"):
        _compile(other, np.zeros((6, 5, 2), "float32"), np.arange(6) % 3)


def test_named_inputs_need_an_array_each_and_text_needs_a_string_input(tmp_path):
    _spec(tmp_path)  # the data file
    spec_src = tmp_path / "two.yaml"
    spec_src.write_text(SPEC.format(inputs="{a: {shape: [2]}, b: {shape: [2]}}", units="3, activation: softmax",
                                    loss="sparse_categorical_crossentropy").replace("flatten", "concatenate: {inputs: [a, b]}"))
    spec = builder.load_spec(spec_src)
    report = _error(spec, {"a": np.zeros((6, 2), "float32"), "c": np.zeros((6, 2), "float32")}, np.arange(6) % 3)
    assert "error: input 'b' has no data: the data's arrays are 'a', 'c' (not inputs: 'c')" in report
    text = _spec(tmp_path, inputs="{x: {shape: [3]}}")
    report = _error(text, np.array([["a", "b", "c"]] * 6), np.arange(6) % 3)
    assert "input 'x' takes numbers (dtype float32), but its data holds text" in report
    assert report.startswith(f"{tmp_path / 'spec.yaml'}:4:")


def test_regression_targets_of_another_shape_are_reported_at_the_output_layer(tmp_path):
    spec = _spec(tmp_path, inputs="{x: {shape: [4]}}", units="3", loss="mse")
    report = _error(spec, np.zeros((6, 4), "float32"), np.zeros((6, 2), "float32"), task="regression")
    assert report.startswith(f"{tmp_path / 'spec.yaml'}:7:") and "    - dense: {units: 3}" in report
    assert "the output gives (3,) per sample, but the targets have shape (2,) per sample" in report
    good = _spec(tmp_path, inputs="{x: {shape: [4]}}", units="1", loss="mse")
    assert _compile(good, np.zeros((6, 4), "float32"), np.zeros(6, "float32"), task="regression").splits.train[1].shape == (6, 1)


def test_fit_and_tune_stop_before_training_when_the_data_does_not_fit(tmp_path, monkeypatch):
    """The issue's case, as a user meets it: their own npz beside their spec, another working folder."""
    project, cwd = tmp_path / "project", tmp_path / "cwd"
    project.mkdir(), cwd.mkdir()
    rng = np.random.default_rng(0)
    np.savez(project / "digits.npz", x=rng.normal(size=(30, 8, 8, 1)).astype("float32"), y=np.arange(30) % 3)
    spec = project / "spec.yaml"
    spec.write_text("name: digits\ndata: {npz: digits.npz}\nmodel:\n  inputs: {pixels: {shape: [64]}}\n"
                    "  layers:\n    - dense: {units: {choice: [8, 16]}, activation: relu}\n"
                    "    - dense: {units: 3, activation: softmax}\n"
                    "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\nfit: {epochs: 1}\n"
                    "tune: {strategy: grid, max_trials: 2}\n")
    monkeypatch.chdir(cwd)
    expected = f"{spec}:4:20: error: input 'pixels' takes samples of shape (64,), but the data's samples have shape (8, 8, 1)"
    fit = CliRunner().invoke(main, ["fit", str(spec), "-q"])
    assert fit.exit_code == 2 and expected in fit.output and "Traceback" not in fit.output
    tune = CliRunner().invoke(main, ["tune", str(spec), "--out", str(tmp_path / "search")])
    assert tune.exit_code == 2 and expected in tune.output, tune.output
    assert "Traceback" not in tune.output and "Trial 2" not in tune.output  # stopped at the first trial
    assert not list(tmp_path.rglob("model.keras"))  # nothing was trained
