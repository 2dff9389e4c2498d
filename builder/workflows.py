"""What a command does end to end: the one place that calls across the stages of the flow.

``dlbuild fit`` is :func:`fit`: a training run (or a cross-validation, one run per fold), its
closing summary, then the export the spec asks for. ``dlbuild tune`` is :func:`tune`: the search,
then the best spec retrained by :func:`fit` (so it is exported too). Stages below never call back
up here, so the layers stay a straight line: spec → model → data → run → tune → export → here → cli.
Inputs are checked :class:`~builder.spec.load.Spec` objects; outputs are run and tune directories.
"""

from __future__ import annotations

from pathlib import Path

from builder.spec.load import Spec


def fit(spec: Spec, *, run_dir: str | Path | None = None, runs_root: str | Path = "runs", resume: bool = False,
        epochs: int | None = None, verbose=None, log=print, splits=None):
    """Train ``spec``, write its run directory, print the summary and export the model.

    A spec with ``fit.cross_validation`` is trained fold by fold
    (:func:`builder.run.crossval.cross_validate`); otherwise once (:func:`builder.run.train.fit_one`).
    When ``export.formats`` names more than ``keras``, the chief exports and verifies the model
    (the fold ensemble for a cross-validation) with :func:`builder.export.api.export_run`.

    Args:
        spec: A checked spec (:func:`builder.spec.load.load_spec`), search spaces resolved.
        run_dir: The run directory; default ``<runs_root>/<name>/<timestamp>``, or with
            ``resume`` the latest unfinished run of this spec under ``runs_root``.
        runs_root: Where new run directories go.
        resume: Continue an interrupted run from its last completed epoch (Keras
            ``BackupAndRestore``: weights, optimizer state and epoch counter).
        epochs: Overrides ``fit.epochs``.
        verbose: Overrides ``fit.verbose`` (Keras: "auto" | 0 | 1 | 2).
        log: Where progress lines go (``print``; ``click.echo`` for the CLI).
        splits: The data, already loaded and split (:func:`builder.run.preflight.preflight`);
            default: loaded here. Ignored by a cross-validation (it splits into folds itself).

    Returns:
        :class:`builder.run.train.FitResult` (run directory, model, history, metrics).

    Raises:
        SpecError: data or model-building problems, located in the spec.
        builder.run.rundir.RunDirError: the run directory is unwritable, or cannot be resumed.
        builder.errors.TrainingError: the loss became NaN/Inf.
        builder.export.api.ExportError: an artifact failed to convert or verify (the run itself
            stays completed).
    """
    if spec.fit.get("cross_validation") is not None:
        from builder.run.crossval import cross_validate

        result = cross_validate(spec, run_dir=run_dir, runs_root=runs_root, resume=resume, epochs=epochs,
                                verbose=verbose, log=log)
    else:
        from builder.run.train import fit_one, summary

        result = fit_one(spec, run_dir=run_dir, runs_root=runs_root, resume=resume, epochs=epochs,
                         verbose=verbose, log=log, splits=splits)
        log(summary(spec, result.metrics, result.history, result.run_dir))
    if result.chief and any(f != "keras" for f in spec.export.get("formats") or []):
        from builder.export.api import export_run

        export_run(result.run_dir, log=log)
    return result


def tune(spec: Spec, *, out_dir: str | Path | None = None, runs_root: str | Path = "runs", retrain: bool = True,
         verbose: int = 0, log=print, **search_options) -> dict:
    """Search ``spec``'s space (:func:`builder.tune.search.tune`), then retrain the best spec on
    train + validation with :func:`fit` (``<tune dir>/best``, exported like any run).

    Args:
        spec: A checked spec with search spaces.
        out_dir, runs_root: The tune directory (rerun with the same one to resume), or where a new
            one goes (``<runs_root>/<name>/tune-<timestamp>``).
        retrain: Retrain the best spec after the search.
        verbose: Keras's per-epoch progress inside trials (0 or 2).
        log: Where progress lines go.
        **search_options: ``chief``, ``worker``, ``tuner_id``, ``workers``, ``overrides`` of
            :func:`builder.tune.search.tune`.

    Returns:
        ``{"dir": Path, "best_values": dict, "trials": [rows], "best_run": FitResult | None}``.

    Raises:
        SpecError: the spec is not tunable, or a trial hit a spec mistake (located).
        RuntimeError: no trial completed.
    """
    from builder.tune.search import tune as search

    def retrain_best(best: Spec, run_dir: Path):
        return fit(best, run_dir=run_dir, verbose=verbose, log=log)

    return search(spec, out_dir=out_dir, runs_root=runs_root, retrain=retrain_best if retrain else None,
                  verbose=verbose, log=log, **search_options)
