"""The export formats and TFLite quantizations dlbuild knows, by name: the one enumeration of each.

Inputs: none. Outputs: :data:`FORMATS` and :data:`QUANTIZATIONS`, tuples of names in the order
artifacts are written and listed. The spec (``export.formats``, ``export.quantization``), the CLI's
``--format`` / ``--quantization`` choices and :mod:`builder.export.formats` (which registers a
converter and a runtime per name, and checks that it covers every name here) all read them. No
TensorFlow, no NumPy: ``dlbuild validate`` reads this module.
"""

from __future__ import annotations

#: Artifact formats, in the order ``dlbuild export`` writes them: ``.keras``, a SavedModel
#: directory, LiteRT (TFLite) flatbuffers (one per quantization), ONNX (optional extra).
FORMATS = ("keras", "saved_model", "tflite", "onnx")

#: TFLite quantization modes (docs/architecture.md, "Verified facts: LiteRT"): float32, float16
#: weights, int8 weights (dynamic range), int8 calibrated, integer-only with int8 inputs/outputs.
QUANTIZATIONS = ("none", "float16", "dynamic", "int8", "int8-io")
