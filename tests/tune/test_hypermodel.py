"""builder.tune.hypermodel: one trial built, compiled and fitted by the training step dlbuild fit uses."""

import builder
from tune_specs import TUNE_SPEC


def test_a_trial_builds_and_compiles_with_the_trial_values(write_spec):
    from builder.data.load import load_splits
    from builder.tune.hypermodel import SpecHyperModel
    from builder.tune.space import search_space

    spec = builder.load_spec(write_spec(TUNE_SPEC))
    hp = search_space(spec.spaces)
    hp.values.update({"model.layers[1].dense.units": 8, "model.layers[2]": 1, "lr": 0.1})
    model = SpecHyperModel(spec, load_splits(spec)).build(hp)
    assert model.layers[2].units == 8
    assert type(model.layers[3]).__name__ == "BatchNormalization"
    assert abs(float(model.optimizer.learning_rate) - 0.1) < 1e-7


def test_repeat_is_searchable_for_variable_depth(write_spec):
    from builder.tune.hypermodel import SpecHyperModel
    from builder.tune.space import search_space
    from builder.data.load import load_splits

    text = TUNE_SPEC.replace("- dense: {units: {choice: [4, 8]}, activation: relu}",
                             "- dense: {units: 4, activation: relu, repeat: {int: [1, 3], name: depth}}")
    spec = builder.load_spec(write_spec(text))
    assert sum(n.layer == "Dense" for n in spec.topology.nodes) == 2  # fit: the minimum, 1 + output
    hp = search_space(spec.spaces)
    hp.values["depth"] = 3
    model = SpecHyperModel(spec, load_splits(spec)).build(hp)
    assert sum(type(l).__name__ == "Dense" for l in model.layers) == 4


def test_a_trial_checks_the_labels_as_fit_does_and_stops_the_search_located(write_spec, tmp_path):
    """The label check of builder.run.trial.compile_model runs in every trial, so an alternative
    with too few output units stops the search with fit's located message (no traceback)."""
    import numpy as np
    import pytest

    from builder.data.load import load_splits
    from builder.tune.hypermodel import SpecFatalError, SpecHyperModel
    from builder.tune.space import search_space

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(60, 4)).astype("float32"), y=np.arange(60) % 5)
    path = write_spec("""
name: labels
data: {npz: d.npz, test_split: 0.2}
model:
  inputs: {x: {shape: [4]}}
  layers: [{dense: 8}, {dense: {units: {choice: [5, 3], name: classes}, activation: softmax}}]
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
tune: {strategy: grid, max_trials: 2}
""")
    spec = builder.load_spec(path)
    hypermodel = SpecHyperModel(spec, load_splits(spec))
    hp = search_space(spec.spaces)
    assert hypermodel.build(hp).outputs[0].shape[-1] == 5
    hp.values["classes"] = 3
    with pytest.raises(SpecFatalError) as err:
        hypermodel.build(hp)
    assert (f"{path}:5:" in str(err.value) and "error: output 'dense_1' has 3 units, but the data's labels "
            "go up to 4 (5 classes); give the last layer units: 5" in str(err.value))


def test_a_trial_whose_loss_becomes_nan_fails_with_the_reason(write_spec):
    """fit's NaN guard (builder.run.callbacks.nan_guard) in a trial: the trial fails, the search
    goes on (Keras Tuner's FailedTrialError), and the message says where and what to try."""
    import re

    import keras_tuner as kt
    import pytest

    from builder.data.load import load_splits
    from builder.tune.hypermodel import SpecHyperModel
    from builder.tune.space import search_space

    spec = builder.load_spec(write_spec("""
name: diverge
data: {dataset: diabetes, test_split: 0.2, validation_split: 0.2}
model:
  inputs: {x: {shape: [10]}}
  layers: [{dense: 8}, {dense: 1}]
compile:
  optimizer: {adam: {learning_rate: {choice: [1.0e-3, 1.0e+30], name: lr}}}   # 1e30 overflows to NaN
  loss: mse
fit: {epochs: 1}
tune: {strategy: grid, max_trials: 2}
"""))
    hypermodel = SpecHyperModel(spec, load_splits(spec))
    hp = search_space(spec.spaces)
    hp.values["lr"] = 1e30
    model = hypermodel.build(hp)
    with pytest.raises(kt.errors.FailedTrialError) as err:
        hypermodel.fit(hp, model, epochs=1)
    assert re.fullmatch(r"loss became nan \(NaN/Inf\) at batch \d+; lower the learning rate or clip gradients "
                        r"\(clipnorm\)", str(err.value))


def test_a_spec_mistake_reported_inside_a_trial_keeps_its_text_and_exit_code():
    from builder.tune.hypermodel import ReportedSpecError

    text = "s.yaml:4:10: error: Dense() has no argument 'unit'; did you mean 'units'?"
    err = ReportedSpecError(text)
    assert err.report() == text and err.format() == text and err.exit_code == 2
