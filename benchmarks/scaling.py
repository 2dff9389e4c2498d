"""Scaling: epoch time against data size, model width and depth; tuning time against trials and workers.

- Data size: one compiled model of the default CNN (``specs/fashion_cnn.yaml``) trained on the
  first N training samples (N a multiple of the batch size, so every step has the same shape),
  each N through the spec's own pipeline (``make_pipelines``).
- Width and depth: ``benchmarks/matmul_mlp.yaml`` with its hidden Dense width set by ``--set``
  (both hidden layers) and its depth by the ``repeat`` of the second hidden layer; all models are
  built first, then their epochs alternate.
- Tuning: wall time of the CLI, ``dlbuild tune benchmarks/digits_tune.yaml --strategy random
  --max-trials N --no-retrain`` in one process, and with ``--workers 1`` and ``--workers 2``
  (Keras Tuner's chief/worker mode on this host: the command serves the oracle and starts that many
  worker processes).

An epoch is timed by a Keras callback (epoch begin → end) after one untimed warm-up epoch per
model and size; the repeats alternate between the sizes. Every series gets a least-squares line
(``scipy.stats.linregress``) and its R²; "linear" means R² close to 1 and a time per unit that does
not change along the series. Figure: ``benchmarks-scaling.png`` next to the report.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time

from benchmarks.common import (BENCH, ROOT, Config, Section, alternating, child_env, dlbuild_command, linear_fit,
                               md_table, run_timed, stats)

CNN = ROOT / "specs" / "fashion_cnn.yaml"
MLP = BENCH / "matmul_mlp.yaml"
TUNE = BENCH / "digits_tune.yaml"


def _epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Wall time of the last epoch (excludes ``fit``'s set-up and tear-down)."""

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start

    return EpochTimer()


def _compiled(spec):
    from builder.model.graph import build_compile_args, build_model

    model = build_model(spec)
    model.compile(**build_compile_args(spec))
    return model


def data_size(cfg: Config, sizes: list[int], repeats: int, spec_path, overrides: list[str]) -> dict:
    """Epoch seconds of one model against the number of training samples."""
    import builder
    from builder.data.pipeline import make_pipelines
    from builder.data.load import load_splits

    spec = builder.load_spec(spec_path, overrides=overrides)
    model = _compiled(spec)
    splits = load_splits(spec)
    bs = spec.fit["batch_size"]
    timer = _epoch_timer()
    runs = {}
    for n in sizes:
        sub = dataclasses.replace(splits, train=(splits.train[0][:n], splits.train[1][:n]))
        ds = make_pipelines(sub, batch_size=bs, seed=spec.seed).train

        def epoch(ds=ds) -> float:
            model.fit(ds, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
            return timer.seconds

        epoch()  # warm-up: tracing (first size), cache fill
        runs[n] = epoch
    secs = alternating(runs, repeats)
    med = {n: stats(v)["median"] for n, v in secs.items()}
    fit = linear_fit(list(med), list(med.values()))
    per_sample = {n: med[n] / n for n in med}
    cfg.log(f"  scaling data size: R² {fit['r2']:.4f}, ms/sample " +
            ", ".join(f"{n}: {1e3 * v:.2f}" for n, v in per_sample.items()))
    return {"spec": str(spec_path.relative_to(ROOT)), "overrides": overrides, "batch_size": bs, "repeats": repeats,
            "epoch_s": {str(n): v for n, v in secs.items()}, "median_epoch_s": {str(n): v for n, v in med.items()},
            "fit": fit, "s_per_sample": {str(n): v for n, v in per_sample.items()}}


def model_family(cfg: Config, variants: dict[str, list[str]], repeats: int, samples: int) -> dict:
    """Epoch seconds of ``matmul_mlp`` variants (``--set`` overrides per label), alternating."""
    import builder
    from builder.data.pipeline import make_pipelines
    from builder.data.load import load_splits

    from benchmarks.compute import training_flops

    timer = _epoch_timer()
    runs, info = {}, {}
    splits = None
    for label, overrides in variants.items():
        spec = builder.load_spec(MLP, overrides=overrides + [f"data.max_train_samples={samples}"])
        model = _compiled(spec)
        splits = splits or load_splits(spec)
        ds = make_pipelines(splits, batch_size=spec.fit["batch_size"], seed=spec.seed).train
        info[label] = {"overrides": overrides, "params": int(model.count_params()),
                       "train_flops_per_sample": training_flops(spec)["train_exact"]}

        def epoch(model=model, ds=ds) -> float:
            model.fit(ds, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
            return timer.seconds

        epoch()  # warm-up
        runs[label] = epoch
    secs = alternating(runs, repeats)
    for label in variants:
        info[label]["epoch_s"] = secs[label]
        info[label]["median_epoch_s"] = stats(secs[label])["median"]
    return info


def tuning(cfg: Config, trials: list[int], workers: list[int]) -> dict:
    """Wall time of ``dlbuild tune`` (CLI) per number of trials and local workers (0 = one process)."""
    env = child_env(TF_CPP_MIN_LOG_LEVEL="3")
    out = {}
    order = [(n, w) for n in trials for w in workers]
    for i, (n, w) in enumerate(order):
        d = cfg.work / f"scaling-tune-{n}-w{w}"
        shutil.rmtree(d, ignore_errors=True)
        cmd = dlbuild_command() + ["tune", str(TUNE), "--out", str(d), "--strategy", "random", "--max-trials", str(n),
                                   "--no-retrain"] + (["--workers", str(w)] if w else [])
        res = run_timed(cmd, env=env, timeout_s=1200)
        ended = time.time()
        if res["returncode"] != 0:
            raise RuntimeError(f"`{' '.join(cmd)}` exited with {res['returncode']}: {res['output']}")
        done = sum(1 for line in (d / "trials.csv").read_text().splitlines()[1:] if ",COMPLETED," in line)
        files = list((d / "trial_seconds").glob("*.txt"))  # written as each trial ends
        trial_s = [json.loads(p.read_text())["seconds"] for p in files]  # {"seconds", "fit_seconds"}
        out.setdefault(str(w), {})[str(n)] = {"wall_s": res["wall_s"], "cpu_s": res["cpu_s"], "completed": done,
                                               "trial_s": trial_s,
                                               "after_last_trial_s": ended - max(p.stat().st_mtime for p in files)}
        cfg.log(f"  scaling tune {n} trials, workers {w}: {res['wall_s']:.1f} s wall ({done} completed)")
        shutil.rmtree(d, ignore_errors=True)
    fits = {w: linear_fit([float(n) for n in v], [r["wall_s"] for r in v.values()]) for w, v in out.items()}
    cpu_fits = {w: linear_fit([float(n) for n in v], [r["cpu_s"] for r in v.values()]) for w, v in out.items()}
    return {"spec": str(TUNE.relative_to(ROOT)), "runs": out, "fits": fits, "cpu_fits": cpu_fits}


def _plot(res: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    ds = res["data_size"]
    xs = [int(n) for n in ds["epoch_s"]]
    for n, v in ds["epoch_s"].items():
        axes[0].plot([int(n)] * len(v), v, "o", color="tab:blue", alpha=0.4)
    axes[0].plot(xs, [ds["fit"]["slope"] * x + ds["fit"]["intercept"] for x in xs], "-", color="tab:blue",
                 label=f"least squares, R² {ds['fit']['r2']:.3f}")
    axes[0].set(xlabel="training samples", ylabel="seconds per epoch", title=f"data size ({ds['spec']})")
    for ax, key, title in ((axes[1], "width", "width (hidden units)"), (axes[2], "depth", "depth (hidden layers)")):
        fam = res[key]
        xs = [v["x"] for v in fam["variants"].values()]
        ax.plot(xs, [v["median_epoch_s"] for v in fam["variants"].values()], "o-",
                label=f"time ~ FLOPs: R² {fam['fit_vs_flops']['r2']:.3f}")
        ax.set(xlabel=title, ylabel="seconds per epoch", title=f"{title}, {fam['samples']} samples")
        if key == "width":
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
    if "tuning" in res:
        for w, runs in res["tuning"]["runs"].items():
            ns = [int(n) for n in runs]
            label = "one process" if w == "0" else f"--workers {w}"
            axes[3].plot(ns, [r["wall_s"] for r in runs.values()], "o-", label=label)
        axes[3].set(xlabel="trials", ylabel="wall seconds", title="dlbuild tune (digits MLP)")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(cfg: Config) -> Section:
    """The scaling group; see the module docstring."""
    return section(cfg, measure(cfg))


def measure(cfg: Config) -> dict:
    """Every number of the scaling group."""
    import math

    repeats = cfg.repeats(3, 1)
    if cfg.quick:
        size = data_size(cfg, [256, 512], repeats, MLP, ["model.layers[2].dense.units=64",
                                                         "model.layers[3].dense.units=64"])
        widths, depths, samples = [32, 64], [1, 2], 512
        trials, workers = [2], [0, 2]
    else:
        size = data_size(cfg, [1280, 2560, 5120], repeats, CNN, [])
        widths, depths, samples = [256, 512, 1024, 2048], [1, 2, 4, 8], 4096
        trials, workers = [3, 6, 12], [0, 1, 2]
    res = {"data_size": size}
    width_variants = {f"width {w}": [f"model.layers[2].dense.units={w}", f"model.layers[3].dense.units={w}"]
                      for w in widths}
    depth_w = 64 if cfg.quick else 512
    depth_variants = {f"{1 + d} hidden layers": [f"model.layers[2].dense.units={depth_w}",
                                                 f"model.layers[3].dense.units={depth_w}",
                                                 f"model.layers[3].repeat={d}"] for d in depths}
    for key, variants, xs in (("width", width_variants, widths), ("depth", depth_variants, [1 + d for d in depths])):
        fam = model_family(cfg, variants, repeats, samples)
        for x, v in zip(xs, fam.values()):
            v["x"] = x
        t = [v["median_epoch_s"] for v in fam.values()]
        f = [v["train_flops_per_sample"] for v in fam.values()]
        loglog = linear_fit([math.log(x) for x in xs], [math.log(y) for y in t])
        res[key] = {"samples": samples, "variants": fam, "fit_vs_x": linear_fit([float(x) for x in xs], t),
                    "fit_vs_flops": linear_fit([float(x) for x in f], t), "loglog_slope": loglog["slope"],
                    "flops_loglog_slope": linear_fit([math.log(x) for x in xs], [math.log(y) for y in f])["slope"]}
        cfg.log(f"  scaling {key}: R² vs FLOPs {res[key]['fit_vs_flops']['r2']:.4f}, log-log slope "
                f"{loglog['slope']:.2f}")
    res["tuning"] = tuning(cfg, trials, workers)
    return res


def section(cfg: Config, res: dict) -> Section:
    """The report section (and ``<report>-scaling.png``) of :func:`measure`'s numbers."""
    png = cfg.out.with_name(cfg.out.stem + "-scaling.png")
    _plot(res, png)
    ds = res["data_size"]
    repeats = ds["repeats"]
    rows = [[n, f"{ds['median_epoch_s'][n]:.2f} ({min(ds['epoch_s'][n]):.2f}–{max(ds['epoch_s'][n]):.2f})",
             f"{1e3 * ds['s_per_sample'][n]:.3f}"] for n in ds["epoch_s"]]
    body = [f"### Epoch time against data size (`{ds['spec']}`" + (f", {' '.join(ds['overrides'])}" if ds["overrides"]
                                                                    else "") + ")", ""]
    body += md_table(["training samples", "seconds per epoch: median (min–max)", "ms per sample"], rows)
    per = list(ds["s_per_sample"].values())
    f = ds["fit"]
    body += ["", f"Least squares: {1e3 * f['slope']:.3f} ms per sample (± {1e3 * f['slope_stderr']:.3f}), intercept "
             f"{f['intercept']:.2f} s, R² {f['r2']:.4f}; time per sample at the largest size is "
             f"{per[-1] / per[0]:.2f}× that at the smallest.", ""]
    for key, what in (("width", "hidden width (both hidden layers)"), ("depth", "depth (hidden layers of equal width)")):
        fam = res[key]
        body += [f"### Epoch time against {what} (`benchmarks/matmul_mlp.yaml`, {fam['samples']} samples)", ""]
        rows = [[label, f"{v['params']:,}", f"{v['train_flops_per_sample'] / 1e6:.2f}",
                 f"{v['median_epoch_s']:.3f} ({min(v['epoch_s']):.3f}–{max(v['epoch_s']):.3f})",
                 f"{v['train_flops_per_sample'] * fam['samples'] / v['median_epoch_s'] / 1e9:.1f}"]
                for label, v in fam["variants"].items()]
        body += md_table(["model", "parameters", "training MFLOP per sample", "seconds per epoch: median (min–max)",
                          "achieved GFLOP/s"], rows)
        fx, ff = fam["fit_vs_x"], fam["fit_vs_flops"]
        body += ["", f"Time against training FLOPs: R² {ff['r2']:.4f}. Time against {key}: R² {fx['r2']:.4f}; "
                 f"log-log slope {fam['loglog_slope']:.2f} (FLOPs grow with slope {fam['flops_loglog_slope']:.2f}).",
                 ""]
    tune = res["tuning"]
    tune.setdefault("cpu_fits", {w: linear_fit([float(n) for n in v], [r["cpu_s"] for r in v.values()])
                                 for w, v in tune["runs"].items()})
    body += [f"### Tuning wall time against trials and workers (`dlbuild tune {tune['spec']} --strategy random "
             "--no-retrain`)", ""]
    trials = sorted({int(n) for runs in tune["runs"].values() for n in runs})
    rows = []
    for w, runs in tune["runs"].items():
        label = "one process" if w == "0" else f"`--workers {w}`"
        fit, cfit = tune["fits"][w], tune["cpu_fits"][w]
        per_trial = [t for r in runs.values() for t in r["trial_s"]]
        rows.append([label] + [f"{runs[str(n)]['wall_s']:.1f} / {runs[str(n)]['cpu_s']:.1f}" if str(n) in runs
                               else "–" for n in trials]
                    + [f"{fit['slope']:.2f} / {cfit['slope']:.2f}", f"{fit['intercept']:.1f} / {cfit['intercept']:.1f}",
                       f"{fit['r2']:.3f} / {cfit['r2']:.3f}",
                       f"{stats(per_trial)['median']:.1f}" if per_trial else "–",
                       " / ".join(f"{runs[str(n)]['after_last_trial_s']:.1f}" if "after_last_trial_s" in
                                  runs.get(str(n), {}) else "–" for n in trials)])
    body += md_table(["mode"] + [f"{n} trials: wall / CPU s" for n in trials]
                     + ["s per trial (slope): wall / CPU", "fixed s (intercept): wall / CPU", "R²: wall / CPU",
                        "one trial's own duration, s (median)",
                        "exit after the last trial ended, s (" + " / ".join(map(str, trials)) + " trials)"], rows)
    body += ["", "One run per cell. CPU time is the whole process tree's (the command and the worker processes it "
             "waits for). A trial's own duration is what Keras Tuner's trial took inside its process "
             "(`trial_seconds/`); *exit after the last trial* is the time from the last trial's end to the "
             "command's exit (writing trials.csv, results.md, best.yaml and plots; with workers, also their "
             "shutdown). The random strategy with a fixed seed draws the same configurations in the same order, "
             "so a longer search repeats the shorter one's trials and adds more."]
    one_tails = [r["after_last_trial_s"] for r in tune["runs"].get("0", {}).values() if "after_last_trial_s" in r]
    worker_tails = [r["after_last_trial_s"] for w in ("1", "2") for r in tune["runs"].get(w, {}).values()
                    if "after_last_trial_s" in r]
    late = [t for t in worker_tails if one_tails and t > max(one_tails) + 10]
    if late:
        body += ["", f"In {len(late)} of {len(worker_tails)} searches with workers the command exited "
                 f"{min(late):.0f}–{max(late):.0f} s after its last trial ended (one process: at most "
                 f"{max(one_tails):.1f} s). Keras Tuner's chief, once the search is over, checks whether every "
                 "worker has left and otherwise sleeps 20 s before checking again (`time.sleep(20)` in "
                 "`keras_tuner/src/distribute/oracle_chief.py`, `start_server`): a search with workers can end up "
                 "to 20 s after its work is done, which is why its wall times do not line up with the number of "
                 "trials while its CPU times do."]
    loose = [("one process" if w == "0" else f"--workers {w}") for w, f in tune["fits"].items()
             if f["n"] >= 3 and f["r2"] < 0.9]
    if loose:
        body += ["", f"The wall-time line of {', '.join(loose)} fits poorly (R² above): its wall time did not grow "
                 "steadily with the trials in these single runs, while its CPU time did; read its wall-time slope "
                 "and intercept as rough."]
    one, two = tune["fits"].get("0"), tune["fits"].get("2")
    if one and two and one["n"] >= 2:
        n = str(max(trials))
        wall1, wall2 = tune["runs"]["0"][n]["wall_s"], tune["runs"]["2"][n]["wall_s"]
        c1, c2 = tune["cpu_fits"]["0"], tune["cpu_fits"]["2"]
        d1 = stats([t for r in tune["runs"]["0"].values() for t in r["trial_s"]])["median"]
        d2 = stats([t for r in tune["runs"]["2"].values() for t in r["trial_s"]])["median"]
        same = abs(c2["slope"] - c1["slope"]) <= 0.25 * abs(c1["slope"])
        text = (f"At {n} trials `--workers 2` took {wall2 / wall1:.2f}× the wall time of one process. CPU time per "
                f"trial (slope): {c1['slope']:.2f} s in one process, {c2['slope']:.2f} s with two workers"
                + (" (about the same work)" if same else "") + f"; fixed CPU cost (intercept): {c1['intercept']:.1f} s "
                f"against {c2['intercept']:.1f} s (each worker is a process of its own that starts Python and "
                f"TensorFlow and loads the data). A single trial took {d1:.1f} s alone and {d2:.1f} s with two "
                "running at once (medians).")
        if wall2 / wall1 > 0.8 and d2 > 1.5 * d1:
            text += (" Two trials at once share this machine's two cores, so side by side each runs slower and "
                     "little wall time is saved; workers pay off where each has its own cores or GPU.")
        body += ["", text]
    body += ["", f"![scaling]({png.name})", ""]
    sizes_ok = f["r2"] > 0.99
    verdict = (f"epoch time vs samples R² {f['r2']:.4f} ({'linear' if sizes_ok else 'not linear'}); vs training "
               f"FLOPs: width R² {res['width']['fit_vs_flops']['r2']:.4f}, depth R² "
               f"{res['depth']['fit_vs_flops']['r2']:.4f}")
    return Section(
        key="scaling", title="Scaling: data size, width, depth, tuning",
        method=["- Epochs are timed by a Keras callback (epoch begin → end) after one untimed warm-up epoch per model "
                f"and size; {repeats} repeats, alternating between the sizes of a series; medians are fitted by "
                "least squares (`scipy.stats.linregress`).",
                "- Tuning: wall time of the `dlbuild tune` command as a subprocess, one run per cell (the spec trains "
                "4 epochs of a small MLP on the UCI digits per trial)."],
        target="", met=None, verdict=verdict, body=body, raw=res)
