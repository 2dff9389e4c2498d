"""What a checked spec says about each model output, the loss applied to it and the targets, read
without building anything: the facts the loss ↔ output ↔ target rules of
:mod:`builder.spec.consistency` judge.

Inputs: the expanded graph (:class:`~builder.spec.nodes.Topology`), the ``compile`` and ``data``
sections, the Keras catalog (for canonical names). Outputs: :class:`Output` per model output (its
Dense units, its final activation), :class:`Loss` per output (canonical snake_case name,
arguments, spec path), :class:`Targets` (class count or regression, from
:data:`builder.catalog.datasets.DATASETS` or ``data.task``). No TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builder.catalog.datasets import DATASETS
from builder.catalog.registry import snake_case

#: Layers that pass their input through unchanged in shape and meaning at inference.
TRANSPARENT = {"Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
               "Identity", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"}
PROBABILISTIC = {"softmax", "sigmoid", "log_softmax"}
#: Loss families by canonical name (Keras's snake_case of the class, or the function's name).
BINARY = {"binary_crossentropy", "binary_focal_crossentropy"}
SPARSE = {"sparse_categorical_crossentropy"}
CATEGORICAL = {"categorical_crossentropy", "categorical_focal_crossentropy"}


@dataclass(frozen=True)
class Output:
    """What is known about one model output.

    Attributes:
        name: The output's node name.
        units: The units of the Dense that produces it (None: not a Dense, or not a literal int).
        activation: The activation it ends in: the last standalone ``Activation``/``Softmax`` layer
            on the way back through layers that change nothing (Dropout…), else the Dense's own
            non-linear activation; None when unknown.
        path: Spec path of the layer item that produces it (the Dense, or where the walk stopped).
        judged: Whether the error rules rely on it: the walk ended at a Dense or found an
            activation layer. Other outputs (a Conv2D, a Flatten…) get only warnings.
        layer_activation: The own ``activation`` argument of a producing layer that is not a Dense.
        activation_path: Spec path of the item that applies :attr:`final_activation`.
    """

    name: str
    units: int | None
    activation: str | None
    path: tuple
    judged: bool = True
    layer_activation: str | None = None
    activation_path: tuple = ()

    @property
    def final_activation(self) -> str | None:
        """The activation the output applies last, whatever layer applies it."""
        return self.activation or self.layer_activation


@dataclass(frozen=True)
class Targets:
    """What is known about the targets: ``classes`` (None: unknown), ``regression``, whether the
    facts are ``known`` at all, and ``source`` (``dataset 'iris'``, ``data.task: regression``) for messages."""

    classes: int | None = None
    regression: bool = False
    known: bool = False
    source: str = ""


@dataclass(frozen=True)
class Loss:
    """The loss applied to one output.

    Attributes:
        name: Canonical lower-case snake_case name (``bce`` → ``binary_crossentropy``).
        spelled: The name as the spec writes it.
        args: Its argument mapping (empty for the bare-name and scalar forms).
        path: Spec path of the loss (``("compile", "loss")``, plus the output name per output).
        where: Spec path of its arguments (``path`` plus the item's name for the mapping form).
    """

    name: str
    spelled: str
    args: dict
    path: tuple
    where: tuple


def _activation_name(value: Any, catalog) -> str | None:
    if not isinstance(value, str):
        return None
    entry = catalog.lookup("activation", value) if catalog is not None else None
    return (entry.name if entry is not None else value).lower()


def outputs(topology, catalog) -> list[Output]:
    """One :class:`Output` per model output that is produced by a layer, in ``topology.outputs`` order."""
    nodes = {n.name: n for n in topology.nodes}
    found = []
    for out_name in topology.outputs:
        node = nodes.get(out_name)
        if node is None:  # a model input passed straight through
            continue
        activation, where, last_path = None, (), node.path
        # Walk back through layers that change nothing (Dropout) and standalone activations.
        while node is not None:
            last_path = node.path
            if node.layer in ("Activation",):
                if activation is None:
                    activation, where = _activation_name(node.args.get("activation"), catalog), node.path
            elif node.layer == "Softmax":
                if activation is None:
                    activation, where = "softmax", node.path
            elif node.layer not in TRANSPARENT:
                break
            node = nodes.get(node.inputs[0]) if len(node.inputs) == 1 else None
        if node is None:
            found.append(Output(out_name, None, activation, last_path, False, None, where))
        elif node.layer != "Dense":
            # Only Dense outputs have a unit count we can read without building the model.
            own = _activation_name(node.args.get("activation"), catalog)
            own = own if own not in (None, "linear") else None
            found.append(Output(out_name, None, activation, node.path, bool(activation), own,
                                where if activation else node.path))
        else:
            units = node.args.get("units")
            units = units if isinstance(units, int) and not isinstance(units, bool) else None
            own = _activation_name(node.args.get("activation"), catalog)
            act = activation or (own if own not in (None, "linear") else None)
            found.append(Output(out_name, units, act, node.path, True, None, where if activation else node.path))
    return found


def targets(data: dict) -> Targets:
    """The target facts of a ``data`` section: a bundled dataset's (when it has a task), or a
    CSV's ``data.task``; unknown for everything else (NPZ targets may be anything)."""
    if data.get("dataset") is not None:
        name = data["dataset"]
        facts = DATASETS.get(name)
        if facts is not None and facts.task is not None:
            return Targets(facts.classes, facts.task == "regression", True, f"dataset '{name}'")
        return Targets()
    if data.get("csv") is not None and data.get("task") in ("classification", "regression"):
        return Targets(None, data["task"] == "regression", True, f"data.task: {data['task']}")
    return Targets()


def loss_of(loss: Any, output: str, output_names: list, catalog) -> Loss | None:
    """The :class:`Loss` that ``compile.loss`` applies to ``output`` (one loss for every output, or
    ``{output_name: loss}`` for several), or None when it names no loss for it."""
    path = ("compile", "loss")
    if isinstance(loss, dict) and len(output_names) > 1 and loss and all(k in output_names for k in loss):
        if output not in loss:
            return None
        loss, path = loss[output], path + (output,)
    if isinstance(loss, str):
        name, args, suffix = loss, {}, ()
    elif isinstance(loss, dict) and len(loss) == 1:
        (name, args), = loss.items()
        args = args if isinstance(args, dict) else {}
        suffix = (name,)
    else:
        return None
    if not isinstance(name, str):
        return None
    entry = catalog.lookup("loss", name) if catalog is not None else None
    canonical = snake_case(entry.name) if entry is not None and entry.is_class else (entry.name if entry else name)
    return Loss(canonical.lower(), name, args, path, path + suffix)


def units_path(topology, out: Output) -> tuple:
    """Spec path of the ``units`` argument of the Dense producing ``out`` (else of its item)."""
    node = next((n for n in topology.nodes if n.path == out.path), None)
    if node is not None and "units" in node.args:
        return out.path + ("units",)
    return out.path
