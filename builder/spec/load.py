"""Plain values → a typed, frozen, fully checked :class:`Spec` (no TensorFlow).

``load_spec`` is the front door: read YAML (:mod:`builder.spec.source`), apply ``--set`` overrides,
find search spaces (:mod:`builder.spec.hparams`), resolve them (to defaults for ``fit``), check every
section, expand the model graph (:mod:`builder.spec.topology`), and raise one :class:`SpecError` with
*every* problem, sorted by line.

The section fields below are the spec language's contract (ARCHITECTURE.md §2); their defaults
are Keras's own (``Model.compile``/``Model.fit``) unless a comment says otherwise.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from builder.spec import hparams, items as objects
from builder.errors import Collector, SpecError, did_you_mean
from builder.catalog.registry import Catalog, catalog
from builder.spec.source import Source, apply_overrides, load
from builder.spec.topology import Topology, expand

REQUIRED = object()


@dataclass(frozen=True)
class Field:
    """One key of a section: accepted Python types, default, allowed values, a range check."""

    types: tuple
    default: Any = None
    choices: tuple = ()
    check: Callable[[Any], str | None] | None = None
    doc: str = ""


def _fraction(v):
    return None if 0 <= v < 1 else "must be in [0, 1)"


def _positive(v):
    return None if v >= 1 else "must be at least 1"


NUM = (int, float)
SECTIONS: dict[str, dict[str, Field] | None] = {
    # name / seed are scalars; model is checked by builder.spec.topology.
    "data": {
        "dataset": Field((str,), doc="bundled dataset name (listed in docs/spec.md and DATA_LICENSES.md)"),
        "csv": Field((str,), doc="CSV file with a header row, relative to the spec"),
        "npz": Field((str,), doc="NumPy .npz file, relative to the spec (ragged sequences: <key> + <key>_lengths)"),
        "ts": Field((str,), doc="sktime .ts classification file; a *_TRAIN.ts takes its *_TEST.ts sibling as test"),
        "text_dir": Field((str,), doc="directory of class sub-directories of .txt files (one sample per file)"),
        "text_file": Field((str,), doc="plain UTF-8 text: a corpus for language_model / masked_lm / pairs.derive"),
        "text": Field((str,), doc="CSV/TSV text column: x becomes (n,) strings for TextVectorization"),
        "delimiter": Field((str,), doc="CSV field delimiter (default: tab for .tsv/.tab files, else ',')"),
        "target": Field((str,), doc="CSV target column (default: the last column); window: the series"),
        "features": Field((list,), doc="CSV feature columns (default: all but the target)"),
        "x": Field((str, dict), doc="NPZ features array name, or {input_name: array_name} (default: x)"),
        "y": Field((str,), doc="NPZ target array name (default: y)"),
        "task": Field((str,), choices=("classification", "regression"), doc="default: inferred from the target"),
        "validation_split": Field(NUM, 0.1, check=_fraction, doc="fraction of train held out for validation"),
        "test_split": Field(NUM, 0.2, check=_fraction, doc="fraction held out for test when the source has no test split"),
        "stratify": Field((bool,), True, doc="stratified splits for classification"),
        "shuffle_buffer": Field((int,), None, check=_positive, doc="tf.data shuffle buffer (default: the whole train split)"),
        "cache": Field((bool,), True, doc="cache the decoded dataset in memory after the first epoch"),
        "max_train_samples": Field((int,), None, check=_positive, doc="use only the first N training samples (smoke runs)"),
        "one_hot": Field((bool,), False, doc="one-hot encode class-index targets (n, classes), for "
                                             "categorical_crossentropy and its label_smoothing"),
        "sequence": Field((dict,), doc="pad variable-length sequences to (n, max_length, channels): "
                                       "max_length, padding, truncating, value (docs/data.md)"),
        "window": Field((dict,), doc="sliding windows over a series, split in time order: input, horizon, stride"),
        "pairs": Field((dict,), doc="seq2seq pairs with teacher forcing: source, target, level, max_tokens, "
                                    "source_length, target_length, encoder_input, decoder_input"),
        "language_model": Field((dict,), doc="next-token samples from a text stream: sequence_length, level, "
                                             "stride, max_tokens, lowercase"),
        "masked_lm": Field((dict,), doc="masked-LM samples, re-masked every epoch (Devlin et al. 2019): rate, "
                                        "sequence_length, level, max_tokens, lowercase, mask_fraction, random_fraction"),
        "tokenize": Field((dict,), doc="texts -> padded token ids: sequence_length, level, max_tokens, lowercase, "
                                       "vocabulary"),
    },
    "compile": {
        "optimizer": Field((str, dict), "rmsprop", doc="Keras optimizer item (Keras's default: rmsprop)"),
        "loss": Field((str, dict), REQUIRED, doc="Keras loss item, or {output_name: loss}"),
        "metrics": Field((list, dict), [], doc="Keras metric items, or {output_name: [metrics]}"),
        "weighted_metrics": Field((list, dict), None, doc="metric items weighted by the data's sample "
                                                          "weights (masked_lm: the masked positions only)"),
        "loss_weights": Field((list, dict), None),
        "jit_compile": Field((bool, str), "auto", doc="XLA: true | false | auto"),
        "steps_per_execution": Field((int,), 1, check=_positive),
    },
    "fit": {
        "epochs": Field((int,), 1, check=_positive),
        "batch_size": Field((int,), 32, check=_positive, doc="global batch size"),
        "callbacks": Field((list,), []),
        "class_weight": Field((str, dict), None, doc="'balanced' (n / (k · count)) or {class: weight}"),
        "shuffle": Field((bool,), True),
        "verbose": Field((str, int), "auto", doc="Keras progress: auto | 0 | 1 | 2"),
        "validation_freq": Field((int,), 1, check=_positive),
        "steps_per_epoch": Field((int,), None, check=_positive),
        "mixed_precision": Field((str,), "none", choices=("none", "mixed_float16", "mixed_bfloat16"),
                                 doc="Keras dtype policy; outputs stay float32, mixed_float16 adds loss scaling"),
        "cross_validation": Field((int, dict), None, doc="K-fold cross-validation: the number of folds, or "
                                                         "{folds: K, shuffle: true}"),
        "tta": Field((int,), None, check=_positive, doc="test-time augmentation: also evaluate the test split "
                                                        "averaging the original and N augmented passes"),
    },
    "tune": {
        "strategy": Field((str,), "random", choices=("random", "grid", "coarse_to_fine", "hyperband", "bayesian")),
        "objective": Field((str, dict), "val_loss", doc="a logged metric, or {name: ..., direction: min|max}"),
        "max_trials": Field((int,), 10, check=_positive, doc="trial budget (hyperband: derived from max_epochs)"),
        "executions_per_trial": Field((int,), 1, check=_positive),
        "epochs": Field((int,), None, check=_positive, doc="epochs per trial (default: fit.epochs)"),
        "early_stopping": Field((int,), None, check=_positive, doc="stop a trial after N epochs without objective progress"),
        "seed": Field((int,), None, doc="oracle seed (default: the spec's seed)"),
        "rounds": Field((int,), 3, check=_positive, doc="coarse_to_fine: number of rounds"),
        "top_k": Field((int,), 3, check=_positive, doc="coarse_to_fine: best trials that define the next round's box"),
        "shrink": Field(NUM, 0.5, check=lambda v: None if 0 < v < 1 else "must be in (0, 1)",
                        doc="coarse_to_fine: each round's box width, as a fraction of the previous round's"),
        "max_epochs": Field((int,), None, check=_positive, doc="hyperband: most epochs a trial trains (default: fit.epochs)"),
        "factor": Field((int,), 3, check=lambda v: None if v >= 2 else "must be at least 2", doc="hyperband: reduction factor"),
        "num_initial_points": Field((int,), None, check=_positive, doc="bayesian: random trials before the Gaussian process"),
    },
    "distribute": {
        "strategy": Field((str,), "auto", choices=("auto", "default", "one_device", "mirrored", "multi_worker", "tpu"),
                          doc="tf.distribute strategy; auto = mirrored over >1 GPU, else default"),
        "devices": Field((list,), None, doc="device names for mirrored / one_device, e.g. [/gpu:0, /gpu:1]"),
        "workers": Field((list,), None, doc="multi_worker: every worker's host:port (else TF_CONFIG)"),
        "worker_index": Field((int,), None, doc="multi_worker: this process's index in 'workers' (0 = chief)"),
        "tpu": Field((str,), None, doc="tpu: the TPU name or address for TPUClusterResolver (untested here)"),
        "scale_learning_rate": Field((bool,), False,
                                     doc="multiply the optimizer's learning_rate by the number of replicas "
                                         "(linear scaling, Goyal et al. 2017)"),
    },
    "export": {
        "formats": Field((list,), ["keras"], doc='keras | saved_model | tflite | onnx (pip install "dlbuild[onnx]")'),
        "quantization": Field((str,), "none", choices=("none", "float16", "dynamic", "int8", "int8-io")),
    },
}
TOP_LEVEL = ("name", "seed", "data", "model", "compile", "fit", "tune", "export", "distribute")
MODEL_KEYS = ("inputs", "layers", "blocks", "outputs", "init_from")
EXPORT_FORMATS = ("keras", "saved_model", "tflite", "onnx")
DEFAULT_SEED = 1337  # any fixed value: what matters is that a spec without 'seed' is reproducible


@dataclass(frozen=True)
class Spec:
    """A checked spec, search spaces resolved.

    Attributes:
        name: Run name (default: the spec file's stem).
        seed: Seed for Python, NumPy, TensorFlow and the data splits.
        data, compile, fit, export: Sections with every default filled in (plain dicts).
        model: The ``model`` section as written (resolved), and ``topology`` its expanded graph.
        values: The whole resolved document with defaults: what ``spec.resolved.yaml`` holds.
        spaces: Every search space by hyperparameter name (empty for a concrete spec).
        source: The resolved document with positions, for locating errors raised later
            (shape errors, data errors).
        template: The document as written (search spaces kept, ``--set`` applied): what
            ``tune`` resolves again for every trial.
        distribute: The ``distribute`` section (see :mod:`builder.run.distribute`).
    """

    name: str
    seed: int
    data: dict
    model: dict
    compile: dict
    fit: dict
    export: dict
    tune: dict
    topology: Topology
    values: dict
    spaces: dict = field(default_factory=dict)
    source: Source | None = None
    template: Source | None = None
    distribute: dict = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        """Directory that relative paths in the spec resolve against."""
        return self.source.directory if self.source else Path.cwd()


def _type_name(types: tuple) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a mapping"}
    return " or ".join(dict.fromkeys(names[t] for t in types))


def check_section(name: str, value: Any, fields: dict[str, Field], out: Collector) -> dict:
    """Check one section's keys and scalar types; return it with defaults filled in."""
    path = (name,)
    if value is None:  # a missing required section is reported once, by check_values
        return {k: copy.deepcopy(f.default) for k, f in fields.items() if f.default not in (REQUIRED, None)}
    if not isinstance(value, dict):
        out.error(f"'{name}' must be a mapping of settings; received: {value!r}", path)
        return {k: copy.deepcopy(f.default) for k, f in fields.items() if f.default not in (REQUIRED, None)}
    result = {}
    for key, v in value.items():
        if key not in fields:
            out.error(f"unknown key '{key}' in '{name}'" + did_you_mean(str(key), fields), path + (key,), at="key")
    for key, f in fields.items():
        if key not in value:
            if f.default is REQUIRED:
                out.error(f"'{name}' needs '{key}'", path)
            elif f.default is not None:  # unset optional keys stay absent from the resolved spec
                result[key] = copy.deepcopy(f.default)
            continue
        v = value[key]
        ok_type = v is None and f.default is None or (
            isinstance(v, f.types) and not (isinstance(v, bool) and bool not in f.types))
        if not ok_type:
            out.error(f"'{key}' must be {_type_name(f.types)}; received: {v!r}", path + (key,))
        elif f.choices and v not in f.choices:
            out.error(f"'{key}' must be one of {', '.join(f.choices)}; received: {v!r}"
                      + did_you_mean(v, f.choices), path + (key,))
        elif f.check and v is not None and isinstance(v, (int, float)) and (msg := f.check(v)):
            out.error(f"'{key}' {msg}; received: {v!r}", path + (key,))
        result[key] = v
    return result


DATA_SOURCES = ("dataset", "csv", "npz", "ts", "text_dir", "text_file")


def _check_data(data: dict, src: Source | None, out: Collector) -> None:
    """Data checks that need no file contents: one source, it exists, the sequence options' own
    values (builder.data.data_options.OPTIONS), and which options fit which source. The rest (columns,
    arrays, lengths) is checked when the data is loaded."""
    from builder.spec import data_options

    given = [k for k in DATA_SOURCES if data.get(k) is not None]
    if len(given) != 1:
        out.error(f"'data' needs exactly one of {', '.join(DATA_SOURCES)}"
                  + (f"; received {', '.join(given)}" if given else ""), ("data",))
        return
    key = given[0]
    if not isinstance(data[key], str):  # its type error is already reported
        return
    if key == "dataset":
        from builder.catalog.datasets import list_datasets

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
            out.error(f"data file not found: {path}", ("data", key))
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


def _check_init_from(value: Any, src: Source | None, out: Collector) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        out.error(f"'init_from' takes a run directory or a .keras file; received: {value!r}", ("model", "init_from"))
        return
    path = init_from_path(value, src.directory if src else Path.cwd())
    if not path.is_file():
        out.error(f"init_from: no trained model at {path} (a run directory holds model.keras once "
                  "its fit has completed)", ("model", "init_from"))


def _check_compile(comp: dict, cat: Catalog, out: Collector, output_names: list) -> None:
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


def _check_fit(fit: dict, cat: Catalog, out: Collector) -> None:
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
    from builder.catalog.registry import snake_case

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


def _check_evaluation(fit: dict, data: dict, distribute: dict, topo: Topology, out: Collector) -> None:
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


def _check_objective(tune: dict, comp: dict, data: dict, cat: Catalog, out: Collector) -> None:
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


def _check_export(export: dict, out: Collector) -> None:
    formats = export.get("formats")
    for i, f in enumerate(formats if isinstance(formats, list) else []):
        if f not in EXPORT_FORMATS:
            out.error(f"unknown export format {f!r}; expected one of {', '.join(EXPORT_FORMATS)}"
                      + did_you_mean(f, EXPORT_FORMATS), ("export", "formats", i))


def check_values(values: dict, src: Source | None, cat: Catalog, out: Collector) -> Spec | None:
    """Check a resolved document; every problem goes to ``out``. Returns the Spec if none."""
    n0 = len(out.diagnostics)
    for key in values:
        if key not in TOP_LEVEL:
            out.error(f"unknown section '{key}'" + did_you_mean(str(key), TOP_LEVEL), (key,), at="key")
    for key in ("data", "model", "compile"):
        if key not in values:
            out.error(f"the spec needs a '{key}' section", ())
    name = values.get("name") or (Path(src.filename).stem if src else "model")
    if not isinstance(name, str) or not name.replace("-", "_").replace(".", "_").isidentifier():
        out.error(f"'name' must be a simple name (letters, digits, _ . -); received: {name!r}", ("name",))
    seed = values.get("seed", DEFAULT_SEED)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        out.error(f"'seed' must be a non-negative integer; received: {seed!r}", ("seed",))
    sections = {k: check_section(k, values.get(k), f, out) for k, f in SECTIONS.items()}
    if "data" in values and isinstance(values["data"], dict):
        _check_data(sections["data"], src, out)
    model = values.get("model")
    topo = Topology()
    if isinstance(model, dict):
        for key in model:
            if key not in MODEL_KEYS:
                out.error(f"unknown key '{key}' in 'model'" + did_you_mean(str(key), MODEL_KEYS), ("model", key), at="key")
        topo = expand(model, cat, out)
        _check_init_from(model.get("init_from"), src, out)
    elif model is not None:
        out.error("'model' must be a mapping with 'inputs' and 'layers'", ("model",))
    _check_compile(sections["compile"], cat, out, list(topo.outputs))
    _check_fit(sections["fit"], cat, out)
    _check_evaluation(sections["fit"], sections["data"], sections["distribute"], topo, out)
    _check_export(sections["export"], out)
    tune = sections["tune"] if values.get("tune") is not None else {}
    if tune:
        _check_objective(tune, sections["compile"], sections["data"], cat, out)
    if len(out.diagnostics) > n0:
        return None
    from builder.spec import consistency  # loss ↔ output ↔ target mismatches (TF-free)

    problems = consistency.check_parts(topo, sections["compile"], sections["data"], cat)
    if problems:
        out.diagnostics.extend(problems)
        return None
    resolved = {"name": name, "seed": seed, "data": sections["data"], "model": model,
                "compile": sections["compile"], "fit": sections["fit"], "export": sections["export"]}
    if tune:
        resolved["tune"] = tune
    resolved["distribute"] = sections["distribute"]
    return Spec(name=name, seed=seed, data=sections["data"], model=model, compile=sections["compile"],
                fit=sections["fit"], export=sections["export"], tune=tune, topology=topo,
                values=resolved, source=src, distribute=sections["distribute"])


def resolve_spec(src: Source, spaces: dict, choose: Callable = hparams.default_choice,
                 cat: Catalog | None = None) -> Spec:
    """Resolve search spaces with ``choose`` and check the result.

    Raises:
        SpecError: every problem of the resolved document.
    """
    cat = cat or catalog()
    positions = dict(src.positions)
    values = hparams.resolve(src.values, choose, spaces, positions)
    located = Source(src.filename, src.text, values, positions, src.overrides)
    out = Collector()
    spec = check_values(values, located, cat, out)
    out.raise_if_any(located)
    return Spec(**{**spec.__dict__, "spaces": spaces, "template": src})


def load_spec(path: str | Path, overrides: list[str] | tuple = (), choose: Callable | None = None) -> Spec:
    """Load, override, resolve and check the spec at ``path``.

    Args:
        path: The spec file.
        overrides: ``PATH=VALUE`` strings, as given to ``--set``.
        choose: Resolves each search space (see :func:`builder.spec.hparams.resolve`); default: each
            space's default, as ``dlbuild fit`` does.

    Raises:
        SpecError: every problem in the spec, with file, line and column. Structural choices
            (alternative layers or blocks) are checked in every alternative, not only the default.
    """
    src = load(path)
    if overrides:
        apply_overrides(src, list(overrides))
    out = Collector()
    spaces = hparams.find(src.values, out)
    out.raise_if_any(src)
    cat = catalog()
    try:
        spec = resolve_spec(src, spaces, choose or hparams.default_choice, cat)
        errors: list = []
    except SpecError as err:
        spec, errors = None, _pinned(err)
    # Check every alternative of every choice too (layers, activations, 'repeat' counts…), each
    # with the others at their defaults: a trial must never meet an error 'validate' missed.
    for hp in spaces.values():
        if hp.kind != "choice":
            continue
        for index in range(len(hp.values)):
            def pick(h, _hp=hp, _i=index):
                if h.name == _hp.name:
                    return _i if _hp.structural else _hp.values[_i]
                return hparams.default_choice(h)
            try:
                resolve_spec(src, spaces, pick, cat)
            except SpecError as err:
                errors.extend(d for d in _pinned(err) if d not in errors)
    if errors:
        raise SpecError(errors, src)
    return spec


def _pinned(err: SpecError) -> list:
    """The error's diagnostics with explicit positions, so that diagnostics found in different
    resolutions of the search spaces can be reported together."""
    out = []
    for d in err.diagnostics:
        if d.line is None and d.origin is None and err.source is not None:
            line, col = err.source.position(d.path, d.at)
            d = type(d)(d.message, d.path, d.at, line, col, d.origin, d.quote)
        out.append(d)
    return out
