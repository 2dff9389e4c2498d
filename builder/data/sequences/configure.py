"""Which sequence option fits which source, and the preparer it attaches (no TensorFlow).

:func:`configure` is called by :func:`builder.data.load.load_arrays` on the raw
:class:`~builder.data.sources.arrays.Arrays` of a source (strings, ragged sequences, a series). It
checks the spec's ``sequence`` / ``window`` / ``pairs`` / ``language_model`` / ``masked_lm`` /
``tokenize`` options (the table: :mod:`builder.spec.data_options`) against the source's ``kind``
and returns the Arrays to split with a *preparer* from the job's module attached
(:mod:`~builder.data.sequences.padding`, :mod:`~builder.data.sequences.windows`,
:mod:`~builder.data.sequences.pairs`, :mod:`~builder.data.sequences.language_model`,
:mod:`~builder.data.sequences.masked_lm`, :mod:`~builder.data.sequences.token_ids`).
"""

from __future__ import annotations

import dataclasses
import pathlib

from builder.data.sequences.language_model import lm_preparer, token_stream
from builder.data.sequences.masked_lm import mlm_preparer
from builder.data.sequences.padding import sequence_preparer
from builder.data.sequences.pairs import derived_pairs, pairs_preparer
from builder.data.sequences.prepared import option_error
from builder.data.sequences.token_ids import saved_vocabulary, tokenize_preparer
from builder.data.sequences.windows import window_preparer
from builder.errors import Diagnostic, SpecError
from builder.spec.data_options import STRUCTURING, resolve_options


def _options(data: dict, key: str) -> dict:
    """``data[key]`` with defaults filled in (:func:`builder.spec.data_options.resolve_options`)."""
    opts, errors = resolve_options(key, data[key])
    if errors:
        raise SpecError(*[Diagnostic(m, p) for m, p in errors])
    return opts


def configure(arrays, data: dict, spec_dir: pathlib.Path):
    """Validate the sequence options of ``data`` against the raw ``arrays`` and attach a preparer.

    Returns the :class:`~builder.data.sources.arrays.Arrays` to split (possibly re-shaped: a text
    stream becomes its tokens, ``pairs.derive`` its pairs).

    Raises:
        SpecError: bad options, or a source that does not fit them (e.g. ``window`` on images).
    """
    given = [k for k in STRUCTURING if data.get(k) is not None]
    if len(given) > 1:
        raise option_error(f"'data' takes at most one of {', '.join(STRUCTURING)}; received {', '.join(given)}",
                           given[1])
    kind = arrays.info.get("kind", "table")  # table | text | corpus | pairs | sequences | series
    key = given[0] if given else None
    if data.get("sequence") is not None and kind != "sequences":
        raise option_error(f"'sequence' pads variable-length sequence data (.ts files, NPZ sequences, sequence "
                           f"datasets); '{arrays.name}' is {kind} data", "sequence")
    if key is None:
        if kind == "sequences":
            return dataclasses.replace(arrays, prepare=sequence_preparer(
                _options(data, "sequence") if data.get("sequence") is not None else resolve_options("sequence", {})[0]))
        needs = {"corpus": "language_model or masked_lm", "pairs": "pairs", "series": "window"}.get(kind)
        if needs:
            raise option_error(f"'{arrays.name}' is {kind} data; add data.{needs.replace(' or ', ' or data.')} "
                               "to say how to make samples from it", "dataset" if "dataset" in data else ())
        return arrays
    opts = _options(data, key)
    if key == "window":
        if kind != "series":
            raise option_error(f"'window' cuts a time series into samples; '{arrays.name}' is {kind} data "
                               "(for a CSV, name the series with 'target')", "window")
        return dataclasses.replace(arrays, ordered=True, x_test=None, y_test=None, prepare=window_preparer(opts))
    if key == "pairs" and opts["derive"]:
        if kind not in ("text", "corpus"):
            raise option_error(f"'pairs.derive' makes pairs from the words of a text or corpus dataset; "
                               f"'{arrays.name}' is {kind} data", "pairs", "derive")
        return derived_pairs(arrays, opts, ordered=kind == "corpus")
    if key == "pairs":
        if kind != "pairs":
            raise option_error(f"'pairs' needs paired texts (a pairs dataset, or a CSV with pairs.source and "
                               f"pairs.target); '{arrays.name}' is {kind} data", "pairs")
        return dataclasses.replace(arrays, prepare=pairs_preparer(opts))
    if kind not in ("text", "corpus"):
        raise option_error(f"'{key}' needs text (a text dataset, a CSV 'text' column, text_dir or text_file); "
                           f"'{arrays.name}' is {kind} data", key)
    if key == "tokenize":
        if kind != "text":
            raise option_error(f"'tokenize' needs labelled texts; '{arrays.name}' is a corpus (use language_model "
                               "or masked_lm)", key)
        return dataclasses.replace(arrays, prepare=tokenize_preparer(opts, saved_vocabulary(opts, spec_dir)))
    if key == "language_model":
        return token_stream(arrays, opts, lm_preparer(opts))
    if kind == "corpus":  # masked_lm on one text: fixed-length chunks of its token stream
        return token_stream(arrays, opts, mlm_preparer(opts, stream=True))
    return dataclasses.replace(arrays, class_names=None, task="sequence", prepare=mlm_preparer(opts, stream=False))
