"""``model.inputs`` and ``model.blocks`` → checked declarations: :class:`~builder.spec.nodes.InputSpec`
per input, and the block definitions (parameters with defaults, input names, layer items) that
:mod:`builder.spec.expander` expands at each use. Problems go to a :class:`~builder.errors.Collector`
at their spec paths. No TensorFlow.
"""

from __future__ import annotations

from typing import Any

from builder.catalog.registry import Catalog
from builder.spec.placeholders import placeholder
from builder.errors import Collector, did_you_mean
from builder.spec.nodes import BLOCK_KEYS, INPUT_KEYS, InputSpec


def declare_inputs(value: Any, path: tuple, out: Collector) -> dict[str, InputSpec]:
    """``model.inputs`` → ``{name: InputSpec}``; shapes exclude the batch axis (positive ints or
    null for a variable axis), dtypes are Keras's. Problems go to ``out``; a bad input is left out."""
    inputs: dict[str, InputSpec] = {}
    if not isinstance(value, dict) or not value:
        out.error("'inputs' must map input names to shapes, e.g. "
                  "{image: {shape: [28, 28, 1]}}", path)
        return inputs
    for name, spec in value.items():
        p = path + (name,)
        if isinstance(spec, list):
            spec = {"shape": spec}
        if not isinstance(spec, dict):
            out.error(f"input '{name}' needs a shape: {{shape: [...], dtype: float32}}", p)
            continue
        for k in spec:
            if k not in INPUT_KEYS:
                out.error(f"unknown input option '{k}'" + did_you_mean(k, INPUT_KEYS), p + (k,), at="key")
        shape = spec.get("shape")
        if isinstance(shape, list):  # a data placeholder ($features, $length) is unknown until the data is read
            shape = [None if placeholder(d) else d for d in shape]
        if not isinstance(shape, list) or not all(
                d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in shape):
            out.error(f"input '{name}': 'shape' must be a list of positive integers or null "
                          f"(the batch axis excluded); received: {shape!r}", p + ("shape",) if "shape" in spec else p)
            continue
        dtype = spec.get("dtype", "float32")
        if dtype not in ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
                         "uint8", "bool", "string"):
            out.error(f"input '{name}': unknown dtype {dtype!r}", p + ("dtype",))
        inputs[str(name)] = InputSpec(str(name), tuple(shape), dtype, p,
                                      bool(spec.get("sparse", False)), bool(spec.get("ragged", False)))
    return inputs


def declare_blocks(value: Any, path: tuple, catalog: Catalog, out: Collector) -> tuple[dict, set]:
    """``model.blocks`` → ``(blocks, broken)``: ``{name: {params, inputs, layers, output, path}}``
    for each usable definition, and the names of definitions that were wrong (already reported
    to ``out``), whose uses then add nothing rather than a second error."""
    blocks: dict = {}
    broken: set = set()
    if not isinstance(value, dict):
        out.error("'blocks' must map block names to definitions", path)
        if isinstance(value, list):  # '- name' or '- name: {...}': remember the names
            for entry in value:
                if isinstance(entry, str):
                    broken.add(entry)
                elif isinstance(entry, dict):
                    broken.update(k for k in entry if isinstance(k, str))
        return blocks, broken
    for name, body in value.items():
        p = path + (name,)
        if not isinstance(body, dict) or not isinstance(body.get("layers"), list):
            out.error(f"block '{name}' needs 'layers: [...]'", p)
            broken.add(name)
            continue
        for k in body:
            if k not in BLOCK_KEYS:
                out.error(f"unknown block option '{k}'" + did_you_mean(k, BLOCK_KEYS), p + (k,), at="key")
        if catalog.lookup("layer", name) is not None:
            out.error(f"block name '{name}' hides the Keras layer "
                      f"{catalog.lookup('layer', name).name}; choose another name", p, at="key")
            continue  # its uses then name the Keras layer, as they would without the block
        params = body.get("params") or {}
        if not isinstance(params, dict):
            out.error("'params' must map parameter names to default values", p + ("params",))
            broken.add(name)
            continue
        ins = body.get("inputs", ["input"])
        if isinstance(ins, str):
            ins = [ins]
        if not isinstance(ins, list) or not ins or not all(isinstance(i, str) for i in ins):
            out.error("a block's 'inputs' is a list of names", p + ("inputs",))
            ins = ["input"]
        blocks[name] = {"params": params, "inputs": ins, "layers": body["layers"],
                       "output": body.get("output"), "path": p}
    return blocks, broken
