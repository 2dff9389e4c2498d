"""How many layers a model section expands to, by arithmetic, before anything is expanded.

``repeat: 1000000000`` or blocks that repeat blocks (``c: {repeat: 1e8}`` over ``b: {repeat: 1e6}``
over ...) describe more layers than any machine can build; counting them one by one would never
finish. Here each item counts ``repeat × (1, or its block's count)``, each block body once per set of
parameters (memoised, so blocks that each use the previous one ten times do not take 10^k steps),
and :func:`builder.spec.topology.expand` refuses a model over the limit before expanding it.

The limit is ``DEFAULT_MAX_LAYERS`` (20,000: ResNet-152 has about 500 Keras layers, GPT-2 XL about
600) unless ``dlbuild --max-layers N`` (the ``DLBUILD_MAX_LAYERS`` environment variable, which the
CLI sets so that worker and export child processes inherit it) raises or lowers it. No TensorFlow.
"""

from __future__ import annotations

import os
import re
from typing import Any

from builder.errors import Collector
from builder.spec.items import split_item
from builder.spec.nodes import ITEM_KEYS

DEFAULT_MAX_LAYERS = 20_000
ENV_VAR = "DLBUILD_MAX_LAYERS"
_PARAM = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")


def max_layers() -> int:
    """The layer limit: ``$DLBUILD_MAX_LAYERS`` when it is a positive integer, else 20,000."""
    raw = os.environ.get(ENV_VAR, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_LAYERS


def _repeat(item: Any, params: dict) -> int:
    """An item's ``repeat`` (beside the name or among its arguments; ``$param`` substituted);
    1 when it is missing or not a positive integer (the expander reports those)."""
    split = split_item(item, (), Collector(), "layer", extra=ITEM_KEYS)
    if split is None:
        return 1
    _, raw, extra = split
    value = extra.get("repeat", raw.get("repeat", 1) if isinstance(raw, dict) else 1)
    if isinstance(value, str) and (m := _PARAM.match(value)):
        value = params.get(m.group(1), 1)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


class LayerCounter:
    """Counts the layers items expand to (exact for valid specs; a lower bound for broken ones).

    Args:
        blocks: ``{name: {"params": {...}, "layers": [...]}}`` as declared
            (:func:`builder.spec.declarations.declare_blocks`).
    """

    def __init__(self, blocks: dict):
        self.blocks = blocks
        self._memo: dict = {}

    def item(self, item: Any, params: dict | None = None, stack: tuple = ()) -> int:
        """Layers one item expands to: ``repeat`` × (1 for a layer, the block's count for a block)."""
        params = params or {}
        split = split_item(item, (), Collector(), "layer", extra=ITEM_KEYS)
        if split is None:
            return 0
        name, raw, _ = split
        each = 1
        if name in self.blocks and name not in stack:  # a block using itself is reported by the expander
            block = self.blocks[name]
            given = raw if isinstance(raw, dict) else {}
            if not isinstance(raw, dict) and raw is not None and block["params"]:
                given = {next(iter(block["params"])): raw}
            bound = {**block["params"], **{k: v for k, v in given.items() if k in block["params"]}}
            bound = {k: (params.get(m.group(1), 1) if isinstance(v, str) and (m := _PARAM.match(v)) else v)
                     for k, v in bound.items()}
            key = (name, repr(sorted(bound.items(), key=lambda kv: str(kv[0]))))
            if key not in self._memo:
                self._memo[key] = self.items(block["layers"], bound, stack + (name,))
            each = self._memo[key]
        return _repeat(item, params) * each

    def items(self, items: Any, params: dict | None = None, stack: tuple = ()) -> int:
        """Layers a list of items expands to."""
        if not isinstance(items, list):
            return 0
        return sum(self.item(it, params, stack) for it in items)


def check_layer_count(layers: Any, blocks: dict, path: tuple, out: Collector) -> bool:
    """Report a model over :func:`max_layers` at the item that contributes most; True when within.

    Raises nothing; the report reads e.g. "the model would have 100,000,000,000,000,000 layers (this
    item: 100,000,000,000,000,000), over the limit of 20,000: lower 'repeat', or raise the limit with
    'dlbuild --max-layers N'".
    """
    limit = max_layers()
    counter = LayerCounter(blocks)
    per_item = [counter.item(it) for it in layers] if isinstance(layers, list) else []
    total = sum(per_item)
    if total <= limit:
        return True
    worst = max(range(len(per_item)), key=per_item.__getitem__)
    if per_item[worst] == 1:  # no item stands out: many plain layers
        out.error(f"the model has {total:,} layers, over the limit of {limit:,}; raise the limit with "
                  "'dlbuild --max-layers N'", path, at="key")
        return False
    item = layers[worst]
    where, at = path + (worst,), "value"
    if isinstance(item, dict) and "repeat" in item:
        where += ("repeat",)
    elif isinstance(item, dict):
        name = next((k for k in item if k not in ITEM_KEYS), None)
        args = item.get(name)
        where, at = (where + (name, "repeat"), "value") if isinstance(args, dict) and "repeat" in args \
            else (where + (name,), "key")
    out.error(f"the model would have {total:,} layers (this item: {per_item[worst]:,}), over the limit of "
              f"{limit:,}: lower 'repeat', or raise the limit with 'dlbuild --max-layers N'", where, at=at)
    return False
