"""builder.tune.tuners: the strategy table, the objective, and SpecTuner driven by hand (no training)."""

import json
import re
from pathlib import Path

import pytest

import builder
from tune_specs import TUNE_SPEC


def _resolving(spec):
    """A HyperModel that only resolves the spec (so registers its spaces, as the real one does)
    and builds no model: Keras Tuner calls ``build`` once per alternative when a tuner is made."""
    import keras_tuner as kt

    from builder.tune.hypermodel import SpecHyperModel

    class Resolving(kt.HyperModel):
        def build(self, hp):
            SpecHyperModel(spec, splits=None).resolve(hp)

    return Resolving()


def _one_finished_trial(spec, out, log, score: float):
    """A SpecTuner over ``spec`` writing to ``out``, driven by hand through one trial that
    completes with val_accuracy ``score`` (no model is trained). Returns (tuner, trial)."""
    from builder.tune.tuners import make_tuner

    tuner = make_tuner(spec, _resolving(spec), out, log=log)
    tuner.on_search_begin()
    trial = tuner.oracle.create_trial(tuner.tuner_id)
    tuner.on_trial_begin(trial)
    tuner.oracle.update_trial(trial.trial_id, {"val_accuracy": score})
    trial.status = "COMPLETED"
    tuner.on_trial_end(trial)
    return tuner, trial


def test_every_strategy_the_spec_accepts_has_one_tuner_entry():
    from builder.catalog.strategies import STRATEGIES
    from builder.spec.sections import SECTIONS
    from builder.tune.tuners import STRATEGIES as TABLE

    assert tuple(TABLE) == STRATEGIES
    assert SECTIONS["tune"]["strategy"].choices == STRATEGIES


@pytest.mark.parametrize("strategy,oracle,tuner", [
    ("random", "RandomSearchOracle", "SpecTuner"),
    ("grid", "GridSearchOracle", "SpecTuner"),
    ("coarse_to_fine", "CoarseToFineOracle", "SpecTuner"),
    ("hyperband", "HyperbandOracle", "SpecHyperband"),
    ("bayesian", "BayesianOptimizationOracle", "SpecTuner"),
])
def test_make_tuner_builds_the_strategy_oracle_over_the_whole_space(write_spec, tmp_path, strategy, oracle, tuner):
    import keras_tuner as kt

    from builder.tune.tuners import SpecTuner, make_tuner

    spec = builder.load_spec(write_spec(TUNE_SPEC), overrides=[f"tune.strategy={strategy}", "tune.seed=11"])
    made = make_tuner(spec, _resolving(spec), tmp_path, log=lambda line: None)
    assert isinstance(made, SpecTuner) and type(made).__name__ == tuner
    assert type(made.oracle).__name__ == oracle
    assert [h.name for h in made.oracle.hyperparameters.space] == [
        "model.layers[1].dense.units", "model.layers[2]", "model.layers[2].choice[0].dropout", "lr"]
    assert made.oracle.objective.name == "val_accuracy" and made.oracle.objective.direction == "max"
    assert made.oracle.seed == 11
    assert Path(made.project_dir) == tmp_path / "kt"
    if strategy == "hyperband":
        assert isinstance(made, kt.Hyperband)  # brackets continue from the previous bracket's weights
        assert made.oracle.max_epochs == spec.fit["epochs"] and made._budget is None
    else:
        assert made.oracle.max_trials == 3 and made._budget == 3


def test_objective_direction_is_inferred_from_the_metric_name(write_spec):
    from builder.tune.tuners import objective_of

    spec = builder.load_spec(write_spec(TUNE_SPEC))
    assert objective_of(spec).direction == "max"
    loss = builder.load_spec(write_spec(TUNE_SPEC.replace("objective: val_accuracy", "objective: val_loss"), "b"))
    assert objective_of(loss).direction == "min"


def test_a_finished_trial_prints_one_line_and_records_its_seconds(write_spec, tmp_path):
    from builder.tune.outputs import write_outputs

    spec = builder.load_spec(write_spec(TUNE_SPEC))
    lines = []
    tuner, trial = _one_finished_trial(spec, tmp_path, lines.append, 0.75)
    assert len(lines) == 1 and lines[0].startswith(f"trial 1/3 [{trial.trial_id}] val_accuracy 0.7500 | best 0.7500 |")
    assert re.search(r"\| trial \d+\.\d s, elapsed \d+ s \| ", lines[0]) and "lr=" in lines[0]
    recorded = json.loads((tmp_path / "trial_seconds" / f"{trial.trial_id}.txt").read_text())
    assert recorded["seconds"] >= 0 and recorded["fit_seconds"] == 0  # no model.fit ran in this hand-made trial
    # the outputs of a search of that one trial: trials.csv, results.md, best.yaml, objective.png
    values = write_outputs(tuner, spec, tmp_path)
    assert values == trial.hyperparameters.values
    import csv
    (row,) = csv.DictReader((tmp_path / "trials.csv").open())
    assert row["status"] == "COMPLETED" and float(row["objective"]) == 0.75
    assert float(row["other_seconds"]) == pytest.approx(float(row["seconds"]) - float(row["fit_seconds"]), abs=1e-3)
    assert "val_accuracy" in (tmp_path / "results.md").read_text()
    best = builder.load_spec(tmp_path / "best.yaml")
    assert not best.spaces and "tune" not in best.values
    assert best.topology.nodes[1].args["units"] == values["model.layers[1].dense.units"]
    assert (tmp_path / "objective.png").is_file() and (tmp_path / "results.md").is_file()


def test_best_yaml_reads_the_specs_own_data_from_any_folder(tmp_path, monkeypatch):
    """A spec whose data file sits beside it, tuned into another folder: best.yaml names the same
    file, so ``dlbuild fit best.yaml`` trains on it from any working directory."""
    import numpy as np

    from builder.tune.outputs import write_outputs

    project, elsewhere, other = (tmp_path / d for d in ("project", "elsewhere", "other"))
    for d in (project, elsewhere, other):
        d.mkdir()
    rng = np.random.default_rng(0)
    np.savez(project / "mine.npz", x=rng.normal(size=(30, 4)).astype("float32"), y=rng.integers(0, 3, 30))
    (project / "spec.yaml").write_text(TUNE_SPEC.replace("dataset: iris", "npz: mine.npz"))
    monkeypatch.chdir(other)
    spec = builder.load_spec(project / "spec.yaml")
    tuner, _ = _one_finished_trial(spec, elsewhere, lambda line: None, 0.5)
    write_outputs(tuner, spec, elsewhere)

    monkeypatch.chdir(tmp_path)  # neither the spec's folder nor the tune directory
    best = builder.load_spec(elsewhere / "best.yaml")
    assert Path(best.data["npz"]) == (project / "mine.npz").resolve()


def test_a_resumed_search_counts_the_trials_it_already_finished(write_spec, tmp_path):
    """A second tuner over the same directory (a resume) goes on at "trial 2/3", not "trial 1/3"."""
    spec = builder.load_spec(write_spec(TUNE_SPEC))
    _one_finished_trial(spec, tmp_path, lambda line: None, 0.5)
    lines = []
    _one_finished_trial(spec, tmp_path, lines.append, 0.75)
    assert lines[0].startswith("trial 2/3 ")


def test_the_best_spec_retrains_on_train_and_validation_even_with_data_split(write_spec, tmp_path):
    """best.yaml of a spec with `split` holds split and the derived fractions; the retrain's
    overrides must not contradict them (it failed after every trial had run)."""
    from builder.data.load import load_splits
    from builder.spec.dump import dump_yaml
    from builder.tune.outputs import best_spec_values
    from builder.tune.search import RETRAIN_OVERRIDES

    spec = builder.load_spec(write_spec(TUNE_SPEC.replace(
        "data: {dataset: iris, test_split: 0.2, validation_split: 0.2}", "data: {dataset: iris, split: [0.7, 0.15, 0.15]}")))
    best = tmp_path / "best.yaml"
    best.write_text(dump_yaml(best_spec_values(spec, {})))  # every hyperparameter at its default
    retrain = builder.load_spec(best, overrides=list(RETRAIN_OVERRIDES))
    assert retrain.data["validation_split"] == 0 and retrain.data["test_split"] == 0.15
    assert load_splits(retrain).val is None
