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
