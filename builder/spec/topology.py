"""``model:`` section → a flat, checked graph of layer nodes (no TensorFlow).

Wiring (ARCHITECTURE.md §2): ``model.layers`` is a list; an item with no ``inputs`` takes the
previous item's output (a sequential stack); ``name:`` and ``inputs: [names…]`` wire graphs
(skips, branches, several inputs and outputs); ``outputs:`` names the model outputs (default: the
last item). Item-level keys may stand beside the layer name or inside its argument mapping::

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
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from builder.errors import Collector, did_you_mean, format_path
from builder.spec.items import check_args, lookup, parse_args, split_item
from builder.catalog.registry import Catalog, snake_case

ITEM_KEYS = ("name", "inputs", "repeat", "call")
BLOCK_KEYS = ("params", "inputs", "layers", "output", "doc")
INPUT_KEYS = ("shape", "dtype", "sparse", "ragged")
MAX_NODES = 20_000  # a guard against repeat counts that would never finish building
_PARAM = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")


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


class _Expander:
    def __init__(self, model: dict, catalog: Catalog, out: Collector):
        self.catalog, self.out = catalog, out
        self.blocks: dict = {}
        # Names of blocks whose definition was wrong (already reported): their uses add nothing.
        self.broken_blocks: set = set()
        self.topo = Topology()
        self.used_names: set = set()
        self.counters: dict = {}
        self.model = model
        # Set when an item made no node or an input name did not resolve: the graph is then
        # incomplete, and "not connected" reports would only echo the error already given.
        self.incomplete = False

    # -- naming --------------------------------------------------------------------------------
    def unique(self, base: str, path: tuple, explicit: bool) -> str:
        """A unique layer name; ``path`` locates an explicit ``name:`` value (for duplicates)."""
        if explicit:
            if base in self.used_names:
                self.out.error(f"name '{base}' is already used by another layer or input", path)
            self.used_names.add(base)
            return base
        while True:
            n = self.counters.get(base, 0)
            self.counters[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
            if name not in self.used_names:
                self.used_names.add(name)
                return name

    # -- sections ------------------------------------------------------------------------------
    def inputs(self, value: Any, path: tuple) -> None:
        if not isinstance(value, dict) or not value:
            self.out.error("'inputs' must map input names to shapes, e.g. "
                           "{image: {shape: [28, 28, 1]}}", path)
            return
        for name, spec in value.items():
            p = path + (name,)
            if isinstance(spec, list):
                spec = {"shape": spec}
            if not isinstance(spec, dict):
                self.out.error(f"input '{name}' needs a shape: {{shape: [...], dtype: float32}}", p)
                continue
            for k in spec:
                if k not in INPUT_KEYS:
                    self.out.error(f"unknown input option '{k}'" + did_you_mean(k, INPUT_KEYS), p + (k,), at="key")
            shape = spec.get("shape")
            if not isinstance(shape, list) or not all(
                    d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in shape):
                self.out.error(f"input '{name}': 'shape' must be a list of positive integers or null "
                               f"(the batch axis excluded); received: {shape!r}", p + ("shape",) if "shape" in spec else p)
                continue
            dtype = spec.get("dtype", "float32")
            if dtype not in ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
                             "uint8", "bool", "string"):
                self.out.error(f"input '{name}': unknown dtype {dtype!r}", p + ("dtype",))
            self.used_names.add(str(name))
            self.topo.inputs[str(name)] = InputSpec(str(name), tuple(shape), dtype, p,
                                                   bool(spec.get("sparse", False)), bool(spec.get("ragged", False)))

    def block_defs(self, value: Any, path: tuple) -> None:
        if not isinstance(value, dict):
            self.out.error("'blocks' must map block names to definitions", path)
            if isinstance(value, list):  # '- name' or '- name: {...}': remember the names
                for entry in value:
                    if isinstance(entry, str):
                        self.broken_blocks.add(entry)
                    elif isinstance(entry, dict):
                        self.broken_blocks.update(k for k in entry if isinstance(k, str))
            return
        for name, body in value.items():
            p = path + (name,)
            if not isinstance(body, dict) or not isinstance(body.get("layers"), list):
                self.out.error(f"block '{name}' needs 'layers: [...]'", p)
                self.broken_blocks.add(name)
                continue
            for k in body:
                if k not in BLOCK_KEYS:
                    self.out.error(f"unknown block option '{k}'" + did_you_mean(k, BLOCK_KEYS), p + (k,), at="key")
            if self.catalog.lookup("layer", name) is not None:
                self.out.error(f"block name '{name}' hides the Keras layer "
                               f"{self.catalog.lookup('layer', name).name}; choose another name", p, at="key")
                continue  # its uses then name the Keras layer, as they would without the block
            params = body.get("params") or {}
            if not isinstance(params, dict):
                self.out.error("'params' must map parameter names to default values", p + ("params",))
                self.broken_blocks.add(name)
                continue
            ins = body.get("inputs", ["input"])
            if isinstance(ins, str):
                ins = [ins]
            if not isinstance(ins, list) or not ins or not all(isinstance(i, str) for i in ins):
                self.out.error("a block's 'inputs' is a list of names", p + ("inputs",))
                ins = ["input"]
            self.blocks[name] = {"params": params, "inputs": ins, "layers": body["layers"],
                                 "output": body.get("output"), "path": p}

    # -- items ---------------------------------------------------------------------------------
    def items(self, items: Any, path: tuple, env: dict, prev: str | None, prefix: str,
              params: dict | None, context: str, stack: tuple) -> str | None:
        """Expand a list of items; returns the last output name. ``env`` maps local → node names."""
        if not isinstance(items, list) or not items:
            self.out.error("'layers' must be a non-empty list of layer items", path)
            return prev
        for i, raw in enumerate(items):
            p = path + (i,)
            if params is not None:
                raw = self.substitute(raw, params, p)
            prev = self.item(raw, p, env, prev, prefix, params, context, stack)
            if len(self.topo.nodes) > MAX_NODES:
                self.out.error(f"the model expands to more than {MAX_NODES:,} layers; check 'repeat'", p)
                return prev
        return prev

    def substitute(self, value: Any, params: dict, path: tuple) -> Any:
        if isinstance(value, str):
            m = _PARAM.match(value)
            if m:
                if m.group(1) in params:
                    return params[m.group(1)]
                self.out.error(f"unknown block parameter '${m.group(1)}'" + did_you_mean(m.group(1), params), path)
            return value
        if isinstance(value, dict):
            return {k: self.substitute(v, params, path + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(v, params, path + (j,)) for j, v in enumerate(value)]
        return value

    def item(self, raw: Any, p: tuple, env: dict, prev: str | None, prefix: str, params: dict | None,
             context: str, stack: tuple) -> str | None:
        out = self.out
        split = split_item(raw, p, out, "layer", extra=ITEM_KEYS)
        if split is None:
            return prev
        lname, rawargs, extra = split
        lpath = p if isinstance(raw, str) else p + (lname,)
        # Item-level keys may also sit inside the argument mapping.
        if isinstance(rawargs, dict):
            for k in ITEM_KEYS:
                if k in rawargs:
                    if k in extra:
                        out.error(f"'{k}' is given twice (beside the layer and in its arguments)", lpath + (k,), at="key")
                    extra[k] = rawargs[k]
            rawargs = {k: v for k, v in rawargs.items() if k not in ITEM_KEYS}
        repeat = extra.get("repeat", 1)
        if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            out.error(f"'repeat' must be a positive integer; received: {repeat!r}", self._key_path(raw, lpath, "repeat"))
            repeat = 1
        explicit = extra.get("name")
        if explicit is not None and not isinstance(explicit, str):
            out.error(f"'name' must be a string; received: {explicit!r}", self._key_path(raw, lpath, "name"))
            explicit = None
        ins = self.resolve_inputs(extra.get("inputs"), env, prev, self._key_path(raw, lpath, "inputs"))
        call = extra.get("call") or {}
        if not isinstance(call, dict):
            out.error("'call' must map call() arguments to values, e.g. {use_causal_mask: true}",
                      self._key_path(raw, lpath, "call"))
            call = {}
        last = prev
        name_path = self._key_path(raw, lpath, "name")
        if lname in self.broken_blocks and lname not in self.blocks:
            self.incomplete = True  # the block's definition was reported; its uses add nothing
            if explicit is not None:
                env[explicit] = prev
            return prev
        for r in range(repeat):
            local = explicit if repeat == 1 or explicit is None else f"{explicit}_{r + 1}"
            if lname in self.blocks:
                last = self.block_use(lname, rawargs, p, lpath, ins, local, prefix, context, stack,
                                      name_path)
            else:
                last = self.layer(lname, rawargs, p, lpath, ins, call, local, prefix, context,
                                  report=(r == 0), name_path=name_path)
            if last is None:
                # Keep later references to this item's name from failing too (one error, not two).
                self.incomplete = True
                if explicit is not None:
                    env[explicit] = prev
                return prev
            ins = (last,)
        if explicit is not None:
            env[explicit] = last
        env[-1] = last
        return last

    @staticmethod
    def _key_path(raw: Any, lpath: tuple, key: str) -> tuple:
        if isinstance(raw, dict) and key in raw:
            return lpath[:-1] + (key,)
        return lpath + (key,)

    def resolve_inputs(self, value: Any, env: dict, prev: str | None, path: tuple) -> tuple:
        if value is None:
            if prev is None:
                if len(self.topo.inputs) == 1:
                    return (next(iter(self.topo.inputs)),)
                self.out.error("this item has no 'inputs' and there is no previous item: name the "
                               f"model input it takes ({', '.join(self.topo.inputs)})", path[:-1])
                self.incomplete = True
                return ()
            return (prev,)
        names = value if isinstance(value, list) else [value]
        resolved = []
        for j, n in enumerate(names):
            if not isinstance(n, (str, int)) or isinstance(n, bool):
                self.incomplete = True
                self.out.error(f"'inputs' names earlier items or model inputs (or -1 for the previous "
                               f"item); received: {n!r}", path + ((j,) if isinstance(value, list) else ()))
            elif n in env:
                resolved.append(env[n])
            elif n == -1 and prev is not None:
                resolved.append(prev)
            else:
                known = [k for k in env if isinstance(k, str)]
                self.incomplete = True
                self.out.error(f"unknown input '{n}': inputs must name a model input or an earlier item"
                               + did_you_mean(n, known), path + ((j,) if isinstance(value, list) else ()))
        return tuple(resolved)

    def layer(self, lname: str, rawargs: Any, p: tuple, lpath: tuple, ins: tuple, call: dict,
              local: str | None, prefix: str, context: str, report: bool,
              name_path: tuple | None = None) -> str | None:
        sink = self.out if report else Collector()
        entry = lookup("layer", lname, lpath, self.catalog, sink,
                       at="key" if lpath != p else "value")
        if entry is None:
            return None
        parsed = parse_args(entry.display, entry.positional, rawargs, p, lname, sink, wiring=True)
        if parsed is None:
            return None
        args, _ = parsed
        check_args(entry, args, lpath, self.catalog, sink)
        base = local if local is not None else snake_case(entry.name)
        name = self.unique(prefix + base, name_path or lpath, explicit=local is not None)
        self.topo.nodes.append(Node(name, entry.name, args, ins, call, lpath, context))
        return name

    def block_use(self, bname: str, rawargs: Any, p: tuple, lpath: tuple, ins: tuple, local: str | None,
                  prefix: str, context: str, stack: tuple, name_path: tuple | None = None) -> str | None:
        block = self.blocks[bname]
        if bname in stack:
            self.out.error(f"block '{bname}' uses itself (through {' → '.join(stack)})", lpath)
            return None
        if rawargs is None:
            given = {}
        elif isinstance(rawargs, dict):
            given = dict(rawargs)
        elif block["params"]:
            given = {next(iter(block["params"])): rawargs}
        else:
            self.out.error(f"block '{bname}' has no parameters", lpath)
            given = {}
        for k in given:
            if k not in block["params"]:
                self.out.error(f"block '{bname}' has no parameter '{k}'" + did_you_mean(k, block["params"]),
                               lpath + (k,), at="key")
        params = {**block["params"], **{k: v for k, v in given.items() if k in block["params"]}}
        if len(ins) != len(block["inputs"]):
            self.out.error(f"block '{bname}' takes {len(block['inputs'])} input(s) "
                           f"({', '.join(block['inputs'])}); received {len(ins)}", lpath, at="key")
            return None
        base = local if local is not None else bname
        instance = self.unique(prefix + base, name_path or lpath, explicit=local is not None)
        env = dict(zip(block["inputs"], ins))
        ctx = f"in block '{bname}' used at {format_path(p)}"
        last = self.items(block["layers"], block["path"] + ("layers",), env, ins[0], instance + "_",
                          params, ctx, stack + (bname,))
        output = block["output"]
        if output is not None:
            if not isinstance(output, str) or output not in env:
                self.out.error(f"block output '{output}' is not an item of block '{bname}'"
                               + did_you_mean(output, [k for k in env if isinstance(k, str)]),
                               block["path"] + ("output",))
                return None
            return env[output]
        return last


def expand(model: dict, catalog: Catalog, out: Collector, path: tuple = ("model",)) -> Topology:
    """Expand and check ``model`` (plain values, search spaces already resolved).

    Checks (all reported to ``out``): inputs and their shapes, layer names (did-you-mean, denied
    layers), argument names and required arguments against Keras constructors, nested objects,
    block definitions and parameters, ``repeat``, wiring (unknown, duplicate names), outputs, and
    layers not connected to any output.
    """
    x = _Expander(model, catalog, out)
    if "inputs" not in model:
        out.error("'model' needs 'inputs', e.g. inputs: {image: {shape: [28, 28, 1]}}", path)
    else:
        x.inputs(model["inputs"], path + ("inputs",))
    if "blocks" in model:
        x.block_defs(model["blocks"], path + ("blocks",))
    env: dict = {n: n for n in x.topo.inputs}
    if "layers" not in model:
        out.error("'model' needs 'layers: [...]'", path)
        return x.topo
    if not x.topo.inputs:
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
