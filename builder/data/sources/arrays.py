"""The one container every data source returns: :class:`Arrays` (raw samples before splitting).

Also the two small pieces all source readers share: :func:`unknown` (the "Unknown 'x'; did you
mean 'y'?" sentence of a located :class:`builder.errors.SpecError`) and :func:`ragged` /
:func:`is_ragged` (variable-length sequences as a 1-D object array of ``(t_i, channels)`` arrays).
Imports only numpy and :mod:`builder.errors` (no TensorFlow); the bottom of ``builder.data``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from builder.errors import did_you_mean


def unknown(what: str, name: object, candidates, expected: str) -> str:
    """``"Unknown <what> 'x'; did you mean 'y'? <expected>"`` -- one sentence break either way."""
    hint = did_you_mean(name, candidates)
    return f"Unknown {what} {name!r}{hint}{' ' if hint else '. '}{expected}"


def ragged(items) -> np.ndarray:
    """A 1-D object array ``(n,)`` holding each item (so arrays of different lengths can be indexed)."""
    out = np.empty(len(items), object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def is_ragged(x) -> bool:
    """True for a non-empty :func:`ragged` array (a 1-D object array of numpy arrays)."""
    return isinstance(x, np.ndarray) and x.dtype == object and len(x) > 0 and isinstance(x[0], np.ndarray)


@dataclass(frozen=True)
class Arrays:
    """A loaded data source, before splitting.

    Attributes:
        x_train: features, (n, ...) -- e.g. (n, 28, 28, 1) uint8 images or (n, features) float32;
            a ``{input_name: array}`` dict when the model has several named inputs.
        y_train: (n,) int32 class indices for classification, (n,) or (n, k) float32 for regression.
        x_test, y_test: the source's official test split, same layout; None when it has none.
        class_names: classification: index -> name; None for regression (or unnamed NPZ classes).
        task: ``"classification"`` or ``"regression"``.
        name: dataset name (``"fashion_mnist"``) or the file name (``"iris.csv"``).
        ordered: samples are steps of one series/stream: split in time order, never shuffled across
            the split boundary (:func:`builder.data.splits.split_arrays`).
        prepare: None, or a callable ``{split: (x, y)} -> Prepared`` run after splitting
            (:func:`builder.data.sequences.configure.configure`): fits a vocabulary / padded length
            on train only.
        info: ``kind`` of the raw data (``table``, ``text``, ``corpus``, ``pairs``, ``sequences``,
            ``series``) and anything a preparer adds.
    """

    x_train: np.ndarray | dict[str, np.ndarray]
    y_train: np.ndarray
    x_test: np.ndarray | dict[str, np.ndarray] | None
    y_test: np.ndarray | None
    class_names: tuple[str, ...] | None
    task: str
    name: str
    ordered: bool = False
    prepare: Callable | None = None
    info: dict = field(default_factory=dict)
