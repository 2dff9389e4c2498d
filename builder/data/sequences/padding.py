"""``data.sequence``: pad variable-length sequences to one length (no TensorFlow).

Input: a ragged ``(n,)`` object array of ``(t_i, channels)`` float arrays (``.ts`` files, NPZ with
``KEY_lengths``, the bundled sequence sets) or an already stacked ``(n, t, channels)`` array.
Output: ``(n, max_length, channels)`` float32, padded/truncated at the end (``post``) or the start
(``pre``) with ``value``; ``max_length`` defaults to the longest *training* sequence.
"""

from __future__ import annotations

import numpy as np

from builder.data.sequences.prepared import Prepared, each
from builder.data.sources.arrays import is_ragged


def pad_sequences(seqs, length: int, *, padding: str = "post", truncating: str = "post",
                  value: float = 0.0) -> np.ndarray:
    """Stack ``(t_i, channels)`` float sequences into ``(n, length, channels)`` float32."""
    seqs = [np.asarray(s, np.float32) for s in seqs]
    seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]
    channels = seqs[0].shape[1] if seqs else 1
    out = np.full((len(seqs), length, channels), value, np.float32)
    for i, s in enumerate(seqs):
        s = s[:length] if truncating == "post" else s[max(0, len(s) - length):]
        if padding == "post":
            out[i, :len(s)] = s
        elif len(s):
            out[i, length - len(s):] = s
    return out


def sequence_preparer(opts: dict):
    """The preparer of ``data.sequence`` options ``opts`` (``max_length``, ``padding``, ``truncating``,
    ``value``); ``info["sequence"]`` records the options with the resolved ``max_length``."""

    def prepare(parts: dict) -> Prepared:
        train_x = parts["train"][0]
        items = list(train_x) if is_ragged(train_x) else train_x
        length = opts["max_length"] or max(len(s) for s in items)

        def pad(_name, xy):
            x, y = xy
            seqs = list(x) if is_ragged(x) else x
            return pad_sequences(seqs, length, padding=opts["padding"], truncating=opts["truncating"],
                                 value=opts["value"]), y
        return Prepared(each(parts, pad), {"sequence": {**opts, "max_length": int(length)}})
    return prepare
