"""``tune.strategy`` → a Keras Tuner tuner: the objective, the one table of strategies, the tuner class.

Keras Tuner has one oracle per strategy; :data:`STRATEGIES` maps each name of
:data:`builder.catalog.strategies.STRATEGIES` to the construction of its oracle (and, for
Hyperband, to the tuner class that trains each bracket from the previous bracket's weights), so
adding a strategy is one entry. :class:`SpecTuner` is the tuner every strategy runs: Keras Tuner's
``Tuner`` printing one line per finished trial and recording its wall time. Inputs: a checked
:class:`~builder.spec.load.Spec` with search spaces, a HyperModel
(:class:`builder.tune.hypermodel.SpecHyperModel`), the tune directory. Output: the tuner, whose
Keras Tuner project is ``<tune dir>/kt`` (Keras Tuner, docs/architecture.md, "Verified facts:
Keras Tuner").
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras_tuner as kt
from keras_tuner.src.engine import metrics_tracking

from builder.atomic import write_text
from builder.catalog import strategies as strategy_names
from builder.catalog.compat import custom_gradient_names, release_custom_gradients
from builder.errors import Diagnostic, SpecError, trial_failure
from builder.spec.load import Spec
from builder.tune.oracles import CoarseToFineOracle
from builder.tune.space import format_value, search_space


def objective_of(spec: Spec) -> kt.Objective:
    """``keras_tuner.Objective`` of ``tune.objective``; direction inferred by Keras Tuner for known
    metrics (``*loss``/``*error`` → min, ``*acc*``/``auc``… → max), explicit otherwise.

    Raises:
        SpecError: the direction cannot be inferred and is not given (at ``tune.objective``).
    """
    obj = spec.tune.get("objective", "val_loss")
    if isinstance(obj, dict):
        name, direction = obj["name"], obj.get("direction")
    else:
        name, direction = obj, None
    direction = direction or metrics_tracking.infer_metric_direction(name)
    if direction is None:
        raise SpecError([Diagnostic(f"cannot infer whether '{name}' should be minimised or maximised; "
                                    f"write objective: {{name: {name}, direction: max}}", ("tune", "objective"))],
                        spec.source)
    return kt.Objective(name, direction)


# Keras Tuner trial statuses (keras_tuner/src/engine/trial.py TrialStatus) of a trial that ended.
FINISHED = ("COMPLETED", "FAILED", "INVALID", "STOPPED")


class SpecTuner(kt.Tuner):
    """Keras Tuner's ``Tuner`` over ``oracle``, printing one line per finished trial (i/N, values,
    objective, best so far, the trial's seconds and the search's elapsed seconds) and writing
    ``trial_seconds/<trial id>.txt`` (``{"seconds": all, "fit_seconds": in model.fit}``).

    Args:
        oracle: The strategy's Keras Tuner oracle (:data:`STRATEGIES`).
        hypermodel: The spec's HyperModel.
        directory: The tune directory; the Keras Tuner project is its ``kt/``.
        budget: Trials the search runs, shown as the N of "trial i/N"; None when the strategy
            decides (Hyperband): shown as "?".
        log: Where progress lines go.
        **kwargs: Keras Tuner ``Tuner`` arguments (``distribution_strategy``,
            ``executions_per_trial``, ``overwrite`` …).
    """

    def __init__(self, oracle, hypermodel, *, directory: Path, budget: int | None, log=print, **kwargs):
        self._out, self._budget, self._log = Path(directory), budget, log
        self._asked_before, self._boxes_seen, self._done = False, 0, 0
        self._started = self._trial_started = time.perf_counter()
        self._gradients_kept: set = set()
        # kt.Tuner's, not the next class in the MRO: kt.Hyperband's __init__ would build a
        # second oracle (SpecHyperband only borrows its run_trial and _build_hypermodel).
        kt.Tuner.__init__(self, oracle, hypermodel, directory=str(directory), project_name="kt", **kwargs)

    def pre_create_trial(self):
        """Keras Tuner hook before asking the oracle for a trial."""
        # A worker asks the chief again at once while the oracle answers IDLE (for instance
        # between coarse-to-fine rounds); a short pause keeps that loop from spinning.
        if os.environ.get("KERASTUNER_ORACLE_IP") and self._asked_before:
            time.sleep(0.1)
        self._asked_before = True

    def on_search_begin(self):
        """Start the clock; count the trials a resumed search already finished (so "trial i/N"
        goes on from there); note the custom gradients TensorFlow already holds (kept)."""
        super().on_search_begin()
        self._started = time.perf_counter()
        self._gradients_kept = custom_gradient_names()
        trials = getattr(self.oracle, "trials", None)  # a worker's oracle client has none: it counts its own
        if isinstance(trials, dict):
            self._done = sum(1 for t in trials.values() if t.status in FINISHED)

    def on_trial_begin(self, trial):
        """Start the trial's clock; say when coarse-to-fine draws a new round's box."""
        super().on_trial_begin(trial)
        self._trial_started = time.perf_counter()
        self.hypermodel.fit_seconds = 0.0  # SpecHyperModel.fit adds the seconds model.fit takes
        boxes = getattr(self.oracle, "boxes", None)  # a worker's oracle client has none
        if boxes and len(boxes) != self._boxes_seen:
            self._boxes_seen = len(boxes)
            rnd = max(boxes, key=int)
            self._log(f"coarse_to_fine round {int(rnd) + 1}: box (unit cube) " + json.dumps(boxes[rnd]))

    def on_trial_end(self, trial):
        """Record the trial's seconds (all, and in ``model.fit``), let Keras Tuner save it, free its
        graphs, print its line."""
        seconds = time.perf_counter() - self._trial_started
        fit_seconds = getattr(self.hypermodel, "fit_seconds", None)
        # One small file per trial: several worker processes may finish trials at once.
        write_text(self._out / "trial_seconds" / f"{trial.trial_id}.txt",
                   json.dumps({"seconds": round(seconds, 3), "fit_seconds": round(fit_seconds, 3)
                               if fit_seconds is not None else None}) + "\n")
        super().on_trial_end(trial)
        # The trial's model is gone: free its traced graphs, which TensorFlow's custom-gradient
        # registry would otherwise keep for the whole search (builder.catalog.compat).
        release_custom_gradients(self._gradients_kept)
        self._done += 1  # trials run by this process (a worker sees only its own)
        best = self.oracle.get_best_trials(1)
        value = trial.score if trial.score is not None else float("nan")
        values = ", ".join(f"{k}={format_value(v)}" for k, v in trial.hyperparameters.values.items()
                           if not k.startswith("tuner/"))
        status = trial.status if trial.status != "COMPLETED" else f"{self.oracle.objective.name} {value:.4f}"
        best_text = f"best {best[0].score:.4f}" if best and best[0].score is not None else "best -"
        budget = self._budget if self._budget is not None else "?"
        self._log(f"trial {self._done}/{budget} [{trial.trial_id}] {status} | {best_text} | "
                  f"trial {seconds:.1f} s, elapsed {time.perf_counter() - self._started:.0f} s | {values}")
        if trial.status != "COMPLETED" and trial.message:
            self._log(f"  {trial_failure(trial.message)[:200]}")  # why, in one line (trials.csv has it too)


class SpecHyperband(SpecTuner, kt.Hyperband):
    """:class:`SpecTuner` with Keras Tuner Hyperband's trial step: each bracket trains for its
    ``tuner/epochs`` from ``tuner/initial_epoch``, starting from the weights of the trial it
    continues (``tuner/trial_id``)."""


@dataclass(frozen=True)
class Strategy:
    """How one ``tune.strategy`` becomes a tuner.

    Attributes:
        oracle: ``(tune section, fit.epochs, oracle keyword arguments) → keras_tuner.Oracle``; the
            keyword arguments are ``objective``, ``seed``, ``hyperparameters`` and
            ``max_consecutive_failed_trials``.
        tuner: The tuner class that runs the oracle's trials.
        budgeted: The search runs ``tune.max_trials`` trials (Hyperband derives its own count).
    """

    oracle: Callable[[dict, int, dict], kt.Oracle]
    tuner: type = SpecTuner
    budgeted: bool = True


#: ``tune.strategy`` → its Keras Tuner construction: the same oracles (and arguments) as Keras
#: Tuner's ``RandomSearch``, ``GridSearch``, ``Hyperband`` and ``BayesianOptimization`` build.
STRATEGIES: dict[str, Strategy] = {
    "random": Strategy(lambda t, epochs, kw: kt.oracles.RandomSearchOracle(max_trials=t["max_trials"], **kw)),
    "grid": Strategy(lambda t, epochs, kw: kt.oracles.GridSearchOracle(max_trials=t["max_trials"], **kw)),
    "coarse_to_fine": Strategy(lambda t, epochs, kw: CoarseToFineOracle(
        max_trials=t["max_trials"], rounds=t["rounds"], top_k=t["top_k"], shrink=t["shrink"], **kw)),
    "hyperband": Strategy(lambda t, epochs, kw: kt.oracles.HyperbandOracle(
        max_epochs=t.get("max_epochs") or t.get("epochs") or epochs, factor=t["factor"], **kw),
        tuner=SpecHyperband, budgeted=False),
    "bayesian": Strategy(lambda t, epochs, kw: kt.oracles.BayesianOptimizationOracle(
        max_trials=t["max_trials"], num_initial_points=t.get("num_initial_points"), **kw)),
}
assert tuple(STRATEGIES) == strategy_names.STRATEGIES, "builder.catalog.strategies.STRATEGIES and this table differ"


def make_tuner(spec: Spec, hypermodel, directory: Path, log=print, overwrite: bool = False) -> SpecTuner:
    """The tuner of ``tune.strategy`` (:data:`STRATEGIES`) for ``spec``'s search space.

    Every trial is built, compiled and fitted inside the strategy of ``spec.distribute`` when it
    has more than one replica (Keras Tuner's ``distribution_strategy``). The oracle's seed is
    ``tune.seed``, else the spec's ``seed``; ``directory`` is the tune directory.

    Raises:
        SpecError: the objective's direction cannot be inferred (:func:`objective_of`).
    """
    from builder.run.distribute import make_strategy

    t = spec.tune
    strategy = STRATEGIES[t["strategy"]]
    oracle = strategy.oracle(t, spec.fit["epochs"], dict(
        objective=objective_of(spec), seed=t.get("seed") if t.get("seed") is not None else spec.seed,
        hyperparameters=search_space(spec.spaces), max_consecutive_failed_trials=max(3, t["max_trials"])))
    replicas = make_strategy(spec.distribute)
    return strategy.tuner(oracle, hypermodel, directory=directory, log=log,
                          budget=t["max_trials"] if strategy.budgeted else None,
                          distribution_strategy=replicas if replicas.num_replicas_in_sync > 1 else None,
                          overwrite=overwrite, executions_per_trial=t["executions_per_trial"])
