"""Train/validation/test splitting of :class:`builder.data.sources.arrays.Arrays` (no TensorFlow).

Splits are index-based (``sklearn.model_selection.train_test_split`` on ``arange(n)``), so a dict of
named input arrays is split consistently, and deterministic for a given seed. :func:`kfold` cuts
the training split into K cross-validation folds (``KFold`` / ``StratifiedKFold``) the same way.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np
from sklearn.model_selection import train_test_split

from builder.data.sources.arrays import Arrays
from builder.errors import Collector, Diagnostic, SpecError


@dataclass(frozen=True)
class Splits:
    """Data ready for ``fit``/``evaluate``.

    Attributes:
        train, test: ``(x, y)`` -- x an array (n, ...) or ``{input_name: array}``, y (n,) or (n, k).
        val: ``(x, y)`` or None when ``validation_split`` is 0.
        class_names, task: copied from :class:`Arrays`.
        info: what the data's preparer reports (``vocabulary``, ``level``, ``window``,
            ``masked_lm``, ``pairs``, ``sequence``; see :mod:`builder.data.sequences`), and
            ``one_hot`` (the number of classes) with ``data.one_hot``; ``{}`` for plain data.
        ordered: the samples come from one series or text stream, split in time order.
    """

    train: tuple
    val: tuple | None
    test: tuple
    class_names: tuple[str, ...] | None
    task: str
    info: dict = field(default_factory=dict)
    ordered: bool = False


def take(x, idx: np.ndarray):
    """Rows ``idx`` of an array, or of every array of a ``{name: array}`` dict."""
    return {k: v[idx] for k, v in x.items()} if isinstance(x, dict) else x[idx]


def _split(y: np.ndarray, fraction: float, seed: int, stratify: bool, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out) of ``y``; stratified when asked and possible, else plain random."""
    idx = np.arange(len(y))
    if stratify:
        try:
            return tuple(train_test_split(idx, test_size=fraction, random_state=seed, stratify=y))
        except ValueError as exc:  # a class with < 2 members, or fewer held-out rows than classes
            warnings.warn(f"Could not stratify the {what} split ({exc}); splitting at random instead.",
                          stacklevel=3)
    try:
        return tuple(train_test_split(idx, test_size=fraction, random_state=seed))
    except ValueError as exc:
        raise SpecError(Diagnostic(
            f"Cannot hold out {fraction} of {len(y)} samples as {what} data: {exc}",
            ("data", f"{what}_split"))) from None


def split_arrays(arrays: Arrays, *, validation_split: float, test_split: float, seed: int,
                 stratify: bool = True) -> Splits:
    """Split ``arrays`` into train / validation / test.

    The test set is the source's official test split when it has one (``test_split`` is then
    ignored); otherwise ``test_split`` of all samples is held out. Then ``validation_split`` of the
    remaining training samples is held out as validation (None when 0). Fractions are in [0, 1).

    For classification with ``stratify`` the splits keep class proportions
    (``train_test_split(stratify=y)``); when that is impossible (a class with a single sample, or
    fewer held-out samples than classes) a ``UserWarning`` is issued and the split is unstratified.
    Same ``seed`` -> same splits.

    Ordered data (``arrays.ordered``: a series for ``window``, a token stream for
    ``language_model``/``masked_lm``) is split in time order instead: train is the first part, then
    validation, then test (the last ``test_split``); nothing is shuffled across a boundary. Then
    ``arrays.prepare`` (if any) fits on the training part only and turns every part into samples
    (windows, padded sequences, token ids).

    Raises:
        SpecError: a fraction outside [0, 1) at ``("data", "validation_split"|"test_split")``; a source
            without official test split and ``test_split`` 0; too few samples for a split.
    """
    errs = Collector()
    for name, value in (("validation_split", validation_split), ("test_split", test_split)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            errs.error(f"`{name}` must be a fraction in [0, 1); received {value!r}.", ("data", name))
    has_test = arrays.x_test is not None and arrays.y_test is not None
    if not has_test and not errs.diagnostics and test_split == 0:
        errs.error(f"'{arrays.name}' has no official test split, so `test_split` must be > 0 "
                   "(e.g. 0.2); received 0.", ("data", "test_split"))
    errs.raise_if_any()
    if arrays.ordered:
        return _finish(arrays, *_ordered(arrays, validation_split, test_split))
    strat = stratify and arrays.task == "classification"
    x, y = arrays.x_train, arrays.y_train
    if has_test:
        test = (arrays.x_test, arrays.y_test)
    else:
        keep, held = _split(y, test_split, seed, strat, "test")
        test = (take(x, held), y[held])
        x, y = take(x, keep), y[keep]
    val = None
    if validation_split > 0:
        keep, held = _split(y, validation_split, seed, strat, "validation")
        val = (take(x, held), y[held])
        x, y = take(x, keep), y[keep]
    return _finish(arrays, (x, y), val, test)


def _ordered(arrays: Arrays, validation_split: float, test_split: float):
    """Contiguous train / validation / test parts, in that order (no shuffling)."""
    x, y = arrays.x_train, arrays.y_train
    n = len(y)
    n_test = int(round(n * test_split))
    n_val = int(round((n - n_test) * validation_split))
    n_train = n - n_test - n_val
    if n_train < 1 or (test_split > 0 and n_test < 1) or (validation_split > 0 and n_val < 1):
        raise SpecError(Diagnostic(f"Cannot split {n} ordered steps into train/validation/test with "
                                   f"validation_split {validation_split} and test_split {test_split}.",
                                   ("data", "test_split")))
    cut = np.cumsum([n_train, n_val])
    train = (x[:cut[0]], y[:cut[0]])
    val = (x[cut[0]:cut[1]], y[cut[0]:cut[1]]) if n_val else None
    test = (x[cut[1]:], y[cut[1]:])
    return train, val, test


def _finish(arrays: Arrays, train, val, test) -> Splits:
    if arrays.prepare is None:
        return Splits(train, val, test, arrays.class_names, arrays.task, dict(arrays.info), arrays.ordered)
    prepared = arrays.prepare({"train": train, "val": val, "test": test})
    p = prepared.parts
    return Splits(p["train"], p["val"], p["test"], arrays.class_names, arrays.task,
                  {**arrays.info, **prepared.info}, arrays.ordered)


def kfold(splits: Splits, *, folds: int, seed: int, stratify: bool = True,
          shuffle: bool = True) -> Iterator[Splits]:
    """K-fold cross-validation over ``splits.train``: yield K :class:`Splits`, the i-th with
    ``val`` = the i-th part of ``splits.train`` and ``train`` = the other K - 1 parts; ``test``,
    ``info`` (the vocabulary a preparer built, ``one_hot``) and the class names are shared.

    The parts come from scikit-learn: ``StratifiedKFold`` for classification with ``stratify``
    (each part keeps the class proportions), else ``KFold``; with ``shuffle`` the samples are
    shuffled once with ``random_state=seed`` before cutting, without it the parts are contiguous.
    Every sample is validated exactly once. When stratification is impossible (a class with fewer
    than K samples) a ``UserWarning`` is issued and the parts are cut without it, as
    :func:`split_arrays` does.

    Raises:
        SpecError: at ``fit.cross_validation``: fewer than 2 folds, more folds than training
            samples, or ordered data (a series or text stream, where a fold would cut across time).
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    where = ("fit", "cross_validation", "folds")
    x, y = splits.train
    n = len(y)
    if splits.ordered:
        raise SpecError(Diagnostic("cross-validation folds need independent samples; these are windows of one "
                                   "ordered series or text stream", ("fit", "cross_validation")))
    if folds < 2 or folds > n:
        raise SpecError(Diagnostic(f"cannot cut {n} training samples into {folds} cross-validation folds; "
                                   f"expected 2 <= folds <= {n}", where))
    state = seed if shuffle else None  # KFold refuses a random_state without shuffling
    parts = None
    if stratify and splits.task == "classification" and np.ndim(y) == 1:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a class smaller than K: cut without stratifying
                parts = list(StratifiedKFold(folds, shuffle=shuffle, random_state=state).split(np.zeros(n), y))
        except (ValueError, UserWarning) as exc:
            warnings.warn(f"Could not stratify the {folds} cross-validation folds ({exc}); cutting them at "
                          "random instead.", stacklevel=2)
    if parts is None:
        parts = list(KFold(folds, shuffle=shuffle, random_state=state).split(np.zeros(n)))
    # Lazily, one fold at a time: the folds never hold K copies of the training split at once.
    return (replace(splits, train=(take(x, t), y[t]), val=(take(x, v), y[v])) for t, v in parts)
