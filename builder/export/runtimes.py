"""Runners that execute an exported artifact with its own runtime: Keras, SavedModel, LiteRT, ONNX.

Every runner takes a path and offers the same interface, used by verification
(:mod:`builder.export.verify`) and by ``dlbuild predict`` (:mod:`builder.export.predictor`):

* ``run(xd)``: ``{input_name: (n, ...)}`` → list of ``(n, ...)`` arrays, one per model output, in
  the model's output order (float; int8 outputs dequantized);
* ``runner(xd1)``: one call on a batch (batch 1 for LiteRT), for latency;
* ``io_info()``: the runtime's own view of inputs/outputs (signature keys, shapes, dtypes,
  quantization) for the sidecar, or None;
* ``input_specs()``: ``[(name, shape without the batch axis, dtype)]`` the caller must feed.

A runner raises ``RuntimeError`` when the artifact cannot be used as exported (no serving
signature, a missing optional extra), else its runtime's own error.

Keras, TensorFlow, LiteRT and onnxruntime are imported inside the runners.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from builder.export.batches import as_output_list, in_chunks
from builder.export.to_onnx import ONNX_EXTRA
from builder.run.artifacts import load_keras

SIGNATURE = "serving_default"


def output_order(key: str):
    """Sort key of output signature keys: ``output_0``, ``output_1``, …, ``output_10`` numerically."""
    tail = key.rsplit("_", 1)[-1]
    return (int(tail), key) if tail.isdigit() else (1 << 30, key)


def _keras_input(model, xd: dict):
    names = [t.name for t in model.inputs]
    return xd[names[0]] if len(names) == 1 else [xd[n] for n in names]


def keras_predict(model, xd: dict, batch: int = 64) -> list[np.ndarray]:
    """Eager calls of an in-memory ``model`` on chunks of ``batch`` samples (``training=False``).

    Args:
        xd: ``{input_name: (n, ...)}``.

    Returns:
        One ``(n, ...)`` array per model output.
    """
    return in_chunks(lambda chunk: as_output_list(model(_keras_input(model, chunk), training=False)), xd, batch)


class KerasRunner:
    """Runs a ``.keras`` file loaded with :func:`builder.run.artifacts.load_keras` (``safe_mode``).

    Attributes:
        model: The loaded ``keras.Model``.
    """

    def __init__(self, path: Path, input_names: list[str] | None = None):
        self.model = load_keras(path)

    def run(self, xd: dict) -> list[np.ndarray]:
        """All samples, in chunks of 64 (:func:`keras_predict`)."""
        return keras_predict(self.model, xd)

    def __call__(self, xd: dict):
        return self.model(_keras_input(self.model, xd), training=False)

    def io_info(self) -> None:
        """None: the Keras model's own inputs/outputs are the sidecar's."""
        return None

    def input_specs(self) -> list[tuple]:
        """``[(input name, shape without batch, dtype)]`` of the model."""
        return [(t.name, tuple(t.shape[1:]), str(t.dtype)) for t in self.model.inputs]


class SavedModelRunner:
    """Runs a SavedModel directory through its ``serving_default`` signature, 64 samples a call.

    Args:
        input_names: The Keras model's input names, which the signature's inputs must carry
            (None: not checked, the signature's own names are used).

    Raises:
        RuntimeError: no ``serving_default`` signature, or one without the model's input names.
    """

    def __init__(self, path: Path, input_names: list[str] | None = None):
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        if SIGNATURE not in loaded.signatures:
            raise RuntimeError(f"no '{SIGNATURE}' signature (found: {', '.join(loaded.signatures) or 'none'})")
        self.fn = loaded.signatures[SIGNATURE]
        self.inputs = self.fn.structured_input_signature[1]
        missing = [n for n in input_names or [] if n not in self.inputs]
        if missing:
            raise RuntimeError(f"the serving signature's inputs {sorted(self.inputs)} do not carry the model's "
                               f"input names {input_names}")
        self.output_keys = sorted(self.fn.structured_outputs, key=output_order)

    def __call__(self, xd: dict) -> list[np.ndarray]:
        import tensorflow as tf

        res = self.fn(**{n: tf.constant(v, dtype=self.inputs[n].dtype) for n, v in xd.items()})
        return [res[k].numpy() for k in self.output_keys]

    def run(self, xd: dict) -> list[np.ndarray]:
        """All samples, 64 per signature call; outputs in ``output_keys`` order."""
        return in_chunks(self, xd, 64)

    def io_info(self) -> dict:
        """``{"signature", "input_keys", "output_keys"}`` of the serving signature."""
        return {"signature": SIGNATURE, "input_keys": list(self.inputs), "output_keys": self.output_keys}

    def input_specs(self) -> list[tuple]:
        """``[(signature input key, shape without batch, dtype)]``."""
        return [(k, tuple(v.shape[1:]), v.dtype.name) for k, v in self.inputs.items()]


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

    def __init__(self, path: Path, input_names: list[str] | None = None, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        self.inputs = self.runner.get_input_details()
        self.outputs = self.runner.get_output_details()
        self.output_keys = sorted(self.outputs, key=output_order)

    def quant(self, key: str, io: str = "inputs") -> dict | None:
        """``{"scale": s, "zero_point": z}`` of an int8/uint8 tensor, else None."""
        d = (self.inputs if io == "inputs" else self.outputs)[key]
        scale, zp = d["quantization"]
        if np.dtype(d["dtype"]) in (np.int8, np.uint8) and scale:
            return {"scale": float(scale), "zero_point": int(zp)}
        return None

    def _feed(self, key: str, x: np.ndarray) -> np.ndarray:
        dtype = np.dtype(self.inputs[key]["dtype"])
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
        return in_chunks(self, xd, 1)

    def io_info(self) -> dict:
        """``{"signature", "inputs", "outputs"}``: per tensor its signature key, static shape
        (``shape_signature``, -1 = dynamic), dtype and int8 quantization (or None)."""

        def info(details, io):
            return [{"signature_key": k, "shape": [int(s) for s in details[k]["shape_signature"]],
                     "dtype": np.dtype(details[k]["dtype"]).name, "quantization": self.quant(k, io)}
                    for k in (sorted(details, key=output_order) if io == "outputs" else details)]
        return {"signature": SIGNATURE, "inputs": info(self.inputs, "inputs"), "outputs": info(self.outputs, "outputs")}

    def input_specs(self) -> list[tuple]:
        """int8 inputs are listed as float32: :meth:`__call__` quantizes them for the caller."""
        return [(key, tuple(int(s) for s in d["shape_signature"][1:]),
                 "float32" if self.quant(key) else np.dtype(d["dtype"]).name) for key, d in self.inputs.items()]


class ONNXRunner:
    """Runs a ``.onnx`` file with ``onnxruntime.InferenceSession`` (CPU provider), 64 samples a
    call. Inputs are named like the Keras model's inputs (Keras passes the input signature's names
    to tf2onnx); outputs come in model-output order (``Identity:0``, ``Identity_1:0``, …). The
    batch axis is dynamic.

    Raises:
        RuntimeError: onnxruntime is not installed (:data:`~builder.export.to_onnx.ONNX_EXTRA`).
        Exception: onnxruntime's own error for a file it cannot load.
    """

    def __init__(self, path: Path, input_names: list[str] | None = None, num_threads: int | None = None):
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
        """All samples, ``batch`` per session call."""
        return in_chunks(self, xd, batch)

    def io_info(self) -> dict:
        """``{"opset", "providers", "inputs", "outputs"}``: per tensor its name, shape (None =
        dynamic) and dtype."""

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

    def input_specs(self) -> list[tuple]:
        """``[(input name, shape without batch, dtype)]``; string tensors as ``string``."""
        return [(i["signature_key"], tuple(i["shape"][1:]), i["dtype"].replace("object", "string"))
                for i in self.io_info()["inputs"]]
