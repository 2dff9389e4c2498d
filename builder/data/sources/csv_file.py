"""``data.csv``: a CSV/TSV file → :class:`~builder.data.sources.arrays.Arrays` (no TensorFlow).

One reader, four shapes of result, chosen by the spec's other ``data`` keys:

* a table (default): x ``(n, features)`` float32; y ``(n,)`` int32 class indices (class names =
  the sorted distinct target values) or float32 for regression;
* ``text: COLUMN``: x ``(n,)`` strings (kind ``text``);
* ``pairs: {source, target}``: x and y ``(n,)`` strings (kind ``pairs``);
* ``window`` given: one series x ``(T, 1 + features)`` float32 with the target as channel 0,
  y ``(T,)`` (kind ``series``).

Errors are :class:`builder.errors.SpecError` located at the offending spec value (``("data",
"target")`` for an unknown column), collected in one pass where possible.
"""

from __future__ import annotations

import csv
import math
import pathlib

import numpy as np

from builder.data.sources.arrays import Arrays, unknown
from builder.errors import Collector, Diagnostic, SpecError


def _delimiter(path: pathlib.Path, data: dict) -> str:
    d = data.get("delimiter")
    if d is None:
        return "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    if not isinstance(d, str) or len(d.encode("unicode_escape").decode().replace("\\t", "t")) != 1:
        raise SpecError(Diagnostic(f"`delimiter` must be one character (e.g. ',' or '\\t'); received {d!r}.",
                                   ("data", "delimiter")))
    return d


def load_csv(path: pathlib.Path, data: dict, task: str | None) -> Arrays:
    """Read the CSV/TSV file at ``path`` (UTF-8, header row first; blank rows skipped).

    Args:
        path: An existing file. data: the spec's ``data`` mapping (``target``, ``features``,
            ``text``, ``pairs``, ``window``, ``delimiter``). task: ``data.task`` or None (inferred).

    Returns:
        :class:`Arrays` in one of the four shapes of the module docstring.

    Raises:
        SpecError: unreadable file, bad header, ragged row, unknown column (with did-you-mean),
            non-numeric feature, empty/NaN cell.
    """
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
    lenient = (data.get("missing") or "error") != "error"  # builder.data.missing takes NaN cells
    dropped = 0
    if lenient and data.get("window") is None and data.get("text") is None and not isinstance(data.get("pairs"), dict):
        target_name = _pick_columns(header, data)[0]
        j = header.index(target_name)
        kept = [(line, r) for line, r in body if not _missing(r[j].strip())]
        dropped, body = len(body) - len(kept), kept  # a sample without a label cannot be imputed
        if not body:
            raise SpecError(Diagnostic(f"every row of {path.name} lacks its target {target_name!r}", ("data", "target")))
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
        series = _numbers(cols[target], target, lines, path.name, errs, "target", lenient)
        x = np.empty((len(body), 1 + len(features)), np.float32)
        for j, name in enumerate([target, *features]):
            col = series if j == 0 else _numbers(cols[name], name, lines, path.name, errs, "feature", lenient)
            if col is not None:
                x[:, j] = col
        errs.raise_if_any()
        return Arrays(x, x[:, 0].copy(), None, None, None, "regression", path.name, info={"kind": "series"})
    x = np.empty((len(body), len(features)), np.float32)
    for j, name in enumerate(features):
        col = _numbers(cols[name], name, lines, path.name, errs, "feature", lenient)
        if col is not None:
            x[:, j] = col
    y, class_names, task = _target(cols[target], target, lines, path.name, task, errs)
    errs.raise_if_any()
    return Arrays(x, y, None, None, class_names, task, path.name,
                  info={"missing_targets_dropped": dropped} if dropped else {})


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
    elif not isinstance(features, list) or (not features and default_features is None):
        # a window's series may be the target alone (univariate forecasting): [] is then fine
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


def _numbers(cells, name, lines, fname, errs, role, lenient: bool = False) -> np.ndarray | None:
    """Parse a column as float64; report its first non-numeric cell, else its first missing one
    (``lenient``: a ``data.missing`` policy applies, so missing cells become NaN; inf stays an error)."""
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
        if not math.isfinite(out[i]) and not (lenient and math.isnan(out[i])):
            missing.append(i)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        errs.error(f"{role.capitalize()} column {name!r} of {fname} has an empty, NaN or infinite cell at "
                   f"line {lines[missing[0]]}{more}; expected finite numbers (or set data.missing: drop, mean, {{fill: VALUE}} or interpolate).",
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
