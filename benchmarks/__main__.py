"""``python -m benchmarks``: dlbuild's run-time costs, measured side by side in one run (issue 8).

    python -m benchmarks                       # every group; writes docs/benchmarks.{md,json} (+ PNGs)
    python -m benchmarks --quick               # smoke run: tiny sizes; writes runs/bench-quick/benchmarks.md
    python -m benchmarks --only startup,memory --out /tmp/b.md
    python -m benchmarks --existing            # also the tuning and export benchmarks (their own reports)

Groups (one module each in ``benchmarks/``): ``overhead`` (spec-built vs hand-written Keras),
``startup`` (CLI wall time), ``pipeline`` (the spec's tf.data input against in-memory tensors),
``compute`` (achieved FLOP/s against the measured matmul ceiling), ``scaling`` (epoch time against
data size, width and depth; tuning time against trials and workers), ``memory`` (peak RSS of fit,
RSS across tuning trials). The benchmarks are not tests: CI runs only ``tests/test_benchmarks.py``,
a quick smoke run of one group.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import DOCS, ROOT, Config, machine, render

GROUPS = ("overhead", "startup", "pipeline", "compute", "scaling", "memory")
EXISTING = ("tune_strategies", "export_bench")


def _groups(text: str) -> list[str]:
    names = [g.strip() for g in text.split(",") if g.strip()]
    bad = [g for g in names if g not in GROUPS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown group(s) {', '.join(bad)}; choose from {', '.join(GROUPS)}")
    return names


def main(argv: list[str] | None = None) -> int:
    """Run the selected groups and write the report; returns the exit status (0, or 1 if a group failed)."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", type=_groups, default=list(GROUPS), metavar="G1,G2",
                    help=f"comma-separated groups to run (default: all of {','.join(GROUPS)})")
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, one or two repeats")
    ap.add_argument("--out", type=Path, default=None,
                    help="markdown report; the JSON and PNGs go next to it "
                         "(default docs/benchmarks.md; with --quick runs/bench-quick/benchmarks.md)")
    ap.add_argument("--work", type=Path, default=None, help="scratch directory (default runs/bench[-quick])")
    ap.add_argument("--from-json", type=Path, default=None, metavar="JSON",
                    help="rewrite the report (markdown, PNGs) from the JSON of an earlier run, measuring nothing")
    ap.add_argument("--existing", action="store_true",
                    help="also run benchmarks.tune_strategies and benchmarks.export_bench (with --quick: their "
                         "quick modes, which write under their own work directories, not docs/)")
    args = ap.parse_args(argv)
    if args.from_json:
        return rerender(args.from_json, args.out)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    work = (args.work or ROOT / "runs" / ("bench-quick" if args.quick else "bench")).resolve()
    out = (args.out or (work / "benchmarks.md" if args.quick else DOCS / "benchmarks.md")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    cfg = Config(quick=args.quick, work=work, out=out, log=lambda m: print(m, flush=True))
    env = machine()  # before the runs: the commit and versions that ran
    sections, failed = [], []
    started = time.perf_counter()
    for name in [g for g in GROUPS if g in args.only]:
        cfg.log(f"== {name}")
        t = time.perf_counter()
        try:
            section = importlib.import_module(f"benchmarks.{name}").run(cfg)
        except Exception as err:  # noqa: BLE001 - one broken group must not lose the others' numbers
            import traceback

            traceback.print_exc()
            failed.append(f"{name}: {type(err).__name__}: {err}")
            continue
        section.seconds = time.perf_counter() - t
        cfg.log(f"   {name}: {section.seconds:.0f} s")
        sections.append(section)
    total = time.perf_counter() - started
    if sections:
        load_end = [round(x, 2) for x in os.getloadavg()]
        data = {"machine": env, "quick": cfg.quick, "total_s": round(total, 1), "load_avg_end": load_end,
                "failed": failed,
                "groups": {s.key: {"title": s.title, "target": s.target, "met": s.met, "verdict": s.verdict,
                                   "seconds": round(s.seconds, 1), "raw": s.raw} for s in sections}}
        out.with_suffix(".json").write_text(json.dumps(data, indent=1, default=float) + "\n")
        out.write_text(render(sections, env, cfg, total, load_end) + _failed(failed))
        cfg.log(f"wrote {out} and {out.with_suffix('.json')} ({total / 60:.1f} min)")
    if args.existing:
        for mod in EXISTING:
            cmd = [sys.executable, "-m", f"benchmarks.{mod}"] + (["--quick"] if args.quick else [])
            cfg.log(f"== {' '.join(cmd[1:])}")
            if subprocess.run(cmd, cwd=ROOT).returncode != 0:
                failed.append(f"{mod}: exited with an error")
    for f in failed:
        print(f"failed: {f}", file=sys.stderr)
    return 1 if failed else 0


def _failed(failed: list[str]) -> str:
    return "\n## Failed groups\n\n" + "\n".join(f"- {f}" for f in failed) + "\n" if failed else ""


def rerender(path: Path, out: Path | None) -> int:
    """Rewrite the markdown report and figures of the run stored in ``path`` (its JSON).

    Every group's ``section`` turns the stored numbers into text again, so a change of wording or
    of a table does not need a new measurement. Returns 0.

    Raises:
        FileNotFoundError, KeyError: ``path`` is not a JSON written by this command.
    """
    data = json.loads(path.read_text())
    out = (out or path.with_suffix(".md")).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    cfg = Config(quick=data["quick"], work=out.parent, out=out, log=lambda m: None)
    sections = []
    for name in [g for g in GROUPS if g in data["groups"]]:
        stored = data["groups"][name]
        section = importlib.import_module(f"benchmarks.{name}").section(cfg, stored["raw"])
        section.seconds = stored["seconds"]
        sections.append(section)
    out.write_text(render(sections, data["machine"], cfg, data["total_s"], data.get("load_avg_end", []),
                          rerendered=True) + _failed(data.get("failed", [])))
    print(f"wrote {out} from {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
