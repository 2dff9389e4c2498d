"""Shared test helpers: quiet TensorFlow, write small specs to temporary files."""

import os
import textwrap

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture
def write_spec(tmp_path):
    """Write YAML text (dedented) to ``tmp_path/<name>.yaml`` and return the path as str."""

    def write(text: str, name: str = "spec") -> str:
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return str(path)

    return write


TINY_CNN = """
name: tiny
seed: 5
data:
  dataset: fashion_mnist
  validation_split: 0.1
  max_train_samples: 600
model:
  inputs: {image: {shape: [28, 28, 1]}}
  layers:
    - rescaling: {scale: 0.00392156862745098}
    - conv2d: {filters: 4, kernel_size: 3, activation: relu}
    - max_pooling2d: 4
    - flatten
    - dense: {units: 10, activation: softmax}
compile:
  optimizer: {adam: 3.0e-3}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit:
  epochs: 2
  batch_size: 64
"""


FAKE_RUN_SPEC = """
name: fake_iris
seed: 3
data: {dataset: iris, test_split: 0.2, validation_split: 0.2}
model:
  inputs: {features: {shape: [4]}}
  layers:
    - dense: {units: 8, activation: relu}
    - dense: {units: 3, activation: softmax}
compile:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {epochs: 3, batch_size: 16}
"""


@pytest.fixture
def fake_run(tmp_path):
    """A completed run directory written without training: ``spec.resolved.yaml``, an untrained
    ``model.keras`` (built from the spec), a three-epoch ``history.csv``, ``metrics.json`` and
    ``run.json``. For tests of what reads finished runs (plots, evaluate, export, predict)."""
    import json

    import builder

    run = tmp_path / "fake_run"
    run.mkdir()
    (run / "spec.resolved.yaml").write_text(textwrap.dedent(FAKE_RUN_SPEC).lstrip("\n"))
    model = builder.build_model(builder.load_spec(run / "spec.resolved.yaml"))
    model.save(run / "model.keras")
    (run / "history.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy\n"
                                     "1,1.2,0.40,1.1,0.45\n2,0.9,0.60,0.8,0.70\n3,0.7,0.75,0.85,0.65\n")
    (run / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.5, "loss": 1.0}, "val": {},
                                                  "params": model.count_params(), "epochs": 3}))
    (run / "run.json").write_text(json.dumps({"state": "completed", "spec_name": "fake_iris"}))
    return run
