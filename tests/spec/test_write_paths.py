"""Paths a spec makes Keras write stay inside the run directory (builder/spec/write_paths.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from builder.catalog.registry import catalog
from builder.spec.write_paths import OWN_FILES, confine, is_path_argument, path_problem


def test_path_arguments_are_found_from_every_signature_in_the_catalog():
    """Every argument Keras names as a path is found by its name alone, and no other (the denied
    BackupAndRestore is not listed: dlbuild adds its own)."""
    cat = catalog()
    found = {(e.name, a) for kind in ("callback", "layer", "optimizer", "loss", "metric")
             for e in map(lambda n, k=kind: cat.lookup(k, n), cat.names(kind)) if e
             for a in e.args if is_path_argument(a)}
    assert {("CSVLogger", "filename"), ("ModelCheckpoint", "filepath"),
            ("TensorBoard", "log_dir")} <= found
    assert not {a for _, a in found} & {"profile_batch", "from_logits", "save_freq", "separator", "monitor"}


@pytest.mark.parametrize("value, expected", [
    ("/etc/x.csv", r"is an absolute path; .* e\.g\. 'x\.csv'"),
    ("C:\\Users\\x.csv", "is an absolute path"),
    ("\\\\server\\share\\x.csv", "is an absolute path"),
    ("~/x.csv", "is an absolute path"),
    ("../x.csv", "climbs out of the run directory with '..'"),
    ("logs/../../x.csv", "climbs out of the run directory with '..'"),
    ("..\\x.csv", "climbs out of the run directory with '..'"),
    ("gs://bucket/logs", "is a URL"),
    ("", "must name a file or folder inside the run directory"),
    (".", "names the run directory itself"),
    ("a\0b", "contains a NUL character"),
    ("backup/latest.weights.h5", "names dlbuild's own 'backup'"),
    ("./spec.resolved.yaml", "names dlbuild's own 'spec.resolved.yaml'"),
])
def test_a_path_that_would_leave_the_run_directory_is_refused(value, expected):
    assert re.search(expected, path_problem(value))


@pytest.mark.parametrize("value", ["x.csv", "logs/train.csv", "ckpt/{epoch:02d}.keras", "a/../b.keras",
                                   "my_history.csv", 7, None])
def test_relative_paths_inside_the_run_directory_are_accepted(value):
    assert path_problem(value) is None


def test_every_file_dlbuild_writes_in_a_run_directory_is_protected():
    """OWN_FILES names what the run layer writes (builder/run/rundir.py documents the layout)."""
    text = Path(__file__).parents[2].joinpath("builder/run/rundir.py").read_text()
    for name in ("run.json", "spec.resolved.yaml", "model.keras", "history.csv", "metrics.json", "backup",
                 "tensorboard"):
        assert name in text and name in OWN_FILES


def test_confine_follows_symbolic_links(tmp_path: Path):
    run, outside = tmp_path / "run", tmp_path / "outside"
    run.mkdir(), outside.mkdir()
    (run / "inside").mkdir()
    (run / "out").symlink_to(outside)
    (run / "in").symlink_to(run / "inside")
    assert confine(run, "ckpt/best.keras") == run.resolve() / "ckpt" / "best.keras"
    assert confine(run, "in/best.keras") == run.resolve() / "inside" / "best.keras"
    with pytest.raises(ValueError, match=r"leads outside the run directory through a symbolic link \(to "
                                         + re.escape(str(outside.resolve() / "best.keras"))):
        confine(run, "out/best.keras")
    with pytest.raises(ValueError, match="climbs out"):
        confine(run, "../x")


def test_spec_callbacks_write_under_the_run_directory(write_spec, tmp_path: Path):
    """Relative paths are joined to the run directory, whatever the working directory is."""
    import builder
    from builder.run.callbacks import build_callbacks
    from builder.run.rundir import RunDir

    spec = builder.load_spec(write_spec("""
        name: cb
        data: {dataset: iris}
        model:
          inputs: {features: {shape: [4]}}
          layers: [{dense: {units: 3, activation: softmax}}]
        compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
        fit:
          callbacks:
            - csv_logger: logs/train.csv
            - model_checkpoint: {filepath: ckpt/best.keras}
            - tensor_board: {log_dir: tb}
    """))
    run = RunDir(tmp_path / "runs" / "cb" / "1")
    run.prepare()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        callbacks = build_callbacks(spec, run)
    finally:
        os.chdir(cwd)
    root = run.path.resolve()
    spec_paths = {type(c).__name__: c for c in callbacks[3:]}
    assert spec_paths["CSVLogger"].filename == str(root / "logs" / "train.csv")
    assert spec_paths["ModelCheckpoint"].filepath == str(root / "ckpt" / "best.keras")
    assert spec_paths["TensorBoard"].log_dir == str(root / "tb")
