"""What a finished search leaves in the tune directory: trials.csv, results.md, best.yaml, rounds.json, plots.

Inputs: the tuner after ``search`` (its oracle's trials, in start order; ``trial_seconds/<id>.txt``
written by :class:`builder.tune.tuners.SpecTuner`), the spec template, the tune directory.
Outputs: ``trials.csv`` (one row per trial: id, status, objective, seconds — all, in ``model.fit``
and the rest — failure reason, values), ``results.md`` (completed trials best first, then the failed ones), ``best.yaml`` (the
best trial as a concrete spec: ``dlbuild fit best.yaml``), ``rounds.json`` (coarse_to_fine: each
round's box in the unit cube), ``objective.png`` and ``objective_vs_<hp>.png`` (matplotlib).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from builder.atomic import write_json, write_text
from builder.errors import trial_failure
from builder.spec import hparams
from builder.spec.dump import anchor_read_paths, dump_yaml
from builder.spec.load import Spec, resolve_spec
from builder.tune.space import format_value


TIME_COLUMNS = ("seconds", "fit_seconds", "other_seconds")


def _trial_seconds(path: Path) -> dict:
    """``{"seconds": all, "fit_seconds": in model.fit, "other_seconds": the rest (build, adapt,
    compile, the tuner's saving and callbacks)}`` from a trial's seconds file; "" where unknown
    (a file of an older search holds only the total)."""
    row = dict.fromkeys(TIME_COLUMNS, "")
    if not path.exists():
        return row
    text = path.read_text().strip()
    data = json.loads(text) if text.startswith("{") else {"seconds": float(text)}
    row["seconds"] = data.get("seconds", "")
    if data.get("fit_seconds") is not None:
        row["fit_seconds"] = data["fit_seconds"]
        row["other_seconds"] = round(data["seconds"] - data["fit_seconds"], 3)
    return row


def trial_rows(tuner) -> list[dict]:
    """One dict per trial (start order): id, status, objective, seconds (all, in ``model.fit``,
    the rest), values, failure reason."""
    rows = []
    for trial_id in tuner.oracle.start_order:
        tr = tuner.oracle.trials.get(trial_id)
        if tr is None:
            continue
        seconds = _trial_seconds(Path(tuner.project_dir).parent / "trial_seconds" / f"{trial_id}.txt")
        row = {"trial_id": trial_id, "status": tr.status,
               "objective": tr.score if tr.score is not None else "",
               **seconds,
               "failure": trial_failure(tr.message or "") if tr.status != "COMPLETED" else ""}
        row.update({k: v for k, v in tr.hyperparameters.values.items()})
        rows.append(row)
    return rows


def best_spec_values(base: Spec, values: dict) -> dict:
    """The document of the trial with hyperparameter ``values``: search spaces replaced by the
    values (inactive conditional ones by their defaults), no ``tune`` section, and the files it
    reads made absolute so that ``best.yaml`` runs from wherever it is written."""
    def choose(h):
        if h.name in values:
            v = values[h.name]
            return int(v) if h.kind == "int" else v
        return hparams.default_choice(h)

    spec = resolve_spec(base.template, base.spaces, choose)
    doc = anchor_read_paths(spec.values, base.directory)
    doc.pop("tune", None)
    return doc


def write_outputs(tuner, base: Spec, out: Path) -> dict | None:
    """Write trials.csv, results.md, best.yaml, rounds.json and the plots into ``out``.

    Returns:
        The best trial's hyperparameter values (``tuner/`` entries of Hyperband included), or
        None when no trial completed (then there is no best.yaml).
    """
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
    hp_names = [k for k in keys if k not in ("trial_id", "status", "objective", "failure", *TIME_COLUMNS)
                and not k.startswith("tuner/")]
    lines = [f"# {base.name}: {len(rows)} trials, objective {objective.name} ({objective.direction})", "",
             "| rank | trial | " + objective.name + " | " + " | ".join(hp_names) + " |",
             "|---" * (3 + len(hp_names)) + "|"]
    for i, r in enumerate(done, 1):
        lines.append(f"| {i} | {r['trial_id']} | {r['objective']:.4f} | "
                     + " | ".join(format_value(r.get(k, "")) for k in hp_names) + " |")
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

