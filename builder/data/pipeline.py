"""Split arrays → ``tf.data`` pipelines, and ``adapt`` of preprocessing layers (imports TensorFlow).

The pipeline follows the tf.data performance guide (https://www.tensorflow.org/guide/data_performance):
``from_tensor_slices → cache → shuffle (train only, reshuffled each epoch) → batch → prefetch(AUTOTUNE)``.
Caching before shuffling keeps the per-epoch cost at a shuffle of indices into memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from builder.data.splits import Splits


@dataclass
class Pipelines:
    """``tf.data.Dataset`` of ``(x, y)`` batches per split; ``val`` is None without a validation split.

    Attributes:
        train, val, test: Batched datasets; x is ``(batch, *input_shape)`` (or a dict by input
            name), y is ``(batch,)`` class indices or ``(batch, k)`` targets.
        steps_per_epoch: Training batches per epoch (ceil(n_train / batch_size)).
    """

    train: object
    val: object
    test: object
    steps_per_epoch: int


def _n(x) -> int:
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def make_pipelines(splits: Splits, *, batch_size: int, seed: int, shuffle_buffer: int | None = None,
                   cache: bool = True, shuffle: bool = True) -> Pipelines:
    """Build the train/validation/test pipelines.

    Args:
        splits: Arrays from :func:`builder.data.splits.split_arrays`.
        batch_size: Global batch size (samples per step).
        seed: Shuffle seed (the order still changes every epoch: ``reshuffle_each_iteration``).
        shuffle_buffer: Shuffle buffer in samples; None shuffles the whole train split.
        cache: Cache the decoded samples in memory after the first pass.
        shuffle: Shuffle the training split.
    """
    import tensorflow as tf

    def dataset(xy, train: bool):
        x, y = xy
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if cache:
            ds = ds.cache()
        if train and shuffle:
            ds = ds.shuffle(shuffle_buffer or _n(x), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    n_train = _n(splits.train[0])
    return Pipelines(
        train=dataset(splits.train, True),
        val=dataset(splits.val, False) if splits.val is not None else None,
        test=dataset(splits.test, False),
        steps_per_epoch=-(-n_train // batch_size),
    )


def adapt_preprocessing(model, x_train, batch_size: int = 256) -> list[str]:
    """Call ``adapt`` on every layer of ``model`` that has one (Normalization, TextVectorization,
    StringLookup, IntegerLookup, Discretization, …), on the training split only.

    Layers are adapted in graph order; each one sees its own input, computed by a sub-model from
    the model inputs through the (already adapted) layers before it, so a Normalization after a
    Rescaling is fitted to rescaled values.

    Args:
        model: A built functional ``keras.Model``.
        x_train: Training features: an array ``(n, ...)`` or ``{input_name: array}``.

    Returns:
        The names of the adapted layers.
    """
    import keras
    import tensorflow as tf

    adapted = []
    for layer in model.layers:
        if not hasattr(layer, "adapt") or isinstance(layer, keras.layers.InputLayer):
            continue
        source = layer.input
        if any(source is t for t in model.inputs):  # adapt straight on the raw feature
            feats = x_train[source.name] if isinstance(x_train, dict) else x_train
        else:
            feature_model = keras.Model(model.inputs, source)
            feats = feature_model.predict(x_train, batch_size=batch_size, verbose=0)
        layer.adapt(tf.data.Dataset.from_tensor_slices(np.asarray(feats)).batch(batch_size))
        adapted.append(layer.name)
    return adapted
