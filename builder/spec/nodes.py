"""The expanded model graph's value types: :class:`InputSpec`, :class:`Node` and :class:`Topology`,
and the item-level keys of the ``model:`` section. Plain frozen data, no checks, no TensorFlow.

:func:`builder.spec.topology.expand` produces a :class:`Topology`; :mod:`builder.model.graph`
builds one Keras layer per :class:`Node`, in order; ``dlbuild check`` reports one row per node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Keys of a layer item beside its layer name (or inside its argument mapping).
ITEM_KEYS = ("name", "inputs", "repeat", "call")
#: Keys of a block definition under ``model.blocks``.
BLOCK_KEYS = ("params", "inputs", "layers", "output", "doc")
#: Keys of a model input under ``model.inputs``.
INPUT_KEYS = ("shape", "dtype", "sparse", "ragged")


@dataclass(frozen=True)
class InputSpec:
    """A model input: ``shape`` excludes the batch axis; ``None`` entries are variable."""

    name: str
    shape: tuple
    dtype: str
    path: tuple
    sparse: bool = False
    ragged: bool = False


@dataclass(frozen=True)
class Node:
    """One Keras layer of the expanded graph.

    Attributes:
        name: Unique Keras layer name.
        layer: Keras class name (``Conv2D``).
        args: Constructor kwargs; nested objects still in spec form.
        inputs: Names of the nodes or model inputs it is called on (in call order).
        call: Keyword arguments of the layer's ``call``.
        path: Spec path of the item that defined it (inside a block: the block's item).
        context: ``"in block 'residual' used at model.layers[3]"`` or ``""``.
    """

    name: str
    layer: str
    args: dict
    inputs: tuple
    call: dict
    path: tuple
    context: str = ""


@dataclass
class Topology:
    """The expanded model graph: inputs, nodes in call order, and output node names."""

    inputs: dict = field(default_factory=dict)
    nodes: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    output_paths: dict = field(default_factory=dict)
