"""``dlbuild`` command line: a thin click adapter over the Python API.

Exit codes: 0 success, 1 runtime failure, 2 spec or usage error (click's own usage errors are 2
too). TensorFlow is imported inside command bodies only, so ``--help`` and ``validate`` start in
a fraction of a second.
"""

from __future__ import annotations

import os

import click

from builder.catalog.strategies import STRATEGIES
from builder.cli.report import fail as _fail, handle_errors

# TensorFlow's C++ start-up chatter (absl's "All log messages before absl::InitializeLog()", CPU
# feature and oneDNN notices) is INFO and WARNING; level 2 hides those and keeps ERROR lines.
# A level the user set is kept; `dlbuild --tf-log ...` shows everything.
_USER_TF_LOG = "TF_CPP_MIN_LOG_LEVEL" in os.environ
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dlbuild")
    except PackageNotFoundError:  # running from a source checkout
        return "0+unknown"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), prog_name="dlbuild")
@click.option("--max-layers", type=click.IntRange(min=1), metavar="N",
              help="Refuse models that expand to more than N layers (default: 20000).")
@click.option("--tf-log", is_flag=True, help="Show TensorFlow's own C++ log (INFO and WARNING lines too).")
def main(max_layers: int | None, tf_log: bool) -> None:
    """dlbuild: one YAML spec → a Keras model, trained, tuned and exported."""
    if tf_log and not _USER_TF_LOG:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    if max_layers is not None:  # an environment variable, so worker and export child processes inherit it
        from builder.spec.layer_count import ENV_VAR

        os.environ[ENV_VAR] = str(max_layers)


class _WorkersType(click.ParamType):
    """``--workers``: a positive integer, or ``auto``."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if value == "auto" or isinstance(value, int):
            return value
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            self.fail(f"{value!r} is neither a positive integer nor 'auto'", param, ctx)
        return n


_WORKERS = _WorkersType()
set_option = click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
                          help="Override a spec value, e.g. --set fit.epochs=3 (repeatable).")


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@set_option
@handle_errors
def validate(spec: str, overrides: tuple) -> None:
    """Check SPEC and report every problem as file:line:col (no TensorFlow import)."""
    from builder.spec.load import load_spec

    s = load_spec(spec, overrides)
    n = len(s.topology.nodes)
    extra = f", {len(s.spaces)} hyperparameter(s)" if s.spaces else ""
    # validate reads no data and builds nothing: say what is left and which command checks it
    click.echo(f"{spec}: ok ({n:,} layer{'s' if n != 1 else ''}{extra}; names, arguments and values checked; not checked here: "
               f"layer shapes (dlbuild check) and the data (read by fit and tune))")


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default: runs/<name>/<timestamp>).")
@click.option("--runs-root", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Where new run directories are created.")
@set_option
@click.option("--epochs", type=click.IntRange(min=1), help="Override fit.epochs.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run (--out, or the latest unfinished one).")
@click.option("-q", "--quiet", is_flag=True, help="No per-epoch progress bar.")
@click.option("--folds", type=click.IntRange(min=2),
              help="K-fold cross-validation: override fit.cross_validation's number of folds.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Train with N local worker processes (MultiWorkerMirroredStrategy on 127.0.0.1).")
@click.option("--cluster", metavar="HOST:PORT,...", help="Multi-worker cluster: every worker's address.")
@click.option("--worker-index", type=click.IntRange(min=0), help="This process's index in --cluster (0 = chief).")
@handle_errors
def fit(spec: str, out: str | None, runs_root: str, overrides: tuple, epochs: int | None, resume: bool,
        quiet: bool, folds: int | None, workers: int | None, cluster: str | None, worker_index: int | None) -> None:
    """Train SPEC and write a run directory (with fit.cross_validation or --folds: one per fold)."""
    from builder.spec.load import load_spec

    overrides = list(overrides) + _folds_override(spec, overrides, folds)
    if cluster:
        if worker_index is None:
            raise click.UsageError("--cluster needs --worker-index")
        overrides += _cluster_overrides(cluster.split(","), worker_index)
    s = load_spec(spec, overrides)
    if workers:
        _fit_local_workers(spec, s.name, overrides, workers, out, runs_root, resume, epochs, quiet)
        return
    from builder.run.preflight import preflight

    s, splits = preflight(s)  # the data against the spec (placeholders bound), before TensorFlow is imported
    from builder.workflows import fit as run_fit

    run_fit(s, run_dir=out, runs_root=runs_root, resume=resume, epochs=epochs,
            verbose=0 if quiet else None, log=click.echo,
            splits=None if s.fit.get("cross_validation") is not None else splits)


def _folds_override(spec: str, overrides: tuple, folds: int | None) -> list:
    """``--folds K`` as a ``--set``: the ``folds`` key of a ``cross_validation`` mapping, else the
    whole value (the integer form)."""
    if folds is None:
        return []
    from builder.spec.overrides import apply_overrides
    from builder.spec.source import load

    src = load(spec)
    apply_overrides(src, list(overrides))
    fit_section = src.values.get("fit")
    if not isinstance(fit_section, dict):
        return ["fit={}", f"fit.cross_validation={folds}"]
    if isinstance(fit_section.get("cross_validation"), dict):
        return [f"fit.cross_validation.folds={folds}"]
    return [f"fit.cross_validation={folds}"]


def _cluster_overrides(addresses: list, index: int) -> list:
    quoted = ", ".join(f"'{a.strip()}'" for a in addresses)
    return ["distribute.strategy=multi_worker", f"distribute.workers=[{quoted}]", f"distribute.worker_index={index}"]


def _fit_local_workers(spec: str, name: str, overrides: list, n: int, out: str | None, runs_root: str,
                       resume: bool, epochs: int | None, quiet: bool) -> None:
    """``fit --workers N``: N processes on 127.0.0.1, each ``dlbuild fit --cluster ... --worker-index i``
    (the code path of a real cluster); worker 0, the chief, writes the run directory."""
    import subprocess
    from datetime import datetime
    from pathlib import Path

    from builder.run.workers import free_ports, start_local, wait_all

    if out is None:
        out = str(Path(runs_root) / name / datetime.now().strftime("%Y%m%d-%H%M%S"))
    cluster = ",".join(f"127.0.0.1:{p}" for p in free_ports(n))
    base = ["fit", spec, "--out", out, "--cluster", cluster]
    base += [a for o in overrides for a in ("--set", o)] + (["--resume"] if resume else [])
    base += (["--epochs", str(epochs)] if epochs else []) + (["-q"] if quiet else [])
    procs = start_local([base + ["--worker-index", str(i)] for i in range(n)],
                        outputs=[None] + [subprocess.DEVNULL] * (n - 1))
    codes = wait_all(procs)
    if any(codes):
        _fail(f"dlbuild: error: worker exit codes {codes}; rerun with --resume to continue", max(codes))


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False),
              help="Tune directory (default: runs/<name>/tune-<timestamp>); rerun with the same --out to resume.")
@click.option("--runs-root", default="runs", show_default=True, type=click.Path(file_okay=False))
@set_option
@click.option("--strategy", type=click.Choice(STRATEGIES),
              help="Override tune.strategy.")
@click.option("--max-trials", type=click.IntRange(min=1), help="Override tune.max_trials.")
@click.option("--dry-run", is_flag=True, help="Print the search space, grid size and trial budget; train nothing.")
@click.option("--no-retrain", is_flag=True, help="Skip retraining the best spec on train + validation.")
@click.option("-v", "--verbose", is_flag=True, help="Show Keras's per-epoch progress inside trials.")
@click.option("--chief", metavar="HOST:PORT", help="Serve the search's oracle here; workers connect to it.")
@click.option("--worker", metavar="HOST:PORT", help="Run trials for the chief at HOST:PORT.")
@click.option("--tuner-id", help="This worker's id (default: worker-<pid>).")
@click.option("--workers", type=_WORKERS, metavar="N|auto",
              help="Start N local worker processes (one GPU each); auto: one per GPU when there are 2 or more.")
@handle_errors
def tune(spec: str, out: str | None, runs_root: str, overrides: tuple, strategy: str | None,
         max_trials: int | None, dry_run: bool, no_retrain: bool, verbose: bool, chief: str | None,
         worker: str | None, tuner_id: str | None, workers: int | str | None) -> None:
    """Search SPEC's search spaces with Keras Tuner; write trials, best.yaml and the retrained best model."""
    from builder.spec.load import load_spec

    extra = [f"tune.strategy={strategy}"] if strategy else []
    extra += [f"tune.max_trials={max_trials}"] if max_trials else []
    all_overrides = _with_tune_section(spec, overrides, extra)
    s = load_spec(spec, all_overrides)
    from builder.run.preflight import preflight

    s, _ = preflight(s)  # the data against the default-resolved spec, before TensorFlow is imported
    if dry_run:
        from builder.tune.space import describe_space

        click.echo(describe_space(s))
        return
    from builder.workflows import tune as run_tune

    if workers == "auto":
        from builder.tune.workers import auto_workers

        workers = auto_workers(log=click.echo)
    try:
        if worker and not out:
            raise click.UsageError("--worker needs --out: the chief and its workers share one tune directory")
        run_tune(s, out_dir=out, runs_root=runs_root, retrain=not no_retrain, verbose=2 if verbose else 0,
                 log=click.echo, chief=chief, worker=worker, tuner_id=tuner_id, workers=workers or 0,
                 overrides=all_overrides)
    except RuntimeError as err:
        _fail(f"dlbuild: error: {err}", 1)


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--tta", type=click.IntRange(min=1), metavar="N",
              help="Test-time augmentation: also average the original and N augmented passes.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Evaluation batch size (default: fit.batch_size).")
@click.option("--output", type=click.Path(dir_okay=False), help="Also write the results as JSON.")
@handle_errors
def evaluate(run_dirs: tuple, tta: int | None, batch_size: int | None, output: str | None) -> None:
    """Evaluate RUN_DIRS on their spec's test split; several runs: also their ensemble (averaged predictions)."""
    from builder.run.evaluate import evaluate_runs, write_results

    results = evaluate_runs(list(run_dirs), tta=tta or 0, batch_size=batch_size, log=click.echo)
    if output:
        write_results(results, output)


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@handle_errors
def plot(run_dir: str) -> None:
    """Write RUN_DIR's plots: learning curves, confusion matrix (classifiers), model graph."""
    from builder.run.plots import plot_run

    for path in plot_run(run_dir, log=click.echo, always_notice=True):
        click.echo(str(path))


def _with_tune_section(spec: str, overrides: tuple, extra: list) -> list:
    """``--strategy``/``--max-trials`` as ``--set`` overrides; they need a ``tune:`` mapping to land in."""
    if not extra:
        return list(overrides)
    from builder.spec.source import load

    if not isinstance(load(spec).values.get("tune"), dict):
        extra = ["tune={}"] + extra
    return list(overrides) + extra


from builder.cli.export import export_cmd, predict_cmd  # noqa: E402  (no TensorFlow at import)

from builder.cli.doctor import doctor_cmd  # noqa: E402
from builder.cli.generate import generate_cmd  # noqa: E402
from builder.cli.tools import check_cmd, explain_cmd, import_cmd, schema_cmd  # noqa: E402

for _command in (export_cmd, predict_cmd, generate_cmd, check_cmd, explain_cmd, schema_cmd, import_cmd, doctor_cmd):
    main.add_command(_command)
