"""One built Keras layer, or one serialised Keras object, → one spec item, for ``dlbuild import``.

Input: a Keras layer (its ``get_config()``) or a serialised nested object (``{"class_name": "L2",
"config": {...}}``). Output: the spec item in the shortest of the three item forms (bare name,
``{name: scalar}``, ``{name: {args}}``) with only the arguments that differ from a freshly
constructed object's (Keras's own defaults, not a hand-written table), in plain YAML-able values.
Raises :class:`ImportModelError` for what a spec cannot express. Imports Keras.
"""

from __future__ import annotations

from typing import Any

from builder.catalog.registry import catalog
from builder.errors import DlbuildError
from builder.spec.explain import spelling
from builder.spec.items import nested_kind


class ImportModelError(DlbuildError):
    """The model cannot become a spec (unsupported layer, shared layer, unreadable file)."""


_BASE_KEYS = ("name", "trainable", "dtype")  # handled separately from the layer's own arguments


def plain(value: Any) -> Any:
    """Tuples → lists, recursively (YAML and comparisons want one sequence type); a float that is
    exactly a float32 value (an optimizer's stored ``learning_rate``) is written in the shortest
    form that round-trips through float32 (``0.0003``, not ``0.0003000000142492354``)."""
    if isinstance(value, float):
        import numpy as np

        f32 = np.float32(value)
        if float(f32) == value and np.isfinite(f32):
            return float(np.format_float_positional(f32, unique=True, trim="0")) if abs(value) >= 1e-4 or value == 0 \
                else float(np.format_float_scientific(f32, unique=True))
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def is_serialized(value: Any) -> bool:
    """Whether ``value`` is a serialised Keras object (``{"class_name": ..., "config": ...}``)."""
    return isinstance(value, dict) and "class_name" in value and "config" in value


def policy_name(value: Any) -> str | None:
    """The dtype policy name of a layer config's ``dtype`` (serialised ``DTypePolicy`` or a string)."""
    if is_serialized(value):
        return value["config"].get("name")
    return value if isinstance(value, str) else None


def object_item(kind: str, value: Any) -> Any:
    """A serialised nested Keras object (``{"class_name": "L2", "config": {...}}``) → a spec item:
    bare name when every argument is default, ``{name: scalar}`` when only the positional one is
    not, else ``{name: {args}}``. Strings (``"relu"``) stay as they are."""
    import keras

    if not is_serialized(value):
        return value
    cat = catalog()
    if kind == "layer":
        return layer_item(keras.layers.deserialize(value))[0]
    entry = cat.lookup(kind, value["class_name"])
    if entry is None:
        raise ImportModelError(f"{value['class_name']} is not a built-in Keras {kind}")
    config = plain(value["config"])
    try:
        default = plain(entry.load()().get_config())
    except Exception:  # noqa: BLE001  (no default constructor: write every argument)
        default = {}
    args = {k: _convert(entry.kind, k, v) for k, v in config.items()
            if k in entry.args and (k not in default or default[k] != v)
            and not (k == "name" and _same_name(v, default.get("name")))}
    name = _spec_name(entry)
    if not args:
        return name
    if list(args) == [entry.positional] and not isinstance(args[entry.positional], dict):
        return {name: args[entry.positional]}
    return {name: args}


def _same_name(a: Any, b: Any) -> bool:
    """``adam`` and ``adam_1`` are the same auto-generated name (Keras uniquifies object names)."""
    import re

    strip = lambda n: re.sub(r"_\d+$", "", n) if isinstance(n, str) else n  # noqa: E731
    return strip(a) == strip(b)


def _spec_name(entry) -> str:
    return spelling(entry)


def _convert(owner_kind: str, arg: str, value: Any) -> Any:
    kind = nested_kind(owner_kind, arg)
    if kind is not None and value is not None:
        return object_item(kind, value)
    if is_serialized(value):
        raise ImportModelError(f"argument '{arg}' holds a {value['class_name']} object, which a spec "
                               "cannot express")
    return plain(value)


def layer_item(layer) -> tuple[Any, dict]:
    """``(item, args)`` for one built layer: its spec item without wiring, and the argument mapping."""
    cat = catalog()
    cls = type(layer)
    entry = cat.lookup("layer", cls.__name__)
    if entry is None or entry.load() is not cls:
        raise ImportModelError(f"layer '{layer.name}' is a {cls.__module__}.{cls.__name__}, not a "
                               "built-in Keras layer; a spec cannot rebuild it")
    if cat.denied(entry):
        raise ImportModelError(f"layer '{layer.name}': {entry.name} is not allowed in a spec: "
                               f"{cat.denied(entry)}")
    config = plain(layer.get_config())
    required = {k: config[k] for k in entry.required if k in config}
    try:
        default = plain(cls(**_deser(required)).get_config())
    except Exception:  # noqa: BLE001  (fall back to writing every argument)
        default = {}
    args = {}
    for k, v in config.items():
        if k in _BASE_KEYS or k not in entry.args:
            continue
        if k in entry.required or k not in default or default[k] != v:
            args[k] = _convert("layer", k, v)
    if "backward_layer" in args and "layer" in args and _mirrors(args["backward_layer"], args["layer"]):
        del args["backward_layer"]  # Keras makes this mirror of 'layer' itself
    policy = policy_name(config.get("dtype"))
    if policy and policy != policy_name(default.get("dtype", "float32")) and policy != "float32":
        args["dtype"] = policy
    if config.get("trainable") is False:
        args["trainable"] = False
    name = _spec_name(entry)
    if not args:
        return name, args
    if list(args) == [entry.positional] and not isinstance(args[entry.positional], dict):
        return {name: args[entry.positional]}, args
    return {name: args}, args


def _mirrors(backward: Any, forward: Any) -> bool:
    """Whether a Bidirectional's ``backward_layer`` item is ``layer`` run backwards (the default)."""
    def args_of(item):
        if isinstance(item, str):
            return item, {}
        (k, v), = item.items()
        entry = catalog().lookup("layer", k)
        return k, (dict(v) if isinstance(v, dict) else {entry.positional: v})

    (kb, ab), (kf, af) = args_of(backward), args_of(forward)
    return kb == kf and ab.pop("go_backwards", None) is True and ab == af


def _deser(args: dict) -> dict:
    """Required arguments holding serialised objects (Bidirectional's ``layer``) → objects."""
    import keras

    return {k: keras.saving.deserialize_keras_object(v, safe_mode=True) if is_serialized(v) else v
            for k, v in args.items()}
