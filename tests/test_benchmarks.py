"""Smoke tests of ``python -m benchmarks`` (the benchmarks themselves are not tests; see docs/benchmarks.md).

A quick start-up run writes its report and raw numbers into a temporary directory; the hand-written
Keras twins of the overhead group must still match their specs (a spec edit that changes the model
breaks the benchmark, and this test says so); the statistics helpers behave as documented.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.common import alternating, linear_fit, ratio_summary

ROOT = Path(__file__).resolve().parent.parent


def _run_benchmarks(*args, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_quick_startup_run_writes_report_and_json(tmp_path):
    out = tmp_path / "bench.md"
    res = _run_benchmarks("--quick", "--only", "startup", "--out", str(out), "--work", str(tmp_path / "w"),
                          tmp_path=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    text = out.read_text()
    assert "## Start-up" in text and "dlbuild validate specs/fashion_cnn.yaml" in text
    assert "Machine:" in text and "keras" in text  # the header names the machine and versions
    data = json.loads(out.with_suffix(".json").read_text())
    assert list(data["groups"]) == ["startup"] and data["quick"] is True
    walls = data["groups"]["startup"]["raw"]["wall_s"]
    assert set(walls) == {"python -c pass", "dlbuild --help", "dlbuild validate specs/fashion_cnn.yaml"}
    assert all(len(v) == 2 and all(t > 0 for t in v) for v in walls.values())
    assert data["groups"]["startup"]["met"] is None  # a quick run judges no target


def test_unknown_group_is_a_usage_error(tmp_path):
    res = _run_benchmarks("--only", "startup,overheads", tmp_path=tmp_path)
    assert res.returncode == 2
    assert "unknown group(s) overheads" in res.stderr


@pytest.mark.parametrize("name", ["fashion_cnn", "resnet_small", "transformer_sentiment"])
def test_hand_written_twin_matches_its_spec(name):
    import builder
    from benchmarks import overhead

    spec = builder.load_spec(overhead.SPECS[name])
    spec_model = builder.build_model(spec)
    hand = overhead.HAND_WRITTEN[name]()
    assert hand.count_params() == spec_model.count_params()
    shape = (4,) + tuple(spec_model.inputs[0].shape[1:])
    rng = np.random.default_rng(0)
    if spec_model.inputs[0].dtype == "int32":
        x = rng.integers(0, 50, size=shape).astype("int32")
        x[:, -5:] = 0  # padding, so the masks matter
    else:
        x = rng.integers(0, 256, size=shape).astype("float32")
    assert overhead.same_function(spec_model, hand, x) < 1e-5


def test_alternating_reverses_the_order_every_other_repeat():
    calls = []
    out = alternating({"a": lambda: calls.append("a") or len(calls), "b": lambda: calls.append("b") or len(calls)}, 3)
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert out == {"a": [1, 4, 5], "b": [2, 3, 6]}


def test_linear_fit_and_ratio_summary():
    xs = [1.0, 2.0, 3.0, 4.0, 5.0]
    fit = linear_fit(xs, [3.0 * x + 2.0 for x in xs])
    assert fit["slope"] == pytest.approx(3.0) and fit["intercept"] == pytest.approx(2.0)
    assert fit["r2"] == pytest.approx(1.0)
    s = ratio_summary([0.9, 1.0, 1.1, 1.0, 1.3])
    assert s["median"] == 1.0 and s["min"] == 0.9 and s["max"] == 1.3
    assert s["ci95"][0] <= s["median"] <= s["ci95"][1]
