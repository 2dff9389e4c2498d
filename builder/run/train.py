"""One training run: a checked spec → a run directory (imports TensorFlow).

:func:`fit_one` sets up the run directory (new, resumed, or a worker's own), trains with the
shared trial step (:mod:`builder.run.trial`) and dlbuild's callbacks (:mod:`builder.run.callbacks`),
then writes ``model.keras``, ``history.csv`` (one row per epoch), ``metrics.json`` (test/val
metrics, ``fit_seconds`` in seconds) and the plots. :func:`summary` is the closing text of
``dlbuild fit``. Cross-validation, the summary and the export around a run are
:func:`builder.workflows.fit`'s.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from builder.atomic import atomic_path, write_json, write_text
from builder.data.load import load_splits
from builder.data.pipeline import Pipelines
from builder.data.splits import Splits
from builder.errors import Diagnostic, SpecError
from builder.run import trial
from builder.run.artifacts import read_history
from builder.run.callbacks import build_callbacks, nan_guard, restore_from_chief, stop_on_interrupt
from builder.run.preflight import sizes
from builder.run.provenance import provenance
from builder.run.evaluate import evaluate_dataset, tta_metrics
from builder.run.rundir import RunDir
from builder.spec.dump import anchor_read_paths, dump_yaml
from builder.spec.load import Spec


@dataclass
class FitResult:
    """What a finished ``fit`` produced.

    Attributes:
        run_dir: The run directory.
        model: The trained ``keras.Model`` (best weights if a callback restored them).
        history: ``{metric: [value per epoch]}`` over every epoch, resumed ones included.
        metrics: The contents of ``metrics.json``.
        splits: The data it was trained on (:class:`builder.data.splits.Splits`).
        chief: Whether this process wrote the run directory (multi-worker training: worker 0).
    """

    run_dir: Path
    model: object
    history: dict
    metrics: dict = field(default_factory=dict)
    splits: object = None   # the data it was trained on (builder.data.splits.Splits)
    chief: bool = True      # whether this process wrote the run directory (multi-worker: worker 0)


def resolved_document(spec: Spec, fit_cfg: dict) -> dict:
    """What ``spec.resolved.yaml`` holds: the spec's resolved values with ``fit_cfg`` as its
    ``fit`` section and the files it reads made absolute
    (:func:`builder.spec.dump.anchor_read_paths`), so that the file works from anywhere."""
    return {**anchor_read_paths(spec.values, spec.directory), "fit": fit_cfg}


def fit_one(spec: Spec, *, run_dir: str | Path | None = None, runs_root: str | Path = "runs",
            resume: bool = False, epochs: int | None = None, verbose=None, log=print,
            splits: Splits | None = None, fold: tuple[int, int] | None = None, plots: bool = True) -> FitResult:
    """Train ``spec`` once and write its run directory: set-up, data, compile (the shared trial step,
    :mod:`builder.run.trial`), ``Model.fit``, ``model.keras``, ``metrics.json`` and the plots.

    What a command does around it (cross-validation, the closing summary, the export) is
    :func:`builder.workflows.fit`'s.

    Args:
        spec: A checked spec (:func:`builder.spec.load.load_spec`), search spaces resolved.
        run_dir: The run directory; default ``<runs_root>/<name>/<timestamp>``, or with
            ``resume`` the latest unfinished run of this spec under ``runs_root``.
        resume: Continue an interrupted run from its last completed epoch (Keras
            ``BackupAndRestore``: weights, optimizer state and epoch counter).
        epochs: Overrides ``fit.epochs``.
        verbose: Overrides ``fit.verbose`` (Keras: "auto" | 0 | 1 | 2).
        log: Where progress lines go (``print`` for the CLI).
        splits: The data, already split (one cross-validation fold); default
            :func:`load_splits`.
        fold: ``(i, K)`` when this run is fold i of K of a cross-validation: recorded in
            ``run.json`` and ``metrics.json``.
        plots: Write the run's plots (:func:`builder.run.plots.plot_run`) at the end.

    Returns:
        :class:`FitResult`.

    Raises:
        SpecError: data or model-building problems, located in the spec.
        builder.run.rundir.RunDirError: the run directory is unwritable, cannot be resumed, or is
            in use by another process (its ``run.lock``, :mod:`builder.run.lock`).
    """
    from builder.run.distribute import is_chief, make_strategy, worker_index
    from builder.run.rundir import RunDirError

    try:  # first: a multi-worker strategy must exist before TensorFlow runs any op
        strategy = make_strategy(spec.distribute)
    except ValueError as err:
        raise SpecError([Diagnostic(str(err), ("distribute", "strategy"))], spec.source) from None
    trial.seed_everything(spec.seed)
    chief = is_chief(strategy)
    if not chief and run_dir is None:
        raise RunDirError("multi-worker training needs an explicit run directory (--out) shared by all workers")
    if not chief:
        # Only the chief writes the run directory; another worker keeps its own copy (and its
        # BackupAndRestore state, for resuming) in a sub-directory, as Keras's guide recommends.
        chief_backup = Path(run_dir) / "backup"
        run_dir = Path(run_dir) / "workers" / str(worker_index(strategy))
        resume = resume and (Path(run_dir) / "run.json").exists()
        if resume:
            restore_from_chief(chief_backup, Path(run_dir) / "backup")
    if resume:
        run = RunDir(run_dir) if run_dir else RunDir.latest_unfinished(Path(runs_root), spec.name)
        if run is None:
            raise RunDirError(f"no unfinished run of '{spec.name}' under {runs_root} to resume")
    else:
        run = RunDir(run_dir) if run_dir else RunDir.new(Path(runs_root), spec.name)
    with run.owned():  # one process per run directory: first, so a busy one is named as such
        if resume:
            run.check_resumable(spec.name)
        elif run.file("run.json").exists():
            raise RunDirError(f"{run.path} already holds a run; use --resume to continue it, "
                              "or choose another --out")
        return _train(spec, run, strategy, chief, splits=splits, epochs=epochs, verbose=verbose, log=log,
                      fold=fold, plots=plots)


def _train(spec: Spec, run: RunDir, strategy, chief: bool, *, splits: Splits | None, epochs: int | None,
           verbose, log, fold: tuple[int, int] | None, plots: bool) -> FitResult:
    """:func:`fit_one` once its run directory is chosen and owned: build, compile, train, write."""
    from builder.run.distribute import describe
    from builder.run.preflight import bind_data
    from builder.run.rundir import bytes_needed
    from builder.spec.placeholders import used

    if splits is None and used(spec.values.get("model")):  # $classes…: the data comes before the build
        splits = load_splits(spec)
    if splits is not None:
        spec = bind_data(spec, splits)
    model = trial.build(spec, strategy)  # shape errors are reported before any data is loaded
    # A resumed run restores adapted preprocessing state with the weights.
    prepared = trial.compile_model(spec, model, splits if splits is not None else load_splits(spec), strategy,
                                   adapt=not run.file("backup").exists())
    splits = prepared.splits
    log(f"dlbuild: {sizes(splits)}")
    fit_cfg = dict(spec.fit)
    if epochs is not None:
        fit_cfg["epochs"] = epochs
    pipes: Pipelines = trial.pipelines(spec, splits, fit_cfg["batch_size"])
    run.prepare(bytes_needed(model.count_params()))  # unwritable or full: say so before training
    callbacks = build_callbacks(spec, run)  # refuses a callback path that leaves the run directory
    from builder.data import text
    from builder.data.sequences.prepared import vocabulary as data_vocabulary
    from builder.data.sequences.windows import naive_forecast_metrics

    vocabulary = data_vocabulary(splits)
    if vocabulary:  # token ids ↔ text, for generate/predict and for fine-tuning from this run
        text.save_vocabulary(vocabulary, run.file("vocabulary.json"), splits.info.get("level"))
    header = "" if fold is None else (f"# Fold {fold[0]} of the {fold[1]}-fold cross-validation in "
                                      f"{run.path.parent}: trained on the other folds, validated on this one.\n")
    write_text(run.file("spec.resolved.yaml"), header + dump_yaml(resolved_document(spec, fit_cfg)))
    previous_seconds = float(run.state().get("fit_seconds", 0.0))
    extra = {} if fold is None else {"fold": fold[0], "folds": fold[1]}
    spec_file = str(spec.source.filename if spec.source else "")
    run.set_state("running", spec_name=spec.name, spec_file=spec_file, **extra,
                  **provenance(strategy, spec_file or None))
    log(f"dlbuild: training '{spec.name}' ({model.count_params():,} parameters; "
        f"{describe(strategy, fit_cfg['batch_size'])}) → {run.path}")
    started = time.perf_counter()
    guard = nan_guard()
    callbacks.insert(1, guard)  # after the epoch log, before BackupAndRestore saves the epoch
    callbacks.insert(0, stop_on_interrupt(log))
    try:
        model.fit(pipes.train, validation_data=pipes.val, epochs=fit_cfg["epochs"],
                  callbacks=callbacks, **trial.fit_arguments(spec, splits),
                  verbose=trial.keras_verbose(fit_cfg["verbose"] if verbose is None else verbose),
                  validation_freq=fit_cfg["validation_freq"], steps_per_epoch=fit_cfg.get("steps_per_epoch"))
    except KeyboardInterrupt:
        run.set_state("interrupted", fit_seconds=previous_seconds + time.perf_counter() - started)
        raise
    except BaseException:
        run.set_state("failed", fit_seconds=previous_seconds + time.perf_counter() - started)
        raise
    fit_seconds = previous_seconds + time.perf_counter() - started
    if guard.bad is not None:
        return _stop_on_nan(guard, model, run, fit_seconds)
    history = read_history(run.file("history.csv"))
    kept_epoch, kept_by = kept_weights(callbacks, len(history.get("epoch", [])))
    with atomic_path(run.file("model.keras")) as tmp:
        model.save(tmp)
    metrics = {
        "test": evaluate_dataset(model, pipes.test),
        **({"test_tta": tta_metrics(spec, model, pipes.test, strategy)} if spec.fit.get("tta") else {}),
        "val": evaluate_dataset(model, pipes.val),
        "params": int(model.count_params()),
        "epochs": len(history.get("epoch", [])),
        "kept_epoch": kept_epoch,
        "kept_by": kept_by,
        "fit_seconds": round(fit_seconds, 3),
        "train_samples": int(len(splits.train[1])),
        "batch_size": fit_cfg["batch_size"],
        "replicas": int(strategy.num_replicas_in_sync),
    }
    if fold is not None:
        metrics.update(fold=fold[0], folds=fold[1], val_samples=int(len(splits.val[1])))
    if splits.class_names:
        metrics["class_names"] = list(splits.class_names)
    if splits.info.get("missing"):  # data.missing: samples dropped, values filled
        metrics["missing"] = splits.info["missing"]
    naive = naive_forecast_metrics(splits)
    if naive:  # forecasting: the last-value baseline a model must beat
        metrics["naive_forecast"] = naive
    write_json(run.file("metrics.json"), metrics)
    if chief and plots:
        from builder.run.plots import plot_run

        try:
            plot_run(run.path, model=model, splits=splits, log=log, always_notice=False)
        except Exception as err:  # plots are a convenience: never lose a finished run over one
            log(f"dlbuild: plots skipped ({type(err).__name__}: {err}); retry with dlbuild plot {run.path}")
    run.set_state("completed", fit_seconds=fit_seconds)
    return FitResult(run.path, model, history, metrics, splits=splits, chief=chief)


def _stop_on_nan(guard, model, run: RunDir, fit_seconds: float):
    """The loss became NaN/Inf: keep the last finite epoch's weights, mark the run failed, say why.

    Raises:
        TrainingError: always, with the epoch and batch and what to try.
    """
    from builder.errors import TrainingError

    epoch, batch, loss = guard.bad
    kept = "no epoch finished with a finite loss, so no model was saved"
    if guard.good_weights is not None:
        model.set_weights(guard.good_weights)
        with atomic_path(run.file("model.keras")) as tmp:
            model.save(tmp)
        kept = f"model.keras holds the weights after epoch {guard.good_epoch}, the last with a finite loss"
    run.set_state("failed", fit_seconds=fit_seconds, reason=f"loss {loss} at epoch {epoch}, batch {batch}")
    raise TrainingError(f"the loss became {loss} (NaN/Inf) at epoch {epoch}, batch {batch}; {kept}. "
                        "Try a lower learning_rate, gradient clipping (clipnorm: 1.0 on the optimizer), "
                        f"or check the data for NaN values. Run directory: {run.path}")


def kept_weights(callbacks: list, epochs: int) -> tuple[int, str | None]:
    """The epoch (1-based) whose weights the model holds after ``fit`` and the monitor that chose
    it: an ``EarlyStopping(restore_best_weights=True)`` restores its best epoch (Keras 3 does so at
    the end of training whether or not it stopped early); otherwise the last epoch, by no monitor."""
    import keras

    for cb in callbacks:
        if isinstance(cb, keras.callbacks.EarlyStopping) and cb.restore_best_weights \
                and cb.best_weights is not None:
            return int(cb.best_epoch) + 1, cb.monitor
    return epochs, None


def summary(spec: Spec, metrics: dict, history: dict, run_path: Path) -> str:
    """The closing lines of ``dlbuild fit``: params, epochs, the epoch whose weights were kept (and
    by which monitor) with its validation metric, then the test metrics of that model."""
    lines = [f"\n{spec.name}: {metrics['params']:,} parameters, {metrics['epochs']} epochs "
             f"in {metrics['fit_seconds']:.1f} s"]
    val_keys = [k for k in history if k.startswith("val_") and k != "val_loss"] or \
        [k for k in history if k == "val_loss"]
    kept = metrics.get("kept_epoch") or metrics["epochs"]
    by = metrics.get("kept_by")
    how = f"best {by}, restored by early stopping" if by else "the last epoch"
    line = f"  model kept: epoch {kept} ({how})"
    if val_keys and 0 < kept <= len(history[val_keys[0]]):
        key = val_keys[0]
        value = history[key][kept - 1]
        line += f"; {key} there: {value:.4f}"
        vals = [v for v in history[key] if not math.isnan(v)]
        best = (min(vals) if "loss" in key or "error" in key else max(vals)) if vals else value
        if vals and best != value:
            line += f" (best {best:.4f} at epoch {history[key].index(best) + 1})"
    lines.append(line)
    lines.append("  test: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics["test"].items()))
    if metrics.get("test_tta"):
        lines.append(f"  test with TTA (original + {spec.fit['tta']} augmented passes): "
                     + ", ".join(f"{k} {v:.4f}" for k, v in metrics["test_tta"].items()))
    lines.append(f"  run directory: {run_path}")
    return "\n".join(lines)
