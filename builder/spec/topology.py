"""``model:`` section → a flat, checked graph of layer nodes (no TensorFlow).

Wiring (docs/architecture.md, "Spec language"): ``model.layers`` is a list; an item with no
``inputs`` takes the previous item's output (a sequential stack); ``name:`` and ``inputs:
[names…]`` wire graphs (skips, branches, several inputs and outputs); ``outputs:`` names the model
outputs (default: the last item). Item-level keys may stand beside the layer name or inside its
argument mapping::

    - conv2d: {filters: 64, kernel_size: 3, name: c1}
    - add: {inputs: [c1, shortcut]}
    - multi_head_attention: {num_heads: 4, key_dim: 32}
      inputs: [x, x]                  # query, value
      call: {use_causal_mask: true}   # keyword arguments of the layer's call()

Blocks are named, parameterised sub-graphs used like layers; ``repeat: N`` stacks any item::

    blocks:
      residual:
        params: {filters: 64}         # parameters and their defaults; use them as "$filters"
        inputs: [x]                   # the block's own input names (default: [input])
        layers:
          - conv2d: {filters: $filters, kernel_size: 3, padding: same, activation: relu}
          - conv2d: {filters: $filters, kernel_size: 3, padding: same}
          - add: {inputs: [x, -1]}    # -1: the previous item's output
        output: null                  # which item is the block's output (default: the last)
    layers:
      - residual: {filters: 32, repeat: 3}

Inside a block, names are local: each use gets its own layers, named ``<use>_<name>``.

Inputs: the resolved ``model`` section (plain values) and the Keras catalog. Output: a
:class:`~builder.spec.nodes.Topology` (inputs, nodes in call order, outputs); every problem goes to
a :class:`~builder.errors.Collector`. The pieces: :mod:`builder.spec.nodes` (the value types),
:mod:`builder.spec.declarations` (inputs and block definitions), :mod:`builder.spec.expander`
(items → nodes); this module runs them and checks that every layer reaches an output.
"""

from __future__ import annotations

from builder.catalog.registry import Catalog
from builder.errors import Collector, did_you_mean
from builder.spec.declarations import declare_blocks, declare_inputs
from builder.spec.expander import Expander
from builder.spec.layer_count import check_layer_count
from builder.spec.nodes import BLOCK_KEYS, INPUT_KEYS, ITEM_KEYS, InputSpec, Node, Topology

__all__ = ["expand", "Topology", "Node", "InputSpec", "ITEM_KEYS", "BLOCK_KEYS", "INPUT_KEYS"]


def expand(model: dict, catalog: Catalog, out: Collector, path: tuple = ("model",)) -> Topology:
    """Expand and check ``model`` (plain values, search spaces already resolved).

    Checks (all reported to ``out``): inputs and their shapes, layer names (did-you-mean, denied
    layers), argument names and required arguments against Keras constructors, nested objects,
    block definitions and parameters, ``repeat``, wiring (unknown, duplicate names), outputs, and
    layers not connected to any output.
    """
    x = Expander(catalog, out)
    if "inputs" not in model:
        out.error("'model' needs 'inputs', e.g. inputs: {image: {shape: [28, 28, 1]}}", path)
    else:
        x.topo.inputs = declare_inputs(model["inputs"], path + ("inputs",), out)
        x.used_names.update(x.topo.inputs)
    if "blocks" in model:
        x.blocks, x.broken_blocks = declare_blocks(model["blocks"], path + ("blocks",), catalog, out)
    env: dict = {n: n for n in x.topo.inputs}
    if "layers" not in model:
        out.error("'model' needs 'layers: [...]'", path)
        return x.topo
    if not x.topo.inputs or not check_layer_count(model["layers"], x.blocks, path + ("layers",), out):
        return x.topo
    last = x.items(model["layers"], path + ("layers",), env, None, "", None, "", ())
    outs = model.get("outputs")
    if outs is None:
        x.topo.outputs = [last] if last else []
    else:
        names = outs if isinstance(outs, list) else [outs]
        for j, n in enumerate(names):
            p = path + ("outputs",) + ((j,) if isinstance(outs, list) else ())
            if isinstance(n, str) and n in env:
                x.topo.outputs.append(env[n])
                x.topo.output_paths[env[n]] = p
            else:
                x.incomplete = True
                out.error(f"unknown output '{n}'" + did_you_mean(n, [k for k in env if isinstance(k, str)]), p)
    if not x.incomplete:
        _check_connected(x.topo, out)
    return x.topo


def _check_connected(topo: Topology, out: Collector) -> None:
    """Report layers whose output reaches no model output (a forgotten ``inputs:`` wiring)."""
    needed = set(topo.outputs)
    for node in reversed(topo.nodes):
        if node.name in needed:
            needed.update(node.inputs)
    for node in topo.nodes:
        if node.name not in needed:
            out.error(f"layer '{node.name}' is not connected to any model output; wire it with "
                      "'inputs:' or list it in 'outputs'" + (f" ({node.context})" if node.context else ""),
                      node.path, at="key")
    for name, spec in topo.inputs.items():
        if name not in needed and topo.outputs:
            out.error(f"model input '{name}' is not used by any layer", spec.path, at="key")
