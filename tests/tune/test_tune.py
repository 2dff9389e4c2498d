"""dlbuild tune end to end (real searches, all slow): outputs, failures, resume, workers, strategies."""

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
from tune_specs import TUNE_SPEC


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
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


@pytest.mark.slow
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
    cmd = [sys.executable, "-m", "builder.cli", "tune", spec, "--out", str(out), "--no-retrain"]
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
    done = subprocess.run([sys.executable, "-m", "builder.cli", "tune", write_spec(text), "--out", str(out),
                           "--workers", "2", "--no-retrain"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = _rows(out / "trials.csv")
    assert len(rows) == 6 and len({r["trial_id"] for r in rows}) == 6
    assert {r["status"] for r in rows} == {"COMPLETED"}
    per_worker = [sum(1 for l in (out / f"worker{i}.log").read_text().splitlines() if l.startswith("trial "))
                  for i in range(2)]
    assert sum(per_worker) == 6 and all(n > 0 for n in per_worker)
    assert (out / "best.yaml").is_file()


@pytest.mark.slow
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
    r = subprocess.run([sys.executable, "-m", "builder.cli", "tune", write_spec(OOM_SPEC), "--out", str(out),
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


@pytest.mark.slow
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


def test_workers_auto_is_one_trial_per_gpu_and_in_process_without_gpus(write_spec, tmp_path):
    from builder.tune.workers import workers_for

    assert [workers_for(g) for g in (0, 1, 2, 8)] == [0, 0, 2, 8]
    out = tmp_path / "tune"
    text = TUNE_SPEC.replace("max_trials: 3", "max_trials: 2").replace("epochs: 2", "epochs: 1")
    result = CliRunner().invoke(main, ["tune", write_spec(text), "--out", str(out), "--workers", "auto",
                                       "--no-retrain"])
    assert result.exit_code == 0, result.output
    assert "dlbuild: --workers auto: no GPU, trials run in this process" in result.output
    assert not list(out.glob("worker*.log")) and len(_rows(out / "trials.csv")) == 2
