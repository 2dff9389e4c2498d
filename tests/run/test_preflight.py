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
