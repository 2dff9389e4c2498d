"""The options of ``data.sequence`` / ``window`` / ``pairs`` / ``language_model`` / ``masked_lm`` /
``tokenize``: their types, defaults, choices and checks, one table (:data:`OPTIONS`).

``dlbuild validate`` checks them here, without data or TensorFlow; :mod:`builder.data.sequences`
applies them to the loaded arrays.
"""

from __future__ import annotations

from typing import Any

from builder.errors import did_you_mean

LEVELS = ("char", "word")  # token levels of text options: characters or words (builder.data.text)
REQUIRED = object()
STRUCTURING = ("window", "pairs", "language_model", "masked_lm", "tokenize")  # at most one


def _int_at_least(lo):
    def check(v):
        return None if v >= lo else f"must be at least {lo}"
    return check


def _rate(v):
    return None if 0 < v < 1 else "must be in (0, 1)"


# key -> option -> (types, default, choices, check, doc)
_O = dict
OPTIONS: dict[str, dict[str, tuple]] = {
    "sequence": {
        "max_length": ((int,), None, (), _int_at_least(1), "pad/truncate every sequence to this many steps "
                                                           "(default: the longest training sequence)"),
        "padding": ((str,), "post", ("post", "pre"), None, "pad at the end (post) or the start (pre)"),
        "truncating": ((str,), "post", ("post", "pre"), None, "cut longer sequences at the end or the start"),
        "value": ((int, float), 0.0, (), None, "padding value; give the same to keras Masking(mask_value)"),
    },
    "window": {
        "input": ((int,), REQUIRED, (), _int_at_least(1), "past steps per input window"),
        "horizon": ((int,), 1, (), _int_at_least(1), "future steps to predict"),
        "stride": ((int,), 1, (), _int_at_least(1), "steps between consecutive windows"),
    },
    "pairs": {
        "source": ((str,), None, (), None, "CSV column of the source text"),
        "target": ((str,), None, (), None, "CSV column of the target text"),
        "level": ((str,), "word", LEVELS, None, "char or word tokens"),
        "lowercase": ((bool,), True, (), None, "lower-case before tokenizing"),
        "max_tokens": ((int,), None, (), _int_at_least(5), "vocabulary size incl. '', [UNK], [START], [END]"),
        "source_length": ((int,), None, (), _int_at_least(1), "encoder steps (default: longest training source)"),
        "target_length": ((int,), None, (), _int_at_least(2), "decoder steps incl. [START]/[END] "
                                                              "(default: longest training target + 1)"),
        "encoder_input": ((str,), "encoder_input", (), None, "model input name of the source ids"),
        "decoder_input": ((str,), "decoder_input", (), None, "model input name of the shifted target ids"),
        "derive": ((str,), None, ("reverse", "sort"), None, "make the pairs from a text or corpus dataset: "
                                                            "the source is a run of 1 to `words` words, the "
                                                            "target its characters reversed or sorted (use "
                                                            "level: char)"),
        "words": ((int,), 1, (), _int_at_least(1), "most words per derived source (with derive): runs of "
                                                   "1, 2, ..., words words in turn"),
    },
    "language_model": {
        "sequence_length": ((int,), REQUIRED, (), _int_at_least(1), "tokens per sample"),
        "level": ((str,), "char", LEVELS, None, "char or word tokens"),
        "stride": ((int,), None, (), _int_at_least(1), "tokens between sample starts (default: sequence_length)"),
        "max_tokens": ((int,), None, (), _int_at_least(3), "vocabulary size incl. '' and [UNK]"),
        "lowercase": ((bool,), False, (), None, "lower-case before tokenizing"),
    },
    "masked_lm": {
        "rate": ((int, float), 0.15, (), _rate, "fraction of real tokens selected for prediction"),
        "sequence_length": ((int,), 64, (), _int_at_least(2), "tokens per sample (padded/truncated)"),
        "level": ((str,), "word", LEVELS, None, "char or word tokens"),
        "max_tokens": ((int,), None, (), _int_at_least(4), "vocabulary size incl. '', [UNK], [MASK]"),
        "lowercase": ((bool,), True, (), None, "lower-case before tokenizing"),
        "mask_fraction": ((int, float), 0.8, (), None, "selected tokens replaced by [MASK]"),
        "random_fraction": ((int, float), 0.1, (), None, "selected tokens replaced by a random token "
                                                         "(the rest stay unchanged)"),
    },
    "tokenize": {
        "sequence_length": ((int,), REQUIRED, (), _int_at_least(1), "ids per sample (padded/truncated)"),
        "level": ((str,), "word", LEVELS, None, "char or word tokens"),
        "max_tokens": ((int,), None, (), _int_at_least(3), "vocabulary size incl. '' and [UNK]"),
        "lowercase": ((bool,), True, (), None, "lower-case before tokenizing"),
        "vocabulary": ((str,), None, (), None, "vocabulary.json (or a run directory holding one) to reuse, "
                                               "e.g. a masked_lm pre-training run's; relative to the spec"),
    },
}


def resolve_options(key: str, value: Any) -> tuple[dict, list[tuple[str, tuple]]]:
    """Check ``data.<key>``'s mapping against :data:`OPTIONS`; return (options with defaults, errors).

    Errors are ``(message, path)`` pairs, path relative to the spec root (``("data", key, opt)``).
    """
    schema = OPTIONS[key]
    errors: list[tuple[str, tuple]] = []
    if value is True:
        value = {}
    if not isinstance(value, dict):
        return {}, [(f"'{key}' must be a mapping of options ({', '.join(schema)}); received: {value!r}",
                     ("data", key))]
    out = {}
    for name in value:
        if name not in schema:
            errors.append((f"unknown option '{name}' in '{key}'" + did_you_mean(str(name), list(schema))
                           + f"; options: {', '.join(schema)}", ("data", key, name)))
    for name, (types, default, choices, check, _doc) in schema.items():
        v = value.get(name, default)
        path = ("data", key, name)
        if v is REQUIRED:
            errors.append((f"'{key}' needs '{name}'", ("data", key)))
            continue
        if v is not None:
            if isinstance(v, bool) and bool not in types or not isinstance(v, types):
                errors.append((f"'{key}.{name}' must be {' or '.join(t.__name__ for t in types)}; received: {v!r}",
                               path))
                continue
            if choices and v not in choices:
                errors.append((f"'{key}.{name}' must be one of {', '.join(choices)}; received: {v!r}", path))
                continue
            if check and (msg := check(v)):
                errors.append((f"'{key}.{name}' {msg}; received: {v!r}", path))
                continue
        out[name] = v
    if key == "masked_lm" and not errors and out["mask_fraction"] + out["random_fraction"] > 1:
        errors.append(("'masked_lm.mask_fraction' + 'random_fraction' must be at most 1", ("data", key)))
    if key == "masked_lm" and not errors and min(out["mask_fraction"], out["random_fraction"]) < 0:
        errors.append(("'masked_lm' fractions must be >= 0", ("data", key)))
    return out, errors


def options_doc(key: str) -> str:
    """One line listing ``key``'s options and defaults (for ``SECTIONS`` docs)."""
    parts = []
    for name, (_t, default, _c, _k, _d) in OPTIONS[key].items():
        parts.append(name if default is REQUIRED else f"{name}={default}")
    return ", ".join(parts)


MISSING_POLICIES = ("error", "drop", "mean", "interpolate")  # and {fill: VALUE}: builder.data.missing


def check_missing(value) -> str | None:
    """What is wrong with a ``data.missing`` value (the end of a sentence), or None."""
    if value is None or value in MISSING_POLICIES:
        return None
    if isinstance(value, dict) and set(value) == {"fill"} and isinstance(value["fill"], (int, float)) \
            and not isinstance(value["fill"], bool):
        return None
    return (f"must be one of {', '.join(MISSING_POLICIES)} or {{fill: NUMBER}}; received: {value!r}"
            + (did_you_mean(value, MISSING_POLICIES) if isinstance(value, str) else ""))
