"""Memory: peak RSS of ``dlbuild fit``, and RSS across the trials of one tuning search.

- ``fit``: ``dlbuild fit specs/fashion_cnn.yaml --epochs E`` as a child process; its peak RSS is the
  kernel's high-water mark (``ru_maxrss`` from ``os.wait4``) and a thread samples its RSS over time
  (``/proc/<pid>/status``). Beside it: ``python -c "import tensorflow, keras"`` (the floor every
  Keras program pays) and the hand-written Keras twin of the spec (``benchmarks.overhead.fashion_cnn``)
  fitted on the same arrays for the same epochs, in a child process too.
- Tuning: one search of ``--trials`` trials (``benchmarks/digits_tune.yaml``, random strategy) in a
  fresh child process; the ``log`` hook of :func:`builder.tune.search.tune`, which dlbuild calls right
  after each trial ends, records the process's RSS. The slope of RSS against trial number
  (least squares over trials 3 … N, after the first trials' one-off allocations) is the growth per
  trial.

A plain Keras loop with no Keras Tuner and no dlbuild (``keras.backend.clear_session()``, build,
compile, fit the same MLP, N times) is recorded the same way: it shows the growth TensorFlow causes
without dlbuild's per-trial release of ``tf.custom_gradient``'s registry entries
(``builder.catalog.compat.release_custom_gradients``). When dlbuild's search grows anyway, one more child
runs the same search deleting those entries itself after each trial (a diagnostic workaround), to
tell whether the registry is still the cause.

Children: ``python -m benchmarks.memory tune|keras-loop|keras-fit ...`` (see :func:`main`).
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import time
from pathlib import Path

from benchmarks.common import (BENCH, ROOT, Config, Section, child_env, dlbuild_command, linear_fit, md_table,
                               rss_mb, run_timed)

TUNE = BENCH / "digits_tune.yaml"
FIT_SPEC = "specs/fashion_cnn.yaml"
FLAT_MB_PER_TRIAL = 0.5  # "flat": less than half a MiB per trial (noise of the allocator)
SKIP = 2  # trials left out of the slope: the first ones allocate once-only state


# --- the cause: tf.custom_gradient's global registry ---------------------------------------------

# The registry helpers live in builder.catalog.compat, which dlbuild's tuner calls after every trial;
# the "--workaround" diagnostic run calls release_custom_gradients itself.
from builder.catalog.compat import custom_gradient_names, release_custom_gradients as drop_custom_gradients  # noqa: E402,F401


# --- children ------------------------------------------------------------------------------------

def tune_child(trials: int, out: Path, work: Path, workaround: bool) -> None:
    """One search of ``trials`` trials; writes ``{"rss_mb": [per trial], "registry": [...], ...}``."""
    import builder
    from builder.tune.search import tune

    spec = builder.load_spec(TUNE, overrides=["tune.strategy=random", f"tune.max_trials={trials}"])
    shutil.rmtree(work, ignore_errors=True)
    rss, registry, dropped, times = [], [], [], []
    start = time.perf_counter()
    keep = custom_gradient_names()  # imports TensorFlow before the baseline RSS, as tune() would
    before = rss_mb()

    def log(msg: str) -> None:
        if msg.startswith("trial "):  # dlbuild logs this line right after Keras Tuner ends a trial
            registry.append(len(custom_gradient_names()))
            if workaround:
                dropped.append(drop_custom_gradients(keep))
            rss.append(rss_mb())
            times.append(time.perf_counter() - start)

    tune(spec, out_dir=work, retrain=False, log=log)
    out.write_text(json.dumps({"rss_mb": rss, "rss_before_mb": before, "registry": registry, "dropped": dropped,
                               "seconds": times}))
    shutil.rmtree(work, ignore_errors=True)


def keras_loop_child(iterations: int, out: Path) -> None:
    """Plain Keras: ``clear_session``, build, compile and fit the digits MLP, ``iterations`` times."""
    import keras

    import builder
    from builder.data.load import load_splits

    spec = builder.load_spec(TUNE)  # only its data: the same split as the search
    splits = load_splits(spec)
    x, y = splits.train
    rss, registry = [], []
    before = rss_mb()
    for _ in range(iterations):
        keras.backend.clear_session()
        gc.collect()
        model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Rescaling(1 / 16), keras.layers.Flatten(),
                                  keras.layers.Dense(32, activation="relu"), keras.layers.Dropout(0.25),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, batch_size=64, epochs=4, validation_data=splits.val, verbose=0)
        del model
        gc.collect()
        registry.append(len(custom_gradient_names()))
        rss.append(rss_mb())
    out.write_text(json.dumps({"rss_mb": rss, "rss_before_mb": before, "registry": registry}))


def keras_fit_child(epochs: int, samples: int | None) -> None:
    """The hand-written Keras twin of the default spec, fitted and evaluated like ``dlbuild fit``
    (same arrays, validation split, batch size and epochs; no callbacks, no run directory)."""
    import builder
    from builder.data.load import load_splits

    from benchmarks.overhead import fashion_cnn

    spec = builder.load_spec(ROOT / FIT_SPEC)
    splits = load_splits(spec)
    x, y = splits.train
    if samples:
        x, y = x[:samples], y[:samples]
    model = fashion_cnn()
    model.fit(x, y, batch_size=spec.fit["batch_size"], epochs=epochs, validation_data=splits.val, verbose=0)
    model.evaluate(*splits.test, verbose=0)


# --- the group -----------------------------------------------------------------------------------

def _child(cfg: Config, args: list[str], name: str) -> dict:
    out = cfg.work / f"memory-{name}.json"
    out.unlink(missing_ok=True)
    res = run_timed([sys.executable, "-m", "benchmarks.memory"] + args + ["--out", str(out)],
                    env=child_env(TF_CPP_MIN_LOG_LEVEL="3"), timeout_s=1800)
    if res["returncode"] != 0:
        raise RuntimeError(f"memory child {name} exited with {res['returncode']}: {res['output']}")
    data = json.loads(out.read_text())
    data["wall_s"] = res["wall_s"]
    slope_from = SKIP if len(data["rss_mb"]) > SKIP + 2 else 0
    xs = list(range(slope_from + 1, len(data["rss_mb"]) + 1))
    data["fit"] = linear_fit([float(x) for x in xs], data["rss_mb"][slope_from:])
    data["fit_all"] = linear_fit([float(x) for x in range(1, len(data["rss_mb"]) + 1)], data["rss_mb"])
    data["slope_from_trial"] = slope_from + 1
    cfg.log(f"  memory {name}: {data['fit']['slope']:.2f} MiB per trial (R² {data['fit']['r2']:.3f}), "
            f"registry {data['registry'][:1]}…{data['registry'][-1:]}")
    return data


def run(cfg: Config) -> Section:
    """The memory group; see the module docstring."""
    return section(cfg, measure(cfg))


def measure(cfg: Config) -> dict:
    """Every number of the memory group (children run in fresh processes)."""
    epochs = 1 if cfg.quick else 2
    trials = 4 if cfg.quick else 20
    env = child_env(TF_CPP_MIN_LOG_LEVEL="3")
    fit_dir = cfg.work / "memory-fit"
    shutil.rmtree(fit_dir, ignore_errors=True)
    extra = ["--set", "data.max_train_samples=256"] if cfg.quick else []
    fit = run_timed(dlbuild_command() + ["fit", FIT_SPEC, "--epochs", str(epochs), "--out", str(fit_dir), "-q"] + extra,
                    env=env, sample_s=0.25, peak_rss=True, timeout_s=1800)
    if fit["returncode"] != 0:
        raise RuntimeError(f"dlbuild fit exited with {fit['returncode']}: {fit['output']}")
    shutil.rmtree(fit_dir, ignore_errors=True)
    floor = run_timed([sys.executable, "-c", "import tensorflow, keras"], env=env, peak_rss=True, timeout_s=300)
    keras_fit = run_timed([sys.executable, "-m", "benchmarks.memory", "keras-fit", "--epochs", str(epochs)]
                          + (["--samples", "256"] if cfg.quick else []), env=env, sample_s=0.25, peak_rss=True,
                          timeout_s=1800)
    if keras_fit["returncode"] != 0:
        raise RuntimeError(f"hand-written Keras fit exited with {keras_fit['returncode']}: {keras_fit['output']}")
    cfg.log(f"  memory fit: peak {fit['peak_rss_mb']:.0f} MiB (Keras twin {keras_fit['peak_rss_mb']:.0f}, "
            f"import floor {floor['peak_rss_mb']:.0f})")
    tune = _child(cfg, ["tune", "--trials", str(trials), "--work", str(cfg.work / "memory-tune")], "tune")
    growing = tune["fit"]["slope"] >= FLAT_MB_PER_TRIAL
    fixed = loop = None
    if growing or cfg.quick:  # locate the cause (quick: exercise the code)
        fixed = _child(cfg, ["tune", "--trials", str(trials), "--work", str(cfg.work / "memory-tune-w"),
                             "--workaround"], "tune-workaround")
    # The same loop in plain Keras: what TensorFlow's registry does without dlbuild's release.
    loop = _child(cfg, ["keras-loop", "--iterations", str(trials)], "keras-loop")
    raw = {"fit": {k: fit[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "samples")}, "epochs": epochs,
           "import_floor": {k: floor[k] for k in ("wall_s", "peak_rss_mb")},
           "keras_fit": {k: keras_fit[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "samples")},
           "tune": tune, "tune_workaround": fixed, "keras_loop": loop, "trials": trials}
    return raw


def section(cfg: Config, raw: dict) -> Section:
    """The report section (and ``<report>-memory.png``) of :func:`measure`'s numbers."""
    png = cfg.out.with_name(cfg.out.stem + "-memory.png")
    _plot(raw, png)
    sec = _section(cfg, raw, png.name, raw["tune"]["fit"]["slope"] >= FLAT_MB_PER_TRIAL)
    if raw.get("note"):  # e.g. a group re-measured on its own after a fix
        sec.body = [f"*{raw['note']}*", ""] + list(sec.body)
    return sec


def _plot(raw: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
    for key, label in (("fit", "dlbuild fit (default spec)"), ("keras_fit", "hand-written Keras fit")):
        s = raw[key]["samples"]
        if s:
            a.plot([t for t, _ in s], [m for _, m in s], label=f"{label}: peak {raw[key]['peak_rss_mb']:.0f} MiB")
    a.axhline(raw["import_floor"]["peak_rss_mb"], color="gray", ls=":", label="import tensorflow, keras")
    a.set(xlabel="seconds", ylabel="RSS (MiB)", title=f"RSS during fit ({raw['epochs']} epoch{'s' if raw['epochs'] > 1 else ''})")
    for key, label in (("tune", "dlbuild tune, as shipped"), ("tune_workaround", "dlbuild tune + registry workaround"),
                       ("keras_loop", "plain Keras loop (clear_session)")):
        d = raw.get(key)
        if d:
            b.plot(range(1, len(d["rss_mb"]) + 1), d["rss_mb"], "o-", ms=3,
                   label=f"{label}: {d['fit']['slope']:+.2f} MiB/trial")
    b.set(xlabel="trial (or loop iteration)", ylabel="RSS after it (MiB)", title="RSS across one search")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _section(cfg: Config, raw: dict, png: str, growing: bool) -> Section:
    t = raw["tune"]
    f = t["fit"]
    rows = [[f"`dlbuild fit {FIT_SPEC} --epochs {raw['epochs']}`", f"{raw['fit']['peak_rss_mb']:.0f}",
             f"{raw['fit']['wall_s']:.0f}"],
            [f"hand-written Keras twin, `model.fit` + `evaluate` ({raw['epochs']} epochs)",
             f"{raw['keras_fit']['peak_rss_mb']:.0f}", f"{raw['keras_fit']['wall_s']:.0f}"],
            ['`python -c "import tensorflow, keras"`', f"{raw['import_floor']['peak_rss_mb']:.0f}",
             f"{raw['import_floor']['wall_s']:.0f}"]]
    body = ["### Peak RSS of fit", ""] + md_table(["process", "peak RSS (MiB, ru_maxrss)", "wall s"], rows)
    d = raw["fit"]["peak_rss_mb"] - raw["keras_fit"]["peak_rss_mb"]
    body += ["", f"`dlbuild fit` peaked {d:+.0f} MiB ({d / raw['keras_fit']['peak_rss_mb']:+.1%}) against the "
             "hand-written Keras twin trained on the same arrays; TensorFlow and Keras alone take "
             f"{raw['import_floor']['peak_rss_mb']:.0f} MiB."]
    body += ["", "### RSS across the trials of one search", ""]
    series = [("dlbuild tune, as shipped", t)]
    if raw.get("tune_workaround"):
        series.append(("dlbuild tune + diagnostic workaround (registry entries of finished trials deleted)",
                       raw["tune_workaround"]))
    if raw.get("keras_loop"):
        series.append(("plain Keras loop: clear_session, build, compile, fit (no Keras Tuner, no dlbuild)",
                       raw["keras_loop"]))
    rows = []
    for label, d in series:
        r = d["rss_mb"]
        rows.append([label, len(r), f"{d.get('rss_before_mb') or 0:.0f}", f"{r[0]:.0f}", f"{r[-1]:.0f}",
                     f"**{d['fit']['slope']:+.2f}** ± {d['fit']['slope_stderr']:.2f} (R² {d['fit']['r2']:.3f})",
                     f"{d['registry'][0]} → {d['registry'][-1]}"])
    body += md_table(["run", "trials", "RSS before (MiB)", "after trial 1", "after the last", 
                      f"slope, MiB per trial (trials {t['slope_from_trial']}…N, ± std. error)",
                      "`CustomGradient-*` functions registered"], rows)
    body += ["", f"![memory]({png})", ""]
    if not growing and raw.get("keras_loop"):
        k = raw["keras_loop"]["fit"]["slope"]
        body += [
            "**Why dlbuild's search stays flat.** Every trial builds, compiles and fits a new model, so Keras "
            "traces a new train function, and in graph mode `tf.custom_gradient` (which Keras's TensorFlow "
            "optimizer uses through `ReplicaContext.all_reduce`) registers a gradient function "
            "`CustomGradient-<uid>` in TensorFlow's global gradient registry and never removes it; its closure "
            "holds the traced tensors, so each trial's graph stays alive (tensorflow/tensorflow#97697; "
            "`keras.backend.clear_session()` and `gc.collect()` do not touch that registry). After each trial "
            "dlbuild deletes the entries that trial added (`builder.catalog.compat.release_custom_gradients`, the "
            "approach of keras-team/tf-keras#898), so the registry column stays at its start value.",
            f"- The plain Keras loop, without that release, grows {k:+.2f} MiB per iteration: the growth is "
            "TensorFlow's, and dlbuild removes it.",
        ]
    if growing and raw.get("tune_workaround"):
        w = raw["tune_workaround"]["fit"]["slope"]
        k = raw["keras_loop"]["fit"]["slope"]
        body += [
            "**Why it grows.** Every trial builds, compiles and fits a new model, so Keras traces a new train "
            "function. In graph mode `tf.custom_gradient` registers its gradient function under a fresh name "
            "(`CustomGradient-<uid>`) in TensorFlow's global gradient registry and never removes it, and the "
            "function's closure holds the traced tensors, so the whole traced graph of every trial stays alive "
            "(reported as tensorflow/tensorflow#97697; the upstream pull request tensorflow/tensorflow#109334 stops the "
            "closure from capturing those tensors; the TensorFlow measured here still keeps them). Keras's TensorFlow optimizer all-reduces gradients through "
            "`ReplicaContext.all_reduce` even without a distribution strategy, and that uses `tf.custom_gradient`: "
            "the registry column above grows by a fixed number per trial. `keras.backend.clear_session()` (which "
            "Keras Tuner already calls before every trial) and `gc.collect()` do not touch that registry.",
            f"- The plain Keras loop grows too ({k:+.2f} MiB per iteration): the growth is TensorFlow/Keras's, not "
            "Keras Tuner's or dlbuild's.",
            f"- Deleting the registry entries of each finished trial brings the slope to {w:+.2f} MiB per trial: "
            "that is the cause. That run still creates a TensorBoard callback and new tf.data pipelines in every "
            "trial, so those are not what grows.",
            "- dlbuild releases these entries after each trial (`builder.catalog.compat.release_custom_gradients`, called "
            "from `builder/tune/tuners.py`); a search that grows means that release no longer takes effect.",
        ]
    verdict = f"RSS slope {f['slope']:+.2f} MiB per trial over trials {t['slope_from_trial']}…{len(t['rss_mb'])} " \
              f"(R² {f['r2']:.3f}); peak RSS of fit {raw['fit']['peak_rss_mb']:.0f} MiB"
    return Section(
        key="memory", title="Memory: fit peak, RSS across tuning trials",
        method=["- Peak RSS = the child process's `ru_maxrss` (`os.wait4` in a small launcher process, so the figure "
                "does not inherit the benchmark process's own RSS); the curve samples `/proc/<pid>/status` every "
                "0.25 s.",
                f"- Tuning: one search of {raw['trials']} trials in a fresh process (`{TUNE.relative_to(ROOT)}`, "
                "random strategy); RSS is read in the `log` hook of `builder.tune.search.tune`, which dlbuild calls right "
                f"after each trial ends. Slope: least squares over trials {t['slope_from_trial']}…N "
                "(`scipy.stats.linregress`)."],
        target=f"RSS flat across {raw['trials']} tuning trials (slope < {FLAT_MB_PER_TRIAL} MiB per trial)",
        met=None if cfg.quick else not growing, verdict=verdict, body=body, raw=raw)


def main(argv: list[str] | None = None) -> int:
    """Child entry points of the memory group (``tune``, ``keras-loop``, ``keras-fit``)."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tune")
    t.add_argument("--trials", type=int, required=True)
    t.add_argument("--work", type=Path, required=True)
    t.add_argument("--workaround", action="store_true")
    t.add_argument("--out", type=Path, required=True)
    k = sub.add_parser("keras-loop")
    k.add_argument("--iterations", type=int, required=True)
    k.add_argument("--out", type=Path, required=True)
    f = sub.add_parser("keras-fit")
    f.add_argument("--epochs", type=int, required=True)
    f.add_argument("--samples", type=int, default=None)
    args = ap.parse_args(argv)
    if args.cmd == "tune":
        tune_child(args.trials, args.out, args.work, args.workaround)
    elif args.cmd == "keras-loop":
        keras_loop_child(args.iterations, args.out)
    else:
        keras_fit_child(args.epochs, args.samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
