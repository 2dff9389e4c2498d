"""Model → ``.keras`` / SavedModel / TFLite (LiteRT) artifacts, each verified by running it.

Layout written by :func:`export_run` (every file written to a temporary name, then renamed, via
:func:`builder.atomic.atomic_path`, so an artifact is complete or absent)::

    <run_dir>/export/model.keras             + model.keras.json         (sidecar)
    <run_dir>/export/saved_model/            + saved_model.json
    <run_dir>/export/model.tflite            + model.tflite.json        (fp32, quantization none)
    <run_dir>/export/model.<q>.tflite        + model.<q>.tflite.json    (q: float16 dynamic int8 int8-io)
    <run_dir>/export/model.onnx              + model.onnx.json          (optional extra: dlbuild[onnx])
    <run_dir>/export.json                    one entry per artifact (see :func:`export_model`)

Verification (the issue's contract): each artifact is loaded with *its own* runtime --
``keras.saving.load_model(safe_mode=True)``, ``tf.saved_model.load`` + the ``serving_default``
signature, ``ai_edge_litert.interpreter.Interpreter`` + its ``serving_default`` signature runner,
``onnxruntime.InferenceSession`` -- run on held-out samples and compared with the in-memory Keras model: max |Δ| of the outputs and,
for classification, accuracy on the same samples. A failed check marks the artifact ``failed``
and :class:`ExportError` is raised after every artifact was tried and ``export.json`` written.

TFLite facts this module relies on (FACTS.md "LiteRT", re-checked with tensorflow 2.21 /
keras 3.15 / ai-edge-litert 2.3):

* Keras's ``format="litert"`` exporter enables ``SELECT_TF_OPS`` by default, so a model that needs
  TensorFlow (Flex) ops "converts" into a file no builtin interpreter runs. We always pass
  ``target_spec={"supported_ops": [TFLITE_BUILTINS]}`` (``TFLITE_BUILTINS_INT8`` for int8-io) and
  also list the ops of the result, so such a model is reported, never shipped silently.
* LSTM/GRU with a dynamic batch need Flex ops; with a static batch-1 ``input_signature`` they
  become a builtin ``WHILE``. Recurrent models therefore get a batch-1 signature.
* int8 calibration of a static-batch LSTM/GRU segfaults the converter unless ``unroll=True``:
  int8 conversion runs in a child process (``python -m builder.export.api int8 ...``) and a crash
  becomes a failed artifact whose reason names the cause and the fix.
* Integer token inputs (Embedding) cannot take ``inference_input_type=int8``; int8-io keeps them
  int32 and quantizes the float inputs and the outputs only.

Sources: https://ai.google.dev/edge/litert/models/post_training_quantization (modes, the
representative dataset), https://ai.google.dev/edge/litert/models/ops_select (Flex ops),
``keras/src/export/litert.py`` (converter kwargs are set on ``tf.lite.TFLiteConverter``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from builder.run.artifacts import load_keras, load_run_spec
from builder.atomic import atomic_path, write_json

FORMATS = ("keras", "saved_model", "tflite", "onnx")
#: ONNX is an optional extra: ``tf2onnx`` converts (through Keras's ``format="onnx"``), onnxruntime verifies.
ONNX_EXTRA = 'ONNX export needs the optional extra: pip install "dlbuild[onnx]" (tf2onnx, onnxruntime)'
QUANTIZATIONS = ("none", "float16", "dynamic", "int8", "int8-io")
#: Verification thresholds (the issue's defaults). ``*_atol`` bound max |Δ| against the Keras
#: model; a value also passes where |Δ| <= atol + rtol·|reference| (numpy ``allclose`` style), since
#: outputs of large magnitude (regression) cannot be reproduced to 1e-5 absolute in float32 by a
#: different kernel order (float32 ε ≈ 1.2e-7 per operation). ``accuracy_drop`` is a fraction (0.01
#: = 1 point) of the float model's accuracy on the same samples; for regression outputs of the
#: dynamic/int8 modes ``regression_rel`` bounds mean |Δ| / std(reference).
DEFAULT_THRESHOLDS = {
    "fp32_atol": 1e-5, "fp32_rtol": 1e-5,
    "float16_atol": 1e-3, "float16_rtol": 1e-3,
    "accuracy_drop": 0.01,
    "regression_rel": 0.05,
}
LATENCY_RUNS = 50  # batch-1 calls timed per artifact (after 5 warm-up calls); the median is reported
SIGNATURE = "serving_default"
#: Formats that cannot hold string inputs: a TextVectorization front is split off (vocabulary beside).
LOWERED = ("tflite", "onnx")


class ExportError(Exception):
    """An artifact failed to convert or failed its verification.

    Attributes:
        report: The export report (``export.json`` contents) with every artifact's verdict.
        failed: ``[(artifact_name, reason)]`` for the failed artifacts.
    """

    def __init__(self, message: str, report: dict | None = None, failed: list | None = None):
        super().__init__(message)
        self.report = report or {}
        self.failed = failed or []


# ----------------------------------------------------------------------------- model facts

def onnx_missing() -> str | None:
    """None when tf2onnx and onnxruntime import, else :data:`ONNX_EXTRA` plus the missing modules."""
    import importlib.util

    missing = [m for m in ("tf2onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    return f"{ONNX_EXTRA}; missing: {', '.join(missing)}" if missing else None


def _layers(model) -> list:
    """Every layer of ``model``, nested ones included (Bidirectional's forward LSTM, sub-models)."""
    return list(model._flatten_layers(include_self=False, recursive=True))


def recurrent_layers(model) -> list:
    """The ``keras.layers.RNN`` layers (LSTM, GRU, SimpleRNN, …) inside ``model``."""
    import keras

    return [l for l in _layers(model) if isinstance(l, keras.layers.RNN)]


def _io_specs(model) -> tuple[list[dict], list[dict]]:
    """``([{name, shape, dtype}] per input, [...] per output)``; shape has ``None`` for the batch."""
    ins = [{"name": t.name, "shape": list(t.shape), "dtype": str(t.dtype)} for t in model.inputs]
    names = list(getattr(model, "output_names", None) or [f"output_{i}" for i in range(len(model.outputs))])
    outs = [{"name": n, "shape": list(t.shape), "dtype": str(t.dtype)} for n, t in zip(names, model.outputs)]
    return ins, outs


def preprocessing_notes(model) -> list[str]:
    """What preprocessing the exported model does itself, for the sidecar (one sentence each)."""
    import keras

    notes = []
    for layer in _layers(model):
        if isinstance(layer, keras.layers.Rescaling):
            notes.append(f"{layer.name}: Rescaling(scale={layer.scale}, offset={layer.offset}) is inside the "
                         "model: feed raw values (e.g. 0-255 pixels), not pre-scaled ones")
        elif isinstance(layer, keras.layers.Normalization):
            notes.append(f"{layer.name}: Normalization (mean/variance adapted on the training split) is inside "
                         "the model: feed raw feature values")
        elif isinstance(layer, keras.layers.TextVectorization):
            notes.append(f"{layer.name}: TextVectorization is inside the .keras and SavedModel artifacts "
                         "(feed strings); TFLite builtin ops and ONNX cannot hold it (string ops)")
        elif isinstance(layer, (keras.layers.Resizing, keras.layers.CenterCrop)):
            notes.append(f"{layer.name}: {type(layer).__name__} is inside the model")
    return notes


def _as_dict(x, names: list[str]) -> dict:
    """Model inputs as ``{input_name: array}`` (an array is the single input)."""
    if isinstance(x, dict):
        return {n: np.asarray(x[n]) for n in names}
    if isinstance(x, (list, tuple)):
        return {n: np.asarray(v) for n, v in zip(names, x)}
    return {names[0]: np.asarray(x)}


def _n(xd: dict) -> int:
    return len(next(iter(xd.values())))


def _keras_input(model, xd: dict):
    names = [t.name for t in model.inputs]
    return xd[names[0]] if len(names) == 1 else [xd[n] for n in names]


def _outputs(y) -> list[np.ndarray]:
    """Model outputs as a list of numpy arrays (one per output)."""
    if isinstance(y, dict):
        return [np.asarray(v) for v in y.values()]
    if isinstance(y, (list, tuple)):
        return [np.asarray(v) for v in y]
    return [np.asarray(y)]


def _keras_predict(model, xd: dict, batch: int = 64) -> list[np.ndarray]:
    """Eager calls on chunks of ``batch`` samples (``training=False``); a list, one array per output."""
    chunks = [_outputs(model(_keras_input(model, {k: v[i:i + batch] for k, v in xd.items()}), training=False))
              for i in range(0, _n(xd), batch)]
    return [np.concatenate([c[j] for c in chunks]) for j in range(len(chunks[0]))]


def _classes(y: np.ndarray) -> np.ndarray:
    """Predicted class per row: argmax over the last axis, or > 0.5 for one sigmoid unit."""
    y = np.asarray(y)
    if y.ndim >= 2 and y.shape[-1] > 1:
        return y.argmax(-1)
    return (y.reshape(len(y)) > 0.5).astype(int)


def _accuracy(pred: np.ndarray, y_true) -> float | None:
    """Fraction of predicted classes equal to ``y_true``: per sample ``(n,)``, or per position
    for sequence targets ``(n, time)`` against outputs ``(n, time, classes)`` (language models)."""
    if y_true is None:
        return None
    pred, y_true = np.asarray(pred), np.asarray(y_true)
    if y_true.ndim >= 2 and pred.ndim == y_true.ndim + 1 and pred.shape[-1] > 1:
        return float(np.mean(pred.argmax(-1) == y_true))
    y_true = y_true.reshape(len(y_true))
    return float(np.mean(_classes(pred) == y_true))


def _is_classification(task: str | None, y_check, model) -> bool:
    """Accuracy is checked for one output with integer targets: classifiers, and sequence models
    whose targets are token ids per position (language models, seq2seq)."""
    return (task in ("classification", "sequence") and y_check is not None and len(model.outputs) == 1
            and np.asarray(y_check).dtype.kind in "iub")


def _signature(model, batch: int | None):
    """Keras's input signature with the batch axis set to ``batch`` (None = dynamic)."""
    import keras
    import tensorflow as tf
    from keras.src.export.export_utils import get_input_signature

    sig = get_input_signature(model)
    if batch is None:
        return sig
    return keras.tree.map_structure(
        lambda s: tf.TensorSpec((batch, *tuple(s.shape)[1:]), s.dtype, name=s.name), sig)


def _timed(fn: Callable[[], object], runs: int = LATENCY_RUNS) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``runs`` calls, after 5 warm-up calls."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(float(np.median(times)) * 1e3, 4)


def _size(path: Path) -> int:
    """Bytes of a file, or of every file under a directory."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


# ----------------------------------------------------------------------------- runners
# Each runner is (run(xd) -> list of output arrays on n samples, one(xd1) for latency, io info).

def _run_keras(path: Path):
    m = load_keras(path)

    def run(xd):
        return _keras_predict(m, xd)

    def one(xd1):
        return m(_keras_input(m, xd1), training=False)

    return run, one, None


def _run_saved_model(path: Path, input_names: list[str]):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    if SIGNATURE not in loaded.signatures:
        raise RuntimeError(f"no '{SIGNATURE}' signature (found: {', '.join(loaded.signatures) or 'none'})")
    fn = loaded.signatures[SIGNATURE]
    sig_inputs = fn.structured_input_signature[1]
    missing = [n for n in input_names if n not in sig_inputs]
    if missing:
        raise RuntimeError(f"the serving signature's inputs {sorted(sig_inputs)} do not carry the model's "
                           f"input names {input_names}")
    keys = sorted(fn.structured_outputs, key=_output_order)

    def call(xd):
        res = fn(**{n: tf.constant(v, dtype=sig_inputs[n].dtype) for n, v in xd.items()})
        return [res[k].numpy() for k in keys]

    def run(xd):
        n = _n(xd)
        chunks = [call({k: v[i:i + 64] for k, v in xd.items()}) for i in range(0, n, 64)]
        return [np.concatenate([c[j] for c in chunks]) for j in range(len(keys))]

    return run, call, {"signature": SIGNATURE, "input_keys": list(sig_inputs), "output_keys": keys}


def _output_order(key: str):
    tail = key.rsplit("_", 1)[-1]
    return (int(tail), key) if tail.isdigit() else (1 << 30, key)


class TFLiteRunner:
    """Runs a ``.tflite`` file with ``ai_edge_litert.interpreter.Interpreter`` (its
    ``serving_default`` signature), one sample at a time (batch 1; static-batch recurrent models
    accept nothing else), quantizing int8 inputs and dequantizing int8 outputs with the tensor's
    own scale/zero point: ``q = clip(round(x / scale) + zero_point, -128, 127)``,
    ``x = (q - zero_point) · scale``.

    Attributes:
        inputs, outputs: ``{signature_key: details}`` (shape, dtype, quantization).
        output_keys: Output signature keys in model-output order (``output_0``, ``output_1``, …).

    Raises:
        RuntimeError / ValueError: the file cannot be loaded (LiteRT's own message).
    """

    def __init__(self, path: Path, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        self.inputs = self.runner.get_input_details()
        self.outputs = self.runner.get_output_details()
        self.output_keys = sorted(self.outputs, key=_output_order)

    def quant(self, key: str, io: str = "inputs") -> dict | None:
        """``{"scale": s, "zero_point": z}`` of an int8/uint8 tensor, else None."""
        d = (self.inputs if io == "inputs" else self.outputs)[key]
        scale, zp = d["quantization"]
        if np.dtype(d["dtype"]) in (np.int8, np.uint8) and scale:
            return {"scale": float(scale), "zero_point": int(zp)}
        return None

    def _feed(self, key: str, x: np.ndarray) -> np.ndarray:
        d = self.inputs[key]
        dtype = np.dtype(d["dtype"])
        q = self.quant(key)
        if q:
            info = np.iinfo(dtype)
            return np.clip(np.round(x / q["scale"]) + q["zero_point"], info.min, info.max).astype(dtype)
        return np.asarray(x).astype(dtype)

    def __call__(self, xd: dict) -> list[np.ndarray]:
        """Run one batch-1 sample: ``{input_name: (1, ...)}`` → list of ``(1, ...)`` float arrays."""
        res = self.runner(**{k: self._feed(k, v) for k, v in xd.items()})
        out = []
        for k in self.output_keys:
            y = np.asarray(res[k])
            q = self.quant(k, "outputs")
            out.append((y.astype(np.float32) - q["zero_point"]) * q["scale"] if q else y)
        return out

    def run(self, xd: dict) -> list[np.ndarray]:
        """All samples of ``{input_name: (n, ...)}``, one at a time; outputs concatenated."""
        rows = [self({k: v[i:i + 1] for k, v in xd.items()}) for i in range(_n(xd))]
        return [np.concatenate([r[j] for r in rows]) for j in range(len(self.output_keys))]

    def io_info(self) -> dict:
        def info(details, io):
            return [{"signature_key": k, "shape": [int(s) for s in details[k]["shape_signature"]],
                     "dtype": np.dtype(details[k]["dtype"]).name, "quantization": self.quant(k, io)}
                    for k in (sorted(details, key=_output_order) if io == "outputs" else details)]
        return {"signature": SIGNATURE, "inputs": info(self.inputs, "inputs"), "outputs": info(self.outputs, "outputs")}


def op_names(path: Path) -> list[str]:
    """Distinct op names of a ``.tflite`` file (FACTS.md: the builtin resolver without delegates)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return sorted({d["op_name"] for d in it._get_ops_details()})


class ONNXRunner:
    """Runs a ``.onnx`` file with ``onnxruntime.InferenceSession`` (CPU provider). Inputs are named
    like the Keras model's inputs (Keras passes the input signature's names to tf2onnx); outputs
    come in model-output order (``Identity:0``, ``Identity_1:0``, …). The batch axis is dynamic.

    Raises:
        RuntimeError: onnxruntime is not installed (:data:`ONNX_EXTRA`), or cannot load the file.
    """

    def __init__(self, path: Path, num_threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise RuntimeError(ONNX_EXTRA) from exc
        opts = ort.SessionOptions()
        if num_threads:
            opts.intra_op_num_threads = num_threads
        opts.log_severity_level = 3
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.inputs = {i.name: i for i in self.session.get_inputs()}
        self.output_keys = [o.name for o in self.session.get_outputs()]

    @staticmethod
    def _np_dtype(onnx_type: str) -> np.dtype:
        name = onnx_type[len("tensor("):-1] if onnx_type.startswith("tensor(") else onnx_type
        return np.dtype({"float": "float32", "double": "float64", "string": "object"}.get(name, name))

    def __call__(self, xd: dict) -> list[np.ndarray]:
        feed = {k: np.asarray(v).astype(self._np_dtype(self.inputs[k].type)) for k, v in xd.items()}
        return [np.asarray(y) for y in self.session.run(self.output_keys, feed)]

    def run(self, xd: dict, batch: int = 64) -> list[np.ndarray]:
        chunks = [self({k: v[i:i + batch] for k, v in xd.items()}) for i in range(0, _n(xd), batch)]
        return [np.concatenate([c[j] for c in chunks]) for j in range(len(self.output_keys))]

    def io_info(self) -> dict:
        def shape(s):
            return [d if isinstance(d, int) else None for d in s]

        try:
            import onnx

            opset = max((o.version for o in onnx.load(str(self.path), load_external_data=False).opset_import
                         if o.domain in ("", "ai.onnx")), default=None)
        except Exception:  # pragma: no cover - onnx comes with tf2onnx
            opset = None
        return {"opset": opset, "providers": self.session.get_providers(),
                "inputs": [{"signature_key": i.name, "shape": shape(i.shape),
                            "dtype": self._np_dtype(i.type).name} for i in self.session.get_inputs()],
                "outputs": [{"signature_key": o.name, "shape": shape(o.shape),
                             "dtype": self._np_dtype(o.type).name} for o in self.session.get_outputs()]}


def convert_onnx(model, path: Path) -> None:
    """``model`` → ``path`` (``.onnx``) via Keras's ``format="onnx"`` exporter (tf2onnx), with the
    model's input signature (spec input names, dynamic batch) passed explicitly: without it Keras
    refuses a functional model that was loaded and never called ("The model provided has never
    called").

    Raises:
        RuntimeError: the extra is not installed (:data:`ONNX_EXTRA`); else tf2onnx's own error.
    """
    import warnings

    missing = onnx_missing()
    if missing:
        raise RuntimeError(missing)
    _register_onnx_erfc()
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # keras's tf2onnx numpy-2 patch probes np.object
        model.export(str(tmp), format="onnx", verbose=False, input_signature=_signature(model, None))


def _register_onnx_erfc() -> None:
    """Teach tf2onnx TensorFlow's ``Erfc``: exact GELU (``keras.activations.gelu``, the default
    of BERT/GPT feed-forward blocks) is ``0.5 x erfc(-x / sqrt 2)`` in TensorFlow, and tf2onnx 1.17
    has no handler for it ("Unsupported ops: Erfc"). ``erfc(x) = 1 - erf(x)``, with ONNX's own
    ``Erf`` (opset 9+). Registered once; a tf2onnx that already handles Erfc keeps its own."""
    import tf2onnx.onnx_opset  # noqa: F401 - registers tf2onnx's own handlers first
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    if any("Erfc" in handlers for handlers in tf_op.get_opsets().get("onnx", [])):
        return

    @tf_op("Erfc")
    class Erfc:  # noqa: F841 - registered by the decorator
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
            one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
            node.type = "Erf"
            ctx.insert_new_node_on_output("Sub", node.output[0], inputs=[one.output[0], node.output[0]],
                                          name=utils.make_name(f"{node.name}_erfc"))


# ----------------------------------------------------------------------------- string inputs

def split_text_vectorization(model, out_dir: Path | None = None):
    """For TFLite, whose builtin ops have no string kernels: the part of ``model`` after its
    ``TextVectorization`` layers.

    Every string input must feed exactly one ``TextVectorization`` layer. Returns
    ``(core, vectorize, notes)``: ``core`` is a ``keras.Model`` whose input ``<name>_tokens``
    takes that layer's integer output ``(batch, sequence_length)``; ``vectorize(xd)`` maps the
    original inputs to ``core``'s; each vocabulary is written to ``out_dir/<name>.vocabulary.txt``
    (one token per line; index = line number) and named in ``notes``. Returns None when the model
    has no string input.

    Raises:
        ValueError: a string input that does not feed one TextVectorization layer.
    """
    import keras

    strings = [t for t in model.inputs if str(t.dtype) == "string"]
    if not strings:
        return None
    if len(model.inputs) != 1:
        raise ValueError("TFLite export of a string input is supported for single-input models only")
    inp = strings[0]
    consumers = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)
                 and any(t is inp for t in keras.tree.flatten(l.input))]
    if len(consumers) != 1 or not isinstance(consumers[0], keras.layers.TextVectorization):
        raise ValueError(f"string input '{inp.name}' must feed exactly one TextVectorization layer for TFLite")
    tv = consumers[0]
    inner = keras.Model(tv.output, model.outputs)
    tokens = keras.Input(shape=tuple(tv.output.shape[1:]), dtype=str(tv.output.dtype), name=f"{inp.name}_tokens")
    core = keras.Model(tokens, inner(tokens), name=f"{model.name}_tokens")
    notes = [f"TFLite/ONNX take '{inp.name}_tokens' = the integer output of TextVectorization '{tv.name}' "
             f"(standardize={tv._standardize!r}, split={tv._split!r}, "
             f"output_sequence_length={tv._output_sequence_length}); strings are not builtin TFLite types"]
    if out_dir is not None:
        vocab = out_dir / f"{inp.name}.vocabulary.txt"
        from builder.atomic import write_text

        write_text(vocab, "\n".join(tv.get_vocabulary()) + "\n")
        notes.append(f"vocabulary exported beside the model: {vocab.name} (token index = line number, from 0)")

    def vectorize(xd: dict) -> dict:
        return {f"{inp.name}_tokens": np.asarray(tv(xd[inp.name]))}

    return core, vectorize, notes


# ----------------------------------------------------------------------------- conversion

def _converter_kwargs(quantization: str, representative: Callable | None, int_inputs: bool) -> dict:
    import tensorflow as tf

    builtins = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "none":
        return {"target_spec": {"supported_ops": builtins}}
    if quantization == "float16":
        return {"optimizations": [tf.lite.Optimize.DEFAULT],
                "target_spec": {"supported_ops": builtins, "supported_types": [tf.float16]}}
    if quantization == "dynamic":
        return {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": {"supported_ops": builtins}}
    kwargs = {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative}
    if quantization == "int8":  # int8 weights and activations; ops without an int8 kernel stay float
        kwargs["target_spec"] = {"supported_ops": builtins}
    else:  # int8-io: integer-only graph, int8 at the boundary where the inputs allow it
        kwargs["target_spec"] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]}
        if not int_inputs:
            kwargs["inference_input_type"] = tf.int8
        kwargs["inference_output_type"] = tf.int8
    return kwargs


def convert_tflite(model, path: Path, quantization: str, representative_x: dict | None = None) -> None:
    """Convert ``model`` to ``path`` (a ``.tflite``) with builtin ops only, in this process.

    Args:
        model: A built ``keras.Model``.
        path: Destination; written atomically.
        quantization: One of :data:`QUANTIZATIONS`.
        representative_x: ``{input_name: (n, ...)}`` training samples for int8 calibration
            (fed one at a time, batch 1).

    Raises:
        Exception: the converter's own error (e.g. an op that needs Flex); the caller reports it.
    """
    names = [t.name for t in model.inputs]
    int_inputs = any(np.dtype(str(t.dtype)).kind in "iub" for t in model.inputs)
    batch = 1 if recurrent_layers(model) else None
    representative = None
    if quantization in ("int8", "int8-io"):
        if not representative_x:
            raise ValueError("int8 quantization needs a representative sample of the training split")
        dtypes = {t.name: np.dtype(str(t.dtype)) for t in model.inputs}

        def representative():
            for i in range(_n(representative_x)):
                yield {n: representative_x[n][i:i + 1].astype(dtypes[n]) for n in names}

    kwargs = _converter_kwargs(quantization, representative, int_inputs)
    sig = _signature(model, batch)
    with atomic_path(path) as tmp:
        model.export(str(tmp), format="litert", verbose=False, input_signature=sig, **kwargs)


def _int8_in_subprocess(model_file: Path, reps: Path, jobs: list[tuple[str, Path]], has_rnn: bool,
                        unrolled: bool) -> dict[str, str | None]:
    """Run int8 conversions in a child process; ``{quantization: None if ok else reason}``."""
    args = [sys.executable, "-m", "builder.export.api", "int8", str(model_file), str(reps)]
    for q, p in jobs:
        args += [q, str(p)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    done: dict[str, str | None] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("DLBUILD_INT8 "):
            rec = json.loads(line[len("DLBUILD_INT8 "):])
            done[rec["quantization"]] = rec.get("error")
    if proc.returncode != 0:
        if proc.returncode < 0:
            import signal

            sig = signal.Signals(-proc.returncode).name
            cause = f"the TFLite converter crashed ({sig}) while calibrating int8"
        else:
            tail = [l for l in proc.stderr.strip().splitlines() if l.strip()][-1:] or ["no message"]
            cause = f"the int8 conversion process failed (exit {proc.returncode}): {tail[0][:300]}"
        if has_rnn and not unrolled:
            cause += ("; known for LSTM/GRU with a static batch (FACTS.md, LiteRT): set `unroll: true` on the "
                      "recurrent layers (fixed sequence length), or use quantization dynamic or float16")
        for q, _ in jobs:
            done.setdefault(q, cause)
    return done


def _int8_child(argv: list[str]) -> int:
    """Child side of :func:`_int8_in_subprocess`: ``MODEL.keras REPS.npz (QUANT OUT.tflite)...``."""
    model = load_keras(argv[0])
    with np.load(argv[1], allow_pickle=False) as npz:
        reps = {k: npz[k] for k in npz.files}
    pairs = list(zip(argv[2::2], argv[3::2]))
    for q, out in pairs:
        try:
            convert_tflite(model, Path(out), q, reps)
            err = None
        except Exception as exc:  # reported by the parent, per artifact
            err = _short(exc)
        print("DLBUILD_INT8 " + json.dumps({"quantization": q, "error": err}), flush=True)
    return 0


def _short(exc: BaseException) -> str:
    """One line of an exception: its type and the most telling line of its message."""
    text = str(exc).strip()
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    keep = next((l for l in lines if "Flex" in l or "not supported" in l or "error:" in l), lines[0] if lines else "")
    return f"{type(exc).__name__}: {keep[:400]}"


# ----------------------------------------------------------------------------- verification

def _check(entry: dict, ref: list[np.ndarray], got: list[np.ndarray], y_true, ref_acc: float | None,
           quantization: str, th: dict, classification: bool) -> None:
    """Fill ``max_abs_diff``, ``accuracy``, ``verdict``/``reason`` of ``entry`` (see module doc)."""
    if len(got) != len(ref) or any(g.shape != r.shape for g, r in zip(got, ref)):
        entry.update(verdict="failed", reason="output shapes differ from the Keras model's: "
                     f"{[g.shape for g in got]} vs {[r.shape for r in ref]}")
        return
    diffs = [np.abs(g.astype(np.float64) - r.astype(np.float64)) for g, r in zip(got, ref)]
    entry["max_abs_diff"] = float(max(d.max() for d in diffs)) if diffs else 0.0
    if not all(np.all(np.isfinite(g)) for g in got):
        entry.update(verdict="failed", reason="outputs contain NaN or infinity")
        return
    if classification:
        entry["accuracy"] = _accuracy(got[0], y_true)
        entry["reference_accuracy"] = ref_acc
    if quantization in ("none", "float16"):
        kind = "fp32" if quantization == "none" else "float16"
        atol, rtol = th[f"{kind}_atol"], th[f"{kind}_rtol"]
        ok = all(np.all(d <= atol + rtol * np.abs(r)) for d, r in zip(diffs, ref))
        entry["threshold"] = f"|Δ| <= {atol:g} + {rtol:g}·|reference|"
        if not ok:
            entry.update(verdict="failed", reason=f"max |Δ| {entry['max_abs_diff']:.3g} vs the Keras model exceeds "
                         f"the {kind} tolerance {atol:g} (+ {rtol:g}·|reference|)")
            return
    elif classification and ref_acc is not None:
        drop = ref_acc - entry["accuracy"]
        entry["threshold"] = f"accuracy drop <= {th['accuracy_drop'] * 100:g} points"
        if drop > th["accuracy_drop"] + 1e-12:
            entry.update(verdict="failed", reason=f"accuracy {entry['accuracy']:.4f} is {drop * 100:.2f} points "
                         f"below the float model's {ref_acc:.4f} (limit {th['accuracy_drop'] * 100:g} points)")
            return
    else:
        rel = max(float(d.mean() / (r.std() + 1e-12)) for d, r in zip(diffs, ref))
        entry["relative_error"] = rel
        entry["threshold"] = f"mean |Δ| / std(reference) <= {th['regression_rel']:g}"
        if rel > th["regression_rel"]:
            entry.update(verdict="failed", reason=f"mean |Δ| / std(reference) = {rel:.3g} exceeds "
                         f"{th['regression_rel']:g}")
            return
    entry.update(verdict="ok", reason=None)


def _artifact_name(fmt: str, q: str) -> str:
    if fmt == "keras":
        return "model.keras"
    if fmt == "saved_model":
        return "saved_model"
    if fmt == "onnx":
        return "model.onnx"
    return "model.tflite" if q == "none" else f"model.{q}.tflite"


def _verify(entry: dict, path: Path, *, model_inputs: list[str], xd: dict, ref: list[np.ndarray], y_true,
            ref_acc, th: dict, classification: bool) -> dict:
    """Load ``path`` with its runtime, run it on ``xd``, compare, time batch-1 calls.

    Returns the runtime's io description (for the sidecar), or None. Never raises: a failure is
    recorded in ``entry``.
    """
    fmt, q = entry["format"], entry["quantization"]
    xd1 = {k: v[:1] for k, v in xd.items()}
    try:
        if fmt == "keras":
            run, one, io = _run_keras(path)
        elif fmt == "saved_model":
            run, one, io = _run_saved_model(path, model_inputs)
        elif fmt == "onnx":
            r = ONNXRunner(path)
            run, one, io = r.run, r, r.io_info()
        else:
            r = TFLiteRunner(path)
            ops = op_names(path)
            entry["ops"] = ops
            flex = [o for o in ops if o.startswith("Flex") or o in ("DELEGATE", "CUSTOM")]
            if flex:
                entry.update(verdict="failed", reason=f"needs ops outside LiteRT's builtins: {', '.join(flex)}")
                return r.io_info()
            run, one, io = r.run, r, r.io_info()
    except Exception as exc:
        entry.update(verdict="failed", reason=f"cannot be loaded by its runtime: {_short(exc)}")
        return None
    try:
        got = run(xd)
    except Exception as exc:
        entry.update(verdict="failed", reason=f"failed to run on the check samples: {_short(exc)}")
        return io
    _check(entry, ref, got, y_true, ref_acc, q, th, classification)
    try:
        entry["latency_ms"] = _timed(lambda: one(xd1))
    except Exception as exc:  # pragma: no cover - it ran just above
        entry["latency_ms"] = None
        entry.setdefault("notes", []).append(f"latency not measured: {_short(exc)}")
    return io


def _sidecar(entry: dict, model_io: tuple, runtime_io: dict | None, class_names, task, notes) -> dict:
    ins, outs = model_io
    side = {"artifact": entry["artifact"], "format": entry["format"], "quantization": entry["quantization"],
            "inputs": [dict(i) for i in ins], "outputs": [dict(o) for o in outs],
            "task": task, "class_names": list(class_names) if class_names else None,
            "preprocessing": notes, "verdict": entry.get("verdict"), "batch": entry.get("batch")}
    if runtime_io and entry["format"] == "tflite":
        by_key = {d["signature_key"]: d for d in runtime_io["inputs"]}
        ordered = [by_key.get(i["name"]) for i in ins]
        if None in ordered:  # signature keys differ from the Keras names: fall back to order
            ordered = runtime_io["inputs"]
        for spec, rt in zip(side["inputs"], ordered):
            spec.update(signature_key=rt["signature_key"], shape=rt["shape"], dtype=rt["dtype"],
                        quantization=rt["quantization"])
        for spec, rt in zip(side["outputs"], runtime_io["outputs"]):
            spec.update(signature_key=rt["signature_key"], shape=rt["shape"], dtype=rt["dtype"],
                        quantization=rt["quantization"])
        side["signature"] = runtime_io["signature"]
        if any((d.get("quantization") or {}) for d in side["inputs"] + side["outputs"]):
            side["quantization_note"] = ("int8 tensors: q = clip(round(x / scale) + zero_point, -128, 127); "
                                         "x = (q - zero_point) * scale")
    elif runtime_io and entry["format"] == "onnx":
        for spec, rt in zip(side["inputs"], runtime_io["inputs"]):
            spec.update(signature_key=rt["signature_key"], shape=rt["shape"], dtype=rt["dtype"])
        for spec, rt in zip(side["outputs"], runtime_io["outputs"]):
            spec.update(signature_key=rt["signature_key"], shape=rt["shape"], dtype=rt["dtype"])
        side["opset"] = runtime_io["opset"]
        side["runtime"] = "onnxruntime"
    elif runtime_io and entry["format"] == "saved_model":
        for spec, key in zip(side["outputs"], runtime_io["output_keys"]):
            spec["signature_key"] = key
        for spec in side["inputs"]:
            spec["signature_key"] = spec["name"]
        side["signature"] = runtime_io["signature"]
    return side


# ----------------------------------------------------------------------------- public API

def export_model(model, out_dir: Path, formats: Iterable[str], quantization: str | Iterable[str] = "none", *,
                 representative_x=None, x_check=None, y_check=None, class_names=None, input_names=None,
                 thresholds: dict | None = None, report_path: Path | None = None, task: str | None = None,
                 log=print) -> dict:
    """Export ``model`` to ``out_dir`` in ``formats`` and verify every artifact by running it.

    Args:
        model: A built ``keras.Model`` (the reference every artifact is compared with).
        out_dir: Directory for the artifacts and their ``<artifact>.json`` sidecars.
        formats: Subset of :data:`FORMATS`. ``tflite`` is written once per quantization; ``onnx``
            needs the optional extra (``pip install "dlbuild[onnx]"``), checked before any work.
        quantization: One of :data:`QUANTIZATIONS`, or several; applies to ``tflite`` only.
        representative_x: Training samples ``(n, ...)`` or ``{input_name: (n, ...)}`` for int8
            calibration (required for int8 / int8-io).
        x_check, y_check: Held-out samples (same layout) and, for classification, their labels
            ``(n,)``. Without ``x_check`` 8 random inputs are used and only max |Δ| is checked.
        class_names: Class index → name, written to the sidecars.
        input_names: Kept for API symmetry; the Keras input names (the spec's) are used.
        thresholds: Overrides of :data:`DEFAULT_THRESHOLDS`.
        report_path: Where the report is written (default ``out_dir.parent / "export.json"``).
        task: ``classification`` | ``regression`` (default: classification when ``y_check`` holds
            integer labels).
        log: Progress lines.

    Returns:
        The report: ``{"artifacts": [entry, ...], "check_samples": n, "reference_accuracy": a}``;
        each entry holds ``artifact`` (path relative to ``out_dir.parent``), ``format``,
        ``quantization``, ``bytes``, ``max_abs_diff``, ``accuracy`` (classification), ``latency_ms``
        (median of 50 batch-1 calls, milliseconds, this machine, the runtime's default threads),
        ``batch`` (``"dynamic"`` or ``1``), ``verdict`` (``ok`` | ``failed``) and ``reason``.

    Raises:
        ExportError: any artifact failed to convert or to verify; the report (written first)
            is attached, and the message names each failed artifact and its failed check.
        ValueError: an unknown format or quantization.
    """
    import keras

    formats = list(dict.fromkeys(formats))
    quants = [quantization] if isinstance(quantization, str) else list(dict.fromkeys(quantization))
    bad = [f for f in formats if f not in FORMATS] + [q for q in quants if q not in QUANTIZATIONS]
    if bad:
        raise ValueError(f"unknown export format/quantization {bad}; formats: {', '.join(FORMATS)}; "
                         f"quantization: {', '.join(QUANTIZATIONS)}")
    if "onnx" in formats and onnx_missing():  # fail before any work, not after the other formats
        raise ExportError(onnx_missing(), {}, [(str(Path(out_dir).name) + "/model.onnx", onnx_missing())])
    th = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Leftovers of a killed export: temporary names start with "." (builder.atomic.atomic_path).
    for stale in out_dir.glob(".*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    root = out_dir.parent
    report_path = Path(report_path) if report_path else root / "export.json"
    names = [t.name for t in model.inputs]
    if x_check is None:
        rng = np.random.default_rng(0)
        x_check = {t.name: _random_input(rng, t) for t in model.inputs}
        y_check = None
        log("dlbuild: no held-out data: checking max |Δ| on 8 random inputs only")
    xd = _as_dict(x_check, names)
    rep = _as_dict(representative_x, names) if representative_x is not None else None
    if y_check is not None and task is None:
        task = "classification" if np.asarray(y_check).dtype.kind in "iub" else "regression"
    classification = _is_classification(task, y_check, model)
    ref = _keras_predict(model, xd)
    ref_acc = _accuracy(ref[0], y_check) if classification else None
    model_io = _io_specs(model)
    notes = preprocessing_notes(model)
    rnn = recurrent_layers(model)
    unrolled = bool(rnn) and all(getattr(l, "unroll", False) for l in rnn)
    common = dict(y_true=y_check, ref=ref, ref_acc=ref_acc, th=th, classification=classification)
    full = dict(model_inputs=names, xd=xd)

    jobs = [("keras", "none")] if "keras" in formats else []
    jobs += [("saved_model", "none")] if "saved_model" in formats else []
    jobs += [("tflite", q) for q in quants] if "tflite" in formats else []
    jobs += [("onnx", "none")] if "onnx" in formats else []
    entries = []
    # TFLite and ONNX: the model itself, or for string inputs its part after TextVectorization.
    tfl_model, tfl, tfl_io, tfl_notes, tfl_error = model, full, model_io, notes, None
    if "tflite" in formats or "onnx" in formats:
        try:
            split = split_text_vectorization(model, out_dir)
        except ValueError as exc:
            split, tfl_error = None, str(exc)
        if split:
            tfl_model, vectorize, extra = split
            tfl = dict(model_inputs=[t.name for t in tfl_model.inputs], xd=vectorize(xd))
            rep = vectorize(rep) if rep is not None else None
            tfl_io, tfl_notes = (_io_specs(tfl_model)[0], model_io[1]), notes + extra
            for line in extra:
                log(f"dlbuild: {line}")
    int8_results: dict[str, str | None] = {}
    int8_jobs = [(q, out_dir / _artifact_name("tflite", q)) for f, q in jobs if f == "tflite" and q.startswith("int8")]
    if int8_jobs and not tfl_error:
        if rep is None:
            int8_results = {q: "int8 calibration needs a representative sample of the training split "
                               "(export a run directory, not a bare model file)" for q, _ in int8_jobs}
        else:
            with tempfile.TemporaryDirectory(dir=out_dir, prefix=".int8-") as tmp:
                mfile, rfile = Path(tmp) / "model.keras", Path(tmp) / "representative.npz"
                tfl_model.save(mfile)
                np.savez(rfile, **rep)
                log(f"dlbuild: int8 calibration on {_n(rep)} training samples (child process)")
                int8_results = _int8_in_subprocess(mfile, rfile, int8_jobs, bool(rnn), unrolled)

    for fmt, q in jobs:
        name = _artifact_name(fmt, q)
        path = out_dir / name
        entry = {"artifact": str(path.relative_to(root)), "format": fmt, "quantization": q,
                 "bytes": None, "max_abs_diff": None, "accuracy": None, "latency_ms": None,
                 "batch": 1 if (fmt == "tflite" and rnn) else "dynamic", "verdict": None, "reason": None}
        entries.append(entry)
        try:
            if fmt in LOWERED and tfl_error:
                raise RuntimeError(tfl_error)
            if fmt == "keras":
                with atomic_path(path) as tmp:
                    model.save(tmp)
            elif fmt == "saved_model":
                with atomic_path(path) as tmp:
                    model.export(str(tmp), format="tf_saved_model", verbose=False)
                if path.exists() and not path.is_dir():
                    raise RuntimeError("SavedModel export did not produce a directory")
            elif fmt == "onnx":
                convert_onnx(tfl_model, path)
            elif q.startswith("int8"):
                if int8_results.get(q, "the int8 child process reported nothing"):
                    raise RuntimeError(int8_results.get(q, "the int8 child process reported nothing"))
            else:
                convert_tflite(tfl_model, path, q, rep)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, RuntimeError) else _short(exc)
            if "Flex" in reason or "not supported" in reason:
                reason = ("needs TensorFlow (Flex) ops outside LiteRT's builtins; not shipped: " + reason)
            entry.update(verdict="failed", reason=f"conversion failed: {reason}")
            _remove(path)
            log("  " + describe(entry))
            continue
        entry["bytes"] = _size(path)
        io = _verify(entry, path, **common, **(tfl if fmt in LOWERED else full))
        write_json(out_dir / f"{name}.json", _sidecar(entry, tfl_io if fmt in LOWERED else model_io, io,
                                                       class_names, task, tfl_notes if fmt in LOWERED else notes))
        log("  " + describe(entry))
    report = {"artifacts": entries, "check_samples": _n(xd), "reference_accuracy": ref_acc, "task": task,
              "thresholds": th, "versions": _versions(keras)}
    write_json(report_path, report)
    failed = [(e["artifact"], e["reason"]) for e in entries if e["verdict"] != "ok"]
    if failed:
        raise ExportError("; ".join(f"{a}: {r}" for a, r in failed), report, failed)
    return report


def _random_input(rng, t) -> np.ndarray:
    """8 random samples for input tensor ``t`` (strings: a fixed sentence; ints: 0/1; floats: U[0, 1))."""
    shape = (8, *[d or 1 for d in t.shape[1:]])
    dtype = str(t.dtype)
    if dtype == "string":
        return np.full(shape, "the quick brown fox", dtype=object)
    if np.dtype(dtype).kind in "iub":
        return rng.integers(0, 2, shape).astype(dtype)
    return rng.uniform(0, 1, shape).astype(dtype)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def _versions(keras) -> dict:
    import tensorflow as tf

    from importlib.metadata import version

    try:
        litert = version("ai-edge-litert")
    except Exception:  # pragma: no cover
        litert = None
    out = {"keras": keras.__version__, "tensorflow": tf.__version__, "ai_edge_litert": litert}
    for dist in ("tf2onnx", "onnxruntime"):
        try:
            out[dist] = version(dist)
        except Exception:
            pass
    return out


def describe(entry: dict) -> str:
    """One readable line for an export.json entry."""
    parts = [f"{entry['artifact']}: {entry['verdict'] or '?'}"]
    if entry.get("bytes") is not None:
        parts.append(f"{entry['bytes'] / 1024:.1f} KiB")
    if entry.get("max_abs_diff") is not None:
        parts.append(f"max|Δ| {entry['max_abs_diff']:.2g}")
    if entry.get("accuracy") is not None:
        parts.append(f"accuracy {entry['accuracy']:.4f}")
    if entry.get("latency_ms") is not None:
        parts.append(f"{entry['latency_ms']:.3f} ms/sample")
    line = ", ".join(parts)
    return line + (f" -- {entry['reason']}" if entry.get("reason") else "")


def _run_data(spec, check_samples: int, calibration_samples: int):
    """(x_check, y_check, representative_x, class_names, task) from the spec's splits."""
    from builder.data.splits import take
    from builder.data.load import load_splits

    splits = load_splits(spec)
    xt, yt = splits.test
    idx = np.arange(min(check_samples, len(yt)))
    xtr, _ = splits.train
    n_train = len(next(iter(xtr.values()))) if isinstance(xtr, dict) else len(xtr)
    rng = np.random.default_rng(spec.seed)
    ridx = np.sort(rng.choice(n_train, size=min(calibration_samples, n_train), replace=False))
    return take(xt, idx), yt[idx], take(xtr, ridx), splits.class_names, splits.task


def export_run(run_dir: Path, formats=None, quantization=None, log=print, *, check_samples: int = 500,
               calibration_samples: int = 200, thresholds: dict | None = None) -> dict:
    """Export a finished run: ``run_dir/model.keras`` → ``run_dir/export/``, report in
    ``run_dir/export.json``.

    Args:
        run_dir: A run directory written by ``dlbuild fit`` (``model.keras``, ``spec.resolved.yaml``).
        formats: Default: the spec's ``export.formats``.
        quantization: str or list; default: the spec's ``export.quantization``. ``tflite`` fp32
            (``none``) is always included beside a quantized mode, as its baseline.
        check_samples: Held-out (test split) samples used for verification.
        calibration_samples: Training samples (a seeded random subset) for int8 calibration.
        thresholds: Overrides of :data:`DEFAULT_THRESHOLDS`.

    Returns:
        The report (see :func:`export_model`).

    Raises:
        ExportError: an artifact failed (report written first).
        SpecError: the run's data cannot be loaded (spec problems, located).
        FileNotFoundError: ``run_dir`` holds no ``model.keras`` / ``spec.resolved.yaml``.
    """
    run_dir = Path(run_dir)
    for need in ("model.keras", "spec.resolved.yaml"):
        if not (run_dir / need).is_file():
            raise FileNotFoundError(f"{run_dir} is not a finished dlbuild run: {need} is missing")
    spec = load_run_spec(run_dir)
    formats = list(formats or spec.export.get("formats") or ["keras"])
    quantization = quantization or spec.export.get("quantization", "none")
    quants = [quantization] if isinstance(quantization, str) else list(quantization)
    if "tflite" in formats and "none" not in quants:
        quants = ["none", *quants]
    model = load_keras(run_dir / "model.keras")
    x_check, y_check, rep, class_names, task = _run_data(spec, check_samples, calibration_samples)
    log(f"dlbuild: exporting {run_dir} ({', '.join(formats)}; tflite: {', '.join(quants)})")
    return export_model(model, run_dir / "export", formats, quants, representative_x=rep, x_check=x_check,
                        y_check=y_check, class_names=class_names, thresholds=thresholds,
                        report_path=run_dir / "export.json", task=task, log=log)


def verify_run(run_dir: Path, log=print, *, check_samples: int = 500, thresholds: dict | None = None) -> dict:
    """Re-verify the artifacts listed in ``run_dir/export.json`` against ``run_dir/model.keras``
    without re-exporting them (detects artifacts changed or damaged after export).

    Returns:
        The refreshed report, also written to ``export.json``.

    Raises:
        ExportError: an artifact is missing or fails its check (message names it and the check).
        FileNotFoundError: no ``export.json`` (run ``dlbuild export`` first).
    """
    run_dir = Path(run_dir)
    report_path = run_dir / "export.json"
    if not report_path.is_file():
        raise FileNotFoundError(f"{run_dir} has no export.json; run 'dlbuild export {run_dir}' first")
    old = json.loads(report_path.read_text())
    spec = load_run_spec(run_dir)
    model = load_keras(run_dir / "model.keras")
    x_check, y_check, _, _, task = _run_data(spec, check_samples, 1)
    th = {**DEFAULT_THRESHOLDS, **old.get("thresholds", {}), **(thresholds or {})}
    names = [t.name for t in model.inputs]
    xd = _as_dict(x_check, names)
    classification = _is_classification(task, y_check, model)
    ref = _keras_predict(model, xd)
    ref_acc = _accuracy(ref[0], y_check) if classification else None
    split = split_text_vectorization(model) if any(str(t.dtype) == "string" for t in model.inputs) else None
    tfl = ({"model_inputs": [t.name for t in split[0].inputs], "xd": split[1](xd)} if split
           else {"model_inputs": names, "xd": xd})
    entries = []
    for e in old.get("artifacts", []):
        entry = {**e, "verdict": None, "reason": None, "max_abs_diff": None, "accuracy": None, "latency_ms": None}
        path = run_dir / e["artifact"]
        entries.append(entry)
        if not path.exists():
            entry.update(verdict="failed", reason="artifact is missing")
        else:
            entry["bytes"] = _size(path)
            data = tfl if e["format"] in LOWERED else {"model_inputs": names, "xd": xd}
            _verify(entry, path, **data, ref=ref, y_true=y_check, ref_acc=ref_acc, th=th,
                    classification=classification)
        log("  " + describe(entry))
    report = {**old, "artifacts": entries, "check_samples": _n(xd), "reference_accuracy": ref_acc}
    write_json(report_path, report)
    failed = [(e["artifact"], e["reason"]) for e in entries if e["verdict"] != "ok"]
    if failed:
        raise ExportError("; ".join(f"{a}: {r}" for a, r in failed), report, failed)
    return report


if __name__ == "__main__":  # the int8 child process (see _int8_in_subprocess)
    if len(sys.argv) >= 2 and sys.argv[1] == "int8":
        sys.exit(_int8_child(sys.argv[2:]))
    sys.exit("usage: python -m builder.export.api int8 MODEL.keras REPS.npz (QUANT OUT.tflite)...")
