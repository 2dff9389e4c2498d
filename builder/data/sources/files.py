"""``spec.data`` -> numpy arrays: a bundled dataset, a CSV file or an NPZ file (no TensorFlow).

``load_arrays`` reads exactly one of ``data.dataset`` / ``data.csv`` / ``data.npz`` and returns
:class:`Arrays`. Problems are raised as :class:`builder.errors.SpecError` located at the offending
spec value (``("data", "target")`` for an unknown column), collected in one pass where possible.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import pathlib
import zipfile
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from builder.errors import Collector, Diagnostic, SpecError, did_you_mean

TASKS = ("classification", "regression")
SOURCES = ("dataset", "csv", "npz", "ts", "text_dir", "text_file")
TEXT_SUFFIXES = (".txt", ".text", ".md")


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
        ordered: samples are steps of one series/stream: split in time order, never shuffled across
            the split boundary (:func:`builder.data.splits.split_arrays`).
        prepare: None, or a callable ``{split: (x, y)} -> Prepared`` run after splitting
            (:mod:`builder.data.sequences`): fits a vocabulary / padded length on train only.
        info: ``kind`` of the raw data (``table``, ``text``, ``corpus``, ``pairs``, ``sequences``,
            ``series``) and anything a preparer adds.
    """

    x_train: np.ndarray | dict[str, np.ndarray]
    y_train: np.ndarray
    x_test: np.ndarray | dict[str, np.ndarray] | None
    y_test: np.ndarray | None
    class_names: tuple[str, ...] | None
    task: str
    name: str
    ordered: bool = False
    prepare: Callable | None = None
    info: dict = field(default_factory=dict)


def load_arrays(data: dict, spec_dir: pathlib.Path) -> Arrays:
    """Load the source named by the spec's ``data`` mapping (plain Python values).

    Args:
        data: ``{"dataset": NAME}`` (see :func:`builder.catalog.datasets.list_datasets`), or
            ``{"csv": PATH, "target"?: COL, "features"?: [COL, ...]}``, or
            ``{"npz": PATH, "x"?: KEY | {input: KEY}, "y"?: KEY}`` (the official test split is
            ``<key>_test`` for every x key and y, else ``x_test``/``y_test`` for a single x; a
            ``class_names`` array names integer classes); optional ``task`` overrides the
            inferred task. Other keys are ignored here (the caller validates them).
        spec_dir: directory that relative ``csv``/``npz`` paths resolve against.

    Returns:
        :class:`Arrays`. CSV: x (n, features) float32; y int32 indices (classification, class names
        sorted) or float32 (regression). NPZ: arrays as stored (float64 narrowed to float32).

    Text and sequence sources (``docs/data.md``): ``text: COLUMN`` makes a CSV/TSV a text set
    (x: (n,) strings); ``text_dir: DIR`` reads ``DIR/<class>/*.txt``; ``text_file: PATH`` is a corpus
    for ``language_model``/``masked_lm``; ``ts: PATH`` reads a sktime ``.ts`` file (its
    ``*_TEST.ts`` sibling is the official test split of a ``*_TRAIN.ts``). ``sequence``, ``window``,
    ``pairs``, ``language_model``, ``masked_lm`` and ``tokenize`` are validated here and applied
    after splitting (:func:`builder.data.sequences.configure`).

    Raises:
        SpecError: none or several sources, bad ``task``, missing or unreadable file,
            unknown column/array (with did-you-mean), non-numeric feature, empty/NaN cell.
    """
    given = [k for k in SOURCES if data.get(k) is not None]
    if len(given) != 1:
        got = "none" if not given else ", ".join(f"'{k}'" for k in given)
        raise SpecError(Diagnostic(
            f"`data` needs exactly one source: {', '.join(repr(k) for k in SOURCES)}; received {got}.",
            ("data",) if not given else ("data", given[1]), "value" if not given else "key"))
    from builder.data.sequences import configure

    arrays = _load_raw(data, given[0], spec_dir)
    arrays = configure(arrays, data, pathlib.Path(spec_dir))
    return _one_hot(arrays) if data.get("one_hot") is True else arrays


def _one_hot(arrays: Arrays) -> Arrays:
    """``data.one_hot``: record the number of classes in ``info["one_hot"]``. The targets stay class
    indices through splitting (stratification, class weights and the confusion matrix read them);
    :func:`builder.data.pipeline.make_pipelines` encodes them as ``(n, classes)`` float32 rows.

    Raises:
        SpecError: at ``data.one_hot``: the targets are not integer class indices of shape (n,).
    """
    ys = [y for y in (arrays.y_train, arrays.y_test) if y is not None]
    if arrays.task != "classification" or any(y.ndim != 1 or y.dtype.kind not in "iu" for y in ys):
        raise SpecError(Diagnostic(
            f"`one_hot` encodes integer class indices of shape (n,); the targets of '{arrays.name}' are "
            f"{arrays.task} targets of shape {arrays.y_train.shape} and dtype {arrays.y_train.dtype}.",
            ("data", "one_hot")))
    classes = len(arrays.class_names) if arrays.class_names else 1 + max(int(y.max()) for y in ys if y.size)
    return dataclasses.replace(arrays, info={**arrays.info, "one_hot": classes})


def _load_raw(data: dict, kind: str, spec_dir: pathlib.Path) -> Arrays:
    task = data.get("task")
    if task is not None and task not in TASKS:
        raise SpecError(Diagnostic(
            unknown("task", task, TASKS, "Expected 'classification' or 'regression'."),
            ("data", "task")))
    if kind == "dataset":
        from builder.data.sources.bundled import load_dataset  # bundled imports Arrays from here
        arrays = load_dataset(data["dataset"])
        if task is not None and task != arrays.task:
            raise SpecError(Diagnostic(
                f"Dataset '{arrays.name}' is a {arrays.task} dataset; received task: {task}.", ("data", "task")))
        return arrays
    path = _resolve(data[kind], kind, spec_dir)
    loader = {"csv": _load_csv, "npz": _load_npz, "ts": _load_ts, "text_dir": _load_text_dir,
              "text_file": _load_text_file}[kind]
    return loader(path, data, task)


def _resolve(value: object, kind: str, spec_dir: pathlib.Path) -> pathlib.Path:
    if not isinstance(value, str) or not value:
        raise SpecError(Diagnostic(f"`{kind}` must be a {'directory' if kind == 'text_dir' else 'file'} path; "
                                   f"received {value!r}.", ("data", kind)))
    path = pathlib.Path(value).expanduser()
    path = path if path.is_absolute() else pathlib.Path(spec_dir) / path
    if kind == "text_dir":
        if not path.is_dir():
            raise SpecError(Diagnostic(f"Text directory not found: {path.resolve()}", ("data", kind)))
        return path
    if not path.is_file():
        raise SpecError(Diagnostic(f"{kind.upper()} file not found: {path.resolve()}", ("data", kind)))
    return path


# ---------------------------------------------------------------- CSV

def _delimiter(path: pathlib.Path, data: dict) -> str:
    d = data.get("delimiter")
    if d is None:
        return "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    if not isinstance(d, str) or len(d.encode("unicode_escape").decode().replace("\\t", "t")) != 1:
        raise SpecError(Diagnostic(f"`delimiter` must be one character (e.g. ',' or '\\t'); received {d!r}.",
                                   ("data", "delimiter")))
    return d


def _load_csv(path: pathlib.Path, data: dict, task: str | None) -> Arrays:
    delimiter = _delimiter(path, data)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [(i, r) for i, r in enumerate(csv.reader(fh, delimiter=delimiter), start=1)
                    if r and any(c.strip() for c in r)]
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
    errs = Collector()
    for line, row in body:
        if len(row) != len(header):
            errs.error(f"{path.name} line {line} has {len(row)} cells; the header has {len(header)}.", ("data", "csv"))
            break
    errs.raise_if_any()
    lines = [line for line, _ in body]

    def column(name: str, strip: bool = True) -> list[str]:
        j = header.index(name)
        return [r[j].strip() if strip else r[j] for _, r in body]

    pairs = data.get("pairs")
    if isinstance(pairs, dict):
        return _csv_pairs(path, header, column, pairs)
    if data.get("text") is not None:
        return _csv_text(path, header, column, lines, data, task)
    window = data.get("window") is not None
    target, features = _pick_columns(header, data, default_features=[] if window else None)
    cols = {name: column(name) for name in (*features, target)}
    if window:  # a series: channel 0 is the target, then the feature columns
        series = _numbers(cols[target], target, lines, path.name, errs, "target")
        x = np.empty((len(body), 1 + len(features)), np.float32)
        for j, name in enumerate([target, *features]):
            col = series if j == 0 else _numbers(cols[name], name, lines, path.name, errs, "feature")
            if col is not None:
                x[:, j] = col
        errs.raise_if_any()
        return Arrays(x, x[:, 0].copy(), None, None, None, "regression", path.name, info={"kind": "series"})
    x = np.empty((len(body), len(features)), np.float32)
    for j, name in enumerate(features):
        col = _numbers(cols[name], name, lines, path.name, errs, "feature")
        if col is not None:
            x[:, j] = col
    y, class_names, task = _target(cols[target], target, lines, path.name, task, errs)
    errs.raise_if_any()
    return Arrays(x, y, None, None, class_names, task, path.name)


def _check_column(name, header, path_key, what) -> str | None:
    if not isinstance(name, str) or name not in header:
        return unknown(f"{what} column", name, header, f"Expected one of the CSV header's columns: "
                       f"{', '.join(header)}.")
    return None


def _csv_text(path, header, column, lines, data, task) -> Arrays:
    """``text: COLUMN``: x = that column as (n,) strings; y = the target column (default: the last
    other column), or zeros for language_model / masked_lm (which ignore labels)."""
    errs = Collector()
    text = data["text"]
    if (msg := _check_column(text, header, "text", "text")):
        errs.error(msg, ("data", "text"))
    if data.get("features") is not None:
        errs.error("`features` lists numeric columns; a text set has one `text` column instead.", ("data", "features"))
    unlabelled = data.get("language_model") is not None or data.get("masked_lm") is not None
    target = data.get("target")
    if target is None and not unlabelled:
        others = [h for h in header if h != text]
        target = others[-1] if others else None
        if target is None:
            errs.error(f"{path.name} has no label column besides the text column {text!r}.", ("data", "csv"))
    elif target is not None and (msg := _check_column(target, header, "target", "target")):
        errs.error(msg, ("data", "target"))
    elif target is not None and target == text:
        errs.error(f"Column {text!r} is the text; it cannot also be the target.", ("data", "target"))
    errs.raise_if_any()
    x = np.array(column(text, strip=False), dtype=object)
    if target is None or unlabelled:
        return Arrays(x, np.zeros(len(x), np.int32), None, None, None, "classification", path.name,
                      info={"kind": "text"})
    y, class_names, task = _target(column(target), target, lines, path.name, task, errs)
    errs.raise_if_any()
    return Arrays(x, y, None, None, class_names, task, path.name, info={"kind": "text"})


def _csv_pairs(path, header, column, pairs) -> Arrays:
    """``pairs: {source: COL, target: COL}``: x = source texts, y = target texts, both (n,) strings."""
    errs = Collector()
    for key in ("source", "target"):
        if pairs.get(key) is None:
            errs.error(f"`pairs.{key}` must name a CSV column for a CSV source.", ("data", "pairs"))
        elif (msg := _check_column(pairs[key], header, key, f"pairs {key}")):
            errs.error(msg, ("data", "pairs", key))
    errs.raise_if_any()
    x = np.array(column(pairs["source"]), dtype=object)
    y = np.array(column(pairs["target"]), dtype=object)
    return Arrays(x, y, None, None, None, "sequence", path.name, info={"kind": "pairs"})


# ---------------------------------------------------------------- text files, .ts files

def _load_text_dir(path: pathlib.Path, data: dict, task: str | None) -> Arrays:
    """``DIR/<class>/*.txt``: one sample per file, classes = sub-directory names (sorted)."""
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    texts, labels = [], []
    for i, c in enumerate(classes):
        for f in sorted((path / c).iterdir()):
            if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES:
                texts.append(f.read_text(encoding="utf-8", errors="replace"))
                labels.append(i)
    if len(classes) < 2 or not texts:
        raise SpecError(Diagnostic(
            f"text_dir {path.resolve()} needs one sub-directory per class (at least 2) holding "
            f"{'/'.join(TEXT_SUFFIXES)} files; found {len(classes)} class folder(s) and {len(texts)} file(s).",
            ("data", "text_dir")))
    return Arrays(np.array(texts, dtype=object), np.asarray(labels, np.int32), None, None, tuple(classes),
                  "classification", path.name, info={"kind": "text"})


def _load_text_file(path: pathlib.Path, data: dict, task: str | None) -> Arrays:
    """A plain UTF-8 text: a corpus for ``language_model`` / ``masked_lm``."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return Arrays(np.array([text], dtype=object), np.zeros(1, np.int32), None, None, None, "sequence",
                  path.name, info={"kind": "corpus"})


def _load_ts(path: pathlib.Path, data: dict, task: str | None) -> Arrays:
    """A sktime ``.ts`` classification file; ``X_TRAIN.ts`` takes ``X_TEST.ts`` beside it as the test split."""
    from builder.data.sequences import ragged, read_ts

    def read(p):
        try:
            return read_ts(p)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise SpecError(Diagnostic(f"Could not read .ts file {p.resolve()}: {exc}", ("data", "ts"))) from None

    series, labels, names = read(path)
    test_path = path.with_name(path.name.replace("_TRAIN", "_TEST")) if "_TRAIN" in path.name else None
    t_series, t_labels = ([], [])
    if test_path is not None and test_path.is_file():
        t_series, t_labels, _ = read(test_path)
    if not labels:
        raise SpecError(Diagnostic(f"{path.name} has no class labels (@classLabel true); dlbuild reads "
                                   ".ts classification files.", ("data", "ts")))
    names = names or tuple(sorted(set(labels) | set(t_labels)))
    index = {n: i for i, n in enumerate(names)}
    unknown_labels = sorted((set(labels) | set(t_labels)) - set(index))
    if unknown_labels:
        raise SpecError(Diagnostic(f"{path.name}: labels {unknown_labels} are not in @classLabel {list(names)}.",
                                   ("data", "ts")))
    y = np.asarray([index[v] for v in labels], np.int32)
    yt = np.asarray([index[v] for v in t_labels], np.int32) if t_labels else None
    return Arrays(ragged(series), y, ragged(t_series) if t_labels else None, yt, names, "classification",
                  path.name, info={"kind": "sequences"})


def _pick_columns(header: list[str], data: dict, default_features: list | None = None) -> tuple[str, list[str]]:
    """Validate ``target``/``features`` against the header; all unknown names reported at once."""
    errs = Collector()
    target = data.get("target", header[-1])
    if target not in header:
        errs.error(unknown("target column", target, header, f"Expected one of the CSV header's columns: "
                           f"{', '.join(header)}."), ("data", "target"))
    features = data.get("features", default_features)
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
    if not features and not errs.diagnostics and default_features is None:
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
    was_ragged = _unragged(arrays, path)
    names = sorted(k for k in arrays if not k.endswith("_lengths"))
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
    sequences = data.get("sequence") is not None or (was_ragged and not isinstance(x, dict))
    return Arrays(x, y, x_test, y_test, class_names, task, path.name,
                  info={"kind": "sequences"} if sequences else {})


def _unragged(arrays: dict, path: pathlib.Path) -> bool:
    """Variable-length sequences in an NPZ: ``k`` holds them concatenated along time and
    ``k_lengths`` each one's length; replace ``k`` by a 1-D object array of the pieces."""
    from builder.data.sequences import ragged

    found = False
    for key in [k for k in arrays if k + "_lengths" in arrays]:
        lengths = arrays[key + "_lengths"].astype(np.int64).ravel()
        if lengths.sum() != len(arrays[key]) or (lengths < 0).any():
            raise SpecError(Diagnostic(f"{path.name}: '{key}_lengths' sums to {int(lengths.sum())}, but '{key}' "
                                       f"has {len(arrays[key])} steps.", ("data", "npz")))
        arrays[key] = ragged(np.split(_narrow(arrays[key]), np.cumsum(lengths)[:-1]))
        found = True
    return found


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
