"""Spec → keras.Model: golden comparisons with hand-written Keras, located build errors."""

import pytest

import builder
from builder.errors import SpecError
from builder.spec.load import load_spec


def _signature(model):
    return [(type(l).__name__, tuple(l.output.shape)) for l in model.layers], model.count_params()


def test_mnist_convnet_equals_the_keras_io_example():
    import keras
    from keras import layers

    # keras.io/examples/vision/mnist_convnet, with its `x / 255` preprocessing as a Rescaling layer.
    reference = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Rescaling(1 / 255),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model = builder.build_model(load_spec("specs/mnist_convnet.yaml"))
    ours, n = _signature(model)
    theirs, m = _signature(reference)
    assert ours[1:] == theirs  # ours starts with the InputLayer of the functional model
    assert n == m == 34_826


def test_residual_block_equals_hand_written_keras():
    import keras
    from keras import layers

    spec = load_spec("specs/resnet_small.yaml")
    model = builder.build_model(spec)
    x_in = keras.Input((28, 28, 1))
    x = layers.Rescaling(1 / 255)(x_in)
    x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(32, 3, padding="same", use_bias=False)(x)))

    def residual(x, f):
        y = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(f, 3, padding="same", use_bias=False)(x)))
        y = layers.BatchNormalization()(layers.Conv2D(f, 3, padding="same", use_bias=False)(y))
        return layers.ReLU()(layers.Add()([x, y]))

    def projection(x, f):
        y = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(f, 3, strides=2, padding="same", use_bias=False)(x)))
        y = layers.BatchNormalization()(layers.Conv2D(f, 3, padding="same", use_bias=False)(y))
        s = layers.Conv2D(f, 1, strides=2, use_bias=False)(x)
        return layers.ReLU()(layers.Add()([s, y]))

    x = residual(residual(x, 32), 32)
    x = residual(projection(x, 64), 64)
    out = layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(x))
    reference = keras.Model(x_in, out)
    assert model.count_params() == reference.count_params()
    assert sorted(_signature(model)[0]) == sorted(_signature(reference)[0])


def test_shape_mismatch_is_reported_at_the_item_line(write_spec):
    path = write_spec("""
data: {dataset: iris}
model:
  inputs: {x: {shape: [4]}}
  layers:
    - dense: {units: 8, name: a}
    - dense: {units: 5, name: b, inputs: [x]}
    - add: {inputs: [a, b]}
compile: {loss: mse}
""")
    with pytest.raises(SpecError, match=r"Add\(\) cannot be applied to input shapes \(None, 8\), \(None, 5\)") as e:
        builder.build_model(load_spec(path))
    assert f"{path}:7:7: error" in str(e.value)


def test_nested_objects_and_call_arguments_are_built(write_spec):
    path = write_spec("""
data: {dataset: iris}
model:
  inputs: {tokens: {shape: [12], dtype: int32}}
  layers:
    - embedding: {input_dim: 50, output_dim: 8}
    - multi_head_attention: {num_heads: 2, key_dim: 4, kernel_regularizer: {l2: 1.0e-3}}
      inputs: [-1, -1]
      call: {use_causal_mask: true}
    - bidirectional: {layer: {lstm: {units: 3}}}
    - dense: {units: 2, kernel_initializer: {he_normal: {seed: 1}}}
compile: {loss: mse, optimizer: {adam: {learning_rate: {cosine_decay: {initial_learning_rate: 0.1, decay_steps: 10}}}}}
""")
    spec = load_spec(path)
    model = builder.build_model(spec)
    import keras

    mha = model.get_layer("multi_head_attention")
    assert isinstance(mha._query_dense.kernel_regularizer, keras.regularizers.L2)
    assert model.output.shape == (None, 2)
    assert isinstance(model.get_layer("bidirectional").forward_layer, keras.layers.LSTM)
    from builder.model.graph import build_compile_args

    opt = build_compile_args(spec)["optimizer"]
    assert isinstance(opt.learning_rate, keras.optimizers.schedules.CosineDecay) or \
        isinstance(opt._learning_rate, keras.optimizers.schedules.CosineDecay)


def test_init_from_copies_weights_of_layers_with_the_same_name(write_spec, tmp_path):
    import numpy as np

    base = """
data: {dataset: iris}
model:
  inputs: {x: {shape: [4]}}
  layers:
    - dense: {units: 8, name: encoder}
    - dense: {units: %d, name: head}
compile: {loss: mse}
"""
    pretrained = builder.build_model(load_spec(write_spec(base % 3, "pre")))
    pretrained.save(tmp_path / "pre.keras")
    spec = load_spec(write_spec((base % 2).replace("  layers:", "  init_from: pre.keras\n  layers:"), "fine"))
    model = builder.build_model(spec)
    np.testing.assert_array_equal(model.get_layer("encoder").get_weights()[0], pretrained.get_layer("encoder").get_weights()[0])
    assert model.get_layer("head").get_weights()[0].shape == (8, 2)  # shape differs: fresh weights


def test_init_from_a_missing_run_is_a_located_error(write_spec):
    path = write_spec("data: {dataset: iris}\nmodel:\n  inputs: {x: [4]}\n  init_from: runs/nothing\n"
                      "  layers: [dense: 3]\ncompile: {loss: mse}\n")
    with pytest.raises(SpecError, match=r"init_from: no trained model at .*runs/nothing \(a run directory") as e:
        load_spec(path)
    assert f"{path}:4:14: error" in str(e.value)
