"""Expanded topology → ``keras.Model`` with the functional API (imports Keras).

Each layer is constructed and called "at" its YAML location: an exception Keras raises while
constructing a layer (a bad argument value) or calling it on its symbolic inputs (a shape
mismatch) becomes a :class:`SpecError` at the line of the item that caused it.
"""

from __future__ import annotations

import inspect
import re

from builder.spec import items as objects
from builder.errors import Collector
from builder.model import precision
from builder.catalog.registry import catalog
from builder.spec.load import Spec

_KERAS_NOISE = re.compile(r"\s*(Arguments received by .*|Call arguments received by .*)$", re.S)


def _reraise_resource_error(exc: Exception) -> None:
    """Re-raise out-of-memory errors: a layer too big for this machine is not a spec mistake
    (a tuning trial that hits it is recorded FAILED and the search goes on)."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "ResourceExhaustedError":
        raise exc


def _message(exc: Exception) -> str:
    """Keras's error text, first paragraph only (the 'Arguments received' dump is noise here)."""
    text = _KERAS_NOISE.sub("", str(exc)).strip()
    text = re.sub(r"^Exception encountered when calling .*?\.\n+", "", text, flags=re.S).strip()
    return " ".join(text.split("\n\n")[0].split()) or type(exc).__name__


def _takes_list(layer) -> bool:
    """Whether ``layer.call`` takes its inputs as one list (merge layers, Attention) rather than
    as separate positional tensors (MultiHeadAttention's query, value, key)."""
    try:
        params = list(inspect.signature(layer.call).parameters)
    except (TypeError, ValueError):
        return True
    return bool(params) and params[0] == "inputs"


def build_model(spec: Spec):
    """Build the Keras model of ``spec`` (search spaces already resolved).

    Returns:
        A ``keras.Model`` named after the spec, with one ``keras.Input`` per ``model.inputs``
        entry (shape ``(batch, *shape)``) and the outputs named in ``model.outputs``.

    Raises:
        SpecError: every layer that Keras refuses to construct or to call, at its item's line
            (Keras's own message, e.g. a shape mismatch, is kept).
    """
    import keras

    import builder.model.layers  # noqa: F401  (registers dlbuild's serializable composite layers)

    cat = catalog()
    out = Collector()
    tensors = {}
    for name, inp in spec.topology.inputs.items():
        tensors[name] = keras.Input(shape=inp.shape, dtype=inp.dtype, name=name, sparse=inp.sparse,
                                    ragged=inp.ragged)
    policy = precision.resolve(spec.fit.get("mixed_precision"))  # auto: float16 only where it pays off
    for node in spec.topology.nodes:
        if any(i not in tensors for i in node.inputs):
            continue  # an upstream layer already failed and was reported
        where = f" ({node.context})" if node.context else ""
        entry = cat.lookup("layer", node.layer)
        kwargs = objects.build_args(entry, node.args, cat)
        if policy != "none" and "dtype" not in kwargs:
            # Mixed precision (Micikevicius et al. 2018; Keras mixed-precision guide): compute in
            # float16/bfloat16, but the model outputs stay float32 for a numerically stable loss.
            kwargs["dtype"] = "float32" if node.name in spec.topology.outputs else policy
        try:
            layer = entry.load()(name=node.name, **kwargs)
        except Exception as exc:  # Keras validates argument values in constructors
            _reraise_resource_error(exc)
            out.error(f"{entry.display}: {_message(exc)}{where}", node.path, at="key")
            continue
        args = [tensors[i] for i in node.inputs]
        try:
            if len(args) > 1 and _takes_list(layer):
                tensors[node.name] = layer(args, **node.call)
            else:
                tensors[node.name] = layer(*args, **node.call)
        except Exception as exc:  # shape and dtype mismatches surface when the layer is called
            _reraise_resource_error(exc)
            shapes = ", ".join(str(tuple(t.shape)) for t in args)
            noun = "input shapes" if len(args) > 1 else "input shape"
            out.error(f"{entry.display} cannot be applied to {noun} {shapes}: {_message(exc)}{where}",
                      node.path, at="key")
    out.raise_if_any(spec.source)
    outputs = [tensors[n] for n in spec.topology.outputs]
    inputs = [tensors[n] for n in spec.topology.inputs]
    model = keras.Model(inputs=inputs if len(inputs) > 1 else inputs[0],
                        outputs=outputs if len(outputs) > 1 else outputs[0], name=spec.name)
    if spec.model.get("init_from"):
        from builder.spec.section_checks import init_from_path

        init_weights(model, init_from_path(spec.model["init_from"], spec.directory))
    return model


def init_weights(model, path) -> tuple[list, list]:
    """Copy the weights of every layer of ``model`` whose name and weight shapes match a layer of
    the trained model at ``path`` (transfer learning, e.g. a BERT encoder pre-trained by masked-
    language modelling, then fine-tuned with a new head). Loaded with Keras ``safe_mode``.

    Returns:
        ``(copied, skipped)`` layer names; skipped layers keep their fresh initialisation.
    """
    import keras

    source = keras.saving.load_model(path, safe_mode=True, compile=False)
    by_name = {layer.name: layer for layer in source.layers}
    copied, skipped = [], []
    for layer in model.layers:
        theirs = by_name.get(layer.name)
        if theirs is None or not layer.weights:
            continue
        if [w.shape for w in theirs.weights] == [w.shape for w in layer.weights]:
            layer.set_weights(theirs.get_weights())
            copied.append(layer.name)
        else:
            skipped.append(layer.name)
    return copied, skipped


def build_compile_args(spec: Spec) -> dict:
    """``Model.compile`` keyword arguments from the ``compile`` section (objects constructed):
    optimizer, loss, metrics, weighted_metrics, loss_weights, jit_compile, steps_per_execution."""
    cat = catalog()
    comp = spec.compile
    loss = comp["loss"]
    outputs = spec.topology.outputs
    if isinstance(loss, dict) and len(outputs) > 1 and all(k in outputs for k in loss):
        loss = {k: objects.build("loss", v, cat) for k, v in loss.items()}
    else:
        loss = objects.build("loss", loss, cat)
    def build_metrics(items):
        if isinstance(items, dict):  # {output_name: [metrics]}
            return {k: [objects.build("metric", m, cat) for m in v] for k, v in items.items()}
        return [objects.build("metric", m, cat) for m in items]

    metrics = build_metrics(comp.get("metrics") or [])
    # Weighted by the data's sample weights (for masked-LM data: the masked positions only).
    weighted = build_metrics(comp["weighted_metrics"]) if comp.get("weighted_metrics") else None
    optimizer = objects.build("optimizer", comp["optimizer"], cat)
    if precision.resolve(spec.fit.get("mixed_precision")) == "mixed_float16":
        import keras

        # float16 gradients underflow without loss scaling; Keras scales the loss dynamically.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return {
        "optimizer": optimizer,
        "loss": loss,
        "metrics": metrics,
        "weighted_metrics": weighted,
        "loss_weights": comp.get("loss_weights"),
        "jit_compile": comp.get("jit_compile", "auto"),
        "steps_per_execution": comp.get("steps_per_execution", 1),
    }
