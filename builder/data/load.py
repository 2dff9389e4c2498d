"""A spec's data, loaded and split: ``spec.data`` → :class:`~builder.data.sources.arrays.Arrays` →
:class:`~builder.data.splits.Splits`.

The one entry point every later stage uses (fit, tune, evaluate, export, generate) to get the same
train/validation/test arrays for a spec: :func:`load_arrays` reads the source
(:func:`builder.data.sources.read.read_source`) and attaches its sequence option
(:func:`builder.data.sequences.configure.configure`), :func:`load_splits` splits it, and
:func:`align_targets` gives 1-D targets a model's ``(batch, 1)`` output shape. No TensorFlow.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import TYPE_CHECKING

import numpy as np

from builder.data.missing import after_split, before_split
from builder.data.sequences.configure import configure
from builder.data.sequences.prepared import vocabulary
from builder.data.sources.arrays import Arrays
from builder.data.sources.read import read_source
from builder.data.splits import Splits, split_arrays, take
from builder.errors import Diagnostic, SpecError

if TYPE_CHECKING:  # pragma: no cover
    from builder.spec.load import Spec


def load_arrays(data: dict, spec_dir: pathlib.Path) -> Arrays:
    """Load the source named by the spec's ``data`` mapping (plain Python values).

    Args:
        data: ``{"dataset": NAME}`` (see :func:`builder.catalog.datasets.list_datasets`), or
            ``{"csv": PATH, "target"?: COL, "features"?: [COL, ...]}``, or
            ``{"npz": PATH, "x"?: KEY | {input: KEY}, "y"?: KEY}`` (the official test split is
            ``<key>_test`` for every x key and y, else ``x_test``/``y_test`` for a single x; a
            ``class_names`` array names integer classes); optional ``task`` overrides the
            inferred task. Other keys are ignored here (the caller validates them).
        spec_dir: directory that relative ``csv``/``npz`` paths resolve against.

    Returns:
        :class:`Arrays`. CSV: x (n, features) float32; y int32 indices (classification, class names
        sorted) or float32 (regression). NPZ: arrays as stored (float64 narrowed to float32).

    Text and sequence sources (``docs/data.md``): ``text: COLUMN`` makes a CSV/TSV a text set
    (x: (n,) strings); ``text_dir: DIR`` reads ``DIR/<class>/*.txt``; ``text_file: PATH`` is a corpus
    for ``language_model``/``masked_lm``; ``ts: PATH`` reads a sktime ``.ts`` file (its
    ``*_TEST.ts`` sibling is the official test split of a ``*_TRAIN.ts``). ``sequence``, ``window``,
    ``pairs``, ``language_model``, ``masked_lm`` and ``tokenize`` are validated here and applied
    after splitting (:func:`builder.data.sequences.configure.configure`).

    Raises:
        SpecError: none or several sources, bad ``task``, missing or unreadable file,
            unknown column/array (with did-you-mean), non-numeric feature, empty/NaN cell.
    """
    arrays = configure(before_split(read_source(data, spec_dir), data), data, pathlib.Path(spec_dir))
    return _one_hot(arrays) if data.get("one_hot") is True else arrays


def _one_hot(arrays: Arrays) -> Arrays:
    """``data.one_hot``: record the number of classes in ``info["one_hot"]``. The targets stay class
    indices through splitting (stratification, class weights and the confusion matrix read them);
    :func:`builder.data.pipeline.make_pipelines` encodes them as ``(n, classes)`` float32 rows.

    Raises:
        SpecError: at ``data.one_hot``: the targets are not integer class indices of shape (n,).
    """
    ys = [y for y in (arrays.y_train, arrays.y_test) if y is not None]
    if arrays.task != "classification" or any(y.ndim != 1 or y.dtype.kind not in "iu" for y in ys):
        raise SpecError(Diagnostic(
            f"`one_hot` encodes integer class indices of shape (n,); the targets of '{arrays.name}' are "
            f"{arrays.task} targets of shape {arrays.y_train.shape} and dtype {arrays.y_train.dtype}.",
            ("data", "one_hot")))
    classes = len(arrays.class_names) if arrays.class_names else 1 + max(int(y.max()) for y in ys if y.size)
    return dataclasses.replace(arrays, info={**arrays.info, "one_hot": classes})


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
        splits = after_split(split_arrays(arrays, validation_split=val_split, test_split=d["test_split"],
                                          seed=spec.seed, stratify=d["stratify"]), d)
    except SpecError as err:
        raise err.with_source(spec.source) from None
    cap = spec.data.get("max_train_samples")
    if cap:
        x, y = splits.train
        idx = np.arange(min(cap, len(y)))
        splits = dataclasses.replace(splits, train=(take(x, idx), y[idx]))
    return splits


def vocabulary_for(data: dict, spec_dir: pathlib.Path, *, validation_split: float | None = None,
                   test_split: float | None = None, seed: int = 0) -> list[str] | None:
    """Rebuild the vocabulary (index -> token) a spec's ``data`` section yields, or None when its data
    has none (deterministic: same data, same list). Split fractions default to ``data``'s own (else
    0.1 / 0.2).

    Raises:
        SpecError: as :func:`load_arrays` and :func:`builder.data.splits.split_arrays`.
    """
    arrays = load_arrays(data, spec_dir)
    splits = split_arrays(arrays, validation_split=data.get("validation_split", 0.1) if validation_split is None
                          else validation_split, test_split=data.get("test_split", 0.2) if test_split is None
                          else test_split, seed=seed, stratify=data.get("stratify", True))
    return vocabulary(splits)


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
