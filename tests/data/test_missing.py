"""data.missing: error, drop, mean, {fill: VALUE}, interpolate (builder/data/missing.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import builder
from builder.data.load import load_splits
from builder.errors import SpecError

ROWS = 40


def _csv(folder: Path) -> Path:
    """a, b numeric with gaps; label x/y; row 5 has no label."""
    lines = ["a,b,label"]
    for i in range(ROWS):
        a = "" if i in (3, 17) else str(float(i))
        b = "" if i == 8 else str(float(2 * i))
        label = "" if i == 5 else ("x" if i % 2 else "y")
        lines.append(f"{a},{b},{label}")
    path = folder / "gaps.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _spec(folder: Path, missing: str, extra: str = "") -> "builder.Spec":
    folder.mkdir(parents=True, exist_ok=True)
    _csv(folder)
    spec = folder / "spec.yaml"
    spec.write_text(textwrap.dedent(f"""
        name: gaps
        data: {{csv: gaps.csv, target: label, missing: {missing}, test_split: 0.25, validation_split: 0.2{extra}}}
        model:
          inputs: {{x: {{shape: [2]}}}}
          layers: [{{dense: {{units: 2, activation: softmax}}}}]
        compile: {{optimizer: adam, loss: sparse_categorical_crossentropy}}
    """).lstrip("\n"))
    return builder.load_spec(spec)


def _all_x(splits) -> np.ndarray:
    return np.concatenate([p[0] for p in (splits.train, splits.val, splits.test) if p is not None])


def test_error_is_the_default_and_names_the_line(tmp_path: Path):
    spec = _spec(tmp_path, "error")
    with pytest.raises(SpecError) as err:
        load_splits(spec)
    assert "Feature column 'a' of gaps.csv has an empty, NaN or infinite cell at line 5 (and 1 more); expected " \
           "finite numbers (or set data.missing: drop, mean, {fill: VALUE} or interpolate)" in err.value.format()


def test_drop_removes_every_incomplete_sample_and_counts_them(tmp_path: Path):
    splits = load_splits(_spec(tmp_path, "drop"))
    assert not np.isnan(_all_x(splits)).any()
    assert len(_all_x(splits)) == ROWS - 4  # rows 3, 5 (no label), 8, 17
    assert splits.info["missing"] == {"policy": "drop", "samples_dropped": 4, "values_filled": 0}


def test_mean_fills_from_the_training_split_only(tmp_path: Path):
    splits = load_splits(_spec(tmp_path, "mean"))
    assert not np.isnan(_all_x(splits)).any() and len(_all_x(splits)) == ROWS - 1  # only the unlabelled row goes
    assert splits.info["missing"] == {"policy": "mean", "samples_dropped": 1, "values_filled": 3}
    # every filled cell holds the mean of the *observed training* values of its column
    raw = load_splits(_spec(tmp_path / "keep", "{fill: -999}"))
    train = raw.train[0]
    means = [train[train[:, j] != -999, j].mean() for j in range(2)]
    for (x, _), (xr, _) in zip((splits.train, splits.val, splits.test), (raw.train, raw.val, raw.test)):
        gap = xr == -999
        assert np.allclose(x[gap], np.broadcast_to(means, x.shape)[gap])
    assert raw.info["missing"]["values_filled"] == 3


def test_interpolate_fills_a_series_along_time_and_is_refused_elsewhere(tmp_path: Path):
    # NA, not an empty cell: in a one-column CSV an empty cell is a blank line, which CSV readers skip
    steps = [str(float(t)) if t not in (4, 5, 11) else "NA" for t in range(60)]
    (tmp_path / "series.csv").write_text("value\n" + "\n".join(steps) + "\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(textwrap.dedent("""
        name: s
        data: {csv: series.csv, target: value, window: {input: 5, horizon: 1}, missing: interpolate}
        model:
          inputs: {x: {shape: [5, 1]}}
          layers: [flatten, {dense: 1}]
        compile: {optimizer: adam, loss: mse}
    """).lstrip("\n"))
    splits = load_splits(builder.load_spec(spec))
    assert splits.info["missing"] == {"policy": "interpolate", "samples_dropped": 0, "values_filled": 3}
    first_window = np.asarray(splits.train[0])[4].reshape(-1)  # steps 4..8: 4 and 5 interpolated
    assert np.allclose(first_window, [4.0, 5.0, 6.0, 7.0, 8.0])
    with pytest.raises(SpecError, match="`missing: interpolate` fills gaps along time, for a series"):
        load_splits(_spec(tmp_path / "table", "interpolate"))


def test_nan_and_inf_in_an_npz(tmp_path: Path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3)).astype("float32")
    x[[2, 7], 1] = np.nan
    np.savez(tmp_path / "d.npz", x=x, y=rng.integers(0, 2, 50))
    spec = tmp_path / "spec.yaml"
    text = """
        name: n
        data: {npz: d.npz, missing: POLICY}
        model:
          inputs: {x: {shape: [3]}}
          layers: [{dense: {units: 2, activation: softmax}}]
        compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
    """
    spec.write_text(textwrap.dedent(text.replace("POLICY", "{fill: 0}")).lstrip("\n"))
    splits = load_splits(builder.load_spec(spec))
    assert splits.info["missing"]["values_filled"] == 2 and not np.isnan(_all_x(splits)).any()
    x[0, 0] = np.inf
    np.savez(tmp_path / "d.npz", x=x, y=rng.integers(0, 2, 50))
    with pytest.raises(SpecError, match="infinite"):
        load_splits(builder.load_spec(spec))


def test_fit_reports_what_it_dropped_and_records_it(tmp_path: Path):
    folder = tmp_path / "project"
    folder.mkdir()
    spec = _spec(folder, "drop", extra=", stratify: false").source.filename
    done = subprocess.run([sys.executable, "-m", "builder.cli", "fit", spec, "--out", str(tmp_path / "run"), "-q",
                           "--epochs", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "missing values (drop): 4 samples dropped, 0 values filled" in done.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["missing"] == {"policy": "drop", "samples_dropped": 4, "values_filled": 0}
