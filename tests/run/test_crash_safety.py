"""Crash safety: SIGKILL during ``dlbuild export``, refused resumes, unwritable outputs, NaN loss.

The contract (issue 7): a finished artifact is either complete or absent (temporary name, flush,
rename — :func:`builder.atomic.atomic_path`); a rerun completes; ``fit --resume`` refuses a
completed or foreign directory with a clear message (exit 1); an unwritable output location is
reported before training starts (exit 1); a NaN loss stops the run with a clear message, keeps
the best weights and marks the run failed. Kill tests for ``fit`` and ``tune`` live in
tests/run/test_fit.py and tests/tune/test_tune.py.

Every test here runs the real CLI in a subprocess (a SIGKILL must hit a real process).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow", "CUDA_VISIBLE_DEVICES": ""}

IRIS = """
name: iris_mlp
seed: 1
data:
  dataset: iris
model:
  inputs: {features: {shape: [4]}}
  layers:
    - dense: {units: 8, activation: relu}
    - dense: {units: 3, activation: softmax}
compile:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit:
  epochs: 1
  batch_size: 16
"""


def dlbuild(*args, timeout=300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "iris_mlp.yaml"
    path.write_text(IRIS)
    return path


@pytest.fixture(scope="module")
def finished_run(spec_file, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "done"
    r = dlbuild("fit", spec_file, "--out", run, "-q")
    assert r.returncode == 0, r.stderr
    return run


# --- SIGKILL during export ----------------------------------------------------------------------

def _complete(path: Path) -> str | None:
    """Why the finished-looking artifact at ``path`` is incomplete, or None when it is complete."""
    if path.name == "saved_model":
        return None if (path / "saved_model.pb").is_file() and (path / "variables").is_dir() else "no saved_model.pb"
    if path.suffix == ".tflite":
        head = path.read_bytes()[:8]
        return None if head[4:8] == b"TFL3" else f"not a TFLite flatbuffer: {head!r}"
    if path.suffix == ".keras":
        return None if zipfile.is_zipfile(path) else "not a zip archive"
    if path.suffix == ".json":
        try:
            json.loads(path.read_text())
        except ValueError as exc:
            return f"invalid JSON: {exc}"
    return None


def _check_no_half_written(run: Path) -> list[str]:
    """Assert every artifact standing under its final name is complete; return leftover temp names."""
    problems, leftovers = [], []
    candidates = [run / "export.json"] + sorted((run / "export").iterdir() if (run / "export").is_dir() else [])
    for p in candidates:
        if not p.exists():
            continue
        if p.name.startswith("."):
            leftovers.append(p.name)
            continue
        why = _complete(p)
        if why:
            problems.append(f"{p.name}: {why}")
    if (run / "export.json").is_file():
        for entry in json.loads((run / "export.json").read_text())["artifacts"]:
            if entry["verdict"] == "ok" and not (run / entry["artifact"]).exists():
                problems.append(f"export.json lists {entry['artifact']}, which does not exist")
    assert not problems, problems
    return leftovers


def _kill_export_when(run: Path, ready, limit: float = 240) -> bool:
    """Start ``dlbuild export`` on ``run`` and SIGKILL it once ``ready(run)``; False if it finished first."""
    proc = subprocess.Popen([sys.executable, "-m", "builder.cli", "export", str(run), "--format", "saved_model",
                             "--format", "tflite", "--format", "keras", "--check-samples", "20"],
                            cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    try:
        while proc.poll() is None and time.monotonic() - started < limit:
            if ready(run):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.005)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _entries(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "export").iterdir()) if (run / "export").is_dir() else []


KILL_POINTS = {
    # While the first artifact (model.keras) is being written under its temporary name.
    "first_write": lambda run: any(n.startswith(".") for n in _entries(run)),
    # Right after the SavedModel stands, while its verification or the next artifact runs.
    "after_saved_model": lambda run: "saved_model" in _entries(run),
    # While the TFLite file is being converted and written.
    "during_tflite": lambda run: any(n.startswith(".model.") and n.endswith(".tflite") for n in _entries(run)),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_during_export_leaves_no_half_written_artifact(finished_run, tmp_path, point):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run, ignore=shutil.ignore_patterns("export", "export.json"))
    killed = _kill_export_when(run, KILL_POINTS[point])
    if not killed:
        pytest.skip(f"export finished before the kill point '{point}' was observed")
    _check_no_half_written(run)
    # A rerun completes and every artifact verifies.
    r = dlbuild("export", run, "--format", "saved_model", "--format", "tflite", "--format", "keras",
                "--check-samples", "20")
    assert r.returncode == 0, r.stderr
    report = json.loads((run / "export.json").read_text())
    assert {e["artifact"] for e in report["artifacts"]} >= {"export/saved_model", "export/model.tflite",
                                                            "export/model.keras"}
    assert all(e["verdict"] == "ok" for e in report["artifacts"]), report
    _check_no_half_written(run)


# --- resume refusals ------------------------------------------------------------------------------

def test_resume_refuses_a_completed_run(spec_file, finished_run):
    r = dlbuild("fit", spec_file, "--out", finished_run, "--resume", "-q")
    assert r.returncode == 1, r.stderr
    assert "has already completed; start a new run instead of --resume" in r.stderr
    assert "Traceback" not in r.stderr


def test_resume_refuses_a_foreign_directory(spec_file, tmp_path):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    r = dlbuild("fit", spec_file, "--out", foreign, "--resume", "-q")
    assert r.returncode == 1, r.stderr
    assert "is not a dlbuild run directory (no run.json)" in r.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["cat.jpg"]  # nothing written into it


def test_resume_refuses_a_run_of_another_spec(spec_file, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "run.json").write_text(json.dumps({"state": "interrupted", "spec_name": "fashion_cnn"}))
    r = dlbuild("fit", spec_file, "--out", other, "--resume", "-q")
    assert r.returncode == 1, r.stderr
    assert "is a run of 'fashion_cnn', not of 'iris_mlp'" in r.stderr


def test_fit_refuses_to_overwrite_a_run(spec_file, finished_run):
    r = dlbuild("fit", spec_file, "--out", finished_run, "-q")
    assert r.returncode == 1, r.stderr
    assert "already holds a run; use --resume" in r.stderr


# --- unwritable output ------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_unwritable_output_fails_before_training(spec_file, tmp_path, where):
    # chmod does not stop root, so use locations no one can create a directory in.
    if where == "under_a_file":
        blocker = tmp_path / "not_a_dir"
        blocker.write_text("x")
        out = blocker / "run"
    else:
        out = Path("/proc/dlbuild-run")
    r = dlbuild("fit", spec_file, "--out", out, "-q")
    assert r.returncode == 1, r.stderr
    assert f"cannot write the run directory {out}" in r.stderr
    assert "dlbuild: training" not in r.stdout  # refused before any training started
    assert "Traceback" not in r.stderr


# --- NaN loss ------------------------------------------------------------------------------------------

NAN_SPEC = """
name: diabetes_nan
seed: 3
data:
  dataset: diabetes
model:
  inputs: {features: {shape: [10]}}
  layers:
    - dense: {units: 32, activation: relu}
    - dense: 1
compile:
  optimizer: {adam: {learning_rate: 1.0e+30}}
  loss: mse
fit:
  epochs: 4
  batch_size: 32
"""


def test_nan_loss_stops_the_run_and_keeps_the_best_weights(tmp_path):
    spec = tmp_path / "nan.yaml"
    spec.write_text(NAN_SPEC)
    run = tmp_path / "run"
    r = dlbuild("fit", spec, "--out", run, "-q")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "NaN" in r.stderr and "learning_rate" in r.stderr  # what happened and what to try
    assert json.loads((run / "run.json").read_text())["state"] == "failed"
    model = run / "model.keras"
    if model.exists():  # the best (last finite) weights, never NaN ones
        code = ("import sys, numpy as np, keras; m = keras.saving.load_model(sys.argv[1], safe_mode=True); "
                "sys.exit(0 if all(np.isfinite(w).all() for w in m.get_weights()) else 3)")
        assert subprocess.run([sys.executable, "-c", code, str(model)], env=ENV).returncode == 0


# --- full disk ------------------------------------------------------------------------------------------

BIG_IRIS = IRIS.replace("name: iris_mlp", "name: iris_big").replace(
    "- dense: {units: 8, activation: relu}",
    "- dense: {units: 512, activation: relu}\n    - dense: {units: 512, activation: relu}").replace(
    "epochs: 1", "epochs: 2")


def _limit_file_size(limit_bytes: int):
    import resource

    # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG, as a full disk fails with ENOSPC.
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


def test_full_disk_is_reported_before_training(spec_file, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from builder.cli.main import main

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=50_000))
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["fit", str(spec_file), "--out", str(out), "-q"])
    assert result.exit_code == 1, result.output
    assert f"not enough disk space for the run directory {out}" in result.output
    assert "MiB needed, 0.0 MiB free" in result.output
    assert not (out / "run.json").exists()  # refused before the run started


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_disk_full_mid_run_fails_cleanly_and_resume_completes(tmp_path):
    spec = tmp_path / "iris_big.yaml"
    spec.write_text(BIG_IRIS)
    out = tmp_path / "run"
    # The 1 MB model (266,755 parameters) cannot be written under a 300 kB file-size limit.
    r = dlbuild("fit", spec, "--out", out, "-q", preexec_fn=_limit_file_size(300_000))
    assert r.returncode == 1, r.stderr
    assert "dlbuild: error: no space left while writing" in r.stderr and "(File too large)" in r.stderr
    assert "then rerun with --resume" in r.stderr
    assert "Traceback" not in r.stderr
    traceback_file = Path(r.stderr.split("Full traceback: ")[1].split()[0])
    assert "Traceback (most recent call last)" in traceback_file.read_text()
    assert json.loads((out / "run.json").read_text())["state"] == "failed"
    assert not (out / "model.keras").exists()  # never a half-written model where a finished one goes
    r = dlbuild("fit", spec, "--out", out, "-q", "--resume")
    assert r.returncode == 0, r.stderr
    epochs = [line.split(",")[0] for line in (out / "history.csv").read_text().splitlines()[1:]]
    assert epochs == ["1", "2"]
    assert json.loads((out / "run.json").read_text())["state"] == "completed"
