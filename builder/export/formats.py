"""The table of export formats: per format its artifact name, converter, runtime and sidecar part.

One :class:`Format` per name of :data:`builder.catalog.formats.FORMATS` (checked at import), so
adding a format is one entry here (plus its name in the catalog, which the spec reads). Export
(:mod:`builder.export.api`), verification (:mod:`builder.export.verify`) and ``dlbuild predict``
(:mod:`builder.export.predictor`) look formats up here instead of dispatching on names. Inputs:
format and quantization names. Outputs: :class:`Format` entries and the ``(format,
quantization)`` jobs of an export. TensorFlow is imported only by the converters and runtimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from builder.catalog.formats import FORMATS, QUANTIZATIONS
from builder.export import report, runtimes
from builder.export.to_keras import convert_keras
from builder.export.to_onnx import convert_onnx
from builder.export.to_saved_model import convert_saved_model
from builder.export.to_tflite import builtin_check, convert_tflite


@dataclass(frozen=True)
class Format:
    """One export format.

    Attributes:
        name: As in the spec (``export.formats``) and ``--format``.
        artifact: ``quantization -> name`` of the file or directory in ``<run>/export/``.
        convert: ``(model, path, quantization, representative_x) -> None``, written atomically;
            raises the converter's error.
        runtime: ``(path, input_names) -> runner`` (:mod:`builder.export.runtimes`).
        recognizes: ``path -> bool``: ``path`` is an artifact of this format (``dlbuild predict``).
        per_quantization: One artifact per TFLite quantization (else quantization ``none`` only).
        lowered: Takes the model after its ``TextVectorization`` (no string kernels,
            :mod:`builder.export.lowering`), with the inputs vectorized.
        recurrent_batch: The batch axis of a model with recurrent layers: ``1`` (static) or
            ``"dynamic"``.
        builtin_check: ``path -> (ops, reason | None)`` run before verification, or None.
        sidecar_io: The format's part of the sidecar (:func:`builder.export.report.sidecar`).
    """

    name: str
    artifact: Callable[[str], str]
    convert: Callable
    runtime: Callable
    recognizes: Callable[[Path], bool]
    per_quantization: bool = False
    lowered: bool = False
    recurrent_batch: int | str = "dynamic"
    builtin_check: Callable[[Path], tuple] | None = None
    sidecar_io: Callable | None = None


def _file(suffix: str) -> Callable[[Path], bool]:
    return lambda path: path.suffix == suffix and path.is_file()


#: Every format, by name, in :data:`builder.catalog.formats.FORMATS` order (the order of export.json).
FORMAT_TABLE = {f.name: f for f in (
    Format("keras", lambda q: "model.keras", convert_keras, runtimes.KerasRunner, _file(".keras")),
    Format("saved_model", lambda q: "saved_model", convert_saved_model, runtimes.SavedModelRunner,
           lambda path: path.is_dir() and (path / "saved_model.pb").is_file(), sidecar_io=report.saved_model_io),
    # LSTM/GRU need a static batch-1 signature to avoid Flex ops (docs/architecture.md, "Verified facts: LiteRT").
    Format("tflite", lambda q: "model.tflite" if q == "none" else f"model.{q}.tflite", convert_tflite,
           runtimes.TFLiteRunner, _file(".tflite"), per_quantization=True, lowered=True, recurrent_batch=1,
           builtin_check=builtin_check, sidecar_io=report.tflite_io),
    Format("onnx", lambda q: "model.onnx", convert_onnx, runtimes.ONNXRunner, _file(".onnx"), lowered=True,
           sidecar_io=report.onnx_io),
)}
assert tuple(FORMAT_TABLE) == FORMATS, "builder.catalog.formats.FORMATS and this table differ"


def check_names(formats: Iterable[str], quantizations: Iterable[str]) -> None:
    """Raises ValueError naming every unknown format or quantization and listing the known ones."""
    bad = [f for f in formats if f not in FORMATS] + [q for q in quantizations if q not in QUANTIZATIONS]
    if bad:
        raise ValueError(f"unknown export format/quantization {bad}; formats: {', '.join(FORMATS)}; "
                         f"quantization: {', '.join(QUANTIZATIONS)}")


def jobs(formats: Iterable[str], quantizations: list[str]) -> list[tuple[Format, str]]:
    """The ``(format, quantization)`` artifacts of an export, in table order; a per-quantization
    format once per quantization (in the order given), the others once with ``none``."""
    wanted = set(formats)
    return [(f, q) for f in FORMAT_TABLE.values() if f.name in wanted
            for q in (quantizations if f.per_quantization else ["none"])]
