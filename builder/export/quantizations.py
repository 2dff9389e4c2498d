"""The table of TFLite quantization modes: converter options and how each mode is verified.

One :class:`Quantization` per name of :data:`builder.catalog.formats.QUANTIZATIONS` (checked at
import). Inputs: a mode name. Outputs: the ``tf.lite.TFLiteConverter`` options Keras's
``format="litert"`` exporter passes on (builtin ops only, always: docs/architecture.md, "Verified
facts: LiteRT"), whether the mode needs int8 calibration (run in a child process,
:mod:`builder.export.quantize`), and which tolerance verifies it (:mod:`builder.export.verify`).
TensorFlow is imported inside the option builders.

Sources: https://ai.google.dev/edge/litert/models/post_training_quantization (modes, the
representative dataset), https://ai.google.dev/edge/litert/models/ops_select (Flex ops).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from builder.catalog.formats import QUANTIZATIONS


@dataclass(frozen=True)
class Quantization:
    """One TFLite quantization mode.

    Attributes:
        name: As in the spec (``export.quantization``) and ``--quantization``.
        tolerance: ``"fp32"`` / ``"float16"``: verified by max |Δ| against the Keras model with the
            ``<tolerance>_atol`` / ``_rtol`` thresholds; None: by the accuracy drop
            (classification) or mean |Δ| / std(reference) (regression).
        calibrated: Needs a representative sample of the training split (int8 calibration).
        options: ``(representative, int_inputs) -> converter kwargs``; ``representative`` yields
            batch-1 ``{input_name: array}`` samples, ``int_inputs`` says whether the model has
            integer inputs (which cannot take ``inference_input_type=int8``).
    """

    name: str
    tolerance: str | None
    calibrated: bool
    options: Callable[[Callable | None, bool], dict]


def _builtins() -> list:
    import tensorflow as tf

    return [tf.lite.OpsSet.TFLITE_BUILTINS]


def _fp32(representative, int_inputs) -> dict:
    return {"target_spec": {"supported_ops": _builtins()}}


def _float16(representative, int_inputs) -> dict:
    import tensorflow as tf

    return {"optimizations": [tf.lite.Optimize.DEFAULT],
            "target_spec": {"supported_ops": _builtins(), "supported_types": [tf.float16]}}


def _dynamic(representative, int_inputs) -> dict:
    import tensorflow as tf

    return {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": {"supported_ops": _builtins()}}


def _int8(representative, int_inputs) -> dict:
    """int8 weights and activations; ops without an int8 kernel stay float."""
    import tensorflow as tf

    return {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative,
            "target_spec": {"supported_ops": _builtins()}}


def _int8_io(representative, int_inputs) -> dict:
    """Integer-only graph, int8 at the boundary where the inputs allow it (token ids stay int32)."""
    import tensorflow as tf

    kwargs = {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative,
              "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]}}
    if not int_inputs:
        kwargs["inference_input_type"] = tf.int8
    kwargs["inference_output_type"] = tf.int8
    return kwargs


#: Every quantization mode, by name, in :data:`builder.catalog.formats.QUANTIZATIONS` order.
QUANTIZATION_TABLE = {q.name: q for q in (
    Quantization("none", "fp32", False, _fp32),
    Quantization("float16", "float16", False, _float16),
    Quantization("dynamic", None, False, _dynamic),
    Quantization("int8", None, True, _int8),
    Quantization("int8-io", None, True, _int8_io),
)}
assert tuple(QUANTIZATION_TABLE) == QUANTIZATIONS, "builder.catalog.formats.QUANTIZATIONS and this table differ"
