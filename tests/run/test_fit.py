"""dlbuild fit end to end on a slice of real data: run directory, resume after SIGKILL."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import builder
from builder.cli.main import main
from conftest import TINY_CNN


def _epochs(run: Path) -> list[int]:
    with open(run / "history.csv", newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def test_fit_writes_the_run_directory(write_spec, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["fit", write_spec(TINY_CNN), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    for name in ("spec.resolved.yaml", "model.keras", "history.csv", "metrics.json", "run.json"):
        assert (out / name).is_file(), name
    assert any((out / "tensorboard").rglob("events.out.tfevents.*"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["test"]) == {"accuracy", "loss"} and metrics["epochs"] == 2
    import keras

    saved = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert metrics["train_samples"] == 600 and metrics["params"] == saved.count_params()
    assert _epochs(out) == [1, 2]
    state = json.loads((out / "run.json").read_text())
    assert state["state"] == "completed"
    import keras_tuner
    import numpy
    import tensorflow as tf

    assert state["versions"]["keras"] == keras.__version__ and state["versions"]["tensorflow"] == tf.__version__
    assert state["versions"]["keras_tuner"] == keras_tuner.__version__
    assert state["versions"]["numpy"] == numpy.__version__ and state["versions"]["python"] == sys.version.split()[0]
    assert state["devices"]["placement"] == "1 device (CPU)" and "CPU:0" in state["devices"]["physical"]
    assert state["git_commit"] is None  # the spec's folder (pytest's tmp_path) is not in a repository
    assert metrics["kept_epoch"] == 2 and metrics["kept_by"] is None
    assert not (out / "backup").exists()
    resolved = builder.load_spec(out / "spec.resolved.yaml")  # the resolved spec is itself a valid spec
    assert resolved.fit["batch_size"] == 64 and resolved.compile["optimizer"] == {"adam": 0.003}
    assert "test: accuracy" in result.output and str(out) in result.output
    sizes = re.search(r"dlbuild: data: ([\d,]+) train / ([\d,]+) validation / ([\d,]+) test samples", result.output)
    assert sizes and int(sizes[1].replace(",", "")) == metrics["train_samples"] and sizes[2] != "0"

    again = CliRunner().invoke(main, ["fit", write_spec(TINY_CNN), "--out", str(out), "--resume"])
    assert again.exit_code == 1 and "has already completed" in again.output


def test_fit_python_api_matches_spec(write_spec, tmp_path):
    spec = builder.load_spec(write_spec(TINY_CNN), overrides=["fit.epochs=1"])
    result = builder.fit(spec, run_dir=tmp_path / "r", verbose=0, log=lambda *_: None)
    assert result.metrics["epochs"] == 1 and list(result.history["epoch"]) == [1.0]
    assert 0.0 <= result.metrics["test"]["accuracy"] <= 1.0


@pytest.mark.slow
def test_sigkill_after_an_epoch_then_resume_records_every_epoch_once(write_spec, tmp_path):
    spec = write_spec(TINY_CNN.replace("epochs: 2", "epochs: 6").replace("max_train_samples: 600", "max_train_samples: 3000"))
    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "builder.cli", "fit", spec, "--out", str(out), "-q"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (out / "history.csv").exists() and len(_epochs(out)) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "training finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = _epochs(out)
    assert 2 <= len(done) < 6
    assert json.loads((out / "run.json").read_text())["state"] == "running"  # killed: no clean exit
    assert not (out / "model.keras").exists()

    resumed = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _epochs(out) == [1, 2, 3, 4, 5, 6]
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 6
    assert json.loads((out / "run.json").read_text())["state"] == "completed"


@pytest.mark.parametrize("path", sorted(str(p) for p in Path("specs").glob("*.yaml")))
def test_every_bundled_spec_validates_and_builds(path):
    # a fine-tuning spec starts from a trained run (model.init_from) that a fresh checkout lacks;
    # tests/export/test_generate.py covers it with a tiny pre-trained run
    import yaml

    needs_run = "init_from" in (yaml.safe_load(Path(path).read_text()).get("model") or {})
    overrides = ["model.init_from=null"] if needs_run else []
    result = CliRunner().invoke(main, ["validate", path, *[a for o in overrides for a in ("--set", o)]])
    assert result.exit_code == 0, result.output
    assert builder.build_model(builder.load_spec(path, overrides)).count_params() > 0


def test_normalization_is_adapted_on_the_training_split_only(tmp_path):
    import numpy as np

    from builder.data.load import load_splits

    spec = builder.load_spec("specs/iris_mlp.yaml", overrides=["fit.epochs=1"])
    result = builder.fit(spec, run_dir=tmp_path / "r", verbose=0, log=lambda *_: None)
    norm = result.model.get_layer("normalization")
    x_train = load_splits(spec).train[0]
    np.testing.assert_allclose(np.ravel(norm.mean), x_train.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(np.ravel(norm.variance), x_train.var(axis=0), rtol=1e-3)


def test_fit_writes_learning_curves_and_a_confusion_matrix(write_spec, tmp_path):
    from PIL import Image

    out = tmp_path / "run"
    assert CliRunner().invoke(main, ["fit", write_spec(TINY_CNN), "--out", str(out), "-q"]).exit_code == 0
    for name in ("learning_curves.png", "confusion_matrix.png"):
        with Image.open(out / name) as image:
            assert image.size[0] > 300 and image.size[1] > 200
    (out / "learning_curves.png").unlink()
    again = CliRunner().invoke(main, ["plot", str(out)])
    assert again.exit_code == 0 and "learning_curves.png" in again.output
    assert (out / "learning_curves.png").is_file()


def test_plots_leave_the_callers_pyplot_backend_alone(tmp_path):
    """A notebook's inline backend must survive a fit: plots are drawn on Figures outside pyplot."""
    import matplotlib

    from builder.run.plots import confusion_matrix, learning_curves

    before = matplotlib.get_backend()
    matplotlib.use("pdf")  # stands for the notebook's backend
    try:
        learning_curves({"epoch": [1, 2], "loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, tmp_path / "lc.png")
        confusion_matrix([0, 1, 1], [0, 1, 0], ["a", "b"], tmp_path / "cm.png")
        assert matplotlib.get_backend() == "pdf"
        assert (tmp_path / "lc.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "cm.png").stat().st_size > 0
    finally:
        matplotlib.use(before)
