"""Split arrays → ``tf.data`` pipelines, and ``adapt`` of preprocessing layers (imports TensorFlow).

The pipeline follows the tf.data performance guide (https://www.tensorflow.org/guide/data_performance):
``from_tensor_slices → cache → shuffle (train only, reshuffled each epoch) → batch → prefetch(AUTOTUNE)``.
Caching before shuffling keeps the per-epoch cost at a shuffle of indices into memory.

With ``data.one_hot`` (``Splits.info["one_hot"]`` = the number of classes) the class-index targets
become one-hot rows here, at the last step: the splits keep class indices for stratification,
``class_weight`` and the confusion matrix.

Masked-language-model data (``Splits.info["masked_lm"]``) gets Devlin et al. 2019's masking as a
``map`` after ``batch``: training batches are re-masked every epoch (stateless random ops seeded
from ``tf.data.Dataset.random(seed, rerandomize_each_iteration=True)``), validation/test are masked
once with a fixed seed so their losses compare across epochs. Each element is then
``(masked_ids, original_ids, sample_weight)`` with weight 1 only on the selected positions.
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
                   cache: bool = True, shuffle: bool = True, masked_lm: dict | None = None) -> Pipelines:
    """Build the train/validation/test pipelines (each one :func:`make_dataset`).

    Args:
        splits: Arrays from :func:`builder.data.splits.split_arrays`.
        batch_size: Global batch size (samples per step).
        seed: Shuffle seed (the order still changes every epoch: ``reshuffle_each_iteration``).
        shuffle_buffer: Shuffle buffer in samples; None shuffles the whole train split.
        cache: Cache the decoded samples in memory after the first pass.
        shuffle: Shuffle the training split.
        masked_lm: Masking settings (default: ``splits.info["masked_lm"]``, set by the data's
            ``masked_lm`` option): ``rate``, ``mask_id``, ``first_id``, ``vocab_size``,
            ``mask_fraction``, ``random_fraction``.
    """
    info = dict(getattr(splits, "info", None) or {})
    if masked_lm is not None:
        info["masked_lm"] = masked_lm

    def dataset(xy, train: bool):
        return make_dataset(xy, batch_size=batch_size, seed=seed, info=info, train=train, cache=cache,
                            shuffle=shuffle, shuffle_buffer=shuffle_buffer)

    n_train = _n(splits.train[0])
    return Pipelines(
        train=dataset(splits.train, True),
        val=dataset(splits.val, False) if splits.val is not None else None,
        test=dataset(splits.test, False),
        steps_per_epoch=-(-n_train // batch_size),
    )


def make_dataset(xy: tuple, *, batch_size: int, seed: int, info: dict | None = None, train: bool = False,
                 cache: bool = True, shuffle: bool = True, shuffle_buffer: int | None = None):
    """One split's ``tf.data`` pipeline (see the module docstring).

    Args:
        xy: ``(x, y)``: x ``(n, ...)`` or ``{input_name: (n, ...)}``, y ``(n,)`` or ``(n, ...)``.
        batch_size, seed, cache, shuffle, shuffle_buffer: as in :func:`make_pipelines`.
        info: ``Splits.info``: ``one_hot`` (the number of classes k) encodes class indices
            ``(n,)`` as float32 rows ``(n, k)``; ``masked_lm`` masks tokens (module docstring).
        train: The training split: shuffled every epoch and, for masked-LM data, re-masked.

    Returns:
        A batched, prefetched ``tf.data.Dataset`` of ``(x, y)``, or ``(x, y, sample_weight)`` for
        masked-LM data.
    """
    import tensorflow as tf

    info = info or {}
    mlm = info.get("masked_lm")
    x, y = xy
    if info.get("one_hot"):  # (n,) class indices -> (n, k): categorical losses and label_smoothing
        y = np.eye(info["one_hot"], dtype=np.float32)[np.asarray(y)]
    if mlm and not train:  # one fixed masking, so validation losses compare across epochs
        from builder.data.sequences.masked_lm import mask_tokens

        xm, w = mask_tokens(x, np.random.default_rng(seed + 1), **_mask_args(mlm))
        ds = tf.data.Dataset.from_tensor_slices((xm, y, w))
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, y))
    if cache:
        ds = ds.cache()
    if train and shuffle:
        ds = ds.shuffle(shuffle_buffer or _n(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if mlm and train:
        ds = masked_lm_batches(ds, mlm, seed)
    # Multi-worker: shard by data (every worker reads the same in-memory arrays, shuffled with the
    # same seed, and keeps its share of each batch). AUTO would try FILE first, which needs a
    # file-reading source: dlbuild's sources are arrays in memory (tf.distribute input guide).
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def _mask_args(mlm: dict) -> dict:
    return {k: mlm[k] for k in ("rate", "mask_id", "first_id", "vocab_size", "mask_fraction", "random_fraction")}


def masked_lm_batches(ds, mlm: dict, seed: int):
    """Map ``(ids, ids)`` batches to ``(masked_ids, ids, sample_weight)`` with fresh random masks
    every epoch (Devlin et al. 2019: ``rate`` of the non-padding tokens selected; of those
    ``mask_fraction`` -> ``[MASK]``, ``random_fraction`` -> a random regular token, the rest kept)."""
    import tensorflow as tf

    a = _mask_args(mlm)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def mask(xy, pair):
        x, y = xy
        shape = tf.shape(x)
        s1, s2, s3 = (tf.random.experimental.stateless_split(pair, 3)[i] for i in range(3))
        selected = tf.logical_and(tf.random.stateless_uniform(shape, s1) < a["rate"], x != 0)
        r = tf.random.stateless_uniform(shape, s2)
        to_mask = tf.logical_and(selected, r < a["mask_fraction"])
        to_rand = tf.logical_and(selected, tf.logical_and(r >= a["mask_fraction"],
                                                          r < a["mask_fraction"] + a["random_fraction"]))
        rand = tf.random.stateless_uniform(shape, s3, minval=a["first_id"], maxval=a["vocab_size"], dtype=tf.int32)
        xm = tf.where(to_mask, tf.cast(a["mask_id"], x.dtype), tf.where(to_rand, tf.cast(rand, x.dtype), x))
        return xm, y, tf.cast(selected, tf.float32)

    return tf.data.Dataset.zip((ds, seeds)).map(mask, num_parallel_calls=tf.data.AUTOTUNE)


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
