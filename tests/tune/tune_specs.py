"""Specs shared by the tests of builder.tune (imported by name: pytest puts tests/tune on sys.path)."""

TUNE_SPEC = """
name: iris_tune
seed: 3
data: {dataset: iris, test_split: 0.2, validation_split: 0.2}
model:
  inputs: {features: {shape: [4]}}
  layers:
    - normalization
    - dense: {units: {choice: [4, 8]}, activation: relu}
    - {choice: [{dropout: {float: [0.0, 0.4], step: 0.2}}, {batch_normalization: {}}]}
    - dense: {units: 3, activation: softmax}
compile:
  optimizer: {adam: {learning_rate: {float: [1.0e-3, 1.0e-1], sampling: log, step: 10, name: lr}}}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {epochs: 2, batch_size: 32}
tune: {strategy: random, objective: val_accuracy, max_trials: 3}
"""
