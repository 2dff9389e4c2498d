"""Loss ↔ output ↔ target consistency, checked without TensorFlow: the one static analyzer of it.

Keras accepts every combination below and then trains a model that cannot learn (a softmax fed to
a loss that applies softmax again), or fails in the middle of the first epoch with a message about
tensor shapes (a sparse loss on a one-unit output). Each rule here reads only the facts
:mod:`builder.spec.output_facts` takes from the expanded graph, the ``compile`` section and the
``data`` section, and reports at the spec path the user has to change. Errors
(:func:`check_parts`, run by ``load_spec``):

1. ``from_logits: true`` on a probabilistic loss whose output already ends in ``softmax`` or
   ``sigmoid`` (Keras's own warning, ``keras/src/backend/tensorflow/nn.py``, only logs it).
2. A binary loss (``binary_crossentropy``, ``binary_focal_crossentropy``) on an output with more
   than one unit while the targets are class indices of more than two classes.
3. A sparse categorical loss on a one-unit output (it needs one unit per class), or on
   regression targets.
4. ``categorical_crossentropy`` (one-hot targets) with class-index targets: dlbuild's bundled
   datasets and CSV classification targets are integer class indices, one-hot only with
   ``data.one_hot: true``.
5. A softmax classifier with fewer units than the dataset has classes.
6. ``data.one_hot: true`` with a sparse loss (which wants class indices), or with regression
   targets (nothing to encode).

Warnings (:func:`likely_mistakes`, shown by ``dlbuild check``), for what may be meant:

7. ``from_logits: true`` on an output whose own layer applies softmax or sigmoid (a Conv2D with
   ``activation: sigmoid``: rule 1 reads only Dense layers and standalone activation layers).
8. A sigmoid output with a categorical loss.
9. A softmax output with binary cross-entropy (a one-unit softmax is always 1).
10. A final Dense whose units differ from the dataset's classes (rule 5 covers a softmax with too few).

And once the data is loaded, :func:`check_labels`: class-index labels within the output's units.

Target facts come from :data:`builder.catalog.datasets.DATASETS` (bundled datasets;
``tests/spec/test_consistency.py`` checks the table against the data itself) or from
``data.task`` for CSV files. NPZ targets may be anything, so only the rules that need no target
facts (1 and 3's one-unit case) apply to them.
"""

from __future__ import annotations

from builder.catalog.registry import catalog as load_catalog, normalize
from builder.errors import Diagnostic
from builder.spec import output_facts as facts
from builder.spec.output_facts import BINARY, CATEGORICAL, PROBABILISTIC, SPARSE


def check(spec) -> list[Diagnostic]:
    """Every loss/output/target mismatch of a checked :class:`builder.spec.load.Spec`."""
    return check_parts(spec.topology, spec.compile, spec.data)


def check_parts(topology, compile_section: dict, data: dict, catalog=None) -> list[Diagnostic]:
    """Like :func:`check`, from the parts :func:`builder.spec.load.check_values` has at hand.

    Returns diagnostics with spec paths (located by :class:`builder.spec.source.Source` when reported).
    """
    catalog = catalog if catalog is not None else load_catalog()
    problems: list[Diagnostic] = []
    targets = facts.targets(data) if len(topology.outputs) == 1 else facts.Targets()
    one_hot = data.get("one_hot") is True
    if one_hot and targets.regression:
        problems.append(Diagnostic(
            f"'one_hot' encodes class indices, but the targets of {targets.source} are real numbers "
            "(regression)", ("data", "one_hot")))
    for out in facts.outputs(topology, catalog):
        loss = facts.loss_of(compile_section.get("loss"), out.name, topology.outputs, catalog)
        if loss is None or not out.judged:
            continue
        name, args, loss_path, where = loss.name, loss.args, loss.path, loss.where
        units = f"{out.units} unit{'s' if out.units != 1 else ''}" if out.units is not None else None
        probabilistic = name in BINARY | SPARSE | CATEGORICAL
        if probabilistic and args.get("from_logits") is True and out.activation in PROBABILISTIC:
            problems.append(Diagnostic(
                f"from_logits: true tells the loss that output '{out.name}' gives raw scores, but it "
                f"ends in a {out.activation} activation, so {out.activation} would be applied twice; "
                f"remove the activation from the last layer or set from_logits: false",
                where + ("from_logits",)))
        if name in BINARY and out.units is not None and out.units > 1 and (
                (targets.known and targets.classes is not None and targets.classes > 2)
                or out.activation == "softmax"):
            what = f"{targets.classes} classes" if targets.classes else "a softmax over classes"
            problems.append(Diagnostic(
                f"{name} treats each of the {units} of output '{out.name}' as a separate yes/no "
                f"target, but the targets are class indices ({what}); use sparse_categorical_crossentropy",
                loss_path))
        if name in SPARSE and one_hot and not targets.regression:
            problems.append(Diagnostic(
                f"{name} expects class indices, but data.one_hot: true makes one-hot targets; use "
                + name.replace("sparse_", "") + " (or remove one_hot)", loss_path))
        elif name in SPARSE:
            if out.units == 1:
                problems.append(Diagnostic(
                    f"{name} needs one output unit per class, but output '{out.name}' has 1 unit"
                    + ("; for regression targets use mse or mae" if targets.regression else
                       "; for two classes use binary_crossentropy with a sigmoid unit, or give the "
                       "last layer one unit per class"), loss_path))
            elif targets.regression:
                problems.append(Diagnostic(
                    f"{name} needs integer class labels, but the targets of {targets.source} are "
                    "real numbers (regression); use mse or mae with a linear output", loss_path))
        if name in CATEGORICAL and targets.known and not (one_hot and not targets.regression):
            problems.append(Diagnostic(
                f"{name} expects one-hot targets, but the targets of {targets.source} are "
                + ("real numbers (regression); use mse or mae" if targets.regression else
                   "integer class labels; use sparse_" + name), loss_path))
        if (targets.classes and out.units is not None and out.activation == "softmax"
                and name in SPARSE | CATEGORICAL and out.units < targets.classes):
            problems.append(Diagnostic(
                f"output '{out.name}' has {units} but {targets.source} has {targets.classes} classes; "
                f"give the last layer units: {targets.classes}", facts.units_path(topology, out)))
    return problems

def likely_mistakes(spec, catalog=None) -> list[Diagnostic]:
    """Loss ↔ output ↔ target combinations of a checked :class:`builder.spec.load.Spec` that are
    probably wrong but not certainly (``dlbuild check`` shows them as warnings, rules 7-10 above),
    in output order. Each diagnostic's path is where to look: the loss's ``from_logits``, the
    layer applying the activation, or the final Dense.
    """
    catalog = catalog if catalog is not None else load_catalog()
    found: list[Diagnostic] = []
    topology = spec.topology
    outputs = facts.outputs(topology, catalog)
    for out in outputs:
        loss = facts.loss_of(spec.compile.get("loss"), out.name, topology.outputs, catalog)
        if loss is None:
            continue
        act = out.final_activation
        if act in ("softmax", "sigmoid") and loss.args.get("from_logits") is True:
            found.append(Diagnostic(
                f"output '{out.name}' already applies {act}, but the loss has from_logits: true, so "
                f"{act} is applied twice; remove the activation or set from_logits: false",
                loss.where + ("from_logits",)))
        spelled = normalize(loss.spelled)
        if act == "sigmoid" and "categorical" in loss.name:
            found.append(Diagnostic(
                f"output '{out.name}' uses sigmoid with a categorical loss ({spelled}); for one class per "
                "sample use softmax, for independent labels use binary_crossentropy", out.activation_path))
        if act == "softmax" and loss.name in BINARY:
            found.append(Diagnostic(
                f"output '{out.name}' uses softmax with binary cross-entropy; use sigmoid for "
                "independent labels or a categorical loss for one class per sample", out.activation_path))
    # The final Dense's units against the dataset's classes (single-output classifiers only).
    targets = facts.targets(spec.data) if len(topology.outputs) == 1 else facts.Targets()
    k = targets.classes if spec.data.get("task") != "regression" else None
    if k is not None and outputs and outputs[0].units is not None:
        units = outputs[0].units
        if units != k and not (k == 2 and units == 1):
            found.append(Diagnostic(
                f"the final Dense has {units} units but dataset '{spec.data.get('dataset')}' has "
                f"{k} classes; use units: {k}" + (" (or 1 with sigmoid)" if k == 2 else ""), outputs[0].path))
    return found


def check_labels(spec, targets: list, output_units: int | None, catalog=None) -> list[Diagnostic]:
    """Class-index targets against the output once the data is loaded (the spec alone cannot
    know an NPZ or CSV file's classes): with a sparse categorical loss every label must lie in
    ``[0, units)``, else TensorFlow stops mid-epoch ("Received a label value of 8 which is
    outside the valid range of [0, 3)").

    Args:
        spec: The checked spec (one output).
        targets: The splits' target arrays, ``(n,)`` or ``(n, time)``; None entries are skipped.
        output_units: The model output's last dimension (classes), or None to skip.

    Returns:
        One diagnostic at the output layer's ``units`` when a label is out of range, else none.
    """
    import numpy as np

    if output_units is None or len(spec.topology.outputs) != 1:
        return []
    catalog = catalog if catalog is not None else load_catalog()
    output = spec.topology.outputs[0]
    loss = facts.loss_of(spec.compile.get("loss"), output, [output], catalog)
    name, loss_path = (loss.name, loss.path) if loss is not None else (None, ("compile", "loss"))
    ys = [np.asarray(y) for y in targets if y is not None and np.size(y)]
    if name not in SPARSE or not ys or any(y.dtype.kind not in "iu" for y in ys):
        return []
    low, high = min(int(y.min()) for y in ys), max(int(y.max()) for y in ys)
    if low >= 0 and high < output_units:
        return []
    outputs = facts.outputs(spec.topology, catalog)
    where = facts.units_path(spec.topology, outputs[0]) if outputs and outputs[0].units is not None else loss_path
    if low < 0:
        return [Diagnostic(f"{name} needs class indices 0, 1, …, but the data has label {low}", loss_path)]
    return [Diagnostic(
        f"output '{spec.topology.outputs[0]}' has {output_units} unit{'s' if output_units != 1 else ''}, but the "
        f"data's labels go up to {high} ({high + 1} classes); give the last layer units: {high + 1}", where)]
