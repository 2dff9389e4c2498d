"""What export needs to know about a Keras model: its layers, inputs/outputs, preprocessing, signature.

Inputs: a built ``keras.Model``. Outputs: plain lists and dicts (layer lists, ``{name, shape,
dtype}`` per input/output with ``None`` for the batch axis, one sentence per preprocessing layer),
an input signature of ``tf.TensorSpec`` with a chosen batch axis, and random check inputs for a
model exported without held-out data. Keras and TensorFlow are imported inside the functions.
"""

from __future__ import annotations

import numpy as np


def all_layers(model) -> list:
    """Every layer of ``model``, nested ones included (Bidirectional's forward LSTM, sub-models)."""
    return list(model._flatten_layers(include_self=False, recursive=True))


def recurrent_layers(model) -> list:
    """The ``keras.layers.RNN`` layers (LSTM, GRU, SimpleRNN, …) inside ``model``."""
    import keras

    return [l for l in all_layers(model) if isinstance(l, keras.layers.RNN)]


def io_specs(model) -> tuple[list[dict], list[dict]]:
    """``([{name, shape, dtype}] per input, [...] per output)``; shape has ``None`` for the batch."""
    ins = [{"name": t.name, "shape": list(t.shape), "dtype": str(t.dtype)} for t in model.inputs]
    names = list(getattr(model, "output_names", None) or [f"output_{i}" for i in range(len(model.outputs))])
    outs = [{"name": n, "shape": list(t.shape), "dtype": str(t.dtype)} for n, t in zip(names, model.outputs)]
    return ins, outs


def preprocessing_notes(model) -> list[str]:
    """What preprocessing the exported model does itself, for the sidecar (one sentence each)."""
    import keras

    notes = []
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.Rescaling):
            notes.append(f"{layer.name}: Rescaling(scale={layer.scale}, offset={layer.offset}) is inside the "
                         "model: feed raw values (e.g. 0-255 pixels), not pre-scaled ones")
        elif isinstance(layer, keras.layers.Normalization):
            notes.append(f"{layer.name}: Normalization (mean/variance adapted on the training split) is inside "
                         "the model: feed raw feature values")
        elif isinstance(layer, keras.layers.TextVectorization):
            notes.append(f"{layer.name}: TextVectorization is inside the .keras and SavedModel artifacts "
                         "(feed strings); TFLite builtin ops and ONNX cannot hold it (string ops)")
        elif isinstance(layer, (keras.layers.Resizing, keras.layers.CenterCrop)):
            notes.append(f"{layer.name}: {type(layer).__name__} is inside the model")
    return notes


def input_signature(model, batch: int | None):
    """Keras's input signature of ``model`` (``tf.TensorSpec`` per input, named like the spec's
    inputs) with the batch axis set to ``batch`` (None = dynamic)."""
    import keras
    import tensorflow as tf
    from keras.src.export.export_utils import get_input_signature

    sig = get_input_signature(model)
    if batch is None:
        return sig
    return keras.tree.map_structure(
        lambda s: tf.TensorSpec((batch, *tuple(s.shape)[1:]), s.dtype, name=s.name), sig)


def random_check_input(model, rng: np.random.Generator) -> dict:
    """``{input_name: (8, ...)}`` random samples: strings a fixed sentence, integers 0/1, floats
    U[0, 1); unknown (None) axes get length 1."""
    out = {}
    for t in model.inputs:
        shape = (8, *[d or 1 for d in t.shape[1:]])
        dtype = str(t.dtype)
        if dtype == "string":
            out[t.name] = np.full(shape, "the quick brown fox", dtype=object)
        elif np.dtype(dtype).kind in "iub":
            out[t.name] = rng.integers(0, 2, shape).astype(dtype)
        else:
            out[t.name] = rng.uniform(0, 1, shape).astype(dtype)
    return out
