"""``distribute:`` section → a ``tf.distribute.Strategy`` (imports TensorFlow).

dlbuild runs on TensorFlow's own distributed engine; this module only maps the spec to it::

    distribute:
      strategy: mirrored        # auto | default | one_device | mirrored | multi_worker | tpu
      devices: [/gpu:0, /gpu:1] # mirrored / one_device: device names (default: all GPUs, or the CPU)
      workers: [host1:2222, host2:2222]   # multi_worker: the cluster (else TF_CONFIG)
      worker_index: 0                     # multi_worker: this process (0 = chief)

``auto`` (the default) is ``MirroredStrategy`` when more than one GPU is visible and the default
(no-op) strategy otherwise. ``fit.batch_size`` is the *global* batch: each of the N replicas
computes ``batch_size / N`` samples per step (tf.distribute's convention, see
https://www.tensorflow.org/guide/distributed_training). The model is built and compiled inside
``strategy.scope()`` so its variables are mirrored.
"""

from __future__ import annotations

import json
import os


def tf_config(workers: list[str], index: int) -> str:
    """The ``TF_CONFIG`` JSON of worker ``index`` in a cluster of ``workers`` (host:port each)."""
    return json.dumps({"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": int(index)}})


def make_strategy(cfg: dict | None):
    """The strategy for a ``distribute`` section (None or ``{}`` means ``auto``).

    ``multi_worker`` reads the cluster from ``workers`` + ``worker_index`` (written to
    ``TF_CONFIG``) or from an existing ``TF_CONFIG``, and applies :mod:`builder.catalog.compat`'s fix for
    keras-team/keras#20585. ``tpu`` connects through ``TPUClusterResolver`` (untested here).

    Returns:
        A ``tf.distribute.Strategy``; ``tf.distribute.get_strategy()`` (the default strategy)
        when nothing is distributed.

    Raises:
        ValueError: ``multi_worker`` without a cluster (no ``workers`` and no ``TF_CONFIG``).
    """
    import tensorflow as tf

    cfg = cfg or {}
    name = cfg.get("strategy", "auto")
    devices = cfg.get("devices")
    # Physical, not logical, devices: listing logical devices initialises TensorFlow's context,
    # after which MultiWorkerMirroredStrategy can no longer configure its collective ops.
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(devices[0] if devices else ("/gpu:0" if gpus else "/cpu:0"))
    if name == "multi_worker":
        from builder.catalog.compat import patch_keras_multi_worker

        if cfg.get("workers"):
            os.environ["TF_CONFIG"] = tf_config(cfg["workers"], cfg.get("worker_index") or 0)
        elif "TF_CONFIG" not in os.environ:
            raise ValueError("distribute.strategy multi_worker needs the cluster: set distribute.workers "
                             "and distribute.worker_index, or the TF_CONFIG environment variable")
        patch_keras_multi_worker()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=cfg.get("tpu") or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.MirroredStrategy(devices=devices or None)


def is_chief(strategy) -> bool:
    """Whether this process writes the run directory: always, except a non-chief multi-worker
    worker (the chief is task ``chief``, or worker 0 when the cluster has no chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)


def worker_index(strategy) -> int:
    """This process's worker index (0 outside multi-worker training)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(getattr(resolver, "task_id", 0) or 0) if resolver is not None else 0


def scale_learning_rate(optimizer, replicas: int) -> None:
    """Linear scaling rule (Goyal et al. 2017, "Accurate, Large Minibatch SGD"): with the global
    batch N times larger, multiply the learning rate by N. Schedules are left alone.

    Raises:
        ValueError: the learning rate is a schedule (scale its initial rate in the spec instead).
    """
    import keras

    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if isinstance(inner._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        raise ValueError("scale_learning_rate needs a constant learning_rate; scale the schedule's "
                         "initial_learning_rate in the spec instead")
    inner.learning_rate = float(inner.learning_rate) * replicas


def _kinds(devices) -> str:
    """``["/job:worker/.../device:GPU:0", ".../device:GPU:1"]`` → ``"2 GPUs"``; several kinds joined by +."""
    counts: dict = {}
    for d in devices:
        kind = str(d).upper().split("DEVICE:")[-1].split(":")[0].lstrip("/") or "CPU"
        counts[kind] = counts.get(kind, 0) + 1
    return " + ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in counts.items())


def placement(strategy) -> str:
    """Where training runs, in words: ``"1 device (CPU)"``, ``"1 device (GPU:1)"``,
    ``"mirrored over 2 GPUs"``, ``"multi-worker: 2 workers × 1 GPU"``, ``"TPU: 8 cores"``."""
    import tensorflow as tf

    name = type(strategy).__name__
    n = strategy.num_replicas_in_sync
    if name.startswith("_Default"):  # TensorFlow places ops on the first GPU when there is one
        return f"1 device ({'GPU' if tf.config.list_logical_devices('GPU') else 'CPU'})"
    devices = list(strategy.extended.worker_devices)
    if name.startswith("OneDevice"):
        return f"1 device ({str(devices[0]).upper().split('DEVICE:')[-1]})"
    if name.startswith(("MultiWorkerMirrored", "CollectiveAllReduce")):  # the second: its v2 class name
        workers = strategy.cluster_resolver.cluster_spec().num_tasks("worker") or 1
        return f"multi-worker: {workers} worker{'s' if workers != 1 else ''} × {_kinds(devices)}"
    if name.startswith("TPU"):
        return f"TPU: {n} cores"
    if name.startswith("Mirrored"):
        return f"mirrored over {_kinds(devices)}"
    return f"{name}, {n} replica{'s' if n != 1 else ''}"


def describe(strategy, batch_size: int) -> str:
    """The fit banner's placement and batch: ``"mirrored over 2 GPUs, global batch 64 = 32 per
    replica"``, ``"1 device (CPU), batch 32"``."""
    n = strategy.num_replicas_in_sync
    if n == 1:
        return f"{placement(strategy)}, batch {batch_size}"
    return f"{placement(strategy)}, global batch {batch_size} = {batch_size // n} per replica"
