"""compile + fit + evaluate → a run directory (imports TensorFlow).

:func:`fit` is what ``dlbuild fit`` runs and what notebooks call. The order of callbacks matters
for crash safety: dlbuild's epoch log is written *before* ``BackupAndRestore`` saves an epoch, so
a kill between the two re-runs that epoch and the log replaces its row: every epoch appears in
``history.csv`` exactly once.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from builder.data.pipeline import Pipelines, adapt_preprocessing, make_pipelines
from builder.data.load import align_targets, load_splits
from builder.data.splits import Splits
from builder.errors import Collector, Diagnostic, SpecError
from builder.atomic import atomic_path, write_json, write_text
from builder.spec.dump import dump_yaml
from builder.run.artifacts import read_history
from builder.run.rundir import RunDir
from builder.spec.load import Spec


@dataclass
class FitResult:
    """What a finished ``fit`` produced.

    Attributes:
        run_dir: The run directory.
        model: The trained ``keras.Model`` (best weights if a callback restored them).
        history: ``{metric: [value per epoch]}`` over every epoch, resumed ones included.
        metrics: The contents of ``metrics.json``.
    """

    run_dir: Path
    model: object
    history: dict
    metrics: dict = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the backend (``keras.utils.set_random_seed``)."""
    import keras

    keras.utils.set_random_seed(seed)


def class_weights(spec: Spec, y_train: np.ndarray) -> dict | None:
    """``fit.class_weight``: ``balanced`` uses scikit-learn's ``n_samples / (n_classes * count)``
    (``sklearn.utils.class_weight.compute_class_weight``); a mapping is used as given."""
    cw = spec.fit.get("class_weight")
    if cw is None:
        return None
    if cw == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        y = np.ravel(y_train)
        classes = np.unique(y)
        return dict(zip(classes.tolist(), compute_class_weight("balanced", classes=classes, y=y).tolist()))
    return {int(k): float(v) for k, v in cw.items()}


def _epoch_log_callback(path: Path):
    import keras

    class EpochLog(keras.callbacks.Callback):
        """Writes ``history.csv`` atomically after every epoch; on resume drops rows of epochs
        that will be re-run, so each epoch is recorded exactly once."""

        def __init__(self):
            super().__init__()
            self.rows: list[dict] = []
            self.first = True

        def on_train_begin(self, logs=None):
            if path.exists():
                with open(path, newline="") as f:
                    self.rows = list(csv.DictReader(f))

        def on_epoch_begin(self, epoch, logs=None):
            if self.first:
                self.rows = [r for r in self.rows if int(r["epoch"]) < epoch + 1]
                self.first = False

        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch + 1}
            for k, v in (logs or {}).items():
                row[k] = float(v) if np.ndim(v) == 0 else v
            lr = getattr(self.model.optimizer, "learning_rate", None)
            if lr is not None and "learning_rate" not in row:
                row["learning_rate"] = float(np.asarray(lr))
            self.rows.append(row)
            keys = list(dict.fromkeys(k for r in self.rows for k in r))
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.rows)
            write_text(path, buf.getvalue())

    return EpochLog()


def _nan_guard():
    """Keras's ``TerminateOnNaN`` that also remembers where the loss stopped being finite and keeps
    the weights of the last epoch that ended with a finite loss (a copy in memory)."""
    import keras

    class NaNGuard(keras.callbacks.TerminateOnNaN):
        def __init__(self):
            super().__init__()
            self.bad, self.epoch, self.good_weights, self.good_epoch = None, 0, None, 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)) and self.bad is None:
                self.bad = (self.epoch + 1, batch, float(loss))
            super().on_batch_end(batch, logs)

        def on_epoch_end(self, epoch, logs=None):
            if self.bad is None:
                self.good_weights, self.good_epoch = self.model.get_weights(), epoch + 1

    return NaNGuard()


def _restore_from_chief(chief_backup: Path, worker_backup: Path) -> None:
    """Make a resuming worker restore the epoch the chief restores.

    Each worker's BackupAndRestore state is written independently, so a kill can leave the
    workers one epoch apart; resumed from different epochs, their collective ops no longer pair
    up (seen here as "expected data_type 1 but got data_type 9"). Synchronous training keeps
    every replica's weights and optimizer state equal, so the chief's backup is valid for all.
    """
    import shutil

    if worker_backup.exists():
        shutil.rmtree(worker_backup)
    if chief_backup.is_dir():
        shutil.copytree(chief_backup, worker_backup)


def _atomic_backup(backup_dir: str):
    """``keras.callbacks.BackupAndRestore`` whose two files are replaced atomically.

    Keras writes ``latest.weights.h5`` in place, so a kill during the write leaves a truncated
    file that h5py cannot open (its ``double_checkpoint`` fallback catches only ``OSError``, and
    h5py also raises ``RuntimeError``). Here both files are written under temporary names and
    renamed, weights first: a kill leaves the previous epoch's backup, or this epoch's weights
    with the previous epoch's counter (that epoch is then trained once more).
    """
    import json
    import os

    import keras

    class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
        def _save_model(self):  # overrides Keras's private writer (keras/src/callbacks/backup_and_restore.py)
            os.makedirs(self.backup_dir, exist_ok=True)
            tmp_weights = os.path.join(self.backup_dir, "incomplete.weights.h5")
            self.model.save_weights(tmp_weights, overwrite=True)
            tmp_meta = self._training_metadata_path + ".tmp"
            with open(tmp_meta, "w") as f:
                json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp_weights, self._weights_path)
            os.replace(tmp_meta, self._training_metadata_path)

    return AtomicBackupAndRestore(backup_dir)


def build_callbacks(spec: Spec, run: RunDir) -> list:
    """dlbuild's callbacks (epoch log, BackupAndRestore, TensorBoard) then the spec's own.

    A relative ``filepath``/``log_dir``/``filename`` argument of a spec callback is placed inside
    the run directory.
    """
    import keras

    from builder.spec import items as objects
    from builder.catalog.registry import catalog

    cat = catalog()
    callbacks = [
        _epoch_log_callback(run.file("history.csv")),
        _atomic_backup(str(run.file("backup"))),
        keras.callbacks.TensorBoard(log_dir=str(run.file("tensorboard"))),
    ]
    for item in spec.fit.get("callbacks") or []:
        checked = objects.check("callback", item, (), cat, Collector())
        args = dict(checked.args)
        for key in ("filepath", "log_dir", "filename"):
            if isinstance(args.get(key), str) and not Path(args[key]).is_absolute():
                args[key] = str(run.file(args[key]))
        entry = cat.lookup("callback", checked.name)
        callbacks.append(entry.load()(**objects.build_args(entry, args, cat)))
    return callbacks


def _progress(verbose):
    """Keras's ``verbose``; ``auto`` becomes one line per epoch (2) when stdout is not a terminal,
    so logs and CI output are not flooded with progress-bar redraws."""
    import sys

    if verbose == "auto" and not sys.stdout.isatty():
        return 2
    return verbose


def evaluate_dataset(model, ds) -> dict:
    """``model.evaluate(ds)`` as ``{name: float}`` (the compiled loss and metrics); ``{}`` for no
    dataset (a run without validation split)."""
    if ds is None:
        return {}
    return {k: float(v) for k, v in model.evaluate(ds, verbose=0, return_dict=True).items()}


def resolved_document(spec: Spec, fit_cfg: dict) -> dict:
    """What ``spec.resolved.yaml`` holds: the spec's resolved values with ``fit_cfg`` as its
    ``fit`` section and data file paths made absolute, so that the file works from anywhere."""
    data = dict(spec.values["data"])
    for key in ("csv", "npz", "ts", "text_dir", "text_file"):
        if data.get(key):
            data[key] = str((spec.directory / data[key]).resolve())
    return {**spec.values, "data": data, "fit": fit_cfg}


def fit(spec: Spec, *, run_dir: str | Path | None = None, runs_root: str | Path = "runs",
        resume: bool = False, epochs: int | None = None, verbose=None, log=print,
        splits: Splits | None = None, fold: tuple[int, int] | None = None) -> FitResult:
    """Train ``spec`` and write its run directory.

    A spec with ``fit.cross_validation`` is trained fold by fold instead
    (:func:`builder.run.crossval.cross_validate`, which calls this function once per fold).

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
            ``run.json`` and ``metrics.json``; the closing summary and the export are left to
            the cross-validation.

    Returns:
        :class:`FitResult`.

    Raises:
        SpecError: data or model-building problems, located in the spec.
        builder.run.rundir.RunDirError: the run directory is unwritable, or cannot be resumed.
    """
    if spec.fit.get("cross_validation") is not None and fold is None:
        from builder.run.crossval import cross_validate

        return cross_validate(spec, run_dir=run_dir, runs_root=runs_root, resume=resume, epochs=epochs,
                              verbose=verbose, log=log)
    from builder.run.distribute import describe, is_chief, make_strategy, scale_learning_rate, worker_index
    from builder.model.graph import build_compile_args, build_model
    from builder.run.rundir import RunDirError, bytes_needed

    try:  # first: a multi-worker strategy must exist before TensorFlow runs any op
        strategy = make_strategy(spec.distribute)
    except ValueError as err:
        raise SpecError([Diagnostic(str(err), ("distribute", "strategy"))], spec.source) from None
    seed_everything(spec.seed)
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
            _restore_from_chief(chief_backup, Path(run_dir) / "backup")
    if resume:
        run = RunDir(run_dir) if run_dir else RunDir.latest_unfinished(Path(runs_root), spec.name)
        if run is None:
            raise RunDirError(f"no unfinished run of '{spec.name}' under {runs_root} to resume")
        run.check_resumable(spec.name)
    else:
        run = RunDir(run_dir) if run_dir else RunDir.new(Path(runs_root), spec.name)
        if run.file("run.json").exists():
            raise RunDirError(f"{run.path} already holds a run; use --resume to continue it, "
                              "or choose another --out")
    with strategy.scope():  # variables are created (mirrored) inside the strategy's scope
        model = build_model(spec)  # shape errors are reported before any data is loaded
    splits = align_targets(splits if splits is not None else load_splits(spec), model)
    from builder.spec.consistency import check_labels

    problems = check_labels(spec, [p[1] for p in (splits.train, splits.val, splits.test) if p is not None],
                            model.outputs[0].shape[-1] if len(model.outputs) == 1 else None)
    if problems:  # labels outside the output's classes: a spec mistake, reported before training
        raise SpecError(problems, spec.source)
    fit_cfg = dict(spec.fit)
    if epochs is not None:
        fit_cfg["epochs"] = epochs
    pipes: Pipelines = make_pipelines(splits, batch_size=fit_cfg["batch_size"], seed=spec.seed,
                                      shuffle_buffer=spec.data.get("shuffle_buffer"),
                                      cache=spec.data.get("cache", True), shuffle=fit_cfg["shuffle"])
    run.prepare(bytes_needed(model.count_params()))  # unwritable or full: say so before training
    from builder.data import sequences, text

    vocabulary = sequences.vocabulary(splits)
    if vocabulary:  # token ids ↔ text, for generate/predict and for fine-tuning from this run
        text.save_vocabulary(vocabulary, run.file("vocabulary.json"), splits.info.get("level"))
    with strategy.scope():
        if not run.file("backup").exists():  # a resumed run restores adapted state with the weights
            adapt_preprocessing(model, splits.train[0])
        args = build_compile_args(spec)
        if spec.distribute.get("scale_learning_rate") and strategy.num_replicas_in_sync > 1:
            scale_learning_rate(args["optimizer"], strategy.num_replicas_in_sync)
        model.compile(**args)
    header = "" if fold is None else (f"# Fold {fold[0]} of the {fold[1]}-fold cross-validation in "
                                      f"{run.path.parent}: trained on the other folds, validated on this one.\n")
    write_text(run.file("spec.resolved.yaml"), header + dump_yaml(resolved_document(spec, fit_cfg)))
    previous_seconds = float(run.state().get("fit_seconds", 0.0))
    extra = {} if fold is None else {"fold": fold[0], "folds": fold[1]}
    run.set_state("running", spec_name=spec.name, spec_file=str(spec.source.filename if spec.source else ""),
                  **extra)
    log(f"dlbuild: training '{spec.name}' ({model.count_params():,} parameters; "
        f"{describe(strategy, fit_cfg['batch_size'])}) → {run.path}")
    started = time.perf_counter()
    guard = _nan_guard()
    callbacks = build_callbacks(spec, run)
    callbacks.insert(1, guard)  # after the epoch log, before BackupAndRestore saves the epoch
    try:
        model.fit(pipes.train, validation_data=pipes.val, epochs=fit_cfg["epochs"],
                  callbacks=callbacks, class_weight=class_weights(spec, splits.train[1]),
                  verbose=_progress(fit_cfg["verbose"] if verbose is None else verbose), shuffle=False,
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
    with atomic_path(run.file("model.keras")) as tmp:
        model.save(tmp)
    metrics = {
        "test": evaluate_dataset(model, pipes.test),
        **({"test_tta": tta_metrics(spec, model, pipes.test, strategy)} if spec.fit.get("tta") else {}),
        "val": evaluate_dataset(model, pipes.val),
        "params": int(model.count_params()),
        "epochs": len(history.get("epoch", [])),
        "fit_seconds": round(fit_seconds, 3),
        "train_samples": int(len(splits.train[1])),
        "batch_size": fit_cfg["batch_size"],
        "replicas": int(strategy.num_replicas_in_sync),
    }
    if fold is not None:
        metrics.update(fold=fold[0], folds=fold[1], val_samples=int(len(splits.val[1])))
    if splits.class_names:
        metrics["class_names"] = list(splits.class_names)
    naive = sequences.naive_forecast_metrics(splits)
    if naive:  # forecasting: the last-value baseline a model must beat
        metrics["naive_forecast"] = naive
    write_json(run.file("metrics.json"), metrics)
    if chief:
        from builder.run.plots import plot_run

        try:
            plot_run(run.path, model=model, splits=splits, log=log)
        except Exception as err:  # plots are a convenience: never lose a finished run over one
            log(f"dlbuild: plots skipped ({type(err).__name__}: {err}); retry with dlbuild plot {run.path}")
    run.set_state("completed", fit_seconds=fit_seconds)
    if fold is not None:  # the cross-validation reports the folds together
        return FitResult(run.path, model, history, metrics)
    log(summary(spec, metrics, history, run.path))
    if chief and any(f != "keras" for f in spec.export.get("formats") or []):
        from builder.export.api import export_run

        export_run(run.path, log=log)  # raises ExportError (exit 1); the run itself stays completed
    return FitResult(run.path, model, history, metrics)


def tta_metrics(spec: Spec, model, ds, strategy=None) -> dict:
    """``fit.tta``: the compiled loss and metrics of ``model`` on ``ds`` with test-time
    augmentation (:func:`builder.run.evaluate.tta_model`, seeded from the spec's seed)."""
    import contextlib

    from builder.run.evaluate import tta_model
    from builder.model.graph import build_compile_args

    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        averaged = tta_model(model, spec.fit["tta"], seed=spec.seed)
        averaged.compile(**build_compile_args(spec))
    return evaluate_dataset(averaged, ds)


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


def summary(spec: Spec, metrics: dict, history: dict, run_path: Path) -> str:
    """The closing lines of ``dlbuild fit``: params, epochs, best validation metric, test metrics."""
    lines = [f"\n{spec.name}: {metrics['params']:,} parameters, {metrics['epochs']} epochs "
             f"in {metrics['fit_seconds']:.1f} s"]
    val_keys = [k for k in history if k.startswith("val_") and k != "val_loss"] or \
        [k for k in history if k == "val_loss"]
    if val_keys:
        key = val_keys[0]
        vals = [v for v in history[key] if not math.isnan(v)]
        if vals:
            best = min(vals) if "loss" in key or "error" in key else max(vals)
            lines.append(f"  best {key}: {best:.4f} (epoch {history[key].index(best) + 1})")
    lines.append("  test: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics["test"].items()))
    if metrics.get("test_tta"):
        lines.append(f"  test with TTA (original + {spec.fit['tta']} augmented passes): "
                     + ", ".join(f"{k} {v:.4f}" for k, v in metrics["test_tta"].items()))
    lines.append(f"  run directory: {run_path}")
    return "\n".join(lines)
