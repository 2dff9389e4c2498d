"""``dlbuild tune``'s search: a spec with search spaces → Keras Tuner → the tune directory, then the retrain hook.

Inputs: a checked :class:`~builder.spec.load.Spec` with search spaces (each a Keras Tuner
hyperparameter named by its spec path or ``name:``, :mod:`builder.tune.space`). Each trial
resolves the spec with the trial's values and trains it as ``dlbuild fit`` would
(:mod:`builder.tune.hypermodel`) under the strategy's tuner (:mod:`builder.tune.tuners`), alone
or as the chief or a worker of a search shared by several processes
(:mod:`builder.tune.workers`). Output, the tune directory::

    kt/              the Keras Tuner project (oracle.json, trials): a rerun resumes it
    trials.csv       one row per trial: id, status, objective, seconds (all, fit, other), failure reason, values
    trial_seconds/   wall time of each trial and of its model.fit (seconds), one JSON file per trial
    results.md       the trials table, best first
    best.yaml        the best trial as a concrete spec (no search spaces): `dlbuild fit best.yaml`
    rounds.json      coarse_to_fine: each round's box
    objective.png    objective per trial, and objective_vs_<hp>.png per hyperparameter
    tensorboard/     per-trial logs with HParams (Keras Tuner copies the TensorBoard callback)
    best/            the best spec retrained on train + validation, evaluated on test (unless --no-retrain)

(:mod:`builder.tune.outputs` writes the files of a finished search; ``best/`` is the retrain
hook's, :func:`builder.workflows.tune`.)
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import keras
import keras_tuner as kt

from builder.data.load import load_splits
from builder.run import workers as launcher
from builder.run.preflight import bind_data
from builder.run.rundir import RunDir
from builder.run.trial import seed_everything
from builder.spec.load import Spec, load_spec
from builder.tune import workers as roles
from builder.tune.hypermodel import ReportedSpecError, SpecHyperModel
from builder.tune.outputs import trial_rows, write_outputs
from builder.tune.space import check_tunable
from builder.tune.tuners import make_tuner, objective_of


# The best spec retrained on train + validation: no validation split (and no data.split, whose
# validation fraction would contradict it; the test split stays as it was).
RETRAIN_OVERRIDES = ("data.split=null", "data.validation_split=0")


def tune(spec: Spec, *, out_dir: str | Path | None = None, runs_root: str | Path = "runs", retrain=None,
         verbose: int = 0, log=print, chief: str | None = None, worker: str | None = None,
         tuner_id: str | None = None, workers: int = 0, overrides: list | tuple = ()) -> dict:
    """Search ``spec``'s space with Keras Tuner and write the tune directory.

    Rerunning with the same ``out_dir`` resumes: completed trials are kept, an interrupted one is
    re-run (Keras Tuner ``overwrite=False``).

    Several processes share one search through Keras Tuner's chief/worker mode: ``chief=HOST:PORT``
    serves the oracle (and, when the search ends, writes the outputs and retrains the best spec);
    ``worker=HOST:PORT`` runs trials for that chief; ``workers=N`` does both on this host, starting
    N local worker processes (one GPU each when GPUs exist).

    ``retrain``, when given, is called as ``retrain(best_spec, run_dir)`` after the search with
    ``best.yaml`` loaded for train + validation (:data:`RETRAIN_OVERRIDES`) and
    ``<tune dir>/best``; :func:`builder.workflows.tune` passes its ``fit``. None or False: no
    retrain.

    Returns:
        ``{"dir": Path, "best_values": dict, "trials": [rows], "best_run": FitResult | None}``
        (for a worker: ``best_values`` None).

    Raises:
        SpecError: the spec is not tunable, or a trial hit a spec mistake (located).
        RuntimeError: no trial completed (every failure reason is in trials.csv), or every local
            worker exited before the search finished.
        builder.run.rundir.RunDirError: another process (not one of this search's workers) is
            tuning in the directory (its ``run.lock``).
    """
    check_tunable(spec)
    objective_of(spec)  # direction problems before any trial
    run = RunDir(out_dir) if out_dir else RunDir.new(Path(runs_root), spec.name, prefix="tune-")
    # The chief (or a lone search) owns the tune directory; workers share it with their chief.
    owner = contextlib.nullcontext() if worker is not None and chief is None and not workers else run.owned()
    with owner:
        return _search(spec, run, retrain=retrain, verbose=verbose, log=log, chief=chief, worker=worker,
                       tuner_id=tuner_id, workers=workers, overrides=overrides)


def _search(spec: Spec, run: RunDir, *, retrain, verbose: int, log, chief: str | None, worker: str | None,
            tuner_id: str | None, workers: int, overrides) -> dict:
    """:func:`tune` once its directory is chosen (and, for the chief, owned)."""
    out = run.path
    run.prepare()
    procs = []
    if workers:
        chief = chief or roles.local_chief_address()
    roles.set_role("chief" if chief else "worker", chief or worker, tuner_id or f"worker-{os.getpid()}")
    is_worker = worker is not None and chief is None
    seed_everything(spec.seed)
    splits = load_splits(spec)
    spec = bind_data(spec, splits)  # $classes, $features, $length (builder.spec.placeholders)
    if not is_worker:
        run.set_state("running", spec_name=spec.name, kind="tune")
    with _stop_on_spec_mistake(run):  # Keras Tuner builds the model once per alternative here already
        tuner = make_tuner(spec, SpecHyperModel(spec, splits, verbose=verbose), out, log=log)
    if workers:
        procs = roles.start_local_workers(workers, spec.source.filename, list(overrides), out, chief, log)
    role = "serving the oracle at " + chief if chief else (f"worker of {worker}" if is_worker else "")
    log(f"dlbuild: tuning '{spec.name}' with {spec.tune['strategy']} over {len(spec.spaces)} "
        f"hyperparameter(s) → {out}" + (f" ({role})" if role else ""))
    watchdog = launcher.interrupt_when_exited(procs) if procs else None
    # Keras Tuner prints each failed trial's traceback; trials.csv keeps its cause (trial_failure)
    # and the full traceback stays in the trial's own trial.json, so show it only with -v.
    try:
        from keras_tuner.src import config as kt_config  # not public API; a switch, so guarded

        kt_config.DEBUG = verbose > 0
    except ImportError:
        pass
    try:
        with _stop_on_spec_mistake(run):
            tuner.search(callbacks=[keras.callbacks.TensorBoard(log_dir=str(out / "tensorboard"))], verbose=verbose)
    except KeyboardInterrupt:
        if watchdog is not None and watchdog.is_set():
            run.set_state("failed")
            raise RuntimeError(f"every local worker exited before the search finished; see {out}/worker*.log") from None
        raise
    finally:
        launcher.wait_all(procs)
    if is_worker:
        return {"dir": out, "best_values": None, "trials": [], "best_run": None}
    best_values = write_outputs(tuner, spec, out)
    rows = trial_rows(tuner)
    if best_values is None:
        run.set_state("failed")
        reasons = "; ".join(f"{r['trial_id']}: {r['failure']}" for r in rows if r["failure"])[:1500]
        raise RuntimeError(f"no trial completed ({len(rows)} failed); see {out / 'trials.csv'}. {reasons}")
    log(f"best: {json.dumps({k: v for k, v in best_values.items() if not k.startswith('tuner/')})}")
    best_run = None
    if retrain:
        best = load_spec(out / "best.yaml", overrides=list(RETRAIN_OVERRIDES))
        log("dlbuild: retraining the best spec on train + validation")
        best_run = retrain(best, out / "best")
    run.set_state("completed")
    log(f"tune directory: {out}")
    return {"dir": out, "best_values": best_values, "trials": rows, "best_run": best_run}


@contextlib.contextmanager
def _stop_on_spec_mistake(run: RunDir):
    """A spec mistake inside a trial (Keras Tuner's ``FatalError``, :class:`builder.tune.hypermodel.SpecFatalError`) marks
    the search failed and comes out as the located report (:class:`ReportedSpecError`)."""
    try:
        yield
    except kt.errors.FatalError as err:
        run.set_state("failed")
        raise ReportedSpecError(str(err)) from None
