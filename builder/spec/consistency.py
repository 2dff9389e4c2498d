"""Loss ↔ output ↔ target consistency, checked without TensorFlow.

Keras accepts every combination below and then trains a model that cannot learn (a softmax fed to
a loss that applies softmax again), or fails in the middle of the first epoch with a message about
tensor shapes (a sparse loss on a one-unit output). Each rule here reads only the expanded graph
(:class:`builder.spec.topology.Topology`), the ``compile`` section and the ``data`` section, and
reports at the spec path the user has to change:

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

Target facts come from :data:`builder.catalog.datasets.DATASETS` (bundled datasets; ``tests/spec/test_consistency.py`` checks the
table against the data itself) or from ``data.task`` for CSV files. NPZ targets may be anything,
so only the rules that need no target facts (1 and 3's one-unit case) apply to them.

No TensorFlow import here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builder.catalog.datasets import DATASETS
from builder.errors import Diagnostic


#: Layers that pass their input through unchanged in shape and meaning at inference.
_TRANSPARENT = {"Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
                "Identity", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"}
_PROBABILISTIC = {"softmax", "sigmoid", "log_softmax"}
_BINARY = {"binary_crossentropy", "binary_focal_crossentropy"}
_SPARSE = {"sparse_categorical_crossentropy"}
_CATEGORICAL = {"categorical_crossentropy", "categorical_focal_crossentropy"}


@dataclass(frozen=True)
class _Output:
    """What is known about one model output: its name, units and final activation."""

    name: str
    units: int | None
    activation: str | None
    path: tuple  # spec path of the layer item that produces it


@dataclass(frozen=True)
class _Targets:
    """What is known about the targets: ``classes`` (None: unknown), ``regression``."""

    classes: int | None = None
    regression: bool = False
    known: bool = False
    source: str = ""


def _snake(name: str) -> str:
    import re

    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def _activation_name(value: Any, catalog) -> str | None:
    if not isinstance(value, str):
        return None
    entry = catalog.lookup("activation", value) if catalog is not None else None
    return (entry.name if entry is not None else value).lower()


def _outputs(topology, catalog) -> list[_Output]:
    nodes = {n.name: n for n in topology.nodes}
    found = []
    for out_name in topology.outputs:
        node = nodes.get(out_name)
        activation = None
        # Walk back through layers that change nothing (Dropout) and standalone activations.
        while node is not None:
            if node.layer in ("Activation",):
                activation = activation or _activation_name(node.args.get("activation"), catalog)
            elif node.layer == "Softmax":
                activation = activation or "softmax"
            elif node.layer not in _TRANSPARENT:
                break
            node = nodes.get(node.inputs[0]) if len(node.inputs) == 1 else None
        if node is None:
            continue
        if node.layer != "Dense":
            # Only Dense outputs have a unit count we can read without building the model.
            if activation:
                found.append(_Output(out_name, None, activation, node.path))
            continue
        units = node.args.get("units")
        units = units if isinstance(units, int) and not isinstance(units, bool) else None
        own = _activation_name(node.args.get("activation"), catalog)
        act = activation or (own if own not in (None, "linear") else None)
        found.append(_Output(out_name, units, act, node.path))
    return found


def _targets(data: dict) -> _Targets:
    if data.get("dataset") is not None:
        name = data["dataset"]
        facts = DATASETS.get(name)
        if facts is not None and facts.task is not None:
            return _Targets(facts.classes, facts.task == "regression", True, f"dataset '{name}'")
        return _Targets()
    if data.get("csv") is not None and data.get("task") in ("classification", "regression"):
        return _Targets(None, data["task"] == "regression", True, f"data.task: {data['task']}")
    return _Targets()


def _loss_for(loss: Any, output: str, n_outputs: int) -> tuple[Any, tuple]:
    """The loss item applying to ``output`` and its spec path (a per-output mapping or one loss)."""
    if isinstance(loss, dict) and n_outputs > 1 and output in loss:
        return loss[output], ("compile", "loss", output)
    return loss, ("compile", "loss")


def _loss_parts(item: Any, catalog) -> tuple[str | None, dict, tuple]:
    """``(canonical snake_case name, args, path suffix to the args)`` of a loss item."""
    if isinstance(item, str):
        name, args, suffix = item, {}, ()
    elif isinstance(item, dict) and len(item) == 1:
        (name, args), = item.items()
        args = args if isinstance(args, dict) else {}
        suffix = (name,)
    else:
        return None, {}, ()
    if not isinstance(name, str):
        return None, {}, ()
    entry = catalog.lookup("loss", name) if catalog is not None else None
    canonical = _snake(entry.name) if entry is not None and entry.is_class else (entry.name if entry else name)
    return canonical.lower(), args, suffix


def check(spec) -> list[Diagnostic]:
    """Every loss/output/target mismatch of a checked :class:`builder.spec.load.Spec`."""
    return check_parts(spec.topology, spec.compile, spec.data)


def check_parts(topology, compile_section: dict, data: dict, catalog=None) -> list[Diagnostic]:
    """Like :func:`check`, from the parts :func:`builder.spec.load.check_values` has at hand.

    Returns diagnostics with spec paths (located by :class:`builder.spec.source.Source` when reported).
    """
    if catalog is None:
        from builder.catalog.registry import catalog as load_catalog

        catalog = load_catalog()
    problems: list[Diagnostic] = []
    outputs = _outputs(topology, catalog)
    targets = _targets(data) if len(topology.outputs) == 1 else _Targets()
    one_hot = data.get("one_hot") is True
    if one_hot and targets.regression:
        problems.append(Diagnostic(
            f"'one_hot' encodes class indices, but the targets of {targets.source} are real numbers "
            "(regression)", ("data", "one_hot")))
    for out in outputs:
        item, loss_path = _loss_for(compile_section.get("loss"), out.name, len(topology.outputs))
        name, args, suffix = _loss_parts(item, catalog)
        if name is None:
            continue
        where = loss_path + suffix
        units = f"{out.units} unit{'s' if out.units != 1 else ''}" if out.units is not None else None
        probabilistic = name in _BINARY | _SPARSE | _CATEGORICAL
        if probabilistic and args.get("from_logits") is True and out.activation in _PROBABILISTIC:
            problems.append(Diagnostic(
                f"from_logits: true tells the loss that output '{out.name}' gives raw scores, but it "
                f"ends in a {out.activation} activation, so {out.activation} would be applied twice; "
                f"remove the activation from the last layer or set from_logits: false",
                where + ("from_logits",)))
        if name in _BINARY and out.units is not None and out.units > 1 and (
                (targets.known and targets.classes is not None and targets.classes > 2)
                or out.activation == "softmax"):
            what = f"{targets.classes} classes" if targets.classes else "a softmax over classes"
            problems.append(Diagnostic(
                f"{name} treats each of the {units} of output '{out.name}' as a separate yes/no "
                f"target, but the targets are class indices ({what}); use sparse_categorical_crossentropy",
                loss_path))
        if name in _SPARSE and one_hot and not targets.regression:
            problems.append(Diagnostic(
                f"{name} expects class indices, but data.one_hot: true makes one-hot targets; use "
                + name.replace("sparse_", "") + " (or remove one_hot)", loss_path))
        elif name in _SPARSE:
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
        if name in _CATEGORICAL and targets.known and not (one_hot and not targets.regression):
            problems.append(Diagnostic(
                f"{name} expects one-hot targets, but the targets of {targets.source} are "
                + ("real numbers (regression); use mse or mae" if targets.regression else
                   "integer class labels; use sparse_" + name), loss_path))
        if (targets.classes and out.units is not None and out.activation == "softmax"
                and name in _SPARSE | _CATEGORICAL and out.units < targets.classes):
            problems.append(Diagnostic(
                f"output '{out.name}' has {units} but {targets.source} has {targets.classes} classes; "
                f"give the last layer units: {targets.classes}", _units_path(topology, out)))
    return problems


def _units_path(topology, out: _Output) -> tuple:
    node = next((n for n in topology.nodes if n.path == out.path), None)
    if node is not None and "units" in node.args:
        return out.path + ("units",)
    return out.path


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
    if catalog is None:
        from builder.catalog.registry import catalog as load_catalog

        catalog = load_catalog()
    item, loss_path = _loss_for(spec.compile.get("loss"), spec.topology.outputs[0], 1)
    name, _, _ = _loss_parts(item, catalog)
    ys = [np.asarray(y) for y in targets if y is not None and np.size(y)]
    if name not in _SPARSE or not ys or any(y.dtype.kind not in "iu" for y in ys):
        return []
    low, high = min(int(y.min()) for y in ys), max(int(y.max()) for y in ys)
    if low >= 0 and high < output_units:
        return []
    outputs = _outputs(spec.topology, catalog)
    where = _units_path(spec.topology, outputs[0]) if outputs and outputs[0].units is not None else loss_path
    if low < 0:
        return [Diagnostic(f"{name} needs class indices 0, 1, …, but the data has label {low}", loss_path)]
    return [Diagnostic(
        f"output '{spec.topology.outputs[0]}' has {output_units} unit{'s' if output_units != 1 else ''}, but the "
        f"data's labels go up to {high} ({high + 1} classes); give the last layer units: {high + 1}", where)]
