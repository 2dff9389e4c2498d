"""The Keras catalog: generated from Keras itself, names matched generically."""

import pytest

from builder.catalog.registry import DENIED, catalog


@pytest.fixture(scope="module")
def cat():
    return catalog()


@pytest.mark.parametrize("kind,name,expected", [
    ("layer", "conv2d", "Conv2D"), ("layer", "Conv2D", "Conv2D"), ("layer", "prelu", "PReLU"),
    ("layer", "leaky_relu", "LeakyReLU"), ("layer", "max_pooling2d", "MaxPooling2D"),
    ("layer", "multi_head_attention", "MultiHeadAttention"), ("layer", "simple_rnn", "SimpleRNN"),
    ("regularizer", "l1_l2", "L1L2"), ("initializer", "he_normal", "HeNormal"),
    ("optimizer", "adamw", "AdamW"), ("optimizer", "schedule_free_adamw", "ScheduleFreeAdamW"),
    ("optimizer", "lamb", "Lamb"), ("schedule", "cosine_decay", "CosineDecay"),
    ("loss", "mse", "mean_squared_error"), ("loss", "sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"),
    ("metric", "accuracy", "accuracy"), ("metric", "auc", "AUC"), ("callback", "early_stopping", "EarlyStopping"),
    ("activation", "gelu", "gelu"),
])
def test_names_resolve_case_and_underscore_insensitively(cat, kind, name, expected):
    assert cat.lookup(kind, name).name == expected


def test_arguments_come_from_constructor_signatures(cat):
    conv = cat.lookup("layer", "conv2d")
    assert conv.required == ("filters", "kernel_size") or list(conv.required) == ["filters", "kernel_size"]
    assert conv.positional == "filters"
    assert {"padding", "strides", "kernel_initializer", "name", "dtype"} <= set(conv.args)
    adam = cat.lookup("optimizer", "adam")
    assert {"learning_rate", "beta_1", "clipnorm", "global_clipnorm"} <= set(adam.args)


def test_shipped_catalog_matches_the_installed_keras(cat):
    """Every public layer class of the installed Keras is in the catalog (none hand-listed)."""
    import inspect

    import keras

    classes = {v.__name__ for v in vars(keras.layers).values()
               if inspect.isclass(v) and issubclass(v, keras.layers.Layer)}
    assert classes == {e.name for e in cat.entries["layer"].values() if e.module == "keras.layers"}
    assert cat.keras_version == keras.__version__


def test_denied_names_are_found_but_marked(cat):
    for name in ("Lambda", "TFSMLayer"):
        entry = cat.lookup("layer", name)
        assert entry is not None and cat.denied(entry) == DENIED[name]
    assert "Lambda" not in cat.names("layer")


def test_shipped_catalog_is_up_to_date():
    """The JSON that `validate` reads without TensorFlow equals a fresh scan of Keras and dlbuild's
    own layers and optimizers. If this fails, regenerate it: python -m builder.catalog.scan"""
    import json

    from builder.catalog.registry import SNAPSHOT
    from builder.catalog.scan import build_catalog

    assert json.loads(SNAPSHOT.read_text()) == json.loads(json.dumps(build_catalog()))
