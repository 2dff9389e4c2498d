"""Paths a spec makes Keras write: each one stays inside the run directory (docs/security.md).

A spec can come from a stranger, so an argument that names a file or folder to write
(``csv_logger: {filename: ...}``, ``model_checkpoint: {filepath: ...}``, ``tensor_board: {log_dir:
...}``, ``backup_and_restore: {backup_dir: ...}``) must not reach the user's other files. Which
arguments are paths is read from the argument's *name*, the way Keras names them in every
signature (``filepath``, ``filename``, ``log_dir``, ``backup_dir``, ``directory``, ``path``), never
from a list of classes: a callback added to Keras is covered as soon as the catalog lists it.

Two checks, one per stage:

* :func:`path_problem` (no file system, run by ``dlbuild validate``): the value is relative, not a
  URL, not empty, and does not climb out with ``..``; it does not name one of dlbuild's own files.
* :func:`confine` (when the run directory exists, just before Keras gets the path): the path,
  symbolic links resolved, is still inside the run directory.

Paths a spec *reads* (``data.csv``, ``model.init_from``) are not arguments of Keras objects and are
not affected: they may point anywhere the user can read.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

# The last word of an argument name that makes it a path (``log_dir`` → ``dir``).
PATH_WORDS = frozenset({"path", "filepath", "filename", "file", "dir", "directory", "logdir", "folder"})
# dlbuild's own files in a run directory (builder/run/rundir.py): a spec callback writing one would
# replace the run's record of itself (``csv_logger: {filename: history.csv}``).
OWN_FILES = frozenset({
    "run.json", "spec.resolved.yaml", "model.keras", "history.csv", "metrics.json", "backup", "tensorboard",
    "vocabulary.json", "cv.json", "export", "export.json", "model.png", "learning_curves.png",
    "confusion_matrix.png", "model.png.skipped.txt", "run.lock"})
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_path_argument(arg: str) -> bool:
    """True when the argument's name says it takes a path (``filepath``, ``log_dir``, ``backup_dir``)."""
    return isinstance(arg, str) and arg.lower().split("_")[-1] in PATH_WORDS


def path_problem(value: Any) -> str | None:
    """What is wrong with ``value`` as a path a spec makes Keras write, as the end of a sentence
    ("'filename' ..."), or None when it is a relative path that stays inside the run directory.

    Checked without the file system; symbolic links are checked by :func:`confine`. A value that is
    not a string is left to Keras (it raises for it when the object is built).
    """
    if not isinstance(value, str):
        return None
    example = PurePosixPath(value.replace("\\", "/")).name or "output"
    hint = f"a spec writes only inside its run directory: give a path relative to it, e.g. '{example}'"
    if not value.strip():
        return f"must name a file or folder inside the run directory; received: {value!r}"
    if "\0" in value:
        return f"contains a NUL character; received: {value!r}"
    if _URL.match(value):
        return f"is a URL; {hint}; received: {value!r}"
    if PurePosixPath(value).is_absolute() or PureWindowsPath(value).drive or value.startswith(("~", "\\")):
        return f"is an absolute path; {hint}; received: {value!r}"
    normal = os.path.normpath(value.replace("\\", "/"))
    if normal == ".." or normal.startswith("../"):
        return f"climbs out of the run directory with '..'; {hint}; received: {value!r}"
    if normal == ".":
        return f"names the run directory itself; name a file or folder inside it; received: {value!r}"
    first = normal.split("/")[0]
    if first in OWN_FILES:
        return (f"names dlbuild's own '{first}' in the run directory, which it would replace; "
                f"choose another name, e.g. 'my_{first}'; received: {value!r}")
    return None


def confine(root: str | os.PathLike, value: str) -> Path:
    """``root / value`` after checking that it stays inside ``root`` with symbolic links resolved.

    Args:
        root: the run directory (it exists).
        value: a path that passed :func:`path_problem`.

    Returns:
        The absolute path under ``root`` (symbolic links resolved), which does not yet need to exist.

    Raises:
        ValueError: the value fails :func:`path_problem`, or a symbolic link inside ``root`` points
            outside it; the message ends a sentence that starts with the argument's name.
    """
    problem = path_problem(value)
    if problem:
        raise ValueError(problem)
    base = Path(root).resolve()
    target = (base / value).resolve()
    if target != base and base not in target.parents:
        raise ValueError(f"leads outside the run directory through a symbolic link (to {target}); "
                         f"received: {value!r}")
    return target
