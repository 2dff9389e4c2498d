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


def preflight(spec: "Spec") -> Splits:
    """Load and split ``spec``'s data and check it against the declared inputs and output.

    Returns:
        The :class:`~builder.data.splits.Splits` (``fit`` trains on them: the data is read once).

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
    problems = input_problems(spec, splits.train[0])
    outs = outputs(spec.topology, catalog())
    units = outs[0].units if len(outs) == 1 else None
    if units is not None:
        problems += check_labels(spec, [p[1] for p in (splits.train, splits.val, splits.test) if p is not None],
                                 units)
    if problems:
        raise SpecError(problems, spec.source)
    return splits


def sizes(splits: Splits) -> str:
    """``"data: 9,000 train / 1,000 validation / 2,000 test samples"``: the split a run trains on."""
    def n(part) -> int:
        if part is None:
            return 0
        y = part[1]
        return len(next(iter(y.values()))) if isinstance(y, dict) else len(y)

    return (f"data: {n(splits.train):,} train / {n(splits.val):,} validation / {n(splits.test):,} test samples")
