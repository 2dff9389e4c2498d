"""The values Keras arguments accept, checked without TensorFlow: what ``dlbuild validate`` can
tell from a value alone (``units: -3``, ``dropout: 1.5``, ``units: 8.5``, ``use_bias: "yes"``).

Keras names its arguments consistently across classes, so the rules are by argument name and
apply to every class whose signature (the catalog, :mod:`builder.catalog.registry`) has that
argument, never by class. The ranges are the ones Keras itself enforces when the object is built
(e.g. ``Dense``: "units must be a positive integer"; ``Dropout``: "rate must be in [0, 1)";
``keras/src/layers/core/dense.py``, ``keras/src/layers/regularization/dropout.py``), found here
before TensorFlow is imported. Path arguments (``filepath``, ``log_dir``, …) must stay inside the
run directory (:mod:`builder.spec.write_paths`). Boolean arguments (a ``bool`` default in the signature) take
``true``/``false``. A search space is checked in every choice and at both ends of its range
(:func:`builder.spec.load.load_spec`), like every other value.
"""

from __future__ import annotations

from typing import Any

from builder.spec.write_paths import is_path_argument, path_problem

# Counts: a positive integer (Keras raises for 0, negatives and fractions).
COUNTS = frozenset({"units", "filters", "num_heads", "key_dim", "value_dim", "output_dim", "input_dim",
                    "depth_multiplier", "intermediate_dim", "num_bins"})
# Window sizes: a positive integer or a list of them, one per spatial axis.
SIZES = frozenset({"kernel_size", "pool_size", "strides", "dilation_rate"})
# Probabilities of dropping a unit: [0, 1).
RATES = frozenset({"rate", "dropout", "recurrent_dropout"})


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def value_problem(arg: str, value: Any, default: Any) -> str | None:
    """What is wrong with ``value`` for the argument ``arg`` (its signature default ``default``),
    as the end of a sentence, or None when the value is acceptable or cannot be judged here.

    Examples: ``("units", -3, None)`` → ``"must be a positive integer; received: -3"``.
    """
    if value is None or isinstance(value, dict):  # None: Keras's default; a mapping: an object or a space
        return None
    if isinstance(value, str) and value.startswith("$"):  # an unknown block parameter: reported as such
        return None
    if is_path_argument(arg):  # a path Keras writes: inside the run directory (builder.spec.write_paths)
        return path_problem(value)
    if arg in COUNTS and not _positive_int(value):
        return f"must be a positive integer; received: {value!r}"
    if arg in SIZES and not (_positive_int(value) or (isinstance(value, list) and value
                                                      and all(_positive_int(v) for v in value))):
        return f"must be a positive integer or a list of them (one per axis); received: {value!r}"
    if arg in RATES and not (_number(value) and 0 <= value < 1):
        return f"is a fraction of units to drop: a number in [0, 1); received: {value!r}"
    if isinstance(default, bool) and not isinstance(value, bool):
        return f"takes true or false; received: {value!r}"
    return None
