"""The data against the built model, before the first training step: input names, rank, shape and
kind (numbers or text) of every model input, and the target's shape for a regression output.

Inputs: a resolved :class:`~builder.spec.load.Spec`, its built ``keras.Model`` (inputs
``(batch, ...)``) and the training :class:`~builder.data.splits.Splits` (x ``(n, ...)`` or
``{input: (n, ...)}``, y ``(n, ...)``). Output: :class:`~builder.errors.Diagnostic` s located at the
spec's ``model.inputs`` entry (or the output layer), each quoting the data's shape, so that
``fit``, a ``tune`` trial, ``evaluate`` and ``export`` stop with a located error instead of
Keras's ``Input 0 ... is incompatible`` mid-fit.

A data rank one above or below the input's is accepted when the extra axis has size 1: Keras's
functional models adjust that themselves (``keras/src/models/functional.py``,
``_adjust_input_rank``). Variable-length (object) arrays, ragged and sparse inputs are left to the
pipeline that pads or converts them.
"""

from __future__ import annotations

import numpy as np

from builder.errors import Diagnostic


def _kind(dtype) -> str:
    return "text" if np.dtype(dtype).kind in "USO" else "numbers"


def _samples_fit(data: tuple, model: tuple) -> bool:
    """Whether samples of shape ``data`` feed an input of shape ``model`` (``None``: any size)."""
    if len(data) == len(model) + 1 and data and data[-1] == 1:
        data = data[:-1]
    elif len(data) + 1 == len(model) and model and model[-1] == 1:
        data = data + (1,)
    return len(data) == len(model) and all(m is None or m == d for d, m in zip(data, model))


def _shape_text(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def input_problems(spec, x) -> list[Diagnostic]:
    """Problems of the features ``x`` (``(n, ...)`` or ``{input: (n, ...)}``) against the model's
    inputs as the spec declares them (``spec.topology.inputs``: no model needed, so this also runs
    before TensorFlow is imported, :mod:`builder.run.preflight`), each at ``model.inputs.<name>``.
    An empty list when the data fits."""
    inputs = spec.topology.inputs
    names = list(inputs)
    out = []
    if isinstance(x, dict):
        missing, extra = [n for n in names if n not in x], [k for k in x if k not in inputs]
        for name in missing:
            out.append(Diagnostic(f"input '{name}' has no data: the data's arrays are "
                                  f"{', '.join(map(repr, x))}" + (f" (not inputs: {', '.join(map(repr, extra))})"
                                                                  if extra else ""), inputs[name].path))
        arrays = {n: x[n] for n in names if n in x}
    elif len(names) != 1:
        return [Diagnostic(f"the model has {len(names)} inputs ({', '.join(names)}), but the data is one array "
                           f"of shape {_shape_text(np.shape(x))}; give data.x one array per input",
                           ("model", "inputs"))]
    else:
        arrays = {names[0]: x}
    for name, a in arrays.items():
        inp = inputs[name]
        a = np.asarray(a) if not isinstance(a, np.ndarray) else a
        if inp.sparse or inp.ragged or a.dtype == object and a.ndim == 1 and a.size and not isinstance(a[0], str):
            continue  # variable-length samples: padded or converted by the pipeline
        want, have = "text" if inp.dtype in ("string", "str") else "numbers", _kind(a.dtype)
        if want != have:
            out.append(Diagnostic(f"input '{name}' takes {want} (dtype {inp.dtype}), but its data holds {have} "
                                  f"(dtype {a.dtype}); " + ("declare dtype: string and add a text layer"
                                                            if have == "text" else "declare a numeric dtype"),
                                  inp.path))
            continue
        if have == "text":
            continue
        sample = tuple(int(d) for d in a.shape[1:])
        if not _samples_fit(sample, tuple(inp.shape)):
            out.append(Diagnostic(f"input '{name}' takes samples of shape {_shape_text(inp.shape)}, but the data's "
                                  f"samples have shape {_shape_text(sample)} (x: {_shape_text(a.shape)} in the "
                                  f"training split); write shape: {list(sample) or '[]'} or reshape the data",
                                  inp.path))
    return out


def target_problems(spec, model, splits) -> list[Diagnostic]:
    """For one regression output: the training targets ``(n, ...)`` against its shape
    ``(batch, ...)``, at the output layer. Class labels are checked by
    :func:`builder.spec.consistency.check_labels`."""
    y = splits.train[1]
    if splits.task != "regression" or len(model.outputs) != 1 or isinstance(y, dict):
        return []
    y = np.asarray(y)
    if y.dtype.kind not in "f" or y.ndim == 0:
        return []
    out_shape = tuple(model.outputs[0].shape[1:])
    sample = tuple(int(d) for d in y.shape[1:])
    if _samples_fit(sample, out_shape):
        return []
    return [Diagnostic(f"the output gives {_shape_text(out_shape)} per sample, but the targets have shape "
                       f"{_shape_text(sample)} per sample (y: {_shape_text(y.shape)} in the training split); "
                       f"make the output layer give {_shape_text(sample)} (e.g. units: {sample[-1] if sample else 1})",
                       _output_path(spec))]


def _output_path(spec) -> tuple:
    """Spec path of the item that defines the model's one output layer."""
    topo = spec.topology
    name = topo.outputs[0] if topo.outputs else (topo.nodes[-1].name if topo.nodes else None)
    if name in topo.output_paths:
        return topo.output_paths[name]
    return next((n.path for n in topo.nodes if n.name == name), ("model",))
