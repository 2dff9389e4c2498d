"""tf.distribute from the spec: MirroredStrategy on 2 logical CPU devices matches one device."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import builder
overrides = ["fit.epochs=3", "model.layers[2].dropout.rate=0.0"] + sys.argv[2:]
spec = builder.load_spec("specs/iris_mlp.yaml", overrides=overrides)
result = builder.fit(spec, run_dir=sys.argv[1], verbose=0, log=lambda *a: None)
print(json.dumps({"loss": result.history["loss"], "replicas": result.metrics["replicas"]}))
"""


def _run(tmp_path, name, *overrides):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / name), *overrides],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_matches_one_device(tmp_path):
    one = _run(tmp_path, "one", "distribute.strategy=one_device", "distribute.devices=[/cpu:0]")
    two = _run(tmp_path, "two", "distribute.strategy=mirrored", "distribute.devices=[/cpu:0, /cpu:1]")
    assert one["replicas"] == 1 and two["replicas"] == 2
    # Same global batch and data order: gradients averaged over 2 replicas equal one device's.
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-4)
