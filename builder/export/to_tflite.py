"""Keras model → ``.tflite`` (LiteRT) with builtin ops only, and the check of a result's ops.

Input: a built ``keras.Model`` (for string inputs: its part after ``TextVectorization``), a
quantization mode of :mod:`builder.export.quantizations` and, for int8, training samples
``{input_name: (n, ...)}``. Output: the ``.tflite`` file, written atomically.

LiteRT facts relied on (docs/architecture.md, "Verified facts: LiteRT"; re-checked with
tensorflow 2.21 / keras 3.15 / ai-edge-litert 2.3):

* Keras's ``format="litert"`` exporter enables ``SELECT_TF_OPS`` by default, so a model that needs
  TensorFlow (Flex) ops "converts" into a file no builtin interpreter runs. The converter options
  always restrict to builtin ops, and :func:`builtin_check` lists the ops of the result, so such a
  model is reported, never shipped silently.
* LSTM/GRU with a dynamic batch need Flex ops; with a static batch-1 ``input_signature`` they
  become a builtin ``WHILE``. Recurrent models therefore get a batch-1 signature.

Source: ``keras/src/export/litert.py`` (converter kwargs are set on ``tf.lite.TFLiteConverter``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from builder.atomic import atomic_path
from builder.export.batches import n_samples
from builder.export.model_facts import input_signature, recurrent_layers
from builder.export.quantizations import QUANTIZATION_TABLE


def convert_tflite(model, path: Path, quantization: str, representative_x: dict | None = None) -> None:
    """Convert ``model`` to ``path`` (a ``.tflite``) with builtin ops only, in this process.

    Args:
        model: A built ``keras.Model``.
        path: Destination; written atomically.
        quantization: A name of :data:`~builder.export.quantizations.QUANTIZATION_TABLE`.
        representative_x: ``{input_name: (n, ...)}`` training samples for int8 calibration
            (fed one at a time, batch 1).

    Raises:
        ValueError: an int8 mode without ``representative_x``.
        Exception: the converter's own error (e.g. an op that needs Flex); the caller reports it.
    """
    names = [t.name for t in model.inputs]
    int_inputs = any(np.dtype(str(t.dtype)).kind in "iub" for t in model.inputs)
    batch = 1 if recurrent_layers(model) else None
    mode = QUANTIZATION_TABLE[quantization]
    representative = None
    if mode.calibrated:
        if not representative_x:
            raise ValueError("int8 quantization needs a representative sample of the training split")
        dtypes = {t.name: np.dtype(str(t.dtype)) for t in model.inputs}

        def representative():
            for i in range(n_samples(representative_x)):
                yield {n: representative_x[n][i:i + 1].astype(dtypes[n]) for n in names}

    kwargs = mode.options(representative, int_inputs)
    sig = input_signature(model, batch)
    with atomic_path(path) as tmp:
        model.export(str(tmp), format="litert", verbose=False, input_signature=sig, **kwargs)


def op_names(path: Path) -> list[str]:
    """Distinct op names of a ``.tflite`` file, read with the builtin resolver without delegates
    (docs/architecture.md, "Verified facts: LiteRT")."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return sorted({d["op_name"] for d in it._get_ops_details()})


def builtin_check(path: Path) -> tuple[list[str], str | None]:
    """``(op names, None)`` for a ``.tflite`` that runs on LiteRT's builtin ops, else
    ``(op names, reason)`` naming the Flex / delegate / custom ops it needs."""
    ops = op_names(path)
    flex = [o for o in ops if o.startswith("Flex") or o in ("DELEGATE", "CUSTOM")]
    return ops, (f"needs ops outside LiteRT's builtins: {', '.join(flex)}" if flex else None)
