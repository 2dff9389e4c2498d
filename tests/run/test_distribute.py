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


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_policy_is_applied_and_outputs_stay_float32(policy):
    import keras

    import builder
    from builder.model.graph import build_compile_args

    spec = builder.load_spec("specs/iris_mlp.yaml", overrides=[f"fit.mixed_precision={policy}"])
    model = builder.build_model(spec)
    dense = model.get_layer("dense")
    assert dense.dtype_policy.name == policy and dense.compute_dtype == policy.split("_")[1]
    assert dense.variable_dtype == "float32"
    assert model.output.dtype == "float32" and model.layers[-1].dtype_policy.name == "float32"
    optimizer = build_compile_args(spec)["optimizer"]
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")


def _weights(path):
    import keras
    import numpy as np

    model = keras.saving.load_model(path, safe_mode=True)
    return [np.asarray(w) for w in model.get_weights()]


SEEDED = """
name: iris_seeded
seed: 3
data: {dataset: iris, test_split: 0.2, validation_split: 0.2}
model:
  inputs: {features: {shape: [4]}}
  layers:
    - normalization
    - dense: {units: 16, activation: relu, kernel_initializer: {glorot_uniform: {seed: 1}}}
    - dense: {units: 3, activation: softmax, kernel_initializer: {glorot_uniform: {seed: 2}}}
compile: {optimizer: {adam: 0.01}, loss: sparse_categorical_crossentropy}
fit: {epochs: 3, batch_size: 16}
"""


def _losses(run):
    import csv

    with open(run / "history.csv", newline="") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_two_local_workers_train_in_sync_like_one_process(tmp_path, write_spec):
    """MultiWorkerMirroredStrategy through `fit --workers 2` (keras-team/keras#20585 shim): both
    workers end with identical weights, and the loss matches one process on the same global batch.
    Initializers are seeded per layer: under the collective strategy variables are created in
    another order, so unseeded initializers would start from other (equally random) weights."""
    import numpy as np

    spec = write_spec(SEEDED)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    runs = {}
    for name, extra in (("mw", ["--workers", "2"]), ("single", [])):
        done = subprocess.run([sys.executable, "-m", "builder.cli", "fit", spec, "-q", "--out", str(tmp_path / name),
                               *extra], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[name] = tmp_path / name
    chief, other = runs["mw"], runs["mw"] / "workers" / "1"
    for a, b in zip(_weights(chief / "model.keras"), _weights(other / "model.keras")):
        np.testing.assert_array_equal(a, b)
    assert json.loads((chief / "metrics.json").read_text())["replicas"] == 2
    assert not (other / "workers").exists()
    # Measured here: per-epoch losses within 1.6 % of one process (float reduction order differs).
    assert _losses(chief) == pytest.approx(_losses(runs["single"]), rel=3e-2)


def test_multi_worker_patch_is_version_guarded():
    from builder.catalog.compat import keras_needs_multi_worker_patch

    assert keras_needs_multi_worker_patch("3.15.1") and keras_needs_multi_worker_patch("3.5.0")
    assert not keras_needs_multi_worker_patch("3.16.0") and not keras_needs_multi_worker_patch("2.15.0")


@pytest.mark.slow
def test_killing_one_worker_then_restarting_both_resumes_training(tmp_path, write_spec):
    """BackupAndRestore under MultiWorkerMirroredStrategy: SIGKILL worker 1 mid-training (the chief
    then blocks in its next all-reduce, so the whole group is stopped), restart both with --resume:
    training continues from the last completed epoch and history.csv has every epoch once. Every
    worker resumes from the chief's backup: resumed from their own, the workers could be an epoch
    apart and their collective ops would not pair up."""
    import csv
    import signal
    import time

    spec = write_spec(SEEDED.replace("epochs: 3", "epochs: 40").replace("batch_size: 16", "batch_size: 4"))
    out = tmp_path / "mw"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "builder.cli", "fit", spec, "-q", "--out", str(out), "--workers", "2"]
    parent = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)

    def epochs():
        if not (out / "history.csv").exists():
            return []
        with open(out / "history.csv", newline="") as f:
            return [int(r["epoch"]) for r in csv.DictReader(f)]

    deadline = time.time() + 240
    while time.time() < deadline and len(epochs()) < 3 and parent.poll() is None:
        time.sleep(0.05)
    worker1 = [int(p) for p in os.listdir("/proc") if p.isdigit()
               and "--worker-index\x001" in open(f"/proc/{p}/cmdline").read() and str(out) in open(f"/proc/{p}/cmdline").read()]
    assert worker1 and len(epochs()) < 40, "training ended before a worker could be killed"
    os.kill(worker1[0], signal.SIGKILL)
    time.sleep(2)
    os.killpg(parent.pid, signal.SIGKILL)
    parent.wait()
    done = epochs()
    assert 3 <= len(done) < 40
    resumed = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert epochs() == list(range(1, 41))
    assert json.loads((out / "run.json").read_text())["state"] == "completed"


SHARD_SCRIPT = r"""
import json, sys
import numpy as np
from builder.run.distribute import make_strategy
strategy = make_strategy({"strategy": "multi_worker", "workers": sys.argv[1].split(","), "worker_index": int(sys.argv[2])})
from builder.data.pipeline import make_dataset
n = 96
ds = make_dataset((np.arange(n, dtype="float32")[:, None], np.arange(n)), batch_size=16, seed=3, train=True)
print("policy", ds.options().experimental_distribute.auto_shard_policy.name)
dist = strategy.experimental_distribute_dataset(ds)  # what Keras's fit does with a tf.data.Dataset
epochs = []
for _ in range(2):
    epochs.append([int(v) for _, yb in dist for r in strategy.experimental_local_results(yb) for v in r.numpy()])
print(json.dumps(epochs))
"""


@pytest.mark.slow
def test_multi_worker_input_pipeline_shards_each_epoch_without_overlap():
    """Under MultiWorkerMirroredStrategy the training pipeline is sharded by data: in every epoch
    the two workers see disjoint halves of the training split, together all of it, reshuffled."""
    import socket

    def port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    workers = f"127.0.0.1:{port()},127.0.0.1:{port()}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    procs = [subprocess.Popen([sys.executable, "-c", SHARD_SCRIPT, workers, str(i)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-2000:] for _, e in outs]
    assert all("policy DATA" in o for o, _ in outs)
    seen = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    for epoch in range(2):
        a, b = seen[0][epoch], seen[1][epoch]
        assert len(a) == len(b) == 48 and not set(a) & set(b) and sorted(a + b) == list(range(96))
    assert seen[0][0] != seen[0][1]  # reshuffled every epoch


PLACEMENT_SCRIPT = r"""
import json, os, socket
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from builder.run.distribute import describe, make_strategy, tf_config
with socket.socket() as sock:
    sock.bind(("localhost", 0))
    port = sock.getsockname()[1]
os.environ["TF_CONFIG"] = tf_config([f"localhost:{port}"], 0)
multi = describe(tf.distribute.MultiWorkerMirroredStrategy(), 16)  # first: it configures collective ops
del os.environ["TF_CONFIG"]
print(json.dumps([describe(make_strategy(None), 32),
                  describe(make_strategy({"strategy": "one_device", "devices": ["/cpu:1"]}), 32),
                  describe(make_strategy({"strategy": "mirrored", "devices": ["/cpu:0", "/cpu:1"]}), 64),
                  multi]))
"""


def test_the_fit_banner_says_where_training_runs_in_words():
    """No class names (``_DefaultDistributionStrategy``): devices, replicas and the batch split."""
    out = subprocess.run([sys.executable, "-c", PLACEMENT_SCRIPT], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [
        "1 device (CPU), batch 32",
        "1 device (CPU:1), batch 32",
        "mirrored over 2 CPUs, global batch 64 = 32 per replica",
        "multi-worker: 1 worker × 1 CPU, batch 16",
    ]


def test_mixed_precision_auto_is_float16_only_on_gpus_that_profit(monkeypatch):
    """The default `auto`: float32 on this CPU machine; mixed_float16 with loss scaling when every
    GPU has compute capability >= 7.0 (the GPU list is substituted: there is no GPU here)."""
    import keras

    import builder
    from builder.model import precision
    from builder.model.graph import build_compile_args

    assert precision.float16_pays_off([(7, 0), (8, 6)]) and not precision.float16_pays_off([(8, 0), (6, 1)])
    assert not precision.float16_pays_off([]) and not precision.float16_pays_off([None])
    spec = builder.load_spec("specs/iris_mlp.yaml")
    assert spec.fit["mixed_precision"] == "auto"
    cpu = builder.build_model(spec)
    assert cpu.get_layer("dense").dtype_policy.name == "float32"
    assert not isinstance(build_compile_args(spec)["optimizer"], keras.optimizers.LossScaleOptimizer)
    monkeypatch.setattr(precision, "visible_compute_capabilities", lambda: [(8, 0), (8, 0)])
    gpu = builder.build_model(spec)
    assert gpu.get_layer("dense").dtype_policy.name == "mixed_float16" and gpu.output.dtype == "float32"
    assert isinstance(build_compile_args(spec)["optimizer"], keras.optimizers.LossScaleOptimizer)
    monkeypatch.setattr(precision, "visible_compute_capabilities", lambda: [(6, 1)])  # a Pascal GPU
    assert builder.build_model(spec).get_layer("dense").dtype_policy.name == "float32"
