"""Model → ``.keras`` / SavedModel / TFLite (LiteRT) / ONNX artifacts, each verified by running it.

Layout written by :func:`export_run` (every file written to a temporary name, then renamed, via
:func:`builder.atomic.atomic_path`, so an artifact is complete or absent)::

    <run_dir>/export/model.keras             + model.keras.json         (sidecar)
    <run_dir>/export/saved_model/            + saved_model.json
    <run_dir>/export/model.tflite            + model.tflite.json        (fp32, quantization none)
    <run_dir>/export/model.<q>.tflite        + model.<q>.tflite.json    (q: float16 dynamic int8 int8-io)
    <run_dir>/export/model.onnx              + model.onnx.json          (optional extra: dlbuild[onnx])
    <run_dir>/export.json                    one entry per artifact (see :func:`export_model`)

Inputs: a built ``keras.Model`` (or a run directory), format and quantization names. Outputs: the
artifacts, their sidecars and the report. Each format's converter and runtime come from
:data:`builder.export.formats.FORMAT_TABLE`; int8 modes are converted in a child process
(:mod:`builder.export.quantize`); every artifact is verified against the in-memory model
(:mod:`builder.export.verify`, reference from :mod:`builder.export.reference`). A failed artifact
is marked ``failed`` and :class:`ExportError` is raised after every artifact was tried and
``export.json`` written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Iterable

from builder.atomic import write_json
from builder.errors import DlbuildError
from builder.export.batches import as_input_dict, n_samples
from builder.export.formats import FORMAT_TABLE, check_names, jobs
from builder.export.model_facts import recurrent_layers
from builder.export.quantizations import QUANTIZATION_TABLE
from builder.export.quantize import calibrate_in_child
from builder.export.reference import Reference, prepare_reference, run_samples
from builder.export.report import describe, short_error, sidecar, versions
from builder.export.to_onnx import onnx_missing
from builder.export.verify import DEFAULT_THRESHOLDS, verify_artifact
from builder.run.artifacts import load_keras, load_run_spec


class ExportError(DlbuildError):
    """An artifact failed to convert or failed its verification (exit code 1).

    Attributes:
        export_report: The export report (``export.json`` contents) with every artifact's verdict.
        failed: ``[(artifact_name, reason)]`` for the failed artifacts.
    """

    exit_code = 1

    def __init__(self, message: str, report: dict | None = None, failed: list | None = None):
        super().__init__(message)
        self.export_report = report or {}
        self.failed = failed or []

    def report(self) -> str:
        """One ``dlbuild: error: ARTIFACT: CHECK`` line per failed artifact."""
        return "\n".join(f"dlbuild: error: {a}: {r}" for a, r in self.failed) or f"dlbuild: error: {self}"


def _size(path: Path) -> int:
    """Bytes of a file, or of every file under a directory."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def _raise_failed(entries: list[dict], report: dict) -> None:
    failed = [(e["artifact"], e["reason"]) for e in entries if e["verdict"] != "ok"]
    if failed:
        raise ExportError("; ".join(f"{a}: {r}" for a, r in failed), report, failed)


def _verify(entry: dict, path: Path, fmt, ref: Reference, th: dict) -> dict | None:
    target = ref.lowered if fmt.lowered else ref.full
    return verify_artifact(entry, path, fmt, model_inputs=target.inputs, xd=target.xd, ref=ref.outputs,
                           y_true=ref.y_true, ref_acc=ref.accuracy, th=th, classification=ref.classification)


def export_model(model, out_dir: Path, formats: Iterable[str], quantization: str | Iterable[str] = "none", *,
                 representative_x=None, x_check=None, y_check=None, class_names=None, input_names=None,
                 thresholds: dict | None = None, report_path: Path | None = None, task: str | None = None,
                 log=print) -> dict:
    """Export ``model`` to ``out_dir`` in ``formats`` and verify every artifact by running it.

    Args:
        model: A built ``keras.Model`` (the reference every artifact is compared with).
        out_dir: Directory for the artifacts and their ``<artifact>.json`` sidecars.
        formats: Names of :data:`builder.catalog.formats.FORMATS`. ``tflite`` is written once per
            quantization; ``onnx`` needs the optional extra (``pip install "dlbuild[onnx]"``),
            checked before any work.
        quantization: A name of :data:`builder.catalog.formats.QUANTIZATIONS`, or several;
            applies to ``tflite`` only.
        representative_x: Training samples ``(n, ...)`` or ``{input_name: (n, ...)}`` for int8
            calibration (required for int8 / int8-io).
        x_check, y_check: Held-out samples (same layout) and, for classification, their labels
            ``(n,)``. Without ``x_check`` 8 random inputs are used and only max |Δ| is checked.
        class_names: Class index → name, written to the sidecars.
        input_names: Kept for API symmetry; the Keras input names (the spec's) are used.
        thresholds: Overrides of :data:`builder.export.verify.DEFAULT_THRESHOLDS`.
        report_path: Where the report is written (default ``out_dir.parent / "export.json"``).
        task: ``classification`` | ``regression`` (default: classification when ``y_check`` holds
            integer labels).
        log: Progress lines.

    Returns:
        The report: ``{"artifacts": [entry, ...], "check_samples": n, "reference_accuracy": a}``;
        each entry holds ``artifact`` (path relative to ``out_dir.parent``), ``format``,
        ``quantization``, ``bytes``, ``max_abs_diff``, ``accuracy`` (classification), ``latency_ms``
        (median of 50 batch-1 calls, milliseconds, this machine, the runtime's default threads),
        ``batch`` (``"dynamic"`` or ``1``), ``verdict`` (``ok`` | ``failed``) and ``reason``.

    Raises:
        ExportError: any artifact failed to convert or to verify; the report (written first)
            is attached, and the message names each failed artifact and its failed check.
        ValueError: an unknown format or quantization.
    """
    formats = list(dict.fromkeys(formats))
    quants = [quantization] if isinstance(quantization, str) else list(dict.fromkeys(quantization))
    check_names(formats, quants)
    if "onnx" in formats and onnx_missing():  # fail before any work, not after the other formats
        raise ExportError(onnx_missing(), {}, [(str(Path(out_dir).name) + "/model.onnx", onnx_missing())])
    th = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Leftovers of a killed export: temporary names start with "." (builder.atomic.atomic_path).
    for stale in out_dir.glob(".*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    root = out_dir.parent
    report_path = Path(report_path) if report_path else root / "export.json"
    plan = jobs(formats, quants)
    ref = prepare_reference(model, x_check, y_check, task, lower=any(f.lowered for f, _ in plan),
                            vocabulary_dir=out_dir, log=log)
    for line in ref.extra_notes:
        log(f"dlbuild: {line}")
    low = ref.lowered
    rep = as_input_dict(representative_x, ref.full.inputs) if representative_x is not None else None
    rep = low.vectorize(rep) if rep is not None and low.vectorize else rep
    rnn = bool(recurrent_layers(model))

    child: dict[str, str | None] = {}  # calibrated modes: quantization → None (converted) or reason
    calibrated = [(q, out_dir / f.artifact(q)) for f, q in plan if QUANTIZATION_TABLE[q].calibrated]
    if calibrated and not low.error:
        if rep is None:
            child = {q: "int8 calibration needs a representative sample of the training split "
                        "(export a run directory, not a bare model file)" for q, _ in calibrated}
        else:
            child = calibrate_in_child(low.model, rep, calibrated, out_dir, log)

    entries = []
    for fmt, q in plan:
        name = fmt.artifact(q)
        path = out_dir / name
        target = low if fmt.lowered else ref.full
        entry = {"artifact": str(path.relative_to(root)), "format": fmt.name, "quantization": q,
                 "bytes": None, "max_abs_diff": None, "accuracy": None, "latency_ms": None,
                 "batch": fmt.recurrent_batch if rnn else "dynamic", "verdict": None, "reason": None}
        entries.append(entry)
        try:
            if target.error:
                raise RuntimeError(target.error)
            if QUANTIZATION_TABLE[q].calibrated:
                if child.get(q, "the int8 child process reported nothing"):
                    raise RuntimeError(child.get(q, "the int8 child process reported nothing"))
            else:
                fmt.convert(target.model, path, q, rep)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, RuntimeError) else short_error(exc)
            if "Flex" in reason or "not supported" in reason:
                reason = ("needs TensorFlow (Flex) ops outside LiteRT's builtins; not shipped: " + reason)
            entry.update(verdict="failed", reason=f"conversion failed: {reason}")
            _remove(path)
            log("  " + describe(entry))
            continue
        entry["bytes"] = _size(path)
        io = _verify(entry, path, fmt, ref, th)
        write_json(out_dir / f"{name}.json", sidecar(entry, target.io, io, class_names, ref.task, target.notes,
                                                     fmt.sidecar_io))
        log("  " + describe(entry))
    report = {"artifacts": entries, "check_samples": n_samples(ref.full.xd), "reference_accuracy": ref.accuracy,
              "task": ref.task, "thresholds": th, "versions": versions()}
    write_json(report_path, report)
    _raise_failed(entries, report)
    return report


def _load_run(run_dir: Path, check_samples: int, calibration_samples: int):
    """``(model, x_check, y_check, representative_x, class_names, task)`` of a finished run.

    Raises:
        FileNotFoundError: no ``model.keras`` / ``spec.resolved.yaml``; SpecError: see :func:`run_samples`.
    """
    for need in ("model.keras", "spec.resolved.yaml"):
        if not (run_dir / need).is_file():
            raise FileNotFoundError(f"{run_dir} is not a finished dlbuild run: {need} is missing")
    spec = load_run_spec(run_dir)
    return spec, load_keras(run_dir / "model.keras"), *run_samples(spec, check_samples, calibration_samples)


def export_run(run_dir: Path, formats=None, quantization=None, log=print, *, check_samples: int = 500,
               calibration_samples: int = 200, thresholds: dict | None = None) -> dict:
    """Export a finished run: ``run_dir/model.keras`` → ``run_dir/export/``, report in
    ``run_dir/export.json``.

    Args:
        run_dir: A run directory written by ``dlbuild fit`` (``model.keras``, ``spec.resolved.yaml``).
        formats: Default: the spec's ``export.formats``.
        quantization: str or list; default: the spec's ``export.quantization``. ``tflite`` fp32
            (``none``) is always included beside a quantized mode, as its baseline.
        check_samples: Held-out (test split) samples used for verification.
        calibration_samples: Training samples (a seeded random subset) for int8 calibration.
        thresholds: Overrides of :data:`builder.export.verify.DEFAULT_THRESHOLDS`.

    Returns:
        The report (see :func:`export_model`).

    Raises:
        ExportError: an artifact failed (report written first).
        SpecError: the run's data cannot be loaded (spec problems, located).
        FileNotFoundError: ``run_dir`` holds no ``model.keras`` / ``spec.resolved.yaml``.
    """
    run_dir = Path(run_dir)
    spec, model, x_check, y_check, rep, class_names, task = _load_run(run_dir, check_samples, calibration_samples)
    formats = list(formats or spec.export.get("formats") or ["keras"])
    quantization = quantization or spec.export.get("quantization", "none")
    quants = [quantization] if isinstance(quantization, str) else list(quantization)
    if any(FORMAT_TABLE[f].per_quantization for f in formats if f in FORMAT_TABLE) and "none" not in quants:
        quants = ["none", *quants]
    log(f"dlbuild: exporting {run_dir} ({', '.join(formats)}; tflite: {', '.join(quants)})")
    return export_model(model, run_dir / "export", formats, quants, representative_x=rep, x_check=x_check,
                        y_check=y_check, class_names=class_names, thresholds=thresholds,
                        report_path=run_dir / "export.json", task=task, log=log)


def verify_run(run_dir: Path, log=print, *, check_samples: int = 500, thresholds: dict | None = None) -> dict:
    """Re-verify the artifacts listed in ``run_dir/export.json`` against ``run_dir/model.keras``
    without re-exporting them (detects artifacts changed or damaged after export).

    Returns:
        The refreshed report, also written to ``export.json``.

    Raises:
        ExportError: an artifact is missing or fails its check (message names it and the check).
        FileNotFoundError: no ``export.json`` (run ``dlbuild export`` first).
    """
    run_dir = Path(run_dir)
    report_path = run_dir / "export.json"
    if not report_path.is_file():
        raise FileNotFoundError(f"{run_dir} has no export.json; run 'dlbuild export {run_dir}' first")
    old = json.loads(report_path.read_text())
    _, model, x_check, y_check, _, _, task = _load_run(run_dir, check_samples, 1)
    th = {**DEFAULT_THRESHOLDS, **old.get("thresholds", {}), **(thresholds or {})}
    ref = prepare_reference(model, x_check, y_check, task, log=log)
    entries = []
    for e in old.get("artifacts", []):
        entry = {**e, "verdict": None, "reason": None, "max_abs_diff": None, "accuracy": None, "latency_ms": None}
        path = run_dir / e["artifact"]
        fmt = FORMAT_TABLE[e["format"]]
        entries.append(entry)
        if not path.exists():
            entry.update(verdict="failed", reason="artifact is missing")
        elif fmt.lowered and ref.lowered.error:
            entry.update(verdict="failed", reason=ref.lowered.error)
        else:
            entry["bytes"] = _size(path)
            _verify(entry, path, fmt, ref, th)
        log("  " + describe(entry))
    report = {**old, "artifacts": entries, "check_samples": n_samples(ref.full.xd), "reference_accuracy": ref.accuracy}
    write_json(report_path, report)
    _raise_failed(entries, report)
    return report
