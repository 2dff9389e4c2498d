"""Data placeholders: values a spec leaves to its data (``units: $classes``, ``shape: [$features]``).

One spec for many data sets needs the output's class count (and an input's width or length) to
follow the data instead of being patched per set with ``--set model.layers[5].dense.units=K``.
A placeholder is written like a block parameter and may stand for any value in ``model``:

* ``$classes``: the number of classes (class names, else the largest label + 1, over every split);
* ``$features``: the size of the training features' last axis (``(n, ..., features)``);
* ``$length``: the size of their second axis (``(n, length, ...)``: a sequence's time steps).

``dlbuild validate`` accepts them without the data (an input dimension given by one is unknown
there, like ``null``); ``fit``, ``tune`` and ``check`` read the data first and bind them
(:func:`bind`) before anything is built, so ``spec.resolved.yaml`` holds the numbers. Inside a
block body a block parameter of the same name wins. No TensorFlow.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from builder.errors import Collector, did_you_mean

PLACEHOLDERS = {
    "classes": "the number of classes",
    "features": "the size of the features' last axis",
    "length": "the size of the features' second axis (time steps)",
}
_NAME = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")


def placeholder(value: Any) -> str | None:
    """The name of the data placeholder ``value`` is (``"$classes"`` → ``"classes"``), or None."""
    m = _NAME.match(value) if isinstance(value, str) else None
    return m.group(1) if m and m.group(1) in PLACEHOLDERS else None


def _walk(value: Any, path: tuple):
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, path + (i,))


def locations(model: Any) -> list[tuple[tuple, str]]:
    """``[(spec path, name)]`` of every data placeholder in ``model`` (the spec's ``model`` section)."""
    return [(path, name) for path, v in _walk(model, ("model",)) if (name := placeholder(v))]


def used(model: Any) -> set:
    """The data placeholders ``model`` uses anywhere."""
    return {name for _, name in locations(model)}


def check(model: Any, out: Collector) -> None:
    """Report ``$names`` outside block bodies that are not data placeholders (a misspelt
    ``$clases``); block bodies are checked against their parameters by the expander."""
    for path, v in _walk(model, ("model",)):
        if len(path) > 1 and path[1] == "blocks":
            continue
        m = _NAME.match(v) if isinstance(v, str) else None
        if m and m.group(1) not in PLACEHOLDERS:
            names = ["$" + p for p in PLACEHOLDERS]
            out.error(f"unknown placeholder '{v}'" + (did_you_mean(v, names) or
                                                       "; data placeholders: " + ", ".join(names)), path)


def substitute(values: Any, facts: dict) -> Any:
    """A copy of ``values`` with every data placeholder named in ``facts`` replaced by its value."""
    if isinstance(values, dict):
        return {k: substitute(v, facts) for k, v in values.items()}
    if isinstance(values, list):
        return [substitute(v, facts) for v in values]
    name = placeholder(values)
    return facts[name] if name in facts else copy.deepcopy(values)
