"""The spec language's section tables: every key of ``data``, ``compile``, ``fit``, ``tune``,
``distribute`` and ``export`` with its accepted types, default, allowed values and range, and
:func:`check_section`, which checks one section's plain values against its table.

These tables are the spec language's contract (docs/architecture.md, "Spec language"); their
defaults are Keras's own (``Model.compile``/``Model.fit``) unless a comment says otherwise.
``dlbuild explain``, the JSON schema and docs/spec.md are generated from or checked against them.
Inputs: plain values (after ``--set`` and search-space resolution). Outputs: the section with
defaults filled in; problems go to a :class:`~builder.errors.Collector`. No TensorFlow.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

from builder.catalog.formats import FORMATS, QUANTIZATIONS
from builder.catalog.strategies import STRATEGIES
from builder.errors import Collector, did_you_mean

#: The default of a key the section must have.
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
#: The ``data`` keys that name a source; a spec gives exactly one.
DATA_SOURCES = ("dataset", "csv", "npz", "ts", "text_dir", "text_file")
#: The values of ``data.task``.
TASKS = ("classification", "regression")
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
        "task": Field((str,), choices=TASKS, doc="default: inferred from the target"),
        "validation_split": Field(NUM, 0.1, check=_fraction, doc="fraction of train held out for validation"),
        "test_split": Field(NUM, 0.2, check=_fraction, doc="fraction held out for test when the source has no test split"),
        "missing": Field((str, dict), doc="missing values (empty cells, NaN): error | drop | mean | "
                                          "interpolate (series) | {fill: VALUE}; default error"),
        "split": Field((list,), doc="[train, validation, test] fractions of the samples, summing to 1 (e.g. "
                                    "[0.8, 0.1, 0.1]); sets validation_split and test_split"),
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
        "mixed_precision": Field((str,), "auto", choices=("auto", "none", "mixed_float16", "mixed_bfloat16"),
                                 doc="Keras dtype policy; auto = mixed_float16 when every GPU has compute "
                                     "capability >= 7.0, else none; outputs stay float32, float16 adds loss scaling"),
        "cross_validation": Field((int, dict), None, doc="K-fold cross-validation: the number of folds, or "
                                                         "{folds: K, shuffle: true}"),
        "tta": Field((int,), None, check=_positive, doc="test-time augmentation: also evaluate the test split "
                                                        "averaging the original and N augmented passes"),
    },
    "tune": {
        "strategy": Field((str,), "random", choices=STRATEGIES),
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
        "quantization": Field((str,), "none", choices=QUANTIZATIONS),
    },
}
TOP_LEVEL = ("name", "seed", "data", "model", "compile", "fit", "tune", "export", "distribute")
MODEL_KEYS = ("inputs", "layers", "blocks", "outputs", "init_from")
EXPORT_FORMATS = FORMATS  # the one enumeration: builder.catalog.formats
DEFAULT_SEED = 1337  # any fixed value: what matters is that a spec without 'seed' is reproducible


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
