"""``distribute:`` section → a ``tf.distribute.Strategy`` (imports TensorFlow).

dlbuild runs on TensorFlow's own distributed engine; this module only maps the spec to it::

    distribute:
      strategy: mirrored        # auto | default | one_device | mirrored
      devices: [/gpu:0, /gpu:1] # mirrored / one_device: device names (default: all GPUs, or the CPU)

``auto`` (the default) is ``MirroredStrategy`` when more than one GPU is visible and the default
(no-op) strategy otherwise. ``fit.batch_size`` is the *global* batch: each of the N replicas
computes ``batch_size / N`` samples per step (tf.distribute's convention, see
https://www.tensorflow.org/guide/distributed_training). The model is built and compiled inside
``strategy.scope()`` so its variables are mirrored.
"""

from __future__ import annotations


def make_strategy(cfg: dict | None):
    """The strategy for a ``distribute`` section (None or ``{}`` means ``auto``).

    Returns:
        A ``tf.distribute.Strategy``; ``tf.distribute.get_strategy()`` (the default strategy)
        when nothing is distributed.
    """
    import tensorflow as tf

    cfg = cfg or {}
    name = cfg.get("strategy", "auto")
    devices = cfg.get("devices")
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(devices[0] if devices else ("/gpu:0" if gpus else "/cpu:0"))
    return tf.distribute.MirroredStrategy(devices=devices or None)


def describe(strategy, batch_size: int) -> str:
    """``"MirroredStrategy, 2 replicas, global batch 64 = 32 per replica"``."""
    n = strategy.num_replicas_in_sync
    return (f"{type(strategy).__name__}, {n} replica{'s' if n != 1 else ''}, global batch {batch_size}"
            + (f" = {batch_size // n} per replica" if n > 1 else ""))
