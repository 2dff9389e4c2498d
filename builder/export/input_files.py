"""INPUT files for ``dlbuild predict`` → model input arrays ``{input_name: (n, ...)}``.

INPUT is one of:

* ``.npy`` -- one array ``(n, *input_shape)``; ``.npz`` -- arrays named like the model's inputs, else
  ``x``, ``x_test`` or the archive's only array;
* ``.csv`` -- numeric columns (a header row is detected and skipped; a column named like the run's
  target, or non-numeric columns, are dropped);
* an image file or a directory of images (PNG/JPEG/BMP/GIF), resized to the model's input size,
  grayscale when the input has one channel, raw 0-255 values (a ``Rescaling`` layer inside the
  model does the scaling, as in training);
* any other file: text, one input per line (string-input models).

Inputs are cast to the dtypes of :attr:`builder.export.predictor.Predictor.inputs` and checked
against its shapes. Keras is imported for images only.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from builder.export.predictor import Predictor, PredictError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


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
        return _fit(xd, pred), lines  # whole: the csv module quotes commas and quotes
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
    gaps = [j for j in range(len(body[0])) if j not in keep
             and all(numeric(r[j]) or not r[j].strip() for r in body)]
    if len(keep) != want and gaps:  # numbers with empty cells: not a text column
        j = gaps[0]
        row = next(i for i, r in enumerate(body, 1) if not r[j].strip())
        name = repr(header[j]) if header else f"{j + 1}"
        raise PredictError(f"{path.name}: column {name} has an empty cell (data row {row}); predict takes "
                           "complete rows (the data.missing policy of training is not part of the model): "
                           "fill it, e.g. with the training mean")
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

