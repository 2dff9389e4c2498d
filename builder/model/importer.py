"""``dlbuild import MODEL.keras``: an existing Keras model → a spec that rebuilds its architecture.

The model is loaded with ``keras.saving.load_model(path, compile=False, safe_mode=True)``, so a
file with a ``Lambda`` layer or other pickled Python code is refused by Keras itself. Supported:
Sequential and functional models whose layers are Keras built-ins (or dlbuild's registered
composite layers), each called once (no shared layers), on whole tensors of other layers.

What the spec keeps (docs/architecture.md, "Spec language"):

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
Each layer and nested object becomes an item in :mod:`builder.model.keras_items`; this module
walks the model's graph, the saved compile config, and writes the commented YAML.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from builder.catalog.registry import catalog
from builder.model.keras_items import ImportModelError, is_serialized, layer_item, object_item, plain, policy_name

__all__ = ["ImportModelError", "import_model", "model_to_spec"]


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
            items.append(layer_item(layer)[0])
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
                call[k] = plain(v)
            item, _ = layer_item(by_name[lname])
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
    dtype = policy_name(dtype) or str(dtype)
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
        out = {"optimizer": object_item("optimizer", cfg.get("optimizer")) or "rmsprop"}
        loss = cfg.get("loss")
        if loss is None:
            return skeleton, False
        out["loss"] = {k: object_item("loss", v) for k, v in loss.items()} if isinstance(loss, dict) \
            and not is_serialized(loss) else object_item("loss", loss)
        metrics = cfg.get("metrics")
        if metrics:
            out["metrics"] = [object_item("metric", m) for m in metrics] if isinstance(metrics, list) else \
                {k: [object_item("metric", m) for m in v] for k, v in metrics.items()}
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
