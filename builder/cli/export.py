"""``dlbuild export`` and ``dlbuild predict`` (click commands; registered in :mod:`builder.cli.main`).

Exit codes (docs/architecture.md, "CLI contract and exit codes"): 0 success; 1 an artifact failed
to convert or verify (:class:`builder.export.api.ExportError`), or MODEL/INPUT cannot be used; 2 a
spec or usage error.
TensorFlow is imported inside the command bodies only.
"""

from __future__ import annotations

from pathlib import Path

import click

from builder.catalog.formats import FORMATS, QUANTIZATIONS
from builder.cli.report import handle_errors


@click.command("export")
@click.argument("target", metavar="RUN_DIR|MODEL", type=click.Path(exists=True))
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS),
              help="Artifact format (repeatable). Default: the spec's export.formats. onnx needs "
                   'pip install "dlbuild[onnx]".')
@click.option("--quantization", "quantizations", multiple=True, type=click.Choice(QUANTIZATIONS),
              help="TFLite quantization (repeatable). Default: the spec's export.quantization; fp32 "
                   "TFLite is always written beside a quantized one.")
@click.option("--check-samples", default=500, show_default=True, type=click.IntRange(min=1),
              help="Held-out test samples each artifact is verified on.")
@click.option("--calibration-samples", default=200, show_default=True, type=click.IntRange(min=1),
              help="Training samples for int8 calibration.")
@click.option("--verify-only", is_flag=True,
              help="Re-verify the artifacts listed in RUN_DIR/export.json without re-exporting them.")
@handle_errors
def export_cmd(target: str, formats: tuple, quantizations: tuple, check_samples: int, calibration_samples: int,
               verify_only: bool) -> None:
    """Export a run (or a .keras MODEL) and verify every artifact by running it.

    Writes RUN_DIR/export/ (artifacts + a JSON sidecar each) and RUN_DIR/export.json (bytes,
    max |Δ| vs Keras, accuracy, batch-1 latency, verdict). Exits 1 if any artifact fails.
    """
    from builder.export import api as export
    from builder.run.artifacts import load_keras

    path = Path(target)
    if verify_only:
        export.verify_run(path, log=click.echo, check_samples=check_samples)
        click.echo(f"dlbuild: every artifact in {path / 'export.json'} verified")
        return
    if path.is_dir():
        report = export.export_run(path, formats=list(formats) or None, quantization=list(quantizations) or None,
                                   log=click.echo, check_samples=check_samples,
                                   calibration_samples=calibration_samples)
        where = path / "export.json"
    elif path.suffix == ".keras":
        if (path.parent / "spec.resolved.yaml").is_file() and path.name == "model.keras":
            report = export.export_run(path.parent, formats=list(formats) or None,
                                       quantization=list(quantizations) or None, log=click.echo,
                                       check_samples=check_samples, calibration_samples=calibration_samples)
            where = path.parent / "export.json"
        else:
            model = load_keras(path)
            quants = list(quantizations) or ["none"]
            out = path.parent / f"{path.stem}_export"
            where = out / "export.json"
            report = export.export_model(model, out / "export", list(formats) or ["saved_model", "tflite"], quants,
                                         report_path=where, log=click.echo)
    else:
        raise click.UsageError(f"{target}: expected a run directory or a .keras file")
    n = len(report["artifacts"])
    click.echo(f"dlbuild: {n} artifact(s) exported and verified; report: {where}")


@click.command("predict")
@click.argument("model", type=click.Path(exists=True))
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the predictions to FILE (.csv or .json).")
@handle_errors
def predict_cmd(model: str, input_path: str, output: str | None) -> None:
    """Predict with MODEL (run dir, .keras, SavedModel dir, .tflite, .onnx) on INPUT (.npy/.npz, .csv,
    an image or a directory of images, or a text file with one input per line)."""
    from builder.export.predict import format_table, predict

    if output and Path(output).suffix not in (".csv", ".json"):
        raise click.BadParameter("must end in .csv or .json", param_hint="--output")
    rows = predict(model, input_path, output)
    if output:
        click.echo(f"dlbuild: {len(rows)} prediction(s) written to {output}")
    else:
        click.echo(format_table(rows))
