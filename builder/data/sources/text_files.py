"""``data.text_dir`` and ``data.text_file``: plain UTF-8 texts → :class:`~builder.data.sources.arrays.Arrays`.

``text_dir: DIR`` is a labelled text set, ``DIR/<class>/*.txt`` (also ``.text``, ``.md``): x ``(n,)``
strings, one per file, y ``(n,)`` int32 indices of the sorted class folder names (kind ``text``).
``text_file: PATH`` is one corpus for ``language_model`` / ``masked_lm`` / ``pairs.derive``: x ``(1,)``
holding the whole text, y ``(1,)`` zeros (kind ``corpus``). Undecodable bytes are replaced, not fatal.
No TensorFlow.
"""

from __future__ import annotations

import pathlib

import numpy as np

from builder.data.sources.arrays import Arrays
from builder.errors import Diagnostic, SpecError

TEXT_SUFFIXES = (".txt", ".text", ".md")


def load_text_dir(path: pathlib.Path, data: dict, task: str | None) -> Arrays:
    """``DIR/<class>/*.txt``: one sample per file, classes = sub-directory names (sorted).

    Raises:
        SpecError: at ``data.text_dir``: fewer than 2 class folders, or no text file in them.
    """
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


def load_text_file(path: pathlib.Path, data: dict, task: str | None) -> Arrays:
    """A plain UTF-8 text: a corpus for ``language_model`` / ``masked_lm``."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return Arrays(np.array([text], dtype=object), np.zeros(1, np.int32), None, None, None, "sequence",
                  path.name, info={"kind": "corpus"})
