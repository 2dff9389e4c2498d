"""What every group of ``python -m benchmarks`` shares: timing, statistics, the machine header, tables.

A group module (``overhead``, ``startup``, ``pipeline``, ``compute``, ``scaling``, ``memory``) has
``run(cfg: Config) -> Section``. A :class:`Section` carries its own method, target and verdict, the
markdown lines of its tables and the raw numbers that go to ``benchmarks.json``; :func:`render`
puts the sections under one header (machine, date, library versions).

Timings on a shared machine drift with the load of other processes, so the groups compare within
one run: variants alternate (A, B, B, A, …: :func:`alternating`) and the reported figure is the
median of per-repeat ratios, with min / median / max of the raw times beside it.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
DOCS = ROOT / "docs"


@dataclass
class Config:
    """Settings shared by every group.

    Attributes:
        quick: Smoke run: tiny sizes and one or two repeats (seconds, not minutes); its figures
            prove only that the code runs.
        work: Scratch directory for run and tune directories (created).
        out: The markdown report; figures (PNG) are written next to it.
        log: Progress lines (``print`` by default).
    """

    quick: bool
    work: Path
    out: Path
    log: Callable[[str], None] = print

    def repeats(self, full: int, quick: int = 1) -> int:
        """Repeats for this mode."""
        return quick if self.quick else full


@dataclass
class Section:
    """One group's part of the report.

    Attributes:
        key: The group's name (``overhead`` …), also its key in ``benchmarks.json``.
        title: Heading of the section.
        method: Markdown lines saying how each figure was measured.
        target: The issue's target in words ("" when the group has none).
        met: Whether the target was met (None: no target, or not judged, e.g. a quick run).
        verdict: One sentence backing ``met`` with the measured figure.
        body: Markdown lines: tables, figures, observations.
        raw: Every measured number (JSON-serialisable).
        seconds: Wall time the group took.
    """

    key: str
    title: str
    method: list[str]
    target: str = ""
    met: bool | None = None
    verdict: str = ""
    body: list[str] = field(default_factory=list)
    raw: dict = field(default_factory=dict)
    seconds: float = 0.0


# --- statistics --------------------------------------------------------------------------------

def stats(values: list[float]) -> dict:
    """``{"min", "median", "max", "n"}`` of ``values`` (the unit is the caller's)."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


def fmt_stats(s: dict, digits: int = 3, scale: float = 1.0) -> str:
    """``median (min–max)`` with ``digits`` significant decimals after multiplying by ``scale``."""
    f = f"{{:.{digits}f}}"
    return f"{f.format(s['median'] * scale)} ({f.format(s['min'] * scale)}–{f.format(s['max'] * scale)})"


def linear_fit(xs: list[float], ys: list[float]) -> dict:
    """Least-squares line ``y = slope · x + intercept`` (``scipy.stats.linregress``).

    Returns:
        ``{"slope", "intercept", "r2", "slope_stderr", "n"}``; ``r2`` and ``slope_stderr`` are
        NaN with fewer than three points (a line through two points fits them exactly).
    """
    from scipy import stats as sst

    if len(xs) < 2:
        return {"slope": float("nan"), "intercept": float("nan"), "r2": float("nan"),
                "slope_stderr": float("nan"), "n": len(xs)}
    fit = sst.linregress(xs, ys)
    few = len(xs) < 3
    return {"slope": float(fit.slope), "intercept": float(fit.intercept),
            "r2": float("nan") if few else float(fit.rvalue ** 2),
            "slope_stderr": float("nan") if few else float(fit.stderr), "n": len(xs)}


# --- timing ------------------------------------------------------------------------------------

def alternating(variants: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Run each variant ``repeats`` times, interleaved, and collect what each call returns.

    Repeat ``r`` runs the variants in order, reversed on odd ``r`` (A B, B A, A B …): a load
    that rises or falls during the run then hits every variant alike. Each callable returns its
    own measurement (e.g. seconds per step), so warm-up and bookkeeping stay outside the timing.
    """
    names = list(variants)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for n in (names if r % 2 == 0 else names[::-1]):
            out[n].append(variants[n]())
    return out


def ratios(a: list[float], b: list[float]) -> list[float]:
    """Per-repeat ratios ``a[i] / b[i]`` (the i-th measurements of two alternating variants)."""
    return [x / y for x, y in zip(a, b)]


def timed(fn: Callable[[], object]) -> dict:
    """Run ``fn()`` once; its wall time and this process's CPU time (all threads), in seconds.

    CPU time (``time.process_time``) counts only the time this process ran: on a machine shared
    with other jobs, waiting for a core inflates wall time but not CPU time, so CPU-time ratios
    of two variants are far less noisy there (both are reported).
    """
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def ratio_summary(r: list[float], seed: int = 0, resamples: int = 2000) -> dict:
    """Median of per-repeat ratios, their quartiles, and a 95 % bootstrap confidence interval of
    the median (percentile bootstrap, Efron & Tibshirani 1993, ch. 13; ``resamples`` resamples).

    Returns:
        ``{"median", "q1", "q3", "ci95": [low, high], "min", "max", "n"}``.
    """
    import numpy as np

    a = np.asarray(r, dtype=float)
    rng = np.random.default_rng(seed)
    meds = np.median(rng.choice(a, size=(resamples, len(a)), replace=True), axis=1)
    return {"median": float(np.median(a)), "q1": float(np.percentile(a, 25)), "q3": float(np.percentile(a, 75)),
            "ci95": [float(np.percentile(meds, 2.5)), float(np.percentile(meds, 97.5))],
            "min": float(a.min()), "max": float(a.max()), "n": len(a)}


def fmt_ratio(s: dict, bold: bool = False) -> str:
    """``1.004 [0.990, 1.012]``: median of per-repeat ratios and its 95 % bootstrap interval."""
    med = f"**{s['median']:.3f}**" if bold else f"{s['median']:.3f}"
    return f"{med} [{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]"


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident set size (MiB) of a process, from ``/proc/<pid>/status`` (Linux); None if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


# Runs a command in a small process and reports its rusage. On Linux a child's ru_maxrss starts at
# the RSS of the process it was forked from (exec records the forked memory's high-water mark), so
# a child forked straight from a benchmark process holding a gigabyte would report that gigabyte.
_LAUNCHER = """import json, os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"maxrss_kib": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime}, f)
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""


def _first_child(pid: int) -> int | None:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(kids[0]) if kids else None


def run_timed(cmd: list[str], *, cwd: Path = ROOT, env: dict | None = None, sample_s: float | None = None,
              peak_rss: bool = False, timeout_s: float = 1800) -> dict:
    """Run ``cmd`` to completion; its wall time, CPU time, exit status and (optionally) peak RSS.

    With ``peak_rss`` the command runs under a small Python launcher that forks and execs it and
    reads its ``ru_maxrss`` (``os.wait4``: the kernel's high-water mark, KiB on Linux); forked from
    the launcher, the command's high-water mark starts at the launcher's few MiB rather than at this
    process's RSS. The launcher adds its own start-up (~0.05 s) to the wall time, so start-up
    timings run without it. With ``sample_s`` a thread also samples the command's RSS every
    ``sample_s`` seconds from ``/proc`` (the curve over time; it can miss a short peak that
    ``ru_maxrss`` catches).

    Returns:
        ``{"wall_s", "cpu_s", "returncode", "peak_rss_mb", "samples": [(seconds, MiB)], "output"}``
        (``cpu_s``: the command's user + system CPU time, its waited-for children included, which
        other processes' load inflates far less than wall time; ``peak_rss_mb``: None without
        ``peak_rss``; ``output``: the last 2,000 characters of stdout and stderr).

    Raises:
        subprocess.TimeoutExpired: the command ran longer than ``timeout_s``.
    """
    import json
    import tempfile
    import threading

    samples: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rusage.json"
        argv = [sys.executable, "-c", _LAUNCHER, str(report)] + list(cmd) if peak_rss else list(cmd)
        with open(Path(tmp) / "output.log", "w+") as log:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
            done = threading.Event()

            def sample():
                while not done.is_set():
                    pid = _first_child(proc.pid) if peak_rss else proc.pid
                    value = rss_mb(pid) if pid else None
                    if value is not None:
                        samples.append((time.perf_counter() - start, value))
                    done.wait(sample_s)

            sampler = threading.Thread(target=sample, daemon=True) if sample_s else None
            if sampler:
                sampler.start()
            timer = threading.Timer(timeout_s, proc.kill)
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
                done.set()
            wall = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            if sampler:
                sampler.join()
            if wall >= timeout_s:
                raise subprocess.TimeoutExpired(cmd, timeout_s)
            log.seek(0)
            output = log.read()[-2000:]
        cpu, peak = usage.ru_utime + usage.ru_stime, None
        if peak_rss and report.exists():
            child = json.loads(report.read_text())
            cpu, peak = child["cpu_s"], child["maxrss_kib"] / 1024
    return {"wall_s": wall, "cpu_s": cpu, "returncode": proc.returncode, "peak_rss_mb": peak, "samples": samples,
            "output": output}


def dlbuild_command() -> list[str]:
    """The ``dlbuild`` console script of this interpreter's environment (what users run), or
    ``python -m builder.cli`` when the script is not installed next to the interpreter."""
    script = Path(sys.executable).with_name("dlbuild")
    return [str(script)] if script.exists() else [sys.executable, "-m", "builder.cli"]


def child_env(**extra: str) -> dict:
    """This process's environment plus ``extra``, with the repository first on ``PYTHONPATH``
    (children import ``benchmarks`` and ``builder`` from this checkout)."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


# --- environment -------------------------------------------------------------------------------

def machine() -> dict:
    """Cores, CPU model, RAM, load, platform, date, library versions and the dlbuild commit."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    versions = {"python": platform.python_version()}
    for dist in ("tensorflow", "tensorflow-cpu", "keras", "keras-tuner", "numpy", "scikit-learn", "scipy",
                 "matplotlib"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "builder", "benchmarks"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += " (with uncommitted changes in builder/ or benchmarks/)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"cpu": cpu, "usable_cores": usable, "cpu_count": os.cpu_count(), "ram_gib": ram_gib,
            "load_avg_start": [round(x, 2) for x in os.getloadavg()], "platform": platform.platform(),
            "versions": versions, "dlbuild_commit": commit,
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


# --- markdown ----------------------------------------------------------------------------------

def md_table(headers: list[str], rows: list[list]) -> list[str]:
    """A GitHub markdown table (cells converted with ``str``)."""
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def verdict_word(met: bool | None) -> str:
    """``met`` / ``NOT met`` / ``not judged``."""
    return {True: "met", False: "NOT met"}.get(met, "not judged")


def render(sections: list[Section], env: dict, cfg: Config, total_s: float, load_end: list[float],
           rerendered: bool = False) -> str:
    """The whole report: header (machine, date, versions, load), a summary of targets, then each
    section (method, target and verdict, tables). ``rerendered``: the text was rebuilt from the
    JSON of an earlier run (``--from-json``); the numbers are that run's."""
    v = env["versions"]
    libs = ", ".join(f"{k} {val}" for k, val in v.items())
    lines = [
        "# dlbuild benchmarks: overhead, start-up, input pipeline, compute, scaling, memory",
        "",
        "Generated by `python -m benchmarks" + (" --quick" if cfg.quick else "") + "` "
        "(source: `benchmarks/`; raw numbers: `" + cfg.out.with_suffix(".json").name + "`). "
        "Every figure below was measured in this one run; nothing is copied from elsewhere."
        + (" (This text was re-rendered from that run's JSON with `--from-json`.)" if rerendered else ""),
        "",
        f"- Machine: {env['cpu']}, {env['usable_cores']} usable cores (of {env['cpu_count']}), "
        f"{env['ram_gib']} GiB RAM, {env['platform']}",
        f"- Date: {env['date']}; dlbuild commit {env['dlbuild_commit']}",
        f"- Libraries: {libs}",
        f"- Load average (1, 5, 15 min) at start {env['load_avg_start']}, at end {load_end}; "
        f"the whole run took {total_s / 60:.1f} min.",
        "",
        "**Timings were taken on a shared 2-core machine** while other people's jobs ran on it (see the load "
        "average above): absolute times drift with their load. The comparisons therefore run their variants "
        "alternately in one process and report the median of per-repeat ratios with a 95 % bootstrap "
        "interval `[low, high]`; min / median / max of the raw times are given beside them. Where a "
        "process's CPU time (`time.process_time`, all threads) is reported beside wall time, the verdict "
        "uses CPU time: waiting for a core that another job holds inflates wall time, not CPU time.",
        "",
    ]
    if cfg.quick:
        lines += ["> **Quick smoke run** (`--quick`): tiny sizes and single repeats. These figures only show "
                  "that the benchmarks run; targets are not judged.", ""]
    lines += ["## Summary", ""]
    rows = []
    for s in sections:
        rows.append([f"[{s.title}](#{_anchor(s.title)})", s.target or "–", verdict_word(s.met) if s.target else "–",
                     s.verdict or "–"])
    lines += md_table(["group", "target", "verdict", "measured"], rows) + [""]
    for s in sections:
        lines += [f"## {s.title}", "", "**Method.**", ""] + s.method + [""]
        if s.target:
            lines += [f"**Target:** {s.target} — **{verdict_word(s.met)}**" + (f": {s.verdict}" if s.verdict else "."),
                      ""]
        lines += s.body + ["", f"_(group wall time: {s.seconds:.0f} s)_", ""]
    return "\n".join(lines).rstrip() + "\n"


def _anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces → hyphens."""
    keep = "".join(c for c in title.lower() if c.isalnum() or c in " -")
    return keep.replace(" ", "-")
