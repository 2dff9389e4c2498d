"""K-fold cross-validation: ``fit.cross_validation`` → K fold runs, their mean ± std, and their
ensemble on the test split (imports TensorFlow through :mod:`builder.run.train`).

::

    data ─ load_splits(validation_split=0) ─┬─ train ─ kfold (scikit-learn) ─┬─ fold 1: fit → fold-1/
                                            │                                 ├─ …
                                            │                                 └─ fold K: fit → fold-K/
                                            └─ test (untouched) ──────────── ensemble of the K fold models
                                                                              → cv.json, metrics.json, model.keras

The folds partition the training split (all samples outside the test split; ``validation_split``
is not used: each fold's held-out part is its validation data, and what early stopping or a
checkpoint monitors as ``val_*``). A vocabulary or padding length that ``data`` builds is fitted
once on that whole training split, so every fold model reads the same inputs and the ensemble is
one Keras model; ``adapt`` of preprocessing layers (Normalization, TextVectorization) sees each
fold's own training part. Every fold trains a fresh model with the spec's seed, like ``fit``, so
the spread across folds measures the data, not the initialisation.

Each fold is a normal run directory, trained by :func:`builder.run.train.fit`; ``--resume`` skips the
folds whose run completed and resumes an interrupted one from its last epoch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from builder.atomic import atomic_path, write_json, write_text

from builder.spec.dump import dump_yaml

from builder.run.rundir import RunDir, RunDirError
from builder.spec.load import Spec
from builder.spec.section_checks import cross_validation_options

if TYPE_CHECKING:  # pragma: no cover
    from builder.run.train import FitResult

KIND = "cross_validation"


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and *sample* standard deviation (``ddof=1``, Bessel's correction: the folds are a
    sample of the possible splits); the std is NaN for a single value."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else math.nan


def summarize(rows: list[dict], split: str) -> dict:
    """``{metric: {"mean": m, "std": s, "values": [...]}}`` over the folds' ``rows[i][split]``, for
    the metrics every fold reports."""
    names = [k for k in rows[0].get(split, {}) if all(k in r.get(split, {}) for r in rows)]
    out = {}
    for name in names:
        values = [float(r[split][name]) for r in rows]
        m, s = mean_std(values)
        out[name] = {"mean": m, "std": s, "values": values}
    return out


def _open_run(spec: Spec, run_dir, runs_root, resume: bool) -> RunDir:
    if resume:
        run = RunDir(run_dir) if run_dir else RunDir.latest_unfinished(Path(runs_root), spec.name, kind=KIND)
        if run is None:
            raise RunDirError(f"no unfinished cross-validation of '{spec.name}' under {runs_root} to resume")
        return run
    return RunDir(run_dir) if run_dir else RunDir.new(Path(runs_root), spec.name)


def _check_run(run: RunDir, spec: Spec, resume: bool) -> None:
    if resume:
        run.check_resumable(spec.name, kind=KIND)
    elif run.file("run.json").exists():
        raise RunDirError(f"{run.path} already holds a run; use --resume to continue it, or choose another --out")


def cross_validate(spec: Spec, *, run_dir: str | Path | None = None, runs_root: str | Path = "runs",
                   resume: bool = False, epochs: int | None = None, verbose=None, log=print):
    """Train ``spec`` once per fold and evaluate the folds and their ensemble.

    Args:
        spec: A checked spec with ``fit.cross_validation`` (:func:`builder.spec.load.cross_validation_options`).
        run_dir, runs_root, resume, epochs, verbose, log: as for :func:`builder.run.train.fit_one`;
            ``resume`` takes the latest unfinished cross-validation of this spec, skips its
            completed folds and resumes the interrupted one.

    Returns:
        :class:`builder.run.train.FitResult`: the run directory, the ensemble model, an empty
        history (each fold has its own ``history.csv``) and the contents of ``metrics.json``.

    Raises:
        SpecError: data problems, or more folds than training samples (located in the spec).
        builder.run.rundir.RunDirError: the directory cannot be used or resumed.
    """
    run = _open_run(spec, run_dir, runs_root, resume)
    with run.owned():  # one process per directory; the folds inside it are owned in turn by fit_one
        _check_run(run, spec, resume)
        return _cross_validate(spec, run, epochs=epochs, verbose=verbose, log=log)


def _cross_validate(spec: Spec, run: RunDir, *, epochs: int | None, verbose, log) -> FitResult:
    """:func:`cross_validate` once its directory is chosen and owned."""
    from builder.data.pipeline import make_dataset
    from builder.data.splits import kfold
    from builder.errors import SpecError
    from builder.run.ensembles import ensemble_model
    from builder.run.artifacts import load_keras
    from builder.model.graph import build_compile_args
    from builder.data.load import align_targets, load_splits
    from builder.run.evaluate import evaluate_dataset
    from builder.run.preflight import bind_data
    from builder.run.train import FitResult, fit_one, resolved_document

    opts = cross_validation_options(spec.fit["cross_validation"])[0]
    k = opts["folds"]
    pool = load_splits(spec, validation_split=0)  # folds partition the whole training split
    spec = bind_data(spec, pool)  # $classes, $features, $length (builder.spec.placeholders)
    try:
        folds = kfold(pool, folds=k, seed=spec.seed, stratify=spec.data["stratify"], shuffle=opts["shuffle"])
    except SpecError as err:
        raise err.with_source(spec.source) from None
    run.prepare()
    fit_cfg = dict(spec.fit, **({"epochs": epochs} if epochs is not None else {}))
    write_text(run.file("spec.resolved.yaml"), dump_yaml(resolved_document(spec, fit_cfg)))
    run.set_state("running", spec_name=spec.name, spec_file=str(spec.source.filename if spec.source else ""),
                  kind=KIND, folds=k)
    n = len(pool.train[1])
    log(f"dlbuild: {k}-fold cross-validation of '{spec.name}' over {n} training samples "
        f"(test split of {len(pool.test[1])} untouched) → {run.path}")
    rows = []
    try:
        for i, splits in enumerate(folds, 1):
            fold_run = RunDir(run.path / f"fold-{i}")
            state = fold_run.state()
            if state.get("state") == "completed":  # --resume: a finished fold is kept as it is
                metrics = json.loads(fold_run.file("metrics.json").read_text())
                log(f"fold {i}/{k}: completed earlier, not trained again")
            else:
                metrics = fit_one(spec, run_dir=fold_run.path, resume=bool(state), epochs=epochs, verbose=verbose,
                                  log=log, splits=splits, fold=(i, k)).metrics
            rows.append({"fold": i, "run_dir": f"fold-{i}", **{key: metrics.get(key) for key in (
                "val", "test", "epochs", "fit_seconds", "train_samples", "val_samples")}})
            log(_fold_line(rows[-1], k))
    except KeyboardInterrupt:
        run.set_state("interrupted")
        raise
    except BaseException:
        run.set_state("failed")
        raise

    # The ensemble: the K fold models averaged, on the test split no fold has seen.
    models = [load_keras(run.path / f"fold-{i}" / "model.keras") for i in range(1, k + 1)]
    ensemble = ensemble_model(models, name=f"{spec.name}_ensemble")
    test = align_targets(pool, models[0]).test
    ds = make_dataset(test, batch_size=fit_cfg["batch_size"], seed=spec.seed, info=pool.info)
    ensemble.compile(**build_compile_args(spec))
    ensemble_test = evaluate_dataset(ensemble, ds)
    ensemble_tta = None
    if spec.fit.get("tta"):
        averaged = ensemble_model(models, tta=spec.fit["tta"], seed=spec.seed, name=f"{spec.name}_ensemble_tta")
        averaged.compile(**build_compile_args(spec))
        ensemble_tta = evaluate_dataset(averaged, ds)
    with atomic_path(run.file("model.keras")) as tmp:
        ensemble.save(tmp)

    val, tested = summarize(rows, "val"), summarize(rows, "test")
    cv = {
        "folds": k,
        "shuffle": opts["shuffle"],
        "stratified": bool(spec.data["stratify"] and pool.task == "classification"),
        "seed": spec.seed,
        "std": "sample standard deviation over the folds (ddof=1)",
        "per_fold": rows,
        "val": val,
        "test": tested,
        "ensemble": {"test": ensemble_test, **({"test_tta": ensemble_tta} if ensemble_tta else {})},
    }
    write_json(run.file("cv.json"), cv)
    fit_seconds = sum(r["fit_seconds"] or 0.0 for r in rows)
    metrics = {
        "test": ensemble_test,
        **({"test_tta": ensemble_tta} if ensemble_tta else {}),
        "val": {name: s["mean"] for name, s in val.items()},
        "val_std": {name: s["std"] for name, s in val.items()},
        "params": int(ensemble.count_params()),
        "epochs": int(sum(r["epochs"] or 0 for r in rows)),
        "fit_seconds": round(fit_seconds, 3),
        "train_samples": int(n),
        "batch_size": fit_cfg["batch_size"],
        "folds": k,
    }
    if pool.class_names:
        metrics["class_names"] = list(pool.class_names)
    write_json(run.file("metrics.json"), metrics)
    run.set_state("completed", fit_seconds=fit_seconds)
    log(summary(spec, cv, run.path))
    return FitResult(run.path, ensemble, {}, metrics, splits=pool)


def _metrics_text(metrics: dict | None) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in (metrics or {}).items())


def _fold_line(row: dict, k: int) -> str:
    seconds = f", {row['fit_seconds']:.1f} s" if row.get("fit_seconds") is not None else ""
    return (f"fold {row['fold']}/{k}: val {_metrics_text(row['val'])}; test {_metrics_text(row['test'])} "
            f"({row['epochs']} epochs{seconds})")


def summary(spec: Spec, cv: dict, run_path: Path) -> str:
    """The closing lines of a cross-validation: mean ± sample std of the folds' validation and
    test metrics, and the ensemble's test metrics."""
    k = cv["folds"]

    def spread(stats: dict) -> str:
        return ", ".join(f"{name} {s['mean']:.4f} ± {s['std']:.4f}" for name, s in stats.items())

    lines = [f"\n{spec.name}: {k}-fold cross-validation (mean ± sample standard deviation over the folds)",
             f"  val:  {spread(cv['val'])}",
             f"  test, each fold model: {spread(cv['test'])}",
             f"  test, ensemble of the {k} fold models: {_metrics_text(cv['ensemble']['test'])}"]
    if cv["ensemble"].get("test_tta"):
        lines.append(f"  test, ensemble with TTA (original + {spec.fit['tta']} augmented passes): "
                     f"{_metrics_text(cv['ensemble']['test_tta'])}")
    lines.append(f"  run directory: {run_path}")
    return "\n".join(lines)
