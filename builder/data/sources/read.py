"""``spec.data`` → raw :class:`~builder.data.sources.arrays.Arrays`: pick the one source and read it.

The dispatcher over the source modules, one per spec key: ``dataset``
(:mod:`~builder.data.sources.bundled`), ``csv`` (:mod:`~builder.data.sources.csv_file`), ``npz``
(:mod:`~builder.data.sources.npz_file`), ``ts`` (:mod:`~builder.data.sources.ts_file`), ``text_dir`` /
``text_file`` (:mod:`~builder.data.sources.text_files`). It checks that exactly one is given and
that ``data.task`` is valid, and resolves file paths against the spec's directory. The sequence
options (``window``, ``tokenize``, …) are applied above, by :func:`builder.data.load.load_arrays`.
No TensorFlow.
"""

from __future__ import annotations

import pathlib

from builder.data.sources.arrays import Arrays, unknown
from builder.data.sources.bundled import load_dataset
from builder.data.sources.csv_file import load_csv
from builder.data.sources.npz_file import load_npz
from builder.data.sources.text_files import load_text_dir, load_text_file
from builder.data.sources.ts_file import load_ts
from builder.errors import Diagnostic, SpecError
from builder.spec.sections import DATA_SOURCES as SOURCES, TASKS

_FILE_LOADERS = {"csv": load_csv, "npz": load_npz, "ts": load_ts, "text_dir": load_text_dir,
                 "text_file": load_text_file}


def read_source(data: dict, spec_dir: pathlib.Path) -> Arrays:
    """Read the one source named by the spec's ``data`` mapping (plain Python values).

    Args:
        data: ``{"dataset": NAME}``, ``{"csv": PATH, ...}``, ``{"npz": PATH, ...}``, ``{"ts": PATH}``,
            ``{"text_dir": DIR}`` or ``{"text_file": PATH}``; optional ``task`` overrides the inferred
            task. Other keys are read by the source modules or ignored here.
        spec_dir: directory that relative paths resolve against.

    Returns:
        The source's raw :class:`Arrays` (shapes: each source module's docstring).

    Raises:
        SpecError: none or several sources, bad ``task`` (or one that contradicts a bundled
            dataset's), a missing file or directory, and whatever the source module raises.
    """
    given = [k for k in SOURCES if data.get(k) is not None]
    if len(given) != 1:
        got = "none" if not given else ", ".join(f"'{k}'" for k in given)
        raise SpecError(Diagnostic(
            f"`data` needs exactly one source: {', '.join(repr(k) for k in SOURCES)}; received {got}.",
            ("data",) if not given else ("data", given[1]), "value" if not given else "key"))
    kind = given[0]
    task = data.get("task")
    if task is not None and task not in TASKS:
        raise SpecError(Diagnostic(
            unknown("task", task, TASKS, "Expected 'classification' or 'regression'."),
            ("data", "task")))
    if kind == "dataset":
        arrays = load_dataset(data["dataset"])
        if task is not None and task != arrays.task:
            raise SpecError(Diagnostic(
                f"Dataset '{arrays.name}' is a {arrays.task} dataset; received task: {task}.", ("data", "task")))
        return arrays
    return _FILE_LOADERS[kind](_resolve(data[kind], kind, spec_dir), data, task)


def _resolve(value: object, kind: str, spec_dir: pathlib.Path) -> pathlib.Path:
    """``data.<kind>`` as an existing path (relative paths against ``spec_dir``, ``~`` expanded)."""
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
