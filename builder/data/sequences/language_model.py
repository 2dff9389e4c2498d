"""``data.language_model``: a text as one token stream → next-token samples (no TensorFlow).

The texts (a corpus, or a text set's texts joined by newlines at ``char`` level) become one ordered
token stream (:func:`token_stream`), split in time order; the preparer builds the vocabulary on the
training part (index 0 ``""``, 1 ``[UNK]``, then tokens by count) and cuts every part into
x = ``ids[i:i+N]``, y = ``ids[i+1:i+N+1]``, both ``(n, N)`` int32 (:func:`lm_samples`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from builder.data import text as tx
from builder.data.sequences.prepared import Prepared, each, too_short, vocab_info


def lm_samples(ids: np.ndarray, sequence_length: int, stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Next-token samples from a token stream: ``x = ids[i:i+N]``, ``y = ids[i+1:i+N+1]`` for
    ``i = 0, stride, 2·stride, ...`` (default stride N: non-overlapping). Both ``(n, N)`` int32."""
    n = sequence_length
    starts = np.arange(0, len(ids) - n, stride or n)
    if not len(starts):
        return np.zeros((0, n), np.int32), np.zeros((0, n), np.int32)
    idx = starts[:, None] + np.arange(n)
    ids = np.asarray(ids, np.int32)
    return ids[idx], ids[idx + 1]


def token_stream(arrays, opts: dict, prepare: Callable):
    """The :class:`~builder.data.sources.arrays.Arrays` of one ordered token stream made from the texts
    of ``arrays`` (train, then its official test texts): x ``(T,)`` token strings, y ``(T,)`` int8 zeros,
    no test split, ``ordered`` (split in time order), with ``prepare`` attached.

    ``opts`` gives ``level`` and ``lowercase``; at ``char`` level separate texts (not a corpus) are
    joined by a newline token.
    """
    stream = arrays.info.get("kind") == "corpus"
    texts = list(arrays.x_train) + (list(arrays.x_test) if arrays.x_test is not None else [])
    tokens = []
    for t in texts:
        if tokens and opts["level"] == "char" and not stream:
            tokens.append("\n")
        tokens.extend(tx.tokenize(str(t), opts["level"], opts["lowercase"]))
    toks = np.asarray(tokens, dtype=object)
    return dataclasses.replace(arrays, x_train=toks, y_train=np.zeros(len(toks), np.int8), x_test=None,
                               y_test=None, class_names=None, task="sequence", ordered=True, prepare=prepare)


def lm_preparer(opts: dict):
    """The preparer of ``data.language_model`` options ``opts`` on a :func:`token_stream`.

    Raises:
        SpecError: at ``data.language_model.sequence_length``: a part too short for one sample.
    """

    def prepare(parts: dict) -> Prepared:
        vocab = tx.build_vocabulary([list(parts["train"][0])], max_tokens=opts["max_tokens"])
        index = {t: i for i, t in enumerate(vocab)}

        def make(name, xy):
            x, y = lm_samples(tx.encode(list(xy[0]), index), opts["sequence_length"], opts["stride"])
            if not len(x):
                raise too_short(name, len(xy[0]), opts["sequence_length"] + 1, "language_model", "sequence_length")
            return x, y
        return Prepared(each(parts, make), vocab_info(vocab, opts["level"], language_model=opts))
    return prepare
