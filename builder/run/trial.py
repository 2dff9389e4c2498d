"""The training step shared by ``dlbuild fit`` and every ``dlbuild tune`` trial, so a trial runs
exactly as ``dlbuild fit`` would, by construction.

Inputs: a checked, resolved :class:`~builder.spec.load.Spec` and its
:class:`~builder.data.splits.Splits` (arrays, ``(n, ...)`` per input). Outputs: a compiled
``keras.Model`` with the splits' targets aligned to its outputs, the tf.data pipelines of
``(batch, ...)`` tensors, and the keyword arguments of ``Model.fit``. No run directory here:
writing one is :mod:`builder.run.train`'s job, searching is :mod:`builder.tune`'s.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from builder.data.load import align_targets
from builder.data.pipeline import Pipelines, adapt_preprocessing, make_pipelines
from builder.data.splits import Splits
from builder.errors import SpecError

if TYPE_CHECKING:  # pragma: no cover
    from builder.spec.load import Spec


@dataclass
class Prepared:
    """A model ready for ``Model.fit``.

    Attributes:
        model: The compiled ``keras.Model`` (built and compiled inside the strategy's scope).
        splits: The data, 1-D targets reshaped to ``(n, 1)`` where the model's one output is
            ``(batch, 1)`` (:func:`builder.data.load.align_targets`).
    """

    model: object
    splits: Splits


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the backend (``keras.utils.set_random_seed``)."""
    import keras

    keras.utils.set_random_seed(seed)


def class_weights(spec: "Spec", y_train: np.ndarray) -> dict | None:
    """``fit.class_weight``: ``balanced`` uses scikit-learn's ``n_samples / (n_classes * count)``
    (``sklearn.utils.class_weight.compute_class_weight``); a mapping is used as given."""
    cw = spec.fit.get("class_weight")
    if cw is None:
        return None
    if cw == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        y = np.ravel(y_train)
        classes = np.unique(y)
        return dict(zip(classes.tolist(), compute_class_weight("balanced", classes=classes, y=y).tolist()))
    return {int(k): float(v) for k, v in cw.items()}


def keras_verbose(verbose):
    """Keras's ``verbose``; ``auto`` becomes one line per epoch (2) when stdout is not a terminal,
    so logs and CI output are not flooded with progress-bar redraws."""
    import sys

    if verbose == "auto" and not sys.stdout.isatty():
        return 2
    return verbose


def build(spec: "Spec", strategy=None):
    """The spec's ``keras.Model``, its variables created inside ``strategy``'s scope (mirrored).

    Raises:
        SpecError: a layer Keras refuses to construct or call (e.g. a shape mismatch), located.
    """
    from builder.model.graph import build_model

    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        return build_model(spec)


def compile_model(spec: "Spec", model, splits: Splits, strategy=None, *, adapt: bool = True) -> Prepared:
    """Check ``model`` against ``splits``, adapt its preprocessing and compile it.

    Args:
        spec: A checked spec, search spaces resolved.
        model: Its model (:func:`build`).
        splits: Its data (:func:`builder.data.load.load_splits`).
        strategy: The ``tf.distribute.Strategy`` the model was built in; None for the current one
            (a Keras Tuner trial is already inside its tuner's strategy scope).
        adapt: Adapt preprocessing layers (``Normalization``, ``TextVectorization``) to the
            training inputs; False when a resumed run restores their state with the weights.

    Returns:
        :class:`Prepared`. With ``distribute.scale_learning_rate`` and N > 1 replicas the
        learning rate is multiplied by N (:func:`builder.run.distribute.scale_learning_rate`).

    Raises:
        SpecError: data that does not fit the model (input names, rank, shape, text vs numbers,
            regression targets vs the output: :mod:`builder.run.data_checks`) and class labels
            outside the output's range, all found before the first step (where Keras would stop
            mid-epoch), located at ``model.inputs`` or the output layer.
    """
    from builder.model.graph import build_compile_args
    from builder.run.data_checks import input_problems, target_problems
    from builder.run.distribute import scale_learning_rate
    from builder.spec.consistency import check_labels

    splits = align_targets(splits, model)
    problems = input_problems(spec, splits.train[0]) + target_problems(spec, model, splits)
    problems += check_labels(spec, [p[1] for p in (splits.train, splits.val, splits.test) if p is not None],
                             model.outputs[0].shape[-1] if len(model.outputs) == 1 else None)
    if problems:
        raise SpecError(problems, spec.source)
    replicas = strategy.num_replicas_in_sync if strategy is not None else _replicas_in_scope()
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        if adapt:
            adapt_preprocessing(model, splits.train[0])
        args = build_compile_args(spec)
        if spec.distribute.get("scale_learning_rate") and replicas > 1:
            scale_learning_rate(args["optimizer"], replicas)
        model.compile(**args)
    return Prepared(model, splits)


def _replicas_in_scope() -> int:
    """Replicas of the strategy whose scope we are in (1 outside any): Keras Tuner builds each
    trial inside its ``distribution_strategy``'s scope."""
    import tensorflow as tf

    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def pipelines(spec: "Spec", splits: Splits, batch_size: int | None = None) -> Pipelines:
    """The spec's tf.data pipelines for ``splits``: ``(batch, ...)`` batches of ``batch_size``
    (default ``fit.batch_size``; global over replicas), shuffled and cached as ``data`` says."""
    return make_pipelines(splits, batch_size=batch_size or spec.fit["batch_size"], seed=spec.seed,
                          shuffle_buffer=spec.data.get("shuffle_buffer"),
                          cache=spec.data.get("cache", True), shuffle=spec.fit["shuffle"])


def fit_arguments(spec: "Spec", splits: Splits) -> dict:
    """The ``Model.fit`` keyword arguments every run and trial share: class weights, and
    ``shuffle=False`` (the tf.data pipeline already shuffles, seeded)."""
    return {"class_weight": class_weights(spec, splits.train[1]), "shuffle": False}
