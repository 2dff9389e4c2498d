"""The data is checked against the spec before TensorFlow is imported (builder/run/preflight.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

SPEC = """
name: pf
data: {npz: data/d.npz}
model:
  inputs: {x: {shape: [8]}}
  layers:
    - dense: {units: 16, activation: relu}
    - dense: {units: 3, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
tune: {max_trials: 2}
"""


@pytest.mark.parametrize("command", ["fit", "tune"])
def test_a_data_mismatch_is_reported_before_tensorflow_is_imported(tmp_path: Path, command):
    """6 features for an input of 8, labels 0-4 for 3 units: both located, TensorFlow never loaded."""
    (tmp_path / "project" / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "project" / "data" / "d.npz", x=rng.normal(size=(200, 6)).astype("float32"),
             y=rng.integers(0, 5, 200))
    text = SPEC if command == "fit" else SPEC.replace("units: 16,", "units: {choice: [8, 16]},")
    spec = tmp_path / "project" / "spec.yaml"
    spec.write_text(textwrap.dedent(text).lstrip("\n"))
    (tmp_path / "work").mkdir()
    done = subprocess.run([sys.executable, "-m", "builder.cli", command, str(spec), "--runs-root",
                           str(tmp_path / "runs")], cwd=tmp_path / "work", capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{spec}:4:15: error: input 'x' takes samples of shape (8,), but the data's samples have shape (6,)" \
        in done.stderr
    assert re.search(rf"{re.escape(str(spec))}:7:22: error: output 'dense_1' has 3 units, but the data's labels "
                     r"go up to 4 \(5 classes\)", done.stderr)
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "numpy" in imported and not {"tensorflow", "keras"} & imported
    assert not (tmp_path / "runs").exists()


PLACEHOLDER_SPEC = """
name: any_table
data: {npz: data.npz}
model:
  inputs: {x: {shape: [$features]}}
  layers:
    - dense: {units: 16, activation: relu}
    - dense: {units: $classes, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 1}
"""


def _table(folder: Path, n_features: int, n_classes: int, regression: bool = False) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(n_features)
    y = rng.normal(size=300).astype("float32") if regression else rng.integers(0, n_classes, 300)
    np.savez(folder / "data.npz", x=rng.normal(size=(300, n_features)).astype("float32"), y=y)
    spec = folder / "spec.yaml"
    spec.write_text(textwrap.dedent(PLACEHOLDER_SPEC).lstrip("\n"))
    return spec


def test_one_spec_fits_tables_of_any_width_and_class_count(tmp_path: Path):
    """$features and $classes follow each data set; spec.resolved.yaml holds the numbers."""
    import builder

    for n_features, n_classes in ((4, 3), (9, 7)):
        spec = _table(tmp_path / f"set{n_features}", n_features, n_classes)
        assert subprocess.run([sys.executable, "-m", "builder.cli", "validate", str(spec)],
                              capture_output=True, text=True).returncode == 0
        out = tmp_path / f"run{n_features}"
        done = subprocess.run([sys.executable, "-m", "builder.cli", "fit", str(spec), "--out", str(out), "-q"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        assert done.returncode == 0, done.stderr[-2000:]
        resolved = builder.load_spec(out / "spec.resolved.yaml")
        assert resolved.topology.inputs["x"].shape == (n_features,)
        assert resolved.values["model"]["layers"][1] == {"dense": {"units": n_classes, "activation": "softmax"}}


def test_a_placeholder_the_data_cannot_give_is_a_located_error(tmp_path: Path):
    from builder.errors import SpecError
    from builder.run.preflight import preflight
    from builder.spec.load import load_spec

    spec = _table(tmp_path / "reg", 4, 0, regression=True)
    with pytest.raises(SpecError) as err:
        preflight(load_spec(spec))
    assert err.value.format().startswith(
        f"{spec}:7:22: error: $classes (the number of classes) is not known for this data: "
        "the data's task is regression")
