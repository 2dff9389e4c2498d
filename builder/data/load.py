"""A spec's data, loaded and split: ``spec.data`` → :class:`builder.data.splits.Splits`.

The one entry point every later stage uses (fit, tune, evaluate, export, generate) to get the
same train/validation/test arrays for a spec. No TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from builder.data.sources.files import load_arrays
from builder.data.splits import Splits, split_arrays, take
from builder.errors import SpecError

if TYPE_CHECKING:  # pragma: no cover
    from builder.spec.load import Spec


def load_splits(spec: "Spec", validation_split: float | None = None) -> Splits:
    """Load the spec's data and split it (``data.max_train_samples`` caps the train split).

    Args:
        spec: A checked spec.
        validation_split: Overrides ``data.validation_split`` (cross-validation uses 0: its folds
            are cut from the whole training split).

    Raises:
        SpecError: data problems, located in the spec (missing files, unknown columns, …).
    """
    d = spec.data
    val_split = d["validation_split"] if validation_split is None else validation_split
    try:
        arrays = load_arrays(spec.data, spec.directory)
        splits = split_arrays(arrays, validation_split=val_split, test_split=d["test_split"],
                              seed=spec.seed, stratify=d["stratify"])
    except SpecError as err:
        raise err.with_source(spec.source) from None
    cap = spec.data.get("max_train_samples")
    if cap:
        x, y = splits.train
        idx = np.arange(min(cap, len(y)))
        splits = dataclasses.replace(splits, train=(take(x, idx), y[idx]))
    return splits


def align_targets(splits: Splits, model) -> Splits:
    """Give 1-D targets ``(n,)`` the shape ``(n, 1)`` of a model's single one-unit output
    ``(batch, 1)`` (a sigmoid classifier, a regressor): some Keras metrics (``F1Score``,
    ``FBetaScore``) require targets of the output's rank; losses accept both."""
    if len(model.outputs) != 1 or tuple(model.outputs[0].shape[1:]) != (1,):
        return splits

    def fix(part):
        if part is None or np.ndim(part[1]) != 1:
            return part
        return (part[0], np.asarray(part[1]).reshape(-1, 1))

    return dataclasses.replace(splits, train=fix(splits.train), val=fix(splits.val), test=fix(splits.test))
