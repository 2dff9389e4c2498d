"""``dlbuild import MODEL.keras``: an existing Keras model → a spec that rebuilds its architecture.

The model is loaded with ``keras.saving.load_model(path, compile=False, safe_mode=True)``, so a
file with a ``Lambda`` layer or other pickled Python code is refused by Keras itself. Supported:
Sequential and functional models whose layers are Keras built-ins (or dlbuild's registered
composite layers), each called once (no shared layers), on whole tensors of other layers.

What the spec keeps (ARCHITECTURE.md §2):

* ``model.inputs``: every ``InputLayer`` as ``{name: {shape: [...], dtype: ...}}`` (batch axis
  dropped; ``dtype`` only when not float32);
* ``model.layers``: one item per layer, ``{snake_name: {non-default arguments}}`` — an argument is
  written when its value in ``layer.get_config()`` differs from a freshly constructed layer's
  (Keras's own defaults, not a hand-written table); nested initializers, regularizers, constraints
  and wrapped layers become items of their own in the same three forms;
* graph wiring (functional models): ``name:`` on every item and ``inputs:`` where an item does not
  simply take the previous item's output; ``outputs:`` when the outputs are not just the last item;
* ``compile``: the saved compile config's optimizer, loss and metrics when the file has one (else a
  skeleton), and a ``data`` placeholder, both commented "fill in".

Weights are not carried over: the spec describes an architecture, ``dlbuild fit`` trains it.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from builder.catalog.registry import catalog


class ImportModelError(Exception):
    """The model cannot become a spec (unsupported layer, shared layer, unreadable file)."""


_BASE_KEYS = ("name", "trainable", "dtype")  # handled separately from the layer's own arguments


def _plain(value: Any) -> Any:
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
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _is_serialized(value: Any) -> bool:
    return isinstance(value, dict) and "class_name" in value and "config" in value


def _policy_name(value: Any) -> str | None:
    if _is_serialized(value):
        return value["config"].get("name")
    return value if isinstance(value, str) else None


def _object_item(kind: str, value: Any) -> Any:
    """A serialised nested Keras object (``{"class_name": "L2", "config": {...}}``) → a spec item:
    bare name when every argument is default, ``{name: scalar}`` when only the positional one is
    not, else ``{name: {args}}``. Strings (``"relu"``) stay as they are."""
    import keras

    if not _is_serialized(value):
        return value
    cat = catalog()
    if kind == "layer":
        return _layer_item(keras.layers.deserialize(value))[0]
    entry = cat.lookup(kind, value["class_name"])
    if entry is None:
        raise ImportModelError(f"{value['class_name']} is not a built-in Keras {kind}")
    config = _plain(value["config"])
    try:
        default = _plain(entry.load()().get_config())
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
    from builder.spec.explain import spelling

    return spelling(entry)


def _convert(owner_kind: str, arg: str, value: Any) -> Any:
    from builder.spec.items import nested_kind

    kind = nested_kind(owner_kind, arg)
    if kind is not None and value is not None:
        return _object_item(kind, value)
    if _is_serialized(value):
        raise ImportModelError(f"argument '{arg}' holds a {value['class_name']} object, which a spec "
                               "cannot express")
    return _plain(value)


def _layer_item(layer) -> tuple[Any, dict]:
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
    config = _plain(layer.get_config())
    required = {k: config[k] for k in entry.required if k in config}
    try:
        default = _plain(cls(**_deser(required)).get_config())
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
    policy = _policy_name(config.get("dtype"))
    if policy and policy != _policy_name(default.get("dtype", "float32")) and policy != "float32":
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

    return {k: keras.saving.deserialize_keras_object(v, safe_mode=True) if _is_serialized(v) else v
            for k, v in args.items()}


def _history(arg: Any) -> tuple | None:
    """``(layer_name, node_index, tensor_index)`` of a serialised KerasTensor argument, else None."""
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        return tuple(arg["config"]["keras_history"])
    return None


def _triples(value: Any) -> list:
    """``input_layers`` / ``output_layers`` of a functional config: one triple or a list of them."""
    if isinstance(value, (list, tuple)) and len(value) == 3 and isinstance(value[0], str):
        return [value]
    return list(value)


def model_to_spec(model, name: str | None = None) -> dict:
    """The spec mapping (plain values) that rebuilds ``model``'s architecture.

    Raises:
        ImportModelError: a layer that is not a Keras built-in, a layer called more than once,
            a layer output that is not a whole tensor (multi-output layers), tensor keyword arguments.
    """
    import keras

    config = model.get_config()
    inputs: dict = {}
    items: list = []
    if isinstance(model, keras.Sequential):
        first = config["layers"][0] if config.get("layers") else None
        if first and first.get("class_name") == "InputLayer":
            ic = first["config"]
            shape, dtype, iname = ic["batch_shape"][1:], ic.get("dtype", "float32"), ic.get("name", "input")
        elif model.inputs:
            shape, dtype, iname = list(model.inputs[0].shape[1:]), model.inputs[0].dtype, "input"
        else:
            raise ImportModelError("the Sequential model was saved unbuilt (no input shape); build it "
                                   "with keras.Input(...) first")
        inputs[iname] = _input_spec(shape, dtype)
        for layer in model.layers:
            items.append(_layer_item(layer)[0])
        outputs = None
    else:
        by_name = {layer.name: layer for layer in model.layers}
        prev = None
        for lc in config["layers"]:
            lname = lc["name"]
            if lc["class_name"] == "InputLayer":
                ic = lc["config"]
                inputs[lname] = _input_spec(ic["batch_shape"][1:], ic.get("dtype", "float32"))
                continue
            nodes = lc.get("inbound_nodes") or []
            if len(nodes) != 1:
                raise ImportModelError(f"layer '{lname}' is called {len(nodes)} times (shared weights); "
                                       "a spec gives every call its own layer")
            node = nodes[0]
            args = node.get("args") or []
            flat = args[0] if len(args) == 1 and isinstance(args[0], list) else args
            srcs = []
            for a in flat:
                h = _history(a)
                if h is None:
                    raise ImportModelError(f"layer '{lname}' is called with a non-tensor positional argument")
                if h[2] != 0:
                    raise ImportModelError(f"layer '{lname}' takes output {h[2]} of layer '{h[0]}'; "
                                           "multi-output layers cannot be wired in a spec")
                srcs.append(h[0])
            call = {}
            for k, v in (node.get("kwargs") or {}).items():
                if v is None or k == "training":  # Keras records defaults and the training flag
                    continue
                if _history(v) is not None or (isinstance(v, list) and any(_history(x) for x in v)):
                    raise ImportModelError(f"layer '{lname}' takes a tensor as keyword argument '{k}'; "
                                           "a spec wires positional inputs only")
                call[k] = _plain(v)
            item, _ = _layer_item(by_name[lname])
            extra: dict = {"name": lname}
            if srcs != [prev] or prev is None:
                extra["inputs"] = srcs
            if call:
                extra["call"] = call
            if isinstance(item, str):
                item = {item: {**extra}}
            else:
                (key, value), = item.items()
                if not isinstance(value, dict):
                    value = {_entry_for(key).positional: value}
                item = {key: {**value, **extra}}
            items.append(item)
            prev = lname
        outs = [t[0] for t in _triples(config["output_layers"])]
        outputs = None if outs == [prev] else outs
    model_section: dict = {"inputs": inputs, "layers": items}
    if outputs:
        model_section["outputs"] = outputs
    spec_name = name or model.name
    if not spec_name.replace("-", "_").replace(".", "_").isidentifier():
        spec_name = "imported"
    return {"name": spec_name, "model": model_section}


def _entry_for(spelling: str):
    return catalog().lookup("layer", spelling)


def _input_spec(shape, dtype) -> dict:
    spec = {"shape": [None if d is None else int(d) for d in shape]}
    dtype = _policy_name(dtype) or str(dtype)
    if dtype != "float32":
        spec["dtype"] = dtype
    return spec


def _compile_section(path: Path) -> tuple[dict, bool]:
    """``(compile section, from_file)``: the file's saved compile config translated to items, or a
    skeleton when the model was saved uncompiled or with something a spec cannot name."""
    skeleton = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
    try:
        with zipfile.ZipFile(path) as zf:
            cfg = json.loads(zf.read("config.json")).get("compile_config")
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError):
        return skeleton, False
    if not cfg:
        return skeleton, False
    try:
        out = {"optimizer": _object_item("optimizer", cfg.get("optimizer")) or "rmsprop"}
        loss = cfg.get("loss")
        if loss is None:
            return skeleton, False
        out["loss"] = {k: _object_item("loss", v) for k, v in loss.items()} if isinstance(loss, dict) \
            and not _is_serialized(loss) else _object_item("loss", loss)
        metrics = cfg.get("metrics")
        if metrics:
            out["metrics"] = [_object_item("metric", m) for m in metrics] if isinstance(metrics, list) else \
                {k: [_object_item("metric", m) for m in v] for k, v in metrics.items()}
        json.dumps(out)  # only plain values may reach the spec
        return out, True
    except Exception:  # noqa: BLE001  (anything unexpected: fall back to the skeleton)
        return skeleton, False


def import_model(path: str | Path, name: str | None = None) -> str:
    """Load the ``.keras`` file at ``path`` (safe mode) and return spec YAML text with comments.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImportModelError: Keras cannot load the file safely, or the model cannot become a spec.
    """
    import keras

    import builder.model.layers  # noqa: F401  (registers dlbuild's composite layers for loading)
    from builder.spec.dump import dump_yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001  (Keras raises many types for unreadable or unsafe files)
        raise ImportModelError(f"cannot load {path} in safe mode: {' '.join(str(exc).split())[:500]}") from exc
    spec = model_to_spec(model, name or None)
    comp, from_file = _compile_section(path)
    if not from_file and len(model.outputs) == 1 and tuple(model.outputs[0].shape[1:]) == (1,):
        # A one-unit output is a binary classifier (sigmoid) or a regressor: the skeleton's
        # sparse categorical loss would not fit it.
        last = getattr(model.layers[-1], "activation", None)
        binary = getattr(last, "__name__", "") == "sigmoid"
        comp = {**comp, "loss": "binary_crossentropy" if binary else "mse",
                "metrics": ["accuracy"] if binary else ["mae"]}
    header = (f"# Imported from {path.name} by `dlbuild import` ({model.count_params():,} parameters; "
              "weights are not carried over).\n")
    data = ("# TODO: fill in your data: dataset: NAME | csv: FILE | npz: FILE (see docs/spec.md).\n"
            "# The placeholder below only lets `dlbuild check` run.\n")
    comp_note = ("# compile: read from the file's saved compile config.\n" if from_file else
                 "# TODO: fill in compile: the model was saved without a compile config; this is a skeleton.\n")
    return (header + f"name: {spec['name']}\n" + data
            + dump_yaml({"data": {"dataset": "fashion_mnist"}}) + dump_yaml({"model": spec["model"]})
            + comp_note + dump_yaml({"compile": comp}) + dump_yaml({"fit": {"epochs": 10, "batch_size": 32}}))
