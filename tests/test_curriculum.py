"""The curriculum specs (issue 3): each validates, builds and trains a few steps on a slice of its
real data; LeNet-5 equals a hand-written Keras LeNet-5."""

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

import builder
from builder.cli.main import main

SPECS = Path(__file__).resolve().parent.parent / "specs"

# spec → extra overrides for a quick run (every run: 1 epoch, a slice of the training split)
CURRICULUM = {
    "mlp_regressor": [],
    "lenet5": [],
    "vgg_fashion": [],
    "inception_fashion": [],
    "rnn_sentiment": [],
    "lstm_sentiment": [],
    "gru_sentiment": [],
    "bilstm_sentiment": [],
    "sms_spam_classweights": [],
    "stacked_lstm_vowels": [],
    "conv1d_vowels": [],
    "lstm_forecaster": [],
    "transformer_sentiment": [],
}


def _quiet(*_args, **_kwargs):
    pass


@pytest.mark.slow  # trains every curriculum model for a few steps (about 2.5 minutes in all)
@pytest.mark.parametrize("name", sorted(CURRICULUM))
def test_curriculum_spec_validates_builds_and_trains_a_few_steps(name, tmp_path):
    path = SPECS / f"{name}.yaml"
    assert path.read_text().startswith("# "), "each spec opens with a comment"
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    overrides = ["fit.epochs=1", "fit.batch_size=32", "data.max_train_samples=64", *CURRICULUM[name]]
    spec = builder.load_spec(path, overrides=overrides)
    fitted = builder.fit(spec, run_dir=tmp_path / "run", verbose=0, log=_quiet)
    metrics = fitted.metrics
    assert metrics["epochs"] == 1 and metrics["params"] == fitted.model.count_params() > 0
    assert metrics["train_samples"] <= 64
    assert metrics["test"] and all(math.isfinite(v) for v in metrics["test"].values()), metrics["test"]
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["params"] == metrics["params"]
    if name == "lstm_forecaster":  # the forecaster is compared with the last-value forecast
        assert {"mse", "mae", "rmse"} <= set(saved["naive_forecast"]), saved.get("naive_forecast")
    if name == "lenet5":  # ModelCheckpoint(save_best_only) writes inside the run directory
        assert (tmp_path / "run" / "checkpoints" / "best.keras").is_file()


def _hand_written_lenet5():
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.ZeroPadding2D(2)(x)
    x = layers.Conv2D(6, 5, activation="tanh")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(16, 5, activation="tanh")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(120, activation="tanh")(x)
    x = layers.Dense(84, activation="tanh")(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def test_lenet5_equals_a_hand_written_keras_lenet5():
    import keras

    built = builder.build_model(builder.load_spec(SPECS / "lenet5.yaml"))
    reference = _hand_written_lenet5()

    def signature(model):
        return [(type(layer).__name__, tuple(layer.output.shape), layer.count_params())
                for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]

    assert signature(built) == signature(reference)
    assert built.count_params() == reference.count_params() == 61_706
    assert [tuple(layer.output.shape) for layer in built.layers][-3:] == [(None, 120), (None, 84), (None, 10)]
    conv = [layer for layer in built.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.get_config()["activation"] for c in conv] == ["tanh", "tanh"]
