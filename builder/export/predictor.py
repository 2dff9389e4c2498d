"""Load MODEL for ``dlbuild predict``: a run directory or any exported artifact, ready to run.

MODEL is a run directory (its ``model.keras``), a ``.keras`` file, a SavedModel directory, a
``.tflite`` file or a ``.onnx`` file (needs the ``dlbuild[onnx]`` extra); the format is found by
:data:`builder.export.formats.FORMAT_TABLE` (``recognizes``) and run by its runtime
(:mod:`builder.export.runtimes`). Class names come from the artifact's sidecar
(``<artifact>.json``, written by :mod:`builder.export.api`) or from the run's ``metrics.json``;
the CSV target column from the run's ``spec.resolved.yaml``. Output: a :class:`Predictor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.errors import DlbuildError
from builder.export.formats import FORMAT_TABLE
from builder.run.artifacts import read_resolved_spec, read_run_json


class PredictError(DlbuildError):
    """MODEL or INPUT cannot be used (unknown format, shape mismatch, unreadable file); exit code 1."""

    exit_code = 1


@dataclass
class Predictor:
    """A loaded artifact.

    Attributes:
        kind: A format name of :data:`builder.catalog.formats.FORMATS`.
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


def _run_meta(run_dir: Path) -> tuple[list | None, str | None]:
    """(class names from metrics.json, the CSV target column from spec.resolved.yaml)."""
    data = read_resolved_spec(run_dir).get("data")
    return read_run_json(run_dir / "metrics.json").get("class_names"), (
        data.get("target") if isinstance(data, dict) else None)


def load_predictor(model_path: str | Path) -> Predictor:
    """Load MODEL (see the module docstring).

    Raises:
        PredictError: the path is none of the supported formats, or its runtime cannot use it
            (e.g. onnxruntime is not installed; the message names the pip command).
    """
    path = Path(model_path)
    if path.is_dir() and (path / "model.keras").is_file():  # a run directory
        pred = load_predictor(path / "model.keras")
        names, target = _run_meta(path)
        pred.class_names = pred.class_names or names
        pred.target = target
        return pred
    fmt = next((f for f in FORMAT_TABLE.values() if f.recognizes(path)), None)
    if fmt is None:
        raise PredictError(f"{path}: not a run directory, .keras file, SavedModel directory, .tflite or .onnx file")
    side = read_run_json(path.with_name(path.name + ".json"))
    run_dir = path.parent.parent if path.parent.name == "export" else path.parent
    names, target = _run_meta(run_dir)
    try:
        runner = fmt.runtime(path, None)
    except RuntimeError as exc:  # e.g. the optional extra is not installed
        raise PredictError(str(exc)) from exc
    return Predictor(fmt.name, runner.input_specs(), runner.run, side.get("class_names") or names, target)
