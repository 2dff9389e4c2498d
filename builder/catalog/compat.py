"""Version-guarded fixes for upstream bugs dlbuild depends on. Each patch cites its issue.

keras-team/keras#20585 (open; also tensorflow/tensorflow#72388): ``Model.fit`` under
``tf.distribute.MultiWorkerMirroredStrategy`` fails on the TensorFlow backend of Keras 3:

1. ``TensorFlowTrainer._maybe_symbolic_build`` reduces the first *data* batch across workers
   (``strategy.reduce("MEAN", batch)``) only to learn its shapes; under the collective strategy
   that is a cross-worker all-reduce of the inputs, which fails (integer labels, mismatched
   shapes). The fix takes this worker's first local replica batch: shapes are all it needs.
2. ``reduce_per_replica`` reduces metric results with ``strategy.reduce("MEAN", v, axis=0)``,
   and axis 0 does not exist on the scalar losses and metrics. The fix reduces scalars with
   ``axis=None`` (a mean across replicas) and keeps Keras's behaviour for everything else.

Applied only to the Keras versions where the bug was verified (3.x up to 3.15), and only when a
multi-worker strategy is used.
"""

from __future__ import annotations

#: Keras versions (major, minor) verified to need :func:`patch_keras_multi_worker`.
AFFECTED = ((3, 0), (3, 15))


def keras_needs_multi_worker_patch(version: str) -> bool:
    """True for the Keras versions in :data:`AFFECTED` (``"3.15.1"`` → True)."""
    try:
        major, minor = (int(p) for p in version.split(".")[:2])
    except ValueError:
        return False
    return AFFECTED[0] <= (major, minor) <= AFFECTED[1]


def patch_keras_multi_worker() -> bool:
    """Apply the keras-team/keras#20585 fix once; returns whether the patch is active."""
    import keras
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if getattr(tf_trainer, "_dlbuild_multi_worker_patch", False):
        return True
    if not keras_needs_multi_worker_patch(keras.__version__):
        return False

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tree.map_structure(
                    lambda x: (self.distribute_strategy.experimental_local_results(x)[0]
                               if isinstance(x, tf.distribute.DistributedValues) else x), batch)
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    original_reduce = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
            def _reduce(v):
                local = strategy.experimental_local_results(v)[0] if tf_trainer._is_per_replica_instance(v) else v
                rank = getattr(getattr(local, "shape", None), "rank", None)
                return strategy.reduce("MEAN", v, axis=None if not rank else 0)

            return tree.map_structure(_reduce, values)
        return original_reduce(values, strategy, reduction)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer._dlbuild_multi_worker_patch = True
    return True


# --- tf.custom_gradient's registry: memory that grows with every tuning trial --------------------

def custom_gradient_names() -> set[str]:
    """Names of the gradient functions ``tf.custom_gradient`` has registered in this process.

    In graph mode (every ``tf.function`` trace, so every Keras train function) ``tf.custom_gradient``
    registers its gradient function as ``CustomGradient-<uid>`` in TensorFlow's global gradient
    registry and never removes it; the closure holds the traced tensors, so every traced graph
    stays alive (tensorflow/tensorflow#97697, open; tensorflow/tensorflow#109334 stops the closure
    capturing the tensors; keras-team/tf-keras#898 purges the entries in ``clear_session``). Keras's
    TensorFlow optimizer all-reduces gradients through ``ReplicaContext.all_reduce``, which uses
    ``tf.custom_gradient``: measured here, +4.8 MiB of RSS per tuning trial (docs/benchmarks.md).
    Reads a private TensorFlow table: an empty set if it has moved.
    """
    try:
        from tensorflow.python.framework import ops

        return {k for k in ops._gradient_registry._registry if k.startswith("CustomGradient-")}
    except (ImportError, AttributeError):  # a TensorFlow without that table: nothing to release
        return set()


def release_custom_gradients(keep: set[str]) -> int:
    """Delete the registered ``CustomGradient-*`` functions not in ``keep`` (see
    :func:`custom_gradient_names`), so the graphs they pin can be freed; returns how many.

    Only for graphs that will never be differentiated again: dlbuild calls it when a tuning trial
    has ended (its model is discarded), keeping the entries that existed before the search.
    """
    import gc

    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry
    except (ImportError, AttributeError):
        return 0
    stale = [k for k in registry if k.startswith("CustomGradient-") and k not in keep]
    for k in stale:
        del registry[k]
    gc.collect()
    return len(stale)
