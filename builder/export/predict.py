"""``dlbuild predict MODEL INPUT``: run any exported artifact on files; one row per sample.

MODEL is loaded by :func:`builder.export.predictor.load_predictor` (a run directory, ``.keras``,
SavedModel, ``.tflite`` or ``.onnx``), INPUT read by :func:`builder.export.input_files.read_inputs`
(``.npy``/``.npz``, ``.csv``, images, text lines). Output: rows with the predicted class and its
probability (classification; class names from the sidecar or ``metrics.json``) or the regression
value, as a table, ``.json`` or ``.csv``. TensorFlow is imported lazily, by the runtimes.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from builder.atomic import write_text
from builder.export.input_files import read_inputs
from builder.export.predictor import PredictError, load_predictor


def _probabilities(y: np.ndarray) -> np.ndarray:
    """Rows of class probabilities: softmax outputs as they are; one sigmoid unit → (1-p, p);
    anything outside [0, 1] (logits) → softmax."""
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    if y.shape[1] == 1:
        return np.concatenate([1 - y, y], 1)
    if y.min() < 0 or y.max() > 1 + 1e-6:
        e = np.exp(y - y.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
    return y


def predict(model_path: str | Path, input_path: str | Path, output: str | Path | None = None,
            classification: bool | None = None) -> list[dict]:
    """Run MODEL on INPUT and return one row per sample.

    Returns:
        Rows ``{"input": label, "class": name, "probability": p, "probabilities": {name: p}}``
        for classification (class names from the sidecar / metrics.json, else indices), or
        ``{"input": label, "value": float | [floats]}`` for regression. Written to ``output``
        (``.csv`` or ``.json``) when given.

    Raises:
        PredictError: unsupported MODEL or INPUT, or input shapes the model cannot take.
    """
    pred = load_predictor(model_path)
    xd, labels = read_inputs(input_path, pred)
    y = pred.run(xd)[0]
    if classification is None:
        classification = bool(pred.class_names) or (y.ndim == 2 and y.shape[1] > 1)
    rows = []
    if classification:
        probs = _probabilities(y)
        names = list(pred.class_names or [str(i) for i in range(probs.shape[1])])
        for label, p in zip(labels, probs):
            k = int(p.argmax())
            rows.append({"input": label, "class": names[k] if k < len(names) else str(k),
                         "probability": round(float(p[k]), 6),
                         "probabilities": {n: round(float(v), 6) for n, v in zip(names, p)}})
    else:
        for label, v in zip(labels, np.asarray(y).reshape(len(y), -1)):
            rows.append({"input": label, "value": float(v[0]) if len(v) == 1 else [float(a) for a in v]})
    if output:
        write_rows(rows, Path(output))
    return rows


def write_rows(rows: list[dict], path: Path) -> None:
    """Rows → ``.json`` (a list) or ``.csv`` (one probability column per class), atomically.

    Raises:
        PredictError: another suffix.
    """
    if path.suffix == ".json":
        write_text(path, json.dumps(rows, indent=2) + "\n")
    elif path.suffix == ".csv":
        buf = io.StringIO()
        flat = [{k: v for k, v in r.items() if k != "probabilities"} | {f"p_{n}": v for n, v in r.get("probabilities", {}).items()}
                for r in rows]
        writer = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for r in flat for k in r)))
        writer.writeheader()
        writer.writerows(flat)
        write_text(path, buf.getvalue())
    else:
        raise PredictError(f"--output must end in .csv or .json; received {path.name}")


SCREEN_INPUT_CHARS = 60  # on screen only; --output files hold every input whole


def _short(label) -> str:
    text = str(label).replace("\n", " ")
    return text if len(text) <= SCREEN_INPUT_CHARS else text[:SCREEN_INPUT_CHARS - 1] + "…"


def format_table(rows: list[dict]) -> str:
    """A readable table: input, predicted class and its probability (or the regression value).
    Inputs longer than :data:`SCREEN_INPUT_CHARS` characters are cut with "…" here only."""
    if not rows:
        return "(no inputs)"
    if "class" in rows[0]:
        head = ("input", "class", "probability")
        body = [(_short(r["input"]), r["class"], f"{r['probability']:.4f}") for r in rows]
    else:
        head = ("input", "value")
        body = [(_short(r["input"]), f"{r['value']:.6g}" if isinstance(r["value"], float)
                 else " ".join(f"{v:.6g}" for v in r["value"])) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])
