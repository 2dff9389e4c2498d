"""Keras model → ``.onnx`` (tf2onnx, through Keras's ``format="onnx"`` exporter), an optional extra.

Input: a built ``keras.Model`` (for string inputs: its part after ``TextVectorization``, see
:mod:`builder.export.lowering`). Output: the ``.onnx`` file, written atomically, with the spec's
input names and a dynamic batch axis. Also teaches tf2onnx TensorFlow's ``Erfc`` op (exact GELU).
tf2onnx and TensorFlow are imported inside the functions.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from builder.atomic import atomic_path
from builder.export.model_facts import input_signature

#: ONNX is an optional extra: ``tf2onnx`` converts (through Keras's ``format="onnx"``), onnxruntime verifies.
ONNX_EXTRA = 'ONNX export needs the optional extra: pip install "dlbuild[onnx]" (tf2onnx, onnxruntime)'


def onnx_missing() -> str | None:
    """None when tf2onnx and onnxruntime import, else :data:`ONNX_EXTRA` plus the missing modules."""
    missing = [m for m in ("tf2onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    return f"{ONNX_EXTRA}; missing: {', '.join(missing)}" if missing else None


def convert_onnx(model, path: Path, quantization: str = "none", representative_x: dict | None = None) -> None:
    """``model`` → ``path`` (``.onnx``) via Keras's ``format="onnx"`` exporter (tf2onnx), with the
    model's input signature (spec input names, dynamic batch) passed explicitly: without it Keras
    refuses a functional model that was loaded and never called ("The model provided has never
    called"). ``quantization`` (always ``none``) and ``representative_x`` are unused: the
    signature every converter of :mod:`builder.export.formats` shares.

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
        model.export(str(tmp), format="onnx", verbose=False, input_signature=input_signature(model, None))


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
