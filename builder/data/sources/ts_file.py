"""``data.ts``: a sktime ``.ts`` classification file (UEA/UCR archives) → :class:`~builder.data.sources.arrays.Arrays`.

:func:`read_ts` parses the format (``@``-header, then ``dim1:dim2:...:label`` lines, ``?`` = NaN);
:func:`load_ts` turns it into Arrays: x a ragged ``(n,)`` object array of ``(length, channels)``
float32 series (channels last; lengths may differ), y ``(n,)`` int32 indices of the ``@classLabel``
names (kind ``sequences``; ``data.sequence`` pads them after splitting). A ``X_TRAIN.ts`` takes
``X_TEST.ts`` beside it as the official test split. No TensorFlow.
"""

from __future__ import annotations

import pathlib

import numpy as np

from builder.data.sources.arrays import Arrays, ragged
from builder.errors import Diagnostic, SpecError


def read_ts(path: str | pathlib.Path) -> tuple[list[np.ndarray], list[str], tuple[str, ...] | None]:
    """Parse a sktime ``.ts`` file (``@``-header, then ``dim1:dim2:...:label`` lines).

    Returns:
        ``(series, labels, class_names)``: each series a float32 array ``(length, channels)``
        (channels last; lengths may differ), one label string per series, and the
        ``@classLabel`` names in declared order (None when the header has none).

    Raises:
        ValueError: a malformed file, timestamps (``@timeStamps true``), or dimensions of unequal
            length within one case.
    """
    series, labels, class_names, header = [], [], None, {}
    in_data = False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise ValueError(f"{path}:{lineno}: expected an @-header line before @data")
                tag, _, rest = line[1:].partition(" ")
                tag = tag.lower()
                if tag == "data":
                    in_data = True
                elif tag == "classlabel":
                    words = rest.split()
                    if words and words[0].lower() == "true":
                        class_names = tuple(words[1:])
                else:
                    header[tag] = rest.strip()
                continue
            if header.get("timestamps", "false").lower() == "true":
                raise ValueError(f"{path}: '@timeStamps true' files are not supported")
            parts = line.split(":")
            if class_names is not None:
                labels.append(parts.pop().strip())
            dims = []
            for p in parts:
                vals = [float("nan") if v.strip() == "?" else float(v) for v in p.split(",") if v.strip()]
                dims.append(vals)
            if len({len(d) for d in dims}) != 1:
                raise ValueError(f"{path}:{lineno}: the dimensions of this case differ in length "
                                 f"({sorted({len(d) for d in dims})})")
            series.append(np.asarray(dims, np.float32).T.copy())
    if not in_data:
        raise ValueError(f"{path}: no @data line")
    return series, labels, class_names


def load_ts(path: pathlib.Path, data: dict, task: str | None) -> Arrays:
    """A sktime ``.ts`` classification file; ``X_TRAIN.ts`` takes ``X_TEST.ts`` beside it as the test split.

    Raises:
        SpecError: at ``data.ts``: an unreadable or malformed file, no ``@classLabel true``, or
            labels outside the declared class names.
    """

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
