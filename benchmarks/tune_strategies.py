"""Benchmark of ``dlbuild tune`` strategies: grid vs random vs coarse-to-fine (issue 4, "Proof").

Runs dlbuild's own tuner (``builder.tune.search.tune``) on ``benchmarks/digits_tune.yaml`` — a small
MLP on the bundled UCI digits, a finite space of 63 points — for three seeds each:

- ``grid``: the full grid (63 trials), the reference;
- ``random`` and ``coarse_to_fine``: the same budget each, 15 trials (23.8 % of the grid).

A seed sets both ``seed`` (data split, weight initialisation) and ``tune.seed`` (the oracle), so
every strategy of one seed sees the same train/validation split and the grid is re-run per seed.
The objective is ``val_accuracy`` (Keras Tuner scores a trial by its best epoch). For each run the
best-so-far curve comes from the run's ``trials.csv`` (start order).

    python -m benchmarks.tune_strategies            # full: writes docs/tuning-benchmark.{md,json,png}
    python -m benchmarks.tune_strategies --quick    # smoke: 1 seed, 4 trials per strategy, < 1 min

The quick run writes its report into its work directory only (not docs/), unless ``--docs`` is given.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = Path(__file__).resolve().parent / "digits_tune.yaml"
STRATEGIES = ("grid", "random", "coarse_to_fine")
TARGET_POINTS = 0.5  # issue 4: coarse-to-fine within 0.5 points of the grid's best
TARGET_FRACTION = 0.25  # ... with at most 25 % of the grid's trials
GOOD = 0.9  # re-training noise is also reported for pairs of trials that both scored at least this


# --- running ---------------------------------------------------------------------------------

def read_trials(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def best_so_far(rows: list[dict]) -> list[float | None]:
    """Best objective (max) after each trial in start order; failed trials carry the best forward."""
    best, curve = None, []
    for r in rows:
        if r["status"] == "COMPLETED" and r["objective"] not in ("", None):
            v = float(r["objective"])
            best = v if best is None else max(best, v)
        curve.append(best)
    return curve


def rss_mb() -> float:
    """Current resident set size of this process (MB), from /proc (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(strategy: str, seed: int, budget: int, epochs: int | None, work: Path, quiet: bool) -> dict:
    """One ``tune`` run through dlbuild's Python API; returns its record."""
    import builder
    from builder.tune.search import tune

    out = work / f"{strategy}-seed{seed}"
    shutil.rmtree(out, ignore_errors=True)  # a fresh search, never a resume
    overrides = [f"tune.strategy={strategy}", f"tune.max_trials={budget}", f"tune.seed={seed}", f"seed={seed}"]
    if epochs:
        overrides.append(f"fit.epochs={epochs}")
    spec = builder.load_spec(SPEC, overrides=overrides)
    lines: list[str] = []

    def log(msg: str) -> None:
        lines.append(msg)
        if not quiet and msg.startswith("trial "):
            print(f"  [{strategy} seed {seed}] {msg}", flush=True)

    start = time.perf_counter()
    tune(spec, out_dir=out, retrain=False, log=log)
    wall = time.perf_counter() - start
    rows = read_trials(out / "trials.csv")
    hp_names = list(spec.spaces)  # trials.csv also has bookkeeping columns (seconds, failure, ...)
    curve = best_so_far(rows)
    record = {
        "strategy": strategy, "seed": seed, "budget": budget, "overrides": overrides,
        "trials_run": len(rows), "completed": sum(r["status"] == "COMPLETED" for r in rows),
        "wall_s": round(wall, 2), "best": curve[-1] if curve else None, "curve": curve,
        "trials": [{"trial_id": r["trial_id"], "status": r["status"],
                    "objective": float(r["objective"]) if r["objective"] else None,
                    "seconds": float(r["seconds"]) if r.get("seconds") else None,
                    "values": {k: r.get(k, "") for k in hp_names}} for r in rows],
        "rss_mb_after": round(rss_mb(), 1), "dir": str(out),
    }
    if (out / "rounds.json").is_file():
        record["rounds"] = json.loads((out / "rounds.json").read_text())
    print(f"{strategy:>15} seed {seed}: best {record['best']:.4f} after {record['trials_run']} trials "
          f"({record['completed']} completed) in {wall:.1f} s; RSS {record['rss_mb_after']:.0f} MB", flush=True)
    return record


# --- analysis --------------------------------------------------------------------------------

def summarize(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


def config_key(values: dict) -> tuple:
    """A trial's hyperparameter values as a hashable key (floats rounded, as CSV text differs)."""
    out = []
    for k in sorted(values):
        v = values[k]
        try:
            v = round(float(v), 9)
        except (TypeError, ValueError):
            pass
        out.append((k, v))
    return tuple(out)


def rerun_noise(runs: list[dict]) -> dict:
    """Same configuration, same seed (same split), trained again in another run: |objective difference|.

    Configurations that two runs of one seed both tried (the grid tries them all) differ only in
    where in the search they were trained, so the difference of their scores is the noise floor of
    one trial's score (a non-zero one means a trial's initialisation depends on the trials before it)."""
    diffs = []
    for seed in sorted({r["seed"] for r in runs}):
        seen: dict = {}
        for i, r in enumerate(r for r in runs if r["seed"] == seed):
            for t in r["trials"]:
                if t["objective"] is not None:
                    seen.setdefault(config_key(t["values"]), []).append((i, t["objective"]))
        for scores in seen.values():
            for a in range(len(scores)):
                for b in range(a + 1, len(scores)):
                    if scores[a][0] != scores[b][0]:
                        diffs.append((abs(scores[a][1] - scores[b][1]), min(scores[a][1], scores[b][1])))
    if not diffs:
        return {"pairs": 0}
    good = [x for x, low in diffs if low >= GOOD]
    diffs = [x for x, _ in diffs]
    out = {"pairs": len(diffs), "identical": sum(d == 0 for d in diffs), "median_abs_diff": statistics.median(diffs),
           "mean_abs_diff": statistics.fmean(diffs), "max_abs_diff": max(diffs), "good_threshold": GOOD,
           "good_pairs": len(good)}
    if good:
        out.update(good_median_abs_diff=statistics.median(good), good_mean_abs_diff=statistics.fmean(good),
                   good_max_abs_diff=max(good))
    return out


def analyse(runs: list[dict], grid_size: int, budget: int) -> dict:
    seeds = sorted({r["seed"] for r in runs})
    table = {}
    for s in STRATEGIES:
        rs = [r for r in runs if r["strategy"] == s]
        if not rs:
            continue
        table[s] = {"best": summarize([r["best"] for r in rs]),
                    "trials": summarize([r["trials_run"] for r in rs]),
                    "wall_s": summarize([r["wall_s"] for r in rs]),
                    "per_seed": {r["seed"]: r["best"] for r in rs}}
    grid = {r["seed"]: r for r in runs if r["strategy"] == "grid"}
    # the grid's best after the same number of trials as the others (its fixed enumeration order)
    for r in runs:
        if r["strategy"] == "grid" and len(r["curve"]) >= budget:
            r["best_at_budget"] = r["curve"][budget - 1]
    per_seed = []
    for seed in seeds:
        c2f = next((r for r in runs if r["seed"] == seed and r["strategy"] == "coarse_to_fine"), None)
        rnd = next((r for r in runs if r["seed"] == seed and r["strategy"] == "random"), None)
        g = grid.get(seed)
        if not (c2f and rnd and g):
            continue
        per_seed.append({"seed": seed, "grid_best": g["best"], "random_best": rnd["best"], "c2f_best": c2f["best"],
                         "c2f_gap_points": 100 * (g["best"] - c2f["best"]),
                         "random_gap_points": 100 * (g["best"] - rnd["best"]),
                         "c2f_minus_random_points": 100 * (c2f["best"] - rnd["best"])})
    c2f_trials = max((r["trials_run"] for r in runs if r["strategy"] == "coarse_to_fine"), default=0)
    full_grid = all(r["trials_run"] == grid_size for r in runs if r["strategy"] == "grid")
    verdict = {}
    if per_seed and full_grid:
        gaps = [p["c2f_gap_points"] for p in per_seed]
        leads = [p["c2f_minus_random_points"] for p in per_seed]
        fraction = c2f_trials / grid_size
        verdict = {
            "budget_fraction": fraction, "budget_ok": fraction <= TARGET_FRACTION,
            "mean_gap_points": statistics.fmean(gaps), "max_gap_points": max(gaps),
            "within_0_5_mean": statistics.fmean(gaps) <= TARGET_POINTS,
            "within_0_5_every_seed": all(g <= TARGET_POINTS for g in gaps),
            "mean_lead_over_random_points": statistics.fmean(leads),
            "ahead_of_random_mean": statistics.fmean(leads) > 0,
            "seeds_ahead_of_random": sum(x > 0 for x in leads), "seeds_tied_with_random": sum(x == 0 for x in leads),
        }
        verdict["met"] = bool(verdict["budget_ok"] and verdict["within_0_5_mean"] and verdict["ahead_of_random_mean"])
    return {"table": table, "per_seed": per_seed, "verdict": verdict, "rerun_noise": rerun_noise(runs)}


# --- environment -----------------------------------------------------------------------------

def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        nproc = str(len(os.sched_getaffinity(0)))
    versions = {"python": platform.python_version()}
    for mod in ("tensorflow", "keras", "keras_tuner", "numpy", "sklearn", "matplotlib"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing optional library is reported as such
            versions[mod] = "not installed"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "builder"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
        commit += " (builder/ modified)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"nproc": nproc, "cpu": cpu, "load_1min": load, "platform": platform.platform(), "versions": versions, "dlbuild_commit": commit,
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def space_description(spec) -> list[str]:
    from builder.tune.space import grid_size

    lines = []
    for h in spec.spaces.values():
        grid = h.grid()
        shown = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in grid)
        lines.append(f"`{h.name}` — {h.describe()} → {len(grid)} values: {shown}")
    lines.append(f"grid size: {grid_size(spec.spaces)}")
    return lines


# --- report ----------------------------------------------------------------------------------

def plot(runs: list[dict], budget: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"grid": "tab:gray", "random": "tab:blue", "coarse_to_fine": "tab:red"}
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for s in STRATEGIES:
        curves = [r["curve"] for r in runs if r["strategy"] == s]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        xs = list(range(1, n + 1))
        cols = [[100 * c[i] for c in curves if c[i] is not None] for i in range(n)]
        keep = [i for i in range(n) if cols[i]]
        xs = [xs[i] for i in keep]
        mean = [statistics.fmean(cols[i]) for i in keep]
        lo = [min(cols[i]) for i in keep]
        hi = [max(cols[i]) for i in keep]
        ax.step(xs, mean, where="post", color=colors[s], label=f"{s} (mean of {len(curves)} seeds)")
        ax.fill_between(xs, lo, hi, step="post", color=colors[s], alpha=0.15)
    grid_best = [100 * r["best"] for r in runs if r["strategy"] == "grid"]
    if grid_best:
        ax.axhline(statistics.fmean(grid_best), color="black", lw=0.8, ls=":",
                   label="full grid's best (mean over seeds)")
    ax.axvline(budget, color="black", lw=0.8, ls="--", label=f"budget of random / coarse_to_fine ({budget})")
    ax.set_xlabel("trials run")
    ax.set_ylabel("best val_accuracy so far (%)")
    ax.set_title("dlbuild tune on digits: best-so-far (line: mean; band: min–max over seeds)", fontsize=9)
    top = max(100 * max(c for c in r["curve"] if c is not None) for r in runs)
    ax.set_ylim(max(0.0, top - 15), min(100.0, top + 2))
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# Written after reading the measured runs (docs/tuning-benchmark.json of the full run); they explain
# the table above and are kept with the code so that a re-run keeps them next to its own numbers.
OBSERVATIONS = [
    "- **coarse_to_fine stopped before its budget on a finite space (fixed in f01b1b8, re-measured).** In the "
    "first measurement (commit 67ae9a9), when a later round's box held no untried grid point, "
    "`CoarseToFineOracle._sample` gave up after Keras Tuner's `_max_collisions` redraws and `populate_space` "
    "returned `STOPPED`, which ends the whole search: the round-3 boxes held 8 (seed 1) and 4 (seeds 2, 3) grid "
    "points and the searches ended after 14, 11 and 10 of 15 trials. Commit f01b1b8 spends the rest of the budget "
    "on the full space instead; the coarse_to_fine rows above are the re-measurement with it (their first 14, 11 "
    "and 10 trials are identical to the first measurement's, as they should be). The trials that the fix added "
    "are full-space random draws, not refinements: in seeds 1 and 3 they, not the narrowed rounds, found "
    "coarse_to_fine's final best (96.39 and 95.83 %).",
    "- **Choices dropped in round 1 never come back.** With 15 trials and 3 rounds, round 1 draws 5 random "
    "points; a later round keeps only the choice options seen in the top 3, and the numeric boxes are narrow "
    "(shrink 0.5 → at least 50 % then 25 % of the unit interval). In seed 3, round 1 drew units=32 four times "
    "and 8 once, so units=128 was never tried in rounds 2–3, and the later boxes excluded dropout 0.0: the grid's "
    "best of that seed (units 32, dropout 0.0, lr 0.0316, 96.94 %) was out of reach of the narrowed rounds. This "
    "is the recipe as specified (not a bug), but on small discrete spaces with few trials per round it is "
    "brittle; keeping every choice option with some probability in later rounds would help.",
    "- **Trials get slower and memory grows across successive `tune()` calls in one process.** In the first "
    "measurement (one process, nine runs) mean seconds per trial rose from 2.1 to 3.9 and the process RSS from "
    "0.94 to 1.87 GB (about 3.4 MB per trial), although every trial is the same size and Keras Tuner clears the "
    "Keras session per trial; within the first run the time per trial was flat. Whether this comes from dlbuild "
    "(per-trial tf.data pipelines with `cache`, the TensorBoard callback) or from TensorFlow/Keras Tuner was not "
    "isolated. In addition, the re-measurement of coarse_to_fine ran while other processes loaded the 2 cores "
    "(load average about 5), so its wall times are inflated too: compare trial counts and scores, not seconds.",
    "- **A trial's score depends on its position in the search.** The same values on the same split score "
    "differently in two runs (see *Noise floor*): nothing reseeds per trial, so each trial's initialisation and "
    "shuffling come from the RNG state left by the trials before it. A tune run is reproducible as a whole "
    "(same seed → identical scores, in another process too), but `dlbuild fit best.yaml`, which seeds once with "
    "`seed` and builds, does not start from the winning trial's initialisation, and the winner of a search is "
    "partly the luckiest draw (re-seeding each trial, e.g. from `seed` and the trial id, would make a trial's "
    "score a function of its values).",
]


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def report(data: dict, md_path: Path, png_name: str) -> str:
    cfg, env, res = data["config"], data["machine"], data["results"]
    t, v, noise = res["table"], res["verdict"], res["rerun_noise"]
    out = [
        "# dlbuild tune: grid vs random vs coarse-to-fine",
        "",
        "The benchmark asked for by issue 4 (\"Proof\"), produced by `python -m benchmarks.tune_strategies`"
        + (" --quick" if cfg["quick"] else "") + f" (total wall time {data['total_wall_s'] / 60:.1f} min"
        + "".join(f", then {rr['wall_s'] / 60:.1f} min re-measuring {', '.join(rr['strategies'])} with `--strategies "
                  f"{' '.join(rr['strategies'])} --merge docs/tuning-benchmark.json`" for rr in data.get("reruns", []))
        + "). "
        "Every number below was measured by those runs; raw numbers are in "
        f"[{Path(cfg['json']).name}]({Path(cfg['json']).name}).",
        "",
        "## Setup",
        "",
        f"- Machine: {env['nproc']} CPU cores (`nproc`), {env['cpu']}, no GPU; {env['platform']}.",
        f"- Date: {env['date']}; dlbuild commit {env['dlbuild_commit']}.",
        "- Libraries: " + ", ".join(f"{k} {ver}" for k, ver in env["versions"].items()) + ".",
        f"- Task: the bundled `digits` dataset (UCI optical digits, 1,797 8×8 images, 10 classes), spec "
        f"[benchmarks/digits_tune.yaml](../benchmarks/digits_tune.yaml): rescale → flatten → dense(units, relu) → "
        f"dropout → dense(10, softmax), Adam, batch 64, {cfg['epochs']} epochs per trial. Split (stratified, by the "
        f"spec seed): {cfg['split']['train']} train / {cfg['split']['val']} validation / {cfg['split']['test']} test; "
        f"one validation sample is {100 / cfg['split']['val']:.2f} points.",
        "- Objective: `val_accuracy`, maximised; Keras Tuner scores a trial by its best epoch.",
        "- Space (spec names → Keras Tuner hyperparameters):",
    ]
    out += [f"  - {line}" for line in cfg["space"][:-1]]
    out += [
        f"- Budgets: grid = the full grid ({cfg['grid_size']} trials, the reference); random and coarse_to_fine "
        f"{cfg['budget']} trials each = {100 * cfg['budget'] / cfg['grid_size']:.1f} % of the grid. "
        "coarse_to_fine uses dlbuild's defaults: rounds 3, top_k 3, shrink 0.5 "
        f"(→ {math.ceil(cfg['budget'] / 3)} trials per round).",
        f"- Seeds: {', '.join(map(str, cfg['seeds']))}. A seed sets both `seed` (data split, weight initialisation, "
        "shuffling) and `tune.seed` (the oracle), so the three strategies of one seed see the same split, and the "
        "grid is run in full once per seed. Runs are in-process, sequential, through "
        "`builder.load_spec(..., overrides=[\"tune.strategy=…\", \"tune.max_trials=…\", \"tune.seed=…\", \"seed=…\"])` "
        "and `builder.tune.search.tune(spec, out_dir=…, retrain=False)`; the best-so-far curves are read back from each "
        "run's `trials.csv`.",
    ]
    for rr in data.get("reruns", []):
        out.append(f"- Re-measured later: {', '.join(rr['strategies'])} (seeds {', '.join(map(str, rr['seeds']))}) "
                   f"on {rr['machine']['date']} at dlbuild commit {rr['machine']['dlbuild_commit']}, in a separate "
                   f"process ({rr['wall_s']:.0f} s); those runs replace the first ones in every table and the plot. "
                   "Scores do not depend on the process (each `tune()` seeds everything from `seed` at its start), "
                   "so only wall times are not comparable with the first run's.")
    out += [
        "",
        "## Results",
        "",
        "Best `val_accuracy` (%) at the end of each run, over seeds:",
        "",
        "| strategy | trials run per run | best: mean ± std | min | median | max | wall time per run (s, mean) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in STRATEGIES:
        if s not in t:
            continue
        b, tr, w = t[s]["best"], t[s]["trials"], t[s]["wall_s"]
        trials = f"{tr['min']:.0f}" if tr["min"] == tr["max"] else f"{tr['min']:.0f}–{tr['max']:.0f} ({tr['mean']:.1f} mean)"
        out.append(f"| {s} | {trials} | {pct(b['mean'])} ± {pct(b['std'])} | {pct(b['min'])} | "
                   f"{pct(b['median'])} | {pct(b['max'])} | {w['mean']:.1f} |")
    old_runs = data.get("superseded_runs", [])
    for strat in STRATEGIES:
        olds = [r for r in old_runs if r["strategy"] == strat]
        if olds:
            b = summarize([r["best"] for r in olds])
            out += ["", f"Superseded first measurement of {strat} (before the re-measurement above): trials run "
                        f"{', '.join(str(r['trials_run']) for r in olds)}, best {pct(b['mean'])} ± {pct(b['std'])} "
                        f"(per seed: {', '.join(pct(r['best']) for r in olds)}), at commit "
                        f"{env['dlbuild_commit']}."]
    grid_at = [r.get("best_at_budget") for r in data["runs"] if r["strategy"] == "grid" and r.get("best_at_budget")]
    out += [""]
    if grid_at:
        out.append(f"For comparison, the grid's best after its first {cfg['budget']} trials (its fixed enumeration "
                   f"order) is {pct(statistics.fmean(grid_at))} % on average "
                   f"(per seed: {', '.join(pct(x) for x in grid_at)}).")
        out.append("")
    if res["per_seed"]:
        out += ["Per seed (points = percentage points of validation accuracy):", "",
                "| seed | grid best | random best | coarse_to_fine best | grid − c2f | c2f − random |",
                "|---|---|---|---|---|---|"]
        for p in res["per_seed"]:
            out.append(f"| {p['seed']} | {pct(p['grid_best'])} | {pct(p['random_best'])} | {pct(p['c2f_best'])} | "
                       f"{p['c2f_gap_points']:+.2f} | {p['c2f_minus_random_points']:+.2f} |")
        out.append("")
    out += ["![best so far vs trials](" + png_name + ")", "",
            "Lines: mean over seeds of the best objective after each trial; bands: min–max over seeds.", "",
            "## Noise floor", ""]
    for s in STRATEGIES:
        if s in t:
            out.append(f"- Spread of the final best across seeds, {s}: std {pct(t[s]['best']['std'])} points, "
                       f"range {100 * (t[s]['best']['max'] - t[s]['best']['min']):.2f} points.")
    if noise.get("pairs"):
        out.append(f"- Re-training noise of one trial: {noise['pairs']} pairs of trials of the same seed (same split) "
                   "with the same values, trained in two different runs (e.g. by coarse_to_fine and by the grid). "
                   f"Their scores differ by {100 * noise['median_abs_diff']:.2f} points (median), "
                   f"{100 * noise['mean_abs_diff']:.2f} (mean), up to {100 * noise['max_abs_diff']:.2f}; "
                   f"{noise['identical']} of the pairs scored exactly the same.")
    if noise.get("good_pairs"):
        out.append(f"- Among those, the {noise['good_pairs']} pairs where both scores are at least "
                   f"{100 * noise['good_threshold']:.0f} % (the region where the best trials are): "
                   f"{100 * noise['good_median_abs_diff']:.2f} points (median), "
                   f"{100 * noise['good_mean_abs_diff']:.2f} (mean), up to {100 * noise['good_max_abs_diff']:.2f}.")
    out.append(f"- One validation sample = {100 / cfg['split']['val']:.2f} points; the target's 0.5 points is "
               f"{0.5 * cfg['split']['val'] / 100:.1f} samples.")
    out += ["", "## Target", "",
            "Issue 4: *coarse-to-fine within 0.5 points of the full grid's best with at most 25 % of the grid's "
            "trials, and ahead of random at the same budget.*", ""]
    if v:
        c2f_runs = [r["trials_run"] for r in data["runs"] if r["strategy"] == "coarse_to_fine"]
        out += [
            f"- Budget: max_trials {cfg['budget']} = {100 * cfg['budget'] / cfg['grid_size']:.1f} % of the grid's "
            f"{cfg['grid_size']} trials; coarse_to_fine actually ran {', '.join(map(str, c2f_runs))} trials "
            f"(at most {100 * v['budget_fraction']:.1f} %) — {'met' if v['budget_ok'] else 'NOT met'}.",
            f"- Gap to the full grid's best (same seed): {v['mean_gap_points']:+.2f} points on average, worst seed "
            f"{v['max_gap_points']:+.2f} — within 0.5 points on average: {'yes' if v['within_0_5_mean'] else 'NO'}; "
            f"in every seed: {'yes' if v['within_0_5_every_seed'] else 'no'}.",
            f"- Lead over random at the same budget: {v['mean_lead_over_random_points']:+.2f} points on average; "
            f"ahead in {v['seeds_ahead_of_random']} of {len(res['per_seed'])} seeds"
            + (f", tied in {v['seeds_tied_with_random']}" if v["seeds_tied_with_random"] else "")
            + f" — ahead on average: {'yes' if v['ahead_of_random_mean'] else 'NO'}.",
            "",
            f"**Verdict: target {'MET' if v['met'] else 'NOT MET'}** on this task, judged on the mean over "
            f"{len(res['per_seed'])} seeds.",
        ]
        if noise.get("pairs"):
            good = noise.get("good_median_abs_diff", noise["median_abs_diff"])
            out.append(f"The verdict rests on means of {len(res['per_seed'])} seeds. Re-training the same good "
                       f"configuration moves its score by ~{100 * good:.1f} points (median, *Noise floor*), and the "
                       "margins here are a fraction of a point (one validation sample is "
                       f"{100 / cfg['split']['val']:.2f} points), so they are within the noise: this run does not "
                       "show that coarse_to_fine is reliably better than random on this task, only that it was "
                       "not worse on average, with a quarter of the grid's trials.")
        short = [r for r in data["runs"] if r["strategy"] != "grid" and r["trials_run"] < r["budget"]]
        if short:
            out += ["", "Note: " + ", ".join(f"{r['strategy']} seed {r['seed']} ran {r['trials_run']} of "
                                             f"{r['budget']}" for r in short)
                    + " trials — the search ended before its budget (see *Observations*), so it was compared "
                    "with fewer trials than random."]
    else:
        out.append("Not evaluated: the grid was not run in full (a --quick smoke run, or incomplete runs).")
    out += ["", "## Observations", "",
            "Runs in execution order (the first measurement is one Python process; within a seed: grid, random, "
            "coarse_to_fine; a re-measurement is a second process):", "",
            "| # | measurement | strategy | seed | trials run / budget | wall (s) | mean seconds per trial | "
            "process RSS after (MB) |",
            "|---|---|---|---|---|---|---|---|"]
    redone = {s for rr in data.get("reruns", []) for s in rr["strategies"]}
    first = [r for r in data["runs"] if r["strategy"] not in redone] + data.get("superseded_runs", [])
    first.sort(key=lambda r: (r["seed"], STRATEGIES.index(r["strategy"])))
    rows = [("first", r) for r in first] + [("re-measured", r) for r in data["runs"] if r["strategy"] in redone]
    for i, (label, r) in enumerate(rows, 1):
        secs = [t["seconds"] for t in r["trials"] if t.get("seconds") is not None]
        mean_s = f"{statistics.fmean(secs):.2f}" if secs else "–"
        out.append(f"| {i} | {label} | {r['strategy']} | {r['seed']} | {r['trials_run']} / {r['budget']} | "
                   f"{r['wall_s']:.1f} | {mean_s} | {r['rss_mb_after']:.0f} |")
    out += ["", *([] if cfg["quick"] else OBSERVATIONS), ""]
    text = "\n".join(out)
    md_path.write_text(text)
    return text


# --- main ------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.tune_strategies", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 4 trials per strategy")
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 1 2 3; quick: 1)")
    ap.add_argument("--budget", type=int, default=None, help="trials of random/coarse_to_fine (default 15; quick 4)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: the spec's, 4)")
    ap.add_argument("--work", type=Path, default=None, help="tune directories (default runs/bench-tune[-quick])")
    ap.add_argument("--docs", type=Path, default=None, help="where the report goes (default docs/; quick: --work)")
    ap.add_argument("--from-json", type=Path, default=None,
                    help="rewrite the report (md, png) from a JSON of an earlier run, without training")
    ap.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES),
                    help="strategies to run (default: all three)")
    ap.add_argument("--merge", type=Path, default=None,
                    help="re-measure --strategies and replace their runs in this JSON of an earlier full run "
                         "(the replaced runs are kept under 'superseded_runs'); rewrites its report")
    ap.add_argument("-q", "--quiet", action="store_true", help="no per-trial lines")
    args = ap.parse_args(argv)

    if args.from_json:
        data = json.loads(args.from_json.read_text())
        data["results"] = analyse(data["runs"], data["config"]["grid_size"], data["config"]["budget"])
        docs = args.from_json.resolve().parent
        plot(data["runs"], data["config"]["budget"], docs / "tuning-benchmark.png")
        print(report(data, docs / "tuning-benchmark.md", "tuning-benchmark.png"))
        args.from_json.write_text(json.dumps(data, indent=1, default=str) + "\n")
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import builder
    from builder.tune.space import grid_size

    seeds = args.seeds or ([1] if args.quick else [1, 2, 3])
    budget = args.budget or (4 if args.quick else 15)
    work = (args.work or ROOT / "runs" / ("bench-tune-quick" if args.quick else "bench-tune")).resolve()
    docs = (args.docs or (work if args.quick else ROOT / "docs")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    docs.mkdir(parents=True, exist_ok=True)
    base = builder.load_spec(SPEC, overrides=[f"fit.epochs={args.epochs}"] if args.epochs else [])
    size = grid_size(base.spaces)
    from builder.data.load import load_splits

    sp = load_splits(base)
    split = {"train": len(sp.train[1]), "val": len(sp.val[1]), "test": len(sp.test[1])}
    grid_budget = budget if args.quick else size
    if not args.quick and budget > TARGET_FRACTION * size:
        print(f"note: budget {budget} is more than {TARGET_FRACTION:.0%} of the grid ({size})", file=sys.stderr)
    print(f"grid size {size}; seeds {seeds}; grid {grid_budget} trials, random / coarse_to_fine {budget} trials; "
          f"work {work}", flush=True)

    env = machine()  # before the runs: the commit and library versions that ran
    started = time.perf_counter()
    runs = []
    for seed in seeds:
        for s in STRATEGIES:
            if s in args.strategies:
                runs.append(run_one(s, seed, grid_budget if s == "grid" else budget, args.epochs, work, args.quiet))
    total = time.perf_counter() - started
    if args.merge:
        data = json.loads(args.merge.read_text())
        redo = set(args.strategies)
        data.setdefault("superseded_runs", []).extend(
            dict(r, superseded_at=env["date"]) for r in data["runs"] if r["strategy"] in redo)
        data["runs"] = [r for r in data["runs"] if r["strategy"] not in redo] + runs
        data["runs"].sort(key=lambda r: (r["seed"], STRATEGIES.index(r["strategy"])))
        data.setdefault("reruns", []).append({"strategies": sorted(redo), "seeds": seeds, "machine": env,
                                              "wall_s": round(total, 1)})
        data["results"] = analyse(data["runs"], data["config"]["grid_size"], data["config"]["budget"])
        docs = args.merge.resolve().parent
        plot(data["runs"], data["config"]["budget"], docs / "tuning-benchmark.png")
        print(report(data, docs / "tuning-benchmark.md", "tuning-benchmark.png"))
        args.merge.write_text(json.dumps(data, indent=1, default=str) + "\n")
        return 0

    json_path, png_path, md_path = docs / "tuning-benchmark.json", docs / "tuning-benchmark.png", docs / "tuning-benchmark.md"
    data = {
        "config": {"spec": str(SPEC.relative_to(ROOT)), "quick": args.quick, "seeds": seeds, "budget": budget,
                   "grid_budget": grid_budget, "grid_size": size, "split": split, "epochs": base.fit["epochs"],
                   "objective": "val_accuracy", "space": space_description(base), "json": str(json_path),
                   "coarse_to_fine": {k: base.tune[k] for k in ("rounds", "top_k", "shrink")}},
        "machine": env, "total_wall_s": round(total, 1), "runs": runs,
    }
    data["results"] = analyse(runs, size, budget)
    plot(runs, budget, png_path)
    text = report(data, md_path, png_path.name)
    json_path.write_text(json.dumps(data, indent=1, default=str) + "\n")
    print(text)
    print(f"wrote {md_path}, {json_path}, {png_path} (total {total / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
