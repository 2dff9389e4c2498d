"""``dlbuild evaluate``: the test metrics of run directories, of their ensemble, and with test-time
augmentation (the averaged models come from :mod:`builder.run.ensembles`).

Inputs: run directories (read through :mod:`builder.run.artifacts`) or a model and a tf.data
dataset of ``(batch, ...)`` tensors; outputs: ``{metric: float}`` per run, as the spec's own
compiled loss and metrics report them, and optionally a JSON file.
"""

from __future__ import annotations

from pathlib import Path

from builder.run.ensembles import EvaluateError, augmentation_layers, ensemble_model, tta_model
from builder.spec.load import Spec

__all__ = ["EvaluateError", "evaluate_dataset", "evaluate_runs", "tta_metrics", "write_results"]


def evaluate_dataset(model, ds) -> dict:
    """``model.evaluate(ds)`` as ``{name: float}`` (the compiled loss and metrics); ``{}`` for no
    dataset (a run without validation split)."""
    if ds is None:
        return {}
    return {k: float(v) for k, v in model.evaluate(ds, verbose=0, return_dict=True).items()}


def tta_metrics(spec: Spec, model, ds, strategy=None) -> dict:
    """``fit.tta``: the compiled loss and metrics of ``model`` on ``ds`` with test-time
    augmentation (:func:`builder.run.ensembles.tta_model`, seeded from the spec's seed)."""
    import contextlib

    from builder.model.graph import build_compile_args

    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        averaged = tta_model(model, spec.fit["tta"], seed=spec.seed)
        averaged.compile(**build_compile_args(spec))
    return evaluate_dataset(averaged, ds)


def _same(a, b) -> bool:
    import numpy as np

    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(
            _same(a[k], b[k]) for k in a)
    return np.shape(a) == np.shape(b) and bool(np.all(np.asarray(a) == np.asarray(b)))


def _test_data(spec):
    """The test split of ``spec`` as its run saw it: a cross-validation builds its vocabulary from
    the whole training split (:func:`builder.run.crossval.cross_validate`), a single run from the part
    left after the validation split."""
    from builder.data.load import load_splits

    return load_splits(spec, validation_split=0 if spec.fit.get("cross_validation") is not None else None)


def evaluate_runs(run_dirs: list, *, tta: int = 0, batch_size: int | None = None, log=print) -> dict:
    """``dlbuild evaluate``: each run's model on the test split of its spec, with test-time
    augmentation when ``tta`` > 0, and with several runs their ensemble.

    Args:
        run_dirs: Finished run directories (``spec.resolved.yaml`` and ``model.keras``); a
            cross-validation directory counts as one run (its model is the fold ensemble).
        tta: Augmented passes (0: plain evaluation only).
        batch_size: Evaluation batch size (default: the first run's ``fit.batch_size``).
        log: Where result lines go.

    Returns:
        ``{"runs": [{"run_dir", "test", "test_tta"?}], "ensemble": {"members", "test",
        "test_tta"?}}`` (``ensemble`` only for several runs); metrics are the first run's
        compiled loss and metrics (each run's own for its line).

    Raises:
        EvaluateError: a directory without a finished model; ``tta`` for a model without
            augmentation layers; runs whose test inputs or targets differ.
        SpecError: a run's ``spec.resolved.yaml`` is no longer valid (located in that file).
    """
    from builder.data.load import align_targets
    from builder.data.pipeline import make_dataset
    from builder.model.graph import build_compile_args
    from builder.run.artifacts import load_keras, load_run_spec

    runs = []
    for rd in map(Path, run_dirs):
        if not (rd / "model.keras").is_file() or not (rd / "spec.resolved.yaml").is_file():
            raise EvaluateError(f"{rd} is not a finished run directory (it needs model.keras and "
                                "spec.resolved.yaml, which 'dlbuild fit' writes)")
        runs.append((rd, load_run_spec(rd), load_keras(rd / "model.keras")))
    if tta:
        for rd, _spec, model in runs:
            if not augmentation_layers(model):
                raise EvaluateError(f"{rd}: the model has no augmentation layer (RandomFlip, RandomRotation, ... "
                                    "or another Keras Random* layer), so --tta would average identical passes")
    first_dir, first, first_model = runs[0]
    splits = align_targets(_test_data(first), first_model)
    for rd, spec, _model in runs[1:]:
        same_source = (spec.values["data"] == first.values["data"] and spec.seed == first.seed
                       and (spec.fit.get("cross_validation") is None) == (first.fit.get("cross_validation") is None))
        if not same_source:
            other = align_targets(_test_data(spec), _model)
            if not (_same(other.test[0], splits.test[0]) and _same(other.test[1], splits.test[1])):
                raise EvaluateError(f"{rd} was tested on other data than {first_dir} (another test split, "
                                    "vocabulary or preprocessing); an ensemble needs runs that read the same test inputs")
    ds = make_dataset(splits.test, batch_size=batch_size or first.fit["batch_size"], seed=first.seed,
                      info=splits.info)
    out: dict = {"runs": []}
    for rd, spec, model in runs:
        model.compile(**build_compile_args(spec))
        row = {"run_dir": str(rd), "test": evaluate_dataset(model, ds)}
        if tta:
            averaged = tta_model(model, tta, seed=spec.seed)
            averaged.compile(**build_compile_args(spec))
            row["test_tta"] = evaluate_dataset(averaged, ds)
        out["runs"].append(row)
        log(_line(str(rd), row, tta))
    if len(runs) > 1:
        models = [m for _, _, m in runs]
        ens = ensemble_model(models)
        ens.compile(**build_compile_args(first))
        row = {"members": [str(rd) for rd, _, _ in runs], "test": evaluate_dataset(ens, ds)}
        if tta:
            ens_tta = ensemble_model(models, tta=tta, seed=first.seed)
            ens_tta.compile(**build_compile_args(first))
            row["test_tta"] = evaluate_dataset(ens_tta, ds)
        out["ensemble"] = row
        log(_line(f"ensemble of {len(runs)}", row, tta))
    return out


def _line(label: str, row: dict, tta: int) -> str:
    text = f"{label}: test " + ", ".join(f"{k} {v:.4f}" for k, v in row["test"].items())
    if tta:
        text += f" | TTA (original + {tta} augmented): " + ", ".join(
            f"{k} {v:.4f}" for k, v in row["test_tta"].items())
    return text


def write_results(results: dict, path: str | Path) -> None:
    """Write :func:`evaluate_runs`' result as JSON, atomically."""
    from builder.atomic import write_json

    write_json(Path(path), results)
