"""Layer items of ``model.layers`` (and of block bodies) → graph nodes: naming, ``repeat``, block
uses with their parameters substituted, and the ``inputs:`` wiring of each item.

Inputs: the resolved ``model`` section's items, the declared inputs and blocks
(:mod:`builder.spec.declarations`), the Keras catalog. Output: :class:`~builder.spec.nodes.Node`
values appended to a :class:`~builder.spec.nodes.Topology` in call order, every problem reported to a
:class:`~builder.errors.Collector`. :func:`builder.spec.topology.expand` drives it. No TensorFlow.
"""

from __future__ import annotations

import re
from typing import Any

from builder.catalog.registry import Catalog, snake_case
from builder.errors import Collector, did_you_mean, format_path
from builder.spec.layer_count import max_layers
from builder.spec.placeholders import placeholder
from builder.spec.items import check_args, lookup, parse_args, split_item
from builder.spec.nodes import ITEM_KEYS, Node, Topology

_PARAM = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")


class Expander:
    """Expands layer items into :class:`~builder.spec.nodes.Node` values in call order (see
    :mod:`builder.spec.topology` for the wiring rules); collects the graph in ``topo`` and every
    problem in ``out``. ``blocks`` / ``broken_blocks`` come from
    :func:`builder.spec.declarations.declare_blocks`; ``topo.inputs`` from ``declare_inputs``.
    """

    def __init__(self, catalog: Catalog, out: Collector):
        self.catalog, self.out = catalog, out
        self.blocks: dict = {}
        # Names of blocks whose definition was wrong (already reported): their uses add nothing.
        self.broken_blocks: set = set()
        self.topo = Topology()
        self.used_names: set = set()
        self.counters: dict = {}
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
            if len(self.topo.nodes) > max_layers():  # counted before expanding; a second guard
                self.out.error(f"the model expands to more than {max_layers():,} layers; check 'repeat'", p)
                return prev
        return prev

    def substitute(self, value: Any, params: dict, path: tuple) -> Any:
        if isinstance(value, str):
            m = _PARAM.match(value)
            if m:
                if m.group(1) in params:
                    return params[m.group(1)]
                if placeholder(value):  # a data placeholder: bound from the data before the build
                    return value
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
            if len(self.topo.nodes) > max_layers():  # reported by items(); more repeats add nothing
                break
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
