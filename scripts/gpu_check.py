"""The number crunching of scripts/gpu_check.sh: one table row per step, then the table.

The shell script runs the commands (``dlbuild doctor``, ``fit``, ``tune``), each into its own
directory of one temporary directory, and after each calls a sub-command of this file that reads
what the command left (``metrics.json``, ``history.csv``, ``run.json``, ``spec.resolved.yaml``,
``trials.csv``) and appends one row to a JSON-lines file::

    python gpu_check.py fit --rows R --step "fit mirrored" --run DIR --rc 0 --log LOG --started T0
    python gpu_check.py table --rows R --started T0      # prints the table; exit 1 if a row FAILed

A row is ``{"step", "result", "seconds", "notes", "log"}``; ``result`` is ``ok``, ``FAIL``, ``skip``
or ``warn`` (a number worth a look, not a failure). Seconds are wall-clock seconds of the step's
command, TensorFlow's start-up included. Step times are ``wall_seconds`` of epoch 2 in
``history.csv`` (epoch 1 includes tracing; the epoch's validation pass is included) divided by the
steps per epoch. Only the ``gpus`` sub-command imports TensorFlow; everything else is stdlib.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

#: Every step of the check, in the order the table lists them.
STEPS = ("doctor", "gpus", "fit mirrored", "tune", "tune --workers 2", "step time CPU", "step time GPU",
         "precision float32", "precision mixed_float16")

#: The epoch whose wall time gives the step time (epoch 1 includes tracing and compilation).
TIMED_EPOCH = 2

#: ``mixed_float16`` may lose this much validation accuracy against float32 before its row says warn.
ACCURACY_TOLERANCE = 0.05


def elapsed(started: str | float) -> float:
    """Seconds since ``started``, a Unix time (bash's ``$EPOCHREALTIME``, whose decimal point may be
    a comma in some locales, or ``date +%s``)."""
    return max(0.0, time.time() - float(str(started).replace(",", ".")))


def read_metrics(run_dir: str | Path) -> dict:
    """The run directory's ``metrics.json`` (``{}`` when the run wrote none)."""
    path = Path(run_dir) / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def read_history(run_dir: str | Path) -> list[dict]:
    """The rows of the run directory's ``history.csv`` (one dict per epoch, values as strings)."""
    path = Path(run_dir) / "history.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _resolved_steps(run_dir: Path) -> int | None:
    """``fit.steps_per_epoch`` of the run's ``spec.resolved.yaml``, or None (not set, or no file)."""
    path = run_dir / "spec.resolved.yaml"
    if not path.is_file():
        return None
    try:
        import yaml
    except ImportError:  # stdlib fallback: the key is unique enough in a resolved spec
        for line in path.read_text().splitlines():
            key, _, value = line.strip().partition(":")
            if key == "steps_per_epoch" and value.strip().isdigit():
                return int(value)
        return None
    doc = yaml.safe_load(path.read_text()) or {}
    value = (doc.get("fit") or {}).get("steps_per_epoch")
    return int(value) if value else None


def steps_per_epoch(run_dir: str | Path) -> int:
    """Training steps per epoch: ``fit.steps_per_epoch`` when the spec sets it, else
    ceil(train_samples / batch_size) from ``metrics.json`` (batch_size is the global batch, so
    this holds for any number of replicas).

    Raises:
        ValueError: when neither is known.
    """
    run_dir = Path(run_dir)
    fixed = _resolved_steps(run_dir)
    if fixed:
        return fixed
    metrics = read_metrics(run_dir)
    if not metrics.get("train_samples") or not metrics.get("batch_size"):
        raise ValueError(f"{run_dir}: metrics.json has no train_samples/batch_size")
    return math.ceil(int(metrics["train_samples"]) / int(metrics["batch_size"]))


def step_time(run_dir: str | Path, epoch: int = TIMED_EPOCH) -> dict:
    """The training step time of a run: ``{"epoch": the epoch timed, "epoch_seconds": its
    wall_seconds, "steps": steps per epoch, "seconds_per_step": epoch_seconds / steps}``.

    Uses ``epoch`` (default 2) when history.csv has it, else the last epoch there (then the time
    includes tracing; the caller says so).

    Raises:
        ValueError: no history.csv rows, or no wall_seconds column.
    """
    rows = read_history(run_dir)
    if not rows:
        raise ValueError(f"{run_dir}: history.csv has no epochs")
    row = next((r for r in rows if int(r["epoch"]) == epoch), rows[-1])
    if not row.get("wall_seconds"):
        raise ValueError(f"{run_dir}: history.csv has no wall_seconds")
    seconds, steps = float(row["wall_seconds"]), steps_per_epoch(run_dir)
    return {"epoch": int(row["epoch"]), "epoch_seconds": seconds, "steps": steps,
            "seconds_per_step": seconds / steps}


def val_accuracy(run_dir: str | Path) -> float | None:
    """The final validation accuracy: ``metrics.json``'s ``val.accuracy`` (the kept weights,
    evaluated after training), else the last ``val_accuracy`` of history.csv, else None."""
    value = (read_metrics(run_dir).get("val") or {}).get("accuracy")
    if value is None:
        rows = read_history(run_dir)
        value = rows[-1].get("val_accuracy") if rows else None
    return float(value) if value not in (None, "") else None


def _placement(run_dir: Path) -> str:
    """run.json's device placement, e.g. ``"mirrored over 2 GPUs"`` ("" when unknown)."""
    path = run_dir / "run.json"
    if not path.is_file():
        return ""
    return str((json.loads(path.read_text()).get("devices") or {}).get("placement", ""))


def _precision(run_dir: Path) -> str | None:
    """``fit.mixed_precision`` of the run's spec.resolved.yaml (None when unreadable)."""
    path = run_dir / "spec.resolved.yaml"
    if not path.is_file():
        return None
    for line in path.read_text().splitlines():
        key, _, value = line.strip().partition(":")
        if key == "mixed_precision":
            return value.strip().strip("'\"")
    return None


def error_line(log: str | Path | None, width: int = 110) -> str:
    """The last line of a log that mentions an error (else its last non-empty line), cut to ``width``."""
    if not log or not Path(log).is_file():
        return ""
    lines = [ln.strip() for ln in Path(log).read_text(errors="replace").splitlines() if ln.strip()]
    pick = next((ln for ln in reversed(lines) if "error" in ln.lower()), lines[-1] if lines else "")
    return pick if len(pick) <= width else pick[: width - 1] + "…"


def make_row(step: str, result: str, seconds: float | None = None, notes: str = "", log: str | None = None) -> dict:
    """One table row; ``seconds`` is the step's wall time in seconds (None: not run)."""
    return {"step": step, "result": result, "seconds": None if seconds is None else round(seconds, 1),
            "notes": notes, "log": str(log) if log else None}


def skip_row(step: str, reason: str) -> dict:
    """A row for a step that did not run (e.g. ``"no GPU: skipped"``)."""
    return make_row(step, "skip", None, reason)


def _failed_command(step: str, rc: int, seconds: float | None, log: str | None, extra: str = "") -> dict:
    why = error_line(log)
    return make_row(step, "FAIL", seconds, "; ".join(x for x in (f"exit {rc}", why, extra) if x), log)


def _doctor_summary(report: dict) -> str:
    """A few words on doctor's dict: usable, its GPUs and problems when it has those keys, else its keys."""
    parts = []
    if "usable" in report:
        parts.append(f"usable: {str(report['usable']).lower()}")
    if isinstance(report.get("gpus"), list):
        parts.append(f"{len(report['gpus'])} GPU(s)")
    if isinstance(report.get("tensorflow"), dict) and "built_with_cuda" in report["tensorflow"]:
        parts.append("TensorFlow " + ("with" if report["tensorflow"]["built_with_cuda"] else "without") + " CUDA")
    if isinstance(report.get("problems"), list):
        problems = report["problems"]
        parts.append(f"{len(problems)} problem(s)" + (f": {json.dumps(problems[0])[:80]}" if problems else ""))
    if not parts:
        keys = sorted(report)
        parts.append(f"{len(keys)} keys: {', '.join(keys[:8])}{', …' if len(keys) > 8 else ''}")
    return "; ".join(parts)


def doctor_row(rc: int, stdout: str, stderr: str, seconds: float, log: str | None = None) -> dict:
    """The ``doctor`` row from ``dlbuild doctor --json``'s exit code and output: ``skip`` with
    "doctor: not available" when this dlbuild has no doctor command, ``ok`` when it printed a JSON
    dict and exited 0 (the notes list its keys and any GPU entry), else ``FAIL``."""
    if rc != 0 and "No such command" in stderr:
        return make_row("doctor", "skip", seconds, "doctor: not available (this dlbuild has no doctor command)")
    try:
        report = json.loads(stdout)
    except ValueError:
        report = None
    if not isinstance(report, dict):
        why = (stderr.strip().splitlines() or [""])[-1][:110]
        return make_row("doctor", "FAIL", seconds, f"exit {rc}; no JSON dict on stdout" + (f"; {why}" if why else ""),
                        log)
    notes = _doctor_summary(report)
    if rc != 0:
        return make_row("doctor", "FAIL", seconds, f"exit {rc}; {notes}", log)
    return make_row("doctor", "ok", seconds, notes, log)


def gpus_row(seconds: float, tf_gpus: list[str], built_with_cuda: bool, tf_version: str,
             smi_gpus: int | None) -> dict:
    """The ``gpus`` row: the GPUs TensorFlow sees. ``FAIL`` when ``nvidia-smi`` lists GPUs
    (``smi_gpus``; None: no nvidia-smi) that TensorFlow does not see; a CPU-only machine is ``ok``."""
    cuda = "with CUDA" if built_with_cuda else "without CUDA"
    if tf_gpus:
        return make_row("gpus", "ok", seconds, f"{len(tf_gpus)} GPU(s): {', '.join(tf_gpus)}; "
                                               f"TensorFlow {tf_version} {cuda}")
    if smi_gpus:
        return make_row("gpus", "FAIL", seconds,
                        f"nvidia-smi lists {smi_gpus} GPU(s) but TensorFlow {tf_version} ({cuda}) sees none: "
                        "tensorflow-cpu installed, or CUDA libraries missing? dlbuild doctor says what to fix")
    return make_row("gpus", "ok", seconds, f"no GPU: CPU only; TensorFlow {tf_version} {cuda}")


def fit_row(step: str, run_dir: str | Path, rc: int, seconds: float | None, log: str | None = None, *,
            expect_replicas: int | None = None, expect_precision: str | None = None,
            compare: str | Path | None = None, compare_label: str = "", note: str = "") -> dict:
    """The row of one ``dlbuild fit``: ``FAIL`` on a non-zero exit, missing outputs, or a replica
    count or precision policy other than expected; else ``ok`` with the step time in ms (epoch 2's
    wall_seconds / steps), the placement and the final val accuracy. With ``compare`` (another run
    directory) the notes add the ratio of the two step times and the accuracy difference;
    ``warn`` when this is the mixed-precision run and its val accuracy is lower than the
    compared run's by more than :data:`ACCURACY_TOLERANCE`."""
    run_dir = Path(run_dir)
    if rc != 0:
        return _failed_command(step, rc, seconds, log, note)
    metrics = read_metrics(run_dir)
    if not metrics:
        return make_row(step, "FAIL", seconds, "exit 0 but no metrics.json", log)
    try:
        timing = step_time(run_dir)
    except ValueError as err:
        return make_row(step, "FAIL", seconds, str(err), log)
    acc = val_accuracy(run_dir)
    parts = [f"{timing['seconds_per_step'] * 1000:.1f} ms/step (epoch {timing['epoch']}: "
             f"{timing['epoch_seconds']:.2f} s / {timing['steps']} steps)"]
    if timing["epoch"] != TIMED_EPOCH:
        parts.append("epoch 1 only: includes tracing")
    placement = _placement(run_dir)
    replicas = metrics.get("replicas")
    parts.append(f"{placement or 'placement unknown'}, {replicas} replica(s)")
    parts.append(f"val acc {acc:.4f}" if acc is not None else "no val accuracy")
    result = "ok"
    if expect_replicas is not None and replicas != expect_replicas:
        result = "FAIL"
        parts.insert(0, f"{replicas} replica(s), expected {expect_replicas}")
    if expect_precision is not None and _precision(run_dir) != expect_precision:
        result = "FAIL"
        parts.insert(0, f"policy {_precision(run_dir)!r}, expected {expect_precision!r}")
    if acc is None or not math.isfinite(acc):
        result = "FAIL"
    if compare is not None and result == "ok":
        try:
            base = step_time(compare)
            ratio = base["seconds_per_step"] / timing["seconds_per_step"]
            parts.append(f"{ratio:.2f}x the speed of {compare_label or Path(compare).name}")
        except ValueError:
            parts.append(f"no step time for {compare_label or Path(compare).name}")
        base_acc = val_accuracy(compare)
        if acc is not None and base_acc is not None:
            parts.append(f"val acc {acc - base_acc:+.4f} vs {compare_label or Path(compare).name}")
            if expect_precision == "mixed_float16" and acc < base_acc - ACCURACY_TOLERANCE:
                result = "warn"
    if note:
        parts.append(note)
    return make_row(step, result, seconds, "; ".join(parts), log)


def tune_row(step: str, tune_dir: str | Path, rc: int, seconds: float | None, trials: int, log: str | None = None,
             note: str = "") -> dict:
    """The row of one ``dlbuild tune``: ``ok`` when it exited 0 and ``trials.csv`` holds ``trials``
    COMPLETED trials (notes: the best objective and the trials' own seconds), else ``FAIL``."""
    if rc != 0:
        return _failed_command(step, rc, seconds, log, note)
    path = Path(tune_dir) / "trials.csv"
    if not path.is_file():
        return make_row(step, "FAIL", seconds, "exit 0 but no trials.csv", log)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    done = [r for r in rows if r.get("status") == "COMPLETED"]
    scores = [float(r["objective"]) for r in done if r.get("objective")]
    trial_seconds = sum(float(r["seconds"]) for r in done if r.get("seconds"))
    parts = [f"{len(done)}/{trials} trials completed", f"trials {trial_seconds:.1f} s"]
    if scores:
        parts.append(f"best objective {min(scores):.4f}")  # the example's objective is val_loss (min)
    if note:
        parts.append(note)
    return make_row(step, "ok" if len(done) >= trials else "FAIL", seconds, "; ".join(parts), log)


def format_table(rows: list[dict]) -> str:
    """The table (step | result | seconds | notes) as aligned Markdown, one line per row, in
    :data:`STEPS` order (other steps after them); a row not recorded is shown as FAIL "not run"."""
    by_step = {r["step"]: r for r in rows}
    ordered = [by_step.get(s) or make_row(s, "FAIL", None, "not run (the script stopped before it)")
               for s in STEPS] + [r for r in rows if r["step"] not in STEPS]
    cells = [("step", "result", "seconds", "notes")]
    cells += [(r["step"], r["result"], "-" if r["seconds"] is None else f"{r['seconds']:.1f}", r["notes"])
              for r in ordered]
    widths = [max(len(c[i]) for c in cells) for i in range(3)]

    def line(c):
        return "| " + " | ".join([c[0].ljust(widths[0]), c[1].ljust(widths[1]), c[2].rjust(widths[2]), c[3]]) + " |"

    rule = "|" + "|".join(["-" * (widths[0] + 2), "-" * (widths[1] + 2), "-" * (widths[2] + 1) + ":", "---"]) + "|"
    return "\n".join([line(cells[0]), rule] + [line(c) for c in cells[1:]])


def failed(rows: list[dict]) -> list[str]:
    """The steps whose result is FAIL, and those of :data:`STEPS` with no row at all."""
    have = {r["step"] for r in rows}
    return [r["step"] for r in rows if r["result"] == "FAIL"] + [s for s in STEPS if s not in have]


def read_rows(path: str | Path) -> list[dict]:
    """The rows appended so far to the JSON-lines file ``path`` (a later row of a step replaces an earlier one)."""
    path = Path(path)
    rows: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                rows[row["step"]] = row
    return list(rows.values())


def append_row(path: str | Path, row: dict) -> None:
    """Append one row to the JSON-lines file ``path``."""
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def _log_tail(log: str, lines: int = 12) -> str:
    text = Path(log).read_text(errors="replace").splitlines() if Path(log).is_file() else []
    return "\n".join(text[-lines:])


def gpus_from_doctor(report) -> dict | None:
    """The ``gpus_row`` facts from ``dlbuild doctor --json``'s dict (``tf_gpus``, ``built_with_cuda``,
    ``tf_version``, ``smi_gpus``), so that TensorFlow is not imported a second time; None when the
    report does not have them (no doctor, or TensorFlow could not list its devices)."""
    if not isinstance(report, dict) or not isinstance(report.get("gpus"), list):
        return None
    tf = report.get("tensorflow") if isinstance(report.get("tensorflow"), dict) else {}
    smi = report.get("nvidia_smi") if isinstance(report.get("nvidia_smi"), dict) else {}
    names = []
    for g in report["gpus"]:
        g = g if isinstance(g, dict) else {"name": str(g)}
        cc = g.get("compute_capability")
        extra = ", ".join(x for x in (g.get("model"), f"cc {cc[0]}.{cc[1]}" if cc else None) if x)
        names.append(f"{g.get('name', '?')}" + (f" ({extra})" if extra else ""))
    return {"tf_gpus": names, "built_with_cuda": bool(tf.get("built_with_cuda")),
            "tf_version": str((report.get("versions") or {}).get("tensorflow", "?")),
            "smi_gpus": len(smi.get("gpus") or []) if smi.get("found") else None}


def _detect_gpus(started: str, doctor: str | None) -> tuple[dict, int]:
    """The GPUs TensorFlow sees (and nvidia-smi's): from doctor's JSON file when it has them,
    else by importing TensorFlow; the row and the GPU count."""
    try:
        facts = gpus_from_doctor(json.loads(Path(doctor).read_text())) if doctor else None
    except (OSError, ValueError):
        facts = None
    if facts is not None:
        row = gpus_row(elapsed(started), **facts)
        row["notes"] += " (from doctor)"
        return row, len(facts["tf_gpus"])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    smi = None
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60).stdout
            smi = sum(1 for ln in out.splitlines() if ln.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            smi = None
    try:
        import tensorflow as tf

        names = [d.name.replace("/physical_device:", "") for d in tf.config.list_physical_devices("GPU")]
        row = gpus_row(elapsed(started), names, bool(tf.test.is_built_with_cuda()), tf.__version__, smi)
    except Exception as err:  # a broken TensorFlow install is exactly what this row reports
        return make_row("gpus", "FAIL", elapsed(started), f"TensorFlow: {type(err).__name__}: {err}"[:160]), 0
    return row, len(names)


def main(argv: list[str] | None = None) -> int:
    """Command line of the helper (see the module docstring); returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--rows", required=True, help="JSON-lines file of the rows")
    common.add_argument("--started", default=None, help="Unix time the step started (seconds); "
                        "without it the row shows no seconds")
    ran = argparse.ArgumentParser(add_help=False, parents=[common])
    ran.add_argument("--step", required=True)
    ran.add_argument("--rc", type=int, required=True)
    ran.add_argument("--log", default=None)
    ran.add_argument("--note", default="")
    p = sub.add_parser("doctor", parents=[common])
    p.add_argument("--rc", type=int, required=True)
    p.add_argument("--stdout", required=True)
    p.add_argument("--stderr", required=True)
    p = sub.add_parser("gpus", parents=[common], help="print the number of GPUs TensorFlow sees")
    p.add_argument("--doctor", default=None, help="dlbuild doctor --json's output, read instead of importing TF")
    p = sub.add_parser("fit", parents=[ran])
    p.add_argument("--run", required=True)
    p.add_argument("--expect-replicas", type=int, default=None)
    p.add_argument("--expect-precision", default=None)
    p.add_argument("--compare", default=None)
    p.add_argument("--compare-label", default="")
    p = sub.add_parser("tune", parents=[ran])
    p.add_argument("--dir", required=True)
    p.add_argument("--trials", type=int, required=True)
    p = sub.add_parser("skip", parents=[common])
    p.add_argument("--step", required=True)
    p.add_argument("--reason", required=True)
    p = sub.add_parser("table", parents=[common])
    p.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    seconds = elapsed(args.started) if args.started else None

    if args.command == "doctor":
        text = Path(args.stdout).read_text(errors="replace") if Path(args.stdout).is_file() else ""
        err = Path(args.stderr).read_text(errors="replace") if Path(args.stderr).is_file() else ""
        row = doctor_row(args.rc, text, err, seconds or 0.0, args.stderr)
    elif args.command == "gpus":
        row, count = _detect_gpus(args.started or str(time.time()), args.doctor)
        append_row(args.rows, row)
        print(count)
        return 0
    elif args.command == "fit":
        row = fit_row(args.step, args.run, args.rc, seconds, args.log, expect_replicas=args.expect_replicas,
                      expect_precision=args.expect_precision, compare=args.compare,
                      compare_label=args.compare_label, note=args.note)
    elif args.command == "tune":
        row = tune_row(args.step, args.dir, args.rc, seconds, args.trials, args.log, args.note)
    elif args.command == "skip":
        row = skip_row(args.step, args.reason)
    else:
        rows = read_rows(args.rows)
        shown = set()
        for r in rows:  # each failed log once (precision float32 re-reads another step's run)
            if r["result"] == "FAIL" and r.get("log") and Path(r["log"]).is_file() and r["log"] not in shown:
                shown.add(r["log"])
                print(f"--- {r['step']}: last lines of {r['log']} ---\n{_log_tail(r['log'])}\n")
        bad = failed(rows)
        total = f" in {seconds:.0f} s" if seconds is not None else ""
        counts = {k: sum(1 for r in rows if r["result"] == k) for k in ("ok", "warn", "skip")}
        mode = " (QUICK=1: shortened, not the real check)" if args.quick else ""
        print(format_table(rows))
        print(f"gpu_check: {counts['ok']} ok, {counts['warn']} warn, {counts['skip']} skipped, {len(bad)} failed"
              f"{total}{mode}" + (f": {', '.join(bad)}" if bad else ""))
        return 1 if bad else 0
    append_row(args.rows, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
