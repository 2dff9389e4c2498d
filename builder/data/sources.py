"""``spec.data`` -> numpy arrays: a bundled dataset, a CSV file or an NPZ file (no TensorFlow).

``load_arrays`` reads exactly one of ``data.dataset`` / ``data.csv`` / ``data.npz`` and returns
:class:`Arrays`. Problems are raised as :class:`builder.errors.SpecError` located at the offending
spec value (``("data", "target")`` for an unknown column), collected in one pass where possible.
"""

from __future__ import annotations

import csv
import math
import pathlib
import zipfile
from dataclasses import dataclass

import numpy as np

from builder.errors import Collector, Diagnostic, SpecError, did_you_mean

TASKS = ("classification", "regression")
SOURCES = ("dataset", "csv", "npz")


def unknown(what: str, name: object, candidates, expected: str) -> str:
    """``"Unknown <what> 'x'; did you mean 'y'? <expected>"`` -- one sentence break either way."""
    hint = did_you_mean(name, candidates)
    return f"Unknown {what} {name!r}{hint}{' ' if hint else '. '}{expected}"


@dataclass(frozen=True)
class Arrays:
    """A loaded data source, before splitting.

    Attributes:
        x_train: features, (n, ...) -- e.g. (n, 28, 28, 1) uint8 images or (n, features) float32;
            a ``{input_name: array}`` dict when the model has several named inputs.
        y_train: (n,) int32 class indices for classification, (n,) or (n, k) float32 for regression.
        x_test, y_test: the source's official test split, same layout; None when it has none.
        class_names: classification: index -> name; None for regression (or unnamed NPZ classes).
        task: ``"classification"`` or ``"regression"``.
        name: dataset name (``"fashion_mnist"``) or the file name (``"iris.csv"``).
    """

    x_train: np.ndarray | dict[str, np.ndarray]
    y_train: np.ndarray
    x_test: np.ndarray | dict[str, np.ndarray] | None
    y_test: np.ndarray | None
    class_names: tuple[str, ...] | None
    task: str
    name: str


def load_arrays(data: dict, spec_dir: pathlib.Path) -> Arrays:
    """Load the source named by the spec's ``data`` mapping (plain Python values).

    Args:
        data: ``{"dataset": NAME}`` (see :func:`builder.data.bundled.list_datasets`), or
            ``{"csv": PATH, "target"?: COL, "features"?: [COL, ...]}``, or
            ``{"npz": PATH, "x"?: KEY | {input: KEY}, "y"?: KEY}`` (the official test split is
            ``<key>_test`` for every x key and y, else ``x_test``/``y_test`` for a single x; a
            ``class_names`` array names integer classes); optional ``task`` overrides the
            inferred task. Other keys are ignored here (the caller validates them).
        spec_dir: directory that relative ``csv``/``npz`` paths resolve against.

    Returns:
        :class:`Arrays`. CSV: x (n, features) float32; y int32 indices (classification, class names
        sorted) or float32 (regression). NPZ: arrays as stored (float64 narrowed to float32).

    Raises:
        SpecError: none or several of dataset/csv/npz, bad ``task``, missing or unreadable file,
            unknown column/array (with did-you-mean), non-numeric feature, empty/NaN cell.
    """
    given = [k for k in SOURCES if k in data]
    if len(given) != 1:
        got = "none" if not given else ", ".join(f"'{k}'" for k in given)
        raise SpecError(Diagnostic(
            f"`data` needs exactly one source: 'dataset' (bundled), 'csv' or 'npz'; received {got}.",
            ("data",) if not given else ("data", given[1]), "value" if not given else "key"))
    task = data.get("task")
    if task is not None and task not in TASKS:
        raise SpecError(Diagnostic(
            unknown("task", task, TASKS, "Expected 'classification' or 'regression'."),
            ("data", "task")))
    kind = given[0]
    if kind == "dataset":
        from builder.data.bundled import load_dataset  # bundled imports Arrays from here
        arrays = load_dataset(data["dataset"])
        if task is not None and task != arrays.task:
            raise SpecError(Diagnostic(
                f"Dataset '{arrays.name}' is a {arrays.task} dataset; received task: {task}.", ("data", "task")))
        return arrays
    path = _resolve(data[kind], kind, spec_dir)
    return _load_csv(path, data, task) if kind == "csv" else _load_npz(path, data, task)


def _resolve(value: object, kind: str, spec_dir: pathlib.Path) -> pathlib.Path:
    if not isinstance(value, str) or not value:
        raise SpecError(Diagnostic(f"`{kind}` must be a file path; received {value!r}.", ("data", kind)))
    path = pathlib.Path(value).expanduser()
    path = path if path.is_absolute() else pathlib.Path(spec_dir) / path
    if not path.is_file():
        raise SpecError(Diagnostic(f"{kind.upper()} file not found: {path.resolve()}", ("data", kind)))
    return path


# ---------------------------------------------------------------- CSV

def _load_csv(path: pathlib.Path, data: dict, task: str | None) -> Arrays:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [(i, r) for i, r in enumerate(csv.reader(fh), start=1) if r and any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SpecError(Diagnostic(f"Could not read CSV file {path.resolve()}: {exc}. Expected UTF-8 text "
                                   "with a header row.", ("data", "csv"))) from None
    if len(rows) < 2:
        raise SpecError(Diagnostic(
            f"CSV file {path.name} needs a header row and at least one data row; received {len(rows)} row(s).",
            ("data", "csv")))
    header = [h.strip() for h in rows[0][1]]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise SpecError(Diagnostic(f"CSV file {path.name} repeats header column(s) {', '.join(map(repr, dupes))}; "
                                   "expected unique column names.", ("data", "csv")))
    body = rows[1:]
    target, features = _pick_columns(header, data)
    errs = Collector()
    for line, row in body:
        if len(row) != len(header):
            errs.error(f"{path.name} line {line} has {len(row)} cells; the header has {len(header)}.", ("data", "csv"))
            break
    errs.raise_if_any()
    cols = {name: [r[header.index(name)].strip() for _, r in body] for name in (*features, target)}
    lines = [line for line, _ in body]
    x = np.empty((len(body), len(features)), np.float32)
    for j, name in enumerate(features):
        col = _numbers(cols[name], name, lines, path.name, errs, "feature")
        if col is not None:
            x[:, j] = col
    y, class_names, task = _target(cols[target], target, lines, path.name, task, errs)
    errs.raise_if_any()
    return Arrays(x, y, None, None, class_names, task, path.name)


def _pick_columns(header: list[str], data: dict) -> tuple[str, list[str]]:
    """Validate ``target``/``features`` against the header; all unknown names reported at once."""
    errs = Collector()
    target = data.get("target", header[-1])
    if target not in header:
        errs.error(unknown("target column", target, header, f"Expected one of the CSV header's columns: "
                           f"{', '.join(header)}."), ("data", "target"))
    features = data.get("features")
    if features is None:
        features = [h for h in header if h != target]
    elif not isinstance(features, list) or not features:
        errs.error(f"`features` must be a non-empty list of column names; received {features!r}.", ("data", "features"))
        features = []
    for i, name in enumerate(features):
        if name not in header:
            errs.error(unknown("feature column", name, header, f"Expected one of the CSV header's columns: "
                               f"{', '.join(header)}."), ("data", "features", i))
        elif name == target:
            errs.error(f"Column {name!r} is the target; it cannot also be a feature.", ("data", "features", i))
        elif name in features[:i]:
            errs.error(f"Feature column {name!r} is listed twice.", ("data", "features", i))
    if not features and not errs.diagnostics:
        errs.error(f"The CSV has no feature columns besides the target {target!r}.", ("data", "csv"))
    errs.raise_if_any()
    return target, features


def _missing(cell: str) -> bool:
    return cell == "" or cell.lower() in ("nan", "na", "n/a", "null", "none")


def _numbers(cells, name, lines, fname, errs, role) -> np.ndarray | None:
    """Parse a column as float64; report its first non-numeric cell, else its first missing one."""
    out = np.full(len(cells), np.nan)
    missing = []
    for i, c in enumerate(cells):
        try:
            out[i] = float(c)
        except ValueError:
            if not _missing(c):
                errs.error(f"{role.capitalize()} column {name!r} of {fname} is not numeric: line {lines[i]} "
                           f"holds {c!r}. " + ("Expected numbers (v1 supports numeric features only)."
                                               if role == "feature" else "Regression needs numeric targets."),
                           ("data", "csv"))
                return None
        if not math.isfinite(out[i]):
            missing.append(i)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        errs.error(f"{role.capitalize()} column {name!r} of {fname} has an empty, NaN or infinite cell at "
                   f"line {lines[missing[0]]}{more}; expected finite numbers (fill or drop missing values).",
                   ("data", "csv"))
        return None
    return out


def _target(cells, name, lines, fname, task, errs):
    """Infer the task from the target column: strings/ints -> classification, floats -> regression."""
    missing = [i for i, c in enumerate(cells) if _missing(c)]
    if missing:
        errs.error(f"Target column {name!r} of {fname} has an empty or NaN cell at line {lines[missing[0]]}"
                   f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; every row needs a label.",
                   ("data", "csv"))
        return None, None, task or "classification"
    ints = all(_parses(int, c) for c in cells)
    floats = ints or all(_parses(float, c) for c in cells)
    if task == "regression" or (task is None and floats and not ints):
        col = _numbers(cells, name, lines, fname, errs, "target")
        return (None if col is None else col.astype(np.float32)), None, "regression"
    keys = [int(c) for c in cells] if ints else [float(c) for c in cells] if floats else cells
    distinct = sorted(set(keys))
    index = {k: i for i, k in enumerate(distinct)}
    y = np.fromiter((index[k] for k in keys), np.int32, len(keys))
    return y, tuple(str(k) for k in distinct), "classification"


def _parses(kind, cell: str) -> bool:
    try:
        kind(cell)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------- NPZ

def _load_npz(path: pathlib.Path, data: dict, task: str | None) -> Arrays:
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise SpecError(Diagnostic(f"Could not read NPZ file {path.resolve()}: {exc}", ("data", "npz"))) from None
    names = sorted(arrays)
    errs = Collector()
    x_spec = data.get("x", "x")
    y_key = data.get("y", "y")

    def key(k, p):
        if not isinstance(k, str) or k not in arrays:
            errs.error(unknown(f"array in {path.name}:", k, names, f"Arrays in the file: {', '.join(names)}."), p)
            return None
        return k

    if isinstance(x_spec, dict):
        x_keys = {inp: key(k, ("data", "x", inp)) for inp, k in x_spec.items()}
    else:
        x_keys = key(x_spec, ("data", "x"))
    y_key = key(y_key, ("data", "y"))
    errs.raise_if_any()

    def gather(keys, suffix):
        if isinstance(keys, dict):
            return {inp: _narrow(arrays[k + suffix]) for inp, k in keys.items()}
        return _narrow(arrays[keys + suffix])

    x, y = gather(x_keys, ""), arrays[y_key]
    flat = list(x_keys.values()) if isinstance(x_keys, dict) else [x_keys]
    if all(k + "_test" in arrays for k in [*flat, y_key]):
        x_test, y_test = gather(x_keys, "_test"), arrays[y_key + "_test"]
    elif not isinstance(x_keys, dict) and "x_test" in arrays and "y_test" in arrays:
        x_test, y_test = _narrow(arrays["x_test"]), arrays["y_test"]
    else:
        x_test = y_test = None
    _check_lengths(x, y, path.name, "", errs)
    if y_test is not None:
        _check_lengths(x_test, y_test, path.name, "_test", errs)
    class_names = tuple(str(c) for c in arrays["class_names"]) if "class_names" in arrays else None
    task = task or ("classification" if y.dtype.kind in "iubUS" else "regression")
    y, y_test, class_names = _npz_target(y, y_test, class_names, task, path.name, errs)
    errs.raise_if_any()
    return Arrays(x, y, x_test, y_test, class_names, task, path.name)


def _narrow(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) if a.dtype == np.float64 else a


def _check_lengths(x, y, fname, suffix, errs) -> None:
    lengths = {k: len(v) for k, v in x.items()} if isinstance(x, dict) else {"x": len(x)}
    if any(n != len(y) for n in lengths.values()):
        shown = ", ".join(f"{k}{suffix}: {n}" for k, n in lengths.items())
        errs.error(f"{fname}: features and labels{suffix and ' (test)'} differ in length "
                   f"({shown}; labels: {len(y)}); expected one label per sample.", ("data", "npz"))


def _npz_target(y, y_test, class_names, task, fname, errs):
    """Cast labels: classification -> int32 indices (strings mapped via sorted names), regression -> float32."""
    ys = [y] if y_test is None else [y, y_test]
    if task == "regression":
        if y.dtype.kind not in "iubf":
            errs.error(f"{fname}: regression needs numeric targets; the labels have dtype {y.dtype}.", ("data", "task"))
            return y, y_test, None
        out = [a.astype(np.float32) for a in ys]
        return out[0], (out[1] if y_test is not None else None), None
    if y.dtype.kind in "US":
        class_names = tuple(sorted({str(v) for a in ys for v in a.ravel()}))
        index = {n: i for i, n in enumerate(class_names)}
        out = [np.vectorize(lambda v: index[str(v)], otypes=[np.int32])(a) for a in ys]
    else:
        if any(a.dtype.kind == "f" and not np.all(a == np.round(a)) for a in ys):
            errs.error(f"{fname}: classification needs integer class indices; the labels hold fractional "
                       "values. Use task: regression.", ("data", "task"))
            return y, y_test, None
        out = [a.astype(np.int32) for a in ys]
        lo = min(int(a.min()) for a in out if a.size)
        hi = max(int(a.max()) for a in out if a.size)
        if lo < 0 or (class_names is not None and hi >= len(class_names)):
            limit = f" and below {len(class_names)} (the length of 'class_names')" if class_names else ""
            errs.error(f"{fname}: class indices must be >= 0{limit}; received values from {lo} to {hi}.", ("data", "y"))
    return out[0], (out[1] if y_test is not None else None), class_names
