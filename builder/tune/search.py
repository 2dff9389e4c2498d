"""Spec search spaces → Keras Tuner: hyperparameters, HyperModel, tuners, and the tune directory.

``dlbuild tune`` is Keras Tuner driven by the spec: each search space becomes a Keras Tuner
hyperparameter named by its spec path (or ``name:``); spaces inside one alternative of a
structural choice live in that alternative's ``conditional_scope``. A trial resolves the spec with
the trial's values, checks it, builds, compiles and fits it exactly as ``dlbuild fit`` would.

The tune directory::

    kt/              the Keras Tuner project (oracle.json, trials): a rerun resumes it
    trials.csv       one row per trial: id, status, objective, seconds, failure reason, values
    trial_seconds/   wall time of each trial (seconds), one file per trial
    results.md       the trials table, best first
    best.yaml        the best trial as a concrete spec (no search spaces): `dlbuild fit best.yaml`
    rounds.json      coarse_to_fine: each round's box
    objective.png    objective per trial, and objective_vs_<hp>.png per hyperparameter
    tensorboard/     per-trial logs with HParams (Keras Tuner copies the TensorBoard callback)
    best/            the best spec retrained on train + validation, evaluated on test (unless --no-retrain)
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import time
from pathlib import Path

from builder.spec import hparams
from builder.catalog.compat import custom_gradient_names, release_custom_gradients
from builder.errors import Diagnostic, SpecError, trial_failure
from builder.atomic import write_json, write_text
from builder.spec.dump import dump_yaml
from builder.run.rundir import RunDir
from builder.spec.load import Spec, resolve_spec


# --- search space ----------------------------------------------------------------------------

def register(hp_obj, h: hparams.HyperParameter, spaces: dict):
    """Register ``h`` on a ``keras_tuner.HyperParameters`` and return its current value.

    A space inside an alternative of a structural choice is registered in that choice's
    ``conditional_scope``, so it is active (and shown as tuned) only when the alternative is.
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


def objective_of(spec: Spec):
    """``keras_tuner.Objective`` of ``tune.objective``; direction inferred by Keras Tuner for known
    metrics (``*loss``/``*error`` → min, ``*acc*``/``auc``… → max), explicit otherwise.

    Raises:
        SpecError: the direction cannot be inferred and is not given (at ``tune.objective``).
    """
    import keras_tuner as kt
    from keras_tuner.src.engine import metrics_tracking

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


# --- HyperModel ------------------------------------------------------------------------------

def make_hypermodel(base: Spec, splits, verbose: int = 0):
    """A ``keras_tuner.HyperModel`` whose ``build`` resolves the spec with the trial's values and
    whose ``fit`` trains it on the spec's own tf.data pipelines (batch size may be tuned).

    A spec mistake found while building a trial (a combination Keras rejects) raises Keras
    Tuner's ``FatalError``: the search stops at once with the located message.
    """
    import keras
    import keras_tuner as kt

    from builder.data.pipeline import adapt_preprocessing, make_pipelines
    from builder.model.graph import build_compile_args, build_model
    from builder.data.load import align_targets
    from builder.run.train import class_weights

    class SpecFatalError(kt.errors.FatalError):
        """A located spec error raised inside a trial."""

    class NaNGuard(keras.callbacks.TerminateOnNaN):
        """Keras's TerminateOnNaN, remembering that it fired (the epoch's logged mean can still
        look finite), so the trial is recorded FAILED rather than COMPLETED."""

        bad = None

        def on_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)) and self.bad is None:
                self.bad = (batch, float(loss))
            super().on_batch_end(batch, logs)

    class SpecHyperModel(kt.HyperModel):
        """Keras Tuner HyperModel over the spec: ``build`` and ``fit`` resolve the spec template
        with the trial's hyperparameter values and do exactly what ``dlbuild fit`` does."""

        def resolve(self, hp) -> Spec:
            try:
                return resolve_spec(base.template, base.spaces, lambda h: register(hp, h, base.spaces))
            except SpecError as err:
                raise SpecFatalError(err.format()) from None

        def build(self, hp):
            spec = self.resolve(hp)
            # Every trial starts from the spec's seed, as `dlbuild fit best.yaml` will: a trial's
            # score then depends on its values, not on the random state earlier trials left.
            keras.utils.set_random_seed(spec.seed)
            try:
                model = build_model(spec)
            except SpecError as err:
                raise SpecFatalError(err.format()) from None
            adapt_preprocessing(model, splits.train[0])
            model.compile(**build_compile_args(spec))
            return model

        def fit(self, hp, model, *args, **kwargs):
            spec = self.resolve(hp)
            pipes = make_pipelines(align_targets(splits, model), batch_size=spec.fit["batch_size"], seed=spec.seed,
                                   shuffle_buffer=spec.data.get("shuffle_buffer"),
                                   cache=spec.data.get("cache", True), shuffle=spec.fit["shuffle"])
            callbacks = list(kwargs.pop("callbacks", []))
            patience = base.tune.get("early_stopping")
            if patience:
                obj = objective_of(base)
                callbacks.append(keras.callbacks.EarlyStopping(monitor=obj.name, mode=obj.direction,
                                                               patience=patience))
            guard = NaNGuard()
            callbacks.append(guard)
            epochs = kwargs.pop("epochs", None) or base.tune.get("epochs") or spec.fit["epochs"]
            kwargs.pop("verbose", None)
            history = model.fit(pipes.train, validation_data=pipes.val, epochs=epochs, callbacks=callbacks,
                                class_weight=class_weights(spec, splits.train[1]), verbose=verbose,
                                shuffle=False, **kwargs)
            if guard.bad is not None:
                raise kt.errors.FailedTrialError(f"loss became {guard.bad[1]} (NaN/Inf) at batch {guard.bad[0]}; "
                                                 "lower the learning rate or clip gradients (clipnorm)")
            return history

    return SpecHyperModel()


# --- tuner -----------------------------------------------------------------------------------

def make_tuner(spec: Spec, hypermodel, directory: Path, log=print, overwrite: bool = False):
    """The Keras Tuner tuner for ``tune.strategy``, printing one line per finished trial."""
    import keras_tuner as kt

    from builder.tune.oracles import CoarseToFineOracle

    t = spec.tune
    objective = objective_of(spec)
    seed = t.get("seed") if t.get("seed") is not None else spec.seed
    from builder.run.distribute import make_strategy

    strategy_obj = make_strategy(spec.distribute)
    common = dict(hypermodel=hypermodel, objective=objective, seed=seed,
                  # each trial is built, compiled and fitted inside this strategy's scope
                  distribution_strategy=strategy_obj if strategy_obj.num_replicas_in_sync > 1 else None,
                  hyperparameters=search_space(spec.spaces), directory=str(directory), project_name="kt",
                  overwrite=overwrite, executions_per_trial=t["executions_per_trial"],
                  max_consecutive_failed_trials=max(3, t["max_trials"]))
    strategy = t["strategy"]
    if strategy == "random":
        base, kwargs = kt.RandomSearch, dict(max_trials=t["max_trials"])
    elif strategy == "grid":
        base, kwargs = kt.GridSearch, dict(max_trials=t["max_trials"])
    elif strategy == "bayesian":
        base, kwargs = kt.BayesianOptimization, dict(max_trials=t["max_trials"],
                                                      num_initial_points=t.get("num_initial_points"))
    elif strategy == "hyperband":
        base, kwargs = kt.Hyperband, dict(max_epochs=t.get("max_epochs") or t.get("epochs") or spec.fit["epochs"],
                                          factor=t["factor"])
    else:  # coarse_to_fine
        oracle = CoarseToFineOracle(objective=objective, max_trials=t["max_trials"], rounds=t["rounds"],
                                    top_k=t["top_k"], shrink=t["shrink"], seed=seed,
                                    hyperparameters=common.pop("hyperparameters"),
                                    max_consecutive_failed_trials=common.pop("max_consecutive_failed_trials"))
        for k in ("objective", "seed"):
            common.pop(k)
        base, kwargs = kt.Tuner, dict(oracle=oracle)

    class Progress(base):
        """One line per finished trial: i/N, values, objective, best so far, elapsed."""

        def pre_create_trial(self):
            # A worker asks the chief again at once while the oracle answers IDLE (for instance
            # between coarse-to-fine rounds); a short pause keeps that loop from spinning.
            if os.environ.get("KERASTUNER_ORACLE_IP") and getattr(self, "_asked_before", False):
                time.sleep(0.1)
            self._asked_before = True

        def on_search_begin(self):
            super().on_search_begin()
            self._started = time.perf_counter()
            self._gradients_kept = custom_gradient_names()

        def on_trial_begin(self, trial):
            super().on_trial_begin(trial)
            self._trial_started = time.perf_counter()
            boxes = getattr(self.oracle, "boxes", None)  # coarse-to-fine: say when a round's box is drawn
            if boxes and len(boxes) != getattr(self, "_boxes_seen", 0):
                self._boxes_seen = len(boxes)
                rnd = max(boxes, key=int)
                log(f"coarse_to_fine round {int(rnd) + 1}: box (unit cube) " + json.dumps(boxes[rnd]))

        def on_trial_end(self, trial):
            seconds = time.perf_counter() - getattr(self, "_trial_started", time.perf_counter())
            # One small file per trial: several worker processes may finish trials at once.
            write_text(directory / "trial_seconds" / f"{trial.trial_id}.txt", f"{seconds:.3f}\n")
            super().on_trial_end(trial)
            # The trial's model is gone: free its traced graphs, which TensorFlow's custom-gradient
            # registry would otherwise keep for the whole search (builder.catalog.compat).
            release_custom_gradients(getattr(self, "_gradients_kept", set()))
            self._done = getattr(self, "_done", 0) + 1  # trials run by this process (a worker sees only its own)
            done = self._done
            best = self.oracle.get_best_trials(1)
            value = trial.score if trial.score is not None else float("nan")
            values = ", ".join(f"{k}={_fmt(v)}" for k, v in trial.hyperparameters.values.items()
                               if not k.startswith("tuner/"))
            status = trial.status if trial.status != "COMPLETED" else f"{objective.name} {value:.4f}"
            best_text = f"best {best[0].score:.4f}" if best and best[0].score is not None else "best -"
            budget = t["max_trials"] if strategy != "hyperband" else "?"
            log(f"trial {done}/{budget} [{trial.trial_id}] {status} | {best_text} | "
                f"{time.perf_counter() - self._started:.0f} s | {values}")
            if trial.status != "COMPLETED" and trial.message:
                log(f"  {trial_failure(trial.message)[:200]}")  # why, in one line (trials.csv has it too)

    return Progress(**kwargs, **common)


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# --- outputs ---------------------------------------------------------------------------------

def trial_rows(tuner) -> list[dict]:
    """One dict per trial (start order): id, status, objective, seconds, values, failure reason."""
    rows = []
    for trial_id in tuner.oracle.start_order:
        tr = tuner.oracle.trials.get(trial_id)
        if tr is None:
            continue
        seconds_file = Path(tuner.project_dir).parent / "trial_seconds" / f"{trial_id}.txt"
        row = {"trial_id": trial_id, "status": tr.status,
               "objective": tr.score if tr.score is not None else "",
               "seconds": float(seconds_file.read_text()) if seconds_file.exists() else "",
               "failure": trial_failure(tr.message or "") if tr.status != "COMPLETED" else ""}
        row.update({k: v for k, v in tr.hyperparameters.values.items()})
        rows.append(row)
    return rows


def best_spec_values(base: Spec, values: dict) -> dict:
    """The document of the trial with hyperparameter ``values``: search spaces replaced by the
    values (inactive conditional ones by their defaults), no ``tune`` section."""
    def choose(h):
        if h.name in values:
            v = values[h.name]
            return int(v) if h.kind == "int" else v
        return hparams.default_choice(h)

    spec = resolve_spec(base.template, base.spaces, choose)
    doc = copy.deepcopy(spec.values)
    doc.pop("tune", None)
    return doc


def write_outputs(tuner, base: Spec, out: Path) -> dict | None:
    """trials.csv, results.md, best.yaml, rounds.json and plots; returns the best values or None."""
    rows = trial_rows(tuner)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    write_text(out / "trials.csv", buf.getvalue())
    best = tuner.oracle.get_best_trials(1)
    objective = tuner.oracle.objective
    done = [r for r in rows if r["status"] == "COMPLETED"]
    done.sort(key=lambda r: r["objective"], reverse=objective.direction == "max")
    hp_names = [k for k in keys if k not in ("trial_id", "status", "objective", "seconds", "failure")
                and not k.startswith("tuner/")]
    lines = [f"# {base.name}: {len(rows)} trials, objective {objective.name} ({objective.direction})", "",
             "| rank | trial | " + objective.name + " | " + " | ".join(hp_names) + " |",
             "|---" * (3 + len(hp_names)) + "|"]
    for i, r in enumerate(done, 1):
        lines.append(f"| {i} | {r['trial_id']} | {r['objective']:.4f} | "
                     + " | ".join(_fmt(r.get(k, "")) for k in hp_names) + " |")
    failed = [r for r in rows if r["status"] != "COMPLETED"]
    if failed:
        lines += ["", "Failed trials:", ""] + [f"- {r['trial_id']} ({r['status']}): {r['failure']}" for r in failed]
    write_text(out / "results.md", "\n".join(lines) + "\n")
    if hasattr(tuner.oracle, "boxes"):
        write_json(out / "rounds.json", {"trials_per_round": tuner.oracle.trials_per_round,
                                         "boxes_in_unit_cube": tuner.oracle.boxes})
    log_axis = {h.name for h in tuner.oracle.hyperparameters.space
                if getattr(h, "sampling", None) in ("log", "reverse_log")}
    _plots(rows, hp_names, objective, out, log_axis)
    if not best or best[0].score is None:
        return None
    values = dict(best[0].hyperparameters.values)
    doc = best_spec_values(base, values)
    header = (f"# Best trial {best[0].trial_id} of '{base.name}': {objective.name} = {best[0].score:.6g}\n"
              f"# Train it with: dlbuild fit best.yaml\n")
    write_text(out / "best.yaml", header + dump_yaml(doc))
    return values


def _plots(rows: list[dict], hp_names: list[str], objective, out: Path, log_axis: set = frozenset()) -> None:
    """objective.png (per trial, with the best so far) and objective_vs_<hp>.png (matplotlib; a
    hyperparameter sampled on a log scale, named in ``log_axis``, gets a log x axis)."""
    from builder.run.plots import new_figure

    done = [(i + 1, r) for i, r in enumerate(rows) if r["status"] == "COMPLETED"]
    if not done:
        return
    xs, ys = [i for i, _ in done], [r["objective"] for _, r in done]
    pick = max if objective.direction == "max" else min
    best_so_far = [pick(ys[: k + 1]) for k in range(len(ys))]
    fig = new_figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(xs, ys, "o", label="trial")
    ax.step(xs, best_so_far, where="post", label="best so far")
    ax.set_xlabel("trial (start order)")
    ax.set_ylabel(objective.name)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "objective.png", dpi=100)
    for name in hp_names:
        pts = [(r[name], r["objective"]) for _, r in done if r.get(name, "") != ""]
        if not pts:
            continue
        fig = new_figure(figsize=(5, 3.5))
        ax = fig.subplots()
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v, _ in pts)
        xs_ = [v if numeric else str(v) for v, _ in pts]
        ax.plot(xs_, [o for _, o in pts], "o")
        if numeric and name in log_axis:
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(objective.name)
        fig.tight_layout()
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
        fig.savefig(out / f"objective_vs_{safe}.png", dpi=100)


# --- the command -----------------------------------------------------------------------------

def _split_address(address: str) -> tuple[str, str]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise SpecError([Diagnostic(f"expected HOST:PORT, e.g. 127.0.0.1:8000; received: {address!r}",
                                    origin="--chief/--worker", line=1, column=1, quote=address)])
    return host, port


def _set_role(role: str, address: str | None, tuner_id: str) -> None:
    """Keras Tuner's chief/worker mode is configured by environment variables (keras_tuner
    ``distribute/utils.py``): the oracle's address, and a tuner id containing "chief" for the chief."""
    import os

    if address is None:
        return
    host, port = _split_address(address)
    os.environ.update(KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port,
                      KERASTUNER_TUNER_ID="chief" if role == "chief" else tuner_id)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_local_workers(n: int, spec_file: str, overrides: list, out: Path, address: str, log) -> list:
    """Start ``n`` ``dlbuild tune --worker`` processes on this host, one GPU each when GPUs exist
    (``CUDA_VISIBLE_DEVICES``), sharing the chief at ``address``."""
    import os
    import subprocess
    import sys

    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    procs = []
    for i in range(n):
        env = {**os.environ}
        for k in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
            env.pop(k, None)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(i % gpus)
        cmd = [sys.executable, "-m", "builder.cli.main", "tune", spec_file, "--out", str(out), "--worker", address,
               "--tuner-id", f"worker{i}"] + [a for o in overrides for a in ("--set", o)]
        log_file = open(out / f"worker{i}.log", "w")
        procs.append(subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT))
    log(f"dlbuild: started {n} local worker(s) on {address}" + (f" over {gpus} GPU(s)" if gpus else ""))
    return procs


def _watch_workers(procs: list, grace_s: float = 30.0):
    """Interrupt the chief (blocked in Keras Tuner's gRPC server loop, which never returns while
    trials are missing) when every local worker has exited and the search has not ended within
    ``grace_s`` seconds. Returns the event that says it did so."""
    import _thread
    import threading

    fired = threading.Event()

    def watch():
        while any(p.poll() is None for p in procs):
            time.sleep(0.5)
        time.sleep(grace_s)
        fired.set()
        _thread.interrupt_main()

    threading.Thread(target=watch, daemon=True).start()
    return fired


def tune(spec: Spec, *, out_dir: str | Path | None = None, runs_root: str | Path = "runs", retrain: bool = True,
         verbose: int = 0, log=print, chief: str | None = None, worker: str | None = None,
         tuner_id: str | None = None, workers: int = 0, overrides: list | tuple = ()) -> dict:
    """Search ``spec``'s space with Keras Tuner and write the tune directory.

    Rerunning with the same ``out_dir`` resumes: completed trials are kept, an interrupted one is
    re-run (Keras Tuner ``overwrite=False``).

    Several processes share one search through Keras Tuner's chief/worker mode: ``chief=HOST:PORT``
    serves the oracle (and, when the search ends, writes the outputs and retrains the best spec);
    ``worker=HOST:PORT`` runs trials for that chief; ``workers=N`` does both on this host, starting
    N local worker processes (one GPU each when GPUs exist).

    Returns:
        ``{"dir": Path, "best_values": dict, "trials": [rows], "best_run": FitResult | None}``
        (for a worker: ``best_values`` None).

    Raises:
        SpecError: the spec is not tunable, or a trial hit a spec mistake (located).
        RuntimeError: no trial completed (every failure reason is in trials.csv).
    """
    import os

    import keras_tuner as kt

    from builder.data.load import load_splits

    from builder.run.train import fit as run_fit, seed_everything

    check_tunable(spec)
    objective_of(spec)  # direction problems before any trial
    run = RunDir(out_dir) if out_dir else RunDir.new(Path(runs_root), spec.name, prefix="tune-")
    out = run.path
    run.prepare()
    procs = []
    if workers:
        chief = chief or f"127.0.0.1:{_free_port()}"
    _set_role("chief" if chief else "worker", chief or worker, tuner_id or f"worker-{os.getpid()}")
    is_worker = worker is not None and chief is None
    seed_everything(spec.seed)
    splits = load_splits(spec)
    if not is_worker:
        run.set_state("running", spec_name=spec.name, kind="tune")
    hypermodel = make_hypermodel(spec, splits, verbose=verbose)
    tuner = make_tuner(spec, hypermodel, out, log=log)
    import keras

    if workers:
        procs = _start_local_workers(workers, spec.source.filename, list(overrides), out, chief, log)
    role = "serving the oracle at " + chief if chief else (f"worker of {worker}" if is_worker else "")
    log(f"dlbuild: tuning '{spec.name}' with {spec.tune['strategy']} over {len(spec.spaces)} "
        f"hyperparameter(s) → {out}" + (f" ({role})" if role else ""))
    watchdog = _watch_workers(procs) if procs else None
    # Keras Tuner prints each failed trial's traceback; trials.csv keeps its cause (trial_failure)
    # and the full traceback stays in the trial's own trial.json, so show it only with -v.
    try:
        from keras_tuner.src import config as kt_config  # not public API; a switch, so guarded

        kt_config.DEBUG = verbose > 0
    except ImportError:
        pass
    try:
        tuner.search(callbacks=[keras.callbacks.TensorBoard(log_dir=str(out / "tensorboard"))], verbose=verbose)
    except kt.errors.FatalError as err:  # a spec mistake inside a trial: stop at once, located
        run.set_state("failed")
        raise _ReportedSpecError(str(err)) from None
    except KeyboardInterrupt:
        if watchdog is not None and watchdog.is_set():
            run.set_state("failed")
            raise RuntimeError(f"every local worker exited before the search finished; see {out}/worker*.log") from None
        raise
    finally:
        for p in procs:
            p.wait()
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
        from builder.spec.load import load_spec

        best = load_spec(out / "best.yaml", overrides=["data.validation_split=0"])
        log("dlbuild: retraining the best spec on train + validation")
        best_run = run_fit(best, run_dir=out / "best", verbose=verbose, log=log)
    run.set_state("completed")
    log(f"tune directory: {out}")
    return {"dir": out, "best_values": best_values, "trials": rows, "best_run": best_run}


class _ReportedSpecError(SpecError):
    """A SpecError already formatted inside a trial process (Keras Tuner passes text only)."""

    def __init__(self, text: str):
        self.text = text
        Exception.__init__(self, text)
        self.diagnostics, self.source = [], None

    def format(self) -> str:
        return self.text


def describe_space(spec: Spec, time_a_step: bool = True) -> str:
    """The ``--dry-run`` report: each hyperparameter with its YAML line and range, the grid size,
    the trial budget, and an estimated duration from one timed training step of the default spec
    (seconds per step × steps per epoch × epochs × trials; an estimate, not a promise).

    Raises:
        SpecError: the spec cannot be tuned (see :func:`check_tunable`).
    """
    check_tunable(spec)
    t = spec.tune
    lines = [f"{spec.name}: {len(spec.spaces)} hyperparameter(s), strategy {t['strategy']}"]
    for h in spec.spaces.values():
        line, _ = spec.source.position(h.path)
        cond = f"  (only when {h.parent[0]} = option {h.parent[1]})" if h.parent else ""
        lines.append(f"  {spec.source.filename}:{line}: {h.name}: {h.describe()}, default {_fmt(h.default)}{cond}")
    size = grid_size(spec.spaces)
    lines.append(f"grid size: {size if size is not None else 'infinite (a float range has no step)'}")
    trials = t["max_trials"] if t["strategy"] != "grid" or size is None else min(t["max_trials"], size)
    epochs = t.get("epochs") or spec.fit["epochs"]
    lines.append(f"trial budget: {trials} trial(s) × {t['executions_per_trial']} execution(s) × {epochs} epoch(s)")
    if time_a_step:
        seconds = _time_one_step(spec)
        steps = seconds["steps_per_epoch"]
        total = seconds["step"] * steps * epochs * trials * t["executions_per_trial"]
        lines.append(f"estimated duration: {total / 60:.1f} min ({seconds['step'] * 1000:.0f} ms/step × "
                     f"{steps} steps/epoch, measured on the default spec)")
    return "\n".join(lines)


def _time_one_step(spec: Spec) -> dict:
    """Seconds of one training step of the default-resolved spec (after a warm-up step)."""
    from builder.data.pipeline import adapt_preprocessing, make_pipelines
    from builder.model.graph import build_compile_args, build_model
    from builder.data.load import load_splits

    splits = load_splits(spec)
    pipes = make_pipelines(splits, batch_size=spec.fit["batch_size"], seed=spec.seed, cache=False)
    model = build_model(spec)
    adapt_preprocessing(model, splits.train[0])
    model.compile(**build_compile_args(spec))
    x, y = next(iter(pipes.train))
    model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(3):
        model.train_on_batch(x, y)
    return {"step": (time.perf_counter() - start) / 3, "steps_per_epoch": pipes.steps_per_epoch}
