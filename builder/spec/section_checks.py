"""The checks of a spec's sections that go beyond one key's type: between keys and sections, against
the files on disk and against the Keras catalog.

``data``: exactly one source, that it exists, which data options fit it; ``model.init_from``: a
trained model is there; ``compile``: optimizer, loss and metric items; ``fit``: callbacks,
``class_weight``, cross-validation and test-time augmentation against the data, the strategy and
the model; ``tune.objective``: a metric the spec logs; ``export.formats``. Each ``check_*``
function reports to a :class:`~builder.errors.Collector` at the spec path the user has to change.
Also the facts other stages share: :func:`logged_metrics` (the names ``Model.fit`` logs),
:func:`augmentation_layer`, :func:`cross_validation_options`, :func:`init_from_path`. No TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builder.catalog.datasets import list_datasets
from builder.catalog.registry import Catalog, snake_case
from builder.errors import Collector, did_you_mean
from builder.spec import data_options, items as objects
from builder.spec.sections import DATA_SOURCES, EXPORT_FORMATS
from builder.spec.source import Source
from builder.spec.topology import Topology


def apply_split(data: dict, given: dict, out: Collector) -> None:
    """``data.split: [train, validation, test]`` → ``validation_split`` and ``test_split`` in ``data``.

    The fractions are of all samples (the split people think in: ``[0.8, 0.1, 0.1]``), while
    ``validation_split`` is a fraction of what remains after the test split:
    ``validation_split = validation / (train + validation)``, ``test_split = test``. A source with
    its own test split keeps it (``test`` is then ignored, as ``test_split`` is). ``given`` is the
    user's own ``data`` mapping: ``validation_split``/``test_split`` written beside ``split`` must
    agree with it (``spec.resolved.yaml`` holds all three).
    """
    value = data.get("split")
    if value is None:
        return
    numbers = isinstance(value, list) and len(value) == 3 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    if not numbers or not all(0 <= v < 1 for v in value) or value[0] <= 0 or abs(sum(value) - 1) > 1e-6:
        out.error("'split' takes three fractions [train, validation, test], train > 0, each in [0, 1), "
                  f"summing to 1 (e.g. [0.8, 0.1, 0.1]); received: {value!r}", ("data", "split"))
        return
    train, val, test = value
    derived = {"validation_split": val / (train + val), "test_split": test}
    for key, v in derived.items():
        if key in given and isinstance(given[key], (int, float)) and abs(given[key] - v) > 1e-9:
            out.error(f"give either 'split' or '{key}': split {value} means {key}: {v:.6g}; received "
                      f"{key}: {given[key]!r}", ("data", key))
        data[key] = v


def check_data(data: dict, src: Source | None, out: Collector) -> None:
    """Data checks that need no file contents: one source, it exists, the sequence options' own
    values (:data:`builder.spec.data_options.OPTIONS`), and which options fit which source. The rest
    (columns, arrays, lengths) is checked when the data is loaded."""
    problem = data_options.check_missing(data.get("missing"))
    if problem:
        out.error(f"'missing' {problem}", ("data", "missing"))
    given = [k for k in DATA_SOURCES if data.get(k) is not None]
    if len(given) != 1:
        out.error(f"'data' needs exactly one of {', '.join(DATA_SOURCES)}"
                  + (f"; received {', '.join(given)}" if given else ""), ("data",))
        return
    key = given[0]
    if not isinstance(data[key], str):  # its type error is already reported
        return
    if key == "dataset":
        names = list(list_datasets())
        if data["dataset"] not in names:
            out.error(f"unknown dataset '{data['dataset']}'; bundled datasets: {', '.join(names)}"
                      + did_you_mean(data["dataset"], names), ("data", "dataset"))
    else:
        base = src.directory if src else Path.cwd()
        path = (base / data[key]).resolve()
        if key == "text_dir" and not path.is_dir():
            out.error(f"text directory not found: {path}", ("data", key))
        elif key != "text_dir" and not path.is_file():
            # /dev/zero or a FIFO exists but would never finish reading: say what it is
            out.error(f"data file is not a regular file (a device, a FIFO or a directory): {path}"
                      if path.exists() else f"data file not found: {path}", ("data", key))
    for opt in data_options.OPTIONS:
        if isinstance(data.get(opt), dict):
            for msg, path in data_options.resolve_options(opt, data[opt])[1]:
                out.error(msg, path)
    shaping = [k for k in data_options.STRUCTURING if data.get(k) is not None]
    if len(shaping) > 1:
        out.error(f"'data' takes at most one of {', '.join(data_options.STRUCTURING)}; received {', '.join(shaping)}",
                  ("data", shaping[1]), at="key")
    if data.get("text") is not None and key != "csv":
        out.error("'text' names a column of a 'csv' source", ("data", "text"), at="key")
    if data.get("delimiter") is not None and key != "csv":
        out.error("'delimiter' applies to a 'csv' source", ("data", "delimiter"), at="key")
    derived = isinstance(data.get("pairs"), dict) and data["pairs"].get("derive")
    if key == "text_file" and not (data.get("language_model") or data.get("masked_lm") or derived):
        out.error("a 'text_file' is a corpus; add 'language_model', 'masked_lm' or 'pairs: {derive: …}' "
                  "to make samples from it", ("data", "text_file"))
    if data.get("sequence") is not None and key in ("csv", "text_dir", "text_file"):
        out.error("'sequence' pads sequence data (.ts, NPZ, sequence datasets); received a text/table source",
                  ("data", "sequence"), at="key")
    if data.get("window") is not None and key == "csv" and data.get("target") is None:
        out.error("'window' over a CSV needs 'target': the column of the series to forecast", ("data", "window"))
    pairs = data.get("pairs")
    if isinstance(pairs, dict) and key == "csv" and not (pairs.get("source") and pairs.get("target")):
        out.error("'pairs' over a CSV needs 'source' and 'target' columns", ("data", "pairs"))
    sequence_targets = [k for k in ("window", "pairs", "language_model", "masked_lm") if data.get(k) is not None]
    if data.get("one_hot") is True and sequence_targets:
        out.error(f"'one_hot' encodes class-index targets; data.{sequence_targets[0]} makes sequence targets "
                  "(token ids or values), which stay as they are", ("data", "one_hot"))


def init_from_path(value: str, base: Path) -> Path:
    """The ``.keras`` file that ``model.init_from`` names: a file, or a run directory's model.keras."""
    path = (base / value).expanduser().resolve()
    return path / "model.keras" if path.is_dir() else path


def check_init_from(value: Any, src: Source | None, out: Collector) -> None:
    """``model.init_from``: a string naming a ``.keras`` file or a finished run directory (relative
    to the spec) that holds a trained model."""
    if value is None:
        return
    if not isinstance(value, str):
        out.error(f"'init_from' takes a run directory or a .keras file; received: {value!r}", ("model", "init_from"))
        return
    path = init_from_path(value, src.directory if src else Path.cwd())
    if not path.is_file():
        out.error(f"init_from: no trained model at {path} (a run directory holds model.keras once "
                  "its fit has completed)", ("model", "init_from"))


def check_compile(comp: dict, cat: Catalog, out: Collector, output_names: list) -> None:
    """``compile``: the optimizer, the loss (one, or one per output of ``output_names``) and the
    metric items, each against the catalog; metric groups must name real outputs."""
    # A value of the wrong type was reported by check_section: checking it again as an item
    # would only repeat that error.
    if isinstance(comp.get("optimizer"), (str, dict)):
        objects.check("optimizer", comp["optimizer"], ("compile", "optimizer"), cat, out)
    loss = comp.get("loss")
    if isinstance(loss, dict) and loss and all(k in output_names for k in loss) and len(output_names) > 1:
        for k, v in loss.items():
            objects.check("loss", v, ("compile", "loss", k), cat, out)
    elif isinstance(loss, (str, dict)):
        objects.check("loss", loss, ("compile", "loss"), cat, out)
    for key in ("metrics", "weighted_metrics"):
        metrics = comp.get(key) or []
        if not isinstance(metrics, (list, dict)):
            continue
        groups = metrics.items() if isinstance(metrics, dict) else [(None, metrics)]
        for out_name, items in groups:
            base = ("compile", key) + ((out_name,) if out_name is not None else ())
            if out_name is not None and out_name not in output_names:
                out.error(f"unknown output '{out_name}'" + did_you_mean(out_name, output_names), base, at="key")
            if not isinstance(items, list):
                out.error(f"{key} must be a list of metric items", base)
                continue
            for i, m in enumerate(items):
                objects.check("metric", m, base + (i,), cat, out)


def check_fit(fit: dict, cat: Catalog, out: Collector) -> None:
    """``fit``: the callback items against the catalog, and ``class_weight`` (balanced or a mapping)."""
    callbacks = fit.get("callbacks")
    for i, cb in enumerate(callbacks if isinstance(callbacks, list) else []):
        objects.check("callback", cb, ("fit", "callbacks", i), cat, out)
    cw = fit.get("class_weight")
    if isinstance(cw, str) and cw != "balanced":
        out.error(f"'class_weight' must be 'balanced' or {{class_index: weight}}; received: {cw!r}",
                  ("fit", "class_weight"))


def _metric_names(metrics: Any, cat: Catalog) -> list[str]:
    """The names Keras gives the metric items of one ``compile`` key (its ``name`` argument, else
    Keras's snake_case default)."""
    if isinstance(metrics, dict):  # groups that are not lists were reported by _check_compile
        items = [m for group in metrics.values() if isinstance(group, list) for m in group]
    else:
        items = metrics if isinstance(metrics, list) else []
    names = []
    for m in items:
        if isinstance(m, str):
            entry = cat.lookup("metric", m)  # "mae" is built as MeanAbsoluteError: logged by its name
            names.append(snake_case(entry.name) if entry is not None and entry.is_class else m)
        elif isinstance(m, dict) and len(m) == 1:
            (key, args), = m.items()
            entry = cat.lookup("metric", key)
            given = args.get("name") if isinstance(args, dict) else None
            names.append(given or (snake_case(entry.name) if entry else str(key)))
    return names


def logged_metrics(comp: dict, cat: Catalog, validation: bool = True) -> list[str]:
    """Names ``Model.fit`` logs for the ``compile`` section: ``loss``, each metric's name, each
    weighted metric's name (``weighted_<name>`` where a plain metric has that name already, as
    Keras's ``CompileMetrics.result`` names them), and their ``val_`` forms."""
    names = ["loss"] + _metric_names(comp.get("metrics") or [], cat)
    for n in _metric_names(comp.get("weighted_metrics") or [], cat):
        names.append(f"weighted_{n}" if n in names else n)
    return names + (["val_" + n for n in names] if validation else [])


def augmentation_layer(class_name: str) -> bool:
    """True for the Keras layers that augment images at random in training only: every
    ``Random*`` preprocessing layer (``RandomFlip``, ``RandomRotation``, ``RandomZoom``, …) and
    ``RandAugment``/``AugMix``. ``MixUp``/``CutMix`` mix samples *and labels*, so they cannot
    augment a test input on its own; noise layers (``GaussianNoise``) are regularisers."""
    return class_name.startswith("Random") or class_name in ("RandAugment", "AugMix")


CV_KEYS = ("folds", "shuffle")


def cross_validation_options(value: Any) -> tuple[dict, list[tuple[str, tuple, str]]]:
    """``fit.cross_validation`` (an integer K, or ``{folds: K, shuffle: true}``) as
    ``({"folds": K, "shuffle": bool}, [(message, path, at), ...])``; K must be at least 2."""
    path = ("fit", "cross_validation")
    errors: list[tuple[str, tuple, str]] = []
    given = {"folds": value} if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(given, dict):  # its type error is reported by check_section
        return {}, errors
    for key in given:
        if key not in CV_KEYS:
            errors.append((f"unknown key '{key}' in 'cross_validation'" + did_you_mean(str(key), CV_KEYS),
                           path + (key,), "key"))
    folds = given.get("folds")
    where = path + ("folds",) if isinstance(value, dict) else path
    if "folds" not in given:
        errors.append(("'cross_validation' needs 'folds': the number of folds K (at least 2)", path, "value"))
    elif not isinstance(folds, int) or isinstance(folds, bool):
        errors.append((f"'folds' must be an integer; received: {folds!r}", where, "value"))
    elif folds < 2:
        errors.append((f"cross-validation needs at least 2 folds; received: {folds}", where, "value"))
    shuffle = given.get("shuffle", True)
    if not isinstance(shuffle, bool):
        errors.append((f"'shuffle' must be true or false; received: {shuffle!r}", path + ("shuffle",), "value"))
    return {"folds": folds, "shuffle": shuffle}, errors


def check_evaluation(fit: dict, data: dict, distribute: dict, topo: Topology, out: Collector) -> None:
    """``fit.cross_validation`` and ``fit.tta`` against the data, the strategy and the model."""
    cv = fit.get("cross_validation")
    if cv is not None:
        for msg, path, at in cross_validation_options(cv)[1]:
            out.error(msg, path, at=at)
        ordered = [k for k in ("window", "language_model", "text_file") if data.get(k) is not None]
        if ordered:
            out.error(f"cross-validation folds need independent samples; data.{ordered[0]} makes samples of one "
                      "ordered series or text stream, which a fold would cut across", ("fit", "cross_validation"))
        if distribute.get("strategy") == "multi_worker":
            out.error("cross_validation trains its folds one after another in one process; it does not "
                      "combine with distribute.strategy: multi_worker", ("fit", "cross_validation"))
    tta = fit.get("tta")
    if isinstance(tta, int) and not isinstance(tta, bool) and topo.nodes and not any(
            augmentation_layer(n.layer) for n in topo.nodes):
        out.error("'tta' averages predictions over randomly augmented copies of each test input, but the "
                  "model has no augmentation layer (RandomFlip, RandomRotation, RandomZoom, ... or another "
                  "Keras Random* layer)", ("fit", "tta"))


def check_objective(tune: dict, comp: dict, data: dict, cat: Catalog, out: Collector) -> None:
    """``tune.objective``: a name (or ``{name, direction}``) among the metrics this spec logs
    (:func:`logged_metrics`; ``val_`` ones only when a validation split is held out)."""
    objective = tune.get("objective")
    path = ("tune", "objective")
    if not isinstance(objective, (str, dict)):  # its type error is already reported
        return
    if isinstance(objective, dict):
        extra = set(objective) - {"name", "direction"}
        if extra or "name" not in objective:
            out.error("'objective' takes a metric name or {name: val_auc, direction: max}", path)
            return
        if objective.get("direction", "min") not in ("min", "max"):
            out.error(f"'direction' must be min or max; received: {objective['direction']!r}", path + ("direction",))
        name, path = objective["name"], path + ("name",)
    else:
        name = objective
    split = data.get("validation_split", 0.1)
    logged = logged_metrics(comp, cat, validation=not isinstance(split, (int, float)) or split > 0)
    if name not in logged:
        out.error(f"objective '{name}' is not logged by this spec; logged metrics: {', '.join(logged)}"
                  + did_you_mean(name, logged), path)


def check_export(export: dict, out: Collector) -> None:
    """``export.formats``: each one of :data:`builder.catalog.formats.FORMATS`."""
    formats = export.get("formats")
    for i, f in enumerate(formats if isinstance(formats, list) else []):
        if f not in EXPORT_FORMATS:
            out.error(f"unknown export format {f!r}; expected one of {', '.join(EXPORT_FORMATS)}"
                      + did_you_mean(f, EXPORT_FORMATS), ("export", "formats", i))
