"""A spec's search spaces as Keras Tuner hyperparameters, the grid they span, and the dry-run report.

Inputs: the spaces of a checked :class:`~builder.spec.load.Spec` (``spec.spaces``: name →
:class:`builder.spec.hparams.HyperParameter`). Outputs: a ``keras_tuner.HyperParameters`` with
every space registered under its spec path (or ``name:``), spaces inside one alternative of a
structural choice in that alternative's ``conditional_scope``; the number of grid points; and the
text ``dlbuild tune --dry-run`` prints. Keras Tuner and TensorFlow are imported only inside the
functions that need them, so the dry run's imports stay those of one training step.
"""

from __future__ import annotations

import os
import tempfile
import time

from builder.errors import Diagnostic, SpecError
from builder.spec import hparams
from builder.spec.load import Spec


def register(hp_obj, h: hparams.HyperParameter, spaces: dict):
    """Register ``h`` on a ``keras_tuner.HyperParameters`` and return its current value.

    A space inside an alternative of a structural choice is registered in that choice's
    ``conditional_scope``, so it is active (and shown as tuned) only when the alternative is.
    A structural choice is registered as the index of its alternative (0, 1, …).
    """
    if h.parent is not None:
        parent = spaces[h.parent[0]]
        with hp_obj.conditional_scope(parent.name, [_kt_value(parent, h.parent[1])]):
            return _register(hp_obj, h)
    return _register(hp_obj, h)


def _kt_value(h: hparams.HyperParameter, index: int):
    return index if h.structural else h.values[index]


def _register(hp_obj, h: hparams.HyperParameter):
    if h.kind == "choice":
        if h.structural:
            return hp_obj.Choice(h.name, list(range(len(h.values))), default=h.values.index(h.default))
        return hp_obj.Choice(h.name, list(h.values), default=h.default)
    kw = {"sampling": h.sampling, "default": h.default}
    if h.kind == "int":
        return hp_obj.Int(h.name, int(h.min_value), int(h.max_value), step=h.step, **kw)
    return hp_obj.Float(h.name, h.min_value, h.max_value, step=h.step, **kw)


def search_space(spaces: dict):
    """A ``keras_tuner.HyperParameters`` with every space registered, so that every oracle knows
    the whole space before the first trial (grid and coarse-to-fine need it)."""
    import keras_tuner as kt

    hp_obj = kt.HyperParameters()
    for h in spaces.values():
        register(hp_obj, h, spaces)
    return hp_obj


def grid_size(spaces: dict) -> int | None:
    """Number of points of the full grid (conditional spaces counted per alternative), or None
    when a float range has no ``step``."""
    children: dict = {}
    for h in spaces.values():
        children.setdefault(h.parent, []).append(h)

    def size(h) -> int | None:
        grid = h.grid()
        if grid is None:
            return None
        if not h.structural:
            return len(grid)
        total = 0
        for i in range(len(h.values)):
            sub = product(children.get((h.name, i), []))
            if sub is None:
                return None
            total += sub
        return total

    def product(hs) -> int | None:
        n = 1
        for h in hs:
            s = size(h)
            if s is None:
                return None
            n *= s
        return n

    return product(children.get(None, []))


def check_tunable(spec: Spec) -> None:
    """Problems that only matter for ``tune`` (located): no search space at all; a float range
    without ``step`` under the grid strategy.

    Raises:
        SpecError: every such problem.
    """
    problems = []
    if not spec.spaces:
        problems.append(Diagnostic("this spec has no search space to tune: replace a value by "
                                   "{choice: [...]}, {int: [min, max]} or {float: [min, max]}", ()))
    if spec.tune.get("strategy") == "grid":
        for h in spec.spaces.values():
            if h.kind == "float" and h.step is None:
                problems.append(Diagnostic(
                    f"grid search needs a 'step' for float ranges (else the grid is infinite); "
                    f"add e.g. step: {round((h.max_value - h.min_value) / 4, 6)} or use {{choice: [...]}}",
                    h.path + ("float",)))
    if problems:
        raise SpecError(problems, spec.source)


def format_value(v) -> str:
    """A hyperparameter value as the tune reports print it: floats to 4 significant digits."""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def describe_space(spec: Spec, time_a_step: bool = True) -> str:
    """The ``--dry-run`` report: each hyperparameter with its YAML line and range, the grid size,
    the trial budget, and an estimated duration from timing the default spec's trial
    (:func:`_time_trial`: start-up, tracing, training and validation steps), stating what it assumes.

    Raises:
        SpecError: the spec cannot be tuned (see :func:`check_tunable`), or its default model
            cannot be built (located).
    """
    check_tunable(spec)
    t = spec.tune
    lines = [f"{spec.name}: {len(spec.spaces)} hyperparameter(s), strategy {t['strategy']}"]
    for h in spec.spaces.values():
        line, _ = spec.source.position(h.path)
        cond = f"  (only when {h.parent[0]} = option {h.parent[1]})" if h.parent else ""
        lines.append(f"  {spec.source.filename}:{line}: {h.name}: {h.describe()}, "
                     f"default {format_value(h.default)}{cond}")
    size = grid_size(spec.spaces)
    lines.append(f"grid size: {size if size is not None else 'infinite (a float range has no step)'}")
    trials = t["max_trials"] if t["strategy"] != "grid" or size is None else min(t["max_trials"], size)
    epochs = t.get("epochs") or spec.fit["epochs"]
    lines.append(f"trial budget: {trials} trial(s) × {t['executions_per_trial']} execution(s) × {epochs} epoch(s)")
    if time_a_step:
        m = _time_trial(spec)
        epoch = m["train_step"] * m["train_steps"] + m["val_step"] * m["val_steps"] + m["save"]
        per_trial = m["startup"] + m["tracing"] + epochs * epoch
        total = per_trial * trials * t["executions_per_trial"]
        lines.append(f"estimated duration: {total / 60:.1f} min, {per_trial:.1f} s per trial "
                     f"({m['startup']:.1f} s build + compile, {m['tracing']:.1f} s tracing, then per epoch "
                     f"{m['train_steps']} training steps × {m['train_step'] * 1000:.0f} ms + "
                     f"{m['val_steps']} validation steps × {m['val_step'] * 1000:.0f} ms + "
                     f"{m['save'] * 1000:.0f} ms checkpoint)")
        lines.append("  assumes every trial costs what the default spec costs (larger choices take longer; "
                     "early stopping and hyperband end trials sooner) and excludes loading the data once "
                     "and retraining the best spec")
    return "\n".join(lines)


def _time_trial(spec: Spec, steps: int = 5) -> dict:
    """Time the parts of one trial of the default-resolved spec, built and compiled by the trial
    step every run shares (:mod:`builder.run.trial`).

    Returns:
        ``{"startup": s, "tracing": s, "save": s, "train_step": s, "val_step": s, "train_steps": N,
        "val_steps": N}``: seconds to build, adapt and compile (the second time: the first also
        starts TensorFlow's runtime, which a search does once); the extra seconds of the first
        (tracing) ``fit`` over ``steps`` batches with validation; seconds to save the weights (Keras
        Tuner's checkpoint, counted every epoch: an upper bound); seconds per training and per
        validation step once traced; and the steps of one real epoch.
    """
    import math

    from builder.data.load import load_splits
    from builder.data.pipeline import make_pipelines
    from builder.run import trial

    splits = load_splits(spec)
    trial.compile_model(spec, trial.build(spec), splits)  # once untimed: TensorFlow's one-time start
    started = time.perf_counter()
    prepared = trial.compile_model(spec, trial.build(spec), splits)
    # Not cached: a few batches are read, and a cache left half-filled makes tf.data warn.
    pipes = make_pipelines(prepared.splits, batch_size=spec.fit["batch_size"], seed=spec.seed, cache=False)
    startup = time.perf_counter() - started
    model, n_train = prepared.model, min(steps, pipes.steps_per_epoch)
    train = pipes.train.take(n_train)
    val_samples = len(prepared.splits.val[1]) if pipes.val is not None else 0
    val_steps = math.ceil(val_samples / spec.fit["batch_size"])
    n_val = min(steps, val_steps)
    val = pipes.val.take(n_val) if n_val else None

    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    first = timed(lambda: model.fit(train, validation_data=val, epochs=1, verbose=0, shuffle=False))
    again = timed(lambda: model.fit(train, validation_data=val, epochs=1, verbose=0, shuffle=False))
    evaluating = timed(lambda: model.evaluate(val, verbose=0)) if val is not None else 0.0
    with tempfile.TemporaryDirectory() as tmp:  # Keras Tuner saves the weights when an epoch improves
        saving = timed(lambda: model.save_weights(os.path.join(tmp, "w.weights.h5")))
    return {"startup": startup, "tracing": max(first - again, 0.0), "save": saving,
            "train_step": max(again - evaluating, 0.0) / n_train, "val_step": evaluating / n_val if n_val else 0.0,
            "train_steps": pipes.steps_per_epoch, "val_steps": val_steps}
