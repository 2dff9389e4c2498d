"""The written record of an export: reason strings, one-line summaries, sidecars, versions.

Inputs: an ``export.json`` entry (a dict: ``artifact``, ``format``, ``quantization``, ``bytes``,
``max_abs_diff``, ``accuracy``, ``latency_ms`` in milliseconds, ``verdict``, ``reason``, …), the
model's inputs/outputs and the runtime's own io description. Outputs: the one-line summary
``dlbuild export`` prints per artifact, the ``<artifact>.json`` sidecar dict (inputs with
signature keys, shapes, dtypes and int8 scale/zero point, class names, preprocessing notes), and
the library versions recorded in ``export.json``. The per-format part of a sidecar is chosen by
:data:`builder.export.formats.FORMAT_TABLE` (``sidecar_io``).
"""

from __future__ import annotations

from typing import Callable


def short_error(exc: BaseException) -> str:
    """One line of an exception: its type and the most telling line of its message (400 characters
    at most; a line naming Flex ops, "not supported" or "error:" is preferred)."""
    text = str(exc).strip()
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    keep = next((l for l in lines if "Flex" in l or "not supported" in l or "error:" in l), lines[0] if lines else "")
    return f"{type(exc).__name__}: {keep[:400]}"


def describe(entry: dict) -> str:
    """One readable line for an export.json entry: verdict, KiB, max |Δ|, accuracy, ms/sample, reason."""
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


def versions() -> dict:
    """``{"keras": …, "tensorflow": …, "ai_edge_litert": … | None}`` plus ``tf2onnx`` and
    ``onnxruntime`` when installed."""
    import keras
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


def sidecar(entry: dict, model_io: tuple, runtime_io: dict | None, class_names, task, notes,
            sidecar_io: Callable[[dict, list, dict], None] | None) -> dict:
    """The ``<artifact>.json`` sidecar of one artifact.

    Args:
        entry: Its export.json entry.
        model_io: ``([{name, shape, dtype}] per input, [...] per output)`` of the exported model.
        runtime_io: The runtime's ``io_info()`` (None: the artifact could not be loaded).
        class_names: Class index → name, or None; ``task``: classification / regression / ….
        notes: Preprocessing sentences (:func:`builder.export.model_facts.preprocessing_notes`).
        sidecar_io: The format's ``(side, inputs, runtime_io)`` merge of the runtime's view
            (one of the ``*_io`` functions below), or None.
    """
    ins, outs = model_io
    side = {"artifact": entry["artifact"], "format": entry["format"], "quantization": entry["quantization"],
            "inputs": [dict(i) for i in ins], "outputs": [dict(o) for o in outs],
            "task": task, "class_names": list(class_names) if class_names else None,
            "preprocessing": notes, "verdict": entry.get("verdict"), "batch": entry.get("batch")}
    if runtime_io and sidecar_io:
        sidecar_io(side, ins, runtime_io)
    return side


def tflite_io(side: dict, ins: list, runtime_io: dict) -> None:
    """LiteRT: signature keys, static shapes, dtypes and int8 scale/zero point per tensor."""
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


def onnx_io(side: dict, ins: list, runtime_io: dict) -> None:
    """onnxruntime: tensor names, shapes (None = dynamic), dtypes and the opset."""
    for spec, rt in zip(side["inputs"], runtime_io["inputs"]):
        spec.update(signature_key=rt["signature_key"], shape=rt["shape"], dtype=rt["dtype"])
    for spec, rt in zip(side["outputs"], runtime_io["outputs"]):
        spec.update(signature_key=rt["signature_key"], shape=rt["shape"], dtype=rt["dtype"])
    side["opset"] = runtime_io["opset"]
    side["runtime"] = "onnxruntime"


def saved_model_io(side: dict, ins: list, runtime_io: dict) -> None:
    """SavedModel: the serving signature's output keys; its input keys are the spec's input names."""
    for spec, key in zip(side["outputs"], runtime_io["output_keys"]):
        spec["signature_key"] = key
    for spec in side["inputs"]:
        spec["signature_key"] = spec["name"]
    side["signature"] = runtime_io["signature"]
