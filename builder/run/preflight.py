"""The spec's data against the spec itself, before TensorFlow is imported (about a second).

``dlbuild fit`` and ``tune`` used to find a wrong column, an input shape that does not match
or a label outside the output's classes only after ``import tensorflow`` and the model build
(10-20 s). Everything needed is TensorFlow-free: the data package reads and splits the
source (:func:`builder.data.load.load_splits`), the spec declares each input's shape and dtype
(``spec.topology.inputs``) and the output Dense's units (:func:`builder.spec.output_facts.outputs`).
The same checks run again on the built model (:func:`builder.run.trial.compile_model`), which
also covers what only the model knows (a regression output's shape, units given by a block
parameter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from builder.data.load import load_splits
from builder.data.splits import Splits
from builder.errors import SpecError
from builder.run.data_checks import input_problems
from builder.spec.consistency import check_labels
from builder.spec.output_facts import outputs

if TYPE_CHECKING:  # pragma: no cover
    from builder.spec.load import Spec


def data_facts(splits: Splits) -> dict:
    """What the data placeholders stand for (:mod:`builder.spec.placeholders`): ``classes`` (class
    names, else the largest label + 1 over every split), ``features`` (the training features' last
    axis), ``length`` (their second axis); for each one the data cannot give, ``why_<name>`` says why."""
    import numpy as np

    facts: dict = {}
    ys = [p[1] for p in (splits.train, splits.val, splits.test) if p is not None]
    if splits.task == "classification" and not any(isinstance(y, dict) for y in ys):
        labels = [np.asarray(y) for y in ys if np.size(y)]
        facts["classes"] = (len(splits.class_names) if splits.class_names
                            else 1 + max(int(y.max()) for y in labels) if labels else None)
    else:
        facts["why_classes"] = f"the data's task is {splits.task}" + (" with several targets" if ys and
                                                                      isinstance(ys[0], dict) else "")
    x = splits.train[0]
    if isinstance(x, dict):
        facts["why_features"] = facts["why_length"] = f"the data has several inputs ({', '.join(x)})"
        return facts
    a = x if isinstance(x, np.ndarray) else np.asarray(x, dtype=object)
    if a.dtype == object or a.dtype.kind in "USO":
        facts["why_features"] = facts["why_length"] = ("its samples are texts or variable-length sequences "
                                                       "(pad them with data.sequence or data.tokenize)")
    elif a.ndim < 2:
        facts["why_features"] = facts["why_length"] = "each sample is a single number"
    else:
        facts["features"], facts["length"] = int(a.shape[-1]), int(a.shape[1])
    return facts


def bind_data(spec: "Spec", splits: Splits) -> "Spec":
    """``spec`` with its data placeholders bound to ``splits`` (``spec`` itself when it has none).

    Raises:
        SpecError: a placeholder the data cannot give, or what the bound spec gets wrong (located).
    """
    from builder.spec.load import bind_placeholders

    return bind_placeholders(spec, data_facts(splits))


def preflight(spec: "Spec") -> tuple["Spec", Splits]:
    """Load and split ``spec``'s data, bind its data placeholders, and check the data against the
    declared inputs and output.

    Returns:
        ``(spec, splits)``: the spec with its placeholders bound (:func:`bind_data`) and the
        :class:`~builder.data.splits.Splits` (``fit`` trains on them: the data is read once).

    Raises:
        SpecError: the data cannot be read, or does not fit the spec (input names, rank, shape,
            text vs numbers; class labels outside ``[0, units)`` of a one-output classifier),
            located at ``model.inputs`` or the output layer's ``units``.
    """
    from builder.catalog.registry import catalog

    try:
        splits = load_splits(spec)
    except SpecError as err:
        raise err.with_source(spec.source) from None
    spec = bind_data(spec, splits)
    problems = input_problems(spec, splits.train[0])
    outs = outputs(spec.topology, catalog())
    units = outs[0].units if len(outs) == 1 else None
    if units is not None:
        problems += check_labels(spec, [p[1] for p in (splits.train, splits.val, splits.test) if p is not None],
                                 units)
    if problems:
        raise SpecError(problems, spec.source)
    return spec, splits


def sizes(splits: Splits) -> str:
    """``"data: 9,000 train / 1,000 validation / 2,000 test samples"``: the split a run trains on,
    and with ``data.missing`` what it dropped or filled ("; missing values (drop): 12 samples
    dropped, 0 values filled")."""
    def n(part) -> int:
        if part is None:
            return 0
        y = part[1]
        return len(next(iter(y.values()))) if isinstance(y, dict) else len(y)

    text = f"data: {n(splits.train):,} train / {n(splits.val):,} validation / {n(splits.test):,} test samples"
    missing = splits.info.get("missing")
    if missing:  # data.missing (builder.data.missing): what was dropped or filled
        text += (f"; missing values ({missing['policy']}): {missing['samples_dropped']:,} samples dropped, "
                 f"{missing['values_filled']:,} values filled")
    return text
