"""The installed Keras (and dlbuild's own layers and optimizers) → the catalog mapping, as JSON.

Inputs: the importable ``keras`` package and :data:`builder.catalog.registry.EXTENSIONS`.
Output: ``{"keras_version": str, "kinds": {kind: {"entries": {name: Entry fields}, "index":
{normalized spelling: name}}}}``, the mapping :class:`builder.catalog.registry.Catalog` reads.
Imports Keras (~3 s), so it runs only to regenerate the shipped snapshot or, in a subprocess,
when the installed Keras differs from it (:func:`builder.catalog.registry.catalog`); the spec
layer never imports this module.

Regenerate the shipped snapshot with ``python -m builder.catalog.scan`` (or write elsewhere:
``python -m builder.catalog.scan PATH``).
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from builder.catalog.registry import COMPILE_METRIC_ALIASES, EXTENSIONS, KINDS, SNAPSHOT, normalize


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and all(v is None or isinstance(v, (bool, int, float, str)) for v in value):
        return list(value)
    return repr(value)


def _params(fn) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(fn).parameters.values())[1:]  # drop self / first input
    except (TypeError, ValueError):
        return []


def _describe_class(cls, kind: str, module: str) -> dict:
    args: dict[str, Any] = {}
    own = _params(cls.__init__)
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = _params(klass.__init__)
        for p in params:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in args:
                args[p.name] = None if p.default is p.empty else _jsonable(p.default)
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break  # a constructor without **kwargs forwards nothing further up
    required = [p.name for p in own if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    positional = next((p.name for p in own if p.kind is p.POSITIONAL_OR_KEYWORD), None)
    return {
        "name": cls.__name__,
        "module": module,
        "is_class": True,
        "args": list(args),
        "required": required,
        "positional": positional,
        "defaults": {k: v for k, v in args.items() if k not in required},
        "doc": (inspect.getdoc(cls) or "").split("\n")[0],
    }


def _describe_function(fn, module: str, public_name: str) -> dict:
    params = list(inspect.signature(fn).parameters.values())
    skip = 2 if module in ("keras.losses", "keras.metrics") else 1  # (y_true, y_pred) or (x)
    rest = [p for p in params[skip:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return {
        "name": public_name,
        "module": module,
        "is_class": False,
        "args": [p.name for p in rest],
        "required": [],
        "positional": None,
        "defaults": {p.name: _jsonable(p.default) for p in rest if p.default is not p.empty},
        "doc": (inspect.getdoc(fn) or "").split("\n")[0],
    }


def build_catalog() -> dict:
    """Scan the installed Keras and return the catalog mapping (imports Keras: ~3 s).

    Raises:
        RuntimeError: two public classes of one kind collide under :func:`normalize`.
    """
    import importlib
    import importlib.util

    import keras

    out: dict = {"keras_version": keras.__version__, "kinds": {}}
    for kind, (module_name, base_path, with_functions) in KINDS.items():
        modules = [(module_name, importlib.import_module(module_name))]
        if kind in EXTENSIONS and importlib.util.find_spec(EXTENSIONS[kind]) is not None:
            modules.append((EXTENSIONS[kind], importlib.import_module(EXTENSIONS[kind])))
        base = None
        if base_path:
            mod, _, attr = base_path.rpartition(".")
            base = getattr(importlib.import_module(mod), attr)
        entries: dict[str, dict] = {}
        index: dict[str, str] = {}
        by_object: dict[int, str] = {}
        # Keras classes re-exported by an extension module are not dlbuild's own.
        members = [(public, obj, name) for name, module in modules for public, obj in sorted(vars(module).items())
                   if not (name != module_name and getattr(obj, "__module__", "").startswith("keras"))]
        for public, obj, source_module in members:
            if public.startswith("_") or public in ("get", "serialize", "deserialize"):
                continue
            if inspect.isclass(obj) and base is not None and issubclass(obj, base):
                if id(obj) not in by_object:
                    by_object[id(obj)] = obj.__name__
                    entries[obj.__name__] = _describe_class(obj, kind, source_module)
                canonical = by_object[id(obj)]
            elif with_functions and inspect.isfunction(obj):
                if id(obj) not in by_object:
                    by_object[id(obj)] = public
                    entries[public] = _describe_function(obj, source_module, public)
                canonical = by_object[id(obj)]
            else:
                continue
            for spelling in (public, canonical):
                other = index.setdefault(normalize(spelling), canonical)
                if other != canonical and entries[other]["is_class"] and entries[canonical]["is_class"]:
                    raise RuntimeError(f"{kind} names collide: {other} and {canonical}")
        # Keras's own alias table (``mse``, ``mae``, ``bce``…), where the module keeps one.
        for alias, obj in _keras_aliases(module_name).items():
            canonical = by_object.get(id(obj))
            if canonical and alias.isidentifier():
                index.setdefault(normalize(alias), canonical)
        # A class wins over a same-named function (``MeanSquaredError`` over ``mean_squared_error``).
        for name, e in entries.items():
            if e["is_class"]:
                index[normalize(name)] = name
        out["kinds"][kind] = {"entries": entries, "index": index}
    for alias in COMPILE_METRIC_ALIASES:
        out["kinds"]["metric"]["entries"].setdefault(alias, {
            "name": alias, "module": "keras.metrics", "is_class": False, "args": [], "required": [],
            "positional": None, "defaults": {}, "doc": "Resolved by Model.compile to match the loss.",
        })
        out["kinds"]["metric"]["index"][normalize(alias)] = alias
    return out


def _keras_aliases(module_name: str) -> dict:
    """``ALL_OBJECTS_DICT`` of ``keras.src.<kind>`` when it exists: Keras's spelled-out aliases.

    Private API, used only to add spellings; the catalog is complete without it.
    """
    import importlib

    try:
        return dict(importlib.import_module(module_name.replace("keras.", "keras.src.", 1)).ALL_OBJECTS_DICT)
    except (ImportError, AttributeError):
        return {}


def write_json(data: dict, path: Path) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file, then a rename), mode 0644."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=0, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)




if __name__ == "__main__":  # python -m builder.catalog.scan [PATH]: (re)generate a catalog file
    write_json(build_catalog(), Path(sys.argv[1]) if len(sys.argv) > 1 else SNAPSHOT)
