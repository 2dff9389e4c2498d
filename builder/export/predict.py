"""``dlbuild predict MODEL INPUT``: run any exported artifact on files (imports TensorFlow lazily).

MODEL is a run directory (its ``model.keras``), a ``.keras`` file, a SavedModel directory, a
``.tflite`` file or a ``.onnx`` file (needs the ``dlbuild[onnx]`` extra). Class names come from the artifact's sidecar (``<artifact>.json``, written by
:mod:`builder.export.api`) or from the run's ``metrics.json``.

INPUT is one of:

* ``.npy`` -- one array ``(n, *input_shape)``; ``.npz`` -- arrays named like the model's inputs, else
  ``x``, ``x_test`` or the archive's only array;
* ``.csv`` -- numeric columns (a header row is detected and skipped; a column named like the run's
  target, or non-numeric columns, are dropped);
* an image file or a directory of images (PNG/JPEG/BMP/GIF), resized to the model's input size,
  grayscale when the input has one channel, raw 0-255 values (a ``Rescaling`` layer inside the
  model does the scaling, as in training);
* any other file: text, one input per line (string-input models).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


class PredictError(Exception):
    """MODEL or INPUT cannot be used (unknown format, shape mismatch, unreadable file)."""


@dataclass
class Predictor:
    """A loaded artifact.

    Attributes:
        kind: ``keras`` | ``saved_model`` | ``tflite`` | ``onnx``.
        inputs: ``[(name, shape, dtype)]``; ``shape`` excludes the batch axis.
        run: ``{input_name: (n, ...)}`` → list of ``(n, ...)`` float arrays, one per output.
        class_names: Index → name, or None.
        target: The run's CSV target column (dropped from CSV inputs), if known.
    """

    kind: str
    inputs: list
    run: object
    class_names: list | None = None
    target: str | None = None


def _sidecar(path: Path) -> dict:
    side = path.with_name(path.name + ".json")
    try:
        return json.loads(side.read_text())
    except (OSError, ValueError):
        return {}


def _run_meta(run_dir: Path) -> tuple[list | None, str | None]:
    """(class names from metrics.json, the CSV target column from spec.resolved.yaml)."""
    names = target = None
    try:
        names = json.loads((run_dir / "metrics.json").read_text()).get("class_names")
    except (OSError, ValueError):
        pass
    try:
        import yaml

        target = (yaml.safe_load((run_dir / "spec.resolved.yaml").read_text()).get("data") or {}).get("target")
    except (OSError, ValueError, AttributeError):
        pass
    return names, target


def load_predictor(model_path: str | Path) -> Predictor:
    """Load MODEL (see the module docstring).

    Raises:
        PredictError: the path is none of the supported formats.
    """
    path = Path(model_path)
    if path.is_dir() and (path / "model.keras").is_file():  # a run directory
        pred = load_predictor(path / "model.keras")
        names, target = _run_meta(path)
        pred.class_names = pred.class_names or names
        pred.target = target
        return pred
    side = _sidecar(path)
    run_dir = path.parent.parent if path.parent.name == "export" else path.parent
    names, target = _run_meta(run_dir)
    class_names = side.get("class_names") or names
    if path.suffix == ".keras" and path.is_file():
        from builder.run.artifacts import load_keras
        from builder.export.api import _keras_predict

        model = load_keras(path)
        inputs = [(t.name, tuple(t.shape[1:]), str(t.dtype)) for t in model.inputs]
        return Predictor("keras", inputs, lambda xd: _keras_predict(model, xd), class_names, target)
    if path.is_dir() and (path / "saved_model.pb").is_file():
        from builder.export.api import SIGNATURE, _run_saved_model

        import tensorflow as tf

        fn = tf.saved_model.load(str(path)).signatures[SIGNATURE]
        sig = fn.structured_input_signature[1]
        inputs = [(k, tuple(v.shape[1:]), v.dtype.name) for k, v in sig.items()]
        run, _, _ = _run_saved_model(path, list(sig))
        return Predictor("saved_model", inputs, run, class_names, target)
    if path.suffix == ".tflite" and path.is_file():
        from builder.export.api import TFLiteRunner

        runner = TFLiteRunner(path)
        inputs = []
        for key, d in runner.inputs.items():
            q = runner.quant(key)
            dtype = "float32" if q else np.dtype(d["dtype"]).name  # int8 io: we quantize for the caller
            inputs.append((key, tuple(int(s) for s in d["shape_signature"][1:]), dtype))
        return Predictor("tflite", inputs, runner.run, class_names, target)
    if path.suffix == ".onnx" and path.is_file():
        from builder.export.api import ONNXRunner

        try:
            runner = ONNXRunner(path)
        except RuntimeError as exc:  # the extra is not installed
            raise PredictError(str(exc)) from exc
        inputs = [(i["signature_key"], tuple(i["shape"][1:]), i["dtype"].replace("object", "string"))
                  for i in runner.io_info()["inputs"]]
        return Predictor("onnx", inputs, runner.run, class_names, target)
    raise PredictError(f"{path}: not a run directory, .keras file, SavedModel directory, .tflite or .onnx file")


# ----------------------------------------------------------------------------- inputs

def read_inputs(input_path: str | Path, pred: Predictor) -> tuple[dict, list[str]]:
    """INPUT → (``{input_name: (n, ...)}``, a label per row: file name, or row index).

    Raises:
        PredictError: unreadable input, or arrays whose shape does not fit the model's input.
    """
    path = Path(input_path)
    names = [n for n, _, _ in pred.inputs]
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return _images(path, pred)
    if path.suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
        xd = {names[0]: arr}
    elif path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            if all(n in npz.files for n in names):
                xd = {n: npz[n] for n in names}
            else:
                key = next((k for k in ("x", "x_test") if k in npz.files), npz.files[0] if len(npz.files) == 1 else None)
                if key is None or len(names) != 1:
                    raise PredictError(f"{path.name}: expected arrays named {names}, or 'x'; found {npz.files}")
                xd = {names[0]: npz[key]}
    elif path.suffix == ".csv":
        xd = {names[0]: _csv(path, pred)}
    else:
        lines = [l.rstrip("\n") for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
        shape = pred.inputs[0][1]
        xd = {names[0]: np.array(lines, dtype=object).reshape((len(lines), *([1] if shape == (1,) else [])))}
        return _fit(xd, pred), [l[:40] for l in lines]
    xd = _fit(xd, pred)
    return xd, [str(i) for i in range(len(next(iter(xd.values()))))]


def _fit(xd: dict, pred: Predictor) -> dict:
    """Cast to the model's dtypes and check shapes (a missing trailing channel axis is added)."""
    out = {}
    for name, shape, dtype in pred.inputs:
        a = np.asarray(xd[name])
        if (dtype != "string" and a.ndim == 2 and len(shape) > 1 and None not in shape and -1 not in shape
                and a.shape[1] == int(np.prod(shape))):  # flat rows (CSV) of an image-shaped input
            a = a.reshape((len(a), *shape))
        if dtype != "string" and a.ndim == len(shape) and len(shape) and shape[-1] == 1:
            a = a[..., None]
        if a.ndim == len(shape) and dtype != "string":  # a single sample
            a = a[None]
        want = tuple(shape)
        if a.shape[1:] != tuple(s if s not in (None, -1) else a.shape[1 + i] for i, s in enumerate(want)):
            raise PredictError(f"input '{name}': received samples of shape {a.shape[1:]}; the model expects "
                               f"{tuple(s if s not in (None, -1) else None for s in want)}")
        out[name] = a if dtype == "string" else a.astype(dtype)
    return out


def _csv(path: Path, pred: Predictor) -> np.ndarray:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if not rows:
        raise PredictError(f"{path.name}: empty CSV")

    def numeric(cell):
        try:
            float(cell)
            return True
        except ValueError:
            return False

    header = None if all(numeric(c) for c in rows[0]) else [c.strip() for c in rows[0]]
    body = rows[1:] if header else rows
    keep = [j for j in range(len(body[0])) if all(numeric(r[j]) for r in body)]
    if header and pred.target in header:
        keep = [j for j in keep if header[j] != pred.target]
    want = int(np.prod(pred.inputs[0][1]))
    if len(keep) != want:
        cols = ", ".join(header[j] for j in keep) if header else f"{len(keep)} columns"
        raise PredictError(f"{path.name}: {len(keep)} numeric columns ({cols}); the model expects {want} features")
    return np.array([[float(r[j]) for j in keep] for r in body], np.float32)


def _images(path: Path, pred: Predictor) -> tuple[dict, list[str]]:
    import keras

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
    if not files:
        raise PredictError(f"{path}: no PNG/JPEG/BMP/GIF images")
    name, shape, dtype = pred.inputs[0]
    if len(shape) != 3:
        raise PredictError(f"images need a model input of shape (height, width, channels); this model's "
                           f"'{name}' is {shape}")
    h, w, c = shape
    mode = "grayscale" if c == 1 else "rgba" if c == 4 else "rgb"
    arrays = [keras.utils.img_to_array(keras.utils.load_img(p, color_mode=mode, target_size=(h, w)))
              for p in files]
    return {name: np.stack(arrays).astype(dtype)}, [p.name for p in files]


# ----------------------------------------------------------------------------- output

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
    from builder.atomic import write_text

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


def format_table(rows: list[dict]) -> str:
    """A readable table: input, predicted class and its probability (or the regression value)."""
    if not rows:
        return "(no inputs)"
    if "class" in rows[0]:
        head = ("input", "class", "probability")
        body = [(r["input"], r["class"], f"{r['probability']:.4f}") for r in rows]
    else:
        head = ("input", "value")
        body = [(r["input"], f"{r['value']:.6g}" if isinstance(r["value"], float)
                 else " ".join(f"{v:.6g}" for v in r["value"])) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])
