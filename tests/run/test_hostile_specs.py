"""Specs written to attack the machine that runs them (docs/security.md, "Threat model").

Each case runs ``dlbuild`` the way a user would — the spec in its own folder, the command from
another working directory, runs under a third — and checks the exit code (2), the located message,
that it finished in under 5 s, and that no file appeared anywhere in the temporary tree.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

IRIS = """
name: {name}
data: {{dataset: iris}}
model:
  inputs: {{features: {{shape: [4]}}}}
  blocks:
    ten: {{layers: [{{dense: {{units: 4, repeat: 10}}}}]}}
    hundred: {{layers: [{{ten: {{repeat: 10}}}}]}}
    thousand: {{layers: [{{hundred: {{repeat: 10}}}}]}}
  layers:
{layers}
    - dense: {{units: 3, activation: softmax}}
compile: {{optimizer: adam, loss: sparse_categorical_crossentropy}}
fit:
  epochs: 1
  callbacks:
{callbacks}
"""


def _spec(name="hostile", layers="    - dense: {units: 8}", callbacks="    - early_stopping: {patience: 1}"):
    return IRIS.format(name=name, layers=layers, callbacks=callbacks)


def _tree(root: Path) -> set:
    """Every path under ``root`` (files, folders, links), relative to it."""
    return {str(Path(d, n).relative_to(root)) for d, dirs, files in os.walk(root) for n in dirs + files}


def _run(tmp_path: Path, command: str, spec_text: str | None, spec_path: Path | None = None,
         *options: str) -> tuple[subprocess.CompletedProcess, float]:
    """Write the spec to ``tmp_path/specs/spec.yaml`` and run ``dlbuild <command>`` from ``tmp_path/work``."""
    (tmp_path / "work").mkdir(exist_ok=True)
    if spec_text is not None:
        spec_path = tmp_path / "specs" / "spec.yaml"
        spec_path.parent.mkdir(exist_ok=True)
        spec_path.write_text(textwrap.dedent(spec_text).lstrip("\n"))
    args = [sys.executable, "-m", "builder.cli", *options, command, str(spec_path)]
    if command in ("fit", "tune"):
        args += ["--runs-root", str(tmp_path / "runs")]
    started = time.perf_counter()
    done = subprocess.run(args, cwd=tmp_path / "work", capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return done, time.perf_counter() - started


CASES = {
    "callback writes an absolute path": (
        "fit", _spec(callbacks="    - csv_logger: {OUTSIDE}/x.csv"),
        r"spec\.yaml:16:19: error: CSVLogger\(\): 'filename' is an absolute path; a spec writes only "
        r"inside its run directory: give a path relative to it, e\.g\. 'x\.csv'"),
    "checkpoint climbs out with ..": (
        "fit", _spec(callbacks="    - model_checkpoint: {filepath: ../../x.keras}"),
        r"spec\.yaml:16:36: error: ModelCheckpoint\(\): 'filepath' climbs out of the run directory with '\.\.'"),
    "TensorBoard log_dir climbs out": (
        "fit", _spec(callbacks="    - tensor_board: {log_dir: ../../tb}"),
        r"spec\.yaml:16:31: error: TensorBoard\(\): 'log_dir' climbs out of the run directory"),
    "a search space hides an absolute path": (
        "tune", _spec(callbacks="    - csv_logger: {filename: {choice: [log.csv, {OUTSIDE}/x.csv]}}"),
        r"spec\.yaml:16:\d+: error: CSVLogger\(\): 'filename' is an absolute path"),
    "callback overwrites dlbuild's own file": (
        "fit", _spec(callbacks="    - csv_logger: {filename: metrics.json}"),
        r"spec\.yaml:16:30: error: CSVLogger\(\): 'filename' names dlbuild's own 'metrics\.json'"),
    "callback writes to a URL": (
        "fit", _spec(callbacks="    - tensor_board: {log_dir: 'gs://bucket/logs'}"),
        r"spec\.yaml:16:31: error: TensorBoard\(\): 'log_dir' is a URL"),
    "run name climbs out of runs/": (
        "fit", _spec(name='".."'),
        r"spec\.yaml:1:7: error: 'name' must be a simple name \(letters, digits, _ \. -\); received: .* "
        r"\(a run directory cannot climb out of runs/\)"),
    "run name climbs out of runs/ (tune)": (
        "tune", _spec(name='"../elsewhere"'),
        r"spec\.yaml:1:7: error: 'name' must be a simple name \(letters, digits, _ \. -\); received: .* "
        r"\(a run directory cannot climb out of runs/\)"),
    "repeat of a billion layers": (
        "fit", _spec(layers="    - dense: {units: 8, repeat: 1000000000}"),
        r"spec\.yaml:10:33: error: the model would have 1,000,000,001 layers \(this item: 1,000,000,000\), "
        r"over the limit of 20,000: lower 'repeat', or raise the limit with 'dlbuild --max-layers N'"),
    "blocks that repeat blocks": (
        "fit", _spec(layers="    - thousand: {repeat: 1000000000000}"),
        r"spec\.yaml:10:26: error: the model would have 1,000,000,000,000,001 layers \(this item: 1,000,000,000,000,000\)"),
    "a data file that never ends": (
        "fit", _spec().replace("dataset: iris", "csv: /dev/zero"),
        r"spec\.yaml:2:\d+: error: data file is not a regular file \(a device, a FIFO or a directory\)"),
    "aliases that expand to a billion values": (
        "tune", 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
        + "".join(f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi")),
        r"spec\.yaml:1:1: error: the spec expands to more than [\d,]+ values"),
    "nesting past the recursion limit": (
        "fit", "name: deep\nmodel: " + "[" * 50_000 + "]" * 50_000 + "\n",
        r"spec\.yaml:2:\d+: error: .*nests mappings and lists more than"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_spec_is_refused_quickly_and_writes_nothing(tmp_path: Path, case):
    command, text, expected = CASES[case]
    outside = tmp_path / "outside"
    outside.mkdir()
    text = text.replace("{OUTSIDE}", str(outside))
    before = _tree(tmp_path) | {"specs", "specs/spec.yaml", "work"}
    done, seconds = _run(tmp_path, command, text)
    assert done.returncode == 2, done.stderr
    assert re.search(expected, done.stderr), done.stderr
    assert "Traceback" not in done.stderr
    assert _tree(tmp_path) == before  # nothing written: not outside, not even a run directory
    assert seconds < 5, f"took {seconds:.1f} s"


def test_the_layer_limit_is_raised_on_the_command_line(tmp_path: Path):
    text = _spec(layers="    - dense: {units: 2, repeat: 30000}")
    refused, _ = _run(tmp_path, "validate", text)
    assert refused.returncode == 2 and "over the limit of 20,000" in refused.stderr
    allowed, _ = _run(tmp_path, "validate", text, None, "--max-layers", "40000")
    assert allowed.returncode == 0, allowed.stderr
    assert "30,001 layers" in allowed.stdout
    lowered, _ = _run(tmp_path, "validate", _spec(), None, "--max-layers", "1")
    assert lowered.returncode == 2
    assert re.search(r"spec\.yaml:9:3: error: the model has 2 layers, over the limit of 1", lowered.stderr)


@pytest.mark.parametrize("kind", ["fifo", "huge"])
def test_a_spec_that_would_hang_or_fill_memory_is_refused_quickly(tmp_path: Path, kind):
    if kind == "fifo":
        path = tmp_path / "spec.yaml"
        os.mkfifo(path)  # nothing ever writes to it: opening it would block forever
        expected = "cannot read spec: it is a FIFO; a spec is a YAML file"
    else:
        path = tmp_path / "spec.yaml"
        path.write_text("# " + "x" * 3_000_000 + "\n")
        expected = "spec is over 2,000,000 bytes, the limit (reading stopped there)"
    done, seconds = _run(tmp_path, "fit", None, path)
    assert done.returncode == 2 and expected in done.stderr, done.stderr
    assert not (tmp_path / "runs").exists()
    assert seconds < 5, f"took {seconds:.1f} s"


def test_a_symbolic_link_in_the_run_directory_cannot_lead_a_callback_outside(tmp_path: Path):
    """The run directory is given with --out and already holds a link to a folder outside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    run = tmp_path / "run"
    run.mkdir()
    (run / "ckpt").symlink_to(outside)
    text = _spec(callbacks="    - model_checkpoint: {filepath: ckpt/best.keras}")
    spec = tmp_path / "specs" / "spec.yaml"
    spec.parent.mkdir()
    spec.write_text(textwrap.dedent(text).lstrip("\n"))
    done = subprocess.run([sys.executable, "-m", "builder.cli", "fit", str(spec), "--out", str(run), "-q"],
                          cwd=tmp_path / "outside", capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert re.search(r"spec\.yaml:16:36: error: ModelCheckpoint\(\): 'filepath' leads outside the run "
                     r"directory through a symbolic link \(to .*outside/best\.keras\)", done.stderr), done.stderr
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in run.iterdir()) == ["ckpt"]  # refused before run.json was written
