"""dlbuild tune: search-space mapping, the coarse-to-fine oracle, outputs, failures, resume, workers."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import builder
from builder.cli.main import main

TUNE_SPEC = """
name: iris_tune
seed: 3
data: {dataset: iris, test_split: 0.2, validation_split: 0.2}
model:
  inputs: {features: {shape: [4]}}
  layers:
    - normalization
    - dense: {units: {choice: [4, 8]}, activation: relu}
    - {choice: [{dropout: {float: [0.0, 0.4], step: 0.2}}, {batch_normalization: {}}]}
    - dense: {units: 3, activation: softmax}
compile:
  optimizer: {adam: {learning_rate: {float: [1.0e-3, 1.0e-1], sampling: log, step: 10, name: lr}}}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {epochs: 2, batch_size: 32}
tune: {strategy: random, objective: val_accuracy, max_trials: 3}
"""


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_space_maps_to_keras_tuner_with_conditional_scopes(write_spec):
    from builder.tune.search import grid_size, search_space

    spec = builder.load_spec(write_spec(TUNE_SPEC))
    hp = search_space(spec.spaces)
    names = [h.name for h in hp.space]
    assert names == ["model.layers[1].dense.units", "model.layers[2]", "model.layers[2].choice[0].dropout", "lr"]
    dropout = hp.space[2]
    assert dropout.conditions and dropout.conditions[0].name == "model.layers[2]"
    assert hp.space[3].sampling == "log"
    # units 2 × (dropout option: 3 rates + batch-norm option: 1) × lr 3 (log step 10: 1e-3, 1e-2, 1e-1)
    assert grid_size(spec.spaces) == 2 * (3 + 1) * 3


def test_a_trial_builds_and_compiles_with_the_trial_values(write_spec):
    from builder.data.load import load_splits
    from builder.tune.search import make_hypermodel, search_space

    spec = builder.load_spec(write_spec(TUNE_SPEC))
    hp = search_space(spec.spaces)
    hp.values.update({"model.layers[1].dense.units": 8, "model.layers[2]": 1, "lr": 0.1})
    model = make_hypermodel(spec, load_splits(spec)).build(hp)
    assert model.layers[2].units == 8
    assert type(model.layers[3]).__name__ == "BatchNormalization"
    assert abs(float(model.optimizer.learning_rate) - 0.1) < 1e-7


def _run_oracle(oracle, score, n):
    """Drive a Keras Tuner oracle without training: ``score(values)`` is the objective."""
    import keras_tuner as kt

    ids = []
    for i in range(n):
        trial = oracle.create_trial(f"t{i}")
        if trial.status != kt.engine.trial.TrialStatus.RUNNING:
            break
        oracle.update_trial(trial.trial_id, {"obj": score(trial.hyperparameters.values)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        ids.append(trial.trial_id)
    return ids


def test_coarse_to_fine_narrows_around_the_best_trials_and_stays_in_range(tmp_path):
    import keras_tuner as kt

    from builder.tune.oracles import CoarseToFineOracle

    hp = kt.HyperParameters()
    hp.Float("lr", 1e-5, 1.0, sampling="log")
    hp.Int("units", 8, 512)
    hp.Choice("act", ["relu", "tanh", "gelu"])
    oracle = CoarseToFineOracle(objective=kt.Objective("obj", "min"), max_trials=30, rounds=3, top_k=3,
                                shrink=0.3, seed=1, hyperparameters=hp)
    oracle._set_project_dir(str(tmp_path), "p")
    target = 3e-3
    import math

    ids = _run_oracle(oracle, lambda v: abs(math.log10(v["lr"]) - math.log10(target)) + (v["act"] != "gelu"), 30)
    assert len(ids) == 30
    values = [oracle.trials[i].hyperparameters.values for i in ids]
    assert all(1e-5 <= v["lr"] <= 1.0 and 8 <= v["units"] <= 512 for v in values)
    box = oracle.boxes["2"]
    lo, hi = box["lr"]
    assert 0 <= lo < hi <= 1 and hi - lo < 0.5  # the unit-interval box shrank
    round3 = values[20:]
    lr_in_box = [hp.space[0].value_to_prob(v["lr"]) for v in round3]
    assert all(lo - 1e-9 <= p <= hi + 1e-9 for p in lr_in_box)
    assert {v["act"] for v in round3} <= set(box["act"])
    # the narrowed rounds find a better objective than the coarse round
    scores = [oracle.trials[i].score for i in ids]
    assert min(scores[10:]) <= min(scores[:10])
    state = oracle.get_state()
    assert state["boxes"]["2"] == box  # saved in oracle.json, so a resumed search keeps its box


def test_tune_writes_trials_best_spec_plots_and_retrained_model(write_spec, tmp_path):
    out = tmp_path / "tune"
    result = CliRunner().invoke(main, ["tune", write_spec(TUNE_SPEC), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = _rows(out / "trials.csv")
    assert len(rows) == 3 and {r["status"] for r in rows} == {"COMPLETED"}
    assert sum(1 for line in result.output.splitlines() if line.startswith("trial ")) == 3
    best = builder.load_spec(out / "best.yaml")
    assert not best.spaces and "tune" not in best.values
    best_row = max(rows, key=lambda r: float(r["objective"]))
    assert best.topology.nodes[1].args["units"] == int(best_row["model.layers[1].dense.units"])
    for name in ("results.md", "objective.png", "objective_vs_lr.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "best" / "metrics.json").read_text())
    assert "accuracy" in metrics["test"] and metrics["val"] == {}  # retrained on train + validation


def test_grid_needs_steps_and_objective_must_be_logged(write_spec):
    text = TUNE_SPEC.replace(", step: 10", "").replace("strategy: random", "strategy: grid")
    result = CliRunner().invoke(main, ["tune", write_spec(text), "--dry-run"])
    assert result.exit_code == 2
    assert ":12:45: error: grid search needs a 'step' for float ranges" in result.output
    bad = TUNE_SPEC.replace("objective: val_accuracy", "objective: val_acuracy")
    result = CliRunner().invoke(main, ["validate", write_spec(bad, "bad")])
    assert result.exit_code == 2
    assert "objective 'val_acuracy' is not logged by this spec" in result.output
    assert "did you mean 'val_accuracy'?" in result.output


def test_dry_run_lists_space_with_lines_and_grid_size(write_spec):
    text = TUNE_SPEC.replace("strategy: random", "strategy: grid")
    result = CliRunner().invoke(main, ["tune", write_spec(text), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert ":8: model.layers[1].dense.units: choice of 2: 4, 8" in result.output
    assert "grid size: 24" in result.output and "estimated duration:" in result.output


def test_failed_trial_is_recorded_and_the_search_goes_on(write_spec, tmp_path):
    text = """
name: diverge
data: {dataset: diabetes, test_split: 0.2}
model:
  inputs: {x: {shape: [10]}}
  layers: [{dense: 8}, {dense: 1}]
compile:
  optimizer: {adam: {learning_rate: {choice: [1.0e-3, 1.0e+30], name: lr}}}   # 1e30 overflows to NaN
  loss: mse
fit: {epochs: 2}
tune: {strategy: grid, max_trials: 2}
"""
    out = tmp_path / "tune"
    result = CliRunner().invoke(main, ["tune", write_spec(text), "--out", str(out), "--no-retrain"])
    assert result.exit_code == 0, result.output
    rows = {r["lr"]: r for r in _rows(out / "trials.csv")}
    assert rows["0.001"]["status"] == "COMPLETED"
    assert rows["1e+30"]["status"] == "FAILED" and "NaN" in rows["1e+30"]["failure"]
    assert "FAILED" in result.output


@pytest.mark.slow
def test_sigkill_mid_search_then_resume_keeps_completed_trials(write_spec, tmp_path):
    text = TUNE_SPEC.replace("max_trials: 3", "max_trials: 4").replace("epochs: 2", "epochs: 30")
    spec = write_spec(text)
    out = tmp_path / "tune"
    cmd = [sys.executable, "-m", "builder.cli.main", "tune", spec, "--out", str(out), "--no-retrain"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:  # kill during the second trial
        if line.startswith("trial 1/"):
            time.sleep(1.0)
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kt_dir = out / "kt"
    first = json.loads((kt_dir / "trial_0" / "trial.json").read_text())
    assert first["status"] == "COMPLETED"
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = _rows(out / "trials.csv")
    assert len(rows) == 4 and len({r["trial_id"] for r in rows}) == 4
    assert {r["status"] for r in rows} == {"COMPLETED"}
    ran_again = [l for l in resumed.stdout.splitlines() if l.startswith("trial ")]
    assert len(ran_again) == 3  # trial 0 was kept; the interrupted one and the rest ran
    assert json.loads((kt_dir / "trial_0" / "trial.json").read_text())["score"] == first["score"]


@pytest.mark.slow
def test_chief_and_two_local_workers_run_every_trial_once(write_spec, tmp_path):
    text = TUNE_SPEC.replace("max_trials: 3", "max_trials: 6")
    out = tmp_path / "tune"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "builder.cli.main", "tune", write_spec(text), "--out", str(out),
                           "--workers", "2", "--no-retrain"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = _rows(out / "trials.csv")
    assert len(rows) == 6 and len({r["trial_id"] for r in rows}) == 6
    assert {r["status"] for r in rows} == {"COMPLETED"}
    per_worker = [sum(1 for l in (out / f"worker{i}.log").read_text().splitlines() if l.startswith("trial "))
                  for i in range(2)]
    assert sum(per_worker) == 6 and all(n > 0 for n in per_worker)
    assert (out / "best.yaml").is_file()


@pytest.mark.parametrize("strategy,extra", [("hyperband", "max_epochs: 2, factor: 2"),
                                            ("bayesian", "max_trials: 3, num_initial_points: 2")])
def test_keras_tuner_strategies_run_from_the_spec(write_spec, tmp_path, strategy, extra):
    text = TUNE_SPEC.replace("tune: {strategy: random, objective: val_accuracy, max_trials: 3}",
                             f"tune: {{strategy: {strategy}, objective: val_accuracy, {extra}}}")
    out = tmp_path / strategy
    result = CliRunner().invoke(main, ["tune", write_spec(text), "--out", str(out), "--no-retrain"])
    assert result.exit_code == 0, result.output
    rows = _rows(out / "trials.csv")
    assert len(rows) >= 2 and all(r["status"] == "COMPLETED" for r in rows)
    assert all(float(r["seconds"]) > 0 for r in rows)
    assert builder.load_spec(out / "best.yaml").spaces == {}


def test_repeat_is_searchable_for_variable_depth(write_spec):
    from builder.tune.search import make_hypermodel, search_space
    from builder.data.load import load_splits

    text = TUNE_SPEC.replace("- dense: {units: {choice: [4, 8]}, activation: relu}",
                             "- dense: {units: 4, activation: relu, repeat: {int: [1, 3], name: depth}}")
    spec = builder.load_spec(write_spec(text))
    assert sum(n.layer == "Dense" for n in spec.topology.nodes) == 2  # fit: the minimum, 1 + output
    hp = search_space(spec.spaces)
    hp.values["depth"] = 3
    model = make_hypermodel(spec, load_splits(spec)).build(hp)
    assert sum(type(l).__name__ == "Dense" for l in model.layers) == 4


def test_coarse_to_fine_uses_its_whole_budget_when_the_box_runs_out_of_points(tmp_path):
    import keras_tuner as kt

    from builder.tune.oracles import CoarseToFineOracle

    hp = kt.HyperParameters()
    hp.Choice("a", [1, 2, 3])
    hp.Choice("b", [1, 2])
    oracle = CoarseToFineOracle(objective=kt.Objective("obj", "min"), max_trials=6, rounds=2, top_k=1,
                                seed=3, hyperparameters=hp)
    oracle._set_project_dir(str(tmp_path), "p")
    ids = _run_oracle(oracle, lambda v: v["a"] + v["b"], 6)
    assert len(ids) == 6  # all six distinct points, though round 2's box holds only one
    assert len({(oracle.trials[i].hyperparameters.values["a"], oracle.trials[i].hyperparameters.values["b"])
                for i in ids}) == 6


OOM_SPEC = """
name: oom_tune
seed: 1
data: {dataset: iris, test_split: 0.2, validation_split: 0.2}
model:
  inputs: {x: {shape: [4]}}
  layers:
    - dense: {units: {choice: [8, 400000000], name: units}}   # 4 × 4e8 float32 = 6.4 GB
    - dense: {units: 3, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
fit: {epochs: 1}
tune: {strategy: grid, max_trials: 2}
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS as a memory limit is Linux's")
def test_out_of_memory_trial_is_recorded_and_the_search_goes_on(write_spec, tmp_path):
    import resource

    limit = 6 * 10**9  # bytes of address space: enough for TensorFlow, not for the 6.4 GB layer

    out = tmp_path / "tune"
    r = subprocess.run([sys.executable, "-m", "builder.cli.main", "tune", write_spec(OOM_SPEC), "--out", str(out),
                        "--no-retrain"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""},
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    assert r.returncode == 0, r.stderr[-3000:]
    rows = {r["units"]: r for r in _rows(out / "trials.csv")}
    assert rows["8"]["status"] == "COMPLETED"
    assert rows["400000000"]["status"] == "FAILED"
    assert rows["400000000"]["failure"].startswith("out of memory: OOM when allocating tensor with shape[4,400000000]")
    assert "out of memory" in r.stdout and "Traceback" not in r.stdout + r.stderr  # one line, no traceback
    assert 'best: {"units": 8}' in r.stdout


def test_trials_release_their_traced_graphs(write_spec, tmp_path):
    """TensorFlow's custom-gradient registry keeps every trial's traced train function alive
    (tensorflow/tensorflow#97697: +4.8 MiB per trial measured, docs/benchmarks.md); dlbuild
    deletes the entries each finished trial added, so the registry does not grow."""
    from builder.catalog.compat import custom_gradient_names

    before = custom_gradient_names()
    result = CliRunner().invoke(main, ["tune", write_spec(TUNE_SPEC), "--out", str(tmp_path / "t"), "--no-retrain"])
    assert result.exit_code == 0, result.output
    assert result.output.count("trial ") >= 3
    assert custom_gradient_names() == before
