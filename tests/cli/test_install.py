"""Without TensorFlow (dlbuild installed without its ``cpu`` or ``gpu`` extra): the TF-free commands
work, every other command says how to install it in one line (no traceback), and ``doctor``
gives the same commands. TensorFlow is hidden from a child process by a ``sitecustomize`` that
makes ``import tensorflow`` fail as on a machine where it is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from builder.install import install_command, source_checkout, tensorflow_missing

ROOT = Path(__file__).resolve().parents[2]
SPEC = """\
name: tiny
data: {dataset: iris}
model:
  inputs: {features: {shape: [4]}}
  layers:
    - dense: {units: 3, activation: softmax}
compile: {loss: sparse_categorical_crossentropy}
"""
HIDE_TENSORFLOW = """\
import sys


class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, _NoTensorFlow())
"""


def _dlbuild(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(HIDE_TENSORFLOW)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "builder.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(site), "PATH": str(site)}, timeout=300)


def test_install_commands_name_the_clone_or_the_package():
    assert source_checkout() == ROOT  # the suite runs on an editable install of this clone
    assert install_command("cpu") == f"pip install -e '{ROOT}[cpu]'"
    assert install_command("gpu", None) == "pip install 'dlbuild[gpu]'"
    assert install_command("gpu", "/my clone") == "pip install -e '/my clone[gpu]'"  # quoted for the shell
    with pytest.raises(ValueError, match="unknown extra 'cuda'; one of cpu, gpu"):
        install_command("cuda")


def test_without_tensorflow_validate_works_and_fit_says_how_to_install(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    ok = _dlbuild(tmp_path, "validate", str(spec))
    assert ok.returncode == 0 and "tiny.yaml: ok" in ok.stdout, ok.stderr
    for command in (["fit", str(spec)], ["check", str(spec)]):
        res = _dlbuild(tmp_path, *command)
        assert res.returncode == 1, res.stderr
        assert res.stderr.strip() == f"dlbuild: error: {tensorflow_missing()}", res.stderr
        assert "Traceback" not in res.stderr + res.stdout
    assert f"pip install -e '{ROOT}[cpu]' (CPU), or pip install -e '{ROOT}[gpu]'" in tensorflow_missing()
    assert not (tmp_path / "elsewhere" / "runs").exists()  # refused before anything is written


def test_doctor_without_tensorflow_gives_the_install_command(tmp_path):
    res = _dlbuild(tmp_path, "doctor")
    assert res.returncode == 1 and "Traceback" not in res.stdout + res.stderr
    assert (f"advice: TensorFlow is not installed (dlbuild installs it with an extra): pip install -e '{ROOT}[cpu]' "
            f"(or pip install -e '{ROOT}[gpu]' on a machine with an NVIDIA GPU)") in res.stdout
