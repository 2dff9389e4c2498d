"""scripts/gpu_check.sh, the GPU-machine check (docs/distributed.md, "Checking a GPU machine").

Its shell is syntax-checked; its helper scripts/gpu_check.py computes step times, rows and the table
from a synthetic run directory (metrics.json + history.csv written here); the slow test runs the whole
script with QUICK=1 on this machine (no GPU: the GPU rows are skipped or run on the CPU).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"


def _load_helper():
    spec = importlib.util.spec_from_file_location("gpu_check_helper", ROOT / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    before, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no scripts/__pycache__ in the clone
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = before
    return module


gc = _load_helper()


def _run_dir(path: Path, *, walls=(10.0, 4.0), train=1000, batch=128, replicas=1, val_acc=0.8,
             precision="none", steps_per_epoch=None, placement="1 device (CPU)") -> Path:
    """A run directory as dlbuild fit leaves it, reduced to what the helper reads."""
    path.mkdir(parents=True)
    (path / "metrics.json").write_text(json.dumps({
        "val": {"accuracy": val_acc, "loss": 0.5}, "train_samples": train, "batch_size": batch,
        "replicas": replicas, "fit_seconds": sum(walls), "epochs": len(walls)}))
    with open(path / "history.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["epoch", "accuracy", "loss", "val_accuracy", "val_loss", "wall_seconds",
                                          "cpu_seconds"])
        w.writeheader()
        for i, wall in enumerate(walls, 1):
            w.writerow({"epoch": i, "accuracy": 0.7, "loss": 0.6, "val_accuracy": val_acc - 0.01, "val_loss": 0.5,
                        "wall_seconds": wall, "cpu_seconds": wall * 2})
    steps = "null" if steps_per_epoch is None else steps_per_epoch
    (path / "spec.resolved.yaml").write_text(f"name: t\nfit:\n  epochs: {len(walls)}\n  batch_size: {batch}\n"
                                             f"  steps_per_epoch: {steps}\n  mixed_precision: {precision}\n")
    (path / "run.json").write_text(json.dumps({"devices": {"placement": placement, "physical": ["CPU:0"]}}))
    return path


def test_the_shell_script_parses():
    done = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_step_time_is_epoch_two_over_the_steps(tmp_path):
    run = _run_dir(tmp_path / "r")  # 1000 samples / 128 = 8 steps (the last one short)
    assert gc.steps_per_epoch(run) == 8
    t = gc.step_time(run)
    assert t == {"epoch": 2, "epoch_seconds": 4.0, "steps": 8, "seconds_per_step": 0.5}
    assert gc.val_accuracy(run) == pytest.approx(0.8)


def test_steps_per_epoch_of_the_spec_wins(tmp_path):
    run = _run_dir(tmp_path / "r", steps_per_epoch=5)
    assert gc.step_time(run)["seconds_per_step"] == pytest.approx(0.8)


def test_a_one_epoch_run_is_timed_on_its_only_epoch_and_says_so(tmp_path):
    run = _run_dir(tmp_path / "r", walls=(6.4,))
    assert gc.step_time(run)["seconds_per_step"] == pytest.approx(0.8)
    assert "epoch 1 only: includes tracing" in gc.fit_row("step time CPU", run, 0, 12.0)["notes"]


def test_fit_rows_check_replicas_precision_and_compare(tmp_path):
    cpu = _run_dir(tmp_path / "cpu", walls=(10.0, 4.0))           # 500 ms/step
    gpu = _run_dir(tmp_path / "gpu", walls=(3.0, 0.4), placement="1 device (GPU)")  # 50 ms/step
    row = gc.fit_row("step time GPU", gpu, 0, 21.04, expect_replicas=1, compare=cpu, compare_label="CPU")
    assert row["result"] == "ok" and row["seconds"] == 21.0
    assert row["notes"] == ("50.0 ms/step (epoch 2: 0.40 s / 8 steps); 1 device (GPU), 1 replica(s); val acc 0.8000; "
                            "10.00x the speed of CPU; val acc +0.0000 vs CPU")
    assert gc.fit_row("fit mirrored", gpu, 0, 5.0, expect_replicas=2)["result"] == "FAIL"
    mixed = _run_dir(tmp_path / "mixed", walls=(3.0, 0.2), val_acc=0.7, precision="mixed_float16")
    row = gc.fit_row("precision mixed_float16", mixed, 0, 9.0, expect_precision="mixed_float16", compare=gpu,
                     compare_label="float32")
    assert row["result"] == "warn"  # 0.1 below float32: worth a look, not a failure
    assert "2.00x the speed of float32" in row["notes"] and "val acc -0.1000 vs float32" in row["notes"]
    assert gc.fit_row("precision float32", mixed, 0, None, expect_precision="none")["result"] == "FAIL"


def test_a_failed_fit_row_quotes_the_error(tmp_path):
    log = tmp_path / "fit.log"
    log.write_text("dlbuild: training ...\ndlbuild: error: out of memory on /gpu:0 (try a smaller batch)\n")
    row = gc.fit_row("step time GPU", tmp_path / "missing", 1, 3.0, str(log))
    assert row["result"] == "FAIL"
    assert row["notes"] == "exit 1; dlbuild: error: out of memory on /gpu:0 (try a smaller batch)"


def test_tune_row_counts_completed_trials(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "trials.csv").write_text("trial_id,status,objective,seconds\n0,COMPLETED,0.25,4.0\n"
                                               "1,COMPLETED,0.125,5.5\n")
    row = gc.tune_row("tune", tmp_path / "t", 0, 20.0, 2)
    assert row == {"step": "tune", "result": "ok", "seconds": 20.0, "log": None,
                   "notes": "2/2 trials completed; trials 9.5 s; best objective 0.1250"}
    assert gc.tune_row("tune", tmp_path / "t", 0, 20.0, 3)["result"] == "FAIL"


def test_doctor_rows():
    missing = gc.doctor_row(2, "", "Error: No such command 'doctor'.\n", 1.0)
    assert missing["result"] == "skip" and missing["notes"].startswith("doctor: not available")
    report = {"usable": True, "gpus": [], "tensorflow": {"built_with_cuda": False}, "problems": []}
    assert gc.doctor_row(0, json.dumps(report), "", 2.0)["notes"] == (
        "usable: true; 0 GPU(s); TensorFlow without CUDA; 0 problem(s)")
    assert gc.doctor_row(0, "not json", "", 2.0)["result"] == "FAIL"
    assert gc.doctor_row(1, json.dumps(report), "", 2.0)["result"] == "FAIL"


def test_gpus_row_fails_when_nvidia_smi_sees_gpus_tensorflow_does_not():
    assert gc.gpus_row(3.0, [], False, "2.21.0", None)["notes"] == "no GPU: CPU only; TensorFlow 2.21.0 without CUDA"
    assert gc.gpus_row(3.0, [], False, "2.21.0", 2)["result"] == "FAIL"
    assert gc.gpus_row(3.0, ["GPU:0"], True, "2.21.0", 1)["notes"].startswith("1 GPU(s): GPU:0")


def test_gpus_are_read_from_doctor_when_it_lists_them():
    report = {"versions": {"tensorflow": "2.21.0"}, "tensorflow": {"built_with_cuda": True},
              "gpus": [{"name": "GPU:0", "model": "NVIDIA L4", "compute_capability": [8, 9]}],
              "nvidia_smi": {"found": True, "gpus": [{"index": 0}]}}
    facts = gc.gpus_from_doctor(report)
    assert facts == {"tf_gpus": ["GPU:0 (NVIDIA L4, cc 8.9)"], "built_with_cuda": True, "tf_version": "2.21.0",
                     "smi_gpus": 1}
    assert gc.gpus_row(1.0, **facts)["notes"] == "1 GPU(s): GPU:0 (NVIDIA L4, cc 8.9); TensorFlow 2.21.0 with CUDA"
    assert gc.gpus_from_doctor({"gpus": None}) is None  # TensorFlow could not list them: import it instead


def test_table_text_and_failures():
    rows = [gc.make_row("doctor", "ok", 2.04, "usable: true"), gc.skip_row("step time GPU", "no GPU: skipped"),
            gc.make_row("tune", "FAIL", 12.0, "exit 1")]
    lines = gc.format_table(rows).splitlines()
    assert len(lines) == 2 + len(gc.STEPS)
    assert lines[0] == "| step                    | result | seconds | notes |"
    assert lines[1] == "|-------------------------|--------|--------:|---|"
    assert lines[2] == "| doctor                  | ok     |     2.0 | usable: true |"
    assert lines[3] == "| gpus                    | FAIL   |       - | not run (the script stopped before it) |"
    assert "| step time GPU           | skip   |       - | no GPU: skipped |" in lines
    assert gc.failed(rows)[0] == "tune" and "gpus" in gc.failed(rows) and "doctor" not in gc.failed(rows)


def test_the_table_command_exits_1_on_a_failure(tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    for step in gc.STEPS:
        gc.append_row(rows, gc.make_row(step, "ok", 1.0, "fine"))
    assert gc.main(["table", "--rows", str(rows)]) == 0
    gc.append_row(rows, gc.make_row("tune", "FAIL", 1.0, "exit 1"))  # a later row of a step replaces it
    assert gc.main(["table", "--rows", str(rows)]) == 1
    assert "1 failed: tune" in capsys.readouterr().out


def test_every_public_function_has_a_docstring():
    import inspect

    public = [f for n, f in inspect.getmembers(gc, inspect.isfunction) if not n.startswith("_")
              and f.__module__ == gc.__name__]
    assert public and all(f.__doc__ for f in public), [f.__name__ for f in public if not f.__doc__]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("dlbuild", path=str(Path(sys.executable).parent)) is None,
                    reason="dlbuild is not installed next to this Python")
def test_the_whole_script_runs_quick_on_this_machine(tmp_path):
    env = {**os.environ, "QUICK": "1", "TMPDIR": str(tmp_path),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    env.pop("KEEP", None)
    done = subprocess.run(["bash", str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    table = [ln for ln in done.stdout.splitlines() if ln.startswith("| ")]
    assert table[0].split("|")[1].strip() == "step"
    assert [ln.split("|")[1].strip() for ln in table[1:]] == list(gc.STEPS)
    assert all(ln.split("|")[2].strip() in ("ok", "skip", "warn") for ln in table[1:]), "\n".join(table)
    assert "QUICK=1" in done.stdout
    assert list(tmp_path.glob("gpu_check.*")) == []  # the temporary directory is removed without KEEP=1
